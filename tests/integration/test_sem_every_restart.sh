#!/usr/bin/env bash
#   A recurring schedule across a broker SIGKILL and restart (docs/spec.md
#   section 5, `every`): each tick submits at most one job, none twice,
#   and the ticks that fell due while the broker was down are coalesced
#   into one job when it is back (test_every_catchup.sh counts them).
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:4
record=$AM_TMP/node1/ticks.txt

s_lines_at_least () { [ "$(wc -l < "$record" 2>/dev/null || echo 0)" -ge "$1" ]; }
s_completed_at_least () { [ "$(am_ctl count completed --task testing.record)" -ge "$1" ]; }
s_none_running () { [ "$(am_ctl count pending assigned active --task testing.record --total)" = 0 ]; }

am_check "every tick 1s 'testing.record ticks.txt t' runs once a second"
am_ctl every tick 1s "testing.record $record t"
am_wait_for "three ticks to have run" 10 s_lines_at_least 3

am_check "SIGKILL the broker, leave it down across ticks, restart it"
am_broker_kill
down_from=$(am_now)
sleep 2.5                           #   the fault: ticks fall while it is down
am_broker_restart
am_wait_for "the node to be back" 15 am_node_listed "${AM_NODE_UUID[node1]}"
am_wait_for "ticks after the restart" 15 s_completed_at_least 9
am_ctl every delete tick
am_wait_for "nothing left running" 10 s_none_running

am_check "no tick ran twice: tick times on the 1 s grid, no key twice, one job for the outage"
keys=$(am_ctl jobs completed --task testing.record --limit 0 | jq -r .key | sort)
count=$(wc -l <<<"$keys")
unique=$(sort -u <<<"$keys" | wc -l)
am_assert_eq "distinct tick keys" "$count" "$unique"
ticks=$(sed 's/^every:tick://' <<<"$keys" | sort -n)
diffs=$(awk 'NR > 1 { print $1 - prev } { prev = $1 }' <<<"$ticks")
bad=$(awk '$1 <= 0 || $1 % 1000000 != 0' <<<"$diffs")
[ -z "$bad" ] || am_fail "tick times off the 1 s grid or doubled (differences in us): $bad"
#   Down for 2.5 s: at least two ticks were due at the restart, one job ran
awk '$1 >= 2000000 { found = 1 } END { exit !found }' <<<"$diffs" \
    || am_fail "no tick skipped across the outage: the missed ticks were not coalesced"
lines=$(wc -l < "$record")
am_assert_eq "testing.record lines (runs) = jobs" "$count" "$lines"
am_say "ticks: $count, on the 1 s grid, broker down for 2.5 s from $down_from"
