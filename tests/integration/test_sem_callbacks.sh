#!/usr/bin/env bash
#   Callbacks (docs/spec.md section 2): a callback runs after its job with the
#   job's result (or failure object) as its last argument, and the job completes
#   only after its callbacks; --on-success / --on-failure callbacks run only
#   on that outcome (the other completes with CancelledError "not run");
#   add-callback on a completed job runs the callback at once; a failing
#   callback leaves its job's result alone; callbacks run in the order added.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO"

#   ---- a callback gets the result; the job completes after it
am_check "--callback testing.scribble on 'testing.ret hello': the callback returns 'hello: SCRIBBLED'"
id=$(am_ctl submit --callback testing.scribble testing.ret hello)
am_wait_exits "$id" 0
am_assert_eq "result of the job" '"hello"' "$AM_OUT"
job=$(am_ctl job "$id")
am_assert_eq "status of the job after wait" completed "$(jq -r .status <<<"$job")"
am_assert_eq "number of callbacks" 1 "$(jq '.callbacks | length' <<<"$job")"
cb=$(jq -r '.callbacks[0]' <<<"$job")
am_wait_exits "$cb" 0
am_assert_eq "result of the callback" '"hello: SCRIBBLED"' "$AM_OUT"
cbjob=$(am_ctl job "$cb")
am_assert_eq "args the callback ran with" '["hello"]' "$(jq -c .args <<<"$cbjob")"

am_check "the job's completed_at is not before its callback's completed_at"
#   Both are UTC stamps in one format from the broker's clock: compared as
#   strings, to the microsecond
pc=$(jq -r .completed_at <<<"$job"); cc=$(jq -r .completed_at <<<"$cbjob")
am_say "job completed at $pc, callback at $cc"
[[ $pc =~ Z$ && $cc =~ Z$ && ${#pc} = "${#cc}" ]] || am_fail "time stamps not comparable: '$pc' '$cc'"
[[ $pc < $cc ]] && am_fail "the job completed at $pc, before its callback ($cc)"
am_say "ok"

#   ---- on-success / on-failure
am_check "--on-success scribble --on-failure handle on 'testing.fail ValueError boom': only the failure callback runs"
id=$(am_ctl submit --on-success testing.scribble --on-failure testing.handle \
                   testing.fail ValueError boom)
am_wait_exits "$id" 1
am_assert_eq "failure type of the job" ValueError "$(jq -r .type <<<"$AM_OUT")"
job=$(am_ctl job "$id")
am_assert_eq "number of callbacks" 2 "$(jq '.callbacks | length' <<<"$job")"
ok_cb=; fail_cb=
for cb in $(jq -r '.callbacks[]' <<<"$job"); do
    case $(am_job_field "$cb" .task) in
        testing.scribble) ok_cb=$cb;;
        testing.handle) fail_cb=$cb;;
    esac
done
[ -n "$ok_cb" ] && [ -n "$fail_cb" ] || am_fail "the callbacks are not scribble and handle: $job"
am_wait_exits "$fail_cb" 0
am_assert_eq "result of the on-failure callback" '"handled ValueError"' "$AM_OUT"
am_wait_exits "$ok_cb" 1
am_assert_eq "failure type of the on-success callback" CancelledError "$(jq -r .type <<<"$AM_OUT")"
msg=$(jq -r .message <<<"$AM_OUT")
[[ $msg == *"not run"* ]] || am_fail "the on-success callback's message '$msg' does not say 'not run'"
am_say "ok: message '$msg'"
am_assert_eq "attempts of the on-success callback" 0 "$(am_job_field "$ok_cb" .attempts)"

#   ---- a failing callback
am_check "--callback 'testing.fail XError y' on 'testing.ret false': the job keeps its result"
id=$(am_ctl submit --callback 'testing.fail XError y' testing.ret false)
am_wait_exits "$id" 0
am_assert_eq "result of the job" false "$AM_OUT"
cb=$(am_job_field "$id" '.callbacks[0]')
am_wait_exits "$cb" 1
am_assert_eq "failure type of the callback" XError "$(jq -r .type <<<"$AM_OUT")"
job=$(am_ctl job "$id")
am_assert_eq "status of the job" completed "$(jq -r .status <<<"$job")"
am_assert_eq "result of the job after its callback failed" false "$(jq -c .result <<<"$job")"
am_assert_eq "failure of the job after its callback failed" null "$(jq -c .failure <<<"$job")"
rc=0; am_ctl wait "$id" --timeout 5s >/dev/null || rc=$?
am_assert_eq "exit status of wait on the job" 0 "$rc"

#   ---- order
am_check "five --callback 'testing.record order a..e': they run in the order added"
id=$(am_ctl submit --callback 'testing.record order a' --callback 'testing.record order b' \
                   --callback 'testing.record order c' --callback 'testing.record order d' \
                   --callback 'testing.record order e' testing.ret 1)
am_wait_exits "$id" 0
for cb in $(am_job_field "$id" '.callbacks[]'); do am_wait_exits "$cb" 0; done
am_assert_eq "the order the callbacks ran in" "a b c d e" \
    "$(awk '{print $1}' "$AM_TMP/node1/order" | xargs)"

#   ---- add-callback on a completed job (last: the command may be missing)
am_check "add-callback on a completed job runs the callback at once"
id=$(am_ctl submit testing.ret hi)
am_wait_exits "$id" 0
rc=0; cb=$(am_ctl add-callback "$id" testing.scribble 2>"$AM_TMP/err") || rc=$?
[ "$rc" = 0 ] || am_fail "add-callback exited $rc: $(cat "$AM_TMP/err")"
am_say "callback $cb"
am_assert_eq "the job lists the callback" "$cb" "$(am_job_field "$id" '.callbacks[-1]')"
out=$(am_ctl wait "$cb" --timeout 10s) \
    || am_fail "the callback added to a completed job did not complete within 10 s"
am_assert_eq "result of the callback" '"hi: SCRIBBLED"' "$out"
am_assert_eq "the job's result" '"hi"' "$(am_ctl job "$id" | jq -c .result)"
am_say "PASS"
