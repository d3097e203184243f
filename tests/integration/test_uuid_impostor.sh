#!/usr/bin/env bash
#   A node's uuid is bound to its key (docs/protocol.md section 7, "One
#   uuid, one node"): node1 runs testing.block F on job J. An impostor (a
#   raw peer, tests/integration/hello_forge.c) knows node1's uuid (NODES
#   shows it) and says HELLO with it, with what any local user can read:
#   the boot id (/proc/sys/kernel/random/boot_id) and the dev:inode of
#   node1's lock file, and this host's name; but not node1's key (the
#   second line of its uuid.txt, mode 0600).
#   (a) node1 alive: the impostor, without a key and with a key of its own,
#       is refused (ERROR 6, reason uuid_key);
#   (b) node1 stopped (SIGSTOP) and silent for 3 s, which the broker took
#       as "gone": refused all the same;
#   (c) node1 stopped and the broker restarted, so that the impostor comes
#       first: refused (the binding is in the store); node1 comes back and
#       takes J back.
#   Through all of it J stays on node1, is never interrupted, and completes
#   with 42 once F exists.
#   (d) an old uuid.txt (uuid only) gets a key of its own at the node's
#       start (mode 0600); with node1's uuid, that node is refused
#       (exit 6, a line saying what to do); node1 restarted with its own
#       uuid.txt is taken at once (superseding its old session).
source "$(dirname "$0")/../helpers/lib.sh"

FORGE=$AM_BUILD/tests/hello_forge
[ -x "$FORGE" ] || am_fail "$FORGE is missing; build first (cmake --build build)"
[ -r /proc/sys/kernel/random/boot_id ] || am_skip "no /proc/sys/kernel/random/boot_id"

#   A death timeout long enough for the SIGSTOPs below
am_broker_start --dead-after 30s
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
uuid=${AM_NODE_UUID[node1]}
pid1=${AM_NODE_PID[node1]}

grep -Eq '^key=[0-9a-f]{64}$' "$AM_TMP/node1/uuid.txt" \
    || am_fail "node1's new uuid.txt has no key line: $(cat "$AM_TMP/node1/uuid.txt")"
am_assert_eq "mode of node1's uuid.txt" 600 "$(stat -c %a "$AM_TMP/node1/uuid.txt")"

id=$(am_ctl submit testing.block F)
am_wait_for "job $id to be active" 10 am_job_is "$id" active
am_assert_eq "node of $id" "$uuid" "$(am_job_field "$id" .node)"

#   What a local user can read of node1
boot=$(cat /proc/sys/kernel/random/boot_id)
lockfile=/dev/shm/asyncnode-$uuid.lock
[ -e "$lockfile" ] || lockfile=/tmp/asyncnode-$uuid.lock
[ -e "$lockfile" ] || am_fail "node1's lock file is neither in /dev/shm nor in /tmp"
read -r dev ino < <(stat -c '%d %i' "$lockfile")
lock=$(printf '%x:%x' "$dev" "$ino")
host=$(uname -n)
am_say "impostor's HELLO: uuid $uuid boot $boot lock $lock host $host"

#   s_impostor [HELLO_FORGE OPTIONS...]: one HELLO with node1's uuid (and a
#   held entry for J with a made-up token); it must be refused
s_impostor () {
    local out
    out=$("$FORGE" --hello-only "$@" "$AM_ENDPOINT" "$uuid" "$id" 12345 666) \
        || am_fail "hello_forge failed: $out"
    am_say "impostor: $(tr '\n' ';' <<<"$out")"
    grep -q '^hello: ERROR 6 ' <<<"$out" || am_fail "the impostor's HELLO was not refused: $out"
    grep -q '^hello: reason uuid_key$' <<<"$out" \
        || am_fail "the refusal's reason is not uuid_key: $out"
}

#   s_node1_undisturbed: J live (active; after a broker restart it may read
#   assigned) on node1, never interrupted, node1 listed with its pid, never
#   dropped
s_node1_undisturbed () {
    local job status
    job=$(am_ctl job "$id")
    status=$(jq -r .status <<<"$job")
    case $status in
        active|assigned) ;;
        *) am_fail "status of $id: expected active or assigned, got $status";;
    esac
    am_assert_eq "node of $id" "$uuid" "$(jq -r .node <<<"$job")"
    am_assert_eq "interruptions of $id" 0 "$(jq -r .interruptions <<<"$job")"
    am_assert_eq "pid listed for $uuid" "$pid1" \
        "$(am_ctl nodes | jq -r --arg u "$uuid" 'select(.uuid == $u) | .pid')"
    if grep -q "node.gone node=$uuid" "$AM_TMP/broker.log"; then
        am_fail "node1 was dropped: $(grep "node.gone node=$uuid" "$AM_TMP/broker.log")"
    fi
}

#   True when the broker last heard node1 at least $1 s ago
s_silent_for () {
    local seen
    seen=$(am_ctl nodes | jq -r --arg u "$uuid" 'select(.uuid == $u) | .last_heartbeat')
    seen=$(am_iso_to_s "$seen") || return 1
    am_cond 'now - seen >= s' now="$(am_now)" seen="$seen" s="$1"
}

am_check "(a) node1 alive: an impostor with its boot id and lock, without its key, is refused"
s_impostor --key - --boot "$boot" --lock "$lock" --host "$host"
s_impostor --boot "$boot" --lock "$lock" --host "$host"
s_node1_undisturbed
grep -q "node.refused node=$uuid .*reason=\"uuid $uuid is bound to another key" \
    "$AM_TMP/broker.log" || am_fail "the broker log has no node.refused line for the key"

am_check "(b) node1 stopped and silent: the impostor is refused all the same"
kill -STOP "$pid1"
am_wait_for "node1 to be silent for 3 s" 10 s_silent_for 3
s_impostor --boot "$boot" --lock "$lock" --host "$host"
s_impostor --host other-host
kill -CONT "$pid1"
s_node1_undisturbed

am_check "(c) node1 stopped, the broker restarted: the impostor comes first and is refused"
kill -STOP "$pid1"
am_broker_kill
am_broker_restart
s_impostor --boot "$boot" --lock "$lock" --host "$host"
kill -CONT "$pid1"
s_back () {
    am_node_listed "$uuid" && grep -q "node.hello node=$uuid agents=1 held=1 " "$AM_TMP/broker.log"
}
am_wait_for "node1 to say HELLO again and hold $id" 15 s_back
s_node1_undisturbed

am_check "J completes on node1 once F exists, never interrupted"
touch "$AM_TMP/node1/F"
am_assert_ran_once "$id" 42 "$uuid"

am_check "(d) an old uuid.txt with node1's uuid gets a key of its own, and is refused"
kill -KILL "$pid1"
wait "$pid1" 2>/dev/null || true
mkdir -p "$AM_TMP/node3"
echo "$uuid" >"$AM_TMP/node3/uuid.txt"
(cd "$AM_TMP/node3" && exec "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" \
    --module "$AM_TESTING_SO" --agent main:1) >>"$AM_TMP/node3.log" 2>&1 &
pid3=$!
AM_PIDS+=("$pid3")
am_wait_for "node3 to exit" 15 am_pid_gone "$pid3"
rc=0; wait "$pid3" || rc=$?
am_assert_eq "exit code of node3" 6 "$rc"
am_assert_eq "node3's uuid (kept)" "$uuid" "$(head -n 1 "$AM_TMP/node3/uuid.txt")"
grep -Eq '^key=[0-9a-f]{64}$' "$AM_TMP/node3/uuid.txt" \
    || am_fail "node3's uuid.txt has no key line: $(cat "$AM_TMP/node3/uuid.txt")"
am_assert_eq "mode of node3's uuid.txt" 600 "$(stat -c %a "$AM_TMP/node3/uuid.txt")"
line=$(grep "node.refused" "$AM_TMP/node3.log") || am_fail "node3.log has no node.refused line"
am_say "node3: $line"
grep -q "uuid.txt" <<<"$line" || am_fail "the line does not name the uuid file"
grep -q "delete" <<<"$line" || am_fail "the line does not say what to do"

am_check "node1 restarted with its own uuid.txt is taken at once, and runs a job"
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
pid1=${AM_NODE_PID[node1]}
am_assert_eq "uuid of the restarted node1" "$uuid" "$(head -n 1 "$AM_TMP/node1/uuid.txt")"
s_listed_with_new_pid () {
    am_ctl nodes | jq -e --arg u "$uuid" --argjson p "$pid1" \
        'select(.uuid == $u and .pid == $p)' >/dev/null
}
am_wait_for "the broker to list $uuid with the new pid" 5 s_listed_with_new_pid
id2=$(am_ctl submit testing.mul 6 7)
am_assert_eq "result of a second job" 42 "$(am_ctl wait "$id2" --timeout 10s)"
am_assert_eq "node of the second job" "$uuid" "$(am_job_field "$id2" .node)"
am_say "PASS"
