#!/usr/bin/env bash
#   One RESULT with 1,000 results for jobs the broker does not know (stale
#   or made up) is rejected entry by entry, but does not write 1,000 log
#   lines: at most 10 job.reassigned lines a second, and one
#   results.rejected line with the count of the rest.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
uuid=$(am_uuid)
results=$(jq -nc '[range(1000) | {id: ("00000000-0000-4000-8000-" + (1000000000000 + . | tostring)[1:]), token: 1, result: 1}]')
hello="{\"uuid\": \"$uuid\", \"uuid_key\": \"5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e\", \"session\": \"$uuid\", \"agents\": [{\"name\": \"main\", \"size\": 1}]}"
out=$("$AM_BUILD/tests/rawreq" "$AM_ENDPOINT" HELLO "$hello" RESULT "{\"results\": $results}")
am_assert_eq "replies" "WELCOME ACK" "$(jq -r .command <<<"$out" | tr '\n' ' ' | sed 's/ $//')"
am_assert_eq "entries rejected in the ACK" 1000 \
    "$(jq -r 'select(.command == "ACK") | [.body.acks[] | select(.rejected == 1)] | length' <<<"$out")"

s_counted () { grep -q "results.rejected count=990 " "$AM_TMP/broker.log"; }
am_wait_for "the count of the rejected results not logged one by one" 5 s_counted
am_assert_eq "job.reassigned lines" 10 "$(grep -c "job.reassigned" "$AM_TMP/broker.log")"
am_say "PASS"
