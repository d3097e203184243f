#!/usr/bin/env bash
#   Parallel and serial jobs from `asyncctl submit --spec -` (docs/spec.md
#   section 2.3): serial goes on after a failed child; a postprocess gets one
#   {id, status, result|failure} per child; parallel nests inside parallel,
#   with and without postprocess; the parent lists its children's ids and
#   each child names its parent.
source "$(dirname "$0")/../helpers/lib.sh"

#   s_children ID N: job ID lists N children, each naming ID as its parent;
#   their ids in $children
s_children () {
    local c
    children=$(am_ctl job "$1" | jq -r '.children[]')
    am_assert_eq "number of children of $1" "$2" "$(wc -w <<<"$children")"
    for c in $children; do
        am_assert_eq "parent of child $c" "$1" "$(am_job_field "$c" .parent)"
    done
}

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO"

#   ---- serial: the second child runs after the first failed
am_check "serial [fail E x, ret 2], postprocess record: the second child runs after the failed first, then the postprocess"
id=$(am_ctl submit --spec - <<'EOF'
{"serial": [{"task": "testing.fail", "args": ["E", "x"]},
            {"task": "testing.ret", "args": [2]}],
 "postprocess": {"task": "testing.record", "args": ["serial", "pp"]}}
EOF
)
am_wait_exits "$id" 0
am_assert_eq "result of the parent (the postprocess's)" '"pp"' "$AM_OUT"
s_children "$id" 2
set -- $children
first=$(am_ctl job "$1"); second=$(am_ctl job "$2")
am_assert_eq "task of the first child" testing.fail "$(jq -r .task <<<"$first")"
am_assert_eq "failure of the first child" E "$(jq -r .failure.type <<<"$first")"
am_assert_eq "status of the second child" completed "$(jq -r .status <<<"$second")"
am_assert_eq "result of the second child" 2 "$(jq -r .result <<<"$second")"
fe=$(am_iso_to_s "$(jq -r .completed_at <<<"$first")")
ss=$(am_iso_to_s "$(jq -r .active_start <<<"$second")")
am_cond 's >= f' s="$ss" f="$fe" \
    || am_fail "the second child started ($ss) before the first completed ($fe)"
am_say "ok: the second child started after the first completed"
#   The postprocess got one {id, status, failure|result} per child: it is a
#   callback-like job; find it among the testing.record jobs
pp=$(am_ctl jobs --task testing.record | jq -c 'select(.args[0] == "serial")')
am_assert_eq "number of postprocess jobs" 1 "$(jq -s length <<<"$pp")"
am_assert_eq "the postprocess's arguments after its own" \
    "[{\"id\":\"$1\",\"status\":\"completed\",\"failure\":\"E\"},{\"id\":\"$2\",\"status\":\"completed\",\"result\":2}]" \
    "$(jq -c '.args[2:] | map({id, status} + (if has("failure") then {failure: .failure.type} else {result} end))' <<<"$pp")"

#   ---- serial without postprocess: the array of the children's results
am_check "serial [ret 1, ret 2] without postprocess: result [1,2]"
id=$(echo '{"serial": [{"task": "testing.ret", "args": [1]}, {"task": "testing.ret", "args": [2]}]}' \
     | am_ctl submit --spec -)
am_wait_exits "$id" 0
am_assert_eq "result" '[1,2]' "$(jq -c . <<<"$AM_OUT")"
s_children "$id" 2

#   ---- parallel of parallel, with postprocess at both levels
am_check "parallel [parallel [mul 6 7] pp ret] pp ret: the postprocesses get {id, status, result}"
id=$(am_ctl submit --spec - <<'EOF'
{"parallel": [{"parallel": [{"task": "testing.mul", "args": [6, 7]}],
               "postprocess": {"task": "testing.ret"}}],
 "postprocess": {"task": "testing.ret"}}
EOF
)
am_wait_exits "$id" 0
am_say "result: $AM_OUT"
s_children "$id" 1
inner=$children
s_children "$inner" 1
leaf=$children
am_assert_eq "result of the leaf" 42 "$(am_job_field "$leaf" .result)"
am_assert_eq "result of the outer parent" \
    "{\"id\":\"$inner\",\"status\":\"completed\",\"result\":{\"id\":\"$leaf\",\"status\":\"completed\",\"result\":42}}" \
    "$(jq -c '{id, status, result: (.result | {id, status, result})}' <<<"$AM_OUT")"

#   ---- parallel of parallel, without postprocess
am_check "parallel [parallel [ret 1, ret 2], ret 3, serial [ret 4, mul 2 3]]: result [[1,2],3,[4,6]]"
id=$(am_ctl submit --spec - <<'EOF'
{"parallel": [{"parallel": [{"task": "testing.ret", "args": [1]},
                            {"task": "testing.ret", "args": [2]}]},
              {"task": "testing.ret", "args": [3]},
              {"serial": [{"task": "testing.ret", "args": [4]},
                          {"task": "testing.mul", "args": [2, 3]}]}]}
EOF
)
am_wait_exits "$id" 0
am_assert_eq "result" '[[1,2],3,[4,6]]' "$(jq -c . <<<"$AM_OUT")"
s_children "$id" 3
set -- $children
s_children "$1" 2
s_children "$3" 2
am_say "PASS"
