#!/usr/bin/env bash
#   Fencing through HELLO `held` (docs/protocol.md sections 6 and 7): a real
#   node runs testing.block F on job J. A raw peer (tests/integration/
#   hello_forge.c) says HELLO with another uuid and held = [{J, J's real
#   token, main}], then sends RESULT {J, token, 666}. Tokens are never shown
#   to clients and cannot be guessed: the test takes J's from the real
#   node's debug log, as if it had leaked. The broker must not
#   move J to the forger: the held entry is refused (one node.held_refused
#   warning with a count), the forged RESULT is rejected (ACK rejected 1),
#   J stays active on the real node, and once F exists J completes with the
#   real result, 42, without interruption.
source "$(dirname "$0")/../helpers/lib.sh"

FORGE=$AM_BUILD/tests/hello_forge
[ -x "$FORGE" ] || am_fail "$FORGE is missing; build first (cmake --build build)"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1 --log-level debug
uuid=${AM_NODE_UUID[node1]}

id=$(am_ctl submit testing.block F)
am_wait_for "job $id to be active" 10 am_job_is "$id" active
am_assert_eq "node of $id" "$uuid" "$(am_job_field "$id" .node)"

#   The token of J, as the node that runs it logs it
s_token () { sed -n "s/.*job.started job=$id .*token=\([0-9]*\).*/\1/p" "$AM_TMP/node1.log"; }
am_wait_for "node1 to log $id's token" 5 grep -q "job.started job=$id .*token=" "$AM_TMP/node1.log"
token=$(s_token)
am_assert_eq "epoch of the token (a fresh broker)" 1 "$(( token >> 32 ))"

am_check "a HELLO from another uuid holding $id, then a forged RESULT"
forger=$(am_uuid)
out=$("$FORGE" "$AM_ENDPOINT" "$forger" "$id" "$token" 666) \
    || am_fail "hello_forge failed: $out"
am_say "hello_forge: $(tr '\n' ';' <<<"$out")"
grep -q '^hello: WELCOME' <<<"$out" || am_fail "the forger's HELLO was not welcomed: $out"
grep -q '^ack: rejected=1$' <<<"$out" || am_fail "the forged RESULT was not rejected: $out"

job=$(am_ctl job "$id")
am_assert_eq "status of $id" active "$(jq -r .status <<<"$job")"
am_assert_eq "node of $id" "$uuid" "$(jq -r .node <<<"$job")"
am_assert_eq "interruptions of $id" 0 "$(jq -r .interruptions <<<"$job")"
grep -q "node.held_refused node=$forger refused=1 " "$AM_TMP/broker.log" \
    || am_fail "the broker log has no 'node.held_refused node=$forger refused=1' line"

am_check "the real node finishes $id: its result counts"
touch "$AM_TMP/node1/F"
result=$(am_ctl wait "$id" --timeout 10s)
am_assert_eq "result" 42 "$result"
job=$(am_ctl job "$id")
am_assert_eq "status" completed "$(jq -r .status <<<"$job")"
am_assert_eq "attempts" 1 "$(jq -r .attempts <<<"$job")"
am_assert_eq "interruptions" 0 "$(jq -r .interruptions <<<"$job")"
if grep -q "job.reassigned job=$id" "$AM_TMP/node1.log"; then
    am_fail "the real node's RESULT was rejected (node1.log: job.reassigned job=$id)"
fi

am_check "the real node's agent slot is free again: a second job runs on it"
id2=$(am_ctl submit testing.mul 6 7)
am_assert_eq "result of a second job" 42 "$(am_ctl wait "$id2" --timeout 10s)"
am_assert_eq "node of the second job" "$uuid" "$(am_job_field "$id2" .node)"
am_say "PASS"
