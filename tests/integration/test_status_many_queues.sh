#!/usr/bin/env bash
#   STATUS is bounded whatever the number of queues (docs/protocol.md
#   STATUS, Limits): with 20,000 queues of one pending job each (a store
#   written by tests/store_live) and a queue "zbig" of three, STATUS (and
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
am_broker_start --http "$HTTP"
for i in 1 2 3; do
    am_ctl submit --queue zbig testing.noop >/dev/null
done

am_check "STATUS lists 1000 queues, the largest first, and counts the rest"
am_ctl status >"$AM_TMP/status.json"
size=$(wc -c <"$AM_TMP/status.json")
am_say "STATUS: $size bytes"
[ "$size" -lt 262144 ] || am_fail "STATUS is $size bytes"
am_assert_eq "queues listed" 1000 "$(jq '.queues | length' "$AM_TMP/status.json")"
am_assert_eq "queues_more" "$((QUEUES + 1 - 1000))" "$(jq .queues_more "$AM_TMP/status.json")"
am_assert_eq "the first queue" '"zbig" 3' \
    "$(jq -r '.queues | to_entries[0] | "\"\(.key)\" \(.value.pending)"' "$AM_TMP/status.json")"
am_assert_eq "the next ones, by name" "q000000 q000001" \
    "$(jq -r '[.queues | to_entries[1,2] | .key] | join(" ")' "$AM_TMP/status.json")"
am_assert_eq "nodes_more" 0 "$(jq .nodes_more "$AM_TMP/status.json")"
code=$(curl -sS -o "$AM_TMP/api-status" -w '%{http_code}' "http://$HTTP/api/status")
am_assert_eq "/api/status" "200 1000" "$code $(jq '.queues | length' "$AM_TMP/api-status")"

am_check "the pending jobs of every queue are counted and listed"
am_assert_eq "asyncctl count pending" "$((QUEUES + 3))" "$(am_ctl count pending)"
am_ctl jobs pending --limit 0 | jq -r .queue >"$AM_TMP/queues"
am_assert_eq "pending jobs listed" "$((QUEUES + 3))" "$(wc -l <"$AM_TMP/queues")"
LC_ALL=C sort -c "$AM_TMP/queues" || am_fail "the queues are not walked in name order"

am_say "PASS"
