#!/usr/bin/env bash
#   Quotas (docs/spec.md section 2): a quota of size N lets at most N of its
#   jobs be assigned or active across the whole cluster, while jobs outside the
#   quota run as usual; an unknown quota name is refused (exit 6).
#   Two nodes with 3 slots each, quota db of size 1, three quota jobs that
#   block on a file each: exactly one of them at a time holds a slot.
source "$(dirname "$0")/../helpers/lib.sh"

#   How many of the quota jobs are assigned or active
s_held () { am_ctl count assigned active --task testing.block --total; }

#   True when exactly one quota job holds a slot; its id in $held_id
s_one_held () {
    local held
    held=$(am_ctl jobs assigned active --task testing.block | jq -r .id) || return 1
    [ "$(wc -w <<<"$held")" = 1 ] || return 1
    [ "$(am_job_field "$held" .status)" = active ] || return 1
    held_id=$held
}

#   s_watch MS: for MS milliseconds, at most one quota job holds a slot
s_watch () {
    local t0 n polls=0
    t0=$(am_ms)
    while [ $(( $(am_ms) - t0 )) -lt "$1" ]; do
        n=$(s_held)
        [ "$n" -le 1 ] || am_fail "$n jobs of quota db (size 1) are assigned or active: $(am_ctl jobs assigned active --task testing.block)"
        polls=$(( polls + 1 ))
        sleep 0.05
    done
    am_say "ok: at most 1 quota job held a slot in $polls polls over $1 ms"
}

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:3
am_node_start node2 --module "$AM_TESTING_SO" --agent main:3

am_check "quota set db 1; an unknown quota is refused with exit 6"
am_ctl quota set db 1
rc=0; am_ctl submit --quota nosuch testing.noop >"$AM_TMP/out" 2>"$AM_TMP/err" || rc=$?
am_say "stderr: $(cat "$AM_TMP/err")"
am_assert_eq "exit status of submit --quota nosuch" 6 "$rc"
am_assert_eq "stdout of the refused submit" "" "$(cat "$AM_TMP/out")"
am_assert_eq "jobs after the refused submit" 0 "$(am_ctl count pending assigned active completed --total)"

am_check "three 'testing.block GATE_i' with --quota db on 2 nodes x 3 slots: one at a time"
declare -A gate_of=()
ids=()
for i in 1 2 3; do
    id=$(am_ctl submit --quota db testing.block "$AM_TMP/gate$i")
    ids+=("$id")
    gate_of[$id]=$AM_TMP/gate$i
done
am_assert_eq "quotas in the job JSON" '["db"]' "$(am_ctl job "${ids[0]}" | jq -c .quotas)"
am_wait_for "one quota job to be active" 10 s_one_held
s_watch 1000
am_assert_eq "quota jobs pending" 2 "$(am_ctl count pending --task testing.block)"
am_assert_eq "quota db running" 1 "$(am_ctl quota list | jq -r 'select(.name == "db") | .running')"

am_check "a testing.noop without the quota, submitted after them, completes at once"
t0=$(am_ms)
id=$(am_ctl submit testing.noop)
am_wait_exits "$id" 0 5s
am_say "ok: completed $(( $(am_ms) - t0 )) ms after submit"

am_check "releasing the active quota job lets the next one in, one at a time"
done_ids=()
for round in 1 2 3; do
    am_wait_for "one quota job to be active (round $round)" 10 s_one_held
    for d in "${done_ids[@]}"; do
        [ "$d" != "$held_id" ] || am_fail "job $d ran again"
    done
    am_say "round $round: job $held_id holds the quota; creating ${gate_of[$held_id]##*/}"
    touch "${gate_of[$held_id]}"
    am_wait_exits "$held_id" 0 10s
    am_assert_eq "result of $held_id" 42 "$AM_OUT"
    done_ids+=("$held_id")
    [ $round = 3 ] || s_watch 500
done
am_assert_eq "quota jobs still pending" 0 "$(am_ctl count pending --task testing.block)"
am_assert_eq "quota db running at the end" 0 "$(am_ctl quota list | jq -r 'select(.name == "db") | .running')"

am_check "the active windows of the three quota jobs do not overlap"
windows=$(for id in "${ids[@]}"; do
    job=$(am_ctl job "$id")
    echo "$(am_iso_to_s "$(jq -r .active_start <<<"$job")") $(am_iso_to_s "$(jq -r .active_end <<<"$job")")"
done | sort -n)
am_say "windows (start end):"; echo "$windows"
awk 'NR > 1 && $1 < end { exit 1 } { end = $2 }' <<<"$windows" \
    || am_fail "two quota jobs were active at once: $windows"
am_say "ok"
am_say "PASS"
