#!/usr/bin/env bash
#   A job's times survive a broker outage (docs/protocol.md, RESULT): a job
#   runs on a node (subprocess.call of a 3 s shell script that writes the
#   wall time at its start and at its end in the node's dir); the broker is
#   killed with SIGKILL while it runs, so the STARTED it had only in memory
#   is lost; the job ends while the broker is down, which stays down 6 s
#   more. After the restart the node re-sends the RESULT with
#   started_ago_us and ended_ago_us counted from that send: the job's
#   active_start and active_end are the script's own times within 1.5 s.
#   Before, the broker took start = now - ran_us and end = now, both late
#   by the outage (over 6 s).
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start --dead-after 30s
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1 --log-level trace

id=$(am_ctl submit subprocess.call \
    '["sh", "-c", "date +%s.%N >start.txt; sleep 3; date +%s.%N >end.txt"]')
am_wait_for "job $id to be active" 10 am_job_is "$id" active
am_wait_for "the script to start (start.txt)" 5 test -s "$AM_TMP/node1/start.txt"

am_check "the broker is killed while the job runs, and stays down 6 s after its end"
am_broker_kill
am_wait_for "the script to end (end.txt)" 10 test -s "$AM_TMP/node1/end.txt"
am_wait_for "node1 to log job.done for $id" 5 grep -q "job.done job=$id" "$AM_TMP/node1.log"
#   The outage is the fault itself: a fixed time, not a wait for a state
sleep 6
am_broker_restart
result=$(am_ctl wait "$id" --timeout 20s) || am_fail "job $id did not complete after the restart"
am_assert_eq "result" 0 "$result"

am_check "active_start and active_end are the script's start and end within 1.5 s"
job=$(am_ctl job "$id")
am_assert_eq "attempts" 1 "$(jq -r .attempts <<<"$job")"
am_assert_eq "interruptions" 0 "$(jq -r .interruptions <<<"$job")"
real_start=$(cat "$AM_TMP/node1/start.txt")
real_end=$(cat "$AM_TMP/node1/end.txt")
start=$(am_iso_to_s "$(jq -r .active_start <<<"$job")") || am_fail "no active_start: $job"
end=$(am_iso_to_s "$(jq -r .active_end <<<"$job")") || am_fail "no active_end: $job"
am_say "active_start - real start: $(am_calc 'a - b' a="$start" b="$real_start") s;" \
       "active_end - real end: $(am_calc 'a - b' a="$end" b="$real_end") s"
am_cond 'a - b < 1.5 && b - a < 1.5' a="$start" b="$real_start" \
    || am_fail "active_start $start is not within 1.5 s of the real start $real_start"
am_cond 'a - b < 1.5 && b - a < 1.5' a="$end" b="$real_end" \
    || am_fail "active_end $end is not within 1.5 s of the real end $real_end"
am_cond 'a <= b' a="$start" b="$end" || am_fail "active_start $start is after active_end $end"
am_say "PASS"
