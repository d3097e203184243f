#!/usr/bin/env bash
#   A uuid is bound to the key of its first HELLO (docs/protocol.md section
#   7, "One uuid, one node"); the binding (b key) is written with a later
#   batch. A new uuid says HELLO with key K1 and BYE before its binding is
#   written; an impostor's HELLO for that uuid with key K2 must be refused
#   all the same (ERROR 6, reason uuid_key), and the uuid stays bound to
#   K1. The store's writer is made slow (tests/integration/faultshim.c
#   makes its fsync wait until the test removes a file) so that the
#   binding waits:
#   (a) in the batch being built, behind a synced write in flight;
#   (b) in the batch being written (in flight) itself;
#   then, after a restart, the bindings read from the store.
source "$(dirname "$0")/../helpers/lib.sh"

RAWREQ=$AM_BUILD/tests/rawreq
FORGE=$AM_BUILD/tests/hello_forge
[ -x "$RAWREQ" ] && [ -x "$FORGE" ] || am_fail "rawreq or hello_forge missing; build first"

#   s_forge UUID KEY: one HELLO with UUID and KEY; prints the answer
#   lines. Each says the same boot and lock file, as a node restarted on
#   its machine: its HELLO takes over the session the one before left
#   (no BYE), which would otherwise keep the uuid for two heartbeats
s_forge () {
    "$FORGE" --hello-only --boot "$BOOT" --lock 801:2a --key "$2" "$AM_ENDPOINT" "$1" \
        "$(am_uuid)" 1 1 || am_fail "hello_forge failed"
}
BOOT=$(am_uuid)
#   s_refused WHAT OUT: OUT is a refusal for the key
s_refused () {
    grep -q '^hello: ERROR 6 ' <<<"$2" && grep -q '^hello: reason uuid_key$' <<<"$2" \
        || am_fail "$1 was not refused for the key: $(tr '\n' ';' <<<"$2")"
}
#   s_welcomed WHAT OUT
s_welcomed () {
    grep -q '^hello: WELCOME$' <<<"$2" || am_fail "$1 was not welcomed: $(tr '\n' ';' <<<"$2")"
}
#   s_still_held LOG: the synced write that LOG waits for is not done yet
s_still_held () {
    if grep -q ACCEPTED "$1"; then
        am_fail "the slow write ended before the impostor's HELLO: the fault was not injected"
    fi
}

SLOW=$AM_TMP/slow_sync
#   The disk is slow until the test removes $SLOW (at most 60 s): the
#   checks below may take seconds each on a loaded machine
am_with_shim ASYNC_TEST_SLOW_SYNC="$SLOW" -- am_broker_start
echo 60000 >"$SLOW"

am_check "(a) the binding waits in the batch being built: the impostor is refused"
X=$(am_uuid); K1=$(am_hex_key); K2=$(am_hex_key)
#   A synced write held by the slow disk
am_hold_writer "$AM_TMP/held_a.log"
out=$("$RAWREQ" -n 1 -t 10000 "$AM_ENDPOINT" HELLO "$(am_hello_body "$X" "$K1" owner)" BYE '{}') \
    || am_fail "rawreq failed: $out"
grep -q '"command": *"WELCOME"' <<<"$out" || am_fail "the owner's first HELLO was not welcomed: $out"
imp=$(s_forge "$X" "$K2")
s_still_held "$AM_TMP/held_a.log"
s_refused "the impostor's HELLO (K2)" "$imp"
s_welcomed "the owner's HELLO again (K1), before its binding is written" "$(s_forge "$X" "$K1")"
s_still_held "$AM_TMP/held_a.log"
rm -f "$SLOW"
am_wait_for "the held submit to be accepted" 15 grep -q ACCEPTED "$AM_TMP/held_a.log"

am_check "(b) the binding waits in the batch being written: the impostor is refused"
echo 60000 >"$SLOW"
#   HELLO and BYE in the batch of a synced write, handed to the writer:
#   sent after the submit, they are read in its loop turn or a later one,
#   and a submit handed to the writer was not read alone. A try whose
#   submit was read alone (and written at once) is made again with a new
#   uuid: its HELLO may have been written
for try in 1 2 3 4 5; do
    Y=$(am_uuid); L1=$(am_hex_key); L2=$(am_hex_key)
    am_hold_writer_try "$AM_TMP/held_b.log" HELLO "$(am_hello_body "$Y" "$L1" owner)" \
        BYE '{}' && break
    [ "$try" -lt 5 ] || am_fail "the broker never handed the submit to its writer"
done
grep -q WELCOME "$AM_TMP/held_b.log" || am_fail "the owner's first HELLO was not welcomed: $(cat "$AM_TMP/held_b.log")"
imp=$(s_forge "$Y" "$L2")
s_still_held "$AM_TMP/held_b.log"
s_refused "the impostor's HELLO (L2)" "$imp"
s_still_held "$AM_TMP/held_b.log"
rm -f "$SLOW"
am_wait_for "the held submit to be accepted" 15 grep -q ACCEPTED "$AM_TMP/held_b.log"

am_check "written: after a restart, both uuids stay bound to their owners' keys"
#   The restarted broker has no session of them: it answers from the
#   bindings in its store (the impostors first: an owner's HELLO makes a
#   session, whose key would answer)
kill -TERM "$AM_BROKER_PID"
am_wait_for "the broker to stop on SIGTERM" 20 am_pid_gone "$AM_BROKER_PID"
wait "$AM_BROKER_PID" || am_fail "the broker did not stop cleanly"
am_broker_restart
s_refused "X's impostor (K2)" "$(s_forge "$X" "$K2")"
s_refused "Y's impostor (L2)" "$(s_forge "$Y" "$L2")"
s_welcomed "X's owner (K1)" "$(s_forge "$X" "$K1")"
s_welcomed "Y's owner (L1)" "$(s_forge "$Y" "$L1")"
am_assert_eq "node.bound lines for X" 1 "$(grep -c "node.bound node=$X " "$AM_TMP/broker.log")"
am_assert_eq "node.bound lines for Y" 1 "$(grep -c "node.bound node=$Y " "$AM_TMP/broker.log")"
am_say "PASS"
