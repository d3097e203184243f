#!/usr/bin/env bash
#   A pause of the broker does not age the dead nodes it lists
#   (docs/monitoring.md, dead nodes; docs/protocol.md section 7, Death).
#   A node declared dead stays listed for 10 minutes of the broker's own
#   running time; the time its loop did not run (SIGSTOP, a paused VM) is
#   credited like the nodes' silence (broker.stalled).
#
#   node1 is killed and listed dead; node2 stays alive. The broker is
#   stopped with SIGSTOP for 2 s (past --dead-after 1s) and, meanwhile, its
#   monotonic clock is moved 700 s on (tests/integration/faultshim.c,
#   ASYNC_TEST_MONO_FILE): to the broker, a pause of over 11 minutes. After
#   SIGCONT node1 is still listed dead, node2 is listed alive and was not
#   declared dead. Before the credit, the pause dropped node1 from the list
#   at the first heartbeat after it.
source "$(dirname "$0")/../helpers/lib.sh"

MONO=$AM_TMP/mono-offset
echo 0 >"$MONO"
am_with_shim ASYNC_TEST_MONO_FILE="$MONO" -- am_broker_start --heartbeat 200ms --dead-after 1s
grep -qz "ASYNC_TEST_MONO_FILE" "/proc/$AM_BROKER_PID/environ" \
    || am_fail "the broker runs without the clock shim"
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
am_node_start node2 --module "$AM_TESTING_SO" --agent main:1
uuid1=${AM_NODE_UUID[node1]}
uuid2=${AM_NODE_UUID[node2]}

#   True when `asyncctl nodes` lists UUID with "dead": true
s_listed_dead () {
    am_ctl nodes | jq -e --arg u "$1" 'select(.uuid == $u and .dead == true)' >/dev/null
}

am_check "node1 killed: listed dead after --dead-after"
kill -KILL "${AM_NODE_PID[node1]}"
am_wait_for "node1 to be listed dead" 10 s_listed_dead "$uuid1"

am_check "SIGSTOP the broker for 2 s while its monotonic clock moves 700 s on"
kill -STOP "$AM_BROKER_PID"
echo 700 >"$MONO"
#   The pause is the attack itself: a fixed time, not a wait for a state
sleep 2
kill -CONT "$AM_BROKER_PID"
s_stalled () { grep -q "broker.stalled" "$AM_TMP/broker.log"; }
am_wait_for "the broker to log broker.stalled" 10 s_stalled
gap=$(grep -o "broker.stalled gap_ms=[0-9]*" "$AM_TMP/broker.log" | head -n 1 | cut -d= -f2)
am_cond 'g >= 700000' g="$gap" || am_fail "the pause the broker saw ($gap ms) is not 700 s"
am_say "ok: the broker saw a pause of $gap ms"

am_check "after SIGCONT: node1 is still listed dead, node2 alive"
am_wait_for "the broker to answer after SIGCONT" 10 am_ctl status
s_listed_dead "$uuid1" || am_fail "the dead node1 is no longer listed after the broker's pause: $(am_ctl nodes)"
am_say "ok: node1 is still listed dead"
am_wait_for "node2 to be listed alive" 10 am_node_listed "$uuid2"
if grep -q "node.dead node=$uuid2" "$AM_TMP/broker.log"; then
    am_fail "the broker declared node2 dead after its own pause"
fi
am_assert_eq "nodes listed (node2 alive, node1 dead)" "false true" \
    "$(am_ctl nodes | jq -r .dead | sort | xargs)"
am_say "PASS"
