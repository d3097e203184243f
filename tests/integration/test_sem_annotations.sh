#!/usr/bin/env bash
#   Annotations, progress and hand-off (docs/spec.md sections 2 and 3):
#   --annotate shows in the job JSON; a running task's annotations are
#   visible live and it sees annotations written by asyncctl annotate
#   (testing.converse); reported progress lands in the job's "progress";
#   a task that hands off completes with the other job's result.
source "$(dirname "$0")/../helpers/lib.sh"

#   True while job ID is active with annotation NAME = JSON value
s_live_annotation () {
    local job
    job=$(am_ctl job "$1") || return 1
    [ "$(jq -r .status <<<"$job")" = active ] \
        && [ "$(jq -c --arg n "$2" '.annotations[$n]' <<<"$job")" = "$3" ]
}

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO"

am_check "--annotate owner=ops: shows in the job's annotations"
id=$(am_ctl submit --annotate owner=ops --annotate n=3 testing.ret 1)
am_wait_exits "$id" 0
am_assert_eq "annotations" '{"n":3,"owner":"ops"}' "$(am_ctl job "$id" | jq -cS .annotations)"
am_assert_eq "asyncctl annotations" '{"n":3,"owner":"ops"}' "$(am_ctl annotations "$id" | jq -cS .)"

am_check "testing.converse x 1: x=1 is visible while the job is active; annotate reply '\"ok\"' -> result \"ok\""
id=$(am_ctl submit testing.converse x 1)
#   converse waits 3 s for its reply: poll fast
am_wait_for "job $id to be active with annotation x = 1" 2 s_live_annotation "$id" x 1
am_say "ok: active with x = 1"
am_ctl annotate "$id" reply '"ok"'
am_wait_exits "$id" 0
am_assert_eq "result" '"ok"' "$AM_OUT"
am_assert_eq "annotations after the job" '{"reply":"ok","x":1}' "$(am_ctl job "$id" | jq -cS .annotations)"

am_check "testing.progress 5: progress {\"done\":5,\"total\":5}"
id=$(am_ctl submit testing.progress 5)
am_wait_exits "$id" 0
am_assert_eq "result" 5 "$AM_OUT"
am_assert_eq "progress" '{"done":5,"total":5}' "$(am_ctl job "$id" | jq -cS .progress)"

am_check "testing.handoff testing.mul 6 7: completes with 42, the result of the job it handed off to"
id=$(am_ctl submit testing.handoff testing.mul 6 7)
am_wait_exits "$id" 0
am_assert_eq "result" 42 "$AM_OUT"
mul=$(am_ctl jobs completed --task testing.mul | jq -r .id)
am_assert_eq "testing.mul jobs" 1 "$(wc -w <<<"$mul")"
am_assert_eq "result of the testing.mul job" 42 "$(am_job_field "$mul" .result)"
am_assert_eq "args of the testing.mul job" '[6,7]' "$(am_ctl job "$mul" | jq -c .args)"
am_say "PASS"
