#!/usr/bin/env bash
#   Process isolation (docs/spec.md section 3): an agent with `isolation =
#   process` runs each job in a forked child, so a task that crashes fails only
#   its own job with CrashedError and the node keeps serving (same process, same
#   uuid). Results, failures, progress, annotations, submits from a task
#   (hand-off) and cancellation all work across the process boundary.
#   In contrast, the same poison pill in thread mode (testing.crash_once
#   SIGKILLs its own process) takes the whole node down; the job is
#   interrupted, and completes with 42 once the node is back.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
#   `iso` serves the default queue in process isolation; `threads` serves
#   the queue `poison` in thread mode (the default), so each job goes where
#   the test means it to
am_node_start iso --module "$AM_TESTING_SO" --isolation process --agent main:2
am_node_start threads --module "$AM_TESTING_SO" --agent main:1@poison
iso_pid=${AM_NODE_PID[iso]}
iso_uuid=${AM_NODE_UUID[iso]}

#   s_submit_wait EXPECTED_RC ARGS...: submit --wait; stdout in $out
s_submit_wait () {
    local expected=$1; shift
    local rc=0
    out=$(am_ctl submit --wait --wait-timeout 30s "$@") || rc=$?
    [ "$rc" = "$expected" ] || am_fail "submit --wait $* exited $rc, expected $expected: $out"
}

#   The iso node is the same process, still listed under the same uuid
s_iso_alive () {
    am_pid_gone "$iso_pid" && am_fail "the iso node (pid $iso_pid) died: $1"
    am_node_listed "$iso_uuid" || am_fail "the broker no longer lists the iso node: $1"
    am_say "ok: iso node pid $iso_pid uuid $iso_uuid alive $1"
}

am_check "testing.segfault under process isolation fails with CrashedError, not transient"
s_submit_wait 1 testing.segfault
am_assert_eq "failure type" CrashedError "$(jq -r .type <<<"$out")"
am_assert_eq "transient" false "$(jq -r .transient <<<"$out")"
am_assert_eq "node of the failure" "$iso_uuid" "$(jq -r .node <<<"$out")"
message=$(jq -r .message <<<"$out")
detail=$(jq -r .detail <<<"$out")
libs=$(ldd "$AM_BIN/asyncnode" 2>/dev/null || true)
if [[ $libs == *libasan* || $libs == *libubsan* || $libs == *libtsan* ]]; then
    #   A sanitizer catches the NULL store first and ends the child itself:
    #   exit status 1, or SIGABRT with abort_on_error=1
    case $message in
        *"died on signal"*|*"exited with status"*"without completing"*) ;;
        *) am_fail "message is not that of a crash: $message";;
    esac
else
    case $message in *"died on signal 11"*) ;; *) am_fail "message does not name signal 11: $message";; esac
    case $detail in *SIGSEGV*) ;; *) am_fail "detail does not name SIGSEGV: $detail";; esac
fi
case $detail in *task=testing.segfault*) ;; *) am_fail "detail does not name the task: $detail";; esac
am_say "ok: $message"
s_iso_alive "after the segfault"

am_check "the next job succeeds on the same node: testing.mul 6 7 -> 42"
id=$(am_ctl submit testing.mul 6 7)
am_assert_eq "result" 42 "$(am_ctl wait "$id" --timeout 30s)"
am_assert_eq "node of the job" "$iso_uuid" "$(am_job_field "$id" .node)"
s_iso_alive "after the multiplication"

am_check "testing.crash_once under process isolation kills only its child: CrashedError (signal 9)"
s_submit_wait 1 testing.crash_once crashed-child
am_assert_eq "failure type" CrashedError "$(jq -r .type <<<"$out")"
case $(jq -r .message <<<"$out") in *"died on signal 9 "*) ;; *) am_fail "not signal 9: $out";; esac
case $(jq -r .detail <<<"$out") in *SIGKILL*) ;; *) am_fail "detail does not name SIGKILL: $out";; esac
[ -e "$AM_TMP/iso/crashed-child" ] || am_fail "crash_once did not create its file in the node's directory"
s_iso_alive "after a task SIGKILLed its own process"

am_check "progress reported from the child: testing.progress 5 -> 5, progress 5 of 5"
id=$(am_ctl submit testing.progress 5)
am_assert_eq "result" 5 "$(am_ctl wait "$id" --timeout 30s)"
job=$(am_ctl job "$id")
am_assert_eq "node" "$iso_uuid" "$(jq -r .node <<<"$job")"
am_assert_eq "progress" '{"done":5,"total":5}' "$(jq -c '.progress | {done, total}' <<<"$job")"

am_check "annotations from the child: testing.converse writes one and reads 'reply'"
id=$(am_ctl submit --annotate 'reply="world"' testing.converse q hello)
am_assert_eq "result" '"world"' "$(am_ctl wait "$id" --timeout 30s)"
am_assert_eq "annotation q set by the task" hello "$(am_job_field "$id" .annotations.q)"

#   The target is quick: it may complete in the same broker group commit
#   as the hand-off itself, which must not be missed
for round in 1 2 3; do
    am_check "submit from the child: testing.handoff testing.mul 2 3 -> 6 (round $round)"
    s_submit_wait 0 testing.handoff testing.mul 2 3
    am_assert_eq "result" 6 "$out"
done

am_check "cancellation reaches the child: testing.block completes with CancelledError"
id=$(am_ctl submit testing.block never-there)
am_wait_for "job $id to be active on iso" 10 am_job_is "$id" active
am_ctl cancel "$id" >/dev/null
rc=0; out=$(am_ctl wait "$id" --timeout 10s) || rc=$?
am_assert_eq "exit code of wait" 1 "$rc"
am_assert_eq "failure type" CancelledError "$(jq -r .type <<<"$out")"
s_iso_alive "after the cancellation"

am_check "the poison pill in THREAD mode: testing.crash_once SIGKILLs the whole node"
threads_pid=${AM_NODE_PID[threads]}
id=$(am_ctl submit --queue poison testing.crash_once poison)
am_wait_for "the threads node (pid $threads_pid) to die" 15 am_pid_gone "$threads_pid"
rc=0; wait "$threads_pid" 2>/dev/null || rc=$?
am_assert_eq "exit status of the threads node (128 + SIGKILL)" 137 "$rc"
[ -e "$AM_TMP/threads/poison" ] || am_fail "crash_once did not create its file"
s_iso_alive "while the threads node died"

am_check "the threads node restarts (same uuid) and the job completes with 42, interruptions 1"
old_uuid=${AM_NODE_UUID[threads]}
am_node_start threads --module "$AM_TESTING_SO" --agent main:1@poison
am_assert_eq "uuid of the restarted node" "$old_uuid" "${AM_NODE_UUID[threads]}"
am_assert_eq "result" 42 "$(am_ctl wait "$id" --timeout 30s)"
job=$(am_ctl job "$id")
am_assert_eq "interruptions" 1 "$(jq -r .interruptions <<<"$job")"
am_assert_eq "attempts" 2 "$(jq -r .attempts <<<"$job")"
am_assert_eq "node" "$old_uuid" "$(jq -r .node <<<"$job")"
s_iso_alive "at the end"
am_say "PASS"
