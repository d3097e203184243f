#!/usr/bin/env bash
#   One uuid, one node (docs/protocol.md section 7): node1 runs testing.block
#   F on job J; copies of its uuid.txt are started elsewhere.
#   (a) Same machine, another directory: the second asyncnode cannot take
#       the host-wide lock of the uuid, exits 6 at once with a line naming
#       the uuid and its uuid file, and never reaches the broker.
#   (b) "Another machine": the third runs under `unshare --uts --mount` with
#       its own hostname and a private tmpfs over /dev/shm (the lock
#       directory), so it gets the lock; the broker sees a live session of
#       the uuid on another host and refuses its HELLO with ERROR 6; it
#       exits 6 with the line. Needs root: skipped otherwise.
#   Through both, node1 is never superseded: J stays active on it with no
#   interruption, and completes with 42 once F exists.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
uuid=${AM_NODE_UUID[node1]}
pid1=${AM_NODE_PID[node1]}

id=$(am_ctl submit testing.block F)
am_wait_for "job $id to be active" 10 am_job_is "$id" active

#   s_twin NAME [COMMAND PREFIX...]: start asyncnode in $AM_TMP/NAME with a
#   copy of node1's uuid.txt; sets twin_pid
s_twin () {
    local name=$1; shift
    mkdir -p "$AM_TMP/$name"
    cp "$AM_TMP/node1/uuid.txt" "$AM_TMP/$name/uuid.txt"
    (cd "$AM_TMP/$name" && exec "$@" "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" \
        --module "$AM_TESTING_SO" --agent main:1) >>"$AM_TMP/$name.log" 2>&1 &
    twin_pid=$!
    AM_PIDS+=("$twin_pid")
}

#   s_node1_undisturbed: J active on node1, never interrupted, node1 listed
s_node1_undisturbed () {
    local job
    job=$(am_ctl job "$id")
    am_assert_eq "status of $id" active "$(jq -r .status <<<"$job")"
    am_assert_eq "interruptions of $id" 0 "$(jq -r .interruptions <<<"$job")"
    am_assert_eq "pid listed for $uuid" "$pid1" \
        "$(am_ctl nodes | jq -r --arg u "$uuid" 'select(.uuid == $u) | .pid')"
    if grep -q "node.gone node=$uuid" "$AM_TMP/broker.log"; then
        am_fail "node1 was dropped: $(grep "node.gone node=$uuid" "$AM_TMP/broker.log")"
    fi
}

am_check "(a) a second node on this machine with a copy of uuid.txt exits 6 at once"
s_twin node2
am_wait_for "the second node to exit" 10 am_pid_gone "$twin_pid"
rc=0; wait "$twin_pid" || rc=$?
am_assert_eq "exit code of the second node" 6 "$rc"
line=$(grep "another asyncnode on this machine" "$AM_TMP/node2.log") \
    || am_fail "node2.log has no 'another asyncnode on this machine' line"
am_say "node2: $line"
grep -q "$uuid" <<<"$line" || am_fail "the line does not name the uuid $uuid"
grep -q "uuid.txt" <<<"$line" || am_fail "the line does not name the uuid file"
s_node1_undisturbed

am_check "(b) a node with the same uuid on \"another machine\" is refused by the broker"
[ "$(id -u)" = 0 ] || am_skip "(b) needs root for unshare --uts --mount"
[ -d /dev/shm ] || am_skip "(b) needs /dev/shm, the node's lock directory"
unshare --uts --mount true 2>/dev/null || am_skip "(b) unshare --uts --mount fails here"
s_twin node3 unshare --uts --mount sh -c \
    'hostname am-other-host && mount -t tmpfs tmpfs /dev/shm && exec "$@"' sh
am_wait_for "the third node to exit" 15 am_pid_gone "$twin_pid"
rc=0; wait "$twin_pid" || rc=$?
am_assert_eq "exit code of the third node" 6 "$rc"
line=$(grep "node.refused" "$AM_TMP/node3.log") \
    || am_fail "node3.log has no node.refused line"
am_say "node3: $line"
grep -q "$uuid" <<<"$line" || am_fail "the line does not name the uuid $uuid"
grep -q "uuid.txt" <<<"$line" || am_fail "the line does not name the uuid file"
grep -q "host=am-other-host" <<<"$(grep "node.refused node=$uuid" "$AM_TMP/broker.log")" \
    || am_fail "the broker log has no 'node.refused node=$uuid host=am-other-host' line"
s_node1_undisturbed

am_check "J completes on node1 once F exists, never interrupted"
touch "$AM_TMP/node1/F"
am_assert_ran_once "$id" 42 "$uuid"
am_say "PASS"
