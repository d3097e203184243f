#!/usr/bin/env bash
#   Quickstart step 5 (pi2.py): two nodes, each with an agent 'samples' of
#   size 1 that takes only pi.generate_sample and an agent 'main' of size 3
#   for everything else. A parallel job of 2 x 25,000,000 samples runs its
#   children on the two nodes at overlapping times. (That it therefore
#   takes less wall time than one job of 50,000,000 samples is printed, not
#   asserted: a test does not time; on a busy machine it may not hold.)
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
cfg=$AM_TOP/conf/pi-node.cfg
if [ -f "$cfg" ]; then
    #   The file's module paths are relative to the repository root, and each
    #   node runs in its own directory: --module (which replaces the file's
    #   modules) gives the path absolute
    node_flags=(--config "$cfg" --module "$AM_PI_SO")
else
    am_say "$cfg is missing; using the equivalent --agent flags"
    node_flags=(--module "$AM_PI_SO" --agent 'samples:1:pi.generate_sample'
                --agent 'main:3:!pi.generate_sample')
fi
am_node_start node1 "${node_flags[@]}"
am_node_start node2 "${node_flags[@]}"

am_check "each node advertises agents samples:1 and main:3"
for n in node1 node2; do
    agents=$(am_ctl nodes | jq -c --arg u "${AM_NODE_UUID[$n]}" \
        'select(.uuid == $u) | [.agents[] | "\(.name):\(.size)"] | sort')
    am_assert_eq "agents of $n" '["main:3","samples:1"]' "$agents"
done

#   Broker-side duration of a completed job: submitted -> completed_at
s_elapsed () {
    local job a b
    job=$(am_ctl job "$1")
    a=$(am_iso_to_s "$(jq -r .submitted <<<"$job")")
    b=$(am_iso_to_s "$(jq -r .completed_at <<<"$job")")
    am_calc 'b - a' a="$a" b="$b"
}

best_par=; best_one=
for run in 1 2 3; do
    t0=$(am_now)
    id=$(am_ctl parallel --postprocess pi.process_samples \
            'pi.generate_sample 25000000' 'pi.generate_sample 25000000')
    pi=$(am_ctl wait "$id" --timeout 60s)
    par=$(am_calc 'b - a' a="$t0" b="$(am_now)")
    par_broker=$(s_elapsed "$id")

    am_check "run $run: the two children ran on different nodes, at overlapping times"
    mapfile -t kids < <(am_job_field "$id" '.children[]')
    am_assert_eq "number of children" 2 "${#kids[@]}"
    k0=$(am_ctl job "${kids[0]}"); k1=$(am_ctl job "${kids[1]}")
    n0=$(jq -r .node <<<"$k0"); n1=$(jq -r .node <<<"$k1")
    am_node_name "$n0" >/dev/null || am_fail "child ${kids[0]} ran on unknown node '$n0'"
    am_node_name "$n1" >/dev/null || am_fail "child ${kids[1]} ran on unknown node '$n1'"
    [ "$n0" != "$n1" ] || am_fail "both children ran on node $n0"
    am_assert_eq "agent of child 1" samples "$(jq -r .agent <<<"$k0")"
    am_assert_eq "agent of child 2" samples "$(jq -r .agent <<<"$k1")"
    s0=$(am_iso_to_s "$(jq -r .active_start <<<"$k0")"); e0=$(am_iso_to_s "$(jq -r .active_end <<<"$k0")")
    s1=$(am_iso_to_s "$(jq -r .active_start <<<"$k1")"); e1=$(am_iso_to_s "$(jq -r .active_end <<<"$k1")")
    am_say "child 1: $(jq -r '"\(.active_start) .. \(.active_end)"' <<<"$k0") on $n0"
    am_say "child 2: $(jq -r '"\(.active_start) .. \(.active_end)"' <<<"$k1") on $n1"
    am_cond 's0 < e1 && s1 < e0' s0="$s0" e0="$e0" s1="$s1" e1="$e1" \
        || am_fail "the active intervals of the two children do not overlap"
    am_cond 'd < 0.02 && d > -0.02' d="$(am_calc 'p - 3.14159265358979' p="$pi")" \
        || am_fail "2 x 25,000,000 gave $pi, not within 0.02 of pi"

    t0=$(am_now)
    id=$(am_ctl submit pi.generate_sample 50000000)
    one_res=$(am_ctl wait "$id" --timeout 60s)
    one=$(am_calc 'b - a' a="$t0" b="$(am_now)")
    one_broker=$(s_elapsed "$id")
    am_say "run $run: parallel 2 x 25,000,000: ${par}s (broker ${par_broker}s, pi ~ $pi)"
    am_say "run $run: single   1 x 50,000,000: ${one}s (broker ${one_broker}s, $one_res)"
    if [ -z "$best_par" ] || am_cond 'a < b' a="$par" b="$best_par"; then best_par=$par; fi
    if [ -z "$best_one" ] || am_cond 'a < b' a="$one" b="$best_one"; then best_one=$one; fi
done

am_say "best wall time of the parallel job ${best_par}s, of the single job ${best_one}s"
am_say "PASS"
