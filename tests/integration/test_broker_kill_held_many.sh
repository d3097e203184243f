#!/usr/bin/env bash
#   A node of one slot may hold many more jobs than two across a broker
#   SIGKILL, and takes back every one (docs/protocol.md section 8). A
#   result's ACK waits for the commit that records it, but the broker frees
#   the slot and hands out the next job at once: while one write is slow
#   (tests/integration/faultshim.c makes the broker's fsync take 8 s), the
#   node runs 5 jobs, one after the other, and holds the 5 results. The
#   broker is killed before any of it is recorded: after its restart the 5
#   jobs are pending again, the node lists the 5 in HELLO `held` with their
#   proofs, and each is taken back (`job.adopted`), none runs again.
source "$(dirname "$0")/../helpers/lib.sh"

N=5
SLOW=$AM_TMP/slow_sync
#   This broker runs with the shim, the node does not
am_with_shim ASYNC_TEST_SLOW_SYNC="$SLOW" -- am_broker_start

am_check "$N jobs, committed while no node can take them"
ids=()
for i in $(seq $N); do
    ids+=("$(am_ctl submit testing.record runs "r$i")")
done
am_assert_eq "pending jobs" $N "$(am_ctl count pending)"

am_check "the disk turns slow; a node of one slot comes up and runs the $N jobs"
echo 8000 >"$SLOW"
#   A write that syncs (a submit to a queue nobody serves) holds the
#   store's writer thread: what follows waits behind it, unrecorded. Sent
#   with a PING in one go, so that the broker hands it to the writer
#   instead of writing a lone request itself
am_hold_writer "$AM_TMP/held_submit.log"
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
s_ran_all () { [ "$(wc -l <"$AM_TMP/node1/runs" 2>/dev/null || echo 0)" -ge $N ]; }
am_wait_for "the $N jobs to run on node1" 6 s_ran_all
if grep -q ACCEPTED "$AM_TMP/held_submit.log"; then
    am_fail "the slow write ended before the jobs ran: the fault was not injected"
fi
am_broker_kill
rm -f "$SLOW"

am_check "restart: node1 takes back the $N jobs; none runs again"
am_broker_restart
for i in $(seq $N); do
    am_assert_eq "result of job $i" "\"r$i\"" "$(am_ctl wait "${ids[$((i - 1))]}" --timeout 15s)"
done
marker=$(am_ctl submit testing.ret after)
am_assert_eq "a later job on node1" '"after"' "$(am_ctl wait "$marker" --timeout 10s)"
am_assert_eq "runs of the $N jobs (lines in node1/runs)" $N "$(wc -l <"$AM_TMP/node1/runs")"
am_assert_eq "jobs taken back (job.adopted)" $N \
    "$(grep -c "job.adopted job=.* node=${AM_NODE_UUID[node1]}" "$AM_TMP/broker.log")"
if grep -q "node.held_refused node=${AM_NODE_UUID[node1]}" "$AM_TMP/broker.log"; then
    am_fail "held entries of node1 were refused: $(grep node.held_refused "$AM_TMP/broker.log")"
fi
am_say "PASS"
