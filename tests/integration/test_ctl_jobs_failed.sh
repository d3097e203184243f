#!/usr/bin/env bash
#   `asyncctl jobs failed` on a terminal shows a failed job as `failed`,
#   with its failure type and message (first line) in an `error` column,
#   not as `completed` with no hint of what went wrong; the JSON (not a
#   terminal, or --json) stays the job JSON.
source "$(dirname "$0")/../helpers/lib.sh"
command -v script >/dev/null || am_skip "script (util-linux) is not installed: no terminal to test"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:2
failed=$(am_ctl submit testing.fail ValueError '"bad value 7\nsecond line"')
fine=$(am_ctl submit testing.ret 5)
rc=0; am_ctl wait "$failed" --timeout 10s >/dev/null || rc=$?
am_assert_eq "the failing job failed" 1 "$rc"
am_ctl wait "$fine" --timeout 10s >/dev/null

am_check "the table of failed jobs: status failed, an error column"
table=$(script -qec "$AM_BIN/asyncctl --broker $AM_ENDPOINT jobs failed" /dev/null | tr -d '\r')
am_say "$table"
head -1 <<<"$table" | grep -qE '^id +status +task +queue +attempts +node +error$' \
    || am_fail "no error column in the header: $table"
row=$(grep "^$failed" <<<"$table") || am_fail "no row for the failed job: $table"
grep -qE "^$failed +failed +testing\.fail " <<<"$row" || am_fail "status is not failed: $row"
grep -qE ' ValueError: bad value 7$' <<<"$row" || am_fail "no type and first line of message: $row"
grep -q "second line" <<<"$table" && am_fail "the message's second line is shown: $table"

am_check "every job: the failed one says failed, the other completed"
table=$(script -qec "$AM_BIN/asyncctl --broker $AM_ENDPOINT jobs completed" /dev/null | tr -d '\r')
grep -qE "^$fine +completed +testing\.ret " <<<"$table" || am_fail "the fine job: $table"
grep -qE "^$failed +failed " <<<"$table" || am_fail "the failed job: $table"

am_check "the JSON keeps the job JSON"
json=$(am_ctl jobs failed)
am_assert_eq "JSON status" completed "$(jq -r .status <<<"$json")"
am_assert_eq "JSON failure type" ValueError "$(jq -r .failure.type <<<"$json")"
am_assert_eq "JSON has no error key" false "$(jq 'has("error")' <<<"$json")"
am_say "PASS"
