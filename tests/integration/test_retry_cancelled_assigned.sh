#!/usr/bin/env bash
#   A job cancelled while assigned (its node, stopped, never said STARTED)
#   fails after the cancel's grace period; retried, its next attempt must
#   get a number, and so a fencing token, of its own. It used to be
#   handed out again as the same attempt 1: a late RESULT of the
#   cancelled attempt would have counted for the retried one.
source "$(dirname "$0")/../helpers/lib.sh"

#   A long dead time: the stopped node is not declared dead (which
#   counts the attempt another way) before the cancel's 5 s grace ends
am_broker_start --dead-after 60s
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
npid=${AM_NODE_PID[node1]}
kill -STOP "$npid"
id=$(am_ctl submit testing.ret 7)
am_wait_for "the job assigned to the stopped node" 10 am_job_is "$id" assigned
am_ctl cancel "$id"
am_wait_for "the cancel's grace to end" 20 am_job_is "$id" completed
am_assert_eq "failure of the cancelled job" CancelledError "$(am_job_field "$id" .failure.type)"
am_assert_eq "attempts of the cancelled job (the one handed out counts)" 1 \
    "$(am_job_field "$id" .attempts)"
am_ctl retry "$id"
kill -CONT "$npid"
am_assert_eq "result of the retried job" 7 "$(am_ctl wait "$id" --timeout 30s)"
am_assert_eq "attempts after the retry" 2 "$(am_job_field "$id" .attempts)"
am_say "PASS"
