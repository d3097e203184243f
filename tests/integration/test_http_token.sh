#!/usr/bin/env bash
#   The HTTP port's guard (docs/monitoring.md, Security): --http beyond loopback
#   without --http-token refuses to start (exit 2, one line); a token file
#   readable by others is refused (exit 2); with a token every request needs
#   "Authorization: Bearer TOKEN" (401 with WWW-Authenticate otherwise; the page
#   also takes ?token=); on loopback no token is needed.
source "$(dirname "$0")/../helpers/lib.sh"

BROKER=$AM_BIN/asyncbroker
HPORT=$(am_free_port)

#   s_refused WHAT EXPECTED_TEXT FLAGS...: the broker exits 2 at once with
#   one line on stderr that contains EXPECTED_TEXT
s_refused () {
    local what=$1 text=$2 rc=0; shift 2
    am_check "$what: exit 2"
    timeout 10 "$BROKER" --data "$AM_TMP/refused" --bind "tcp://127.0.0.1:$(am_free_port)" \
        "$@" >"$AM_TMP/out" 2>"$AM_TMP/err" || rc=$?
    am_assert_eq "$what: exit status" 2 "$rc"
    am_assert_eq "$what: lines on stderr" 1 "$(wc -l <"$AM_TMP/err")"
    grep -qF -- "$text" "$AM_TMP/err" || am_fail "$what: stderr '$(<"$AM_TMP/err")' lacks '$text'"
    am_say "ok: $(<"$AM_TMP/err")"
}

s_refused "--http 0.0.0.0 without a token" "needs --http-token" --http "0.0.0.0:$HPORT"
TOKEN=$(openssl rand -hex 24)
printf '%s\n' "$TOKEN" >"$AM_TMP/token"
chmod 644 "$AM_TMP/token"
s_refused "a token file of mode 644" "is readable by others (mode 0644); chmod 600" \
    --http "0.0.0.0:$HPORT" --http-token "$AM_TMP/token"
s_refused "a missing token file" "cannot be read" \
    --http "127.0.0.1:$HPORT" --http-token "$AM_TMP/nosuch"
s_refused "a malformed --http" "is not ADDR:PORT" --http "nowhere"
chmod 600 "$AM_TMP/token"

#   s_code PATH [CURL ARGS...]: the status code
s_code () { curl -sS -o /dev/null -D "$AM_TMP/headers" -w '%{http_code}' "$@" "http://127.0.0.1:$HPORT$1"; }
s_code () {
    local path=$1; shift
    curl -sS -o /dev/null -D "$AM_TMP/headers" -w '%{http_code}' "$@" "http://127.0.0.1:$HPORT$path"
}

am_check "--http 0.0.0.0 with --http-token (mode 600): bearer token required"
am_broker_start --http "0.0.0.0:$HPORT" --http-token "$AM_TMP/token"
am_assert_eq "/metrics without a token" 401 "$(s_code /metrics)"
grep -qi '^WWW-Authenticate: Bearer' "$AM_TMP/headers" || am_fail "no WWW-Authenticate: Bearer on 401"
am_assert_eq "/api/status with a wrong token" 401 \
    "$(s_code /api/status -H "Authorization: Bearer ${TOKEN}x")"
am_assert_eq "/api/status with a token one character short" 401 \
    "$(s_code /api/status -H "Authorization: Bearer ${TOKEN%?}")"
am_assert_eq "/api/status with the token in the query" 401 "$(s_code "/api/status?token=$TOKEN")"
am_assert_eq "/api/status with the right token" 200 \
    "$(s_code /api/status -H "Authorization: Bearer $TOKEN")"
am_assert_eq "/metrics with the right token" 200 \
    "$(s_code /metrics -H "Authorization: Bearer $TOKEN")"
am_assert_eq "/ without a token" 401 "$(s_code /)"
am_assert_eq "/?token=TOKEN" 200 "$(s_code "/?token=$TOKEN")"
am_assert_eq "/?token=wrong" 401 "$(s_code "/?token=wrong")"
am_assert_eq "/app.js (no data in it)" 200 "$(s_code /app.js)"
kill -TERM "$AM_BROKER_PID"; wait "$AM_BROKER_PID" 2>/dev/null || true

am_check "--http 127.0.0.1 without a token: open"
HPORT=$(am_free_port)
am_broker_start --http "127.0.0.1:$HPORT"
am_assert_eq "/api/status without a token on loopback" 200 "$(s_code /api/status)"
am_say "PASS"
