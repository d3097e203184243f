#!/usr/bin/env bash
#   Failures are logged as failures (docs/monitoring.md section 5): a job
#   that completes with a failure logs `job.failed` at `warning`, an
#   AbortedError (interrupted too often) or a CrashedError (its process
#   crashed) at `error`, so a day's log grepped for warnings and errors
#   finds them; values are quoted so that they round-trip (\" \\ \n \t
#   \xHH).
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start iso --module "$AM_TESTING_SO" --isolation process --agent main:1
am_node_start threads --module "$AM_TESTING_SO" --agent main:1@poison
blog=$AM_TMP/broker.log
[ -f "$blog" ] || am_fail "no broker log at $blog"

#   s_line LOG ID: the job.failed line of job ID in LOG
s_line () { grep " job\.failed job=$2 " "$1" || true; }

am_check "a task failure: job.failed at warning, its message quoted with backslash escapes"
id=$(am_ctl submit testing.fail ValueError "$(printf 'say "hi"\\\there\nnow')")
rc=0; out=$(am_ctl wait "$id" --timeout 30s) || rc=$?
am_assert_eq "exit status of wait" 1 "$rc"
am_wait_for "the broker's job.failed line for $id" 10 grep -q " job\.failed job=$id " "$blog"
line=$(s_line "$blog" "$id")
am_say "broker: $line"
[[ $line == *" warning broker job.failed job=$id "* ]] || am_fail "not at warning: $line"
[[ $line == *'message="say \"hi\"\\\there\nnow"'* ]] \
    || am_fail "the message is not quoted with backslash escapes: $line"
line=$(s_line "$AM_TMP/iso.log" "$id")
[[ $line == *" warning node job.failed job=$id "* ]] || am_fail "node line not at warning: $line"

am_check "a crash under process isolation: job.failed at error (CrashedError)"
id=$(am_ctl submit testing.segfault)
rc=0; out=$(am_ctl wait "$id" --timeout 30s) || rc=$?
am_assert_eq "exit status of wait" 1 "$rc"
am_assert_eq "failure type" CrashedError "$(jq -r .type <<<"$out")"
am_wait_for "the broker's job.failed line for $id" 10 grep -q " job\.failed job=$id " "$blog"
line=$(s_line "$blog" "$id")
am_say "broker: $line"
[[ $line == *" error broker job.failed job=$id "*"type=CrashedError "* ]] \
    || am_fail "not at error: $line"
line=$(s_line "$AM_TMP/iso.log" "$id")
[[ $line == *" error node job.failed job=$id "* ]] || am_fail "node line not at error: $line"

am_check "an attempt interrupted past the policy: job.failed at error (AbortedError)"
#   testing.crash_once SIGKILLs the thread-mode node; with interruptions=0
#   the first interruption ends the job
threads_pid=${AM_NODE_PID[threads]}
id=$(am_ctl submit --queue poison --retry interruptions=0 testing.crash_once poison)
am_wait_for "the threads node (pid $threads_pid) to die" 15 am_pid_gone "$threads_pid"
wait "$threads_pid" 2>/dev/null || true
am_node_start threads --module "$AM_TESTING_SO" --agent main:1@poison
rc=0; out=$(am_ctl wait "$id" --timeout 30s) || rc=$?
am_assert_eq "exit status of wait" 1 "$rc"
am_assert_eq "failure type" AbortedError "$(jq -r .type <<<"$out")"
am_wait_for "the broker's job.failed line for $id" 10 grep -q " job\.failed job=$id " "$blog"
line=$(s_line "$blog" "$id")
am_say "broker: $line"
[[ $line == *" error broker job.failed job=$id "*"type=AbortedError "* ]] \
    || am_fail "not at error: $line"

am_check "grepping the broker log for warnings and errors finds every failure"
am_assert_eq "job.failed lines at warning or error" 3 \
    "$(grep -cE ' (warning|error) broker job\.failed ' "$blog")"
am_assert_eq "job.failed lines at info" 0 "$(grep -c ' info broker job\.failed ' "$blog" || true)"
am_say "PASS"
