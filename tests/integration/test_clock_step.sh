#!/usr/bin/env bash
#   Durations do not follow the wall clock: the broker's clock is stepped
#   (tests/integration/faultshim.c, LD_PRELOAD: its CLOCK_REALTIME alone)
#   by +2 h and by -1 h while jobs run. A run-time `timeout`, a retry's
#   backoff and the cancel grace are measured on the monotonic clock: a
#   +2 h step neither interrupts a job with a 1 h timeout nor retries a job
#   waiting out a 30 s backoff; a -1 h step delays neither a 2 s timeout,
#   nor a 2 s backoff, nor the 5 s grace of a cancel.
source "$(dirname "$0")/../helpers/lib.sh"

CLOCK=$AM_TMP/clock_offset
s_step () { echo "$1" >"$CLOCK.new"; mv "$CLOCK.new" "$CLOCK"; am_say "broker clock stepped to ${1}s"; }
echo 0 >"$CLOCK"

#   Only the broker runs with the shim
am_with_shim ASYNC_TEST_CLOCK_FILE="$CLOCK" -- am_broker_start --dead-after 30s
grep -q "ASYNC_TEST_CLOCK_FILE" "/proc/$AM_BROKER_PID/environ" \
    || am_fail "the broker does not run with the clock shim"
am_node_start node1 --module "$AM_TESTING_SO" --agent main:4

s_failure_type () { am_ctl job "$1" | jq -r '.failure.type // empty'; }
s_completed () { am_job_is "$1" completed; }

am_check "+2 h: a job with a 1 h timeout runs on; a 30 s backoff still waits"
a=$(am_ctl submit --timeout 1h testing.block FA)
b=$(am_ctl submit --timeout 3s --retry never testing.block FB)
d=$(am_ctl submit --retry 'attempts=3,backoff=30s..30s' testing.flaky count_d 1)
am_wait_for "job a to be active" 10 am_job_is "$a" active
am_wait_for "job b to be active" 10 am_job_is "$b" active
am_wait_for "job d to fail once and wait out its backoff" 10 am_job_is "$d" pending 1
s_step 7200
#   b's 3 s timeout passing shows that the broker looked at the limits
#   after the step
am_wait_for "job b to time out (3 s)" 15 s_completed "$b"
am_assert_eq "b's failure" TimeoutError "$(s_failure_type "$b")"
job=$(am_ctl job "$a")
am_assert_eq "a's status after the +2 h step" active "$(jq -r .status <<<"$job")"
am_assert_eq "a's interruptions" 0 "$(jq -r .interruptions <<<"$job")"
am_assert_eq "d (backoff 30 s) after the +2 h step" "pending 1" "$(am_job_state "$d")"
am_ctl cancel "$a" >/dev/null
am_ctl cancel "$d" >/dev/null
am_wait_for "job a to stop" 10 s_completed "$a"

am_check "-1 h: a 2 s timeout and a 2 s backoff are not delayed"
s_step 0
c=$(am_ctl submit --timeout 2s --retry never testing.block FC)
e=$(am_ctl submit --retry 'attempts=3,backoff=2s..2s' testing.flaky count_e 1)
am_wait_for "job c to be active" 10 am_job_is "$c" active
am_wait_for "job e to fail once and wait out its backoff" 10 am_job_is "$e" pending 1
s_step -3600
am_wait_for "job c to time out (2 s) despite the -1 h step" 10 s_completed "$c"
am_assert_eq "c's failure" TimeoutError "$(s_failure_type "$c")"
am_assert_eq "e's result after its 2 s backoff" 42 "$(am_ctl wait "$e" --timeout 10s)"
am_assert_eq "e's attempts" 2 "$(am_job_field "$e" .attempts)"

am_check "-1 h: the 5 s grace of a cancel is not delayed (the node is frozen)"
f=$(am_ctl submit testing.block FF)
am_wait_for "job f to be active" 10 am_job_is "$f" active
kill -STOP "${AM_NODE_PID[node1]}"
am_ctl cancel "$f"
s_step -7200
am_wait_for "job f to be cancelled within its grace (dead-after is 30 s)" 12 s_completed "$f"
am_assert_eq "f's failure" CancelledError "$(s_failure_type "$f")"
am_ctl job "$f" | jq -er '.failure.message | test("grace")' >/dev/null \
    || am_fail "f was not ended by the grace period: $(am_ctl job "$f" | jq -c .failure)"
kill -CONT "${AM_NODE_PID[node1]}"
am_say "PASS"
