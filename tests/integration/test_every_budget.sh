#!/usr/bin/env bash
#   A recurring schedule submits by itself, for ever: EVERY-SET refuses one
#   over the budget (at most 10,000 jobs a tick and 100 jobs a second of
#   its interval) with ERROR 6 and a one-line reason (before, a parallel
#   job of 99,990 tasks every second was taken: 100,000 jobs a second and
#   PING held 0.5 s at each tick).
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
RAW=$AM_BUILD/tests/rawreq

#   s_every NAME INTERVAL_MS CHILDREN: the reply's "command code"
s_every () {
    jq -nc --arg name "$1" --argjson ms "$2" --argjson n "$3" \
        '{name: $name, interval_ms: $ms, spec: {parallel: [range($n) | {task: "testing.noop"}]}}' \
        >"$AM_TMP/every.json"
    "$RAW" "$AM_ENDPOINT" EVERY-SET "@$AM_TMP/every.json" \
        | jq -r '"\(.command) \(.body.code // "")"' | sed 's/ $//'
}

am_assert_eq "200 jobs every second" "ERROR 6" "$(s_every fast 1000 200)"
am_assert_eq "20,000 jobs every 366 days" "ERROR 6" "$(s_every huge 31622400000 20000)"
am_assert_eq "50 jobs every second" OK "$(s_every fifty 1000 49)"
am_assert_eq "1,000 jobs every minute" OK "$(s_every minute 60000 999)"
am_assert_eq "schedules kept" "fifty minute" "$(am_ctl every list | jq -r '.name' | sort | tr '\n' ' ' | sed 's/ $//')"
out=$("$RAW" "$AM_ENDPOINT" EVERY-SET "{\"name\": \"fast\", \"interval_ms\": 1000, \"spec\": $(jq -nc '{parallel: [range(200) | {task: "testing.noop"}]}')}")
jq -er '.body.message | test("over the budget")' <<<"$out" >/dev/null \
    || am_fail "the refusal does not say why: $out"
am_say "PASS"
