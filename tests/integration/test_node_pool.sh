#!/usr/bin/env bash
#   The node's worker pool (node/pool.h), end to end on one node of four
#   slots: slow jobs handed out together run side by side, a thread each;
#   a job that arrives while a task learnt as quick blocks this time does
#   not wait for it (the pool wakes another worker).
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:4

#   s_times ID: "start end" of the job's active time, in seconds
s_times () {
    local job
    job=$(am_ctl job "$1")
    echo "$(am_iso_to_s "$(jq -r .active_start <<<"$job")")" \
         "$(am_iso_to_s "$(jq -r .active_end <<<"$job")")"
}

am_check "four testing.sleep 1 submitted together run at the same time on the node"
#   One request submits the four (the children of a parallel job): four
#   asyncctl processes may start more than a second apart on a loaded
#   machine under a sanitizer
parent=$(am_ctl parallel "testing.sleep 1" "testing.sleep 1" "testing.sleep 1" \
    "testing.sleep 1") || am_fail "the parallel submit failed: $parent"
am_ctl wait "$parent" --timeout 30s >/dev/null || am_fail "the parallel job failed"
mapfile -t ids < <(am_job_field "$parent" '.children[]')
am_assert_eq "children of the parallel job" 4 "${#ids[@]}"
for id in "${ids[@]}"; do
    am_assert_eq "result of $id" 1 "$(am_ctl wait "$id" --timeout 30s)"
done
latest_start=0
earliest_end=
for id in "${ids[@]}"; do
    read -r s e <<<"$(s_times "$id")"
    am_cond 's > l' s="$s" l="$latest_start" && latest_start=$s
    if [ -z "$earliest_end" ] || am_cond 'e < m' e="$e" m="$earliest_end"; then
        earliest_end=$e
    fi
done
am_say "last start $latest_start, first end $earliest_end"
am_cond 'l < m' l="$latest_start" m="$earliest_end" \
    || am_fail "a job ended before another started: they ran one after the other"

am_check "a job behind a task that was quick until now but blocks gets a worker at once"
#   testing.block PATH returns at once when PATH exists: sixteen runs
#   teach the node's pool that it is quick
open=$AM_TMP/open; shut=$AM_TMP/shut
touch "$open"
children=()
for i in $(seq 16); do children+=("testing.block $open"); done
am_ctl parallel --wait --wait-timeout 30s "${children[@]}" >/dev/null \
    || am_fail "the parallel job of 16 testing.block (at once) failed"
#   Now one blocks (its file is missing) and one behind it does not
stuck=$(am_ctl submit testing.block "$shut") || am_fail "submit failed: $stuck"
quick=$(am_ctl submit testing.block "$open") || am_fail "submit failed: $quick"
am_assert_eq "result of the one behind it" 42 "$(am_ctl wait "$quick" --timeout 5s)"
am_assert_eq "status of the blocked one meanwhile" active \
    "$(am_job_field "$stuck" .status)"
touch "$shut"
am_assert_eq "result of the blocked one, once its file exists" 42 \
    "$(am_ctl wait "$stuck" --timeout 30s)"
am_say "PASS"
