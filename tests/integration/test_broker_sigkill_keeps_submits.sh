#!/usr/bin/env bash
#   Durability: 1,000 jobs submitted while no node runs; the broker is
#   killed with SIGKILL right after the last submit returned and restarted
#   on the same data dir. It still holds all 1,000 (the same ids, pending),
#   and a node that connects then completes every one of them.
source "$(dirname "$0")/../helpers/lib.sh"

N=1000
am_broker_start

am_check "$N submits of testing.noop (4 concurrent asyncctl loops) each return an id"
t0=$(am_now)
seq $N | xargs -P 4 -n 25 sh -c '
    broker=$1; shift
    for i; do "$0" --broker "$broker" submit testing.noop || exit 255; done
' "$AM_BIN/asyncctl" "$AM_ENDPOINT" >"$AM_TMP/ids" 2>"$AM_TMP/submit.log" \
    || am_fail "a submit failed (see submit.log)"
am_say "submitted in $(am_calc 'b - a' a="$t0" b="$(am_now)") s"
am_assert_eq "ids printed" $N "$(grep -cE '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' "$AM_TMP/ids")"
am_assert_eq "distinct ids" $N "$(sort -u "$AM_TMP/ids" | wc -l)"

am_broker_kill
am_broker_restart

am_check "after SIGKILL and restart: count pending = $N, and they are the submitted ids"
am_assert_eq "count pending" $N "$(am_ctl count pending)"
am_ctl jobs pending | jq -r .id | sort >"$AM_TMP/ids.pending"
sort "$AM_TMP/ids" >"$AM_TMP/ids.sorted"
diff "$AM_TMP/ids.sorted" "$AM_TMP/ids.pending" >"$AM_TMP/ids.diff" \
    || am_fail "the pending jobs differ from the submitted ones: $(head -n 5 "$AM_TMP/ids.diff")"
am_say "ok: all $N submitted ids are pending"

am_check "a node connects and all $N complete, successfully"
am_node_start node1 --module "$AM_TESTING_SO"
am_wait_for "count completed = $N" 60 am_count_is completed $N
am_assert_eq "count succeeded" $N "$(am_ctl count succeeded)"
am_assert_eq "count pending" 0 "$(am_ctl count pending)"
am_say "PASS"
