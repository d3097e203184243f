#!/usr/bin/env bash
#   Quickstart steps 3 and 4: Monte Carlo pi as a parallel job with a
#   postprocess, with default arguments and with "closures" (positional and
#   keyword arguments bound to each child).
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_node_start node1 --module "$AM_PI_SO"

#   s_check_pi ID SIZE WHAT: the parent's result is within 0.02 of pi, and
#   each of its 3 children completed with [count, SIZE] (the argument took)
s_check_pi () {
    local id=$1 size=$2 what=$3 pi child n=0 res
    pi=$(am_ctl wait "$id" --timeout 60s)
    am_say "$what -> $pi"
    am_cond 'd < 0.02 && d > -0.02' d="$(am_calc 'p - 3.14159265358979' p="$pi")" \
        || am_fail "$what: $pi is not within 0.02 of pi"
    for child in $(am_job_field "$id" '.children[]'); do
        n=$(( n + 1 ))
        res=$(am_ctl job "$child" | jq -c .result)
        am_cond 'c >= 0 && c <= s' c="$(jq '.[0]' <<<"$res")" s="$size" \
            || am_fail "$what: child $child result $res has a bad count"
        am_assert_eq "$what: sample size of child $n" "$size" "$(jq '.[1]' <<<"$res")"
    done
    am_assert_eq "$what: number of children" 3 "$n"
}

am_check "parallel --postprocess pi.process_samples pi.generate_sample x3 is within 0.02 of pi"
id=$(am_ctl parallel --postprocess pi.process_samples \
        pi.generate_sample pi.generate_sample pi.generate_sample)
s_check_pi "$id" 100000 "default size"

am_check "closures: 'pi.generate_sample 1000000' x3 is within 0.02 of pi"
id=$(am_ctl parallel --postprocess pi.process_samples \
        'pi.generate_sample 1000000' 'pi.generate_sample 1000000' 'pi.generate_sample 1000000')
s_check_pi "$id" 1000000 "positional 1000000"

am_check "closures: 'pi.generate_sample size=1000000' x3 is within 0.02 of pi"
id=$(am_ctl parallel --postprocess pi.process_samples \
        'pi.generate_sample size=1000000' 'pi.generate_sample size=1000000' \
        'pi.generate_sample size=1000000')
s_check_pi "$id" 1000000 "keyword size=1000000"
child=$(am_job_field "$id" '.children[0]')
am_assert_eq "kwargs of a size=1000000 child" '{"size":1000000}' "$(am_ctl job "$child" | jq -c .kwargs)"

am_check "parallel --wait prints the postprocess result directly"
pi=$(am_ctl parallel --wait --wait-timeout 60s --postprocess pi.process_samples \
        'pi.generate_sample 1000000' 'pi.generate_sample size=1000000' 'pi.generate_sample 1000000')
am_cond 'd < 0.02 && d > -0.02' d="$(am_calc 'p - 3.14159265358979' p="$pi")" \
    || am_fail "parallel --wait printed '$pi', not within 0.02 of pi"
am_say "PASS"
