#!/usr/bin/env bash
#   Numbers out of range on the wire and on the command line: every number
#   is range-checked before any arithmetic (docs/protocol.md, "Numbers").
#   A raw sender (tests/integration/rawsend.c) sends what asyncctl cannot
#   express:
#     - LIST/COUNT with `since` = inf, -inf, nan, 1e300, -1 (the broker
#       converted since * 1e6 to int64: undefined for these; the sanitized
#       broker died on it);
#     - EVERY-SET with `interval_ms` = 2^63-1, -2^63, -1 (interval_ms * 1000
#       overflowed before the range check);
#     - SUBMIT with `begin_after` = "+104000000d" (now + 8.99e18 us) and
#       `begin_by` = 1e12 s: their sum overflowed int64;
#   each gets ERROR code 6 with a reason, a sane `since` (3600, 0) still
#   answers, asyncctl refuses a huge --since with exit 2, and the broker
#   is the same process and answers PING after each. A fake node then
#   reports progress done = total = 10^17 (and -5/10, 20/10): asyncctl
#   wait --progress draws 100% (it computed done * 100 in int64).
source "$(dirname "$0")/../helpers/lib.sh"

RAWSEND=$AM_BUILD/tests/rawsend
[ -x "$RAWSEND" ] || am_fail "$RAWSEND is missing; build first (cmake --build build)"

#   The fake node below answers no PING: it must not be declared dead
am_broker_start --dead-after 1d
broker_pid=$AM_BROKER_PID

#   The broker answers PING and is still the process we started
s_alive () {
    am_pid_gone "$broker_pid" && am_fail "the broker exited after $1 (see broker.log)"
    local reply
    reply=$("$RAWSEND" "$AM_ENDPOINT" PING) || am_fail "no PONG after $1"
    case $reply in PONG*) ;; *) am_fail "PING after $1 got: $reply";; esac
}

#   s_refused WHAT COMMAND FIELD...: the reply is ERROR with code 6
s_refused () {
    local what=$1 reply code; shift
    reply=$("$RAWSEND" "$AM_ENDPOINT" "$@") \
        || { s_alive "$what"; am_fail "no reply to $what"; }
    case $reply in
        ERROR\ *) ;;
        *) s_alive "$what"; am_fail "$what: expected ERROR 6, got: $reply";;
    esac
    code=$(jq -r .code <<<"${reply#ERROR }")
    am_assert_eq "$what: error code" 6 "$code" >/dev/null
    am_say "ok: $what refused: $(jq -r .message <<<"${reply#ERROR }")"
    s_alive "$what"
}

#   s_answered WHAT REPLY-COMMAND COMMAND FIELD...: the reply is REPLY-COMMAND
s_answered () {
    local what=$1 want=$2 reply; shift 2
    reply=$("$RAWSEND" "$AM_ENDPOINT" "$@") || { s_alive "$what"; am_fail "no reply to $what"; }
    case $reply in
        "$want "*) am_say "ok: $what answered $want";;
        *) am_fail "$what: expected $want, got: $reply";;
    esac
    s_alive "$what"
}

am_check "LIST/COUNT since: inf, -inf, nan, 1e300, -1 are refused"
for since in inf -inf nan 1e300 -1 1e13; do
    s_refused "COUNT since=$since" COUNT 'status:=["completed"]' "since~=$since"
    s_refused "LIST since=$since" LIST "since~=$since" 'limit:=10'
done
s_refused "COUNT since=2^63-1 (an integer)" COUNT 'since:=9223372036854775807'
s_refused "COUNT since as a string" COUNT 'since=1h'

am_check "a sane since still answers"
s_answered "COUNT since=3600" COUNT COUNT 'status:=["completed"]' 'since~=3600'
s_answered "COUNT since=0" COUNT COUNT 'since:=0'
s_answered "LIST since=1e12 (the largest)" JOBS LIST 'since~=1e12' 'limit:=-9223372036854775808'

am_check "EVERY-SET interval_ms: 2^63-1, -2^63, -1 are refused"
spec='spec:={"task":"testing.mul","args":[6,7]}'
for ms in 9223372036854775807 -9223372036854775808 -1 9223372036854776 0; do
    s_refused "EVERY-SET interval_ms=$ms" EVERY-SET name=bad "interval_ms:=$ms" "$spec"
done
s_answered "EVERY-SET interval_ms=60000" OK EVERY-SET name=fine 'interval_ms:=60000' "$spec"
s_answered "EVERY-DELETE" OK EVERY-DELETE name=fine

am_check "SUBMIT: a time plus a duration beyond int64 is refused"
s_refused "SUBMIT begin_after=+104000000d begin_by=1e12" SUBMIT \
    'spec:={"task":"testing.mul","args":[6,7],"begin_after":"+104000000d","begin_by":1e12}'
s_refused "SUBMIT begin_after=+1e300s" SUBMIT \
    'spec:={"task":"testing.mul","args":[6,7],"begin_after":"+1e300s"}'
s_refused "SUBMIT timeout=nan-like 1e300" SUBMIT \
    'spec:={"task":"testing.mul","args":[6,7],"timeout":1e300}'
s_refused "SUBMIT begin_by=-1" SUBMIT 'spec:={"task":"testing.mul","begin_by":-1}'
s_refused "SUBMIT retry backoff=1e300s" SUBMIT \
    'spec:={"task":"testing.mul","retry":"attempts=3,backoff=1e300s"}'

am_check "asyncctl refuses what it cannot send, with exit 2"
for since in 1e300 20000000000000 inf nan -1h; do
    rc=0; err=$(am_ctl count completed --since "$since" 2>&1 >/dev/null) || rc=$?
    am_assert_eq "asyncctl count --since $since: exit code" 2 "$rc" >/dev/null
    [ "$(wc -l <<<"$err")" = 1 ] || am_fail "asyncctl --since $since: not one line: $err"
done
am_say "ok: asyncctl --since 1e300/2e13/inf/nan/-1h exit 2"
rc=0; am_ctl every huge 1e300s 'testing.mul 6 7' 2>/dev/null || rc=$?
am_assert_eq "asyncctl every huge 1e300s: exit code" 2 "$rc" >/dev/null
am_assert_eq "asyncctl count completed --since 1h" 0 "$(am_ctl count completed --since 1h)" >/dev/null

am_check "asyncbroker and asyncnode refuse numbers out of range, and a dead time under two heartbeats (exit 2, one line)"
for flags in "--retention 2e12" "--retention 1e300" "--heartbeat 1e300" "--dead-after nan" \
             "--spin inf" "--pending-window 99999999999999999999" \
             "--min-free 99999999999999999999G" "--min-free 9999999999G" \
             "--heartbeat 1s --dead-after 1500ms"; do
    rc=0
    # shellcheck disable=SC2086
    err=$(timeout 10 "$AM_BIN/asyncbroker" --data "$AM_TMP/unused" \
          --bind "tcp://127.0.0.1:$(am_free_port)" $flags 2>&1 >/dev/null) || rc=$?
    am_assert_eq "asyncbroker $flags: exit code" 2 "$rc" >/dev/null
    [ "$(wc -l <<<"$err")" = 1 ] || am_fail "asyncbroker $flags: not one line: $err"
done
for flags in "--heartbeat 1e300" "--dead-after inf" "--agent main:99999999999999999999" \
             "--heartbeat 2s --dead-after 3s"; do
    rc=0
    # shellcheck disable=SC2086
    err=$(cd "$AM_TMP" && timeout 10 "$AM_BIN/asyncnode" --broker "tcp://127.0.0.1:1" \
          $flags 2>&1 >/dev/null) || rc=$?
    am_assert_eq "asyncnode $flags: exit code" 2 "$rc" >/dev/null
    [ "$(wc -l <<<"$err")" = 1 ] || am_fail "asyncnode $flags: not one line: $err"
done
am_say "ok: asyncbroker and asyncnode exit 2 on huge, infinite and NaN values"

am_check "asyncctl wait --progress: any done/total a task reports"
#   A fake node (rawsend --id) takes a job and reports progress done =
#   total = 10^17: asyncctl's bar computed done * 100 in int64 (overflow:
#   the sanitized asyncctl died, the plain one printed -84%)
command -v script >/dev/null || am_fail "'script' is not installed (apt-get install bsdutils)"
node_uuid=5e0b2c1d-9a8f-4e7d-8c6b-5a4f3e2d1c0b
"$RAWSEND" --id fakenode --then ASSIGN "$AM_ENDPOINT" HELLO uuid=$node_uuid uuid_key=5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e \
    session=6e0b2c1d-9a8f-4e7d-8c6b-5a4f3e2d1c0b 'agents:=[{"name": "main", "size": 1}]' \
    'tasks:=["fake.progress"]' >"$AM_TMP/fake.out" 2>&1 &
fake=$!
AM_PIDS+=("$fake")
am_wait_for "the fake node's WELCOME" 10 grep -q '^WELCOME' "$AM_TMP/fake.out"
job=$(am_ctl submit fake.progress)
rc=0; wait "$fake" || rc=$?
[ $rc = 0 ] || am_fail "the fake node got no ASSIGN: $(cat "$AM_TMP/fake.out")"
token=$(grep '^ASSIGN' "$AM_TMP/fake.out" | grep -o '"token":[0-9]*' | cut -d: -f2)
[ -n "$token" ] || am_fail "no token in the ASSIGN: $(cat "$AM_TMP/fake.out")"
for progress in "100000000000000000 100000000000000000 100" "-5 10 0" \
                "9223372036854775807 9223372036854775807 100" "20 10 100"; do
    read -r amount total want <<<"$progress"
    "$RAWSEND" --id fakenode --no-reply "$AM_ENDPOINT" PROGRESS id="$job" "token:=$token" \
        "progress:={\"done\": $amount, \"total\": $total}"
    am_wait_for "the job's progress to be $amount/$total" 10 \
        am_job_field "$job" ".progress.done == $amount and .progress.total == $total"
    rc=0
    out=$(script -qec "$AM_BIN/asyncctl --broker $AM_ENDPOINT wait --progress --timeout 1s $job" \
          /dev/null 2>&1) || rc=$?
    grep -q "runtime error" <<<"$out" && am_fail "asyncctl wait --progress ($amount/$total): $out"
    am_assert_eq "asyncctl wait --progress ($amount/$total): exit code (timed out)" 3 "$rc" >/dev/null
    percent=$(grep -o '[-0-9]*%' <<<"$out" | tail -n 1)
    am_assert_eq "asyncctl wait --progress ($amount/$total): percent" "$want%" "$percent" >/dev/null
done
am_say "ok: the progress bar shows 100%, 0%, 100%, 100% for 10^17/10^17, -5/10, (2^63-1)/(2^63-1), 20/10"
s_alive "PROGRESS with huge numbers"

am_check "afterwards: the same broker runs jobs"
am_node_start node1 --module "$AM_TESTING_SO"
am_assert_eq "result of testing.mul 6 7" 42 \
    "$(am_ctl submit --wait --wait-timeout 15s testing.mul 6 7)" >/dev/null
am_assert_eq "broker starts" 1 "$AM_BROKER_STARTS"
am_pid_gone "$broker_pid" && am_fail "the broker exited"
am_say "PASS"
