#!/usr/bin/env bash
#   A cycle of hand-offs (A waits for B's result, then B hands off to A)
#   could never complete: the hand-off that closes it fails with
#   BadArgumentsError naming the cycle, and the job waiting in it completes
#   with that failure, so both end instead of staying active forever.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:2
dir=$AM_TMP/node1
a=$(am_ctl submit testing.handoff_to to_a)
b=$(am_ctl submit testing.handoff_to to_b)
am_wait_for "job a to be active" 10 am_job_is "$a" active
am_wait_for "job b to be active" 10 am_job_is "$b" active

am_check "b hands off to a (a still running): b waits"
#   Written whole, then renamed: the task reads the file as soon as it
#   exists, and could read it empty while echo writes it
s_put () { echo "$1" >"$dir/$2.tmp" && mv "$dir/$2.tmp" "$dir/$2"; }
s_put "$a" to_b
#   The node's one agent (main:2) runs a alone
am_wait_for "b to give back its slot (waiting for a)" 10 am_node_running "${AM_NODE_UUID[node1]}" 1
am_assert_eq "b's status while it waits for a" active "$(am_job_field "$b" .status)"

am_check "a hands off to b: the cycle is refused, both complete"
s_put "$b" to_a
rc=0; out=$(am_ctl wait "$a" --timeout 10s) || rc=$?
am_assert_eq "wait a: exit code" 1 "$rc"
am_assert_eq "a's failure" BadArgumentsError "$(jq -r .type <<<"$out")"
jq -er '.message | test("cycle")' <<<"$out" >/dev/null || am_fail "a's message: $out"
rc=0; out=$(am_ctl wait "$b" --timeout 10s) || rc=$?
am_assert_eq "wait b: exit code" 1 "$rc"
am_assert_eq "b's failure (a's, handed on)" BadArgumentsError "$(jq -r .type <<<"$out")"
jq -er '.message | test("cycle")' <<<"$out" >/dev/null || am_fail "b's message: $out"
am_say "PASS"
