#!/usr/bin/env bash
#   `--module NAME.so` (no slash) loads NAME.so from the node's working
#   directory (docs/modules.md, "Loading"); so does a `modules` key of the
#   config file. Before, dlopen searched only the system's library
#   directories for a bare name and the installed node exited 2 although
#   the file was right there (the node of the build tree found it by
#   accident: CMake pads its RUNPATH with an empty entry, the working
#   directory, which an installed node has not). So the nodes here are the
#   installed ones (`cmake --install` into a temp prefix). A bare name
#   found nowhere names the working directory.
source "$(dirname "$0")/../helpers/lib.sh"
command -v cmake >/dev/null || am_skip "cmake is not installed"

prefix=$AM_TMP/prefix
cmake --install "$AM_BUILD" --prefix "$prefix" >"$AM_TMP/install.log" 2>&1 \
    || am_fail "cmake --install failed: $(tail -n 5 "$AM_TMP/install.log")"
AM_BIN=$prefix/bin
am_broker_start
mkdir -p "$AM_TMP/node1" "$AM_TMP/node2"
cp "$AM_TESTING_SO" "$AM_TMP/node1/wc.so"
cp "$AM_TESTING_SO" "$AM_TMP/node2/mine.so"

am_check "--module wc.so loads ./wc.so"
am_node_start node1 --module wc.so --agent main:1@one
am_assert_eq "result of testing.mul on node1" 42 \
    "$(am_ctl submit --wait --wait-timeout 30s --queue one testing.mul 6 7)"

am_check "modules/t = mine.so in the config file loads ./mine.so"
printf 'modules\n    t = mine.so\n' >"$AM_TMP/node2/node.cfg"
am_node_start node2 --config node.cfg --agent main:1@two
am_assert_eq "result of testing.mul on node2" 42 \
    "$(am_ctl submit --wait --wait-timeout 30s --queue two testing.mul 6 7)"

am_check "a bare name found nowhere: exit 2, the working directory named"
mkdir -p "$AM_TMP/node3"
rc=0
(cd "$AM_TMP/node3" && timeout 10 "$AM_BIN/asyncnode" --broker "$AM_ENDPOINT" --module wc.so) \
    2>"$AM_TMP/err" || rc=$?
am_assert_eq "exit of a node whose module is nowhere" 2 "$rc"
err=$(cat "$AM_TMP/err")
[[ $err == "asyncnode: cannot load module wc.so: not in the working directory $AM_TMP/node3,"* ]] \
    || am_fail "the error does not name the working directory: $err"
am_say "ok: $err"
am_say "PASS"
