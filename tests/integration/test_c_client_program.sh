#!/usr/bin/env bash
#   A 20-line C program that uses only <asyncmesh/client.h>, compiled with
#   `cc $(pkg-config --cflags --libs asyncmesh)`, submits testing.mul 6 7,
#   waits for it and prints 42.
source "$(dirname "$0")/../helpers/lib.sh"
src=$(dirname "$0")/client_program.c

am_check "client_program.c compiles against the build tree's asyncmesh.pc"
export PKG_CONFIG_PATH=$AM_BUILD/lib/pkgconfig
flags=$(pkg-config --cflags --libs asyncmesh) || am_fail "pkg-config does not know asyncmesh"
am_say "pkg-config --cflags --libs asyncmesh: $flags"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -o "$AM_TMP/client_program" "$src" $flags \
    >"$AM_TMP/cc.log" 2>&1 || am_fail "cc failed: $(cat "$AM_TMP/cc.log")"

am_broker_start
am_node_start node1 --module "$AM_TESTING_SO"

am_check "the program prints 42, 6 and '3 0' and exits 0 (no LD_LIBRARY_PATH)"
rc=0
out=$(env -u LD_LIBRARY_PATH "$AM_TMP/client_program" "$AM_ENDPOINT" 2>"$AM_TMP/client.log") || rc=$?
am_assert_eq "exit status" 0 "$rc"
am_assert_eq "output" "42 6 3 0" "$(xargs <<<"$out")"
am_say "PASS"
