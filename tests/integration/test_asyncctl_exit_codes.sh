#!/usr/bin/env bash
#   asyncctl's documented exit codes (docs/spec.md section 5): 2 usage, 4 broker
#   unreachable, 5 no such job, 1 job failed (failure JSON on stdout),
#   3 timed out waiting. Errors go to stderr, not stdout.
source "$(dirname "$0")/../helpers/lib.sh"

#   s_expect CODE WHAT ASYNCCTL-ARGS...: run asyncctl, check its exit code;
#   leaves stdout in $out, stderr in $err
s_expect () {
    local code=$1 what=$2; shift 2
    am_check "$what: asyncctl $* -> exit $code"
    local rc=0
    "$AM_BIN/asyncctl" "$@" >"$AM_TMP/out" 2>"$AM_TMP/err" || rc=$?
    out=$(cat "$AM_TMP/out"); err=$(cat "$AM_TMP/err")
    [ "$rc" = "$code" ] || am_fail "$what: asyncctl $* exited $rc, expected $code (stdout: '$out', stderr: '$err')"
    am_say "ok: exit $rc; stderr: $err"
}
s_error_on_stderr () {
    [ -n "$err" ] || am_fail "$1: nothing on stderr"
    [ -z "$out" ] || am_fail "$1: the error went to stdout: '$out'"
}

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO"
B=(--broker "$AM_ENDPOINT")

s_expect 2 "unknown command" "${B[@]}" frobnicate
s_error_on_stderr "unknown command"
s_expect 2 "submit without a task" "${B[@]}" submit
s_error_on_stderr "submit without a task"

closed=$(am_free_port)
t0=$(am_now)
s_expect 4 "broker not running" --broker "tcp://127.0.0.1:$closed" --timeout 1s status
s_error_on_stderr "broker not running"
am_cond 'd < 5' d="$(am_calc 'b - a' a="$t0" b="$(am_now)")" \
    || am_fail "asyncctl took more than 5 s to give up with --timeout 1s"
s_expect 4 "submit to a broker not running" --broker "tcp://127.0.0.1:$closed" --timeout 1s submit testing.noop
s_error_on_stderr "submit to a broker not running"

s_expect 5 "job of an unknown id" "${B[@]}" job 00000000-0000-0000-0000-000000000000
s_error_on_stderr "job of an unknown id"
s_expect 5 "wait for an unknown id" "${B[@]}" wait 00000000-0000-0000-0000-000000000000 --timeout 5s
s_error_on_stderr "wait for an unknown id"
#   An id with more after a real one's 36 characters names no job: not
#   that job (it was cut to its first 36 characters, and waited for)
known=$(am_ctl submit --queue nobody testing.noop)
s_expect 5 "wait for a known id with a character more" "${B[@]}" wait "${known}x" --timeout 5s
s_error_on_stderr "wait for a known id with a character more"

s_expect 1 "a failing job with --wait" "${B[@]}" submit --wait --wait-timeout 30s testing.fail ValueError boom
am_assert_eq "failure type on stdout" ValueError "$(jq -r .type <<<"$out")"
am_assert_eq "failure message on stdout" boom "$(jq -r .message <<<"$out")"

id=$(am_ctl submit testing.sleep 30)
am_wait_for "job $id to be active" 10 am_job_is "$id" active
t0=$(am_now)
s_expect 3 "wait --timeout 1s on a 30 s job" "${B[@]}" wait "$id" --timeout 1s
took=$(am_calc 'b - a' a="$t0" b="$(am_now)")
am_cond 't >= 0.9 && t < 5' t="$took" || am_fail "wait --timeout 1s returned after ${took}s"
am_say "ok: gave up after ${took}s"
am_assert_eq "status of the job after the client gave up" active "$(am_job_field "$id" .status)"
am_say "PASS"
