#!/usr/bin/env bash
#   Cron schedules (docs/spec.md section 5, `every NAME --cron EXPR [--tz
#   TZ]`; docs/protocol.md EVERY-SET `cron`, `tz`): the broker submits the
#   job at each minute the expression matches, exactly once a tick (the
#   tick's key "every:<name>:<tick us>", a whole minute), coalescing ticks
#   missed, across restarts; a time zone (a fixed offset, a name of the tz
#   database) moves the ticks; bad expressions and zones are refused.
#
#   The broker runs with the clock shim (tests/integration/faultshim.c,
#   ASYNC_TEST_CLOCK_FILE: its wall clock alone) and no node, so that each
#   tick's job stays pending and is counted, and minutes pass at once.
source "$(dirname "$0")/../helpers/lib.sh"

CLOCK=$AM_TMP/clock_offset
offset=0
s_step () {
    offset=$(( offset + $1 ))
    echo "$offset" >"$CLOCK.new"
    mv "$CLOCK.new" "$CLOCK"
    am_say "broker clock now ${offset}s ahead"
}
#   Start 5 s into a minute of the broker's clock, so that no minute of
#   its own passes during the test (about 50 s at most): every tick comes
#   from a step of the clock
offset=$(( (65 - $(date +%s) % 60) % 60 ))
echo "$offset" >"$CLOCK"
s_broker_start () { am_with_shim ASYNC_TEST_CLOCK_FILE="$CLOCK" -- am_broker_start; }
s_broker_restart () { am_with_shim ASYNC_TEST_CLOCK_FILE="$CLOCK" -- am_broker_restart; }

s_jobs () { am_ctl count pending --task testing.noop; }
s_jobs_at_least () { [ "$(s_jobs)" -ge "$1" ]; }
s_schedule () { am_ctl every list --json | jq -c --arg n "$1" 'select(.name == $n)'; }
#   The schedule's next tick is after the broker's now
s_caught_up () {
    local next
    next=$(s_schedule "$1" | jq -r .next)
    am_cond 'n > t' n="$(am_iso_to_s "$next")" t="$(( $(date +%s) + offset ))"
}

s_broker_start

am_check "every min --cron '* * * * *': listed with its cron, next on a whole minute"
am_ctl every min --cron '* * * * *' testing.noop
schedule=$(s_schedule min)
am_say "$schedule"
am_assert_eq "cron" '* * * * *' "$(jq -r .cron <<<"$schedule")"
am_assert_eq "tz" UTC "$(jq -r .tz <<<"$schedule")"
am_assert_eq "interval" null "$(jq -r .interval <<<"$schedule")"
[[ $(jq -r .next <<<"$schedule") == *:00.000000Z ]] || am_fail "next is not a whole minute: $schedule"
am_assert_eq "jobs before any tick" 0 "$(s_jobs)"

am_check "a minute on: one job, its key the tick's whole minute"
s_step 60
am_wait_for "the first tick" 10 s_jobs_at_least 1
am_wait_for "the schedule's next tick to be in the future" 10 s_caught_up min
key=$(am_ctl jobs pending --task testing.noop | jq -r .key)
[[ $key =~ ^every:min:([0-9]+)$ ]] || am_fail "the job's key is not every:min:<us>: $key"
am_assert_eq "the tick's us modulo a minute" 0 $(( BASH_REMATCH[1] % 60000000 ))
am_assert_eq "jobs" 1 "$(s_jobs)"

am_check "ten minutes on: one job for the 10 ticks, every.skipped says 9"
s_step 600
am_wait_for "the next tick" 10 s_jobs_at_least 2
am_wait_for "the schedule's next tick to be in the future" 10 s_caught_up min
am_assert_eq "jobs" 2 "$(s_jobs)"
line=$(grep "every.skipped schedule=min " "$AM_TMP/broker.log") || am_fail "no every.skipped line"
[[ $line == *" ticks=9 "* ]] || am_fail "every.skipped does not say 9 ticks: $line"

am_check "--tz +05:30: '30 2 * * *' ticks at 02:30 there, 21:00 UTC"
am_ctl every daily --cron '30 2 * * *' --tz +05:30 testing.noop
schedule=$(s_schedule daily)
am_assert_eq "tz" +05:30 "$(jq -r .tz <<<"$schedule")"
[[ $(jq -r .next <<<"$schedule") == *T21:00:00.000000Z ]] \
    || am_fail "the next tick is not at 21:00 UTC: $schedule"

am_check "--tz Europe/Paris: '0 12 1 7 *' ticks at noon in Paris, summer time (10:00 UTC)"
schedules=2
if [ -r /usr/share/zoneinfo/Europe/Paris ]; then
    schedules=3
    am_ctl every paris --cron '0 12 1 7 *' --tz Europe/Paris testing.noop
    schedule=$(s_schedule paris)
    am_assert_eq "tz" Europe/Paris "$(jq -r .tz <<<"$schedule")"
    next=$(jq -r .next <<<"$schedule")
    am_assert_eq "the next tick, in Paris" "12:00:00" \
        "$(TZ=Europe/Paris date -d "$next" +%H:%M:%S)"
    [[ $next == *-07-01T10:00:00.000000Z ]] || am_fail "not 10:00 UTC on 1 July: $next"
else
    am_say "no /usr/share/zoneinfo/Europe/Paris (tzdata): named zones not checked"
fi

am_check "the schedules survive a restart, cron and tz with them"
kill -TERM "$AM_BROKER_PID"
wait "$AM_BROKER_PID" || am_fail "the broker did not stop cleanly"
s_broker_restart
am_assert_eq "cron after the restart" '30 2 * * *' "$(s_schedule daily | jq -r .cron)"
am_assert_eq "tz after the restart" +05:30 "$(s_schedule daily | jq -r .tz)"
[ $schedules = 2 ] || am_assert_eq "named tz after the restart" Europe/Paris \
    "$(s_schedule paris | jq -r .tz)"
s_step 60
am_wait_for "the minute schedule to tick after the restart" 10 s_jobs_at_least 3
am_wait_for "the schedule's next tick to be in the future" 10 s_caught_up min
am_assert_eq "distinct tick keys" 3 "$(am_ctl jobs pending --task testing.noop \
    | jq -r 'select(.key | startswith("every:min:")) | .key' | sort -u | wc -l)"

am_check "bad expressions and zones: usage error (exit 2) with the reason"
for bad in '* * * *' '60 * * * *' '* 24 * * *' '* * 0 * *' '* * * 13 *' '* * * * 8' \
           '*/0 * * * *' '5-1 * * * *' '* * 30 feb *' 'x * * * *' '1,,2 * * * *'; do
    rc=0; out=$(am_ctl every bad --cron "$bad" testing.noop 2>&1) || rc=$?
    am_assert_eq "exit status for --cron '$bad'" 2 "$rc"
    [[ $out == *cron* ]] || am_fail "the error does not say what is wrong: $out"
done
#   The zone is the broker's to read: refused by it (exit 6)
for bad in No/Such_Zone ../../etc/passwd +25:00 +1:00 '+01:60' ''; do
    rc=0; out=$(am_ctl every bad --cron '* * * * *' --tz "$bad" testing.noop 2>&1) || rc=$?
    am_assert_eq "exit status for --tz '$bad'" 6 "$rc"
    [[ $out == *"time zone"* ]] || am_fail "the --tz error does not say why: $out"
done

am_check "the broker refuses them too (EVERY-SET from any peer): ERROR 6 with the reason"
RAWREQ=$AM_BUILD/tests/rawreq
[ -x "$RAWREQ" ] || am_fail "$RAWREQ is missing; build first"
spec='"spec": {"task": "testing.noop"}'
for body in '{"name": "b", "cron": "* * 30 feb *", '"$spec"'}' \
            '{"name": "b", "cron": "61 * * * *", '"$spec"'}' \
            '{"name": "b", "cron": 5, '"$spec"'}' \
            '{"name": "b", "cron": "* * * * *", "tz": "Europe/Nowhere", '"$spec"'}' \
            '{"name": "b", "cron": "* * * * *", "interval_ms": 60000, '"$spec"'}' \
            '{"name": "b", "tz": "+01:00", '"$spec"'}'; do
    out=$("$RAWREQ" "$AM_ENDPOINT" EVERY-SET "$body") || am_fail "rawreq failed: $out"
    am_assert_eq "reply to $body" "ERROR 6" "$(jq -r '.command + " " + (.body.code | tostring)' <<<"$out")"
    am_say "ok: $(jq -r .body.message <<<"$out")"
done
am_assert_eq "schedules" "$schedules" "$(am_ctl every list --json | wc -l)"
am_say "PASS"
