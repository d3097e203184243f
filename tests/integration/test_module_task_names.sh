#!/usr/bin/env bash
#   A module whose task cannot be registered stops the node at start
#   (exit 2) with a line naming the task and the rule it broke (a space in
#   the name, no '.', too short, a leading '.', the same name twice), also
#   when the module's init ignored the refusal and returned 0. Before, the
#   node said only "failed to register its tasks (a name taken twice?)",
#   and ran without the task when the init returned 0.
source "$(dirname "$0")/../helpers/lib.sh"

BADNAME=$AM_BUILD/tests/badname.so
[ -f "$BADNAME" ] || am_fail "$BADNAME is missing; build first (cmake --build build)"
closed=tcp://127.0.0.1:$(am_free_port)
mkdir -p "$AM_TMP/node"

#   s_refused TASKS WANT [IGNORE]: the node loading badname.so that
#   registers TASKS exits 2, its one line of stderr ending with WANT
s_refused () {
    local tasks=$1 want=$2 rc=0 err
    am_check "tasks '$tasks'${3:+ (init returns 0)}: $want"
    (cd "$AM_TMP/node" && env ASYNC_TEST_TASKS="$tasks" ${3:+ASYNC_TEST_IGNORE=1} \
        timeout 10 "$AM_BIN/asyncnode" --broker "$closed" --module "$BADNAME") \
        >"$AM_TMP/out" 2>"$AM_TMP/err" || rc=$?
    err=$(cat "$AM_TMP/err")
    [ "$rc" = 2 ] || am_fail "the node exited $rc, expected 2 (stderr: $err)"
    am_assert_eq "the node's error" \
        "asyncnode: module $BADNAME failed to register its tasks: $want" "$err"
}

rule="(a task name is module.function: 3 to 200 bytes of letters, digits, '_', '-' and '.')"
s_refused "badname.ok|pi generate.x" \
    "task 'pi generate.x' was refused: it has ' ' at byte 3: only letters, digits, '_', '-' and '.' are allowed $rule"
s_refused "badname" "task 'badname' was refused: it has no '.': name it module.function $rule"
s_refused "ab" "task 'ab' was refused: it is 2 bytes long, under 3 $rule"
s_refused ".bad.name" "task '.bad.name' was refused: it starts with '.' $rule"
s_refused "badname.twice|badname.twice" \
    "task 'badname.twice' was refused: that name is registered already (by this module, another one or the built-in tasks)"
s_refused "badname.ok|time.time" \
    "task 'time.time' was refused: that name is registered already (by this module, another one or the built-in tasks)"
s_refused "bad/name.x|badname.ok" \
    "task 'bad/name.x' was refused: it has '/' at byte 4: only letters, digits, '_', '-' and '.' are allowed $rule" ignore

am_check "well-named tasks load and run"
am_broker_start
export ASYNC_TEST_TASKS="badname.one|badname.two"
am_node_start node1 --module "$BADNAME"
am_assert_eq "result of badname.two" null \
    "$(am_ctl submit --wait --wait-timeout 30s badname.two)"
am_say "PASS"
