#!/usr/bin/env bash
#   A table file damaged while the broker runs (docs/storage.md section 5,
#   "The table files"): a walk of keys that reaches the damaged block ends
#   there, and the broker says so (store.error op=iterate) instead of
#   answering a short listing without a word.
#
#   A parallel job of 2000 children completes; a clean stop and a start
#   write the log into a table file, whose data blocks hold, among others,
#   the `c` keys of the completed jobs (the start's recovery does not read
#   them, its verification does not cache them). While the broker runs,
#   one byte in every 1000 of the file is flipped, so that every data block
#   is damaged; `asyncctl jobs completed` walks the `c` keys.
source "$(dirname "$0")/../helpers/lib.sh"

CHILDREN=2000

s_flip_byte () {
    local byte
    byte=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
    printf "\\x$(printf %02x $(( byte ^ 0x5a )))" \
        | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

am_check "$CHILDREN completed jobs, written into a table file"
am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:16
jq -cn --argjson n "$CHILDREN" '{parallel: [range($n) | {task: "testing.noop"}]}' \
    >"$AM_TMP/spec.json"
parent=$(am_ctl submit --spec "$AM_TMP/spec.json")
am_ctl wait "$parent" --timeout 60s >/dev/null || am_fail "the parallel job did not complete"
kill -TERM "${AM_NODE_PID[node1]}"
kill -TERM "$AM_BROKER_PID"
wait "$AM_BROKER_PID" || am_fail "the broker did not stop cleanly"
am_broker_restart
sst=$(find "$AM_DATA" -maxdepth 1 -name '*.sst' -size +0 | sort | head -n 1)
[ -n "$sst" ] || am_fail "no table file in $AM_DATA: $(ls -l "$AM_DATA")"
#   No listing before the damage: it would bring the blocks into RocksDB's
#   block cache, and the walk after the damage would not read the file
! grep -q "store.error" "$AM_TMP/broker.log" || am_fail "a store.error before the damage"

am_check "one byte in every 1000 of the table file flipped while the broker runs"
size=$(stat -c %s "$sst")
for (( offset = 100; offset < size; offset += 1000 )); do s_flip_byte "$sst" $offset; done
listed=$(am_ctl jobs completed --limit 0 | wc -l) || true
am_say "the listing after the damage holds $listed jobs"
line=$(grep "store.error op=iterate" "$AM_TMP/broker.log") \
    || am_fail "the listing reached the damaged block without a store.error line ($listed jobs listed)"
[[ $line == *' prefix="c" '*"Corruption"*"$(basename "$sst")"* ]] \
    || am_fail "the store.error line does not name the walk, the damage and the file: $line"
am_say "ok: $line"
am_say "PASS"
