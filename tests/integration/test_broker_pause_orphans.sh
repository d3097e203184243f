#!/usr/bin/env bash
#   A pause of the broker right after its restart does not use up the time
#   its recovered jobs' nodes have to come back (docs/protocol.md section
#   7, Death, and section 8): node1 runs testing.block F; it is frozen, the
#   broker is killed and started again (the job is an orphan with
#   dead-after, 3 s, to be claimed), then the broker itself is stopped for
#   6 s. Thawed, node1 says HELLO and takes the job back: not interrupted,
#   attempts 1 (before, the broker's first turn after the pause interrupted
#   it: "node did not come back after a broker restart").
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start --dead-after 3s --heartbeat 500ms
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
id=$(am_ctl submit testing.block F)
am_wait_for "job $id to be active" 10 am_job_is "$id" active

am_check "freeze node1, kill and restart the broker, then stop the broker for 6 s"
kill -STOP "${AM_NODE_PID[node1]}"
am_broker_kill
am_broker_restart
kill -STOP "$AM_BROKER_PID"
#   The pause is the fault itself: a fixed time, not a wait for a state
sleep 6
kill -CONT "$AM_BROKER_PID"
am_wait_for "the broker to answer after SIGCONT" 10 am_ctl status
kill -CONT "${AM_NODE_PID[node1]}"

am_check "node1 takes its job back: not interrupted"
am_wait_for "node1 to be back" 10 am_node_listed "${AM_NODE_UUID[node1]}"
touch "$AM_TMP/node1/F"
am_assert_eq "result" 42 "$(am_ctl wait "$id" --timeout 10s)"
job=$(am_ctl job "$id")
am_assert_eq "attempts" 1 "$(jq -r .attempts <<<"$job")"
am_assert_eq "interruptions" 0 "$(jq -r .interruptions <<<"$job")"
if grep -q "job.interrupted job=$id" "$AM_TMP/broker.log"; then
    am_fail "the job was interrupted: $(grep "job.interrupted job=$id" "$AM_TMP/broker.log")"
fi
am_say "PASS"
