#!/usr/bin/env bash
#   STATUS is bounded whatever the number of queues (docs/protocol.md
#   STATUS, Limits): with 20,000 queues of one pending job each (a store
#   written by tests/store_live), a queue "zbig" of three and a queue
#   "later" of two jobs scheduled an hour from now, STATUS (and
#   /api/status) lists 1000 queues, those with the most jobs first, then by
#   name, and says how many it left out (`queues_more`). Pending jobs over
#   all those queues are still counted and listed in order, each once.
#
#   Before, STATUS listed every queue: 20,001 entries here, and an 18 MB
#   reply with 300,000 queues.
source "$(dirname "$0")/../helpers/lib.sh"

QUEUES=${AM_STATUS_QUEUES:-20000}

am_check "a store of $QUEUES queues of one pending job each"
"$AM_BUILD/tests/store_live" "$AM_DATA" "$QUEUES" "$QUEUES" || am_fail "store_live failed"
HTTP=127.0.0.1:$(am_free_port)
AM_BROKER_START_S=120   #   it recovers every live job first
am_broker_start --http "$HTTP"
for i in 1 2 3; do
    am_ctl submit --queue zbig testing.noop >/dev/null
done
#   Two jobs scheduled an hour from now, in a queue of their own
jq -cn '{queue: "later", parallel: [range(2) | {task: "testing.noop", begin_after: "+1h"}]}' \
    >"$AM_TMP/later.json"
am_ctl submit --spec "$AM_TMP/later.json" >/dev/null

am_check "STATUS lists 1000 queues, the largest first, and counts the rest"
am_ctl status >"$AM_TMP/status.json"
size=$(wc -c <"$AM_TMP/status.json")
am_say "STATUS: $size bytes"
[ "$size" -lt 262144 ] || am_fail "STATUS is $size bytes"
am_assert_eq "queues listed" 1000 "$(jq '.queues | length' "$AM_TMP/status.json")"
am_assert_eq "queues_more" "$((QUEUES + 2 - 1000))" "$(jq .queues_more "$AM_TMP/status.json")"
am_assert_eq "the first queue" '"zbig" 3' \
    "$(jq -r '.queues | to_entries[0] | "\"\(.key)\" \(.value.pending)"' "$AM_TMP/status.json")"
am_assert_eq "the second queue" '"later" 0 2' \
    "$(jq -r '.queues | to_entries[1] | "\"\(.key)\" \(.value.pending) \(.value.scheduled)"' \
       "$AM_TMP/status.json")"
am_assert_eq "the next ones, by name" "q000000 q000001" \
    "$(jq -r '[.queues | to_entries[2,3] | .key] | join(" ")' "$AM_TMP/status.json")"
am_assert_eq "nodes_more" 0 "$(jq .nodes_more "$AM_TMP/status.json")"
code=$(curl -sS -o "$AM_TMP/api-status" -w '%{http_code}' "http://$HTTP/api/status")
am_assert_eq "/api/status" "200 1000" "$code $(jq '.queues | length' "$AM_TMP/api-status")"

am_check "the pending jobs of every queue are counted and listed"
am_assert_eq "asyncctl count pending" "$((QUEUES + 5))" "$(am_ctl count pending)"
#   In dispatch order: the queues by name, then the scheduled jobs
am_ctl jobs pending --limit 0 | jq -r .queue >"$AM_TMP/queues"
am_assert_eq "pending jobs listed" "$((QUEUES + 5))" "$(wc -l <"$AM_TMP/queues")"
head -n -2 "$AM_TMP/queues" >"$AM_TMP/queued"
LC_ALL=C sort -c "$AM_TMP/queued" || am_fail "the queues are not walked in name order"

am_say "PASS"
