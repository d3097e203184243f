#!/usr/bin/env bash
#   A RESULT's started_ago_us cannot place the attempt's start before the
#   job could be handed out (docs/protocol.md, RESULT): a job with
#   begin_after 2 s after its submission is taken by a fake node
#   (rawsend --id), which reports that it started an hour ago. The job's
#   active_start is its begin_after, not earlier. Before, the start was
#   only kept from before the job's `submitted`: a node could date a run
#   from before the job was due.
source "$(dirname "$0")/../helpers/lib.sh"
RAWSEND=$AM_BUILD/tests/rawsend

am_broker_start
node_uuid=$(am_uuid)
printf '{"task": "fake.clamp", "begin_after": "+2s"}\n' >"$AM_TMP/spec.json"
job=$(am_ctl submit --spec "$AM_TMP/spec.json")
"$RAWSEND" --id fakenode --then ASSIGN "$AM_ENDPOINT" HELLO uuid="$node_uuid" \
    uuid_key=5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e \
    session="$(am_uuid)" 'agents:=[{"name": "main", "size": 1}]' \
    'tasks:=["fake.clamp"]' >"$AM_TMP/fake.out" 2>&1 \
    || am_fail "the fake node got no ASSIGN: $(cat "$AM_TMP/fake.out")"
token=$(grep '^ASSIGN' "$AM_TMP/fake.out" | grep -o '"token":[0-9]*' | cut -d: -f2)
[ -n "$token" ] || am_fail "no token in the ASSIGN: $(cat "$AM_TMP/fake.out")"

am_check "a RESULT that says the attempt started an hour ago"
out=$("$RAWSEND" --id fakenode "$AM_ENDPOINT" RESULT id="$job" "token:=$token" \
      'result:=1' 'started_ago_us:=3600000000' 'ended_ago_us:=0')
case $out in ACK*) ;; *) am_fail "the RESULT: $out" ;; esac
am_wait_for "job $job to complete" 10 am_job_is "$job" completed
record=$(am_ctl job "$job")
begin=$(am_iso_to_s "$(jq -r .begin_after <<<"$record")") || am_fail "no begin_after: $record"
start=$(am_iso_to_s "$(jq -r .active_start <<<"$record")") || am_fail "no active_start: $record"
end=$(am_iso_to_s "$(jq -r .active_end <<<"$record")") || am_fail "no active_end: $record"
am_cond 'a >= b' a="$start" b="$begin" \
    || am_fail "active_start $start is before begin_after $begin"
am_cond 'a <= b' a="$start" b="$end" || am_fail "active_start $start is after active_end $end"
am_say "PASS"
