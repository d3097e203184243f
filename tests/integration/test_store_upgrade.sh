#!/usr/bin/env bash
#   Store versions 1 -> 3 and 2 -> 3 (docs/storage.md section 7): a broker
#   started on a version-1 store (job records as maps, written by
#   tests/store_v1) logs store.upgraded, serves the completed job with its
#   result, lists the failed one from the failed index it built, runs the
#   pending one, and writes version 3, so that the next start does not
#   upgrade again. A version-2 store gets its failed index too. A store of
#   an unknown version is refused (exit 6).
source "$(dirname "$0")/../helpers/lib.sh"

ids=$("$AM_BUILD/tests/store_v1" "$AM_DATA" 2>&1) || am_fail "store_v1 failed: $ids"
done_id=$(sed -n 1p <<<"$ids"); pending_id=$(sed -n 2p <<<"$ids")
failed_id=$(sed -n 3p <<<"$ids")
am_say "version-1 store: completed $done_id, pending $pending_id, failed $failed_id"

am_check "the broker upgrades the store and serves the version-1 records"
am_broker_start
grep -q "store.upgraded from=1 to=3 failed=1" "$AM_TMP/broker.log" \
    || am_fail "no store.upgraded line in the broker log"
am_assert_eq "completed job's status" completed "$(am_job_field "$done_id" .status)"
am_assert_eq "completed job's result" 42 "$(am_job_field "$done_id" '.result[0]')"
am_assert_eq "pending job's status" pending "$(am_job_field "$pending_id" .status)"
am_assert_eq "failed jobs, from the failed index" "$failed_id" \
    "$(am_ctl jobs failed | jq -r .id | xargs)"
am_assert_eq "count failed" 1 "$(am_ctl count failed)"

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
am_assert_eq "failed jobs after the restart" "$failed_id" "$(am_ctl jobs failed | jq -r .id | xargs)"

am_check "a version-2 store: the failed index is built, version 3 written"
am_broker_kill
v2=$AM_TMP/v2-data
ids=$("$AM_BUILD/tests/store_v1" "$v2" 2 2>&1) || am_fail "store_v1 failed: $ids"
AM_DATA=$v2
am_broker_restart
grep -q "store.upgraded from=2 to=3 failed=1" "$AM_TMP/broker.log" \
    || am_fail "no store.upgraded from=2 line in the broker log"
am_assert_eq "failed jobs of the version-2 store" "$(sed -n 3p <<<"$ids")" \
    "$(am_ctl jobs failed | jq -r .id | xargs)"
am_broker_kill
am_broker_restart
am_assert_eq "store.upgraded lines after a restart" 2 "$(grep -c 'store.upgraded' "$AM_TMP/broker.log")"

am_check "a store of an unknown version (9) is refused: exit 6, store.version"
other=$AM_TMP/other-data
"$AM_BUILD/tests/store_v1" "$other" 9 >/dev/null || am_fail "store_v1 failed"
rc=0
timeout 20 "$AM_BIN/asyncbroker" --data "$other" --bind "tcp://127.0.0.1:$(am_free_port)" \
    >"$AM_TMP/other.log" 2>&1 || rc=$?
am_assert_eq "exit status" 6 "$rc"
grep -q "store.version" "$AM_TMP/other.log" || am_fail "no store.version line: $(cat "$AM_TMP/other.log")"
