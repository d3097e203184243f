#!/usr/bin/env bash
#   begin_by (docs/spec.md section 2): a job not started within begin_by of its
#   begin_after never runs and completes with failure TimeoutError, when
#   begin_by passes, whether or not any node could take it; its callbacks
#   run (here once a node with testing.so is up).
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start

#   No node at all: nobody can start the jobs
am_check "--begin-by 1s on testing.noop with no node: wait gives TimeoutError within 5 s"
t0=$(am_ms)
id=$(am_ctl submit --begin-by 1s testing.noop)
cbid=$(am_ctl submit --begin-by 1s --callback testing.handle testing.noop)
am_wait_exits "$id" 1 5s
elapsed=$(( $(am_ms) - t0 ))
am_say "wait returned after $elapsed ms: $AM_OUT"
am_assert_eq "failure type" TimeoutError "$(jq -r .type <<<"$AM_OUT")"
[ $elapsed -ge 900 ] || am_fail "TimeoutError after $elapsed ms: begin_by is 1 s"
job=$(am_ctl job "$id")
am_assert_eq "attempts" 0 "$(jq -r .attempts <<<"$job")"
am_assert_eq "begin_by in the job is set" true "$(jq '.begin_by != null' <<<"$job")"

am_check "the other job missed its begin_by too, and is waiting for its callback"
#   (submitted a moment after the first, it may time out a moment later)
s_cb_waiting () { [ "$(am_job_field "$cbid" .status)" = callbacks ]; }
am_wait_for "the other job to wait for its callback" 5 s_cb_waiting
am_assert_eq "its status" callbacks "$(am_job_field "$cbid" .status)"

am_check "its callback runs once a node with testing.so is up; the job never ran"
am_node_start node1 --module "$AM_TESTING_SO"
cb=$(am_job_field "$cbid" '.callbacks[0]')
am_wait_exits "$cb" 0
am_assert_eq "result of the callback" '"handled TimeoutError"' "$AM_OUT"
am_wait_exits "$cbid" 1
am_assert_eq "failure type of the job" TimeoutError "$(jq -r .type <<<"$AM_OUT")"
am_assert_eq "attempts of the job" 0 "$(am_job_field "$cbid" .attempts)"
am_say "PASS"
