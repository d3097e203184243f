#!/usr/bin/env bash
#   Specs that look accepted but would not do what they say are refused
#   with exit 6 and a one-line reason, and create nothing: an idempotency
#   key on a child, a postprocess or a callback (keys name what one SUBMIT
#   made: a child's was stored and never looked at); a postprocess on a
#   plain task (never run); a retry policy naming an option twice; a
#   begin_after whose UTC offset is out of range ("+99:99").
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start

#   s_refused WHAT EXPECTED_TEXT SPEC_JSON
s_refused () {
    local rc=0 err
    err=$(am_ctl submit --spec - <<<"$3" 2>&1 >/dev/null) || rc=$?
    am_assert_eq "exit code for $1" 6 "$rc"
    grep -q -- "$2" <<<"$err" || am_fail "$1: the message '$err' does not say '$2'"
    am_assert_eq "lines of the message for $1" 1 "$(wc -l <<<"$err")"
}

s_refused "a key on a parallel child" "key is for the job submitted" \
    '{"parallel": [{"task": "testing.ret", "args": [1], "key": "child-1"}]}'
s_refused "a key on a postprocess" "key is for the job submitted" \
    '{"parallel": [{"task": "testing.ret"}], "postprocess": {"task": "testing.ret", "key": "p"}}'
s_refused "a key on a callback" "key is for the job submitted" \
    '{"task": "testing.ret", "callbacks": [{"task": "testing.noop", "key": "cb"}]}'
s_refused "a postprocess on a task" "postprocess is for parallel and serial jobs" \
    '{"task": "testing.ret", "postprocess": {"task": "testing.ret"}}'
s_refused "retry attempts given twice" "each at most once" \
    '{"task": "testing.ret", "retry": "attempts=3,attempts=4"}'
s_refused "begin_after with offset +99:99" "begin_after must be" \
    '{"task": "testing.ret", "begin_after": "2030-01-01T00:00:00+99:99"}'
s_refused "begin_after with hour -1" "begin_after must be" \
    '{"task": "testing.ret", "begin_after": "2030-01-01T-1:00:00Z"}'

am_check "add-callback with a key is refused too"
id=$(am_ctl submit testing.ret 1)
rc=0; err=$("$AM_BUILD/tests/rawreq" "$AM_ENDPOINT" ADD-CALLBACK \
    "{\"id\": \"$id\", \"spec\": {\"task\": \"testing.noop\", \"key\": \"k\"}}") || rc=$?
am_assert_eq "ADD-CALLBACK with a key" "ERROR 6" "$(jq -r '"\(.command) \(.body.code)"' <<<"$err")"

am_check "nothing was created; the valid forms are still accepted"
am_assert_eq "jobs in the store" 1 "$(am_ctl count pending)"
am_ctl submit --spec - <<<'{"task": "testing.ret", "key": "root", "retry": "attempts=3,backoff=1s"}' >/dev/null
am_ctl submit --spec - <<<'{"task": "testing.ret", "begin_after": "2030-01-01T00:00:00+14:00"}' >/dev/null
am_ctl submit --spec - <<<'{"task": "testing.ret", "begin_after": "2030-01-01T00:00:00-12:00"}' >/dev/null
am_assert_eq "jobs after three valid submits" 4 "$(am_ctl count pending)"
am_say "PASS"
