#!/usr/bin/env bash
#   asyncctl node UUID: one node in detail: its agents (size, running,
#   filter, queues), its running jobs with their run time, its tasks, the
#   broker's heartbeat interval and dead time. An unknown uuid exits 5, a
#   malformed one 2.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start --heartbeat 1s --dead-after 7s
am_node_start n1 --module "$AM_TESTING_SO" --agent 'main:2' --agent 'bulk:1:testing.*@bulk'
uuid=${AM_NODE_UUID[n1]}

touch_file=$AM_TMP/go
id=$(am_ctl submit testing.block "$touch_file")
s_active () { [ "$(am_job_field "$id" .status)" = active ]; }
am_wait_for "job $id to be active" 15 s_active

am_check "asyncctl node $uuid: agents, the running job with its run time, tasks, times"
s_run_grows () {
    out=$(am_ctl node "$uuid") || return 1
    jq -e --arg id "$id" '.jobs | map(select(.id == $id and .run_seconds >= 1)) | length == 1' \
        <<<"$out" >/dev/null
}
am_wait_for "the job to have run 1 s in 'asyncctl node'" 15 s_run_grows
am_say "node: $out"
am_assert_eq "node.uuid" "$uuid" "$(jq -r .node.uuid <<<"$out")"
am_assert_eq "agents" "main:2:1:default bulk:1:0:bulk" \
    "$(jq -r '[.node.agents[] | "\(.name):\(.size):\(.running):\(.queues)"] | join(" ")' <<<"$out")"
am_assert_eq "filter of bulk" "testing.*" "$(jq -r '.node.agents[1].filter' <<<"$out")"
am_assert_eq "the job's task, agent, status" "testing.block main active" \
    "$(jq -r '.jobs[0] | "\(.task) \(.agent) \(.status)"' <<<"$out")"
am_assert_eq "jobs_more" 0 "$(jq -r .jobs_more <<<"$out")"
am_assert_eq "heartbeat" 1 "$(jq -r .heartbeat <<<"$out")"
am_assert_eq "dead_after" 7 "$(jq -r .dead_after <<<"$out")"
jq -e '.tasks | index("testing.block") != null' <<<"$out" >/dev/null \
    || am_fail "testing.block not among the tasks: $(jq -c .tasks <<<"$out")"

am_check "an unknown uuid exits 5 with one line; a malformed one exits 2"
rc=0; am_ctl node "$(am_uuid)" >/dev/null 2>"$AM_TMP/err" || rc=$?
am_assert_eq "exit status for an unknown node" 5 "$rc"
grep -q "no such node" "$AM_TMP/err" || am_fail "stderr: $(cat "$AM_TMP/err")"
rc=0; am_ctl node nonsense >/dev/null 2>&1 || rc=$?
am_assert_eq "exit status for a malformed uuid" 2 "$rc"

touch "$touch_file"
am_ctl wait "$id" --timeout 20s >/dev/null
am_say "PASS"
