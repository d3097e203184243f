#!/usr/bin/env bash
#   A running parallel parent keeps its progress in a small x key, not in
#   its record: a broker SIGKILLed while half the children are done comes
#   back with the right count, runs the rest, and the postprocess runs once
#   with every child's result.
source "$(dirname "$0")/../helpers/lib.sh"
N=40
RECORD=$AM_TMP/post.txt

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:4

am_check "a parallel job of $N testing.sleep 0.05 children, postprocess testing.record"
children=()
for i in $(seq 1 $N); do children+=("testing.sleep 0.05"); done
id=$(am_ctl parallel --postprocess "testing.record $RECORD post" "${children[@]}") \
    || am_fail "submit failed: $id"
am_say "parent $id"
halfway () { [ "$(am_ctl count completed)" -ge $(( N / 3 )) ]; }
am_wait_for "a third of the children to complete" 30 halfway
am_broker_kill
before=$(am_ctl --timeout 1s count completed 2>/dev/null || echo down)
am_assert_eq "broker is down" down "$before"
am_broker_restart

am_check "the parent completes once, with every child's result, after the restart"
am_wait_for "the parent to complete" 60 am_job_is "$id" completed
job=$(am_ctl job "$id")
am_assert_eq "failure" null "$(jq -c .failure <<<"$job")"
am_assert_eq "postprocess runs" 1 "$(awk '$1 == "post"' "$RECORD" | wc -l)"
am_assert_eq "completed children" "$N" "$(am_ctl jobs completed --limit 0 \
    | jq -r --arg p "$id" 'select(.parent == $p and .task == "testing.sleep") | .id' | sort -u | wc -l)"
post=$(jq -r .postprocess <<<"$job")
#   Its own two arguments, then one summary per child
am_ctl job "$post" >"$AM_TMP/post.json"
am_assert_eq "child summaries handed to the postprocess" "$N" "$(jq '.args[2:] | length' "$AM_TMP/post.json")"
am_assert_eq "their statuses" '["completed"]' "$(jq -c '[.args[2:][] | .status] | unique' "$AM_TMP/post.json")"
am_assert_eq "distinct children summarised" "$N" "$(jq '[.args[2:][] | .id] | unique | length' "$AM_TMP/post.json")"
am_say "PASS"
