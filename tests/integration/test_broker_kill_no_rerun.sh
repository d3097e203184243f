#!/usr/bin/env bash
#   A job does not run twice on a node that stays alive across a broker
#   SIGKILL. ASSIGN goes out before the commit that records it; here that
#   commit is held back (a slow disk: tests/integration/faultshim.c makes
#   the broker's fsync take 8 s) while the node runs the job and sends its
#   result; then the broker is killed. After its restart the job is
#   pending again, but the node reports the result it could not deliver in
#   HELLO, the broker checks the attempt's token (made for that job, node
#   and attempt) and accepts the result: the job ran once.
source "$(dirname "$0")/../helpers/lib.sh"

SHIM=$AM_BUILD/tests/faultshim.so
SLOW=$AM_TMP/slow_sync
#   Only the first broker runs with the shim (the sanitizers' runtime
#   accepts a library loaded before it only when told to)
asan=${ASAN_OPTIONS-}
export LD_PRELOAD=$SHIM ASYNC_TEST_SLOW_SYNC=$SLOW
export ASAN_OPTIONS="${asan:+$asan:}verify_asan_link_order=0"
am_broker_start
unset LD_PRELOAD ASYNC_TEST_SLOW_SYNC
export ASAN_OPTIONS=$asan

am_check "a job, committed while no node can take it"
id=$(am_ctl submit testing.record runs once)
am_assert_eq "status" pending "$(am_job_field "$id" .status)"

am_check "the disk turns slow; a node comes up and runs the job"
echo 8000 >"$SLOW"
#   A write that syncs (another submit, to a queue nobody serves) holds the
#   store's writer thread: the job's assignment waits behind it,
#   unrecorded. Sent with a PING in one go, so that the broker hands it to
#   the writer instead of writing a lone request itself
"$AM_BUILD/tests/rawreq" -t 20000 "$AM_ENDPOINT" \
    SUBMIT '{"spec": {"task": "testing.noop", "queue": "nobody"}}' PING '{}' \
    >"$AM_TMP/held_submit.log" 2>&1 &
am_wait_for "the broker's PONG (the submit is being written)" 5 grep -q PONG "$AM_TMP/held_submit.log"
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
s_ran () { [ "$(wc -l <"$AM_TMP/node1/runs" 2>/dev/null || echo 0)" -ge 1 ]; }
am_wait_for "the job to run on node1" 5 s_ran
if grep -q ACCEPTED "$AM_TMP/held_submit.log"; then
    am_fail "the slow write ended before the job ran: the fault was not injected"
fi
am_broker_kill
rm -f "$SLOW"

am_check "restart: the job is not run again; its result is accepted"
am_broker_restart
am_assert_eq "the job's result" '"once"' "$(am_ctl wait "$id" --timeout 15s)"
job=$(am_ctl job "$id")
am_assert_eq "status" completed "$(jq -r .status <<<"$job")"
am_assert_eq "attempts" 1 "$(jq -r .attempts <<<"$job")"
marker=$(am_ctl submit testing.ret after)
am_assert_eq "a later job on node1" '"after"' "$(am_ctl wait "$marker" --timeout 10s)"
am_assert_eq "runs of the job (lines in node1/runs)" 1 "$(wc -l <"$AM_TMP/node1/runs")"
grep -q "job.adopted job=$id node=${AM_NODE_UUID[node1]}" "$AM_TMP/broker.log" \
    || am_fail "the broker did not log job.adopted for $id"
am_say "PASS"
