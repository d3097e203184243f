#!/usr/bin/env bash
#   Listings over many live jobs never hold the broker's loop up
#   (docs/protocol.md LIST, COUNT, Limits): with 300,000 running parallel
#   jobs, each waiting for a child pending in a queue no node serves (a
#   store written by tests/store_live, recovered by the broker), `asyncctl
#   count active` (COUNT page after page), `asyncctl jobs active` (LIST
#   pages), then /api/jobs pages, run while tests/pinger times PING/PONG
#   round trips: the count is right, comes in seconds, and the round trips
#   stay under 50 ms (the same allowance for a shared machine as
#   list_no_stall; not judged in a sanitized build).
#
#   Before the live jobs were kept in order, each LIST or COUNT page made a
#   pass over all the live ids to pick those after its cursor: PING waited
#   up to 300 ms behind one page, and `asyncctl count active` took minutes.
#   And an /api/jobs page was turned into JSON after the page's bounds:
#   60 to 110 ms a page of 1000 jobs.
source "$(dirname "$0")/../helpers/lib.sh"

LIVE=${AM_LIST_LIVE:-300000}
COUNT_S=${AM_LIST_COUNT_S:-30}      #   a COUNT over them takes under 1 s here

am_check "a store of $LIVE running parallel jobs"
t0=$(am_now)
"$AM_BUILD/tests/store_live" "$AM_DATA" "$LIVE" 1 || am_fail "store_live failed"
am_say "written in $(am_calc "$(am_now) - $t0") s"
HTTP=127.0.0.1:$(am_free_port)
AM_BROKER_START_S=120   #   it recovers every live job first
am_broker_start --http "$HTTP"

#   s_pinger_start NAME: time PING/PONG round trips into $AM_TMP/NAME (the
#   broker and the pinger run at a higher priority than the listings'
#   clients, where allowed: am_pinger_start)
s_pinger_start () { am_pinger_start "$AM_TMP/$1" "$AM_TMP/$1.stop"; }

#   A sanitized build (ASan, UBSan) is checked for what it finds, not
#   timed: its loop is several times slower than the one users run
SANITIZED=
am_sanitized && SANITIZED=1

#   s_pinger_check NAME: stop the pinger, and judge its round trips. The
#   machine is shared: the scheduler alone leaves the broker waiting tens
#   of milliseconds now and then. So, as in list_no_stall: at most 1% of
#   the PINGs may reach 50 ms, and none 200 ms
s_pinger_check () {
    touch "$AM_TMP/$1.stop"
    wait "$AM_PINGER" || am_fail "the pinger got no PONG: $(cat "$AM_TMP/$1")"
    am_say "$1: $(head -1 "$AM_TMP/$1")"
    if [ -n "$SANITIZED" ]; then
        am_say "$1: a sanitized build: the round trips are not judged"
        return 0
    fi
    local pings max over
    pings=$(sed -n 's/.*pings=\([0-9]*\).*/\1/p' "$AM_TMP/$1" | head -1)
    max=$(sed -n 's/.*max_us=\([0-9]*\).*/\1/p' "$AM_TMP/$1" | head -1)
    over=$(sed -n 's/.*over_50ms=\([0-9]*\).*/\1/p' "$AM_TMP/$1" | head -1)
    [ "${pings:-0}" -ge 100 ] || am_fail "too few pings to judge: $(cat "$AM_TMP/$1")"
    [ "$((over * 100))" -le "$pings" ] \
        || am_fail "$1: $over of $pings PINGs waited 50 ms or more: $(cat "$AM_TMP/$1")"
    [ "$max" -lt 200000 ] || am_fail "$1: a PING waited $max us: $(cat "$AM_TMP/$1")"
}

am_check "COUNT and LIST of the live jobs while PING is timed"
#   A page that walks all the live ids holds the loop for 100-300 ms
s_pinger_start pings-count
for round in 1 2 3 4 5 6; do
    t0=$(am_now)
    count=$(timeout "$COUNT_S" "$AM_BIN/asyncctl" --broker "$AM_ENDPOINT" count active) \
        || am_fail "asyncctl count active did not finish within $COUNT_S s (round $round)"
    am_say "count active: $count in $(am_calc "$(am_now) - $t0") s"
    am_assert_eq "asyncctl count active, round $round" "$LIVE" "$count"
done
#   Three LIST pages, each from the cursor of the one before: in id order,
#   each job once
am_ctl jobs active --limit 2500 | jq -r .id >"$AM_TMP/ids"
am_assert_eq "asyncctl jobs active --limit 2500" 2500 "$(wc -l <"$AM_TMP/ids")"
LC_ALL=C sort -c "$AM_TMP/ids" || am_fail "the live jobs are not listed in id order"
am_assert_eq "distinct jobs listed" 2500 "$(sort -u "$AM_TMP/ids" | wc -l)"
am_ctl status >/dev/null
s_pinger_check pings-count

am_check "/api/jobs pages of the live jobs while PING is timed"
#   Turning a page of 1000 jobs into JSON after the page's bounds held the
#   loop 60 to 110 ms a page: the JSON is built within them now
s_pinger_start pings-http
: >"$AM_TMP/http-ids"
cursor=
for page in $(seq 20); do
    code=$(curl -sS -o "$AM_TMP/body" -D "$AM_TMP/headers" -w '%{http_code}' \
           "http://$HTTP/api/jobs?status=active&limit=0${cursor:+&cursor=$cursor}")
    am_assert_eq "status code of page $page" 200 "$code"
    jq -r '.[].id' "$AM_TMP/body" >>"$AM_TMP/http-ids"
    cursor=$(grep -i '^Next-Cursor:' "$AM_TMP/headers" | cut -d' ' -f2- | tr -d '\r' || true)
    [ -n "$cursor" ] || am_fail "no Next-Cursor on page $page"
done
s_pinger_check pings-http
n=$(wc -l <"$AM_TMP/http-ids")
am_say "20 pages over HTTP: $n jobs"
LC_ALL=C sort -c "$AM_TMP/http-ids" || am_fail "the pages are not in id order"
am_assert_eq "distinct jobs over HTTP" "$n" "$(sort -u "$AM_TMP/http-ids" | wc -l)"
am_assert_eq "the first page starts where asyncctl jobs does" "$(head -1 "$AM_TMP/ids")" \
    "$(head -1 "$AM_TMP/http-ids")"

am_say "PASS"
