#!/usr/bin/env bash
#   A linear retry backoff (docs/spec.md section 4), like zc.async's
#   RetryCommonForever: `backoff=1s+1s..3s` waits 1 s after the first
#   failed attempt, 2 s after the second, 3 s after the third and 3 s (the
#   cap) from then on. A job failing transiently 3 times (testing.flaky)
#   runs 4 attempts: the broker's job.retry lines say it waits 1000, 2000
#   and 3000 ms, and the attempts are spaced at least that (measured from
#   the end of one attempt, its job.retry line, to the start of the next;
#   the upper bounds are generous, for a loaded machine). Bad linear
#   policies are refused at submit with exit 6.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
blog=$AM_TMP/broker.log

am_check "testing.flaky failing 3 times with --retry attempts=4,backoff=1s+1s..3s: 42"
id=$(am_ctl submit --retry 'attempts=4,backoff=1s+1s..3s' testing.flaky flaky.count 3)
am_assert_eq "result" 42 "$(am_ctl wait "$id" --timeout 30s)"
job=$(am_ctl job "$id")
am_assert_eq "attempts" 4 "$(jq -r .attempts <<<"$job")"

#   The end of attempt N (N < 4): the time of its job.retry line; the
#   start of the last attempt: the job's active_start
s_retry_at () {
    local line
    line=$(grep " job\.retry job=$id .* attempt=$1 " "$blog") \
        || am_fail "no job.retry line for attempt $1 of $id"
    am_iso_to_s "${line%% *}"
}
end1=$(s_retry_at 1); end2=$(s_retry_at 2); end3=$(s_retry_at 3)
start4=$(am_iso_to_s "$(jq -r .active_start <<<"$job")")
#   Attempts 2 and 3 started between the retries: their start is at least
#   the backoff after the previous end; their run is a few ms
gap1=$(am_calc 'b - a' a="$end1" b="$end2")
gap2=$(am_calc 'b - a' a="$end2" b="$end3")
gap3=$(am_calc 'b - a' a="$end3" b="$start4")
am_say "from the end of an attempt to the next: ${gap1}s (to its end), ${gap2}s (to its end), ${gap3}s (to its start)"
s_backoff_ms () { grep " job\.retry job=$id .* attempt=$1 " "$blog" | grep -o 'backoff_ms=[0-9]*'; }
am_assert_eq "the wait after attempt 1" backoff_ms=1000 "$(s_backoff_ms 1)"
am_assert_eq "the wait after attempt 2" backoff_ms=2000 "$(s_backoff_ms 2)"
am_assert_eq "the wait after attempt 3" backoff_ms=3000 "$(s_backoff_ms 3)"
#   The backoff runs from when the broker took the failed RESULT, a little
#   before it wrote the job.retry line; the last attempt's start is the
#   node's own measure: 20 ms of slack between the two stamps
am_cond 'g >= 0.98 && g < 8' g="$gap1" || am_fail "attempt 2 came ${gap1}s after attempt 1, not 1 s"
am_cond 'g >= 1.98 && g < 9' g="$gap2" || am_fail "attempt 3 came ${gap2}s after attempt 2, not 2 s"
am_cond 'g >= 2.98 && g < 10' g="$gap3" || am_fail "attempt 4 came ${gap3}s after attempt 3, not 3 s"

am_check "bad linear backoffs are refused at submit (exit 6) with the policy's grammar"
for policy in 'backoff=1s+1s' 'backoff=1s+0s..3s' 'backoff=1s+1s..3s,factor=2' \
              'backoff=5s+1s..3s' 'backoff=1s+2000000000000s..3s'; do
    rc=0
    out=$(am_ctl submit --retry "$policy" testing.noop 2>&1) || rc=$?
    am_assert_eq "exit status for --retry '$policy'" 6 "$rc"
    [[ $out == *"backoff=5s+5s..60s"* ]] || am_fail "the error does not show the linear form: $out"
done
am_say "PASS"
