#!/usr/bin/env bash
#   Time options (docs/spec.md section 2): begin_after (relative: the job stays
#   pending until then; absolute in the past: runs at once) and timeout (a
#   job active too long is interrupted with TimeoutError). begin_by has its
#   own test, test_sem_begin_by.sh.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start

am_node_start node1 --module "$AM_TESTING_SO"

#   ---- begin_after, relative
am_check "--begin-after +2s: pending for >= 1.5 s, then completes"
t0=$(am_ms)
id=$(am_ctl submit --begin-after +2s testing.noop)
polls=0
while [ $(( $(am_ms) - t0 )) -lt 1500 ]; do
    st=$(am_job_field "$id" .status)
    [ "$st" = pending ] || am_fail "job is '$st' $(( $(am_ms) - t0 )) ms after submit, not pending"
    polls=$(( polls + 1 ))
    sleep 0.05
done
am_say "ok: pending in all $polls polls over 1.5 s"
am_wait_exits "$id" 0 10s
job=$(am_ctl job "$id")
am_assert_eq "status" completed "$(jq -r .status <<<"$job")"
sub=$(am_iso_to_s "$(jq -r .submitted <<<"$job")")
ba=$(am_iso_to_s "$(jq -r .begin_after <<<"$job")")
as=$(am_iso_to_s "$(jq -r .active_start <<<"$job")")
am_say "begin_after - submitted = $(am_calc 'b - s' b="$ba" s="$sub") s, active_start - submitted = $(am_calc 'a - s' a="$as" s="$sub") s"
am_cond 'b - s >= 1.9 && b - s <= 2.5' b="$ba" s="$sub" \
    || am_fail "begin_after is not 2 s after submitted: $job"
am_cond 'a >= b' a="$as" b="$ba" || am_fail "started before begin_after: $job"
am_say "ok"

#   ---- begin_after, absolute, in the past
past=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
am_check "--begin-after $past (in the past): runs at once"
t0=$(am_ms)
id=$(am_ctl submit --begin-after "$past" testing.ret 7)
am_wait_exits "$id" 0 5s
am_assert_eq "result" 7 "$AM_OUT"
am_say "completed $(( $(am_ms) - t0 )) ms after submit"

#   ---- timeout
am_check "--timeout 1s --retry never testing.sleep 10: TimeoutError within 3 s"
t0=$(am_ms)
id=$(am_ctl submit --timeout 1s --retry never testing.sleep 10)
am_wait_exits "$id" 1 10s
elapsed=$(( $(am_ms) - t0 ))
am_say "wait returned after $elapsed ms: $AM_OUT"
am_assert_eq "failure type" TimeoutError "$(jq -r .type <<<"$AM_OUT")"
[ $elapsed -le 3000 ] || am_fail "TimeoutError after $elapsed ms, expected within 3 s"
[ $elapsed -ge 900 ] || am_fail "TimeoutError after $elapsed ms, before the 1 s timeout"
am_assert_eq "attempts" 1 "$(am_job_field "$id" .attempts)"

#   A passed timeout is an interruption (docs/spec.md section 4): re-queued at
#   the head under the policy's interruptions, then TimeoutError
am_check "--timeout 0.3s --retry interruptions=2 testing.sleep 10: 2 interruptions, then TimeoutError"
t0=$(am_ms)
id=$(am_ctl submit --timeout 0.3s --retry interruptions=2 testing.sleep 10)
am_wait_exits "$id" 1 15s
elapsed=$(( $(am_ms) - t0 ))
am_assert_eq "failure type" TimeoutError "$(jq -r .type <<<"$AM_OUT")"
am_assert_eq "interruptions" 2 "$(am_job_field "$id" .interruptions)"
am_assert_eq "attempts" 2 "$(am_job_field "$id" .attempts)"
[ $elapsed -ge 550 ] || am_fail "TimeoutError after $elapsed ms: not two 0.3 s runs"
am_say "PASS"
