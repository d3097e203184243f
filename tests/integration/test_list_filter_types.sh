#!/usr/bin/env bash
#   LIST and COUNT refuse a filter they cannot apply (docs/protocol.md
#   section 4, LIST/COUNT), instead of ignoring it and matching every job:
#   a `node` that is not a uuid (one character too long, a number), a
#   `status` that is not an array of strings, a `queue` or `task` that is
#   not a string of at most 200 bytes, a `limit` that is not an integer.
#   Each gets ERROR 6 with a one-line reason. Good filters, and nil for
#   "no filter", still work.
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
id=$(am_ctl submit testing.sleep 1)
uuid=$(am_uuid)
long=$(printf 'q%.0s' $(seq 201))
raw () { "$AM_BUILD/tests/rawsend" "$AM_ENDPOINT" "$@"; }

#   s_refused WHY COMMAND FIELD...: the reply is ERROR 6 whose message
#   names the field (WHY), on one line
s_refused () {
    local why=$1 out; shift
    out=$(raw "$@") || am_fail "no reply to $*"
    case $out in
        "ERROR "*) ;;
        *) am_fail "$* was answered $out, not ERROR 6" ;;
    esac
    am_assert_eq "code of $*" 6 "$(jq -r .code <<<"${out#ERROR }")"
    local message; message=$(jq -r .message <<<"${out#ERROR }")
    [[ $message == *"$why"* ]] || am_fail "$*: the reason '$message' does not name $why"
    [ "$(wc -l <<<"$message")" = 1 ] || am_fail "$*: the reason is not one line"
    am_say "ok: $* -> ERROR 6 $message"
}

am_check "node: longer than a uuid, not a string, not a uuid"
s_refused node LIST "node=${uuid}0"
s_refused node COUNT "node=${uuid}0"
s_refused node LIST "node:=5"
s_refused node COUNT "node=not-a-uuid"

am_check "status: a string, not an array; an array of non-strings"
s_refused status LIST "status=pending"
s_refused status COUNT "status=pending"
s_refused status COUNT 'status:=[1]'
s_refused status LIST 'status:={"pending": true}'

am_check "queue and task: not strings, longer than 200 bytes"
s_refused queue LIST "queue:=5"
s_refused queue COUNT "queue=$long"
s_refused task LIST 'task:=["testing.*"]'
s_refused task COUNT "task=$long"

am_check "limit: not an integer"
s_refused limit LIST "limit=10"
s_refused limit LIST "limit:=1.5"
s_refused limit COUNT 'limit:=[10]'

am_check "good filters and nil ones still match"
am_assert_eq "COUNT status [pending, active, assigned]" 1 \
    "$(raw COUNT 'status:=["pending","assigned","active","completed"]' | sed 's/^COUNT //' | jq -r .count)"
am_assert_eq "COUNT for another node" 0 \
    "$(raw COUNT "node=$uuid" | sed 's/^COUNT //' | jq -r .count)"
am_assert_eq "COUNT with nil filters" 1 \
    "$(raw COUNT 'node:=null' 'status:=null' 'queue:=null' 'task:=null' 'limit:=null' \
        | sed 's/^COUNT //' | jq -r .count)"
am_assert_eq "COUNT of a queue of 200 bytes" 0 \
    "$(raw COUNT "queue=${long:1}" | sed 's/^COUNT //' | jq -r .count)"
am_assert_eq "LIST limit 1" "$id" \
    "$(raw LIST 'limit:=1' 'task=testing.*' | sed 's/^JOBS //' | jq -r '.jobs[0].id')"
am_say "PASS"
