#!/usr/bin/env bash
#   Each agent's `pending` in NODES and STATUS (docs/protocol.md, NODES):
#   the pending jobs only that agent, among the agents of live nodes, takes.
#   n1 has main:1 (any task, queue default) and bulk:1 (testing.*, queue
#   bulk); n2 has main:1:testing.sleep. Both main agents are kept busy;
#   then pending: 3 testing.block (only n1's main takes them), 2
#   testing.sleep (both main agents do: counted for neither) and 1 job in a
#   queue no agent serves (counted for none). n1.main shows 3, the others
#   0. Once n2 is dead, its running job is pending again and n1's main is
#   the only taker of all 6 pending testing jobs. `asyncctl node UUID` on a
#   terminal lists the node's tasks sorted, as words under `tasks (N):`.
#   Before, agents had no `pending`.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start --heartbeat 1s --dead-after 3s
am_node_start n1 --module "$AM_TESTING_SO" --agent 'main:1' --agent 'bulk:1:testing.*@bulk'
am_node_start n2 --module "$AM_TESTING_SO" --agent 'main:1:testing.sleep' --heartbeat 1s
uuid1=${AM_NODE_UUID[n1]}
uuid2=${AM_NODE_UUID[n2]}

go=$AM_TMP/go
block=$(am_ctl submit testing.block "$go")
am_wait_for "job $block to be active" 15 am_job_is "$block" active
am_assert_eq "node of $block" "$uuid1" "$(am_job_field "$block" .node)"
sleeper=$(am_ctl submit testing.sleep 60)
am_wait_for "job $sleeper to be active" 15 am_job_is "$sleeper" active
am_assert_eq "node of $sleeper" "$uuid2" "$(am_job_field "$sleeper" .node)"
for i in 1 2 3; do am_ctl submit testing.block "$go" >/dev/null; done
for i in 1 2; do am_ctl submit testing.sleep 60 >/dev/null; done
am_ctl submit --queue nowhere testing.sleep 60 >/dev/null
am_assert_eq "pending jobs" 6 "$(am_ctl count pending)"

#   "uuid:agent=pending ..." of the live nodes' agents, sorted
s_pending () {
    jq -sr 'map(select(.dead != true) | .uuid as $u | .agents[]
            | "\($u):\(.name)=\(.pending)") | sort | join(" ")'
}
#   The same, expected: n1.main=$1, n1.bulk=0 and, when given, n2.main=$2
s_expect () {
    { echo "$uuid1:main=$1"; echo "$uuid1:bulk=0"; [ -z "${2-}" ] || echo "$uuid2:main=$2"; } \
        | jq -Rsr 'split("\n") | map(select(length > 0)) | sort | join(" ")'
}

am_check "nodes: n1.main 3 (only it takes testing.block), n1.bulk 0, n2.main 0"
am_assert_eq "pending per agent (nodes)" "$(s_expect 3 0)" "$(am_ctl nodes | s_pending)"
am_assert_eq "pending per agent (status)" "$(s_expect 3 0)" \
    "$(am_ctl status | jq -c '.nodes[]' | s_pending)"
am_assert_eq "pending of n1.main (node UUID)" 3 \
    "$(am_ctl node "$uuid1" | jq -r '.node.agents[] | select(.name == "main") | .pending')"

am_check "n2 killed and declared dead: n1.main is the only taker of 6"
kill -KILL "${AM_NODE_PID[n2]}"
am_wait_for "n2 to be declared dead" 20 grep -q "node.dead node=$uuid2" "$AM_TMP/broker.log"
s_six () { [ "$(am_ctl nodes | s_pending)" = "$(s_expect 6)" ]; }
am_wait_for "n1.main to show 6 pending" 10 s_six
dead=$(am_ctl nodes | jq -r --arg u "$uuid2" 'select(.uuid == $u) | [.dead, .agents[0].pending] | @tsv')
am_assert_eq "n2 listed dead with pending 0" "$(printf 'true\t0')" "$dead"

am_check "asyncctl node UUID on a terminal: tasks sorted, as words under 'tasks (N):'"
if command -v script >/dev/null; then
    out=$(script -qec "$AM_BIN/asyncctl --broker $AM_ENDPOINT node $uuid1" /dev/null | tr -d '\r')
    total=$(am_ctl node "$uuid1" | jq -r '.tasks | length')
    grep -qx "tasks ($total):" <<<"$out" || am_fail "no 'tasks ($total):' line in: $out"
    words=$(sed -n '/^tasks (/,$p' <<<"$out" | tail -n +2)
    am_assert_eq "the words are the tasks, sorted" \
        "$(am_ctl node "$uuid1" | jq -r '.tasks | sort | join(" ")')" "$(tr -s ' \n' ' ' <<<"$words" | sed 's/^ //; s/ $//')"
    awk 'length > 80 { exit 1 }' <<<"$words" || am_fail "a line of tasks is over 80 columns: $words"
else
    am_say "script (util-linux) is missing: the terminal output is not checked"
fi
touch "$go"
am_say "PASS"
