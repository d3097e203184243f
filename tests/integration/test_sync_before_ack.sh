#!/usr/bin/env bash
#   With --sync on (the default) every ACCEPTED leaves the broker after an
#   fsync or fdatasync that covers the write-ahead log record of each job
#   it names, and with --sync off it does not. A SIGKILL leaves the page
#   cache intact, so the crash tests pass without any sync; this test
#   watches the syscalls instead: tests/integration/faultshim.c, preloaded
#   in the broker, notes the job ids written to RocksDB's *.log files, the
#   size each sync of them covered, and judges each ACCEPTED the broker
#   sends (ASYNC_TEST_SYNC_TRACE).
source "$(dirname "$0")/../helpers/lib.sh"

JOBS=2000                       #   one per SUBMIT
JUDGED=$(( JOBS + 1000 ))       #   and 10 SUBMITs of 100 specs

#   Submit $JOBS jobs (pipelined in batches of 50) to a broker started with
#   the trace in $1 and flags $2...; stop it; set TOTALS to the trace's
s_run () {
    local trace=$1; shift
    am_with_shim ASYNC_TEST_SYNC_TRACE="$trace" -- am_broker_start "$@"
    "$AM_BUILD/tests/submitter" "$AM_ENDPOINT" 1 $JOBS "$AM_TMP/record" \
        "$AM_TMP/accepted.$(basename "$trace")" 2>>"$AM_TMP/submitter.log" \
        || am_fail "the submitter did not get its $JOBS jobs accepted"
    #   and 10 SUBMITs of 100 specs each: ACCEPTED with `accepted`
    local batch
    batch=$(jq -cn '{specs: [range (100) | {task: "testing.noop", queue: "nobody"}]}')
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        "$AM_BUILD/tests/rawreq" "$AM_ENDPOINT" SUBMIT "$batch" >>"$AM_TMP/rawreq.log" \
            || am_fail "a SUBMIT of 100 specs got no answer"
    done
    kill -TERM "$AM_BROKER_PID"
    am_wait_for "the broker to stop on SIGTERM" 15 am_pid_gone "$AM_BROKER_PID"
    wait "$AM_BROKER_PID" 2>/dev/null || true
    TOTALS=$(awk '/^accepted ids=/ { split ($2, a, "="); split ($3, b, "="); split ($4, c, "=");
                            ids += a[2]; synced += b[2]; unsynced += c[2]; messages++ }
         /^accepted unreadable/ { unreadable++ }
         END { printf "messages %d ids %d synced %d unsynced %d unreadable %d\n",
                      messages, ids, synced, unsynced, unreadable }' "$trace")
}

am_check "--sync on: every accepted job's log record was synced before its ACCEPTED"
s_run "$AM_TMP/trace_on"
on=$TOTALS
am_say "sync on: $on"
read -r _ messages _ ids _ synced _ unsynced _ unreadable <<<"$on"
#   Nearly every job is judged (an ACCEPTED split over two sends is not)
[ "$ids" -ge $(( JUDGED * 9 / 10 )) ] || am_fail "only $ids of $JUDGED accepted ids were judged: $on"
am_assert_eq "ACCEPTED ids sent before a sync covered them" 0 "$unsynced"
am_assert_eq "judged ids that were synced" "$ids" "$synced"

am_check "--sync off: the same check finds ACCEPTED sent before any sync (the test can fail)"
rm -rf "$AM_DATA"
s_run "$AM_TMP/trace_off" --sync off
off=$TOTALS
am_say "sync off: $off"
read -r _ messages _ ids _ synced _ unsynced _ unreadable <<<"$off"
[ "$ids" -ge $(( JUDGED * 9 / 10 )) ] || am_fail "only $ids of $JUDGED accepted ids were judged: $off"
[ "$unsynced" -ge $(( ids / 2 )) ] \
    || am_fail "with --sync off only $unsynced of $ids ACCEPTED ids were unsynced: $off"

am_say "PASS"
