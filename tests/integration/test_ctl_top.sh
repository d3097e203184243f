#!/usr/bin/env bash
#   asyncctl top (docs/spec.md section 5) on a real terminal (tmux): it shows
#   the node's uuid, the queues by status and the running job, refreshes in
#   place (the running job's age changes), and 'q' quits with status 0 and
#   the terminal restored (echo back on). Not a terminal: exit 2, one line.
#   Broker unreachable: exit 4.
source "$(dirname "$0")/../helpers/lib.sh"
command -v tmux >/dev/null || am_fail "tmux is not installed (apt-get install tmux)"

am_check "asyncctl top | cat: exit 2 with one line on stderr"
rc=0; am_ctl top >"$AM_TMP/out" 2>"$AM_TMP/err" || rc=$?
am_assert_eq "exit status when stdout is a pipe" 2 "$rc"
am_assert_eq "lines on stderr" 1 "$(wc -l <"$AM_TMP/err")"
am_assert_eq "stdout" "" "$(<"$AM_TMP/out")"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:2
uuid=${AM_NODE_UUID[node1]}
blocked=$(am_ctl submit testing.block "$AM_TMP/node1/gate")
am_wait_for "job $blocked to be active" 10 am_job_is "$blocked" active
am_ctl submit --queue idle testing.noop >/dev/null

#   Our own tmux server (-L): nothing shared with anyone else's tmux
TMUX_SOCKET=am-top-$$
s_tmux () { tmux -L "$TMUX_SOCKET" "$@"; }
s_tmux_cleanup () { s_tmux kill-server 2>/dev/null || true; }
trap 's_tmux_cleanup; s_am_cleanup' EXIT
s_tmux new-session -d -x 200 -y 50 \
    "stty echo; '$AM_BIN/asyncctl' --broker '$AM_ENDPOINT' top; echo EXIT=\$? >'$AM_TMP/top.exit'; stty -a >'$AM_TMP/stty'; sleep 30"
s_pane () { s_tmux capture-pane -p >"$AM_TMP/pane" && cat "$AM_TMP/pane"; }
s_shows () { s_pane | grep -qF -- "$1"; }

am_check "top shows the node, the queues and the running job"
am_wait_for "the node's uuid on the screen" 10 s_shows "$uuid"
am_wait_for "queue idle on the screen" 5 s_shows "idle"
s_pane >/dev/null
grep -E '^default +0 +0 +0 +1$' "$AM_TMP/pane" >/dev/null \
    || am_fail "no 'default 0 0 0 1' queue line: $(grep -E '^(QUEUE|default)' "$AM_TMP/pane")"
grep -E '^idle +1 +0 +0 +0$' "$AM_TMP/pane" >/dev/null || am_fail "no 'idle 1 0 0 0' queue line"
grep -qF "$blocked" "$AM_TMP/pane" || am_fail "the running job $blocked is not shown"
grep -E "^$uuid +127.0.0.1 +alive +1/2 " "$AM_TMP/pane" >/dev/null \
    || am_fail "node line: $(grep -F "$uuid" "$AM_TMP/pane")"
grep -qE 'throughput: [0-9.]+ jobs/s' "$AM_TMP/pane" || am_fail "no throughput line"

am_check "it refreshes in place: the job completes, the counts follow"
touch "$AM_TMP/node1/gate"
s_done () { s_pane >/dev/null; grep -qE '^default +0 +0 +0 +0$' "$AM_TMP/pane" && ! grep -qF "$blocked" "$AM_TMP/pane"; }
am_wait_for "the screen to show the queue empty and the job gone" 5 s_done
am_assert_eq "top lines with the node's uuid (drawn in place, not scrolled)" 1 \
    "$(grep -cF "$uuid" "$AM_TMP/pane")"
sed "s/^/$AM_TEST: | /" "$AM_TMP/pane" | head -n 20

am_check "q quits with status 0 and restores the terminal"
s_tmux send-keys q
am_wait_for "top to exit" 5 test -s "$AM_TMP/top.exit"
am_assert_eq "exit of asyncctl top" EXIT=0 "$(<"$AM_TMP/top.exit")"
grep -qE '(^| )icanon( |$)' "$AM_TMP/stty" && grep -qE '(^| )echo( |$)' "$AM_TMP/stty" \
    || am_fail "terminal not restored: $(grep -oE -- '-?(icanon|echo) ' "$AM_TMP/stty" | xargs)"

am_check "SIGTERM: dies of it, terminal restored"
s_tmux kill-server 2>/dev/null || true
rm -f "$AM_TMP/top.exit" "$AM_TMP/stty"
s_tmux new-session -d -x 120 -y 40 \
    "stty echo; '$AM_BIN/asyncctl' --broker '$AM_ENDPOINT' top; echo EXIT=\$? >'$AM_TMP/top.exit'; stty -a >'$AM_TMP/stty'; sleep 30"
am_wait_for "the node's uuid on the screen" 10 s_shows "$uuid"
#   asyncctl is the child of the pane's shell (started by this test)
top_pid=$(ps -o pid= --ppid "$(s_tmux list-panes -F '#{pane_pid}')" | head -n 1 | tr -d ' ')
[ -n "$top_pid" ] || am_fail "no asyncctl top process to signal"
kill -TERM "$top_pid"
am_wait_for "top to exit" 5 test -s "$AM_TMP/top.exit"
am_assert_eq "exit of asyncctl top after SIGTERM" EXIT=143 "$(<"$AM_TMP/top.exit")"
grep -qE '(^| )icanon( |$)' "$AM_TMP/stty" || am_fail "terminal not restored after SIGTERM"

am_check "broker unreachable: exit 4"
s_tmux kill-server 2>/dev/null || true
rm -f "$AM_TMP/top.exit"
s_tmux new-session -d -x 120 -y 40 \
    "'$AM_BIN/asyncctl' --broker tcp://127.0.0.1:$(am_free_port) --timeout 300ms top 2>'$AM_TMP/top.err'; echo EXIT=\$? >'$AM_TMP/top.exit'; sleep 30"
am_wait_for "top to exit" 10 test -s "$AM_TMP/top.exit"
am_assert_eq "exit of asyncctl top without a broker" EXIT=4 "$(<"$AM_TMP/top.exit")"
am_say "ok: $(<"$AM_TMP/top.err")"
am_say "PASS"
