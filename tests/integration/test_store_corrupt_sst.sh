#!/usr/bin/env bash
#   A damaged table file (docs/storage.md section 5, "The table files").
#   N jobs are submitted with no node, the broker is stopped cleanly and
#   started once more, so that RocksDB writes its log into a table file
#   (*.sst); then the broker is stopped cleanly again and a copy of the
#   data directory is kept as a backup.
#
#   1. A byte flipped in the first data block of the table file: the broker
#      refuses to start (exit 6) with one store.corrupt line naming the
#      table file, and leaves the file as it was. Before the check it
#      started, logged errors only when a read landed in the damaged block,
#      and served with most of the jobs missing.
#   2. --salvage does not repair a table file: exit 6 too, the same line
#      saying so.
#   3. The last byte of the table file flipped (its footer: RocksDB's open
#      itself fails): exit 6, one store.corrupt line naming the table file.
#   4. A byte of the MANIFEST flipped: exit 6, the line names the MANIFEST.
#   5. The backup put back: the broker starts and holds every job.
source "$(dirname "$0")/../helpers/lib.sh"

N=40

#   Flip bits of the byte at OFFSET of FILE in place
s_flip_byte () {
    local byte
    byte=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
    printf "\\x$(printf %02x $(( byte ^ 0x5a )))" \
        | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

#   Stop the broker with SIGTERM and wait for a clean exit
s_broker_stop () {
    kill -TERM "$AM_BROKER_PID"
    wait "$AM_BROKER_PID" || am_fail "the broker did not stop cleanly"
}

#   Start the broker on the data dir as it is, expecting it to refuse:
#   exit 6 and one store.corrupt line naming FILE, kept in $AM_TMP/LOG.
#   Further arguments are broker flags.
s_assert_refused () {
    local log=$1 file=$2 rc=0 line
    shift 2
    timeout 30 "$AM_BIN/asyncbroker" --data "$AM_DATA" \
        --bind "tcp://127.0.0.1:$(am_free_port)" "$@" >"$AM_TMP/$log" 2>&1 || rc=$?
    if [ "$rc" != 6 ]; then
        cat "$AM_TMP/$log" >&2
        am_fail "exit status $rc, expected 6 (a damaged table file is refused)"
    fi
    grep -F " store store.corrupt " "$AM_TMP/$log" >"$AM_TMP/$log.corrupt" || true
    am_assert_eq "store.corrupt lines" 1 "$(wc -l <"$AM_TMP/$log.corrupt")"
    line=$(cat "$AM_TMP/$log.corrupt")
    for want in " error store store.corrupt " "file=$file " "Corruption"; do
        [[ $line == *"$want"* ]] || am_fail "store.corrupt line lacks '$want': $line"
    done
    am_say "ok: exit 6, $line"
}

#   ---------------------------------------------------------------------
am_check "$N jobs, a clean stop, a start that writes the log into a table file"
am_broker_start
for i in $(seq $N); do am_ctl submit testing.noop "$i" >>"$AM_TMP/ids"; done
am_assert_eq "count pending" $N "$(am_ctl count pending)"
s_broker_stop
am_broker_restart
am_assert_eq "count pending after the restart" $N "$(am_ctl count pending)"
s_broker_stop
files=$(find "$AM_DATA" -maxdepth 1 -name '*.sst' -size +0 | sort)
[ -n "$files" ] && [ "$(wc -l <<<"$files")" = 1 ] \
    || am_fail "expected one table file in $AM_DATA, found: $(ls -l "$AM_DATA")"
sst=$files
am_say "table file $sst, $(stat -c %s "$sst") bytes"
cp -a "$AM_DATA" "$AM_TMP/backup"

am_check "a byte flipped in the first data block: exit 6, one store.corrupt line naming $sst"
s_flip_byte "$sst" 64
cp "$sst" "$AM_TMP/sst.damaged"
s_assert_refused refused.log "$sst"
grep -q "does not repair table files" "$AM_TMP/refused.log.corrupt" \
    || am_fail "the store.corrupt line does not say that --salvage does not help"
cmp -s "$sst" "$AM_TMP/sst.damaged" || am_fail "the refused start changed the table file"

am_check "--salvage does not repair a table file: exit 6"
s_assert_refused salvage.log "$sst" --salvage
cmp -s "$sst" "$AM_TMP/sst.damaged" || am_fail "the start with --salvage changed the table file"

am_check "the table file's last byte flipped (its footer): exit 6, store.corrupt naming it"
rm -rf "$AM_DATA"
cp -a "$AM_TMP/backup" "$AM_DATA"
s_flip_byte "$sst" $(( $(stat -c %s "$sst") - 1 ))
s_assert_refused footer.log "$sst"

am_check "a byte of the MANIFEST flipped: exit 6, store.corrupt naming it"
rm -rf "$AM_DATA"
cp -a "$AM_TMP/backup" "$AM_DATA"
manifest=$AM_DATA/$(cat "$AM_DATA/CURRENT")
[ -f "$manifest" ] || am_fail "CURRENT names no file: $manifest"
s_flip_byte "$manifest" 40
s_assert_refused manifest.log "$manifest"

am_check "the backup put back: the broker starts and holds all $N jobs"
rm -rf "$AM_DATA"
cp -a "$AM_TMP/backup" "$AM_DATA"
: >"$AM_TMP/broker.log"
am_broker_restart
! grep -E " (warning|error) " "$AM_TMP/broker.log" \
    || am_fail "a warning or error at the start from the backup"
#   Each job's record and its queue key at least, and the meta keys
verified=$(grep -o " info store store.verified keys=[0-9]*" "$AM_TMP/broker.log" | cut -d= -f2)
[ -n "$verified" ] || am_fail "no store.verified line at the start"
am_cond 'k > 2 * n' k="$verified" n=$N || am_fail "store.verified read $verified keys, not all"
am_assert_eq "count pending" $N "$(am_ctl count pending)"
am_ctl jobs pending | jq -r .id | sort >"$AM_TMP/pending.ids"
sort "$AM_TMP/ids" | diff - "$AM_TMP/pending.ids" >/dev/null \
    || am_fail "the pending jobs are not the ones submitted"
am_say "PASS"
