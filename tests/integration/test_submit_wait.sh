#!/usr/bin/env bash
#   async_submit_wait_json: one SUBMIT with `wait` registers the waiter, so
#   the outcome is pushed with no WAIT request; an existing job (same key)
#   and a failed job are returned too.
source "$(dirname "$0")/../helpers/lib.sh"
SUBMIT_WAIT=$AM_BUILD/tests/submit_wait

am_broker_start --log-level trace
am_node_start node1 --module "$AM_TESTING_SO"

waits () { grep -c 'command=WAIT ' "$AM_TMP/broker.log" || true; }
[ -f "$AM_TMP/broker.log" ] || am_fail "no broker log at $AM_TMP/broker.log"

am_check "testing.sleep 0.3 with a key: the result after the sleep, and no WAIT sent"
before=$(waits)
out=$("$SUBMIT_WAIT" "$AM_ENDPOINT" '{"task": "testing.sleep", "args": [0.3], "key": "sw-1"}') \
    || am_fail "submit_wait failed: $out"
head=$(head -1 <<<"$out"); job=$(sed -n 2p <<<"$out")
am_say "$head"
id=$(sed 's/.* id=\([^ ]*\) .*/\1/' <<<"$head")
ms=$(sed 's/.* ms=//' <<<"$head")
am_assert_eq "status" completed "$(jq -r .status <<<"$job")"
am_assert_eq "id in the job" "$id" "$(jq -r .id <<<"$job")"
am_cond 'ms >= 300' ms="$ms" || am_fail "returned after $ms ms, before the 0.3 s sleep ended"
am_cond 'ms < 1900' ms="$ms" || am_fail "returned after $ms ms: waited for a WAIT resend"
am_assert_eq "WAIT requests the broker saw" "$before" "$(waits)"

am_check "the same key again: the existing job, fetched with one WAIT"
out=$("$SUBMIT_WAIT" "$AM_ENDPOINT" '{"task": "testing.sleep", "args": [0.3], "key": "sw-1"}') \
    || am_fail "submit_wait failed: $out"
am_assert_eq "same id" "$id" "$(sed -n 2p <<<"$out" | jq -r .id)"
am_assert_eq "WAIT requests the broker saw" $(( before + 1 )) "$(waits)"

am_check "a failing task: rc 0 and the failure in the job"
out=$("$SUBMIT_WAIT" "$AM_ENDPOINT" '{"task": "testing.fail", "args": ["ValueError", "no"]}') \
    || am_fail "submit_wait failed: $out"
am_assert_eq "failure type" ValueError "$(sed -n 2p <<<"$out" | jq -r .failure.type)"
fid=$(head -1 <<<"$out" | sed 's/.* id=\([^ ]*\) .*/\1/')
line=$(grep " job.failed job=$fid " "$AM_TMP/broker.log") || am_fail "no job.failed line for $fid in the broker log"
am_say "log: $line"
grep -q 'type=ValueError message="no" detail="at s_fail ([^)]*testing\.c:[0-9]*)\\ntask=testing.fail attempt=1 node=' <<<"$line" \
    || am_fail "the job.failed line lacks the failure's message and detail: $line"

am_check "a priority that is not a number: refused, exit 6, nothing waits"
rc=0
"$SUBMIT_WAIT" "$AM_ENDPOINT" '{"task": "testing.noop", "priority": "high"}' >"$AM_TMP/bad.out" 2>&1 || rc=$?
am_assert_eq "exit status" 6 "$rc"
am_check "async_submit_wait_many_json: 300 jobs, every other one failing, no WAIT sent"
before=$(waits)
out=$("$SUBMIT_WAIT" "$AM_ENDPOINT" '{"task": "testing.noop"}' \
      '{"task": "testing.fail", "args": ["ValueError", "no"]}' 300) || am_fail "submit_wait many failed: $out"
am_assert_eq "outcome" "rc=0 failed=150 ids=300" "$out"
am_assert_eq "WAIT requests the broker saw" "$before" "$(waits)"
am_assert_eq "completed jobs" 302 "$(am_ctl count completed)"

am_check "many with a key already used: the existing job is waited for with WAIT"
out=$("$SUBMIT_WAIT" "$AM_ENDPOINT" '{"task": "testing.sleep", "args": [0.3], "key": "sw-1"}' \
      '{"task": "testing.noop"}' 2) || am_fail "submit_wait many failed: $out"
am_assert_eq "outcome" "rc=0 failed=0 ids=2" "$out"
am_assert_eq "WAIT requests the broker saw" $(( before + 1 )) "$(waits)"
am_check "20 pipelined submits with one key (most in one broker batch): one job"
before_completed=$(am_ctl count completed)
out=$("$SUBMIT_WAIT" "$AM_ENDPOINT" '{"task": "testing.noop", "key": "dup-1"}' \
      '{"task": "testing.noop", "key": "dup-1"}' 20) || am_fail "submit_wait many failed: $out"
am_assert_eq "outcome" "rc=0 failed=0 ids=1" "$out"
am_assert_eq "jobs completed" $(( before_completed + 1 )) "$(am_ctl count completed)"

am_check "many: 600 jobs go in 3 SUBMITs of at most 256 specs (brief JOBs, no PROGRESS)"
before_submits=$(grep -c 'command=SUBMIT ' "$AM_TMP/broker.log" || true)
out=$("$SUBMIT_WAIT" "$AM_ENDPOINT" '{"task": "testing.noop"}' '{"task": "testing.noop"}' 600) \
    || am_fail "submit_wait many failed: $out"
am_assert_eq "outcome" "rc=0 failed=0 ids=600" "$out"
am_assert_eq "SUBMIT messages the broker saw" $(( before_submits + 3 )) \
    "$(grep -c 'command=SUBMIT ' "$AM_TMP/broker.log")"

am_check "many with a refused spec in a batch: exit 6 and the spec's reason"
rc=0
"$SUBMIT_WAIT" "$AM_ENDPOINT" '{"task": "testing.noop"}' '{"task": "testing.noop", "priority": "high"}' 4 \
    >"$AM_TMP/many-bad.out" 2>&1 || rc=$?
am_assert_eq "exit status" 6 "$rc"
grep -q "priority" "$AM_TMP/many-bad.out" || am_fail "the error does not name the field: $(cat "$AM_TMP/many-bad.out")"
am_check "async_wait_all: 300 jobs submitted, then waited for; an id that is not one is refused"
rc=0
out=$("$SUBMIT_WAIT" "$AM_ENDPOINT" wait-all 300 2>"$AM_TMP/wait-all.err") || rc=$?
am_assert_eq "exit status" 0 "$rc"
am_assert_eq "outcome (bad: ASYNC_ENOJOB = 5)" "rc=0 failed=0 bad=5" "$out"
grep -q "not a job id" "$AM_TMP/wait-all.err" \
    || am_fail "the error does not say why: $(cat "$AM_TMP/wait-all.err")"
am_say "PASS"
