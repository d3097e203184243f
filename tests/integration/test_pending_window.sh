#!/usr/bin/env bash
#   The pending window (docs/storage.md section 5a; bench W5): a queue holds at
#   most --pending-window of its pending jobs in memory; the rest wait in
#   RocksDB and are read back as the queue drains. With a window of 16 and 700
#   pending jobs, nothing is lost or run twice, the counts and the listing cover
#   the stored jobs, a broker SIGKILL keeps them, a cancel reaches a stored job,
#   and a window full of jobs that no node takes does not hide the jobs behind
#   it.
source "$(dirname "$0")/../helpers/lib.sh"

SUBMITTER=$AM_BUILD/tests/submitter
RECORD=$AM_TMP/record.txt
N=600

am_broker_start --pending-window 16

am_check "100 jobs no node takes, then $N testing.record jobs, all pending"
for i in $(seq 1 100); do
    echo "{\"task\": \"nobody.takes\", \"args\": [$i]}"
done | while read -r spec; do am_ctl submit --spec - <<<"$spec" >/dev/null || exit 1; done \
    || am_fail "submitting the nobody.takes jobs failed"
"$SUBMITTER" "$AM_ENDPOINT" 1 "$N" "$RECORD" "$AM_TMP/accepted.txt" 2>"$AM_TMP/submitter.log" \
    || am_fail "the submitter failed: $(tail -1 "$AM_TMP/submitter.log")"
am_assert_eq "accepted" "$N" "$(wc -l <"$AM_TMP/accepted.txt")"
am_assert_eq "count pending" $(( N + 100 )) "$(am_ctl count pending)"
am_assert_eq "status: default queue pending" $(( N + 100 )) \
    "$(am_ctl status --json | jq -r '.queues.default.pending')"

am_check "the listing shows every pending job once, in submission order"
am_ctl jobs pending --limit 0 >"$AM_TMP/listed.json"
am_assert_eq "listed" $(( N + 100 )) "$(wc -l <"$AM_TMP/listed.json")"
jq -r 'select(.task == "testing.record") | .id' "$AM_TMP/listed.json" >"$AM_TMP/listed.ids"
awk '{print $2}' "$AM_TMP/accepted.txt" >"$AM_TMP/accepted.ids"
cmp -s "$AM_TMP/listed.ids" "$AM_TMP/accepted.ids" \
    || am_fail "the listed record jobs differ from the accepted ones, or are out of order"
am_assert_eq "jobs pending --limit 5" 5 "$(am_ctl jobs pending --limit 5 | wc -l)"

am_check "a SIGKILLed broker comes back with every pending job"
am_broker_kill
am_broker_restart
am_assert_eq "count pending after restart" $(( N + 100 )) "$(am_ctl count pending)"
am_assert_eq "status after restart" $(( N + 100 )) \
    "$(am_ctl status --json | jq -r '.queues.default.pending')"

am_check "cancelling a job that waits in the store"
victim=$(sed -n 500p "$AM_TMP/accepted.txt" | awk '{print $2}')
am_ctl cancel "$victim" >/dev/null || am_fail "cancel $victim failed"
am_assert_eq "victim status" completed "$(am_job_field "$victim" .status)"
am_assert_eq "victim error" CancelledError "$(am_job_field "$victim" .failure.type)"
am_assert_eq "count pending after the cancel" $(( N + 99 )) "$(am_ctl count pending)"

am_check "a node that only has testing.so drains the record jobs past the 16 it cannot take"
am_node_start worker --agent main:8 --module "$AM_TESTING_SO"
am_wait_for "the record jobs to complete" 60 am_count_is pending 100
am_wait_for "the last record job to finish" 10 am_count_is active 0
am_assert_eq "count assigned" 0 "$(am_ctl count assigned)"
am_assert_eq "lines recorded" $(( N - 1 )) "$(wc -l <"$RECORD")"
am_assert_eq "distinct tags recorded" $(( N - 1 )) "$(awk '{print $1}' "$RECORD" | sort -u | wc -l)"
awk '$1 == 500 { found = 1 } END { exit !found }' "$RECORD" && am_fail "the cancelled job (tag 500) ran"
am_assert_eq "succeeded" $(( N - 1 )) "$(am_ctl count succeeded)"
am_assert_eq "pending nobody.takes" 100 \
    "$(am_ctl jobs pending --limit 0 | jq -r .task | grep -cx nobody.takes)"

am_check "after another restart the 100 are still pending, and counted"
am_broker_kill
am_broker_restart
am_assert_eq "count pending" 100 "$(am_ctl count pending)"
am_assert_eq "status pending" 100 "$(am_ctl status --json | jq -r '.queues.default.pending')"
am_say "PASS"
