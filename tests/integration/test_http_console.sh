#!/usr/bin/env bash
#   The dashboard's buttons in a real browser (headless chromium through
#   tests/helpers/cdp.py), with the broker's token: retry on a failed job
#   runs it again, pause and resume on a queue do so, delete (confirmed)
#   forgets a job, cancel (dismissed) does nothing. The page's POSTs carry
#   the token and X-Asyncmesh-Action; the broker logs the token's label.
source "$(dirname "$0")/../helpers/lib.sh"

am_chromium

HTTP=127.0.0.1:$(am_free_port)
TOKEN=$(openssl rand -hex 24)
printf 'console:%s\n' "$TOKEN" >"$AM_TMP/token"
chmod 600 "$AM_TMP/token"
am_broker_start --http "$HTTP" --http-token "$AM_TMP/token" --log-level info
am_node_start node1 --module "$AM_TESTING_SO" --agent main:2@default,q

failed=$(am_ctl submit testing.flaky F1 1 false)
rc=0; am_ctl wait "$failed" --timeout 10s >/dev/null || rc=$?
am_assert_eq "exit of the failing job" 1 "$rc"
blocked=$(am_ctl submit --queue q testing.block B1)
am_wait_for "the blocked job to run" 10 am_job_is "$blocked" active

has_text="document.getElementById ('view').innerText.includes"

am_check "retry on the failed job: it runs again and succeeds"
am_cdp retry <<STEPS
open http://$HTTP/?token=$TOKEN#failed
wait 20 document.querySelector ('[data-id="$failed"] [data-action="retry"]')
click [data-id="$failed"] [data-action="retry"]
wait 20 $has_text ('no failed job')
wait 1 document.getElementById ('error').textContent === ''
# Its page shows the attempt before the retry, and who retried it
open http://$HTTP/?token=$TOKEN#job/$failed
wait 20 document.getElementById ('retries').innerText.includes ('console')
STEPS
am_assert_eq "the retried job's result" 42 "$(am_ctl wait "$failed" --timeout 10s)"
grep -q "job.retried job=$failed .*by=console" "$AM_TMP/broker.log" \
    || am_fail "no job.retried by=console in the broker's log"

am_check "pause, then resume, queue q from the queues view"
am_cdp pause <<STEPS
open http://$HTTP/?token=$TOKEN#queues
wait 20 document.querySelector ('[data-queue="q"] [data-action="pause"]')
click [data-queue="q"] [data-action="pause"]
wait 20 document.querySelector ('[data-queue="q"] [data-action="resume"]')
screenshot console-paused.png
STEPS
am_assert_eq "paused after the click" '["q"]' "$(am_ctl status | jq -c .paused)"
#   Dispatch stops: a job for q waits, though the node has a free slot in q
waiter=$(am_ctl submit --queue q testing.noop)
sleep 2
am_assert_eq "a job of the paused queue after 2 s" pending "$(am_ctl job "$waiter" | jq -r .status)"
am_cdp paused <<STEPS
open http://$HTTP/?token=$TOKEN#queues
wait 20 document.querySelector ('[data-queue="q"] td:nth-child(2)').textContent === '1'
STEPS
am_cdp resume <<STEPS
open http://$HTTP/?token=$TOKEN#queues
wait 20 document.querySelector ('[data-queue="q"] [data-action="resume"]')
click [data-queue="q"] [data-action="resume"]
wait 20 document.querySelector ('[data-queue="q"] [data-action="pause"]')
STEPS
am_assert_eq "paused after the second click" '[]' "$(am_ctl status | jq -c .paused)"
am_ctl wait "$waiter" --timeout 10s >/dev/null || am_fail "the job of the resumed queue did not run"

am_check "a quota's size changed from the quotas view (confirmed)"
am_ctl quota set gpu 2
am_cdp quota <<STEPS
open http://$HTTP/?token=$TOKEN#quotas
wait 20 document.querySelector ('[data-quota="gpu"] input[name=size]')
type input[name=size] 5
click [data-quota="gpu"] [data-action="size"]
wait 20 document.querySelector ('[data-quota="gpu"] td:nth-child(2)').textContent === '5'
screenshot console-quota.png
STEPS
grep -q "dialog: Set quota gpu to 5" "$AM_TMP/quota.out" || am_fail "no confirm() before the quota change"
am_assert_eq "the quota's size" 5 "$(am_ctl quota list --json | jq -r 'select(.name == "gpu") | .size')"
grep -q "quota.set.*by=console" "$AM_TMP/broker.log" || grep -q "quota.*gpu.*by=console" "$AM_TMP/broker.log" \
    || am_fail "no quota change by=console in the broker's log"

am_check "cancel dismissed: the job runs on; delete accepted: the job is gone"
am_cdp job <<STEPS
dialogs dismiss
open http://$HTTP/?token=$TOKEN#job/$blocked
wait 20 document.querySelector ('#job [data-action="cancel"]')
click #job [data-action="cancel"]
dialogs accept
open http://$HTTP/?token=$TOKEN#job/$failed
wait 20 document.querySelector ('#job [data-action="delete"]')
click #job [data-action="delete"]
wait 20 document.getElementById ('error').textContent.includes ('no such job')
STEPS
grep -q "dialog: Cancel job $blocked" "$AM_TMP/job.out" || am_fail "no confirm() before the cancel"
am_assert_eq "the blocked job after the dismissed cancel" active \
    "$(am_ctl job "$blocked" | jq -r .status)"
rc=0; am_ctl job "$failed" >/dev/null 2>&1 || rc=$?
am_assert_eq "job of the deleted job" 5 "$rc"
touch "$AM_TMP/node1/B1"
am_ctl wait "$blocked" --timeout 10s >/dev/null
am_say "PASS"
