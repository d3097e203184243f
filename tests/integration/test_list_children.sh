#!/usr/bin/env bash
#   LIST and COUNT with `parent` (asyncctl jobs/count --parent): the
#   children of a parallel job, walked in child order, counted by status,
#   paged by cursor; a cursor of one walk is refused by the other; an
#   unknown parent is refused.
source "$(dirname "$0")/../helpers/lib.sh"

RAWREQ=$AM_BUILD/tests/rawreq
[ -x "$RAWREQ" ] || am_fail "rawreq missing; build first"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO" --agent main:2

#   12 children: 4 succeed, 3 fail, 2 run (sleep), 2 wait in a queue no
#   node serves, 1 waits for a time an hour away
later=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
spec=$(jq -cn --arg later "$later" '{parallel: (
    [range (4) | {task: "testing.ret", args: [.]}]
  + [range (3) | {task: "testing.fail", args: ["ValueError", "no"]}]
  + [range (2) | {task: "testing.sleep", args: [60]}]
  + [range (2) | {task: "testing.noop", queue: "nobody"}]
  + [{task: "testing.noop", queue: "nobody", begin_after: $later}])}')
parent=$(am_ctl submit --spec - <<<"$spec")
children=$(am_ctl job "$parent" | jq -c '.children')
am_assert_eq "children" 12 "$(jq length <<<"$children")"

s_settled () {
    [ "$(am_ctl count succeeded --parent "$parent")" = 4 ] \
    && [ "$(am_ctl count failed --parent "$parent")" = 3 ] \
    && [ "$(am_ctl count active --parent "$parent")" = 2 ]
}
am_wait_for "the children to settle" 20 s_settled

am_check "count by status over the children"
got=$(am_ctl count pending scheduled assigned active callbacks succeeded failed --parent "$parent")
am_say "counts: $got"
am_assert_eq "counts" '{"pending":3,"scheduled":1,"assigned":0,"active":2,"callbacks":0,"succeeded":4,"failed":3}' \
    "$(jq -c . <<<"$got")"
am_assert_eq "total" 12 "$(am_ctl count pending assigned active callbacks completed --total --parent "$parent")"
am_assert_eq "with a task glob" 3 "$(am_ctl count failed pending --total --task 'testing.f*' --parent "$parent")"

am_check "jobs --parent lists the children in their order"
am_assert_eq "ids in child order" "$children" "$(am_ctl jobs --parent "$parent" --limit 0 | jq -sc 'map (.id)')"
am_assert_eq "the failed ones, in order" "$(jq -c '.[4:7]' <<<"$children")" \
    "$(am_ctl jobs failed --parent "$parent" | jq -sc 'map (.id)')"

am_check "pages of 5 by cursor: every child once, in order"
seen="[]" cursor=null pages=0
while :; do
    body=$(jq -cn --arg p "$parent" --argjson c "$cursor" '{parent: $p, limit: 5, cursor: $c}')
    reply=$("$RAWREQ" "$AM_ENDPOINT" LIST "$body") || am_fail "LIST failed"
    am_assert_eq "reply" JOBS "$(jq -r .command <<<"$reply")"
    seen=$(jq -c --argjson s "$seen" '$s + (.body.jobs | map (.id))' <<<"$reply")
    pages=$(( pages + 1 ))
    cursor=$(jq -c '.body.next // null' <<<"$reply")
    [ "$cursor" = null ] && break
    [ $pages -lt 10 ] || am_fail "more than 10 pages of 5 for 12 children"
done
am_assert_eq "pages" 3 "$pages"
am_assert_eq "ids" "$children" "$seen"

am_check "refusals: a cursor of the other walk, a bad or unknown parent"
s_refused () {
    local reply
    reply=$("$RAWREQ" "$AM_ENDPOINT" "$1" "$2") || am_fail "no reply to $1 $2"
    am_assert_eq "$1 $2" "ERROR 6" "$(jq -r '.command + " " + (.body.code | tostring)' <<<"$reply")"
    am_say "refused: $(jq -r .body.message <<<"$reply")"
}
s_refused LIST "$(jq -cn --arg p "$parent" '{parent: $p, cursor: "a:00000000-0000-4000-8000-000000000000"}')"
s_refused COUNT "$(jq -cn --arg c "k:3:$(jq -r '.[3]' <<<"$children")" '{cursor: $c}')"
s_refused LIST '{"parent": "not-an-id"}'
s_refused COUNT '{"parent": 7}'
s_refused LIST '{"parent": "00000000-0000-4000-8000-000000000000"}'
rc=0; am_ctl count failed --parent 00000000-0000-4000-8000-000000000000 >/dev/null 2>&1 || rc=$?
am_assert_eq "asyncctl exit for an unknown parent" 6 "$rc"
am_say "PASS"
