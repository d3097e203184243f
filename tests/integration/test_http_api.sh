#!/usr/bin/env bash
#   /api/status, /api/jobs, /api/count, /api/jobs/ID, /api/quotas, /api/schedules
#   (docs/spec.md section 9): the same JSON as asyncctl (status fields, the
#   job object of section 6, quota list, every list), the LIST filter
#   semantics, JSON errors with 400/404/405, HEAD, no-store.
source "$(dirname "$0")/../helpers/lib.sh"

HTTP=127.0.0.1:$(am_free_port)
am_broker_start --http "$HTTP"
am_node_start node1 --module "$AM_TESTING_SO"
uuid=${AM_NODE_UUID[node1]}

ok=$(am_ctl submit testing.ret 7)
failed=$(am_ctl submit testing.fail ValueError "the answer is wrong")
am_ctl wait "$ok" --timeout 10s >/dev/null
rc=0; am_ctl wait "$failed" --timeout 10s >/dev/null || rc=$?
am_assert_eq "exit status of waiting for the failing job" 1 "$rc"

#   s_get PATH [CURL ARGS...]: body in $body, status code in $code
s_get () {
    local path=$1; shift
    code=$(curl -sS -o "$AM_TMP/body" -D "$AM_TMP/headers" -w '%{http_code}' "$@" \
           "http://$HTTP$path")
    body=$(<"$AM_TMP/body")
}
s_header () { grep -i "^$1:" "$AM_TMP/headers" | cut -d' ' -f2- | tr -d '\r'; }

am_check "/api/status: the fields of asyncctl status --json"
s_get /api/status
am_assert_eq "status code" 200 "$code"
am_assert_eq "content type" application/json "$(s_header Content-Type)"
am_assert_eq "cache control" no-store "$(s_header Cache-Control)"
am_assert_eq "version" "$(am_ctl status --json | jq -r .version)" "$(jq -r .version <<<"$body")"
jq -e '.uptime > 0 and (.started | test("Z$"))' <<<"$body" >/dev/null || am_fail "uptime/started: $body"
am_assert_eq "keys, as asyncctl status --json" "$(am_ctl status --json | jq -c 'keys')" \
    "$(jq -c keys <<<"$body")"
am_assert_eq "node uuid" "$uuid" "$(jq -r '.nodes[0].uuid' <<<"$body")"
am_assert_eq "node dead" false "$(jq -r '.nodes[0].dead' <<<"$body")"
am_assert_eq "agents of the node" '[{"name":"main","size":3,"running":0}]' \
    "$(jq -c '[.nodes[0].agents[] | {name, size, running}]' <<<"$body")"
am_assert_eq "jobs completed / failed" "2 1" "$(jq -r '"\(.jobs.completed) \(.jobs.failed)"' <<<"$body")"

am_check "/api/jobs?status=failed: the failed job with its failure"
s_get '/api/jobs?status=failed'
am_assert_eq "status code" 200 "$code"
am_assert_eq "failed ids" "$failed" "$(jq -r '.[].id' <<<"$body")"
am_assert_eq "failure" "ValueError: the answer is wrong" \
    "$(jq -r '.[0].failure | "\(.type): \(.message)"' <<<"$body")"
s_get '/api/jobs?status=succeeded&task=testing.*'
am_assert_eq "succeeded ids" "$ok" "$(jq -r '.[].id' <<<"$body")"
s_get '/api/jobs?status=completed&queue=nosuch'
am_assert_eq "jobs of an unknown queue" '[]' "$body"
s_get '/api/jobs'
am_assert_eq "every job, as asyncctl jobs" "$(am_ctl jobs | jq -r .id | sort | xargs)" \
    "$(jq -r '.[].id' <<<"$body" | sort | xargs)"
s_get '/api/jobs?limit=1'
am_assert_eq "jobs with limit=1" 1 "$(jq length <<<"$body")"
s_get '/api/jobs?status=bogus'
am_assert_eq "unknown status" "400 true" "$code $(jq 'has("error")' <<<"$body")"
s_get '/api/jobs?limit=x'
am_assert_eq "malformed limit" 400 "$code"
s_get '/api/jobs?colour=red'
am_assert_eq "unknown parameter" 400 "$code"
s_get '/api/jobs?status=failed&since=3600'
am_assert_eq "failed in the last hour (since)" "200 $failed" "$code $(jq -r '.[].id' <<<"$body")"
for bad in -1 x nan inf 1e13; do
    s_get "/api/jobs?status=failed&since=$bad"
    am_assert_eq "since=$bad" 400 "$code"
done

am_check "/api/count and parent=: the children of a parallel job by status"
parent=$(am_ctl parallel 'testing.ret 1' 'testing.fail ValueError no' 'testing.ret 3')
am_ctl wait "$parent" --timeout 10s >/dev/null || true
s_get "/api/count?status=succeeded&parent=$parent"
am_assert_eq "succeeded children" '200 {"count":2}' "$code $(jq -c . <<<"$body")"
s_get "/api/count?status=failed&parent=$parent"
am_assert_eq "failed children" '200 {"count":1}' "$code $(jq -c . <<<"$body")"
s_get "/api/jobs?parent=$parent"
am_assert_eq "children in order" "$(am_ctl job "$parent" | jq -c .children)" \
    "$(jq -c 'map (.id)' <<<"$body")"
s_get "/api/count?parent=$parent&by=status"
am_assert_eq "by status" '200 {"count":3,"statuses":{"pending":0,"assigned":0,"active":0,"callbacks":0,"succeeded":2,"failed":1}}' \
    "$code $(jq -c . <<<"$body")"
s_get "/api/count?by=queue"
am_assert_eq "by another field" 400 "$code"
s_get "/api/count?parent=00000000-0000-4000-8000-000000000000"
am_assert_eq "unknown parent" 400 "$code"
s_get "/api/count?limit=3"
am_assert_eq "count takes no limit" 400 "$code"
#   A filter that is no text (not UTF-8) is refused, never dropped: dropped,
#   it would count or list every job
for bad in parent queue task node status cursor; do
    s_get "/api/count?$bad=%FF"
    am_assert_eq "count $bad=%FF" 400 "$code"
    s_get "/api/jobs?$bad=%FF"
    am_assert_eq "jobs $bad=%FF" 400 "$code"
done

am_check "/api/jobs/ID equals asyncctl job ID --json"
for id in "$ok" "$failed"; do
    s_get "/api/jobs/$id"
    am_assert_eq "status code" 200 "$code"
    am_assert_eq "job $id" "$(am_ctl job "$id" --json | jq -cS .)" "$(jq -cS . <<<"$body")"
done
s_get /api/jobs/00000000-0000-0000-0000-000000000000
am_assert_eq "unknown job" "404 application/json true" \
    "$code $(s_header Content-Type) $(jq 'has("error")' <<<"$body")"
s_get /api/jobs/not-an-id
am_assert_eq "malformed job id" 400 "$code"
am_check "/api/quotas and /api/schedules equal asyncctl quota list and every list --json"
s_get /api/quotas
am_assert_eq "no quota yet" "200 []" "$code $(jq -c . <<<"$body")"
am_ctl quota set gpu 2
am_ctl every nightly --cron '0 3 * * *' --tz Europe/Paris 'testing.ret 1'
s_get /api/quotas
am_assert_eq "quotas" "$(am_ctl quota list --json | jq -cSs .)" "$(jq -cS . <<<"$body")"
am_assert_eq "the quota" '[{"name":"gpu","running":0,"size":2}]' "$(jq -cS . <<<"$body")"
s_get /api/schedules
am_assert_eq "schedules" "$(am_ctl every list --json | jq -cSs .)" "$(jq -cS . <<<"$body")"
am_assert_eq "the schedule" "nightly 0 3 * * * Europe/Paris testing.ret" \
    "$(jq -r '.[0] | "\(.name) \(.cron) \(.tz) \(.spec.task)"' <<<"$body")"
s_get /api/quotas -X POST
am_assert_eq "POST /api/quotas" 405 "$code"

s_get /nowhere
am_assert_eq "unknown path" 404 "$code"
s_get /api/status -X POST
am_assert_eq "POST" "405 true" "$code $(jq 'has("error")' <<<"$body")"
am_assert_eq "Allow" "GET, HEAD" "$(s_header Allow)"
s_get /api/status -X DELETE
am_assert_eq "DELETE" 405 "$code"
am_assert_eq "HEAD: status, and no body" "200 0" \
    "$(curl -sS -I -o /dev/null -w '%{http_code} %{size_download}' "http://$HTTP/api/status")"

am_say "PASS"
