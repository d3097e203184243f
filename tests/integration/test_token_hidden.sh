#!/usr/bin/env bash
#   Fencing tokens stay between the broker and the node of the attempt: a
#   client's GET, WAIT and LIST (raw, as any peer could send them), the
#   HTTP API and asyncctl show a running job without its token, so nobody
#   can present it in a forged HELLO or RESULT.
source "$(dirname "$0")/../helpers/lib.sh"

RAW=$AM_BUILD/tests/rawreq
HTTP=127.0.0.1:$(am_free_port)
am_broker_start --http "$HTTP"
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
id=$(am_ctl submit testing.block F)
am_wait_for "job $id to be active" 10 am_job_is "$id" active

s_no_token () {     #   s_no_token WHAT JSON
    local found
    found=$(jq -c '[paths | select(.[-1] == "token")] | length' <<<"$2")
    am_assert_eq "token keys in $1" 0 "$found"
}

am_check "raw GET, WAIT and LIST: the job record has no token"
reply=$("$RAW" "$AM_ENDPOINT" GET "{\"id\": \"$id\"}")
am_assert_eq "GET's reply" JOB "$(jq -r .command <<<"$reply")"
am_assert_eq "GET's job id" "$id" "$(jq -r .body.job.id <<<"$reply")"
s_no_token "GET's job" "$reply"
reply=$("$RAW" "$AM_ENDPOINT" WAIT "{\"id\": \"$id\"}")
am_assert_eq "WAIT's reply" WAITING "$(jq -r .command <<<"$reply")"
s_no_token "WAITING" "$reply"
reply=$("$RAW" "$AM_ENDPOINT" LIST '{"status": ["active"]}')
am_assert_eq "LIST's jobs" "$id" "$(jq -r '.body.jobs[0].id' <<<"$reply")"
s_no_token "LIST's jobs" "$reply"

am_check "HTTP API and asyncctl: no token"
s_no_token "/api/jobs" "$(curl -sS "http://$HTTP/api/jobs")"
s_no_token "/api/jobs/ID" "$(curl -sS "http://$HTTP/api/jobs/$id")"
s_no_token "asyncctl job" "$(am_ctl job "$id")"

am_check "the node still completes the job with its token"
touch "$AM_TMP/node1/F"
am_assert_eq "result" 42 "$(am_ctl wait "$id" --timeout 10s)"
am_say "PASS"
