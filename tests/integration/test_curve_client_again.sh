#!/usr/bin/env bash
#   A client made right after another one is destroyed still learns that
#   the broker requires CURVE (it watches its handshakes through a monitor
#   socket). Each client's monitor was named after the client's address;
#   the next client, often at the same address, could find that name
#   still taken while ZeroMQ's reaper thread closed the last one (a busy
#   machine makes its window wide), got no monitor, and said "cannot
#   reach the broker" after its whole timeout. Two busy loops beside the
#   clients make that window wide here.
source "$(dirname "$0")/../helpers/lib.sh"

K=$AM_TMP/keys
mkdir -p "$K/clients"
for key in broker client1; do
    "$AM_BIN/asyncctl" keygen "$K/$key"
done
cp "$K/client1" "$K/clients/"
export ASYNC_CURVE_KEY=$K/client1_secret ASYNC_BROKER_PUBLIC_KEY=$K/broker
am_broker_start --curve-secret "$K/broker_secret" --curve-clients "$K/clients"

for _ in 1 2; do
    ( while :; do :; done ) &
    AM_PIDS+=("$!")
done

am_check "30 rounds of a client with the key, then one without: each told 'requires CURVE'"
rc=0
nice -n 10 "$AM_BUILD/tests/client_again" "$AM_ENDPOINT" "$K/client1_secret" "$K/broker" 30 \
    >"$AM_TMP/rounds" 2>&1 || rc=$?
[ $rc = 0 ] || am_fail "client_again exited $rc: $(head -5 "$AM_TMP/rounds")"
am_say "PASS"
