#!/usr/bin/env bash
#   A node keeps a result until its ACK, and the ACK goes after the commit
#   that records it: a broker killed between the two has the job completed
#   in its store, and the node sends the same result again after the
#   restart. That result was taken: the broker accepts it again (ACK
#   rejected=0) without a job.reassigned warning, which would say that an
#   attempt no longer current was refused. Before, the broker looked only
#   at the jobs it had in memory, so after a restart it warned and sent a
#   rejecting ACK. Played here by a raw peer (tests/integration/
#   hello_forge.c) with the node's uuid, key and the attempt's token
#   (token_of, from a copy of the stopped store).
source "$(dirname "$0")/../helpers/lib.sh"

FORGE=$AM_BUILD/tests/hello_forge
TOKEN_OF=$AM_BUILD/tests/token_of
for f in "$FORGE" "$TOKEN_OF"; do
    [ -x "$f" ] || am_fail "$f is missing; build first (cmake --build build)"
done

am_broker_start --heartbeat 200ms --dead-after 1s
am_node_start node1 --module "$AM_TESTING_SO" --heartbeat 200ms
uuid=${AM_NODE_UUID[node1]}
id=$(am_ctl submit testing.mul 6 7)
am_wait_exits "$id" 0
am_assert_eq "result" 42 "$AM_OUT"

am_check "the node and the broker stop; the attempt's token from a copy of the store"
kill -TERM "${AM_NODE_PID[node1]}"
am_wait_for "node1 to stop" 15 am_pid_gone "${AM_NODE_PID[node1]}"
am_broker_kill
cp -a "$AM_DATA" "$AM_TMP/store-copy"
read -r token _ < <("$TOKEN_OF" "$AM_TMP/store-copy" "$id" "$uuid" 1) \
    || am_fail "token_of failed"
key=$(sed -n 's/^key=//p' "$AM_TMP/node1/uuid.txt")
[ -n "$key" ] || am_fail "node1's uuid.txt has no key"
am_broker_restart

am_check "the result again, from the node after the restart: taken, no warning"
out=$("$FORGE" --key "$key" "$AM_ENDPOINT" "$uuid" "$id" "$token" 42) \
    || am_fail "hello_forge failed: $out"
am_say "$(tr '\n' ' ' <<<"$out")"
grep -q '^hello: WELCOME$' <<<"$out" || am_fail "the node's HELLO was not welcomed: $out"
grep -q '^ack: rejected=0$' <<<"$out" || am_fail "the result was not taken again: $out"
! grep -q "job.reassigned job=$id" "$AM_TMP/broker.log" \
    || am_fail "the broker warned that the attempt was reassigned: $(grep "job.reassigned" "$AM_TMP/broker.log")"
job=$(am_ctl job "$id")
am_assert_eq "status" completed "$(jq -r .status <<<"$job")"
am_assert_eq "attempts" 1 "$(jq -r .attempts <<<"$job")"
am_assert_eq "result" 42 "$(jq -c .result <<<"$job")"

am_check "a result with another token is still refused"
#   (once the first raw peer, silent since, is dead: its uuid is free)
s_forger_dead () {
    am_ctl nodes | jq -se --arg u "$uuid" 'any (.[]; .uuid == $u and .dead == true)'
}
am_wait_for "the raw peer's session to be dead" 10 s_forger_dead
out=$("$FORGE" --key "$key" "$AM_ENDPOINT" "$uuid" "$id" $(( token + 1 )) 43) \
    || am_fail "hello_forge failed: $out"
grep -q '^ack: rejected=1$' <<<"$out" || am_fail "a wrong token was taken: $out"
am_assert_eq "result" 42 "$(am_job_field "$id" .result)"
am_say "PASS"
