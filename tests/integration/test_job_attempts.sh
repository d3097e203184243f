#!/usr/bin/env bash
#   A job keeps its attempts that did not end it in its annotation
#   asyncmesh.attempts (docs/spec.md section 5): each with its number, node,
#   times and failure, or the reason it was interrupted, whichever way it
#   ended: a transient failure retried by the policy, a timeout, a node
#   killed, an operator's retry. The job page shows them.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start --dead-after 2s --heartbeat 500ms
am_node_start node1 --module "$AM_TESTING_SO" --agent main:4
n1=${AM_NODE_UUID[node1]}

#   s_attempts ID: the job's asyncmesh.attempts, as compact JSON
s_attempts () { am_ctl job "$1" | jq -c '.annotations ["asyncmesh.attempts"]'; }

am_check "a transient failure retried twice: two attempts kept, the third is the job's own"
f=$(am_ctl submit --retry attempts=5,backoff=10ms..20ms testing.flaky f 2)
am_wait_exits "$f" 0 30s
a=$(s_attempts "$f")
am_say "attempts: $a"
am_assert_eq "entries" 2 "$(jq length <<<"$a")"
am_assert_eq "numbers" "[1,2]" "$(jq -c '[.[].attempt]' <<<"$a")"
am_assert_eq "outcomes" '["failed","failed"]' "$(jq -c '[.[].outcome]' <<<"$a")"
am_assert_eq "types" '["FlakyError","FlakyError"]' "$(jq -c '[.[].type]' <<<"$a")"
am_assert_eq "nodes" "[\"$n1\",\"$n1\"]" "$(jq -c '[.[].node]' <<<"$a")"
am_assert_eq "times present" true "$(jq '[.[] | .started and .ended] | all' <<<"$a")"
am_cond 'e >= s' s="$(am_iso_to_s "$(jq -r '.[0].started' <<<"$a")")" \
                 e="$(am_iso_to_s "$(jq -r '.[0].ended' <<<"$a")")" \
    || am_fail "attempt 1 ended before it started: $a"
am_assert_eq "the job's own attempt" 3 "$(am_job_field "$f" .attempts)"

am_check "a timeout: the attempt is kept as interrupted with the reason"
t=$(am_ctl submit --timeout 0.3s --retry interruptions=2 testing.sleep 10)
am_wait_exits "$t" 1 30s
a=$(s_attempts "$t")
am_say "attempts: $a"
am_assert_eq "entries (the second interruption ends the job)" 1 "$(jq length <<<"$a")"
am_assert_eq "outcome" interrupted "$(jq -r '.[0].outcome' <<<"$a")"
am_assert_eq "type" null "$(jq -r '.[0].type' <<<"$a")"
jq -e '.[0].message | test ("timeout")' <<<"$a" >/dev/null \
    || am_fail "the reason does not say timeout: $a"

am_check "a node killed mid-run: the attempt is kept with that node"
k=$(am_ctl submit testing.sleep 2)
am_wait_for "job $k to be active" 10 am_job_is "$k" active
am_node_start node2 --module "$AM_TESTING_SO" --agent main:1
kill -KILL "${AM_NODE_PID[node1]}"
wait "${AM_NODE_PID[node1]}" 2>/dev/null || true
am_wait_exits "$k" 0 20s
a=$(s_attempts "$k")
am_say "attempts: $a"
am_assert_eq "entries" 1 "$(jq length <<<"$a")"
am_assert_eq "node" "$n1" "$(jq -r '.[0].node' <<<"$a")"
am_assert_eq "outcome" interrupted "$(jq -r '.[0].outcome' <<<"$a")"
am_assert_eq "started (it was active)" true "$(jq '.[0].started != null' <<<"$a")"
am_assert_eq "the job's own node" "${AM_NODE_UUID[node2]}" "$(am_job_field "$k" .node)"

am_check "an operator's retry keeps the failed attempt too"
r=$(am_ctl submit testing.flaky r 1 false)
am_wait_exits "$r" 1 30s
am_ctl retry "$r" >/dev/null
am_wait_exits "$r" 0 30s
a=$(s_attempts "$r")
am_say "attempts: $a"
am_assert_eq "entries" 1 "$(jq length <<<"$a")"
am_assert_eq "attempt" 1 "$(jq -r '.[0].attempt' <<<"$a")"
am_assert_eq "type" FlakyError "$(jq -r '.[0].type' <<<"$a")"
am_assert_eq "retries kept too" 1 "$(am_ctl job "$r" | jq '.annotations ["asyncmesh.retries"] | length')"

am_check "at most 10 kept: the last ones"
m=$(am_ctl submit --retry attempts=14,backoff=1ms..2ms testing.flaky m 13)
am_wait_exits "$m" 0 30s
a=$(s_attempts "$m")
am_assert_eq "numbers" "[4,5,6,7,8,9,10,11,12,13]" "$(jq -c '[.[].attempt]' <<<"$a")"

am_check "an operator's retry keeps no attempt that did not run, nor one twice"
#   Cancelled before it was ever handed out (no node takes queue pq): no
#   attempt ran
p=$(am_ctl submit --queue pq testing.ret 1)
am_ctl cancel "$p" >/dev/null
am_wait_exits "$p" 1 10s
am_ctl retry "$p" >/dev/null
am_assert_eq "no attempt kept" null "$(s_attempts "$p")"
#   Failed on attempt 1, retried, cancelled before it ran again, retried:
#   attempt 1 once, with its own failure
d=$(am_ctl submit testing.flaky d 1 false)
am_wait_exits "$d" 1 30s
am_ctl queue pause default
am_ctl retry "$d" >/dev/null
am_ctl cancel "$d" >/dev/null
am_wait_exits "$d" 1 10s
am_ctl retry "$d" >/dev/null
a=$(s_attempts "$d")
am_say "attempts: $a"
am_assert_eq "numbers" "[1]" "$(jq -c '[.[].attempt]' <<<"$a")"
am_assert_eq "type" FlakyError "$(jq -r '.[0].type' <<<"$a")"
am_ctl queue resume default
am_wait_exits "$d" 0 30s
am_assert_eq "numbers once it ran again" "[1]" "$(s_attempts "$d" | jq -c '[.[].attempt]')"
am_say "PASS"
