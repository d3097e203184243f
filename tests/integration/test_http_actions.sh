#!/usr/bin/env bash
#   The actions of the HTTP API (docs/monitoring.md, Actions): retry,
#   cancel, delete a job, pause and resume a queue, set a quota, each with
#   POST, the token and X-Asyncmesh-Action, logged with the token's label.
#   Refused: no token or a wrong one (401), another method (405, Allow:
#   POST), a cross-site request (403), a bad id or name (400), no such job
#   (404), what the broker refuses (409), and any action when the broker
#   has no token, even on loopback (403).
source "$(dirname "$0")/../helpers/lib.sh"
command -v curl >/dev/null || am_skip "curl is not installed"

HPORT=$(am_free_port)
TOKEN=$(openssl rand -hex 24)
printf 'alice:%s\n' "$TOKEN" >"$AM_TMP/token"
chmod 600 "$AM_TMP/token"
am_broker_start --http "127.0.0.1:$HPORT" --http-token "$AM_TMP/token" --log-level info
am_node_start node1 --module "$AM_TESTING_SO" --agent main:2@default,q

#   s_post PATH [CURL ARGS...]: POST, the status code (body in $AM_TMP/body)
s_post () {
    local path=$1; shift
    curl -sS -o "$AM_TMP/body" -D "$AM_TMP/headers" -w '%{http_code}' -X POST "$@" \
        "http://127.0.0.1:$HPORT$path"
}
AUTH=(-H "Authorization: Bearer $TOKEN")
ACT=(-H 'X-Asyncmesh-Action: 1')
s_exit () { local rc=0; am_ctl "$@" >/dev/null 2>&1 || rc=$?; echo "$rc"; }

am_check "retry over HTTP: 200 once written, the job runs again, logged and kept by=alice"
id=$(am_ctl submit testing.flaky F1 1 false)
am_assert_eq "exit of the failed job" 1 "$(s_exit wait "$id" --timeout 10s)"
am_assert_eq "POST retry" 200 "$(s_post "/api/jobs/$id/retry" "${AUTH[@]}" "${ACT[@]}")"
am_assert_eq "its answer" "{\"ok\":true,\"action\":\"retry\",\"target\":\"$id\"}" \
    "$(jq -c . "$AM_TMP/body")"
am_assert_eq "the retried job's result" 42 "$(am_ctl wait "$id" --timeout 10s)"
grep -q "job.retried job=$id .*by=alice" "$AM_TMP/broker.log" \
    || am_fail "no job.retried line with by=alice in the broker's log"
am_assert_eq "by in the job" '"alice"' \
    "$(am_ctl job "$id" | jq -c '.annotations["asyncmesh.retries"][0].by')"

am_check "refused: no token, a wrong token (401); GET (405, Allow: POST)"
am_assert_eq "no token" 401 "$(s_post "/api/jobs/$id/retry" "${ACT[@]}")"
am_assert_eq "a wrong token" 401 \
    "$(s_post "/api/jobs/$id/retry" -H "Authorization: Bearer ${TOKEN}x" "${ACT[@]}")"
am_assert_eq "the token in the query" 401 "$(s_post "/api/jobs/$id/retry?token=$TOKEN" "${ACT[@]}")"
am_assert_eq "GET of an action" 405 "$(s_post "/api/jobs/$id/retry" -X GET "${AUTH[@]}" "${ACT[@]}")"
grep -qi '^Allow: POST' "$AM_TMP/headers" || am_fail "no 'Allow: POST' on 405: $(cat "$AM_TMP/headers")"
am_assert_eq "POST of a view" 405 "$(s_post /api/status "${AUTH[@]}" "${ACT[@]}")"
grep -qi '^Allow: GET, HEAD' "$AM_TMP/headers" || am_fail "no 'Allow: GET, HEAD' on 405"

am_check "refused as cross-site (403): no X-Asyncmesh-Action, another Origin, Sec-Fetch-Site cross-site"
am_assert_eq "without X-Asyncmesh-Action" 403 "$(s_post "/api/jobs/$id/retry" "${AUTH[@]}")"
am_assert_eq "a form's Content-Type, no header" 403 \
    "$(s_post "/api/jobs/$id/retry" "${AUTH[@]}" -H 'Content-Type: application/x-www-form-urlencoded' -d a=1)"
am_assert_eq "Origin of another site" 403 \
    "$(s_post "/api/jobs/$id/retry" "${AUTH[@]}" "${ACT[@]}" -H 'Origin: http://evil.example')"
am_assert_eq "Origin null" 403 \
    "$(s_post "/api/jobs/$id/retry" "${AUTH[@]}" "${ACT[@]}" -H 'Origin: null')"
am_assert_eq "this server's host and port, another scheme" 403 \
    "$(s_post "/api/jobs/$id/retry" "${AUTH[@]}" "${ACT[@]}" -H "Origin: evil://127.0.0.1:$HPORT")"
am_assert_eq "Sec-Fetch-Site cross-site" 403 \
    "$(s_post "/api/jobs/$id/retry" "${AUTH[@]}" "${ACT[@]}" -H 'Sec-Fetch-Site: cross-site')"
am_assert_eq "this server's Origin, same-origin: on to the broker (409: it succeeded)" 409 \
    "$(s_post "/api/jobs/$id/retry" "${AUTH[@]}" "${ACT[@]}" -H "Origin: http://127.0.0.1:$HPORT" \
       -H 'Sec-Fetch-Site: same-origin')"
grep -q succeeded "$AM_TMP/body" || am_fail "409 without the reason: $(cat "$AM_TMP/body")"

am_check "refused: a bad id (400), no such job (404), a bad queue name or size (400)"
am_assert_eq "a bad id" 400 "$(s_post /api/jobs/nonsense/retry "${AUTH[@]}" "${ACT[@]}")"
am_assert_eq "no such job" 404 \
    "$(s_post /api/jobs/019aa0b2-0000-7000-8000-000000000000/cancel "${AUTH[@]}" "${ACT[@]}")"
am_assert_eq "a bad queue name" 400 "$(s_post '/api/queues/a!b/pause' "${AUTH[@]}" "${ACT[@]}")"
am_assert_eq "an unknown verb (no action: a view, POST refused)" 405 "$(s_post /api/queues/q/stop "${AUTH[@]}" "${ACT[@]}")"
am_assert_eq "a quota without size" 400 "$(s_post /api/quotas/qq "${AUTH[@]}" "${ACT[@]}")"
am_assert_eq "a quota of size 0" 400 "$(s_post '/api/quotas/qq?size=0' "${AUTH[@]}" "${ACT[@]}")"
am_assert_eq "a quota's size given twice" 400 \
    "$(s_post '/api/quotas/qq?size=5&size=0' "${AUTH[@]}" "${ACT[@]}")"
am_assert_eq "a quota of size 1e10" 400 \
    "$(s_post '/api/quotas/qq?size=10000000000' "${AUTH[@]}" "${ACT[@]}")"

am_check "pause and resume a queue, set a quota, cancel and delete jobs"
am_assert_eq "pause q" 200 "$(s_post /api/queues/q/pause "${AUTH[@]}" "${ACT[@]}")"
am_assert_eq "paused" '["q"]' "$(am_ctl status | jq -c .paused)"
grep -q "queue.paused queue=q .*by=alice" "$AM_TMP/broker.log" || am_fail "no queue.paused by=alice"
curl -sS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HPORT/metrics" >"$AM_TMP/metrics"
grep -q '^asyncmesh_queue_paused{queue="q"} 1$' "$AM_TMP/metrics" \
    || am_fail "no asyncmesh_queue_paused{queue=\"q\"} 1 in /metrics"
am_assert_eq "resume q" 200 "$(s_post /api/queues/q/resume "${AUTH[@]}" "${ACT[@]}")"
am_assert_eq "paused" '[]' "$(am_ctl status | jq -c .paused)"
curl -sS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HPORT/metrics" >"$AM_TMP/metrics"
grep -q '^asyncmesh_queue_paused' "$AM_TMP/metrics" && am_fail "asyncmesh_queue_paused after the resume"
am_assert_eq "set quota qq" 200 "$(s_post '/api/quotas/qq?size=3' "${AUTH[@]}" "${ACT[@]}")"
am_assert_eq "quota list" 3 "$(am_ctl quota list | jq -r 'select(.name == "qq") | .size')"
blocked=$(am_ctl submit testing.block B1)
am_wait_for "the blocked job to run" 10 am_job_is "$blocked" active
am_assert_eq "cancel" 200 "$(s_post "/api/jobs/$blocked/cancel" "${AUTH[@]}" "${ACT[@]}")"
am_assert_eq "the cancelled job's exit" 1 "$(s_exit wait "$blocked" --timeout 20s)"
am_assert_eq "its failure" CancelledError "$(am_ctl job "$blocked" | jq -r .failure.type)"
am_assert_eq "delete" 200 "$(s_post "/api/jobs/$id/delete" "${AUTH[@]}" "${ACT[@]}")"
am_assert_eq "job of the deleted job" 5 "$(s_exit job "$id")"
am_assert_eq "delete again" 404 "$(s_post "/api/jobs/$id/delete" "${AUTH[@]}" "${ACT[@]}")"
kill -TERM "$AM_BROKER_PID"; wait "$AM_BROKER_PID" 2>/dev/null || true

am_check "a broker without a token: every action 403, even on loopback; views open"
HPORT=$(am_free_port)
am_broker_start --http "127.0.0.1:$HPORT"
am_assert_eq "pause without a token configured" 403 "$(s_post /api/queues/q/pause "${ACT[@]}")"
grep -q -- "--http-token" "$AM_TMP/body" || am_fail "403 does not say what to do: $(cat "$AM_TMP/body")"
am_assert_eq "paused" '[]' "$(am_ctl status | jq -c .paused)"
am_assert_eq "/api/status" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HPORT/api/status")"
am_say "PASS"
