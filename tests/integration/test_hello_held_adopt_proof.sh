#!/usr/bin/env bash
#   Adoption needs the 64-bit proof (docs/protocol.md sections 7 and 8): a
#   job J waits in its queue after a broker restart. A raw peer (tests/
#   integration/hello_forge.c) says HELLO holding J for attempt 1 with the
#   right token for its own uuid (32 bits of MAC: guessable online), then
#   sends RESULT {J, token, 666}. Without the proof, or with a wrong one,
#   the broker must not hand J over: the RESULT is rejected, J stays
#   pending, and the misses are counted in node.held_refused. The token
#   and proof are made from a copy of the stopped broker's store (tests/
#   integration/token_of.c), as by an attacker who stole the secret: with
#   both right, J is taken back, which shows the refusals above are the
#   proof's doing.
source "$(dirname "$0")/../helpers/lib.sh"

FORGE=$AM_BUILD/tests/hello_forge
TOKEN_OF=$AM_BUILD/tests/token_of
for f in "$FORGE" "$TOKEN_OF"; do
    [ -x "$f" ] || am_fail "$f is missing; build first (cmake --build build)"
done

am_broker_start
id=$(am_ctl submit testing.noop)
am_assert_eq "status of $id (no node)" pending "$(am_job_field "$id" .status)"

am_check "tokens and proofs of attempt 1 of $id, from a copy of the stopped store"
am_broker_kill
cp -a "$AM_DATA" "$AM_TMP/store-copy"
declare -A UUID TOKEN PROOF
for who in noproof wrongproof right; do
    uuid=$(am_uuid)
    read -r token proof < <("$TOKEN_OF" "$AM_TMP/store-copy" "$id" "$uuid" 1) \
        || am_fail "token_of failed"
    [ -n "$proof" ] || am_fail "token_of printed no proof"
    UUID[$who]=$uuid
    TOKEN[$who]=$token
    PROOF[$who]=$proof
done
am_assert_eq "epoch of the tokens (the first broker process)" 1 "$(( TOKEN[right] >> 32 ))"
am_broker_restart
am_assert_eq "status of $id after the restart" pending "$(am_job_field "$id" .status)"

#   s_forge WHO PROOF [COPIES]: the peer's HELLO and RESULT; output in $out
s_forge () {
    out=$("$FORGE" "$AM_ENDPOINT" "${UUID[$1]}" "$id" "${TOKEN[$1]}" 666 1 "$2" ${3:+"$3"}) \
        || am_fail "hello_forge failed: $out"
    am_say "hello_forge ($1): $(tr '\n' ';' <<<"$out")"
    grep -q '^hello: WELCOME' <<<"$out" || am_fail "the peer's HELLO was not welcomed: $out"
}

am_check "the right token without a proof does not take $id"
s_forge noproof -
grep -q '^ack: rejected=1$' <<<"$out" || am_fail "the forged RESULT was not rejected: $out"
am_assert_eq "status of $id" pending "$(am_job_field "$id" .status)"
grep -q "node.held_refused node=${UUID[noproof]} refused=1 " "$AM_TMP/broker.log" \
    || am_fail "no 'node.held_refused node=${UUID[noproof]} refused=1' in the broker log"

am_check "the right token with a wrong proof, three times, does not take $id"
#   Its last digit changed (not bash arithmetic: a proof may be over 2^63)
wrong=${PROOF[wrongproof]}
[ "${wrong: -1}" = 0 ] && wrong=${wrong%?}1 || wrong=${wrong%?}0
s_forge wrongproof "$wrong" 3
grep -q '^ack: rejected=1$' <<<"$out" || am_fail "the forged RESULT was not rejected: $out"
am_assert_eq "status of $id" pending "$(am_job_field "$id" .status)"
#   Three misses, one per copy
grep -q "node.held_refused node=${UUID[wrongproof]} refused=3 " "$AM_TMP/broker.log" \
    || am_fail "no 'node.held_refused node=${UUID[wrongproof]} refused=3' in the broker log"
if grep -q "job.adopted job=$id" "$AM_TMP/broker.log"; then
    am_fail "the broker adopted $id without its proof"
fi

am_check "with the secret's token and proof, $id is taken back (the check is the proof)"
s_forge right "${PROOF[right]}"
grep -q '^ack: rejected=0$' <<<"$out" || am_fail "the RESULT of the adopted job was rejected: $out"
am_assert_eq "result of $id" 666 "$(am_ctl wait "$id" --timeout 10s)"
grep -q "job.adopted job=$id node=${UUID[right]}" "$AM_TMP/broker.log" \
    || am_fail "the broker did not log job.adopted for $id"
am_say "PASS"
