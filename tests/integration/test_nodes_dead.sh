#!/usr/bin/env bash
#   A node declared dead stays listed (docs/spec.md section 5: nodes ... dead):
#   after SIGKILL and --dead-after 1s, asyncctl nodes --json and status list it
#   with "dead": true and its last heartbeat (its agents with nothing
#   running), /metrics counts it out of nodes_alive; when it comes back
#   under the same uuid it is listed once, alive. A node that stops
#   (SIGTERM) is not dead: it is no longer listed.
source "$(dirname "$0")/../helpers/lib.sh"

HTTP=127.0.0.1:$(am_free_port)
am_broker_start --http "$HTTP" --heartbeat 200ms --dead-after 1s
am_node_start node1 --module "$AM_TESTING_SO" --agent main:2
uuid=${AM_NODE_UUID[node1]}
id=$(am_ctl submit testing.block "$AM_TMP/node1/gate")
am_wait_for "job $id to be active" 10 am_job_is "$id" active
am_node_start node2 --module "$AM_TESTING_SO" --agent other:1@none
seen=$(am_ctl nodes --json | jq -r --arg u "$uuid" 'select(.uuid == $u) | .last_heartbeat')

am_check "SIGKILL: listed with dead: true after --dead-after"
kill -KILL "${AM_NODE_PID[node1]}"
s_dead () { am_ctl nodes --json | jq -e --arg u "$uuid" 'select(.uuid == $u and .dead == true)'; }
am_wait_for "asyncctl nodes --json to list $uuid as dead" 10 s_dead
node=$(am_ctl nodes --json | jq -c --arg u "$uuid" 'select(.uuid == $u)')
am_assert_eq "nodes listed (one dead, one alive)" "false true" \
    "$(am_ctl nodes --json | jq -r .dead | sort | xargs)"
am_assert_eq "running on the dead node" "0 0" "$(jq -r '"\(.running) \(.agents[0].running)"' <<<"$node")"
last=$(jq -r .last_heartbeat <<<"$node")
am_cond 'b >= a' a="$(am_iso_to_s "$seen")" b="$(am_iso_to_s "$last")" \
    || am_fail "last heartbeat $last is before one seen while alive ($seen)"
am_cond 'n - l >= 0.9' n="$(date +%s.%N)" l="$(am_iso_to_s "$last")" \
    || am_fail "last heartbeat $last is not at least dead-after old"
am_assert_eq "dead in status" true \
    "$(am_ctl status --json | jq --arg u "$uuid" '.nodes[] | select(.uuid == $u) | .dead')"
curl -sS "http://$HTTP/metrics" | grep -qx 'asyncmesh_nodes_alive 1' || am_fail "nodes_alive is not 1"
am_assert_eq "interruptions of the job on the dead node" 1 "$(am_job_field "$id" .interruptions)"

am_check "the node comes back: alive again, listed once"
am_node_start node1 --module "$AM_TESTING_SO" --agent main:2
am_assert_eq "listings of $uuid" "false" \
    "$(am_ctl nodes --json | jq -r --arg u "$uuid" 'select(.uuid == $u) | .dead' | xargs)"

am_check "SIGTERM: a stopped node is gone, not dead"
kill -TERM "${AM_NODE_PID[node2]}"
s_gone () { [ -z "$(am_ctl nodes --json | jq -r --arg u "${AM_NODE_UUID[node2]}" 'select(.uuid == $u) | .uuid')" ]; }
am_wait_for "the stopped node to be gone from the list" 5 s_gone
am_say "PASS"
