#!/usr/bin/env bash
#   LIST and COUNT with the status `scheduled` (docs/protocol.md, LIST): the
#   pending jobs waiting for a time only, however many ready jobs wait in
#   their queues before them in the walk. Before it, a listing of the
#   scheduled jobs had to page through every ready job first (the
#   dashboard's Scheduled view showed "none on this page").
source "$(dirname "$0")/../helpers/lib.sh"

HTTP=127.0.0.1:$(am_free_port)
am_broker_start --http "$HTTP"

am_check "60 ready jobs (no node) and 2 that begin in an hour"
for _ in $(seq 60); do am_ctl submit --queue ready testing.noop >/dev/null; done
later=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
a=$(am_ctl submit --queue ready --begin-after "$later" testing.ret 1)
b=$(am_ctl submit --queue other --begin-after "$later" testing.ret 2)

am_assert_eq "count scheduled" 2 "$(am_ctl count scheduled)"
am_assert_eq "count pending (ready and scheduled)" 62 "$(am_ctl count pending)"
am_assert_eq "jobs scheduled: the two, soonest first" "$a $b" \
    "$(am_ctl jobs scheduled | jq -r .id | xargs)"
am_assert_eq "jobs scheduled --queue other" "$b" \
    "$(am_ctl jobs scheduled --queue other | jq -r .id | xargs)"
am_assert_eq "count scheduled pending: every pending job once" 62 \
    "$(am_ctl count scheduled pending --total)"

am_check "/api/jobs?status=scheduled: the first page holds them"
body=$(curl -sS "http://$HTTP/api/jobs?status=scheduled&limit=50")
am_assert_eq "ids on the first page" "$a $b" "$(jq -r '.[].id' <<<"$body" | xargs)"
am_assert_eq "their status" "pending pending" "$(jq -r '.[].status' <<<"$body" | xargs)"
am_say "PASS"
