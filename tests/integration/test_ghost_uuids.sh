#!/usr/bin/env bash
#   After a restart, dispatch waits up to --dead-after for the nodes known
#   before it (u keys: docs/storage.md; docs/protocol.md section 8). A node
#   that does not come back is waited for once, not at every restart:
#   (a) a raw peer says HELLO as uuid A, then on the same connection as
#       uuid B (A's session is dropped, "re-registered"), then BYE: neither
#       A nor B is waited for after a restart;
#   (b) a raw peer says HELLO as uuid X and leaves without BYE; the broker
#       is killed before X is declared dead, so the first restart waits
#       dead-after for X (dispatch.resumed missing=1), and forgets it;
#   (c) the second restart waits only for node1, which is back at once: a
#       job submitted with --wait right after it returns well within
#       dead-after (5 s; bound 3 s).
source "$(dirname "$0")/../helpers/lib.sh"

RAWREQ=$AM_BUILD/tests/rawreq
FORGE=$AM_BUILD/tests/hello_forge
[ -x "$RAWREQ" ] && [ -x "$FORGE" ] || am_fail "rawreq or hello_forge missing; build first"


#   s_submit_wait_ms: runs testing.mul 6 7 with --wait; prints the time in ms
s_submit_wait_ms () {
    local t0 out
    t0=$(am_ms)
    out=$(am_ctl submit --wait testing.mul 6 7) || am_fail "submit --wait failed: $out"
    [ "$out" = 42 ] || am_fail "submit --wait printed '$out', not 42"
    echo $(( $(am_ms) - t0 ))
}

#   The lines of the broker log since its start number $1
s_log_of_start () {
    awk -v n="$1" '/^===== start /{s = $3 + 0; next} s == n' "$AM_TMP/broker.log"
}

am_broker_start --dead-after 5s
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1

am_check "(a) one connection says HELLO as A, then as B, then BYE"
A=$(am_uuid); B=$(am_uuid)
out=$("$RAWREQ" -n 2 "$AM_ENDPOINT" HELLO "$(am_hello_body "$A" "$(am_hex_key)" ghost)" \
    HELLO "$(am_hello_body "$B" "$(am_hex_key)" ghost)" BYE '{}') \
    || am_fail "rawreq failed: $out"
am_assert_eq "WELCOMEs" 2 "$(grep -c '"command": *"WELCOME"' <<<"$out")"
grep -q "node.gone node=$A reason=re-registered" "$AM_TMP/broker.log" \
    || am_fail "A was not dropped as re-registered"

am_check "(b) X says HELLO and goes silent; the broker is killed before X is dead"
X=$(am_uuid)
out=$("$FORGE" --hello-only "$AM_ENDPOINT" "$X" "$(am_uuid)" 1 1) || am_fail "hello_forge failed: $out"
grep -q '^hello: WELCOME$' <<<"$out" || am_fail "X was not welcomed: $out"
#   A synced write after them: what they staged is written when it is
am_ctl submit testing.noop >/dev/null
am_broker_kill
am_broker_restart
ms=$(s_submit_wait_ms)
am_say "first restart: submit --wait took $ms ms (X is waited for)"
line=$(s_log_of_start 2 | grep "dispatch.resumed") || am_fail "no dispatch.resumed line after the first restart"
am_say "first restart: $line"
grep -q "missing=1 " <<<"$line" \
    || am_fail "the first restart waited for other nodes than X: $line"
#   The wait's end is written with the next batch
am_ctl submit testing.noop >/dev/null

am_check "(c) second restart: only node1 is waited for, and it is back at once"
am_broker_kill
am_broker_restart
ms=$(s_submit_wait_ms)
am_say "second restart: submit --wait took $ms ms"
am_cond 'ms < 3000' ms="$ms" \
    || am_fail "submit --wait took $ms ms after the second restart: dispatch waited for a node that missed the first ($(s_log_of_start 3 | grep dispatch.resumed))"
line=$(s_log_of_start 3 | grep "dispatch.resumed") || am_fail "no dispatch.resumed line after the second restart"
grep -q "every node known before the restart is back" <<<"$line" \
    || am_fail "the second restart did not end its wait with node1's HELLO: $line"
am_say "PASS"
