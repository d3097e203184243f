#!/usr/bin/env bash
#   A retry is not handed out before the failure that ended the attempt
#   before it is written. Here attempt 1 of a job (testing.flaky: its first
#   call fails, transient; the default policy retries at once) is recorded
#   on node1, then fails while a write is held back (a slow disk: tests/
#   integration/faultshim.c makes the broker's fsync take 8 s), and the
#   broker is killed before that write ends. After the restart the store
#   still has attempt 1 running on node1, which re-sends its failure: the
#   job is retried then, once. A broker that handed out attempt 2 before
#   the failure was written has it run twice: once before the kill, once
#   after (docs/protocol.md section 6, ASSIGN).
source "$(dirname "$0")/../helpers/lib.sh"

SLOW=$AM_TMP/slow_sync
CALLS=$AM_TMP/flaky_calls
#   This broker runs with the shim, the node does not
am_with_shim ASYNC_TEST_SLOW_SYNC="$SLOW" -- am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
uuid=${AM_NODE_UUID[node1]}

am_check "attempt 1 of a flaky job is recorded on node1 (stopped: it runs later)"
kill -STOP "${AM_NODE_PID[node1]}"
id=$(am_ctl submit testing.flaky "$CALLS" 1)
am_wait_for "the job to be assigned to node1" 10 am_job_on "$id" "$uuid" assigned
#   A submit's answer comes after the write of its batch, which follows
#   the one holding the assignment
am_ctl submit --queue nobody testing.noop >/dev/null

am_check "the disk turns slow; attempt 1 fails behind the slow write"
echo 8000 >"$SLOW"
#   A write that syncs (a submit to a queue nobody serves) holds the
#   store's writer thread: what follows waits behind it, unwritten. Sent
#   with a PING in one go, so that the broker hands it to the writer
#   instead of writing a lone request itself
am_hold_writer "$AM_TMP/held_submit.log"
kill -CONT "${AM_NODE_PID[node1]}"
#   The failure is taken: the job waits in its queue for the write, or (a
#   broker that does not wait) attempt 2 runs at once, the second call
s_failure_taken () {
    [ "$(cat "$CALLS" 2>/dev/null || echo 0)" -ge 2 ] || am_job_is "$id" pending
}
am_wait_for "attempt 1's failure to be taken" 6 s_failure_taken
am_say "calls of the task before the kill: $(cat "$CALLS"); job: $(am_job_state "$id")"
if grep -q ACCEPTED "$AM_TMP/held_submit.log"; then
    am_fail "the slow write ended before the broker was killed: the fault was not injected"
fi
am_broker_kill
rm -f "$SLOW"

am_check "restart: node1 re-sends the failure, the job is retried once"
am_broker_restart
am_assert_eq "the job's result" 42 "$(am_ctl wait "$id" --timeout 20s)"
am_assert_eq "calls of the task (the failure, then the retry)" 2 "$(cat "$CALLS")"
am_assert_eq "attempts" 2 "$(am_job_field "$id" .attempts)"
am_say "PASS"
