#!/usr/bin/env bash
#   The first HELLO of a uuid writes its binding (b key, kept for good):
#   while the disk is under the broker's --min-free reserve, such a HELLO
#   is refused (ERROR 6, reason disk_low) like a SUBMIT, and the node says
#   HELLO again until it is taken. A node whose uuid is bound already is
#   taken all the same and delivers its result. The disk is made "low"
#   with a --min-free larger than the free space of the data directory
#   (no root needed, unlike test_fault_disk_full.sh).
source "$(dirname "$0")/../helpers/lib.sh"

FORGE=$AM_BUILD/tests/hello_forge
[ -x "$FORGE" ] || am_fail "$FORGE is missing; build first (cmake --build build)"

am_broker_start --dead-after 5s
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
uuid1=${AM_NODE_UUID[node1]}
id=$(am_ctl submit testing.block F)
am_wait_for "job $id to be active on node1" 10 am_job_is "$id" active

am_check "restart with --min-free over the free space: the disk is low"
mkdir -p "$AM_DATA"
free_g=$(( $(stat -f -c '%a * %S' "$AM_DATA") >> 30 ))
am_broker_kill
AM_BROKER_FLAGS=(--dead-after 5s --min-free "$(( free_g + 1024 ))G")
am_broker_restart
rc=0; am_ctl submit testing.noop 2>/dev/null || rc=$?
am_assert_eq "exit status of a submit on the low disk" 6 "$rc"

am_check "a new uuid's HELLO is refused, reason disk_low"
new=$(am_uuid)
out=$("$FORGE" --hello-only "$AM_ENDPOINT" "$new" "$(am_uuid)" 1 1) || am_fail "hello_forge failed: $out"
am_say "new uuid: $(tr '\n' ';' <<<"$out")"
grep -q '^hello: ERROR 6 .*disk' <<<"$out" || am_fail "the new uuid's HELLO was not refused for the disk: $out"
grep -q '^hello: reason disk_low$' <<<"$out" || am_fail "the refusal's reason is not disk_low: $out"
grep -q "node.refused node=$new .*--min-free" "$AM_TMP/broker.log" \
    || am_fail "no node.refused line for the disk in the broker log"
if am_node_listed "$new"; then
    am_fail "the refused uuid is listed"
fi

am_check "node1, bound before, is taken back and its job completes"
s_back () { grep -q "node.hello node=$uuid1 agents=1 held=1 " "$AM_TMP/broker.log"; }
am_wait_for "node1 to say HELLO again holding $id" 15 s_back
am_wait_for "node1 to be listed" 10 am_node_listed "$uuid1"
touch "$AM_TMP/node1/F"
am_assert_eq "result of $id" 42 "$(am_ctl wait "$id" --timeout 10s)"

am_check "a new node started on the low disk waits, and is taken once there is room"
mkdir -p "$AM_TMP/node2"
(cd "$AM_TMP/node2" && exec "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" \
    --module "$AM_TESTING_SO" --agent main:1) >>"$AM_TMP/node2.log" 2>&1 &
pid2=$!
AM_PIDS+=("$pid2")
am_wait_for "node2 to write its uuid" 10 test -s "$AM_TMP/node2/uuid.txt"
uuid2=$(head -n 1 "$AM_TMP/node2/uuid.txt")
s_refused2 () { [ "$(grep -c "broker.error .*--min-free" "$AM_TMP/node2.log")" -ge 2 ]; }
am_wait_for "node2 to be refused twice (it says HELLO again)" 15 s_refused2
kill -0 "$pid2" 2>/dev/null || am_fail "node2 exited on a refusal for the disk"
if am_node_listed "$uuid2"; then
    am_fail "node2 is listed while the disk is low"
fi
am_broker_kill
AM_BROKER_FLAGS=(--dead-after 5s)
am_broker_restart
am_wait_for "node2 to be listed" 15 am_node_listed "$uuid2"
grep -q "node.bound node=$uuid2 " "$AM_TMP/broker.log" || am_fail "node2's uuid was not bound"
am_say "PASS"
