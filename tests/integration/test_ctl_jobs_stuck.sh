#!/usr/bin/env bash
#   `asyncctl jobs --stuck [--over DUR]` lists the running jobs that look
#   stuck, with `stuck` saying why: running longer than DUR (default the
#   job's timeout, else 10 minutes), or on a node silent for over half the
#   broker's dead time (here SIGSTOPped, before the broker declares it
#   dead); not the jobs running normally, nor a job waiting on a hand-off.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start --dead-after 20s
am_node_start node1 --module "$AM_TESTING_SO" --agent main:4
a=$(am_ctl submit testing.block stop_a)
b=$(am_ctl submit --timeout 1h testing.block stop_b)
waiting=$(am_ctl submit testing.handoff testing.block stop_c)
am_wait_for "a to run" 10 am_job_is "$a" active
am_wait_for "b to run" 10 am_job_is "$b" active
handed_off () { am_ctl job "$waiting" | jq -e .handoff >/dev/null; }
am_wait_for "the hand-off" 10 handed_off

am_check "nothing is stuck yet: under 10 minutes, under b's timeout, node heard"
am_assert_eq "jobs --stuck" "" "$(am_ctl jobs --stuck)"

am_check "--over 1s: a and b (not the job waiting on its hand-off)"
stuck_ids () { am_ctl jobs --stuck "$@" | jq -r .id | sort | tr '\n' ' '; }
inner=$(am_ctl job "$waiting" | jq -r .handoff)
all=$(printf '%s\n' "$a" "$b" "$inner" | sort | tr '\n' ' ')
over_1s () { [ "$(stuck_ids --over 1s --task testing.block)" = "$all" ]; }
am_wait_for "a, b and the inner job to run over 1 s" 10 over_1s
am_assert_eq "--over 1s lists no waiting job" 0 \
    "$(am_ctl jobs --stuck --over 1s | jq -r "select(.id == \"$waiting\")" | wc -l)"
why=$(am_ctl jobs --stuck --over 1s | jq -r "select(.id == \"$a\") | .stuck")
[[ $why == "running for "*", over 1.0s" ]] || am_fail "why a is stuck: $why"
am_assert_eq "--limit 1" 1 "$(am_ctl jobs --stuck --over 1s --limit 1 | wc -l)"

am_check "a silent node: its jobs are stuck after half the dead time"
kill -STOP "${AM_NODE_PID[node1]}"
silent () { [ "$(stuck_ids --task testing.block)" = "$all" ]; }
am_wait_for "the node's jobs to show stuck (node silent over 10 s)" 18 silent
why=$(am_ctl jobs --stuck | jq -r "select(.id == \"$b\") | .stuck")
[[ $why == "its node silent for "*", dead after 20.0s" ]] || am_fail "why b is stuck: $why"
kill -CONT "${AM_NODE_PID[node1]}"
heard () { [ "$(am_ctl jobs --stuck)" = "" ]; }
am_wait_for "the node to be heard again" 10 heard

am_check "usage errors"
rc=0; am_ctl jobs --over 1s >/dev/null 2>&1 || rc=$?
am_assert_eq "--over without --stuck: exit code" 2 "$rc"
rc=0; am_ctl jobs active --stuck >/dev/null 2>&1 || rc=$?
am_assert_eq "a STATUS with --stuck: exit code" 2 "$rc"
rc=0; am_ctl jobs --stuck --over soon >/dev/null 2>&1 || rc=$?
am_assert_eq "--over soon: exit code" 2 "$rc"
touch "$AM_TMP/node1/stop_a" "$AM_TMP/node1/stop_b" "$AM_TMP/node1/stop_c"
am_say "PASS"
