#!/usr/bin/env bash
#   Quickstart step 1: time.time as a job. `asyncctl submit --wait time.time`
#   prints a float within 5 s of this machine's clock.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1

am_check "'submit --wait time.time' prints a float within 5 s of date +%s.%N"
out=$(am_ctl submit --wait --wait-timeout 30s time.time)
now=$(date +%s.%N)
am_say "time.time -> $out (local clock: $now)"
[[ $out =~ ^-?[0-9]+(\.[0-9]+([eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)$ ]] \
    || am_fail "time.time printed '$out', not a float"
am_cond 'd < 5 && d > -5' d="$(am_calc 't - n' t="$out" n="$now")" \
    || am_fail "time.time returned $out, more than 5 s away from $now"
am_say "PASS"
