#!/usr/bin/env bash
#   Many heavy node sessions die at once (docs/protocol.md section 9,
#   "dead sessions dropped per loop turn"): 130 raw peers
#   (tests/integration/hello_flood.c) say the largest HELLO within every
#   budget and answer the broker's PINGs, then all fall silent together.
#   The broker drops their sessions a few per loop turn (10 ms at most a
#   turn, one session at least), so that a client's PING never waits 250
#   ms or more meanwhile (2 s under a sanitizer, where freeing one session
#   takes tens of ms)
#   (dropping them all in one turn, each agent taken out of a list of
#   8,000 by a search, held the loop about 0.5 s), every session is gone
#   within 30 s, and a node runs jobs afterwards.
source "$(dirname "$0")/../helpers/lib.sh"

FLOOD=$AM_BUILD/tests/hello_flood
PINGER=$AM_BUILD/tests/pinger
[ -x "$FLOOD" ] && [ -x "$PINGER" ] || am_fail "hello_flood or pinger is missing; build first"
#   Under AddressSanitizer, freed memory waits in a quarantine (256 MB),
#   recycled in bursts that stall whatever runs: none for this test
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0
ulimit -n 4096 2>/dev/null || am_skip "needs 'ulimit -n 4096' for 130 connections"

command -v curl >/dev/null || am_skip "needs curl"

#   130 sessions of about 1.9 MB each fit the default --sessions-memory
HTTP=127.0.0.1:$(am_free_port)
am_broker_start --dead-after 3s --http "$HTTP"
am_node_start node1 --module "$AM_TESTING_SO"
#   The live sessions, as /metrics counts them (NODES lists about 4 MiB of
#   nodes: some 30 of these)
s_alive () { curl -sS "http://$HTTP/metrics" | awk '$1 == "asyncmesh_sessions" { print $2 }'; }

am_check "130 heavy sessions, alive"
"$FLOOD" "$AM_ENDPOINT" heavy 130 "$AM_BROKER_PID" 4194304 "$AM_TMP/silent" \
    >"$AM_TMP/flood.out" 2>&1 &
flood=$!
AM_PIDS+=("$flood")
am_wait_for "130 sessions welcomed" 120 grep -q '^rss_kb' "$AM_TMP/flood.out"
am_say "$(tr '\n' ' ' <"$AM_TMP/flood.out")"
am_assert_eq "answers" "answers 130 welcome 130 error 0" "$(grep '^answers' "$AM_TMP/flood.out")"
am_assert_eq "nodes alive" 131 "$(s_alive)"

libs=$(ldd "$AM_BIN/asyncbroker" 2>/dev/null || true)
bound_ms=250
[[ $libs == *libasan* || $libs == *libubsan* || $libs == *libtsan* ]] && bound_ms=2000
am_check "they fall silent at once: PING under $bound_ms ms while they are dropped"
#   What is measured is whether dropping holds the broker's loop, not how
#   busy the machine is: where allowed, the broker and the pinger run at a
#   higher priority than whatever else shares the machine
am_pinger_start "$AM_TMP/pings" "$AM_TMP/stop"
touch "$AM_TMP/silent"
wait "$flood" || true
#   Not NODES meanwhile: it packs every session, 64 agents each
s_dead () { [ "$(grep -c 'node.gone .*reason=dead' "$AM_TMP/broker.log")" = 130 ]; }
am_wait_for "the 130 sessions dropped" 30 s_dead
touch "$AM_TMP/stop"
wait "$AM_PINGER" || am_fail "the pinger got no PONG: $(cat "$AM_TMP/pings")"
am_say "$(head -1 "$AM_TMP/pings")"
am_assert_eq "node.dead lines" 130 "$(grep -c 'node.dead' "$AM_TMP/broker.log" || true)"
am_assert_eq "nodes alive" 1 "$(s_alive)"
max_us=$(sed -n 's/.*max_us=\([0-9]*\).*/\1/p' "$AM_TMP/pings" | head -1)
am_cond 'm < b * 1000' m="$max_us" b="$bound_ms" \
    || am_fail "a PING waited $max_us us while the sessions were dropped: $(cat "$AM_TMP/pings")"
am_assert_eq "testing.mul afterwards" 42 "$(am_ctl submit --wait testing.mul 6 7)"
am_say "PASS"
