#!/usr/bin/env bash
#   libasync.so exports exactly the functions its public headers declare
#   (libcore/include/asyncmesh/*.h), both ways: no internal helper leaks
#   out (they are built with -fvisibility=hidden), no declared function is
#   missing. And asyncnode holds no copy of that API: it uses the
#   library's, the one task modules link against.
source "$(dirname "$0")/../helpers/lib.sh"
command -v nm >/dev/null || am_skip "nm (binutils) is not installed"
lib=$AM_BUILD/lib/libasync.so
[ -e "$lib" ] || am_fail "$lib is missing; build first"

#   Declarations in the house style: the return type on a line of its own
#   at column 0, the name indented on the next line, followed by " ("
s_declared () {
    awk 'prev ~ /^[A-Za-z_]/ && prev !~ /^(typedef|struct|enum|extern|#)/ \
         && prev !~ /[;{},(]$/ && match ($0, /^    [a-z_][a-z0-9_]* \(/) {
             name = $0; sub (/^ +/, "", name); sub (/ \(.*/, "", name); print name
         }
         { prev = $0 }' "$AM_TOP"/libcore/include/asyncmesh/*.h | sort -u
}

am_check "libasync.so exports exactly the functions declared in asyncmesh/*.h"
s_declared >"$AM_TMP/declared"
nm -D --defined-only "$lib" | awk '$3 != "" && $3 != "_init" && $3 != "_fini" { print $3 }' \
    | sed 's/@.*//' | sort -u >"$AM_TMP/exported"
declared=$(wc -l <"$AM_TMP/declared")
[ "$declared" -gt 50 ] || am_fail "only $declared declarations found in the headers: the parser is broken"
extra=$(comm -23 "$AM_TMP/exported" "$AM_TMP/declared")
missing=$(comm -13 "$AM_TMP/exported" "$AM_TMP/declared")
[ -z "$extra" ] || am_fail "libasync.so exports $(wc -l <<<"$extra") symbols no public header declares: $(tr '\n' ' ' <<<"$extra")"
[ -z "$missing" ] || am_fail "declared in asyncmesh/*.h but not exported by libasync.so: $(tr '\n' ' ' <<<"$missing")"
am_say "$declared functions declared, the same exported"

am_check "asyncnode defines none of them itself (it uses libasync.so's)"
copies=$(nm --defined-only "$AM_BIN/asyncnode" | awk '{ print $3 }' | sort -u \
         | comm -12 - "$AM_TMP/declared")
[ -z "$copies" ] || am_fail "asyncnode has its own copy of: $(tr '\n' ' ' <<<"$copies")"
am_say "PASS"
