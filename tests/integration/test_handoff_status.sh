#!/usr/bin/env bash
#   A job that handed off waits for the job it handed off to: it shows
#   `active` (also when its task ended before the node said STARTED) with
#   `handoff` naming that job, `count active` and `status` count it as
#   active, also after a restart of the broker, and once the inner job
#   completes it completes with the inner job's result, still naming it.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:2
#   testing.handoff submits testing.block and hands off at once: too
#   short for a STARTED
outer=$(am_ctl submit testing.handoff testing.block stop)
inner_is_active () {
    inner=$(am_ctl jobs active --task testing.block | jq -r .id)
    [ -n "$inner" ]
}
am_wait_for "the inner job to run" 10 inner_is_active
am_wait_for "the outer job to give back its slot" 10 am_node_running "${AM_NODE_UUID[node1]}" 1
outer_waits () { [ "$(am_ctl job "$outer" | jq -r '.completed_at')" = null ] \
                  && [ "$(am_ctl job "$outer" | jq -r '.active_end')" != null ]; }
am_wait_for "the outer job to have handed off" 10 outer_waits

am_check "the outer job shows active, naming the inner job"
am_assert_eq "outer status" active "$(am_job_field "$outer" .status)"
am_assert_eq "outer handoff" "$inner" "$(am_job_field "$outer" .handoff)"
am_assert_eq "inner has no handoff" null "$(am_ctl job "$inner" | jq -c .handoff)"

am_check "count and status agree with the job"
am_assert_eq "count active" 2 "$(am_ctl count active)"
am_assert_eq "count assigned" 0 "$(am_ctl count assigned)"
am_assert_eq "jobs active: the outer job is listed with its handoff" "$inner" \
    "$(am_ctl jobs active | jq -r "select(.id == \"$outer\") | .handoff")"
am_assert_eq "status: default queue active" 2 \
    "$(am_ctl status --json | jq -r '.queues.default.active')"
am_assert_eq "status: default queue assigned" 0 \
    "$(am_ctl status --json | jq -r '.queues.default.assigned')"

am_check "after a restart of the broker, the same"
am_broker_kill
am_broker_restart
am_wait_for "the node to be back with the inner job" 15 am_node_running "${AM_NODE_UUID[node1]}" 1
am_assert_eq "outer status after the restart" active "$(am_job_field "$outer" .status)"
am_assert_eq "outer handoff after the restart" "$inner" "$(am_job_field "$outer" .handoff)"
#   (The inner job, on its node, may show assigned until its node says
#   again that it runs it: counted here as running, either way)
am_assert_eq "count active --task testing.handoff after the restart" 1 \
    "$(am_ctl count active --task testing.handoff)"
am_assert_eq "count assigned active --total after the restart" 2 \
    "$(am_ctl count assigned active --total)"
am_assert_eq "status: default queue assigned + active after the restart" 2 \
    "$(am_ctl status --json | jq -r '.queues.default.assigned + .queues.default.active')"

am_check "the inner job completes: so does the outer one, with its result"
touch "$AM_TMP/node1/stop"
rc=0; out=$(am_ctl wait "$outer" --timeout 10s) || rc=$?
am_assert_eq "wait outer: exit code" 0 "$rc"
am_assert_eq "outer result" 42 "$out"
am_assert_eq "outer still names the inner job" "$inner" "$(am_job_field "$outer" .handoff)"
am_assert_eq "count active after" 0 "$(am_ctl count active)"
am_say "PASS"
