#!/usr/bin/env bash
#   `asyncctl last [--failed] [--limit N]` prints the last completed jobs,
#   the most recent first (10 unless told), and with --failed only those
#   completed with a failure; a bad --limit is a usage error (exit 2).
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
#   One at a time, so they complete in this order
ids=()
for i in $(seq 1 12); do
    if [ $((i % 4)) = 0 ]; then
        id=$(am_ctl submit testing.fail ValueError "failure $i")
        am_ctl wait "$id" --timeout 10s >/dev/null || true
    else
        id=$(am_ctl submit testing.ret "$i")
        am_ctl wait "$id" --timeout 10s >/dev/null
    fi
    ids+=("$id")
done
#   A job still pending is not listed
am_ctl submit --begin-after +1h testing.ret late >/dev/null

am_check "last: the 10 last completed, the most recent first"
expected=$(printf '%s\n' "${ids[@]}" | tac | head -10)
am_assert_eq "last" "$expected" "$(am_ctl last | jq -r .id)"
am_check "last --limit 3"
am_assert_eq "last --limit 3" "$(head -3 <<<"$expected")" "$(am_ctl last --limit 3 | jq -r .id)"
am_check "last --failed: the failed ones, the most recent first"
am_assert_eq "last --failed" "$(printf '%s\n' "${ids[11]}" "${ids[7]}" "${ids[3]}")" \
    "$(am_ctl last --failed | jq -r .id)"
am_assert_eq "last --failed --limit 1" "${ids[11]}" "$(am_ctl last --failed --limit 1 | jq -r .id)"
am_assert_eq "last --limit 0: all 12" 12 "$(am_ctl last --limit 0 | wc -l)"

am_check "a bad --limit is a usage error"
rc=0; am_ctl last --limit -1 >/dev/null 2>&1 || rc=$?
am_assert_eq "last --limit -1: exit code" 2 "$rc"
rc=0; am_ctl last extra >/dev/null 2>&1 || rc=$?
am_assert_eq "last extra: exit code" 2 "$rc"

if command -v script >/dev/null; then
    am_check "on a terminal: a table with when each completed, and the error"
    table=$(script -qec "$AM_BIN/asyncctl --broker $AM_ENDPOINT last --limit 2" /dev/null \
            | tr -d '\r')
    head -1 <<<"$table" | grep -qE '^id +status +task +queue +completed_at +node +error$' \
        || am_fail "header: $table"
    grep -qE "^${ids[11]} +failed .* ValueError: failure 12$" <<<"$table" \
        || am_fail "the failed job's row: $table"
fi
am_say "PASS"
