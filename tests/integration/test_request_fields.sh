#!/usr/bin/env bash
#   The broker reads a request's fields with its typed decoder
#   (libcore/src/async_msgs.h) and refuses each bad field with its own
#   reply, as docs/protocol.md says:
#     - a schedule name holding a NUL byte is refused, not cut at the NUL
#       (before, EVERY-SET "fine<NUL>x" set the schedule "fine" and
#       EVERY-DELETE "fine<NUL>x" deleted it);
#     - ANNOTATE with a bad id is ERROR 5, without a value ERROR 6;
#       QUOTA-SET with a size that is no integer, HISTORY with a range
#       that is no str, EVERY-SET with a tz that is no str are ERROR 6,
#       each with its own reason.
source "$(dirname "$0")/../helpers/lib.sh"

RAWSEND=$AM_BUILD/tests/rawsend
[ -x "$RAWSEND" ] || am_fail "$RAWSEND is missing; build first (cmake --build build)"
am_broker_start

#   s_reply WHAT WANT COMMAND FIELD...: the reply is WANT ("OK", or
#   "ERROR code message")
s_reply () {
    local what=$1 want=$2 reply; shift 2
    reply=$("$RAWSEND" "$AM_ENDPOINT" "$@") || am_fail "no reply to $what"
    case $reply in
        ERROR\ *) reply="ERROR $(jq -r '"\(.code) \(.message)"' <<<"${reply#ERROR }")";;
        *) reply=${reply%% *};;
    esac
    am_assert_eq "$what" "$want" "$reply"
}

spec='spec:={"task":"testing.mul","args":[6,7]}'
am_check "a schedule name with a NUL byte is refused"
s_reply "EVERY-SET fine" OK EVERY-SET name=fine 'interval_ms:=60000' "$spec"
s_reply "EVERY-SET fine<NUL>x" "ERROR 6 bad schedule name '': use 1-174 letters, digits and _-.:" \
    EVERY-SET 'name:="fine\u0000x"' 'interval_ms:=60000' "$spec"
s_reply "EVERY-DELETE fine<NUL>x" "ERROR 6 no such schedule" \
    EVERY-DELETE 'name:="fine\u0000x"'
am_assert_eq "schedules" fine "$(am_ctl every list | jq -r '.name')"

am_check "each bad field has its own reply"
s_reply "ANNOTATE with a bad id" "ERROR 5 no such job" \
    ANNOTATE id=nope name=x 'value:=1'
id=$(am_ctl submit testing.mul 6 7 2>/dev/null)
s_reply "ANNOTATE without a value" "ERROR 6 ANNOTATE needs a name and a value" \
    ANNOTATE "id=$id" name=x
s_reply "ANNOTATE nil" OK ANNOTATE "id=$id" name=x 'value:=null'
s_reply "QUOTA-SET size \"5\"" \
    "ERROR 6 a quota size is a whole number from 1 to 1000000000" \
    QUOTA-SET name=q size=5
s_reply "QUOTA-SET size 5" OK QUOTA-SET name=q 'size:=5'
s_reply "HISTORY range 1" "ERROR 6 range must be hour, day or week" HISTORY 'range:=1'
s_reply "EVERY-SET tz 1" "ERROR 6 tz must be a string of at most 64 bytes: UTC, a fixed offset like +01:00 or a name like Europe/Paris" \
    EVERY-SET name=c 'cron=* * * * *' 'tz:=1' "$spec"
am_say "PASS"
