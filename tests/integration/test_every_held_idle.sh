#!/usr/bin/env bash
#   A schedule that is due but may not tick (the disk is under --min-free:
#   schedules do not tick then) leaves the broker idle. Its loop waited
#   for the schedule's next tick, which was already past: a poll with no
#   timeout, turn after turn, a whole core burnt while nothing could run.
#   The test reads the broker's CPU time (/proc/PID/stat) over 2 s.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
am_ctl every tick 1s testing.noop >/dev/null || am_fail "asyncctl every failed"

am_check "the disk turns low (restart with --min-free over the free space)"
free_g=$(( $(stat -f -c '%a * %S' "$AM_DATA") >> 30 ))
am_broker_kill
AM_BROKER_FLAGS=(--min-free "$(( free_g + 1024 ))G")
am_broker_restart
s_low () { grep -q "disk.low" "$AM_TMP/broker.log"; }
am_wait_for "the broker to log disk.low" 10 s_low

#   utime + stime of the broker, in clock ticks
s_cpu () { awk '{ print $14 + $15 }' "/proc/$AM_BROKER_PID/stat"; }
am_check "over 2 s with the schedule due and held, the broker uses under half a core"
#   (past the schedule's first due time)
sleep 1.5
c0=$(s_cpu); t0=$(am_ms)
sleep 2
c1=$(s_cpu); t1=$(am_ms)
hz=$(getconf CLK_TCK)
used_ms=$(( (c1 - c0) * 1000 / hz ))
am_say "broker CPU: ${used_ms} ms in $(( t1 - t0 )) ms"
[ "$used_ms" -lt $(( (t1 - t0) / 2 )) ] \
    || am_fail "the broker used ${used_ms} ms of CPU in $(( t1 - t0 )) ms while idle"
am_ctl status >/dev/null || am_fail "the broker does not answer"
am_say "PASS"
