#!/usr/bin/env bash
#   /api/history (docs/monitoring.md, History): the jobs completed, by
#   queue, in steps of the last hour, day and week; the counts survive a
#   SIGKILL of the broker and a restart (the counts of the minute going on
#   go on from what was written); a bad range is refused (400). asyncctl
#   history shows the same.
source "$(dirname "$0")/../helpers/lib.sh"
command -v curl >/dev/null || am_skip "curl is not installed"

HPORT=$(am_free_port)
am_broker_start --http "127.0.0.1:$HPORT"
am_node_start node1 --module "$AM_TESTING_SO" --agent main:4@default,q
s_get () { curl -sS -o "$AM_TMP/body" -w '%{http_code}' "http://127.0.0.1:$HPORT$1"; }
#   s_totals RANGE: "succeeded failed q_succeeded" summed over the range
s_totals () {
    [ "$(s_get "/api/history?range=$1")" = 200 ] || am_fail "/api/history?range=$1: $(cat "$AM_TMP/body")"
    jq -r '[(.succeeded | add), (.failed | add), ((.queues.q.succeeded // [0]) | add)] | join(" ")' \
        "$AM_TMP/body"
}

am_check "3 jobs succeed (one in q), 1 fails: the history of the hour, day and week says so"
ids=("$(am_ctl submit testing.ret 1)" "$(am_ctl submit testing.ret 2)"
     "$(am_ctl submit --queue q testing.ret 3)")
for id in "${ids[@]}"; do am_ctl wait "$id" --timeout 10s >/dev/null; done
failed=$(am_ctl submit testing.fail E boom)
rc=0; am_ctl wait "$failed" --timeout 10s >/dev/null || rc=$?
am_assert_eq "exit of the failed job" 1 "$rc"
am_assert_eq "hour" "3 1 1" "$(s_totals hour)"
am_assert_eq "steps of the hour" "60 60" "$(jq -r '[(.succeeded | length), .step_seconds] | join(" ")' "$AM_TMP/body")"
am_assert_eq "day" "3 1 1" "$(s_totals day)"
am_assert_eq "steps of the day" 288 "$(jq -r '.succeeded | length' "$AM_TMP/body")"
am_assert_eq "week" "3 1 1" "$(s_totals week)"
am_assert_eq "steps of the week" 168 "$(jq -r '.succeeded | length' "$AM_TMP/body")"
am_assert_eq "a bad range" 400 "$(s_get '/api/history?range=year')"
am_assert_eq "asyncctl history day: the same" "3 1 1" \
    "$(am_ctl history day | jq -r '[(.succeeded | add), (.failed | add), (.queues.q.succeeded | add)] | join(" ")')"
rc=0; am_ctl history year 2>/dev/null || rc=$?
am_assert_eq "exit of asyncctl history year" 2 "$rc"

am_check "SIGKILL the broker, restart it: the history is still there; a new job adds to it"
am_broker_kill
am_broker_restart
am_assert_eq "hour after the restart" "3 1 1" "$(s_totals hour)"
#   (The day and the week are counted in memory by step, loaded at the start)
am_assert_eq "day after the restart" "3 1 1" "$(s_totals day)"
am_assert_eq "week after the restart" "3 1 1" "$(s_totals week)"
id=$(am_ctl submit --queue q testing.ret 4)
am_ctl wait "$id" --timeout 20s >/dev/null
am_assert_eq "hour after one more job" "4 1 2" "$(s_totals hour)"
am_assert_eq "day after one more job" "4 1 2" "$(s_totals day)"
am_assert_eq "week after one more job" "4 1 2" "$(s_totals week)"
#   The last step is the one going on: the jobs are in it (or, when an
#   hour began meanwhile, in the one before)
am_assert_eq "the week's last two steps" 4 "$(jq -r '.succeeded [-2] + .succeeded [-1]' "$AM_TMP/body")"
now=$(date +%s)
am_cond 'n - s >= 167 * 3600 && n - s < 168 * 3600' n="$now" s="$(jq -r .start "$AM_TMP/body")" \
    || am_fail "the week starts at $(jq -r .start "$AM_TMP/body"), not 167 to 168 hours before $now"
am_say "PASS"
