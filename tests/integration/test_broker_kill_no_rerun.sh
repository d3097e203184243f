#!/usr/bin/env bash
#   A job does not run twice on a node that stays alive across a broker
#   SIGKILL. ASSIGN goes out before the commit that records it; here that
#   commit is held back (a slow disk: tests/integration/faultshim.c makes
#   the broker's fsync take 30 s, far longer than even a sanitized node
#   takes to start and run the job) while the node runs the job and sends
#   its result; then the broker is killed. After its restart the job is
#   pending again, but the node reports the result it could not deliver in
#   HELLO, the broker checks the attempt's token (made for that job, node
#   and attempt) and accepts the result: the job ran once. With a second
#   node that comes back first, dispatch waits for the nodes known before
#   the restart, so the job is not handed to the other node meanwhile.
source "$(dirname "$0")/../helpers/lib.sh"

SLOW=$AM_TMP/slow_sync
#   This broker runs with the shim, the nodes do not
am_with_shim ASYNC_TEST_SLOW_SYNC="$SLOW" -- am_broker_start

am_check "a job, committed while no node can take it"
id=$(am_ctl submit testing.record runs once)
am_assert_eq "status" pending "$(am_job_field "$id" .status)"

am_check "the disk turns slow; a node comes up and runs the job"
echo 30000 >"$SLOW"
#   A write that syncs (another submit, to a queue nobody serves) holds the
#   store's writer thread: the job's assignment waits behind it,
#   unrecorded. Sent with a PING in one go, so that the broker hands it to
#   the writer instead of writing a lone request itself
am_hold_writer "$AM_TMP/held_submit.log"
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
s_ran () { [ "$(wc -l <"$AM_TMP/node1/runs" 2>/dev/null || echo 0)" -ge 1 ]; }
am_wait_for "the job to run on node1" 20 s_ran
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

am_check "two nodes: the other node, back first after the restart, does not get the job"
#   node2's only slot is busy (a job recorded as assigned); node1 runs the
#   job whose assignment the slow disk holds back; the broker is killed and
#   node1 frozen; node2 frees its slot and comes back alone. Dispatch waits
#   for node1, which was known before the restart, instead of handing the
#   job to node2; node1, thawed, takes it back
AM_BROKER_FLAGS=()
am_broker_kill
am_with_shim ASYNC_TEST_SLOW_SYNC="$SLOW" -- am_broker_restart
am_node_start node2 --module "$AM_TESTING_SO" --agent 'main:1@default,blk'
blocker=$(am_ctl submit --queue blk testing.block F2)
am_wait_for "the blocker to run on node2" 10 am_node_running "${AM_NODE_UUID[node2]}" 1
#   Due in 3 s: committed now, handed out (to node1, the free one) while
#   the slow write below holds the writer
id2=$(am_ctl submit --begin-after +3s testing.record runs2 twice-no)
echo 30000 >"$SLOW"
rm -f "$AM_TMP/held_submit.log"
am_hold_writer "$AM_TMP/held_submit.log"
s_ran2 () { [ -s "$AM_TMP/node1/runs2" ]; }
am_wait_for "the second job to run on node1" 20 s_ran2
if grep -q ACCEPTED "$AM_TMP/held_submit.log"; then
    am_fail "the slow write ended before the job ran: the fault was not injected"
fi
am_broker_kill
rm -f "$SLOW"
kill -STOP "${AM_NODE_PID[node1]}"
touch "$AM_TMP/node2/F2"
am_broker_restart
s_node2_back () { am_node_listed "${AM_NODE_UUID[node2]}"; }
am_wait_for "node2 to be back" 10 s_node2_back
am_wait_for "the blocker to complete on node2" 10 am_job_is "$blocker" completed
sleep 1     #   node2 is free: a broker that did not wait would hand it the job now
kill -CONT "${AM_NODE_PID[node1]}"
am_assert_eq "the second job's result" '"twice-no"' "$(am_ctl wait "$id2" --timeout 15s)"
am_assert_eq "runs of the second job on node1" 1 "$(wc -l <"$AM_TMP/node1/runs2")"
am_assert_eq "runs of the second job on node2" 0 "$(cat "$AM_TMP/node2/runs2" 2>/dev/null | wc -l)"
grep -q "job.adopted job=$id2 node=${AM_NODE_UUID[node1]}" "$AM_TMP/broker.log" \
    || am_fail "the broker did not log job.adopted for $id2"
am_say "PASS"
