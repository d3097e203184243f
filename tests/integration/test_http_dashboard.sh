#!/usr/bin/env bash
#   The dashboard at / (docs/spec.md section 9) in a real browser: headless
#   chromium, driven through the DevTools protocol (tests/helpers/cdp.py),
#   loads the page, runs its script against /api/... and the page then
#   shows the live node's uuid and a failed job's error type and message
#   (as text: markup in a message stays text), and the job page /#job/ID
#   of a parallel job lists its children's ids, that of a job retried once
#   its two attempts. A screenshot goes to the
#   artifacts directory (AM_ARTIFACTS, default build/test-artifacts).
source "$(dirname "$0")/../helpers/lib.sh"

am_chromium

HTTP=127.0.0.1:$(am_free_port)
am_broker_start --http "$HTTP"
am_node_start node1 --module "$AM_TESTING_SO"
uuid=${AM_NODE_UUID[node1]}

failed=$(am_ctl submit testing.fail ValueError 'no <b>bold</b> here')
rc=0; am_ctl wait "$failed" --timeout 10s >/dev/null || rc=$?
am_assert_eq "exit status of waiting for the failing job" 1 "$rc"
flaky=$(am_ctl submit --retry attempts=3,backoff=10ms..20ms testing.flaky d 1)
am_ctl wait "$flaky" --timeout 10s >/dev/null
parent=$(am_ctl parallel 'testing.ret 1' 'testing.ret 2' 'testing.ret 3')
am_ctl wait "$parent" --timeout 10s >/dev/null
children=$(am_ctl job "$parent" | jq -r '.children[]')
am_assert_eq "children of the parallel job" 3 "$(wc -w <<<"$children")"
#   A job that begins in an hour, behind 60 ready ones in a queue no node
#   serves: the Scheduled view still lists it
for _ in $(seq 60); do am_ctl submit --queue nobody testing.noop >/dev/null; done
later=$(am_ctl submit --queue nobody --begin-after "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" \
        testing.noop)

#   Whether the view's visible text has a string; whether a counter shows
#   a figure
has_text="document.getElementById ('view').innerText.includes"
counter () { echo "document.querySelector ('[data-counter=\"$1\"] .value').textContent === '$2'"; }

am_check "the overview: counters, history from before the page opened, the failed job's error as text, a sparkline"
rm -f "$ARTIFACTS"/dashboard*.png
am_cdp overview <<STEPS
open http://$HTTP/
wait 20 $(counter failed 1)
wait 20 $(counter "dead nodes" 0)
wait 20 $has_text ('$failed')
wait 20 [...document.querySelectorAll ('#view td')].some (td => td.textContent === 'ValueError')
# The message is text: the markup in it is shown, not made
wait 20 $has_text ('no <b>bold</b> here')
wait 1 document.querySelector ('#view b') === null
wait 20 document.querySelector ('#throughput polyline')
# The history the broker kept, there as the page opens: the 3 children and
# the failed job completed before it
wait 20 Number (document.getElementById ('history').dataset.succeeded) >= 3
wait 20 Number (document.getElementById ('history').dataset.failed) === 1
click #history a[href="#overview?range=week"]
wait 20 document.querySelector ('#history strong').textContent.includes ('week')
wait 20 Number (document.getElementById ('history').dataset.failed) === 1
wait 1 document.getElementById ('error').textContent === ''
screenshot dashboard.png
STEPS
am_say "ok: counters, failure and sparkline in the page"

am_check "each view at its own URL: nodes, failed (filtered), running, queues, scheduled, quotas; a bad one"
am_cdp views <<STEPS
open http://$HTTP/#nodes
wait 20 document.querySelector ('#tabs a.current').dataset.view === 'nodes'
wait 20 document.querySelector ('tr[data-uuid="$uuid"] td.alive')
screenshot dashboard-nodes.png
open http://$HTTP/#failed
wait 20 document.querySelector ('tr[data-id="$failed"]')
type input[name=task] testing.nomatch
click .filters>button
wait 20 location.hash.includes ('task=testing.nomatch')
wait 20 document.querySelector ('tr[data-id="$failed"]') === null
type input[name=task] testing.f*
click .filters>button
wait 20 document.querySelector ('tr[data-id="$failed"]')
screenshot dashboard-failed.png
open http://$HTTP/#running
wait 20 $has_text ('no job is running')
screenshot dashboard-running.png
open http://$HTTP/#queues
wait 20 document.querySelector ('tr[data-queue="default"]')
screenshot dashboard-queues.png
open http://$HTTP/#scheduled
wait 20 document.querySelector ('#tabs a.current').dataset.view === 'scheduled'
wait 20 $has_text ('Recurring schedules')
wait 20 document.querySelector ('tr[data-id="$later"]')
screenshot dashboard-scheduled.png
open http://$HTTP/#quotas
wait 20 document.querySelector ('#tabs a.current').dataset.view === 'quotas'
wait 20 $has_text ('no quota')
screenshot dashboard-quotas.png
wait 1 document.getElementById ('error').textContent === ''
# A malformed address says so instead of stopping the page
open http://$HTTP/#job/%
wait 20 document.getElementById ('error').textContent.includes ('not a job id')
open http://$HTTP/#overview
wait 20 document.getElementById ('error').textContent === ''
STEPS
am_say "ok: every view"

am_check "the job page of the parallel job: its children, done of all, and the id search"
steps="open http://$HTTP/#overview
type #search-id $parent
eval document.getElementById ('search').requestSubmit ()
wait 20 location.hash === '#job/$parent'
wait 20 document.getElementById ('job-tree').innerText.includes ('3 of 3 children')"
for child in $children; do
    steps+=$'\n'"wait 20 document.querySelector ('#job-tree a[href=\"#job/$child\"]')"
done
steps+=$'\n'"screenshot dashboard-job.png"
am_cdp job <<<"$steps"
am_say "ok: children $(xargs <<<"$children")"

#   (After the views above: its failures would count in them)
#   A fan-out of 120: 100 succeed, 20 fail
big=$(jq -cn '{parallel: ([range (100) | {task: "testing.ret", args: [.]}]
                          + [range (20) | {task: "testing.fail", args: ["ValueError", "no"]}])}' \
      | am_ctl submit --spec -)
am_ctl wait "$big" --timeout 30s >/dev/null || true
#   (A page holds at most 50; the console follows the broker's pages, which
#   stop where their time ran out, until it shows 50 or the children end)
am_check "the job page of a fan-out of 120: counts by status, a status's children page by page"
am_cdp fanout <<STEPS
open http://$HTTP/#job/$big
wait 20 document.getElementById ('job-tree').innerText.includes ('120 of 120 children')
wait 20 document.querySelector ('[data-children=succeeded]').textContent === 'succeeded 100'
wait 20 document.querySelector ('[data-children=failed]').textContent === 'failed 20'
eval document.querySelectorAll ('#job-tree ul.tree li').length === 0 || (() => { throw new Error ('children listed before a click'); }) ()
click [data-children=failed]
wait 20 document.querySelectorAll ('#job-tree ul.tree li').length === 20
eval [...document.querySelectorAll ('#job-tree ul.tree li')].every (li => li.innerText.includes ('failed')) || (() => { throw new Error ('a listed child is not failed'); }) ()
click [data-children=succeeded]
wait 20 document.querySelectorAll ('#job-tree ul.tree li').length > 0 && [...document.querySelectorAll ('#job-tree ul.tree li')].every (li => li.innerText.includes ('completed'))
eval document.querySelectorAll ('#job-tree ul.tree li').length <= 50 || (() => { throw new Error ('more than 50 children on a page'); }) ()
eval window.firstPage = [...document.querySelectorAll ('#job-tree ul.tree li')].map (li => li.dataset.id).join (); true
click [data-next=children]
wait 20 document.querySelectorAll ('#job-tree ul.tree li').length > 0 && !window.firstPage.includes (document.querySelector ('#job-tree ul.tree li').dataset.id)
screenshot dashboard-fanout.png
STEPS
am_say "ok: fan-out"

am_check "the job page of a job retried once: its two attempts, the failure and the node"
am_cdp attempts <<STEPS
open http://$HTTP/#job/$flaky
wait 20 document.querySelectorAll ('#attempts tbody tr').length === 2
eval (() => { const r = [...document.querySelectorAll ('#attempts tbody tr')].map (t => t.innerText); if (!r [0].includes ('FlakyError') || !r [0].includes ('failed') || !r [0].includes ('$uuid') || !r [1].includes ('succeeded')) throw new Error ('attempts: ' + JSON.stringify (r)); return true; }) ()
screenshot dashboard-attempts.png
STEPS
am_say "ok: attempts"

for view in "" -nodes -failed -running -queues -scheduled -quotas -job; do
    [ -s "$ARTIFACTS/dashboard$view.png" ] || am_fail "no screenshot at $ARTIFACTS/dashboard$view.png"
done
am_say "ok: a screenshot of each view in $ARTIFACTS"
am_say "PASS"
