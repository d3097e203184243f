#!/usr/bin/env bash
#   Instance UUID (docs/spec.md section 3): two asyncnode processes started
#   at the same moment in one fresh directory (no uuid.txt yet: a unit
#   started twice, a careless operator). Each makes a uuid and key in a
#   temp file of its own and links it to uuid.txt, which only one can do;
#   the other takes the uuid that uuid.txt then holds. So, in every trial:
#   - exactly one process runs, with the uuid of uuid.txt (NODES lists its
#     pid with that uuid): no process runs with an identity that is lost
#     at its next start;
#   - the other exits 6 with one line naming that uuid (never "cannot
#     create uuid.txt");
#   - no temp file is left next to uuid.txt.
source "$(dirname "$0")/../helpers/lib.sh"

TRIALS=${TRIALS:-15}
am_broker_start

#   s_gone_one A B: true when A or B has exited
s_gone_one () { am_pid_gone "$1" || am_pid_gone "$2"; }

#   s_listed_as PID UUID: NODES lists a live node of pid PID with uuid UUID
s_listed_as () {
    am_ctl nodes | jq -se --argjson p "$1" --arg u "$2" \
        'any (.[]; .pid == $p and .uuid == $u and .dead != true)' >/dev/null
}

for i in $(seq "$TRIALS"); do
    d=$AM_TMP/t$i
    mkdir -p "$d"
    (cd "$d" && exec "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" --agent main:1) \
        >"$AM_TMP/t$i-a.log" 2>&1 &
    a=$!
    (cd "$d" && exec "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" --agent main:1) \
        >"$AM_TMP/t$i-b.log" 2>&1 &
    b=$!
    AM_PIDS+=("$a" "$b")
    am_wait_for "trial $i: one of the two nodes ($a, $b) to exit" 10 s_gone_one "$a" "$b"
    if am_pid_gone "$a"; then
        loser=$a survivor=$b log=$AM_TMP/t$i-a.log
    else
        loser=$b survivor=$a log=$AM_TMP/t$i-b.log
    fi
    rc=0; wait "$loser" || rc=$?
    [ -s "$d/uuid.txt" ] || am_fail "trial $i: no uuid.txt"
    uuid=$(head -n 1 "$d/uuid.txt")
    [ "$rc" = 6 ] || am_fail "trial $i: the second node exited $rc, not 6: $(cat "$log")"
    am_wait_for "trial $i: node $survivor to be listed with uuid $uuid (from uuid.txt)" 10 \
        s_listed_as "$survivor" "$uuid"
    kill -0 "$survivor" 2>/dev/null || am_fail "trial $i: the surviving node exited"
    lines=$(grep -c '^asyncnode: ' "$log" || true)
    [ "$lines" = 1 ] || am_fail "trial $i: the second node wrote $lines asyncnode: lines: $(cat "$log")"
    line=$(grep '^asyncnode: ' "$log")
    grep -q "$uuid" <<<"$line" || am_fail "trial $i: the line does not name uuid $uuid: $line"
    left=$(find "$d" -name 'uuid.txt?*' | tr '\n' ' ')
    [ -z "$left" ] || am_fail "trial $i: temp files left: $left"
    am_say "trial $i ok: pid $survivor runs with $uuid; pid $loser: $line"
    kill -TERM "$survivor"
    rc=0; wait "$survivor" || rc=$?
    [ "$rc" = 0 ] || am_fail "trial $i: the surviving node exited $rc on SIGTERM"
done
am_say "PASS: $TRIALS trials, one node each with the uuid of its uuid.txt"
