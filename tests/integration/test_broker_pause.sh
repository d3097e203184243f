#!/usr/bin/env bash
#   A pause of the broker does not kill healthy nodes (docs/protocol.md
#   section 7, Death): node1 runs testing.sleep 14 when the broker is
#   stopped with SIGSTOP for 8 s, past its --dead-after 5s. node1 goes on
#   sending PINGs, which wait in the broker's socket. After SIGCONT the
#   broker does not count the time its own loop did not run as node1's
#   silence: no node.dead line, node1 stays listed, and the job completes
#   on node1 at its first attempt, not interrupted.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start --dead-after 5s --heartbeat 1s
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1 --heartbeat 1s
uuid1=${AM_NODE_UUID[node1]}

id=$(am_ctl submit testing.sleep 14)
am_wait_for "job $id to be active" 10 am_job_is "$id" active
am_assert_eq "node of the job" "$uuid1" "$(am_job_field "$id" .node)"

#   After SIGCONT two threads of the broker race: its loop (back from poll,
#   it runs its timers) and ZeroMQ's I/O thread (it reads the PINGs that
#   wait in the kernel and wakes the loop). On an idle machine the I/O
#   thread often wins and hides the bug; on a loaded one the loop wins.
#   Make the loop win here: every thread of the broker on one CPU, the
#   loop's thread (the main one) first in line (SCHED_FIFO), until the
#   broker has run its timers after the pause
command -v taskset >/dev/null && command -v chrt >/dev/null \
    || am_skip "taskset and chrt (util-linux) are needed"
taskset -a -p -c 0 "$AM_BROKER_PID" >/dev/null || am_fail "taskset failed on the broker"
chrt -f -p 1 "$AM_BROKER_PID" 2>/dev/null \
    || am_skip "chrt -f needs CAP_SYS_NICE (root) to order the broker's threads"

am_check "SIGSTOP the broker for 8 s (dead-after 5 s) while node1 runs the job"
kill -STOP "$AM_BROKER_PID"
#   The pause is the attack itself: a fixed time, not a wait for a state
sleep 8
kill -CONT "$AM_BROKER_PID"

am_check "after SIGCONT: node1 is not declared dead and stays listed"
#   A few heartbeats for the broker to read the PINGs and run its timers
am_wait_for "the broker to answer after SIGCONT" 10 am_ctl status
am_wait_for "node1 to be listed" 10 am_node_listed "$uuid1"
chrt -o -p 0 "$AM_BROKER_PID" || am_fail "chrt could not reset the broker's policy"
if grep -q "node.dead node=$uuid1" "$AM_TMP/broker.log"; then
    grep "node.dead" "$AM_TMP/broker.log" >&2
    am_fail "the broker declared node1 dead after its own pause"
fi

am_check "the job completes on node1 at its first attempt, not interrupted"
result=$(am_ctl wait "$id" --timeout 30s) || am_fail "job $id did not complete"
am_assert_eq "result" 14 "$result"
job=$(am_ctl job "$id")
am_assert_eq "status" completed "$(jq -r .status <<<"$job")"
am_assert_eq "node" "$uuid1" "$(jq -r .node <<<"$job")"
am_assert_eq "attempts" 1 "$(jq -r .attempts <<<"$job")"
am_assert_eq "interruptions" 0 "$(jq -r .interruptions <<<"$job")"
if grep -q "node.dead node=$uuid1" "$AM_TMP/broker.log"; then
    am_fail "the broker declared node1 dead after its own pause"
fi
am_say "PASS"
