#!/usr/bin/env bash
#   A quota deleted and made again while jobs naming it run counts those
#   jobs: its `running` never goes below zero when they end, and its size
#   holds for the jobs after them (before, it counted from 0, went to -3,
#   and let 4 jobs of a size-1 quota run at once).
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:4
s_running () { am_ctl quota list | jq -r 'select(.name == "q") | .running'; }
s_active () { am_ctl count active --task testing.block; }

am_ctl quota set q 1
ids=()
for i in 1 2 3; do ids+=("$(am_ctl submit --quota q testing.block F$i)"); done
am_wait_for "one job of quota q to run" 10 am_count_is active 1
am_check "delete q: the three run; set q again (size 1) while they run"
am_ctl quota delete q
am_wait_for "the three jobs to run" 10 am_count_is active 3
am_ctl quota set q 1
am_assert_eq "q's running, made again under 3 running jobs" 3 "$(s_running)"

am_check "the three end: q's running is 0, not -3"
for i in 1 2 3; do touch "$AM_TMP/node1/F$i"; done
for id in "${ids[@]}"; do am_ctl wait "$id" --timeout 10s >/dev/null; done
am_assert_eq "q's running after they ended" 0 "$(s_running)"

am_check "q's size holds again: of 3 new jobs one runs at a time"
new=()
for i in 4 5 6; do new+=("$(am_ctl submit --quota q testing.block G$i)"); done
am_wait_for "one new job to run" 10 am_count_is active 1
sleep 0.5       #   a broker that let more run would have done so by now
am_assert_eq "active jobs of the size-1 quota" 1 "$(s_active)"
for i in 4 5 6; do touch "$AM_TMP/node1/G$i"; done
for id in "${new[@]}"; do am_ctl wait "$id" --timeout 15s >/dev/null; done
am_assert_eq "q's running at the end" 0 "$(s_running)"
am_say "PASS"
