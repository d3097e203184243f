#!/usr/bin/env bash
#   Store version 1 -> 2 (docs/storage.md section 7): a broker started on a
#   version-1 store (job records as maps, written by tests/store_v1) logs
#   store.upgraded, serves the completed job with its result, runs the
#   pending one, and writes version 2, so that the next start does not
#   upgrade again. A store of an unknown version is refused (exit 6).
source "$(dirname "$0")/../helpers/lib.sh"

ids=$("$AM_BUILD/tests/store_v1" "$AM_DATA" 2>&1) || am_fail "store_v1 failed: $ids"
done_id=$(sed -n 1p <<<"$ids"); pending_id=$(sed -n 2p <<<"$ids")
am_say "version-1 store: completed $done_id, pending $pending_id"

am_check "the broker upgrades the store and serves the version-1 records"
am_broker_start
grep -q "store.upgraded from=1 to=2" "$AM_TMP/broker.log" \
    || am_fail "no store.upgraded line in the broker log"
am_assert_eq "completed job's status" completed "$(am_job_field "$done_id" .status)"
am_assert_eq "completed job's result" 42 "$(am_job_field "$done_id" '.result[0]')"
am_assert_eq "pending job's status" pending "$(am_job_field "$pending_id" .status)"

am_check "a node runs the pending version-1 job; a new job runs too"
am_node_start node1 --module "$AM_TESTING_SO"
am_ctl wait "$pending_id" --timeout 20s >/dev/null || am_fail "the old pending job did not complete"
new=$(am_ctl submit testing.noop)
am_ctl wait "$new" --timeout 20s >/dev/null || am_fail "a new job did not complete"

am_check "after a SIGKILL and a restart: no second upgrade, the records still read"
am_broker_kill
am_broker_restart
am_assert_eq "store.upgraded lines" 1 "$(grep -c 'store.upgraded' "$AM_TMP/broker.log")"
am_assert_eq "old completed job's result" 42 "$(am_job_field "$done_id" '.result[0]')"
am_assert_eq "old pending job now" completed "$(am_job_field "$pending_id" .status)"
am_assert_eq "new job now" completed "$(am_job_field "$new" .status)"

am_check "a store of an unknown version (9) is refused: exit 6, store.version"
other=$AM_TMP/other-data
"$AM_BUILD/tests/store_v1" "$other" 9 >/dev/null || am_fail "store_v1 failed"
rc=0
timeout 20 "$AM_BIN/asyncbroker" --data "$other" --bind "tcp://127.0.0.1:$(am_free_port)" \
    >"$AM_TMP/other.log" 2>&1 || rc=$?
am_assert_eq "exit status" 6 "$rc"
grep -q "store.version" "$AM_TMP/other.log" || am_fail "no store.version line: $(cat "$AM_TMP/other.log")"
