#!/usr/bin/env bash
#   The node's host-wide uuid lock (docs/spec.md section 3, "Instance UUID")
#   against another local user, here `nobody` (setpriv), who knows the
#   node's uuid (NODES shows it) and so the lock file's name:
#   (a) the lock file is mode 0600, this user's: nobody cannot open it, so
#       cannot take it or wait for it to be free;
#   (b) nobody made the lock file before the node started (a squat: 0644,
#       nobody's, locked by nobody): a node run by root replaces it, starts
#       with its uuid and holds a lock file of its own;
#   (c) a lock file of ours that others could open (mode 0644, as written
#       by older versions) and that nobody holds: replaced the same way;
#   (d) the node started again while it runs, in its own directory: exits 6
#       with a line saying it already runs (its pid), not to delete
#       uuid.txt;
#   (e) a node run by another user (uid 4242), whose lock file nobody
#       squats: it cannot remove the file, so it exits 2 with a line naming
#       the file and its owner, and does not advise to delete uuid.txt.
#   Needs root (to run processes as other users): skipped otherwise.
source "$(dirname "$0")/../helpers/lib.sh"

[ "$(id -u)" = 0 ] || am_skip "needs root to run processes as other users (setpriv)"
command -v setpriv >/dev/null || am_skip "setpriv is not installed (util-linux)"
command -v flock >/dev/null || am_skip "flock is not installed (util-linux)"

#   s_as UID COMMAND...: run COMMAND as user (and group) UID
s_as () { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups "$@"; }
NOBODY=65534

#   s_lock_of UUID: the path of the uuid's lock file
s_lock_of () {
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then echo "/dev/shm/asyncnode-$1.lock"
    else echo "/tmp/asyncnode-$1.lock"; fi
}

#   s_squat FILE NAME [read]: nobody holds an exclusive flock on FILE
#   (creating it, 0644, when missing; opening it read-only with `read`)
#   until the test ends; NAME names its log
s_squat () {
    local file=$1 name=$2 open='exec 9>>"$1"' pid
    [ "${3:-}" != read ] || open='exec 9<"$1"'
    s_as $NOBODY sh -c "umask 022; $open; flock 9; echo taken; exec sleep 300" \
        sh "$file" >"$AM_TMP/$name.log" 2>&1 &
    pid=$!
    AM_PIDS+=("$pid")
    am_wait_for "nobody to hold $file" 10 grep -q taken "$AM_TMP/$name.log"
    squat_pid=$pid
}

#   s_node NAME [PREFIX...]: start asyncnode in $AM_TMP/NAME; sets node_pid
s_node () {
    local name=$1; shift
    (cd "$AM_TMP/$name" && exec "$@" "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" \
        --agent main:1) >>"$AM_TMP/$name.log" 2>&1 &
    node_pid=$!
    AM_PIDS+=("$node_pid")
}

#   s_listed_as PID UUID: NODES lists a live node of pid PID with uuid UUID
s_listed_as () {
    am_ctl nodes | jq -se --argjson p "$1" --arg u "$2" \
        'any (.[]; .pid == $p and .uuid == $u and .dead != true)' >/dev/null
}

#   s_stop PID: SIGTERM, and it exits 0
s_stop () {
    local rc=0
    kill -TERM "$1"
    wait "$1" || rc=$?
    am_assert_eq "exit code of node $1 on SIGTERM" 0 "$rc"
}

#   s_runs_own_lock PID UUID USER: node PID is listed with UUID and holds
#   a lock file of USER's, mode 0600
s_runs_own_lock () {
    am_wait_for "node $1 to be listed with uuid $2" 15 s_listed_as "$1" "$2"
    am_assert_eq "owner and mode of $lock" "$3 600" "$(stat -c '%u %a' "$lock")"
}

am_broker_start
am_node_start node1 --agent main:1
uuid=${AM_NODE_UUID[node1]}
lock=$(s_lock_of "$uuid")
[ -e "$lock" ] || am_fail "node1's lock file $lock is missing"

am_check "(a) the lock file is root's, mode 0600; nobody cannot open it"
am_assert_eq "owner and mode of $lock" "0 600" "$(stat -c '%u %a' "$lock")"
if s_as $NOBODY sh -c 'exec 9<"$1"' sh "$lock" 2>/dev/null; then
    am_fail "user nobody could open $lock for reading (so lock it)"
fi
am_say "ok: nobody cannot open $lock"

am_check "(b) a lock file squatted by nobody before the node starts is replaced"
s_stop "${AM_NODE_PID[node1]}"
rm -f "$lock"
s_squat "$lock" squat1
am_assert_eq "owner of the squatted $lock" $NOBODY "$(stat -c %u "$lock")"
s_node node1
s_runs_own_lock "$node_pid" "$uuid" 0

am_check "(c) a lock file of ours that others can open (0644), held by nobody, is replaced"
s_stop "$node_pid"
rm -f "$lock"
: >"$lock"
chmod 644 "$lock"
s_squat "$lock" squat2 read
s_node node1
s_runs_own_lock "$node_pid" "$uuid" 0
pid1=$node_pid

am_check "(d) the same node started again while it runs: exit 6, 'already runs', no delete advice"
s_node node1
am_wait_for "the second process to exit" 10 am_pid_gone "$node_pid"
rc=0; wait "$node_pid" || rc=$?
am_assert_eq "exit code of the second process" 6 "$rc"
line=$(grep '^asyncnode: ' "$AM_TMP/node1.log" | tail -n 1)
am_say "second process: $line"
grep -q "already runs" <<<"$line" || am_fail "the line does not say the node already runs"
grep -q "pid $pid1" <<<"$line" || am_fail "the line does not name the running pid $pid1"
if grep -qi "delete" <<<"$line"; then am_fail "the line advises to delete: $line"; fi
kill -0 "$pid1" || am_fail "node1 (pid $pid1) exited"

am_check "(e) a node of uid 4242 whose lock file nobody squats exits 2, naming the owner"
chmod 711 "$AM_TMP"
mkdir -p "$AM_TMP/node4"
chown 4242:4242 "$AM_TMP/node4"
s_node node4 setpriv --reuid=4242 --regid=4242 --clear-groups
am_wait_for "node4 to write uuid.txt" 10 test -s "$AM_TMP/node4/uuid.txt"
uuid4=$(head -n 1 "$AM_TMP/node4/uuid.txt")
lock=$(s_lock_of "$uuid4")
s_runs_own_lock "$node_pid" "$uuid4" 4242
s_stop "$node_pid"
rm -f "$lock"
s_squat "$lock" squat3
s_node node4 setpriv --reuid=4242 --regid=4242 --clear-groups
am_wait_for "node4 to exit" 10 am_pid_gone "$node_pid"
rc=0; wait "$node_pid" || rc=$?
line=$(grep '^asyncnode: ' "$AM_TMP/node4.log" | tail -n 1)
am_say "node4: $line"
am_assert_eq "exit code of node4" 2 "$rc"
grep -q "$lock" <<<"$line" || am_fail "the line does not name $lock"
grep -q "nobody\|$NOBODY" <<<"$line" || am_fail "the line does not name the owner (nobody)"
if grep -qi "delete" <<<"$line"; then am_fail "the line advises to delete: $line"; fi
am_say "PASS: the uuid lock cannot be taken or held by another user"
