#!/usr/bin/env bash
#   A full disk (docs/spec.md sections 5 and 7): the broker's data dir is a 100
#   MiB tmpfs, --min-free 30M. 20 jobs are accepted; then a file fills the disk
#   until less than 30 MiB is free: `asyncctl submit` exits 6 with a clear
#   message, the 20 jobs (and any accepted while filling) are all still
#   there, the broker keeps running; the file is deleted and submits work
#   again, without a restart.
#   Needs root (mount): reported as skipped otherwise.
source "$(dirname "$0")/../helpers/lib.sh"

if [ "$(id -u)" != 0 ]; then
    am_skip "needs root to mount a tmpfs (running as uid $(id -u))"
fi
MNT=$AM_TMP/mnt
mkdir -p "$MNT"
mount -t tmpfs -o size=100m tmpfs "$MNT" || am_fail "mount -t tmpfs failed"
#   On exit: a lazy unmount (the broker may still have files open there; the
#   tmpfs goes away when it exits), then lib.sh's cleanup with our status
trap 's_rc=$?; trap - ERR; set +e; umount -l "$MNT" 2>/dev/null; (exit $s_rc); s_am_cleanup' EXIT

AM_DATA=$MNT/broker-data
am_broker_start --min-free 30M
free_bytes () { echo $(( $(stat -f -c '%a * %S' "$MNT") )); }
am_say "free on the tmpfs: $(( $(free_bytes) >> 20 )) MiB"

am_check "20 submits are accepted while there is room"
ids=()
for i in $(seq 20); do ids+=("$(am_ctl submit testing.noop "$i")"); done
am_assert_eq "count pending" 20 "$(am_ctl count pending)"

am_check "fill the disk below the 30 MiB reserve: submit exits 6 with a clear message"
#   Leave 20 MiB free
fill=$(( $(free_bytes) - (20 << 20) ))
[ $fill -gt 0 ] || am_fail "the tmpfs has less than 20 MiB free before filling"
head -c "$fill" /dev/zero >"$MNT/filler" || am_fail "could not write the filler file"
am_say "filled: $(( $(free_bytes) >> 20 )) MiB free"
accepted=20
s_refused () {
    local out rc=0
    out=$(am_ctl submit testing.noop filling 2>"$AM_TMP/refused.err") || rc=$?
    if [ $rc = 0 ]; then
        accepted=$(( accepted + 1 ))
        ids+=("$out")
    fi
    [ $rc = 6 ]
}
#   The broker looks at the free space at most every 100 ms
deadline=$(( $(am_ms) + 5000 ))
until s_refused; do
    [ "$(am_ms)" -lt $deadline ] || am_fail "submit was not refused within 5 s of filling the disk: $(cat "$AM_TMP/refused.err")"
    sleep 0.05
done
msg=$(cat "$AM_TMP/refused.err")
am_say "refused with exit 6: $msg"
grep -qi "disk" <<<"$msg" || am_fail "the message does not say that the disk is full: '$msg'"
[ "$(wc -l <<<"$msg")" = 1 ] || am_fail "the error is not one line: '$msg'"
grep -q "disk.low" "$AM_TMP/broker.log" || am_fail "no disk.low line in broker.log"
for i in 1 2 3; do
    rc=0; am_ctl submit testing.noop refused 2>/dev/null || rc=$?
    am_assert_eq "exit status of submit $i on a full disk" 6 "$rc"
done
rc=0; am_ctl submit --key full-key testing.noop 2>/dev/null || rc=$?
am_assert_eq "exit status of a submit with a key on a full disk" 6 "$rc"

am_check "the accepted jobs are all still there, and reads work on a full disk"
am_assert_eq "count pending" "$accepted" "$(am_ctl count pending)"
am_ctl jobs pending --limit 100000 | jq -r .id | sort >"$AM_TMP/ids.pending"
printf '%s\n' "${ids[@]}" | sort >"$AM_TMP/ids.accepted"
diff "$AM_TMP/ids.accepted" "$AM_TMP/ids.pending" >/dev/null \
    || am_fail "the pending jobs differ from the accepted ones"
am_assert_eq "job ${ids[0]} status" pending "$(am_job_field "${ids[0]}" .status)"
kill -0 "$AM_BROKER_PID" || am_fail "the broker exited on a full disk"

am_check "delete the file: submits are accepted again, same broker process"
rm -f "$MNT/filler"
broker_pid=$AM_BROKER_PID
s_accepted_again () {
    local out
    out=$(am_ctl submit testing.noop after 2>/dev/null) || return 1
    ids+=("$out")
    accepted=$(( accepted + 1 ))
}
am_wait_for "a submit to be accepted after the disk was freed" 5 s_accepted_again
grep -q "disk.ok" "$AM_TMP/broker.log" || am_fail "no disk.ok line in broker.log"
am_assert_eq "broker pid" "$broker_pid" "$AM_BROKER_PID"
kill -0 "$broker_pid" || am_fail "the broker is not running"
am_assert_eq "broker starts" 1 "$AM_BROKER_STARTS"
am_assert_eq "count pending" "$accepted" "$(am_ctl count pending)"

am_check "a node runs them all"
am_node_start node1 --module "$AM_TESTING_SO"
am_wait_for "count completed = $accepted" 20 am_count_is completed "$accepted"
am_assert_eq "count succeeded" "$accepted" "$(am_ctl count succeeded)"
am_say "PASS"
