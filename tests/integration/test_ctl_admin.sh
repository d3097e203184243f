#!/usr/bin/env bash
#   asyncctl's admin commands against a real broker (docs/spec.md section 5):
#   quota set/list/delete (a deleted quota refuses submits, exit 6),
#   annotate/annotations on a pending job, add-callback on a pending job,
#   every set/list/delete, and usage errors (exit 2, one line on stderr,
#   nothing on stdout, without a broker). No node: the jobs are for a task no node has, so
#   they stay pending.
source "$(dirname "$0")/../helpers/lib.sh"

#   s_exits CODE ARGS...: `asyncctl ARGS` exits CODE; when CODE is not 0,
#   with one line on stderr and nothing on stdout. Its stdout in $out.
s_exits () {
    local code=$1 rc=0 err; shift
    am_check "asyncctl $* -> exit $code"
    am_ctl "$@" >"$AM_TMP/out" 2>"$AM_TMP/err" || rc=$?
    out=$(<"$AM_TMP/out"); err=$(<"$AM_TMP/err")
    [ "$rc" = "$code" ] || am_fail "asyncctl $* exited $rc, expected $code (stdout '$out', stderr '$err')"
    [ "$code" = 0 ] && return 0
    [ -n "$err" ] && [ "$(wc -l <"$AM_TMP/err")" = 1 ] \
        || am_fail "asyncctl $*: expected one line on stderr, got '$err'"
    [ -z "$out" ] || am_fail "asyncctl $*: the error went to stdout: '$out'"
    am_say "ok: $err"
}

#   The quota NAME as asyncctl quota list prints it (one JSON object per line)
s_quota () { am_ctl quota list | jq -c --arg n "$1" 'select(.name == $n)'; }

#   The schedule NAME as asyncctl every list prints it
s_schedule () { am_ctl every list | jq -c --arg n "$1" 'select(.name == $n)'; }

am_broker_start
NOJOB=00000000-0000-0000-0000-000000000000

#   ---- quota set / list / delete
s_exits 0 quota set tq 2
am_assert_eq "quota tq after set 2" '{"name":"tq","size":2,"running":0}' "$(s_quota tq)"
s_exits 0 quota set other 7
s_exits 0 quota set tq 3
am_assert_eq "size of quota tq after set 3" 3 "$(s_quota tq | am_json .size)"
am_assert_eq "quotas listed" "other tq" "$(am_ctl quota list | jq -r .name | sort | xargs)"
s_exits 0 submit --quota tq nobody.task 1
s_exits 0 quota delete tq
am_assert_eq "quota tq after delete" "" "$(s_quota tq)"
am_assert_eq "quota other after deleting tq" 7 "$(s_quota other | am_json .size)"
s_exits 6 submit --quota tq nobody.task 1
s_exits 6 quota delete tq

#   ---- annotate / annotations on a pending job
id=$(am_ctl submit --annotate first=1 nobody.task 1)
am_assert_eq "status of the job for a task no node has" pending "$(am_job_field "$id" .status)"
s_exits 0 annotate "$id" note '{"a":[1,2]}'
s_exits 0 annotate "$id" who bob
s_exits 0 annotate "$id" quoted '"5"'
s_exits 0 annotate "$id" first null
expected='{"first":null,"note":{"a":[1,2]},"quoted":"5","who":"bob"}'
s_exits 0 annotations "$id"
am_assert_eq "annotations" "$expected" "$(jq -cS . <<<"$out")"
am_assert_eq "annotations in the job JSON" "$expected" "$(am_ctl job "$id" | jq -cS .annotations)"
s_exits 0 annotate "$id" who 42
am_assert_eq "annotation who after writing it again" 42 "$(am_ctl annotations "$id" | am_json .who)"
s_exits 5 annotate "$NOJOB" note 1
s_exits 5 annotations "$NOJOB"

#   ---- add-callback on a pending job: the options apply to the callback
s_exits 0 add-callback "$id" --on failure --queue cbq --priority 4 'testing.echo 1 "two words"'
cb=$out
am_assert_eq "the job lists the callback" "$cb" "$(am_ctl job "$id" | jq -r '.callbacks[-1]')"
am_assert_eq "the callback's task, args, queue, priority" \
    '{"task":"testing.echo","args":[1,"two words"],"queue":"cbq","priority":4}' \
    "$(am_ctl job "$cb" | jq -c '{task, args, queue, priority}')"
s_exits 5 add-callback "$NOJOB" testing.noop

#   ---- every set / list / delete (a 1 h interval: no tick in this test)
s_exits 0 every hourly 1h --queue eq --annotate by=hourly 'testing.echo 5'
am_assert_eq "the schedule's spec" \
    '{"task":"testing.echo","args":[5],"queue":"eq","annotations":{"by":"hourly"}}' \
    "$(s_schedule hourly | jq -c '.spec | {task, args, queue, annotations}')"
s_exits 0 every delete hourly
am_assert_eq "schedule hourly after delete" "" "$(s_schedule hourly)"
s_exits 6 every delete hourly

#   ---- usage errors: exit 2, found before asking the broker (so a broker
#   that is not running makes no difference)
AM_ENDPOINT=tcp://127.0.0.1:$(am_free_port)
s_exits 2 quota
s_exits 2 quota frob
s_exits 2 quota set tq
s_exits 2 quota set tq abc
s_exits 2 quota set tq 0
s_exits 2 quota set tq 2 extra
s_exits 2 quota list extra
s_exits 2 quota delete
s_exits 2 annotate "$id"
s_exits 2 annotate "$id" note
s_exits 2 annotations
s_exits 2 add-callback "$id"
s_exits 2 add-callback "$id" --on sometimes testing.noop
s_exits 2 add-callback "$id" 'not-a-task'
s_exits 2 every
s_exits 2 every tick 1s
s_exits 2 every tick abc testing.noop
s_exits 2 every tick 0 testing.noop
s_exits 2 every tick 1s --priority high testing.noop
s_exits 2 every list --queue q
s_exits 2 every delete
am_say "PASS"
