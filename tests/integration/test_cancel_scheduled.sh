#!/usr/bin/env bash
#   Cancelling a scheduled job (a future begin_after) or a retry waiting
#   out its backoff takes it out of the scheduled jobs at once: STATUS no
#   longer counts it in its queue, and the listings show it once, as the
#   completed job it is (CancelledError), not also as a scheduled one.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start

#   s_scheduled QUEUE: the scheduled count of QUEUE in STATUS (0 if absent)
s_scheduled () { am_ctl status | jq -r ".queues[\"$1\"].scheduled // 0"; }

#   s_listed ID: how many times `asyncctl jobs` lists job ID
s_listed () { am_ctl jobs | jq -r .id | grep -c "^$1\$" || true; }

am_check "a job scheduled an hour ahead, cancelled: no longer scheduled"
id=$(am_ctl submit --begin-after +3600s --queue later testing.noop)
am_assert_eq "scheduled in queue 'later' before the cancel" 1 "$(s_scheduled later)"
am_ctl cancel "$id"
am_wait_exits "$id" 1 5s
am_assert_eq "failure type" CancelledError "$(jq -r .type <<<"$AM_OUT")"
am_assert_eq "scheduled in queue 'later' after the cancel" 0 "$(s_scheduled later)"
am_assert_eq "times asyncctl jobs lists it" 1 "$(s_listed "$id")"
am_assert_eq "pending or completed jobs counted" 1 "$(am_ctl count --total pending completed)"

am_check "a retry waiting out a backoff of an hour, cancelled: no longer scheduled"
am_node_start node1 --module "$AM_TESTING_SO" --agent main:1
#   Fails once (transient), then waits an hour for its second attempt
id=$(am_ctl submit --retry attempts=2,backoff=3600s testing.flaky f 1)
am_wait_for "the retry of $id to wait out its backoff" 20 \
    eval '[ "$(s_scheduled default)" = 1 ]'
am_assert_eq "attempts before the cancel" 1 "$(am_job_field "$id" .attempts)"
am_ctl cancel "$id"
am_wait_exits "$id" 1 5s
am_assert_eq "failure type" CancelledError "$(jq -r .type <<<"$AM_OUT")"
am_assert_eq "scheduled in queue 'default' after the cancel" 0 "$(s_scheduled default)"
am_assert_eq "times asyncctl jobs lists it" 1 "$(s_listed "$id")"

am_check "after a restart, nothing is scheduled either"
am_broker_kill
am_broker_restart
am_assert_eq "scheduled in queue 'later'" 0 "$(s_scheduled later)"
am_assert_eq "scheduled in queue 'default'" 0 "$(s_scheduled default)"
am_say "PASS"
