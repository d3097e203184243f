#!/usr/bin/env bash
#   `asyncctl job ID` prints the job JSON of docs/spec.md section 6: every key,
#   with the right type, and values that match what was submitted and what ran.
source "$(dirname "$0")/../helpers/lib.sh"

UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
TIME_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$'

#   s_type JOB KEY TYPE...: JOB has KEY, of one of the jq TYPEs
s_type () {
    local job=$1 key=$2; shift 2
    local t
    jq -e --arg k "$key" 'has($k)' <<<"$job" >/dev/null || am_fail "no key '$key' in $job"
    t=$(jq -r --arg k "$key" '.[$k] | type' <<<"$job")
    local want
    for want in "$@"; do [ "$t" = "$want" ] && return 0; done
    am_fail "'$key' is a $t ($(jq -c --arg k "$key" '.[$k]' <<<"$job")), expected: $*"
}
s_match () {     #   s_match JOB KEY REGEX
    local v
    v=$(jq -r --arg k "$2" '.[$k]' <<<"$1")
    [[ $v =~ $3 ]] || am_fail "'$2' = '$v' does not match $3"
}

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO"

id=$(am_ctl submit testing.mul 6 7 c=2)
am_ctl wait "$id" --timeout 30s >/dev/null
job=$(am_ctl job "$id")
am_say "job: $job"

am_check "every key of docs/spec.md section 6 is there with its type"
s_type "$job" id string;            s_match "$job" id "$UUID_RE"
s_type "$job" task string
s_type "$job" args array
s_type "$job" kwargs object
s_type "$job" queue string
s_type "$job" priority number
s_type "$job" status string
s_type "$job" result number
for k in submitted begin_after active_start active_end completed_at; do
    s_type "$job" $k string;        s_match "$job" $k "$TIME_RE"
done
s_type "$job" begin_by null string
s_type "$job" attempts number
s_type "$job" interruptions number
s_type "$job" node string;          s_match "$job" node "$UUID_RE"
s_type "$job" agent string
s_type "$job" retry string object
s_type "$job" quotas array
s_type "$job" key null string
s_type "$job" parent null string
s_type "$job" children array
s_type "$job" callbacks array
s_type "$job" annotations object
s_type "$job" progress null number object array

am_check "the values are those of the submitted job and of its run"
am_assert_eq id "$id" "$(jq -r .id <<<"$job")"
am_assert_eq task testing.mul "$(jq -r .task <<<"$job")"
am_assert_eq args '[6,7]' "$(jq -c .args <<<"$job")"
am_assert_eq kwargs '{"c":2}' "$(jq -c .kwargs <<<"$job")"
am_assert_eq queue default "$(jq -r .queue <<<"$job")"
am_assert_eq priority 0 "$(jq -r .priority <<<"$job")"
am_assert_eq status completed "$(jq -r .status <<<"$job")"
am_assert_eq result 84 "$(jq -r .result <<<"$job")"
am_assert_eq begin_by null "$(jq -c .begin_by <<<"$job")"
am_assert_eq attempts 1 "$(jq -r .attempts <<<"$job")"
am_assert_eq interruptions 0 "$(jq -r .interruptions <<<"$job")"
am_assert_eq node "${AM_NODE_UUID[node1]}" "$(jq -r .node <<<"$job")"
am_assert_eq agent main "$(jq -r .agent <<<"$job")"
am_assert_eq retry '"default"' "$(jq -c .retry <<<"$job")"
am_assert_eq quotas '[]' "$(jq -c .quotas <<<"$job")"
am_assert_eq key null "$(jq -c .key <<<"$job")"
am_assert_eq parent null "$(jq -c .parent <<<"$job")"
am_assert_eq children '[]' "$(jq -c .children <<<"$job")"
am_assert_eq callbacks '[]' "$(jq -c .callbacks <<<"$job")"
am_assert_eq annotations '{}' "$(jq -c .annotations <<<"$job")"

am_check "times are in order: submitted <= begin_after <= active_start <= active_end <= completed_at"
prev=; prev_k=
for k in submitted begin_after active_start active_end completed_at; do
    t=$(am_iso_to_s "$(jq -r .$k <<<"$job")")
    if [ -n "$prev" ]; then
        am_cond 'p <= t' p="$prev" t="$t" || am_fail "$prev_k ($prev) is after $k ($t)"
    fi
    prev=$t; prev_k=$k
done
am_say "ok"

am_check "a failed job has a failure object of docs/spec.md section 2.2"
fid=$(am_ctl submit testing.fail ValueError boom)
rc=0; am_ctl wait "$fid" --timeout 30s >/dev/null || rc=$?
am_assert_eq "exit status of wait on a failed job" 1 "$rc"
fjob=$(am_ctl job "$fid")
s_type "$fjob" failure object
failure=$(jq -c .failure <<<"$fjob")
s_type "$failure" type string;      am_assert_eq "failure.type" ValueError "$(jq -r .type <<<"$failure")"
s_type "$failure" message string;   am_assert_eq "failure.message" boom "$(jq -r .message <<<"$failure")"
s_type "$failure" detail string null
s_type "$failure" transient boolean; am_assert_eq "failure.transient" false "$(jq -r .transient <<<"$failure")"
s_type "$failure" node string;      am_assert_eq "failure.node" "${AM_NODE_UUID[node1]}" "$(jq -r .node <<<"$failure")"
s_type "$failure" attempt number;   am_assert_eq "failure.attempt" 1 "$(jq -r .attempt <<<"$failure")"
am_assert_eq "result of a failed job" null "$(jq -c .result <<<"$fjob")"

am_check "a parallel parent lists its children's ids; each child names its parent"
pid=$(am_ctl parallel 'testing.ret 1' 'testing.ret 2')
am_assert_eq "parent result" '[1,2]' "$(am_ctl wait "$pid" --timeout 30s | jq -c .)"
pjob=$(am_ctl job "$pid")
am_assert_eq "number of children" 2 "$(jq '.children | length' <<<"$pjob")"
am_assert_eq "children done, on the parent" 2 "$(jq '.children_done' <<<"$pjob")"
am_assert_eq "children_done on a job without children" false \
    "$(am_ctl job "$(jq -r '.children[0]' <<<"$pjob")" | jq 'has("children_done")')"
for child in $(jq -r '.children[]' <<<"$pjob"); do
    [[ $child =~ $UUID_RE ]] || am_fail "child id '$child' is not a uuid"
    am_assert_eq "parent of child $child" "$pid" "$(am_job_field "$child" .parent)"
done
am_say "PASS"
