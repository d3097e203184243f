#!/usr/bin/env bash
#   Retry policies of docs/spec.md section 4, counted with testing.flaky (the
#   first n calls, counted in a file, fail; later calls return 42):
#   default: a transient failure is retried, 5 attempts in all; a
#   non-transient one is not retried. never: 1 attempt. forever: retried
#   with backoff 1 s, 2 s, ... A custom policy: N attempts, with an
#   exponential backoff between the attempts.
#   `attempts` in the job counts every start, and so does the flaky file.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:8

#   s_calls FILE: the call count testing.flaky kept in the node's FILE
s_calls () { local n; n=$(tr -d '[:space:]' <"$AM_TMP/node1/$1"); echo "$n"; }

#   All submitted at once: they run side by side on the node's 8 slots
f=$(am_ctl submit testing.flaky f 2)
g=$(am_ctl submit testing.flaky g 50)
h=$(am_ctl submit testing.flaky h 3 false)
i=$(am_ctl submit --retry never testing.flaky i 5)
j=$(am_ctl submit --retry attempts=20,backoff=10ms..20ms testing.flaky j 12)
k=$(am_ctl submit --retry forever testing.flaky k 2)
l=$(am_ctl submit --retry attempts=3,backoff=200ms..1s,factor=2 testing.flaky l 50)

am_check "default policy, 'testing.flaky f 2' (transient): 42 after 3 attempts"
am_wait_exits "$f" 0 60s
am_assert_eq "result" 42 "$AM_OUT"
am_assert_eq "attempts" 3 "$(am_job_field "$f" .attempts)"
am_assert_eq "calls counted by the task" 3 "$(s_calls f)"

am_check "default policy, 'testing.flaky g 50' (transient): FlakyError after 5 attempts"
am_wait_exits "$g" 1 60s
am_assert_eq "failure type" FlakyError "$(jq -r .type <<<"$AM_OUT")"
am_assert_eq "failure attempt" 5 "$(jq -r .attempt <<<"$AM_OUT")"
am_assert_eq "failure transient" true "$(jq -r .transient <<<"$AM_OUT")"
am_assert_eq "attempts" 5 "$(am_job_field "$g" .attempts)"
am_assert_eq "calls counted by the task" 5 "$(s_calls g)"

am_check "default policy, 'testing.flaky h 3 false' (not transient): failure after 1 attempt"
am_wait_exits "$h" 1 60s
am_assert_eq "failure type" FlakyError "$(jq -r .type <<<"$AM_OUT")"
am_assert_eq "failure transient" false "$(jq -r .transient <<<"$AM_OUT")"
am_assert_eq "attempts" 1 "$(am_job_field "$h" .attempts)"
am_assert_eq "calls counted by the task" 1 "$(s_calls h)"

am_check "--retry never, 'testing.flaky i 5' (transient): failure after 1 attempt"
am_wait_exits "$i" 1 60s
am_assert_eq "failure type" FlakyError "$(jq -r .type <<<"$AM_OUT")"
am_assert_eq "attempts" 1 "$(am_job_field "$i" .attempts)"
am_assert_eq "retry in the job" never "$(am_job_field "$i" .retry)"
am_assert_eq "calls counted by the task" 1 "$(s_calls i)"

am_check "--retry attempts=20,backoff=10ms..20ms, 'testing.flaky j 12': 42 after 13 attempts"
am_wait_exits "$j" 0 60s
am_assert_eq "result" 42 "$AM_OUT"
am_assert_eq "attempts" 13 "$(am_job_field "$j" .attempts)"
am_assert_eq "calls counted by the task" 13 "$(s_calls j)"

am_check "--retry forever, 'testing.flaky k 2': 42 after 3 attempts, backoff 1 s then 2 s"
am_wait_exits "$k" 0 60s
am_assert_eq "result" 42 "$AM_OUT"
job=$(am_ctl job "$k")
am_assert_eq "attempts" 3 "$(jq -r .attempts <<<"$job")"
am_assert_eq "calls counted by the task" 3 "$(s_calls k)"
gap=$(am_calc 'a - s' a="$(am_iso_to_s "$(jq -r .active_start <<<"$job")")" \
                      s="$(am_iso_to_s "$(jq -r .submitted <<<"$job")")")
am_say "last attempt started ${gap}s after submit"
am_cond 'gap >= 2.95' gap="$gap" \
    || am_fail "the 3rd attempt started ${gap}s after submit: expected >= 3 s (1 s + 2 s of backoff)"
am_say "ok: backoff of forever >= 3 s over 2 retries"

am_check "--retry attempts=3,backoff=200ms..1s,factor=2, 'testing.flaky l 50': failure after 3 attempts, >= 0.6 s of backoff"
am_wait_exits "$l" 1 60s
am_assert_eq "failure type" FlakyError "$(jq -r .type <<<"$AM_OUT")"
job=$(am_ctl job "$l")
am_assert_eq "attempts" 3 "$(jq -r .attempts <<<"$job")"
am_assert_eq "calls counted by the task" 3 "$(s_calls l)"
gap=$(am_calc 'a - s' a="$(am_iso_to_s "$(jq -r .active_start <<<"$job")")" \
                      s="$(am_iso_to_s "$(jq -r .submitted <<<"$job")")")
am_say "last attempt started ${gap}s after submit"
#   200 ms + 400 ms, less 10 ms for the broker's timer granularity
am_cond 'gap >= 0.59' gap="$gap" \
    || am_fail "the 3rd attempt started ${gap}s after submit: expected >= 0.6 s (200 ms + 400 ms of backoff)"
am_cond 'gap < 5' gap="$gap" \
    || am_fail "the 3rd attempt started ${gap}s after submit: the backoff is capped at 1 s"
am_say "ok: backoff 200 ms, 400 ms"

am_check "no attempt ran after the jobs completed (the call counts did not grow)"
am_assert_eq "all counts" "3 5 1 1 13 3 3" \
    "$(for x in f g h i j k l; do s_calls $x; done | xargs)"
am_say "PASS"
