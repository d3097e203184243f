#!/usr/bin/env bash
#   A wall clock stepped back does not silence a recurring schedule
#   (docs/spec.md section 5, `every`, "Clock steps"): a schedule whose
#   next tick is more than one interval ahead of the broker's clock is
#   re-anchored to now + interval, with one warning (every.reanchored) a
#   schedule a step, and ticks on every interval from there.
#
#   The broker runs with the clock shim (tests/integration/faultshim.c,
#   ASYNC_TEST_CLOCK_FILE: its wall clock alone) and no node, so that each
#   tick's job stays pending and is counted. A 1 s schedule:
#   1. the clock jumps 10 years ahead (the schedule ticks once there) and
#      is put right: the schedule ticks again within seconds (before: it
#      was silent for 10 years);
#   2. the clock steps 60 s back: it ticks on (before: silent 60 s);
#   3. the clock steps back an hour while the broker is stopped: after the
#      restart it ticks within seconds (before: silent an hour).
source "$(dirname "$0")/../helpers/lib.sh"

CLOCK=$AM_TMP/clock_offset
s_clock () {
    echo "$1" >"$CLOCK.new"
    mv "$CLOCK.new" "$CLOCK"
    am_say "broker clock now $1 s off"
}
echo 0 >"$CLOCK"
s_broker_start () { am_with_shim ASYNC_TEST_CLOCK_FILE="$CLOCK" -- am_broker_start; }
s_broker_restart () { am_with_shim ASYNC_TEST_CLOCK_FILE="$CLOCK" -- am_broker_restart; }

s_jobs () { am_ctl count pending --task testing.noop; }
s_jobs_at_least () { [ "$(s_jobs)" -ge "$1" ]; }
s_reanchored () { grep -c "every.reanchored schedule=tick " "$AM_TMP/broker.log" || true; }
#   The schedule's next tick is at most one interval after the broker's now
s_next_near () {
    local next
    next=$(am_ctl every list --json | jq -r 'select(.name == "tick") | .next')
    am_cond 'n <= t + 1.5' n="$(am_iso_to_s "$next")" t="$(( $(date +%s) + $1 ))"
}

s_broker_start
grep -q "ASYNC_TEST_CLOCK_FILE" "/proc/$AM_BROKER_PID/environ" \
    || am_fail "the broker does not run with the clock shim"
am_ctl every tick 1s testing.noop
am_wait_for "two ticks" 15 s_jobs_at_least 2

am_check "the clock jumps 10 years ahead and is put right: the schedule ticks on"
s_clock 315360000
jobs=$(s_jobs)
am_wait_for "the tick 10 years ahead" 15 s_jobs_at_least "$((jobs + 1))"
s_clock 0
jobs=$(s_jobs)
am_wait_for "three ticks after the clock was put right" 15 s_jobs_at_least "$((jobs + 3))"
am_wait_for "the next tick within an interval" 10 s_next_near 0
line=$(grep "every.reanchored schedule=tick " "$AM_TMP/broker.log") \
    || am_fail "no every.reanchored line"
[[ $line == *" warning every every.reanchored "*"stepped back"* ]] \
    || am_fail "every.reanchored is not a warning that says why: $line"
am_say "ok: $line"
am_assert_eq "every.reanchored lines for the step" 1 "$(s_reanchored)"

am_check "the clock steps 60 s back: the schedule ticks on"
s_clock -60
jobs=$(s_jobs)
am_wait_for "three ticks after the step back" 15 s_jobs_at_least "$((jobs + 3))"
am_wait_for "the next tick within an interval" 10 s_next_near -60
am_assert_eq "every.reanchored lines, one a step" 2 "$(s_reanchored)"

am_check "the clock steps an hour back while the broker is stopped: it ticks on"
kill -TERM "$AM_BROKER_PID"
wait "$AM_BROKER_PID" || am_fail "the broker did not stop cleanly"
s_clock -3660
s_broker_restart
jobs=$(s_jobs)
am_wait_for "three ticks after the restart" 15 s_jobs_at_least "$((jobs + 3))"
am_wait_for "the next tick within an interval" 10 s_next_near -3660
am_assert_eq "every.reanchored lines, one a step" 3 "$(s_reanchored)"
#   One listing for both counts: the schedule goes on ticking meanwhile
am_ctl jobs pending --task testing.noop --limit 0 | jq -r .key >"$AM_TMP/keys"
am_assert_eq "distinct tick keys" "$(wc -l <"$AM_TMP/keys")" "$(sort -u "$AM_TMP/keys" | wc -l)"
am_say "PASS"
