#!/usr/bin/env bash
#   asyncctl cancel (docs/spec.md section 5): a pending job completes with
#   CancelledError (wait exits 1), and stays cancelled across a broker
#   SIGKILL and restart, never running; a running job whose task honours
#   cancellation (testing.block) completes with CancelledError within 3 s;
#   cancelling a completed job is refused (exit 6).
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start

#   ---- pending: no node is up, so the job cannot start
am_check "cancel a pending job (no node): CancelledError, wait exits 1"
id=$(am_ctl submit testing.touch cancelled-ran)
am_assert_eq "status before cancel" pending "$(am_job_field "$id" .status)"
am_ctl cancel "$id"
am_wait_exits "$id" 1 5s
am_assert_eq "failure type" CancelledError "$(jq -r .type <<<"$AM_OUT")"
am_assert_eq "status" completed "$(am_job_field "$id" .status)"
am_assert_eq "attempts" 0 "$(am_job_field "$id" .attempts)"

am_check "the cancelled job stays cancelled after a broker SIGKILL and restart"
am_broker_kill
am_broker_restart
job=$(am_ctl job "$id")
am_assert_eq "status after restart" completed "$(jq -r .status <<<"$job")"
am_assert_eq "failure type after restart" CancelledError "$(jq -r .failure.type <<<"$job")"

am_check "a node with testing.so comes up: the cancelled job does not run"
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1     #   one slot
#   A job submitted after the cancelled one, to the same queue: once it ran,
#   the cancelled one would have been handed out too
marker=$(am_ctl submit testing.ret after)
am_wait_exits "$marker" 0
am_assert_eq "result of the job after it" '"after"' "$AM_OUT"
job=$(am_ctl job "$id")
am_assert_eq "status" completed "$(jq -r .status <<<"$job")"
am_assert_eq "failure type" CancelledError "$(jq -r .failure.type <<<"$job")"
am_assert_eq "attempts" 0 "$(jq -r .attempts <<<"$job")"
[ ! -e "$AM_TMP/node1/cancelled-ran" ] || am_fail "the cancelled job ran: node1/cancelled-ran exists"
am_say "ok: node1/cancelled-ran does not exist"

#   ---- running
am_check "cancel a running 'testing.block PATH': CancelledError within 3 s"
id=$(am_ctl submit testing.block never-created)
am_wait_for "job $id to be active" 10 am_job_is "$id" active
t0=$(am_ms)
am_ctl cancel "$id"
am_wait_exits "$id" 1 10s
elapsed=$(( $(am_ms) - t0 ))
am_say "wait returned $elapsed ms after cancel: $AM_OUT"
am_assert_eq "failure type" CancelledError "$(jq -r .type <<<"$AM_OUT")"
[ $elapsed -le 3000 ] || am_fail "CancelledError after $elapsed ms, expected within 3 s"
am_assert_eq "attempts" 1 "$(am_job_field "$id" .attempts)"

am_check "the node's one slot is free again: a new job runs"
id2=$(am_ctl submit testing.ret 5)
am_wait_exits "$id2" 0 10s
am_assert_eq "result" 5 "$AM_OUT"

#   ---- completed
am_check "cancel a completed job: refused, exit 6, its result kept"
rc=0; am_ctl cancel "$id2" >"$AM_TMP/out" 2>"$AM_TMP/err" || rc=$?
am_say "stderr: $(cat "$AM_TMP/err")"
am_assert_eq "exit status of cancel on a completed job" 6 "$rc"
am_assert_eq "result after the refused cancel" 5 "$(am_job_field "$id2" .result)"
am_assert_eq "failure after the refused cancel" null "$(am_ctl job "$id2" | jq -c .failure)"
am_say "PASS"
