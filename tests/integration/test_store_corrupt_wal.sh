#!/usr/bin/env bash
#   A damaged write-ahead log (docs/storage.md section 5, "The write-ahead
#   log"). N jobs are submitted one at a time with no node, so each is its
#   own synced commit, one record in the WAL; the broker is killed with
#   SIGKILL, so the WAL is not flushed into table files.
#
#   1. A byte flipped in the payload of a record in the middle of the WAL:
#      the broker refuses to start (exit 6) with one store.corrupt line
#      naming the WAL file, the record's offset and --salvage, and leaves
#      the WAL as it was (also with broker/salvage = 0 in a config file).
#      With --salvage it starts, logs at warning how many write batches it
#      dropped (the damaged one and every one after it) and where it kept
#      a copy of the WAL as it was, and holds exactly the jobs submitted
#      before the damaged record. The next start, without --salvage, is
#      clean.
#   2. The last record cut short (a crash mid-write, a torn tail): the
#      broker starts as usual, without a warning, and holds every job but
#      the last one, whose record is incomplete.
source "$(dirname "$0")/../helpers/lib.sh"

N=20

#   The records of the RocksDB write-ahead log FILE, one line each:
#   "OFFSET LENGTH TYPE". The format: 32 KiB blocks; each record a 7-byte
#   header, crc32c (4 bytes), payload length (2, little-endian), type (1),
#   then the payload; fewer than 7 bytes left in a block are padding.
s_wal_records () {
    local file=$1 size off=0 room len h
    size=$(stat -c %s "$file")
    while [ $(( off + 7 )) -le "$size" ]; do
        room=$(( 32768 - off % 32768 ))
        if [ $room -lt 7 ]; then
            off=$(( off + room ))
            continue
        fi
        read -r -a h < <(od -An -tu1 -j "$off" -N 7 "$file")
        [ "${h[6]}" != 0 ] || break
        len=$(( h[4] + h[5] * 256 ))
        echo "$off $len ${h[6]}"
        off=$(( off + 7 + len ))
    done
}

#   The index (0-based) in RECORDS (s_wal_records' lines) of the record
#   of FILE where the job ID is written first (its submit), -1 if none
s_first_record () {
    local file=$1 records=$2 id=$3 at
    at=$(grep -a -b -o -F "$id" "$file" | head -n 1 | cut -d: -f1)
    [ -n "$at" ] || { echo -1; return; }
    awk -v at="$at" '$1 <= at && at < $1 + 7 + $2 { print NR - 1; exit }' "$records"
}

#   How many of the jobs in IDS (in submit order) were first written in a
#   record before index R of RECORDS
s_jobs_before () {
    local file=$1 records=$2 ids=$3 r=$4 id n=0 at
    while read -r id; do
        at=$(s_first_record "$file" "$records" "$id")
        [ "$at" -ge 0 ] && [ "$at" -lt "$r" ] && n=$(( n + 1 ))
    done <"$ids"
    echo $n
}

#   The data dir's one WAL file
s_wal_file () {
    local files
    files=$(find "$1" -maxdepth 1 -name '*.log' -size +0 | sort)
    [ "$(wc -l <<<"$files")" = 1 ] && [ -n "$files" ] \
        || am_fail "expected one non-empty WAL file in $1, found: $(ls -l "$1")"
    echo "$files"
}

#   Flip bits of the byte at OFFSET of FILE in place
s_flip_byte () {
    local byte
    byte=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
    printf "\\x$(printf %02x $(( byte ^ 0x5a )))" \
        | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

#   Submit N jobs one at a time (one commit each) into $AM_TMP/$1
s_submit_n () {
    local i
    : >"$AM_TMP/$1"
    for i in $(seq $N); do am_ctl submit testing.noop "$i" >>"$AM_TMP/$1"; done
    am_assert_eq "count pending" $N "$(am_ctl count pending)"
}

#   Assert that the pending jobs are the first COUNT ids of the file IDS
s_assert_pending_ids () {
    local ids=$1 count=$2
    am_ctl jobs pending | jq -r .id | sort >"$AM_TMP/pending.ids"
    head -n "$count" "$ids" | sort >"$AM_TMP/expected.ids"
    diff "$AM_TMP/expected.ids" "$AM_TMP/pending.ids" >"$AM_TMP/ids.diff" \
        || am_fail "the pending jobs are not the first $count submitted: $(head -n 6 "$AM_TMP/ids.diff")"
    am_say "ok: the pending jobs are the first $count submitted"
}

#   ---------------------------------------------------------------------
am_check "$N jobs, SIGKILL, a byte flipped in a record in the middle of the WAL"
am_broker_start
s_submit_n ids
am_broker_kill
wal=$(s_wal_file "$AM_DATA")
s_wal_records "$wal" >"$AM_TMP/records"
count=$(wc -l <"$AM_TMP/records")
#   The start's own commit (version, epoch), then each submit's: one
#   record, or two when the broker writes a lone submit first and syncs
#   it with the next write
[ "$count" -gt $N ] || am_fail "$count records in $(basename "$wal") for $N submits"
am_assert_eq "record types other than full (1)" "" "$(awk '$3 != 1' "$AM_TMP/records")"
#   Record m (0-based): the submit of job N/2; `kept` jobs come before it
m=$(s_first_record "$wal" "$AM_TMP/records" "$(sed -n "$(( N / 2 ))p" "$AM_TMP/ids")")
[ "$m" -gt 0 ] || am_fail "the WAL does not hold job $(( N / 2 ))"
kept=$(s_jobs_before "$wal" "$AM_TMP/records" "$AM_TMP/ids" "$m")
am_assert_eq "jobs written before job $(( N / 2 ))" $(( N / 2 - 1 )) "$kept"
read -r off len _ < <(sed -n "$(( m + 1 ))p" "$AM_TMP/records")
s_flip_byte "$wal" $(( off + 7 + len / 2 ))
am_say "flipped a byte in record $m of $count (offset $off, $len bytes)"
cp "$wal" "$AM_TMP/wal.damaged"

am_check "without --salvage: exit 6, one store.corrupt line naming the file, offset and --salvage"
rc=0
timeout 20 "$AM_BIN/asyncbroker" --data "$AM_DATA" --bind "tcp://127.0.0.1:$(am_free_port)" \
    >"$AM_TMP/refused.log" 2>&1 || rc=$?
am_assert_eq "exit status" 6 "$rc"
grep "store.corrupt" "$AM_TMP/refused.log" >"$AM_TMP/corrupt.lines" || true
am_assert_eq "store.corrupt lines" 1 "$(wc -l <"$AM_TMP/corrupt.lines")"
line=$(cat "$AM_TMP/corrupt.lines")
for want in " error store store.corrupt " "file=$wal " "offset=$off " \
            "reason=\"checksum mismatch\"" "would_drop_batches=$(( count - m )) " "--salvage"; do
    [[ $line == *"$want"* ]] || am_fail "store.corrupt line lacks '$want': $line"
done
am_say "ok: $line"
cmp -s "$wal" "$AM_TMP/wal.damaged" || am_fail "the refused start changed the WAL"

am_check "config broker/salvage = 0 refuses too (exit 6); a value other than 0 or 1 is a usage error (exit 2)"
for value in 0 yes; do
    printf 'broker\n    salvage = %s\n' "$value" >"$AM_TMP/salvage-$value.cfg"
    rc=0
    timeout 20 "$AM_BIN/asyncbroker" --config "$AM_TMP/salvage-$value.cfg" --data "$AM_DATA" \
        --bind "tcp://127.0.0.1:$(am_free_port)" >"$AM_TMP/config-$value.log" 2>&1 || rc=$?
    am_assert_eq "exit status with salvage = $value" "$([ $value = 0 ] && echo 6 || echo 2)" "$rc"
done
grep -q "store.corrupt" "$AM_TMP/config-0.log" || am_fail "no store.corrupt line with salvage = 0"
grep -q "broker/salvage takes 0 or 1, not 'yes'" "$AM_TMP/config-yes.log" \
    || am_fail "no usage error for salvage = yes: $(cat "$AM_TMP/config-yes.log")"
cmp -s "$wal" "$AM_TMP/wal.damaged" || am_fail "a refused start changed the WAL"

am_check "--salvage: starts, warns that $(( count - m )) write batches were dropped, holds jobs 1..$kept"
am_broker_start --salvage
salvaged=$(grep "store.salvaged" "$AM_TMP/broker.log") || am_fail "no store.salvaged line"
for want in " warning store store.salvaged " "file=$wal " "offset=$off " \
            "dropped_batches=$(( count - m )) "; do
    [[ $salvaged == *"$want"* ]] || am_fail "store.salvaged line lacks '$want': $salvaged"
done
am_say "ok: $salvaged"
copy=$(sed -n 's/.* copy=\([^ ]*\) .*/\1/p' <<<"$salvaged")
[ -n "$copy" ] || am_fail "no copy= in the store.salvaged line"
cmp -s "$copy/$(basename "$wal")" "$AM_TMP/wal.damaged" \
    || am_fail "the copy in $copy is not the WAL as it was: $(ls -l "$copy")"
am_say "ok: the WAL as it was is kept in $copy"
am_assert_eq "count pending" "$kept" "$(am_ctl count pending)"
s_assert_pending_ids "$AM_TMP/ids" "$kept"

am_check "the next start, without --salvage, is clean and holds the same jobs"
kill -TERM "$AM_BROKER_PID"
wait "$AM_BROKER_PID" || am_fail "the salvaged broker did not stop cleanly"
: >"$AM_TMP/broker.log"
am_broker_start
! grep -E " (warning|error) " "$AM_TMP/broker.log" \
    || am_fail "a warning or error at the start after the salvage"
am_assert_eq "count pending" "$kept" "$(am_ctl count pending)"

#   ---------------------------------------------------------------------
am_check "torn tail: $N jobs, SIGKILL, the WAL's last record cut short"
am_broker_kill
AM_DATA=$AM_TMP/torn-data
: >"$AM_TMP/broker.log"
am_broker_start
s_submit_n torn-ids
am_broker_kill
wal=$(s_wal_file "$AM_DATA")
s_wal_records "$wal" >"$AM_TMP/torn-records"
last=$(( $(wc -l <"$AM_TMP/torn-records") - 1 ))
[ "$last" -ge $N ] || am_fail "$(( last + 1 )) records in $(basename "$wal") for $N submits"
torn_kept=$(s_jobs_before "$wal" "$AM_TMP/torn-records" "$AM_TMP/torn-ids" "$last")
read -r off len _ < <(tail -n 1 "$AM_TMP/torn-records")
am_assert_eq "the last record ends the file" $(( off + 7 + len )) "$(stat -c %s "$wal")"
truncate -s $(( off + 7 + len / 2 )) "$wal"
am_say "cut the last record (offset $off, $len bytes) after $(( 7 + len / 2 )) bytes"

am_check "the broker starts as usual, without a warning, and holds the jobs before the last record"
: >"$AM_TMP/broker.log"
am_broker_restart
! grep -E " (warning|error) " "$AM_TMP/broker.log" \
    || am_fail "a warning or error at the start after a torn tail"
am_assert_eq "count pending" "$torn_kept" "$(am_ctl count pending)"
s_assert_pending_ids "$AM_TMP/torn-ids" "$torn_kept"
am_say "PASS"
