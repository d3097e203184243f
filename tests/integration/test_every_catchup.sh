#!/usr/bin/env bash
#   A recurring schedule whose ticks fell due while the broker was not
#   there submits ONE job for them all (docs/spec.md section 5, `every`;
#   docs/protocol.md EVERY-SET), as cron, systemd timers and Celery beat
#   do, and logs the ticks it skipped (every.skipped).
#
#   The broker runs with the clock shim (tests/integration/faultshim.c,
#   ASYNC_TEST_CLOCK_FILE: its wall clock alone) and no node, so that each
#   tick's job stays pending and is counted.
#   1. The broker is stopped cleanly and its wall clock moved 1000 s on:
#      100 ticks of the 10 s schedule fell due while it was down. After
#      the restart exactly one job was submitted (before: 100 at once),
#      the schedule's next tick is in the future, and every.skipped says
#      99 ticks were skipped.
#   2. The broker paused with SIGSTOP while its clock moves 500 s on (50
#      ticks): one more job.
#   3. The clock moves one interval on: one more job, as usual.
source "$(dirname "$0")/../helpers/lib.sh"

CLOCK=$AM_TMP/clock_offset
offset=0
s_step () {
    offset=$(( offset + $1 ))
    echo "$offset" >"$CLOCK.new"
    mv "$CLOCK.new" "$CLOCK"
    am_say "broker clock now ${offset}s ahead"
}
echo 0 >"$CLOCK"
s_broker_start () { am_with_shim ASYNC_TEST_CLOCK_FILE="$CLOCK" -- am_broker_start; }
s_broker_restart () { am_with_shim ASYNC_TEST_CLOCK_FILE="$CLOCK" -- am_broker_restart; }

s_jobs () { am_ctl count pending --task testing.noop; }
s_jobs_at_least () { [ "$(s_jobs)" -ge "$1" ]; }
s_schedule () { am_ctl every list --json | jq -c 'select(.name == "tick")'; }
#   The schedule's next tick is after the broker's now: nothing is due
s_caught_up () {
    local next
    next=$(s_schedule | jq -r .next)
    am_cond 'n > t' n="$(am_iso_to_s "$next")" t="$(( $(date +%s) + offset ))"
}
s_skipped_lines () { grep -c "every.skipped schedule=tick " "$AM_TMP/broker.log" || true; }

s_broker_start
grep -q "ASYNC_TEST_CLOCK_FILE" "/proc/$AM_BROKER_PID/environ" \
    || am_fail "the broker does not run with the clock shim"
am_ctl every tick 10s testing.noop
am_assert_eq "jobs before any tick" 0 "$(s_jobs)"

am_check "down while 100 ticks fall due: one job after the restart"
kill -TERM "$AM_BROKER_PID"
wait "$AM_BROKER_PID" || am_fail "the broker did not stop cleanly"
s_step 1000
s_broker_restart
am_wait_for "the schedule to tick after the restart" 10 s_jobs_at_least 1
am_wait_for "the schedule's next tick to be in the future" 10 s_caught_up
am_assert_eq "jobs submitted for the 100 ticks" 1 "$(s_jobs)"
am_assert_eq "ticks of the schedule" 1 "$(s_schedule | jq .ticks)"
am_assert_eq "its last job" "$(am_ctl jobs pending --task testing.noop | jq -r .id)" \
    "$(s_schedule | jq -r .last_job)"
line=$(grep "every.skipped schedule=tick " "$AM_TMP/broker.log") \
    || am_fail "no every.skipped line"
[[ $line == *" warning every every.skipped "*" ticks=99 "* ]] \
    || am_fail "every.skipped does not say 99 ticks at warning: $line"
am_say "ok: $line"

am_check "paused (SIGSTOP) while 50 ticks fall due: one more job"
kill -STOP "$AM_BROKER_PID"
s_step 500
kill -CONT "$AM_BROKER_PID"
am_wait_for "the schedule to tick after the pause" 10 s_jobs_at_least 2
am_wait_for "the schedule's next tick to be in the future" 10 s_caught_up
am_assert_eq "jobs submitted" 2 "$(s_jobs)"
am_assert_eq "every.skipped lines" 2 "$(s_skipped_lines)"
[[ $(grep "every.skipped schedule=tick " "$AM_TMP/broker.log" | tail -n 1) == *" ticks=49 "* ]] \
    || am_fail "the second every.skipped does not say 49 ticks"

am_check "one interval on: one more job, as usual"
s_step 10
am_wait_for "the next tick" 10 s_jobs_at_least 3
am_wait_for "the schedule's next tick to be in the future" 10 s_caught_up
am_assert_eq "jobs submitted" 3 "$(s_jobs)"
am_assert_eq "ticks of the schedule" 3 "$(s_schedule | jq .ticks)"
keys=$(am_ctl jobs pending --task testing.noop | jq -r .key | sort -u | wc -l)
am_assert_eq "distinct tick keys" 3 "$keys"
am_say "PASS"
