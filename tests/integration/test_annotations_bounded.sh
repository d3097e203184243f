#!/usr/bin/env bash
#   A job's annotations are bounded (1 MiB packed): an ANNOTATE that would
#   grow them past it, or a SUBMIT that carries more, is refused with exit
#   6 and a one-line reason, and the job stays readable (before, twelve
#   annotations of 15 MB made a 180 MB record that no client could read,
#   and broke every listing that met it).
source "$(dirname "$0")/../helpers/lib.sh"

am_broker_start
id=$(am_ctl submit testing.noop)
value=\"$(head -c 100000 /dev/zero | tr '\0' 'x')\"
am_check "annotations of 100 kB each: ten taken, the eleventh refused"
for i in $(seq 10); do am_ctl annotate "$id" "a$i" "$value"; done
rc=0; err=$(am_ctl annotate "$id" a11 "$value" 2>&1 >/dev/null) || rc=$?
am_assert_eq "exit code of the eleventh" 6 "$rc"
grep -q "annotations would take" <<<"$err" || am_fail "the refusal does not say why: $err"
am_assert_eq "lines of the message" 1 "$(wc -l <<<"$err")"
am_assert_eq "annotations kept" 10 "$(am_ctl job "$id" | jq '.annotations | length')"
am_ctl annotate "$id" a1 1          #   a smaller value in place of a big one: taken
am_assert_eq "annotations after replacing one" 10 "$(am_ctl job "$id" | jq '.annotations | length')"

am_check "a SUBMIT whose annotations take more than 1 MiB is refused"
big=$(head -c 600000 /dev/zero | tr '\0' 'x')
printf '{"task": "testing.noop", "annotations": {"x": "%s", "y": "%s"}}' "$big" "$big" \
    >"$AM_TMP/spec.json"
rc=0; err=$(am_ctl submit --spec "$AM_TMP/spec.json" 2>&1 >/dev/null) || rc=$?
am_assert_eq "exit code" 6 "$rc"
grep -q "annotations take more than" <<<"$err" || am_fail "the refusal does not say why: $err"
am_assert_eq "jobs listed" 1 "$(am_ctl jobs | wc -l)"
am_say "PASS"
