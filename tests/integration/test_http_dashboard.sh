#!/usr/bin/env bash
#   The dashboard at / (docs/spec.md section 9) in a real browser: headless
#   chromium loads the page, runs its script against /api/... and the DOM
#   then shows the live node's uuid and a failed job's error type and
#   message (as text: markup in a message stays text), and the job page
#   /#job/ID of a parallel job lists its children's ids. A screenshot goes
#   to the artifacts directory (AM_ARTIFACTS, default build/test-artifacts).
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

#   s_browse URL OUT [FLAGS...]: the DOM after the page's script ran
s_browse () {
    local url=$1 out=$2; shift 2
    #   Its own profile: nothing shared with another test's chromium
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$AM_TMP/chromium" --virtual-time-budget=5000 \
        --window-size=1280,900 "$@" "$url" >"$out" 2>>"$AM_TMP/chromium.log" \
        || am_fail "chromium failed on $url (see chromium.log)"
}

am_check "the overview shows the live node and the failed job's error"
s_browse "http://$HTTP/" "$AM_TMP/dom.html" --dump-dom
grep -q "$uuid" "$AM_TMP/dom.html" || am_fail "the node's uuid $uuid is not in the page"
grep -q '>alive<' "$AM_TMP/dom.html" || am_fail "the node is not shown alive"
grep -q "$failed" "$AM_TMP/dom.html" || am_fail "the failed job $failed is not in the page"
grep -q '>ValueError<' "$AM_TMP/dom.html" || am_fail "the failure type is not in the page"
grep -qF 'no &lt;b&gt;bold&lt;/b&gt; here' "$AM_TMP/dom.html" \
    || am_fail "the failure message is not in the page as text"
! grep -q '<b>bold</b>' "$AM_TMP/dom.html" || am_fail "the failure message became markup"
grep -q '<polyline' "$AM_TMP/dom.html" || am_fail "no throughput sparkline"
! grep -q 'class="error">[^<]' "$AM_TMP/dom.html" || am_fail "the page shows an error: $(grep -o 'class="error">[^<]*' "$AM_TMP/dom.html")"
am_say "ok: node, failure and sparkline in the DOM"

am_check "the job page of the parallel job lists its children"
s_browse "http://$HTTP/#job/$parent" "$AM_TMP/job.html" --dump-dom
for child in $children; do
    grep -q "#job/$child" "$AM_TMP/job.html" || am_fail "child $child is not on the job page"
done
am_say "ok: children $(xargs <<<"$children")"

am_check "a screenshot of the overview"
rm -f "$ARTIFACTS/dashboard.png"
(cd "$AM_TMP" && s_browse "http://$HTTP/" /dev/null --screenshot="$ARTIFACTS/dashboard.png")
[ -s "$ARTIFACTS/dashboard.png" ] || am_fail "no screenshot at $ARTIFACTS/dashboard.png"
am_say "ok: $ARTIFACTS/dashboard.png ($(stat -c %s "$ARTIFACTS/dashboard.png") bytes)"
am_say "PASS"
