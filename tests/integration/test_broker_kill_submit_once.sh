#!/usr/bin/env bash
#   A job is not handed to a node before its submit is written: a broker
#   SIGKILLed meanwhile loses the submit, its client (never answered)
#   submits again with the same idempotency key, and the task must not have
#   run already. Here the write is held back (a slow disk: tests/
#   integration/faultshim.c makes the broker's fsync take 8 s) while a free
#   node is connected; a job is submitted with a key, then the broker is
#   killed before its write ends. After the restart the retried submit
#   makes the job again, and the task runs once in all.
source "$(dirname "$0")/../helpers/lib.sh"

SLOW=$AM_TMP/slow_sync
#   This broker runs with the shim, the node does not
am_with_shim ASYNC_TEST_SLOW_SYNC="$SLOW" -- am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1

am_check "the disk turns slow; a job is submitted with a key behind the slow write"
echo 8000 >"$SLOW"
#   A write that syncs (a submit to a queue nobody serves) holds the
#   store's writer thread: what follows waits behind it, unwritten. Sent
#   with a PING in one go, so that the broker hands it to the writer
#   instead of writing a lone request itself
am_hold_writer "$AM_TMP/held_submit.log"
#   The job's submit, then a PING: the PONG says the broker handled the
#   submit; a broker that hands the job out then sends its ASSIGN in the
#   same loop turn, long before the STATUS request below is answered
"$AM_BUILD/tests/rawreq" -t 20000 "$AM_ENDPOINT" \
    SUBMIT '{"spec": {"task": "testing.record", "args": ["runs", "once"], "key": "once-1"}}' \
    PING '{}' >"$AM_TMP/job_submit.log" 2>&1 &
am_wait_for "the broker's PONG (the job's submit is handled)" 5 \
    grep -q PONG "$AM_TMP/job_submit.log"
am_ctl status >/dev/null
if grep -q ACCEPTED "$AM_TMP/held_submit.log" "$AM_TMP/job_submit.log"; then
    am_fail "a slow write ended before the broker was killed: the fault was not injected"
fi
am_broker_kill
rm -f "$SLOW"

am_check "restart: the client submits again with its key; the task runs once"
am_broker_restart
id=$(am_ctl submit --key once-1 testing.record runs once)
am_assert_eq "the job's result" '"once"' "$(am_ctl wait "$id" --timeout 15s)"
marker=$(am_ctl submit testing.ret after)
am_assert_eq "a later job on node1" '"after"' "$(am_ctl wait "$marker" --timeout 10s)"
am_assert_eq "runs of the task (lines in node1/runs)" 1 "$(wc -l <"$AM_TMP/node1/runs")"
am_say "PASS"
