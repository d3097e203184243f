#!/usr/bin/env bash
#   Priorities (docs/spec.md section 2): within a queue, a higher priority runs
#   first, FIFO within one priority. Idempotency keys: submitting again with
#   the key of a live or retained job returns that job's id and creates
#   nothing.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start

#   ---- priorities: queued with no node up, then one node with one slot
am_check "queued with no node: record low (priority 0), high (10), low2 (0), mid (5); one slot runs high, mid, low, low2"
ids=()
ids+=("$(am_ctl submit --priority 0 testing.record order low)")
ids+=("$(am_ctl submit --priority 10 testing.record order high)")
ids+=("$(am_ctl submit --priority 0 testing.record order low2)")
ids+=("$(am_ctl submit --priority 5 testing.record order mid)")
am_assert_eq "pending before any node" 4 "$(am_ctl count pending)"
am_assert_eq "priority in the job JSON" 10 "$(am_job_field "${ids[1]}" .priority)"
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
for id in "${ids[@]}"; do am_wait_exits "$id" 0; done
am_assert_eq "the order the jobs ran in" "high mid low low2" \
    "$(awk '{print $1}' "$AM_TMP/node1/order" | xargs)"

#   ---- keys
am_check "--key K twice on a live job: the same id, one job"
blocks_before=$(am_ctl jobs --task testing.block | wc -l)
k1=$(am_ctl submit --key K testing.block gate)
k2=$(am_ctl submit --key K testing.block other)
am_say "first $k1, second $k2"
am_assert_eq "id of the second submit" "$k1" "$k2"
am_assert_eq "testing.block jobs created" 1 $(( $(am_ctl jobs --task testing.block | wc -l) - blocks_before ))
am_assert_eq "key in the job JSON" K "$(am_job_field "$k1" .key)"
am_assert_eq "args are those of the first submit" '["gate"]' "$(am_ctl job "$k1" | jq -c .args)"

am_check "--key K again once that job completed (retained): the same id, nothing runs"
touch "$AM_TMP/node1/gate"
am_wait_exits "$k1" 0
am_assert_eq "result" 42 "$AM_OUT"
k3=$(am_ctl submit --key K testing.ret again)
am_assert_eq "id of the third submit" "$k1" "$k3"
am_assert_eq "status of the job" completed "$(am_job_field "$k1" .status)"
am_assert_eq "jobs of testing.ret" 0 "$(am_ctl jobs --task testing.ret | wc -l)"

am_check "another key makes another job"
k4=$(am_ctl submit --key K2 testing.ret 3)
[ "$k4" != "$k1" ] || am_fail "key K2 returned the id of key K's job"
am_wait_exits "$k4" 0
am_assert_eq "result of the K2 job" 3 "$AM_OUT"
am_say "PASS"
