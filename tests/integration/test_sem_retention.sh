#!/usr/bin/env bash
#   Retention (docs/spec.md section 7): with `asyncbroker --retention 2s` a
#   completed job is kept about 2 s, then purged: `asyncctl job ID` exits 5 and
#   `asyncctl count completed` drops. Jobs that have not completed are not
#   purged, however old.
source "$(dirname "$0")/../helpers/lib.sh"

#   True when `asyncctl job ID` exits 5 (no such job)
s_gone () { local rc=0; am_ctl job "$1" >/dev/null 2>&1 || rc=$?; [ "$rc" = 5 ]; }

am_broker_start --retention 2s
am_node_start node1 --module "$AM_TESTING_SO"

pending=$(am_ctl submit nobody.task 1)     #   no node has it: stays pending

am_check "a completed job is still there right after it completed"
id=$(am_ctl submit testing.ret 1)
out=$(am_ctl wait "$id" --timeout 30s)
am_assert_eq "result" 1 "$out"
t_done=$(am_ms)
am_assert_eq "count completed" 1 "$(am_ctl count completed)"
rc=0; am_ctl job "$id" >/dev/null || rc=$?
am_assert_eq "exit status of 'job ID' just after completion" 0 "$rc"

am_check "within 6 s, count completed drops to 0 (not before the 2 s of retention)"
am_wait_for "count completed to drop to 0" 6 am_count_is completed 0
gone_after=$(( $(am_ms) - t_done ))
am_say "count completed is 0 about $gone_after ms after the job completed"
[ $gone_after -ge 1500 ] || am_fail "the job was purged $gone_after ms after it completed, before its 2 s of retention"

am_check "and the purged job itself is gone: 'asyncctl job ID' exits 5"
am_wait_for "'asyncctl job $id' to exit 5" 2 s_gone "$id"
am_say "ok: $(am_ctl job "$id" 2>&1 || true)"
rc=0; am_ctl wait "$id" --timeout 2s >/dev/null 2>&1 || rc=$?
am_assert_eq "exit status of 'wait ID' on the purged job" 5 "$rc"

am_check "the pending job, older than the retention, is still there"
am_assert_eq "status of the pending job" pending "$(am_job_field "$pending" .status)"
am_say "PASS"
