#!/usr/bin/env bash
#   SIGHUP makes asyncnode re-read its config file's agents: when they
#   changed, it says HELLO again with them (a new session, its running jobs
#   held), so the broker dispatches by the new agents at once, without a
#   restart. A running job goes on undisturbed; a config that cannot be
#   used (a bad file, more slots than the node started with) changes
#   nothing and is logged.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
cfg=$AM_TMP/node.cfg
s_write_cfg () {        #   s_write_cfg AGENTS-SECTION-TEXT
    printf 'node\n    broker = "%s"\nmodules\n    testing = "%s"\nagents\n%s\n' \
        "$AM_ENDPOINT" "$AM_TESTING_SO" "$1" >"$cfg"
}
s_write_cfg '    main
        size = 3'
am_node_start n1 --config "$cfg"
uuid=${AM_NODE_UUID[n1]}
s_agents () { am_ctl node "$uuid" | jq -r '[.node.agents[] | "\(.name):\(.size):\(.queues)"] | join(" ")'; }
am_assert_eq "agents at start" "main:3:default" "$(s_agents)"

am_check "a job runs on agent main; a job for queue bulk waits (no agent serves bulk)"
go=$AM_TMP/go
running=$(am_ctl submit testing.block "$go")
s_active () { [ "$(am_job_field "$running" .status)" = active ]; }
am_wait_for "job $running to be active" 15 s_active
bulk=$(am_ctl submit --queue bulk testing.noop 2>/dev/null)

am_check "SIGHUP after the config gained agent bulk: the broker dispatches by it"
s_write_cfg '    main
        size = 2
    bulk
        size = 1
        queues = bulk'
kill -HUP "${AM_NODE_PID[n1]}"
s_changed () { [ "$(s_agents)" = "main:2:default bulk:1:bulk" ]; }
am_wait_for "the new agents in 'asyncctl node'" 15 s_changed
am_wait_for "the bulk job to complete" 15 am_job_is "$bulk" completed
am_assert_eq "the bulk job's agent" bulk "$(am_job_field "$bulk" .agent)"
grep -q "agents.changed" "$AM_TMP/n1.log" || am_fail "no agents.changed line in the node's log"

am_check "the job running across the change goes on, once, on the same node"
am_assert_eq "status of the running job" active "$(am_job_field "$running" .status)"
touch "$go"
am_wait_for "job $running to complete" 15 am_job_is "$running" completed
am_assert_eq "attempts of the running job" 1 "$(am_job_field "$running" .attempts)"
am_assert_eq "node of the running job" "$uuid" "$(am_job_field "$running" .node)"

am_check "a bad config file, or more slots than at start: agents unchanged, logged"
printf 'agents\n    main\n        size = many\n' >"$cfg"
kill -HUP "${AM_NODE_PID[n1]}"
s_warned () { [ "$(grep -c 'agents.unchanged' "$AM_TMP/n1.log")" -ge "$1" ]; }
am_wait_for "agents.unchanged for the bad file" 15 s_warned 1
s_write_cfg '    main
        size = 10'
kill -HUP "${AM_NODE_PID[n1]}"
am_wait_for "agents.unchanged for 10 slots" 15 s_warned 2
grep -q "more than the 3 worker threads" "$AM_TMP/n1.log" || am_fail "no reason for 10 slots"
am_assert_eq "agents after the refused changes" "main:2:default bulk:1:bulk" "$(s_agents)"
am_node_listed "$uuid" || am_fail "the node is gone"
id=$(am_ctl submit testing.noop)
am_wait_for "a job after the refused changes to complete" 15 am_job_is "$id" completed
am_say "PASS"
