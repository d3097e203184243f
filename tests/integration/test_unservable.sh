#!/usr/bin/env bash
#   A job that no live node takes (no agent offers its task, or none serves
#   its queue) stays pending, but nobody waits in silence: the ACCEPTED says
#   so (`unservable`), asyncctl submit warns on stderr and exits 0, the
#   broker logs it, STATUS lists it under `waiting` (per queue, with the age
#   of the oldest pending job) and /metrics has asyncmesh_jobs_unservable and
#   asyncmesh_queue_oldest_pending_seconds. Once a node offers the task the
#   job runs and is no longer counted.
source "$(dirname "$0")/../helpers/lib.sh"

HTTP=127.0.0.1:$(am_free_port)
am_broker_start --http "$HTTP"
am_node_start without --module "$AM_PI_SO"      #   no testing.so

am_check "submit of a task no node offers: warning on stderr, exit 0, the id on stdout"
rc=0
id=$(am_ctl submit testing.noop 2>"$AM_TMP/submit.err") || rc=$?
am_assert_eq "exit status" 0 "$rc"
[[ "$id" =~ ^[0-9a-f-]{36}$ ]] || am_fail "no id on stdout: '$id'"
grep -q "warning: no live node offers testing.noop; the job waits for one" "$AM_TMP/submit.err" \
    || am_fail "no warning on stderr: $(cat "$AM_TMP/submit.err")"
am_assert_eq "status of the job" pending "$(am_job_field "$id" .status)"

am_check "submit --wait of a task no node offers warns before it waits"
rc=0
am_ctl submit --wait-timeout 1s testing.noop >/dev/null 2>"$AM_TMP/wait.err" || rc=$?
grep -q "warning: no live node offers testing.noop" "$AM_TMP/wait.err" \
    || am_fail "no warning on stderr with --wait (exit $rc): $(cat "$AM_TMP/wait.err")"

am_check "a queue no agent serves: warned too; a task that is offered: no warning"
am_ctl submit --queue idle pi.generate_sample 1000 >/dev/null 2>"$AM_TMP/idle.err"
grep -q "warning: no live node offers pi.generate_sample in queue idle" "$AM_TMP/idle.err" \
    || am_fail "no warning for queue idle: $(cat "$AM_TMP/idle.err")"
pi=$(am_ctl submit pi.generate_sample 1000 2>"$AM_TMP/pi.err")
[ ! -s "$AM_TMP/pi.err" ] || am_fail "a warning for a task that is offered: $(cat "$AM_TMP/pi.err")"
am_ctl wait "$pi" --timeout 20s >/dev/null

am_check "the broker logged the job that waits for a node"
grep -q "job.unservable.*task=testing.noop" "$AM_TMP/broker.log" \
    || am_fail "no job.unservable line in the broker's log"

am_check "STATUS lists them under waiting, per queue, with the oldest one's age"
status=$(am_ctl status)
am_assert_eq "waiting.default.unservable" 2 "$(jq -r .waiting.default.unservable <<<"$status")"
am_assert_eq "waiting.idle.unservable" 1 "$(jq -r .waiting.idle.unservable <<<"$status")"
age=$(jq -r .waiting.default.oldest_age <<<"$status")
am_cond "a >= 0 && a < 60" a="$age" || am_fail "oldest_age of default is $age"
am_assert_eq "waiting_more" 0 "$(jq -r .waiting_more <<<"$status")"

am_check "/metrics: asyncmesh_jobs_unservable and asyncmesh_queue_oldest_pending_seconds"
curl -sS -o "$AM_TMP/metrics" "http://$HTTP/metrics"
s_metric () { awk -v k="$1" '$1 == k { print $2 }' "$AM_TMP/metrics"; }
am_assert_eq "unservable in default" 2 "$(s_metric 'asyncmesh_jobs_unservable{queue="default"}')"
am_assert_eq "unservable in idle" 1 "$(s_metric 'asyncmesh_jobs_unservable{queue="idle"}')"
grep -q '^# TYPE asyncmesh_jobs_unservable gauge' "$AM_TMP/metrics" || am_fail "no TYPE line"
[ -n "$(s_metric 'asyncmesh_queue_oldest_pending_seconds{queue="default"}')" ] \
    || am_fail "no asyncmesh_queue_oldest_pending_seconds for default"

am_check "a node with testing.so comes: the jobs run, none is unservable any more"
am_node_start with --module "$AM_TESTING_SO"
am_wait_for "job $id to complete" 15 am_job_is "$id" completed
s_unservable_default () {
    [ "$(am_ctl status | jq -r '.waiting.default.unservable // 0')" = 0 ]
}
am_wait_for "no unservable job in default" 15 s_unservable_default
id2=$(am_ctl submit testing.noop 2>"$AM_TMP/after.err")
[ ! -s "$AM_TMP/after.err" ] || am_fail "a warning once the task is offered: $(cat "$AM_TMP/after.err")"
am_ctl wait "$id2" --timeout 20s >/dev/null
am_say "PASS"
