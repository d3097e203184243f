#!/usr/bin/env bash
#   One RESULT carries at most 4,096 `results` (docs/protocol.md sections 6
#   and 9): a raw peer says HELLO, then sends one RESULT with 10,000 entries
#   for jobs the broker does not know. The broker reads the first 4,096
#   (the ACK has 4,096 entries, each rejected), ignores the other 5,904 and
#   counts them in one results.capped warning that names the node.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
uuid=$(am_uuid)
#   About 700 KB: from a file, too long for one argument
jq -nc '{results: [range(10000) | {id: ("00000000-0000-4000-8000-" + (1000000000000 + . | tostring)[1:]), token: 1, result: 1}]}' \
    >"$AM_TMP/result.json"
hello="{\"uuid\": \"$uuid\", \"uuid_key\": \"5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e\", \"session\": \"$uuid\", \"agents\": [{\"name\": \"main\", \"size\": 1}]}"
out=$("$AM_BUILD/tests/rawreq" -t 10000 "$AM_ENDPOINT" HELLO "$hello" RESULT "@$AM_TMP/result.json")
am_assert_eq "replies" "WELCOME ACK" "$(jq -r .command <<<"$out" | tr '\n' ' ' | sed 's/ $//')"
am_assert_eq "entries in the ACK" 4096 \
    "$(jq -r 'select(.command == "ACK") | .body.acks | length' <<<"$out")"
am_assert_eq "entries rejected in the ACK" 4096 \
    "$(jq -r 'select(.command == "ACK") | [.body.acks[] | select(.rejected == 1)] | length' <<<"$out")"

s_capped () { grep -q "results.capped node=$uuid count=5904 " "$AM_TMP/broker.log"; }
am_wait_for "the warning that counts the ignored entries" 5 s_capped
am_assert_eq "results.capped lines" 1 "$(grep -c "results.capped" "$AM_TMP/broker.log")"
am_ctl status >/dev/null || am_fail "the broker does not answer after the RESULT"
am_say "PASS"
