#!/usr/bin/env bash
#   `asyncctl count` with more than one status prints one figure each, as
#   a JSON object in the order given ({"succeeded": 2, "failed": 1}); with
#   one status, one number as before (docs/spec.md section 5); --total, one
#   number for all (each job once). Before, the figures were summed into
#   one number.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO"
for i in 1 2; do am_ctl submit --wait --wait-timeout 30s testing.mul 6 7 >/dev/null; done
rc=0; am_ctl submit --wait --wait-timeout 30s testing.fail ValueError boom >/dev/null || rc=$?
am_assert_eq "exit of the failing job" 1 "$rc"

am_check "one status: one number"
am_assert_eq "count succeeded" 2 "$(am_ctl count succeeded)"
am_assert_eq "count failed" 1 "$(am_ctl count failed)"
am_assert_eq "count completed" 3 "$(am_ctl count completed)"

am_check "more statuses: one figure each, in the order given"
am_assert_eq "count succeeded failed" '{"succeeded":2,"failed":1}' \
    "$(am_ctl count succeeded failed | jq -c .)"
am_assert_eq "count failed pending completed" '{"failed":1,"pending":0,"completed":3}' \
    "$(am_ctl count failed pending completed | jq -c .)"
am_assert_eq "count succeeded failed --task testing.fail" '{"succeeded":0,"failed":1}' \
    "$(am_ctl count succeeded failed --task testing.fail | jq -c .)"
am_assert_eq "keys in the order given" "failed succeeded" \
    "$(am_ctl count failed succeeded | jq -r 'keys_unsorted | join(" ")')"

am_check "--total: one number, the jobs of any of the statuses, each once"
am_assert_eq "count succeeded failed --total" 3 "$(am_ctl count succeeded failed --total)"
am_assert_eq "count completed failed --total" 3 "$(am_ctl count completed failed --total)"
am_assert_eq "count pending active --total" 0 "$(am_ctl count pending active --total)"

am_check "a status that is not one: exit 2"
rc=0; am_ctl count succeeded nonsense >/dev/null 2>&1 || rc=$?
am_assert_eq "exit of count succeeded nonsense" 2 "$rc"
am_say "PASS"
