#!/usr/bin/env bash
#   asyncctl retry and delete: a failed job retried runs again, with its
#   failure kept and its attempts counted on (a number reused would make
#   the old attempt's fencing token valid again: its RESULT, re-sent over a
#   restart, completed the retried job), durably across a SIGKILL of the
#   broker; retry --all-failed retries the failed tasks its filters
#   name and says how many; delete forgets a completed job. Each refusal
#   (a job that succeeded, runs or waits, a child, a parent, no such job,
#   flags without --all-failed) has its exit code and reason.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:4@default,q
s_field () { am_ctl job "$1" | jq -c "$2"; }
s_exit () { local rc=0; am_ctl "$@" >"$AM_TMP/out" 2>"$AM_TMP/err" || rc=$?; echo "$rc"; }
s_says () { grep -q -- "$1" "$AM_TMP/err" || am_fail "no '$1' in: $(cat "$AM_TMP/err")"; }

am_check "a failed job retried runs again and succeeds; its failure is kept in asyncmesh.retries"
id=$(am_ctl submit testing.flaky F1 1 false)
am_assert_eq "exit of the failed job" 1 "$(s_exit wait "$id" --timeout 10s)"
am_ctl retry "$id"
am_assert_eq "the retried job's result" 42 "$(am_ctl wait "$id" --timeout 10s)"
am_assert_eq "attempts: the new one counted on" 2 "$(s_field "$id" .attempts)"
am_assert_eq "the failure kept" '[{"type":"FlakyError","attempts":1,"by":"local"}]' \
    "$(s_field "$id" '[.annotations["asyncmesh.retries"][] | {type, attempts, by}]')"
am_assert_eq "failed jobs left" 0 "$(am_ctl count failed)"

am_check "refused: a job that succeeded (6), runs (6) or does not exist (5)"
am_assert_eq "retry of a succeeded job" 6 "$(s_exit retry "$id")"
s_says "succeeded"
blocked=$(am_ctl submit testing.block B1)
am_wait_for "the blocked job to run" 10 am_job_is "$blocked" active
am_assert_eq "retry of a running job" 6 "$(s_exit retry "$blocked")"
s_says "active"
am_assert_eq "delete of a running job" 6 "$(s_exit delete "$blocked")"
s_says "only a completed job"
am_assert_eq "retry of no such job" 5 "$(s_exit retry 019aa0b2-0000-7000-8000-000000000000)"
am_assert_eq "retry of a word that is no id" 5 "$(s_exit retry nonsense)"
am_assert_eq "retry without an ID" 2 "$(s_exit retry)"
am_assert_eq "--task without --all-failed" 2 "$(s_exit retry --task x "$id")"
am_assert_eq "--all-failed with an ID" 2 "$(s_exit retry --all-failed "$id")"

am_check "refused: a failed child (6, saying so) and its parallel parent (6)"
parent=$(am_ctl parallel 'testing.fail ChildError one' 'testing.ret 1')
am_assert_eq "exit of the parent (its result lists the failed child)" 0 \
    "$(s_exit wait "$parent" --timeout 10s)"
child=$(s_field "$parent" '.children[0]' | tr -d '"')
am_assert_eq "retry of the failed child" 6 "$(s_exit retry "$child")"
s_says "child"
am_assert_eq "retry of the parallel parent" 6 "$(s_exit retry "$parent")"
s_says "parallel"
am_assert_eq "delete of the child" 6 "$(s_exit delete "$child")"
am_assert_eq "delete of the parent" 6 "$(s_exit delete "$parent")"

am_check "retry --all-failed --task: the two failed tasks, not the child; says how many"
f1=$(am_ctl submit testing.fail E one)
f2=$(am_ctl submit testing.fail E two)
f3=$(am_ctl submit testing.flaky F3 1 false)
for f in "$f1" "$f2" "$f3"; do am_assert_eq "exit of $f" 1 "$(s_exit wait "$f" --timeout 10s)"; done
am_assert_eq "retry --all-failed --task testing.fail" \
    '{"listed":3,"retried":2,"skipped":1,"refused":0}' \
    "$(am_ctl retry --all-failed --task testing.fail | jq -c .)"
for f in "$f1" "$f2"; do am_assert_eq "exit of $f, retried" 1 "$(s_exit wait "$f" --timeout 10s)"; done
am_assert_eq "f1's retries" 1 "$(s_field "$f1" '.annotations["asyncmesh.retries"] | length')"
am_assert_eq "f3, of another task, untouched" '"FlakyError" null' \
    "$(s_field "$f3" '.failure.type, .annotations["asyncmesh.retries"]' | tr '\n' ' ' | sed 's/ $//')"
am_assert_eq "retry --all-failed --limit 1: the newest failed job only" \
    '{"listed":1,"retried":1,"skipped":0,"refused":0}' \
    "$(am_ctl retry --all-failed --limit 1 | jq -c .)"
for f in "$f1" "$f2"; do am_assert_eq "exit of $f" 1 "$(s_exit wait "$f" --timeout 10s)"; done

am_check "a retry is durable: paused queue, retry, SIGKILL the broker; pending after the restart, runs once resumed"
q=$(am_ctl submit --queue q testing.flaky F4 1 false)
am_assert_eq "exit of q's job" 1 "$(s_exit wait "$q" --timeout 10s)"
am_ctl queue pause q
am_ctl retry "$q"
am_broker_kill
am_broker_restart
am_assert_eq "q's job after the restart" pending "$(s_field "$q" .status | tr -d '"')"
am_ctl queue resume q
am_assert_eq "q's job once resumed" 42 "$(am_ctl wait "$q" --timeout 20s)"

am_check "delete: a succeeded and a failed job are gone (5); again: 5"
am_ctl delete "$id"
am_assert_eq "job of a deleted job" 5 "$(s_exit job "$id")"
am_assert_eq "delete again" 5 "$(s_exit delete "$id")"
am_ctl delete "$f1"
am_assert_eq "job of the deleted failed job" 5 "$(s_exit job "$f1")"
am_check "the broker's annotations (asyncmesh.*) cannot be written or forged at submit (6)"
ok=$(am_ctl submit testing.ret 1)
am_ctl wait "$ok" --timeout 10s >/dev/null
am_assert_eq "annotate asyncmesh.retries" 6 \
    "$(s_exit annotate "$ok" asyncmesh.retries '[{"by":"root"}]')"
am_assert_eq "submit --annotate asyncmesh.retries" 6 \
    "$(s_exit submit --annotate 'asyncmesh.retries=[]' testing.ret 1)"
am_assert_eq "annotations of the job, untouched" '{}' "$(am_ctl annotations "$ok" | jq -c .)"
am_assert_eq "another name is fine" 0 "$(s_exit annotate "$ok" asyncmeshy 1)"
touch "$AM_TMP/node1/B1"
am_ctl wait "$blocked" --timeout 10s >/dev/null
am_say "PASS"
