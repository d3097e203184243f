#!/usr/bin/env bash
#   Tracebacks (docs/spec.md section 6, failure.detail): a task failing
#   through async_task_fail* records where it called it, "at FUNCTION
#   (FILE:LINE)", at the head of the failure's detail; a task that crashes
#   under --isolation process gets the backtrace of its crashing thread,
#   symbolized (static functions of a module included), in the detail.
#   `asyncctl job ID` on a terminal prints the detail one line a line; the
#   JSON keeps it as one string.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start iso --module "$AM_TESTING_SO" --isolation process --agent main:1
am_node_start threads --module "$AM_TESTING_SO" --agent main:1@threads
src=$AM_TOP/examples/testing/testing.c

#   The line of testing.c's s_fail that calls async_task_fail_full, and
#   that of s_segfault's NULL store
fail_line=$(grep -n 'return async_task_fail_full (task, type, message, NULL, transient);' "$src" \
            | cut -d: -f1)
segv_line=$(grep -n '^    \*null = 42;' "$src" | cut -d: -f1)
[ -n "$fail_line" ] && [ -n "$segv_line" ] || am_fail "cannot find the lines in $src"

for queue in default threads; do
    am_check "async_task_fail in a task (queue $queue): the detail starts with its file:line"
    id=$(am_ctl submit --queue "$queue" testing.fail ValueError no)
    rc=0; out=$(am_ctl wait "$id" --timeout 30s) || rc=$?
    am_assert_eq "exit status of wait" 1 "$rc"
    detail=$(jq -r .detail <<<"$out")
    am_say "detail: $detail"
    first=$(head -n 1 <<<"$detail")
    [[ $first == "at s_fail ("*"testing.c:$fail_line)" ]] \
        || am_fail "the detail does not start with 'at s_fail (...testing.c:$fail_line)': $detail"
    [[ $detail == *"task=testing.fail attempt=1 "* ]] || am_fail "the detail lost the task: $detail"
done

am_check "a segfault under process isolation: the crashing thread's backtrace in the detail"
id=$(am_ctl submit testing.segfault)
rc=0; out=$(am_ctl wait "$id" --timeout 30s) || rc=$?
am_assert_eq "exit status of wait" 1 "$rc"
am_assert_eq "failure type" CrashedError "$(jq -r .type <<<"$out")"
detail=$(jq -r .detail <<<"$out")
am_say "detail: $detail"
if am_sanitized && [[ $detail == "exit status="* ]]; then
    #   A sanitizer caught the NULL store first, wrote its own report (with
    #   the stack) to the node's log and ended the child: no signal
    am_skip "the file:line checks passed; a sanitizer ended the crashing child itself (its report, with the stack, is in the node log), so there is no backtrace of ours to check"
fi
grep -q '^backtrace (the crashing frame first):$' <<<"$detail" || am_fail "no backtrace: $detail"
if am_sanitized; then
    #   A sanitizer that aborts: the frame that crashed is the sanitizer's;
    #   s_segfault is further down
    grep -q '^#[0-9]* s_segfault ' <<<"$detail" || am_fail "no s_segfault frame: $detail"
else
    grep -q "^#0 s_segfault (testing.c:$segv_line) testing.so+0x" <<<"$detail" \
        || am_fail "frame #0 is not s_segfault at testing.c:$segv_line: $detail"
fi
[[ $detail == *"task=testing.segfault attempt=1 "* ]] || am_fail "the detail lost the task: $detail"

am_check "asyncctl job on a terminal prints the detail one line a line; the JSON keeps a string"
am_assert_eq "type of detail in the JSON" string "$(am_ctl job "$id" | jq -r '.failure.detail | type')"
command -v script >/dev/null || am_skip "script (util-linux) is not installed: no terminal to test"
readable=$(script -qec "$AM_BIN/asyncctl --broker $AM_ENDPOINT job $id" /dev/null | tr -d '\r')
am_say "$(grep -A4 '^  detail:' <<<"$readable")"
grep -q '^  detail:$' <<<"$readable" || am_fail "no 'detail:' line of its own: $readable"
grep -qE '^    #[0-9]+ s_segfault \(testing\.c:[0-9]+\) testing\.so\+0x' <<<"$readable" \
    || am_fail "the s_segfault frame is not a line of its own: $readable"
am_say "PASS"
