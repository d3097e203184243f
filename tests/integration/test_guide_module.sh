#!/usr/bin/env bash
#   The guide module (examples/guide/guide.c, docs/modules.md) does what the
#   guide says, on a real broker and node: arguments by position or name; a
#   failure that is not transient is not retried, a transient one is, by
#   the job's policy, until it succeeds; progress lands in the job; a
#   cancelled countdown stops with CancelledError; an annotation the task
#   writes reads back; sum_squares submits a parallel job and hands off to
#   it (385 for 10). The countdown and the annotation run once more in an
#   isolated agent (--isolation process).
source "$(dirname "$0")/../helpers/lib.sh"

GUIDE_SO=$AM_MODULES/guide.so
[ -f "$GUIDE_SO" ] || am_fail "$GUIDE_SO is missing; build first (cmake --build build)"

#   s_run RC ARGS...: `asyncctl submit --wait ARGS` exits RC; output in $out
s_run () {
    local expect=$1 rc=0; shift
    out=$(am_ctl submit --wait --wait-timeout 30s "$@") || rc=$?
    [ "$rc" = "$expect" ] || am_fail "submit --wait $* exited $rc, expected $expect (output '$out')"
}

#   s_wait ID RC: `asyncctl wait ID` exits RC; its output in $out
s_wait () {
    local rc=0
    out=$(am_ctl wait "$1" --timeout 30s) || rc=$?
    [ "$rc" = "$2" ] || am_fail "wait $1 exited $rc, expected $2 (output '$out')"
}

s_attempts_at_least () { [ "$(am_job_field "$1" .attempts)" -ge "$2" ]; }

am_broker_start
am_node_start node1 --module "$GUIDE_SO"

am_check "guide.greet world punctuation='\"?\"' -> \"Hello, world?\"; by name -> \"Hello, ada!\""
s_run 0 guide.greet world 'punctuation="?"'
am_assert_eq "result" '"Hello, world?"' "$out"
s_run 0 guide.greet name=ada
am_assert_eq "result" '"Hello, ada!"' "$out"
s_run 1 guide.greet 5
am_assert_eq "failure type" BadArgumentsError "$(jq -r .type <<<"$out")"

am_check "guide.divide 1 0: ZeroDivisionError, not transient, not retried"
s_run 0 guide.divide 7 2
am_assert_eq "result" 3.5 "$out"
s_run 1 guide.divide 1 0
am_assert_eq "failure type" ZeroDivisionError "$(jq -r .type <<<"$out")"
am_assert_eq "transient" false "$(jq -r .transient <<<"$out")"
am_assert_eq "attempt" 1 "$(jq -r .attempt <<<"$out")"

am_check "guide.first_line of a missing file: transient, retried by the default policy (5 attempts)"
s_run 1 guide.first_line missing.txt
am_assert_eq "failure type" FileNotFoundError "$(jq -r .type <<<"$out")"
am_assert_eq "transient" true "$(jq -r .transient <<<"$out")"
am_assert_eq "attempt" 5 "$(jq -r .attempt <<<"$out")"

am_check "guide.first_line ready.txt --retry attempts=1000,backoff=0.1s: retried until the file appears"
id=$(am_ctl submit --retry 'attempts=1000,backoff=0.1s' guide.first_line ready.txt)
am_wait_for "job $id to be tried twice" 20 s_attempts_at_least "$id" 2
printf 'hello\nworld\n' >"$AM_TMP/node1/ready.txt"
s_wait "$id" 0
am_assert_eq "result" '"hello"' "$out"

s_countdown_and_note () {
    local queue=$1
    am_check "guide.countdown 3 (queue $queue): result 3, progress {\"done\":3,\"total\":3}"
    s_run 0 --queue "$queue" guide.countdown 3
    am_assert_eq "result" 3 "$out"
    local id
    id=$(am_ctl jobs completed --queue "$queue" --task guide.countdown | jq -r .id)
    am_assert_eq "progress" '{"done":3,"total":3}' "$(am_ctl job "$id" | jq -cS .progress)"

    am_check "guide.countdown 100000 cancelled while active (queue $queue): CancelledError"
    id=$(am_ctl submit --queue "$queue" guide.countdown 100000)
    am_wait_for "job $id to be active" 20 am_job_is "$id" active
    am_ctl cancel "$id"
    s_wait "$id" 1
    am_assert_eq "failure type" CancelledError "$(jq -r .type <<<"$out")"

    am_check "guide.note color '\"blue\"' (queue $queue): returns \"blue\", the job's annotation"
    s_run 0 --queue "$queue" guide.note color '"blue"'
    am_assert_eq "result" '"blue"' "$out"
    id=$(am_ctl jobs completed --queue "$queue" --task guide.note | jq -r .id)
    am_assert_eq "annotations" '{"color":"blue"}' "$(am_ctl job "$id" | jq -cS .annotations)"
}
s_countdown_and_note default

am_check "guide.sum_squares 10: hands off to a parallel job of 10 guide.square, 385"
s_run 0 guide.sum_squares 10
am_assert_eq "result" 385 "$out"
am_assert_eq "guide.square jobs" 10 "$(am_ctl count completed --task guide.square)"
parent=$(am_ctl jobs completed | jq -r 'select(.kind == "parallel") | .id')
am_assert_eq "parallel parents" 1 "$(wc -w <<<"$parent")"
am_assert_eq "its children" 10 "$(am_ctl job "$parent" | jq '.children | length')"
am_assert_eq "its result" 385 "$(am_job_field "$parent" .result)"
s_run 1 guide.sum_squares 0
am_assert_eq "failure type" BadArgumentsError "$(jq -r .type <<<"$out")"

am_node_start node2 --module "$GUIDE_SO" --agent iso:2@isolated --isolation process
s_countdown_and_note isolated
am_say "PASS"
