#!/usr/bin/env bash
#   /metrics (docs/spec.md section 9, docs/monitoring.md): after a known
#   workload (5 testing.noop succeed, 2 testing.fail fail, one testing.flaky
#   fails once and succeeds on its retry, one job waits in a queue no agent
#   serves), the counters, queue gauges and histogram counts are exact,
#   one node is alive and the store has bytes. Prometheus text format.
source "$(dirname "$0")/../helpers/lib.sh"

HTTP=127.0.0.1:$(am_free_port)
am_broker_start --http "$HTTP"
am_node_start node1 --module "$AM_TESTING_SO" --agent main:3

ids=()
for i in 1 2 3 4 5; do ids+=("$(am_ctl submit testing.noop)"); done
fails=("$(am_ctl submit testing.fail ValueError boom)" "$(am_ctl submit testing.fail KeyError nope)")
flaky=$(am_ctl submit testing.flaky "$AM_TMP/flaky.count" 1)
idle=$(am_ctl submit --queue idle testing.noop)
for id in "${ids[@]}" "$flaky"; do am_ctl wait "$id" --timeout 20s >/dev/null; done
for id in "${fails[@]}"; do
    rc=0; am_ctl wait "$id" --timeout 20s >/dev/null || rc=$?
    am_assert_eq "exit status of waiting for failing job $id" 1 "$rc"
done
am_assert_eq "attempts of the flaky job" 2 "$(am_job_field "$flaky" .attempts)"

am_check "GET /metrics: 200, Prometheus text 0.0.4, no-store"
curl -sS -D "$AM_TMP/headers" -o "$AM_TMP/metrics" "http://$HTTP/metrics"
grep -q '^HTTP/1.1 200' "$AM_TMP/headers" || am_fail "status: $(head -1 "$AM_TMP/headers")"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$AM_TMP/headers" \
    || am_fail "content type: $(grep -i content-type "$AM_TMP/headers")"
grep -qi '^Cache-Control: no-store' "$AM_TMP/headers" || am_fail "no Cache-Control: no-store"

#   The value of one sample, by its exact name{labels}; empty if absent
s_metric () { awk -v k="$1" '$1 == k { print $2 }' "$AM_TMP/metrics"; }
s_expect () { am_assert_eq "$1" "$2" "$(s_metric "$1")"; }

am_check "every sample line is NAME{LABELS} VALUE, every family has HELP and TYPE"
bad=$(grep -v '^#' "$AM_TMP/metrics" \
      | grep -Ev '^[a-z_]+(\{([a-z_]+="[^"]*",?)+\})? [0-9.e+-]+$' || true)
[ -z "$bad" ] || am_fail "malformed sample lines: $bad"
for family in asyncmesh_jobs_submitted_total asyncmesh_jobs_started_total \
        asyncmesh_jobs_succeeded_total asyncmesh_jobs_failed_total \
        asyncmesh_jobs_retried_total asyncmesh_jobs_interrupted_total \
        asyncmesh_queue_jobs asyncmesh_job_wait_seconds asyncmesh_job_run_seconds \
        asyncmesh_nodes_alive asyncmesh_store_bytes asyncmesh_store_sync_seconds \
        asyncmesh_uptime_seconds; do
    grep -q "^# TYPE $family " "$AM_TMP/metrics" || am_fail "no TYPE line for $family"
    grep -q "^# HELP $family " "$AM_TMP/metrics" || am_fail "no HELP line for $family"
done

q='queue="default"'
s_expect "asyncmesh_jobs_submitted_total{$q,task=\"testing.noop\"}" 5
s_expect "asyncmesh_jobs_submitted_total{$q,task=\"testing.fail\"}" 2
s_expect "asyncmesh_jobs_submitted_total{$q,task=\"testing.flaky\"}" 1
s_expect 'asyncmesh_jobs_submitted_total{queue="idle",task="testing.noop"}' 1
s_expect "asyncmesh_jobs_started_total{$q,task=\"testing.noop\"}" 5
s_expect "asyncmesh_jobs_started_total{$q,task=\"testing.fail\"}" 2
s_expect "asyncmesh_jobs_started_total{$q,task=\"testing.flaky\"}" 2
s_expect 'asyncmesh_jobs_started_total{queue="idle",task="testing.noop"}' 0
s_expect "asyncmesh_jobs_succeeded_total{$q,task=\"testing.noop\"}" 5
s_expect "asyncmesh_jobs_succeeded_total{$q,task=\"testing.flaky\"}" 1
s_expect "asyncmesh_jobs_succeeded_total{$q,task=\"testing.fail\"}" 0
s_expect "asyncmesh_jobs_failed_total{$q,task=\"testing.fail\"}" 2
s_expect "asyncmesh_jobs_failed_total{$q,task=\"testing.noop\"}" 0
s_expect "asyncmesh_jobs_failed_total{$q,task=\"testing.flaky\"}" 0
s_expect "asyncmesh_jobs_retried_total{$q,task=\"testing.flaky\"}" 1
s_expect "asyncmesh_jobs_retried_total{$q,task=\"testing.fail\"}" 0
s_expect "asyncmesh_jobs_interrupted_total{$q,task=\"testing.noop\"}" 0

am_check "queue gauges: the idle job is pending, nothing runs"
s_expect 'asyncmesh_queue_jobs{queue="idle",status="pending"}' 1
s_expect 'asyncmesh_queue_jobs{queue="idle",status="active"}' 0

am_check "histograms: wait counted once per started job (8), run once per attempt (9)"
s_expect "asyncmesh_job_wait_seconds_count{$q}" 8
s_expect "asyncmesh_job_wait_seconds_bucket{$q,le=\"+Inf\"}" 8
s_expect "asyncmesh_job_run_seconds_count{$q}" 9
s_expect "asyncmesh_job_run_seconds_bucket{$q,le=\"+Inf\"}" 9
s_expect 'asyncmesh_job_wait_seconds_count{queue="idle"}' ""
#   Buckets are cumulative: never decreasing
awk '$1 ~ /^asyncmesh_job_run_seconds_bucket\{queue="default"/ {
         if ($2 + 0 < last) { print "bucket decreases: " $0; exit 1 } last = $2 + 0 }' \
    "$AM_TMP/metrics" || am_fail "run buckets are not cumulative"

s_expect asyncmesh_nodes_alive 1
am_cond 'b > 0' b="$(s_metric asyncmesh_store_bytes)" || am_fail "store_bytes is not > 0"
am_cond 'n >= 9' n="$(s_metric asyncmesh_store_sync_seconds_count)" \
    || am_fail "store_sync_seconds_count $(s_metric asyncmesh_store_sync_seconds_count) < 9 synced commits"
am_cond 'u > 0' u="$(s_metric asyncmesh_uptime_seconds)" || am_fail "uptime is not > 0"

am_check "counters survive nothing: a restarted broker starts them at zero"
am_broker_kill
am_broker_restart
curl -sS -o "$AM_TMP/metrics" "http://$HTTP/metrics"
s_expect "asyncmesh_jobs_succeeded_total{$q,task=\"testing.noop\"}" ""
s_expect 'asyncmesh_queue_jobs{queue="idle",status="pending"}' 1
am_say "PASS"
