#!/usr/bin/env bash
#   Fencing through HELLO `held` (docs/protocol.md sections 6 and 7): a real
#   node runs testing.block F on job J. A raw peer (tests/integration/
#   hello_forge.c) says HELLO with another uuid and held = [{J, J's real
#   token, main}], then sends RESULT {J, token, 666}. The broker must not
#   move J to the forger: the held entry is refused (one node.held_refused
#   warning with a count), the forged RESULT is rejected (ACK rejected 1),
#   J stays active on the real node, and once F exists J completes with the
#   real result, 42, without interruption.
source "$(dirname "$0")/../helpers/lib.sh"

FORGE=$AM_BUILD/tests/hello_forge
[ -x "$FORGE" ] || am_fail "$FORGE is missing; build first (cmake --build build)"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
uuid=${AM_NODE_UUID[node1]}

id=$(am_ctl submit testing.block F)
am_wait_for "job $id to be active" 10 am_job_is "$id" active
am_assert_eq "node of $id" "$uuid" "$(am_job_field "$id" .node)"

#   The token of J: a fresh broker's first assignment has epoch 1, counter 1
#   (section 7: token = epoch << 32 | counter). When `asyncctl job` shows
#   the token, it must be that one.
token=$(( (1 << 32) | 1 ))
shown=$(am_ctl job "$id" | jq -r '.token // empty')
[ -z "$shown" ] || am_assert_eq "token of $id as asyncctl shows it" "$token" "$shown"

am_check "a HELLO from another uuid holding $id, then a forged RESULT"
forger=$(cat /proc/sys/kernel/random/uuid)
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
