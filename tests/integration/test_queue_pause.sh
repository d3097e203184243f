#!/usr/bin/env bash
#   A paused queue hands out none of its jobs while a node that serves it
#   is idle; submits to it are accepted; the pause holds across a SIGKILL
#   of the broker and a restart; resumed, its job runs. Bad queue names and
#   forms are refused with their exit codes.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1@q1,other
s_paused () { am_ctl status | jq -c '.paused'; }
s_status () { am_ctl job "$1" | jq -r '.status'; }

am_check "pause q1 before it has a job: status and queue list show it"
am_ctl queue pause q1
am_ctl queue pause q1                   #   again: no error
am_assert_eq "status paused" '["q1"]' "$(s_paused)"
am_assert_eq "queue list, q1" '{"name":"q1","paused":true,"pending":0}' \
    "$(am_ctl queue list | jq -c 'select(.name == "q1") | {name, paused, pending}')"

am_check "a job submitted to q1 stays pending while the node runs a later job of another queue"
held=$(am_ctl submit --queue q1 testing.noop)
other=$(am_ctl submit --queue other testing.noop)
am_ctl wait "$other" --timeout 10s >/dev/null || am_fail "the job of queue other did not run"
#   The node took a job submitted after q1's: dispatch looked at q1 and
#   passed it by (without the pause q1's job, first in, would have gone first)
am_assert_eq "q1's job after the other ran" pending "$(s_status "$held")"
am_assert_eq "queue list, q1" '{"paused":true,"pending":1}' \
    "$(am_ctl queue list | jq -c 'select(.name == "q1") | {paused, pending}')"

am_check "SIGKILL the broker, restart it: q1 is still paused, its job still pending"
am_broker_kill
am_broker_restart
am_assert_eq "status paused after the restart" '["q1"]' "$(s_paused)"
other=$(am_ctl submit --queue other testing.noop)
am_ctl wait "$other" --timeout 20s >/dev/null || am_fail "the job of queue other did not run after the restart"
am_assert_eq "q1's job after the restart" pending "$(s_status "$held")"

am_check "resume q1: its job runs"
am_ctl queue resume q1
am_ctl queue resume q1                  #   again: no error
am_ctl wait "$held" --timeout 10s >/dev/null || am_fail "q1's job did not run once resumed"
am_assert_eq "status paused after resume" '[]' "$(s_paused)"

am_check "refusals: a bad name (exit 6), no name, an unknown form (exit 2)"
rc=0; am_ctl queue pause 'bad name!' 2>"$AM_TMP/err" || rc=$?
am_assert_eq "exit of a bad queue name" 6 "$rc"
grep -q "queue name" "$AM_TMP/err" || am_fail "no reason given: $(cat "$AM_TMP/err")"
rc=0; am_ctl queue pause "$(printf 'q%.0s' {1..201})" 2>/dev/null || rc=$?
am_assert_eq "exit of a queue name of 201 bytes" 6 "$rc"
rc=0; am_ctl queue pause 2>/dev/null || rc=$?
am_assert_eq "exit of pause without a name" 2 "$rc"
rc=0; am_ctl queue stop q1 2>/dev/null || rc=$?
am_assert_eq "exit of an unknown form" 2 "$rc"
am_assert_eq "status paused after the refusals" '[]' "$(s_paused)"
am_say "PASS"
