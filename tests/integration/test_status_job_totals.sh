#!/usr/bin/env bash
#   `status` counts the same jobs on every side of its totals: a parallel
#   job of two children with a callback, and a failing job, are 5 jobs
#   submitted and 5 completed (1 failed, 4 succeeded), not 2 submitted
#   (the top-level jobs) against 5 completed (every job).
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:2
parent=$(am_ctl parallel --callback 'testing.ret' 'testing.sleep 0' 'testing.sleep 0')
failing=$(am_ctl submit testing.fail ValueError nope)
am_ctl wait "$parent" --timeout 10s >/dev/null
rc=0; am_ctl wait "$failing" --timeout 10s >/dev/null || rc=$?
am_assert_eq "the failing job failed" 1 "$rc"
all_done () { [ "$(am_ctl count pending assigned active callbacks --total)" = 0 ]; }
am_wait_for "every job (the callback too) to complete" 10 all_done

am_check "the totals count the same jobs on every side"
totals=$(am_ctl status --json | jq -c .jobs)
am_say "jobs: $totals"
am_assert_eq "submitted" 5 "$(jq .submitted <<<"$totals")"
am_assert_eq "completed" 5 "$(jq .completed <<<"$totals")"
am_assert_eq "succeeded" 4 "$(jq .succeeded <<<"$totals")"
am_assert_eq "failed" 1 "$(jq .failed <<<"$totals")"
am_assert_eq "completed, as count says" "$(am_ctl count completed)" "$(jq .completed <<<"$totals")"
am_assert_eq "failed, as count says" "$(am_ctl count failed)" "$(jq .failed <<<"$totals")"
am_say "PASS"
