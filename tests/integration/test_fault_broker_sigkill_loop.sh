#!/usr/bin/env bash
#   Durability under fire (docs/spec.md section 7): two submitter processes (the
#   public C client API, tests/integration/submitter.c) submit 5,000 jobs
#   testing.record rec.txt TAG (TAG = 0..4999, idempotency key per tag, a
#   failed submit retried) while two nodes run them, and the broker is
#   killed with SIGKILL at random moments, 10 times, each time restarted on
#   the same data dir. At the end every job whose submit returned 0 is
#   completed with its tag as result, and each tag ran exactly once (lines
#   in the nodes' rec.txt files): the nodes never die, so a job handed out
#   before a kill is taken back by its node after the restart (its
#   assignment recorded, or not yet, however many such jobs the node holds:
#   docs/protocol.md section 8), never run again; and a job is not handed
#   out before its submit is written, so a submit lost with a kill, retried
#   with its key, has not run yet (section 6, ASSIGN). Prints "lost=N
#   duplicated=M". KEEP=1 keeps the logs (tests/helpers/lib.sh).
source "$(dirname "$0")/../helpers/lib.sh"
export LC_ALL=C

N=5000
KILLS=10
SUBMITTER=$AM_BUILD/tests/submitter
[ -x "$SUBMITTER" ] || am_fail "$SUBMITTER is missing; build first (cmake --build build)"

am_broker_start --dead-after 3s --heartbeat 500ms
am_node_start node1 --module "$AM_TESTING_SO" --agent main:4
am_node_start node2 --module "$AM_TESTING_SO" --agent main:4

am_check "$N submits (2 paced submitters) while the broker is SIGKILLed $KILLS times"
t0=$(am_now)
sub_pids=()
for half in 0 1; do
    "$SUBMITTER" "$AM_ENDPOINT" $(( half * N / 2 )) $(( N / 2 )) rec.txt \
        "$AM_TMP/accepted.$half" 100 2>"$AM_TMP/submitter$half.log" &
    sub_pids+=($!)
    AM_PIDS+=($!)
done

#   Kill at random moments, 0.3 to 1.5 s apart, each kill followed by a
#   restart; the submits go on through the kills (they retry)
kill_times=()
for k in $(seq $KILLS); do
    delay_ms=$(( 300 + RANDOM % 1200 ))
    sleep "$(am_calc 'd / 1000' d=$delay_ms)"
    am_broker_kill
    kill_times+=("$(am_calc 'b - a' a="$t0" b="$(am_now)")")
    am_broker_restart
done
am_say "broker killed at t = ${kill_times[*]} s"

for i in 0 1; do
    rc=0; wait "${sub_pids[$i]}" || rc=$?
    am_say "$(cat "$AM_TMP/submitter$i.log")"
    [ $rc = 0 ] || am_fail "submitter $i exited with $rc: not all $N jobs were accepted"
done
am_say "all submits returned 0 after $(am_calc 'b - a' a="$t0" b="$(am_now)") s"

cat "$AM_TMP"/accepted.* | sort -u -k1,1n >"$AM_TMP/accepted"
accepted=$(wc -l <"$AM_TMP/accepted")
am_assert_eq "accepted submits (distinct tags)" $N "$accepted"
am_assert_eq "distinct ids of accepted submits" $N "$(awk '{print $2}' "$AM_TMP/accepted" | sort -u | wc -l)"

#   One more kill with all the work in the store, some of it on the nodes
am_broker_kill
am_broker_restart

am_check "every accepted job completes (no job pending, assigned or active)"
s_all_done () {
    [ "$(am_ctl count pending assigned active callbacks --total)" = 0 ] &&
        [ "$(am_ctl count completed)" -ge "$N" ]
}
am_wait_for "all $N jobs to complete" 60 s_all_done
am_say "all done $(am_calc 'b - a' a="$t0" b="$(am_now)") s after the first submit"

am_ctl jobs completed --task testing.record --limit 100000 \
    | jq -r '[.id, .status, (.result // "null" | tostring), .attempts, .interruptions] | @tsv' \
    | sort >"$AM_TMP/completed"
am_say "completed jobs in the store: $(wc -l <"$AM_TMP/completed")"

#   Runs per tag, from the nodes' rec.txt files: "tag node start_us end_us"
cat "$AM_TMP"/node*/rec.txt 2>/dev/null | awk '{print $1}' | sort | uniq -c \
    | awk '{print $2, $1}' | sort >"$AM_TMP/runs"

#   lost: accepted, and not completed with its tag as result
awk '{print $2, $1}' "$AM_TMP/accepted" | sort >"$AM_TMP/accepted.by_id"
join -a 1 -o 1.1,1.2,2.2,2.3 -e MISSING "$AM_TMP/accepted.by_id" "$AM_TMP/completed" \
    >"$AM_TMP/joined"
lost=$(awk '$3 != "completed" || $4 != $2' "$AM_TMP/joined" | wc -l)
awk '$3 != "completed" || $4 != $2' "$AM_TMP/joined" | head -n 5 >"$AM_TMP/lost.sample"
never_ran=$(awk '{print $1}' "$AM_TMP/accepted" | sort | join -v 1 - "$AM_TMP/runs" | wc -l)
duplicated=$(awk '$2 == 2' "$AM_TMP/runs" | wc -l)
more=$(awk '$2 > 2' "$AM_TMP/runs" | wc -l)
max_attempts=$(cut -f4 "$AM_TMP/completed" | sort -n | tail -n 1)
interrupted=$(awk -F'\t' '$5 > 0' "$AM_TMP/completed" | wc -l)
am_say "lost=$lost duplicated=$duplicated"
am_say "tags that never ran: $never_ran; ran more than twice: $more; jobs interrupted: $interrupted; max attempts: $max_attempts"

[ "$lost" = 0 ] || am_fail "lost=$lost accepted jobs are not completed with their tag as result, e.g. (id tag status result): $(tr '\n' ';' <"$AM_TMP/lost.sample")"
[ "$never_ran" = 0 ] || am_fail "$never_ran accepted tags never ran (no line in any rec.txt)"
[ "$duplicated" = 0 ] && [ "$more" = 0 ] \
    || am_fail "$duplicated tags ran twice and $more more than twice on nodes that never died: $(awk '$2 > 1' "$AM_TMP/runs" | head -n 5 | tr '\n' ';') (warnings node.held_refused: $(grep -c node.held_refused "$AM_TMP/broker.log" || true); results rejected on the nodes: $(cat "$AM_TMP"/node*.log | grep -c job.reassigned || true))"
in_store=$(am_ctl count pending assigned active callbacks completed --task testing.record --total)
[ "$in_store" = $N ] || am_fail "the store holds $in_store testing.record jobs for $N tags: a retried submit with an idempotency key made a second job?"
am_assert_eq "completed testing.record jobs in the store" $N "$(wc -l <"$AM_TMP/completed")"
am_assert_eq "broker starts" $(( KILLS + 2 )) "$AM_BROKER_STARTS"
am_say "PASS"
