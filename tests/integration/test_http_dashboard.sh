#!/usr/bin/env bash
#   The dashboard at / (docs/spec.md section 9) in a real browser: headless
#   chromium, driven through the DevTools protocol (tests/helpers/cdp.py),
#   loads the page, runs its script against /api/... and the page then
#   shows the live node's uuid and a failed job's error type and message
#   (as text: markup in a message stays text), and the job page /#job/ID
#   of a parallel job lists its children's ids. A screenshot goes to the
#   artifacts directory (AM_ARTIFACTS, default build/test-artifacts).
source "$(dirname "$0")/../helpers/lib.sh"

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || am_fail "chromium is not installed (apt-get install chromium)"
ARTIFACTS=${AM_ARTIFACTS:-$AM_BUILD/test-artifacts}
mkdir -p "$ARTIFACTS"

HTTP=127.0.0.1:$(am_free_port)
am_broker_start --http "$HTTP"
am_node_start node1 --module "$AM_TESTING_SO"
uuid=${AM_NODE_UUID[node1]}

failed=$(am_ctl submit testing.fail ValueError 'no <b>bold</b> here')
rc=0; am_ctl wait "$failed" --timeout 10s >/dev/null || rc=$?
am_assert_eq "exit status of waiting for the failing job" 1 "$rc"
parent=$(am_ctl parallel 'testing.ret 1' 'testing.ret 2' 'testing.ret 3')
am_ctl wait "$parent" --timeout 10s >/dev/null
children=$(am_ctl job "$parent" | jq -r '.children[]')
am_assert_eq "children of the parallel job" 3 "$(wc -w <<<"$children")"

#   s_cdp NAME: run the steps on stdin in chromium (tests/helpers/cdp.py);
#   its output in NAME.out
s_cdp () {
    python3 "$AM_TOP/tests/helpers/cdp.py" --chromium "$CHROMIUM" \
        --profile "$AM_TMP/chromium" --artifacts "$ARTIFACTS" >"$AM_TMP/$1.out" 2>&1 \
        || am_fail "in chromium: $(tail -1 "$AM_TMP/$1.out") (see $1.out)"
}
#   Whether the page's visible text has a string
has_text="document.body.innerText.includes"

am_check "the overview shows the live node and the failed job's error"
rm -f "$ARTIFACTS/dashboard.png"
s_cdp overview <<STEPS
open http://$HTTP/
wait 20 $has_text ('$uuid')
wait 20 [...document.querySelectorAll ('#nodes td')].some (td => td.textContent === 'alive')
wait 20 $has_text ('$failed')
wait 20 [...document.querySelectorAll ('#failures td')].some (td => td.textContent === 'ValueError')
# The message is text: the markup in it is shown, not made
wait 20 $has_text ('no <b>bold</b> here')
wait 1 document.querySelector ('#failures b') === null
wait 20 document.querySelector ('#throughput polyline')
wait 1 document.getElementById ('error').textContent === ''
screenshot dashboard.png
STEPS
am_say "ok: node, failure and sparkline in the page"

am_check "the job page of the parallel job lists its children"
steps="open http://$HTTP/#job/$parent"
for child in $children; do
    steps+=$'\n'"wait 20 document.querySelector ('a[href=\"#job/$child\"]')"
done
s_cdp job <<<"$steps"
am_say "ok: children $(xargs <<<"$children")"

am_check "a screenshot of the overview"
[ -s "$ARTIFACTS/dashboard.png" ] || am_fail "no screenshot at $ARTIFACTS/dashboard.png"
am_say "ok: $ARTIFACTS/dashboard.png ($(stat -c %s "$ARTIFACTS/dashboard.png") bytes)"
am_say "PASS"
