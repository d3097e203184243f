#!/usr/bin/env bash
#   `cmake --install` gives a usable asyncmesh in any prefix: the three
#   programs, the example modules, the headers, libasync with its soname and
#   an asyncmesh.pc pointing into the prefix. A client (the quickstart) and a
#   task module (examples/testing) build with pkg-config alone, the module
#   resolving the task API against libasync; the installed broker and node
#   run them end to end, nothing pointing into the build or source tree. A
#   module built for another task API version is refused at load.
source "$(dirname "$0")/../helpers/lib.sh"
command -v cmake >/dev/null || am_skip "cmake is not installed"
command -v pkg-config >/dev/null || am_skip "pkg-config is not installed"
command -v cc >/dev/null || am_skip "no C compiler (cc)"

prefix=$AM_TMP/prefix
am_check "cmake --install puts everything under the prefix"
cmake --install "$AM_BUILD" --prefix "$prefix" >"$AM_TMP/install.log" 2>&1 \
    || am_fail "cmake --install failed: $(tail -n 5 "$AM_TMP/install.log")"
export PKG_CONFIG_PATH=
for dir in "$prefix"/lib*/pkgconfig "$prefix"/lib/*/pkgconfig; do
    [ -e "$dir/asyncmesh.pc" ] && PKG_CONFIG_PATH=$dir
done
[ -n "$PKG_CONFIG_PATH" ] || am_fail "no asyncmesh.pc under $prefix"
libdir=$(pkg-config --variable=libdir asyncmesh)
includedir=$(pkg-config --variable=includedir asyncmesh)
moduledir=$(pkg-config --variable=moduledir asyncmesh)
for path in "$libdir" "$includedir" "$moduledir"; do
    case $path in "$prefix"/*) ;; *) am_fail "asyncmesh.pc points outside $prefix: $path";; esac
done
for file in bin/asyncbroker bin/asyncnode bin/asyncctl; do
    [ -x "$prefix/$file" ] || am_fail "$prefix/$file is not installed"
done
for file in "$moduledir/pi.so" "$moduledir/testing.so" "$includedir/asyncmesh.h" \
            "$includedir/asyncmesh/client.h" "$includedir/asyncmesh/task.h" \
            "$includedir/asyncmesh/version.h" "$includedir/asyncmesh/export.h"; do
    [ -f "$file" ] || am_fail "$file is not installed"
done
ls "$prefix"/share/asyncmesh/conf/asyncnode.cfg "$prefix"/lib/systemd/system/asyncbroker.service \
   "$prefix"/lib/systemd/system/asyncnode@.service >/dev/null 2>&1 \
    || am_fail "conf/ examples or systemd units are not installed"
soname=$(objdump -p "$libdir/libasync.so" | awk '$1 == "SONAME" { print $2 }')
if [ -z "$soname" ] || [ ! -e "$libdir/$soname" ]; then
    am_fail "libasync.so has no soname, or $libdir/$soname is missing"
fi
am_say "installed in $prefix: libdir $libdir, modules $moduledir, soname $soname"

am_check "nothing installed refers to the build or source tree"
if grep -rlsF -e "$AM_BUILD" -e "$AM_TOP/" "$PKG_CONFIG_PATH/asyncmesh.pc"; then
    am_fail "asyncmesh.pc refers to the build tree: $(cat "$PKG_CONFIG_PATH/asyncmesh.pc")"
fi
for file in "$prefix"/bin/* "$libdir"/libasync.so "$moduledir"/*.so; do
    rpath=$(objdump -p "$file" | awk '$1 == "RUNPATH" || $1 == "RPATH" { print $2 }')
    case $rpath in *"$AM_BUILD"*|*"$AM_TOP/"*) am_fail "$file has an rpath into the tree: $rpath";; esac
done

am_check "the quickstart client and the testing module build with pkg-config only"
flags=$(pkg-config --cflags --libs asyncmesh)
am_say "pkg-config --cflags --libs asyncmesh: $flags"
case $flags in *"$AM_TOP/"*|*"$AM_BUILD"*) am_fail "pkg-config flags point into the tree";; esac
# shellcheck disable=SC2086
cc -std=gnu11 -Wall -Wextra -Werror -o "$AM_TMP/quickstart" \
    "$AM_TOP/examples/quickstart/quickstart.c" $flags -lm -Wl,-rpath,"$libdir" \
    >"$AM_TMP/cc.log" 2>&1 || am_fail "cc quickstart.c failed: $(cat "$AM_TMP/cc.log")"
mkdir -p "$AM_TMP/mymodules"
#   --no-undefined: every async_task_* the module calls resolves in libasync
# shellcheck disable=SC2086
cc -std=gnu11 -Wall -Wextra -Werror -shared -fPIC -Wl,--no-undefined \
    -o "$AM_TMP/mymodules/testing.so" "$AM_TOP/examples/testing/testing.c" $flags -lm \
    >"$AM_TMP/cc.log" 2>&1 || am_fail "cc testing.c (a module) failed: $(cat "$AM_TMP/cc.log")"

am_check "asyncmesh/version.h says the version asyncmesh.pc does"
cat >"$AM_TMP/version.c" <<'CODE'
#include <asyncmesh.h>
#include <stdio.h>
int
main (void)
{
    printf ("%d.%d.%d %s\n", ASYNC_VERSION_MAJOR, ASYNC_VERSION_MINOR,
            ASYNC_VERSION_PATCH, ASYNC_VERSION_STRING);
    return 0;
}
CODE
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -o "$AM_TMP/version" "$AM_TMP/version.c" $flags \
    -Wl,-rpath,"$libdir" >"$AM_TMP/cc.log" 2>&1 || am_fail "cc version.c failed: $(cat "$AM_TMP/cc.log")"
version=$(pkg-config --modversion asyncmesh)
am_assert_eq "ASYNC_VERSION_MAJOR.MINOR.PATCH and _STRING" "$version $version" "$("$AM_TMP/version")"

am_check "a module built for another task API version is refused, with one line and exit 2"
cat >"$AM_TMP/oldabi.c" <<'CODE'
#include <asyncmesh.h>
ASYNC_EXPORT const int async_module_abi = ASYNC_TASK_ABI_VERSION + 1;
ASYNC_EXPORT int async_module_init (async_registry_t *registry);
int
async_module_init (async_registry_t *registry)
{
    return 0;
}
CODE
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Wno-unused-parameter -shared -fPIC -o "$AM_TMP/oldabi.so" \
    "$AM_TMP/oldabi.c" $flags >"$AM_TMP/cc.log" 2>&1 \
    || am_fail "cc oldabi.c failed: $(cat "$AM_TMP/cc.log")"
rc=0
env -u LD_LIBRARY_PATH "$prefix/bin/asyncnode" --broker tcp://127.0.0.1:1 \
    --module "$AM_TMP/oldabi.so" >"$AM_TMP/oldabi.out" 2>"$AM_TMP/oldabi.err" || rc=$?
am_assert_eq "asyncnode's exit status" 2 "$rc"
am_assert_eq "lines on stderr" 1 "$(wc -l <"$AM_TMP/oldabi.err")"
grep -q "task API version" "$AM_TMP/oldabi.err" \
    || am_fail "the error does not name the task API version: $(cat "$AM_TMP/oldabi.err")"
am_say "refused: $(cat "$AM_TMP/oldabi.err")"
#   One built before the task API had a version: no async_module_abi
sed '/async_module_abi/d' "$AM_TMP/oldabi.c" >"$AM_TMP/noabi.c"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Wno-unused-parameter -shared -fPIC -o "$AM_TMP/noabi.so" \
    "$AM_TMP/noabi.c" $flags >"$AM_TMP/cc.log" 2>&1 \
    || am_fail "cc noabi.c failed: $(cat "$AM_TMP/cc.log")"
rc=0
env -u LD_LIBRARY_PATH "$prefix/bin/asyncnode" --broker tcp://127.0.0.1:1 \
    --module "$AM_TMP/noabi.so" >"$AM_TMP/noabi.out" 2>"$AM_TMP/noabi.err" || rc=$?
am_assert_eq "asyncnode's exit status (no version)" 2 "$rc"
am_assert_eq "lines on stderr (no version)" 1 "$(wc -l <"$AM_TMP/noabi.err")"
grep -q "task API version" "$AM_TMP/noabi.err" \
    || am_fail "the error does not name the task API version: $(cat "$AM_TMP/noabi.err")"
am_say "refused: $(cat "$AM_TMP/noabi.err")"

am_check "the installed broker and node run the built client and module end to end"
unset LD_LIBRARY_PATH
# shellcheck disable=SC2034
AM_BIN=$prefix/bin              #   lib.sh starts these from now on
am_broker_start
am_node_start node1 --module "$moduledir/pi.so" --module "$AM_TMP/mymodules/testing.so"
rc=0
timeout 300 "$AM_TMP/quickstart" "$AM_ENDPOINT" >"$AM_TMP/quickstart.log" 2>&1 || rc=$?
am_assert_eq "quickstart's exit status ($(tail -n 3 "$AM_TMP/quickstart.log"))" 0 "$rc"
id=$(am_ctl submit testing.mul 6 7) || am_fail "submit testing.mul failed"
am_wait_for "testing.mul 6 7 to complete" 60 am_job_is "$id" completed
am_assert_eq "testing.mul 6 7 from the module built against the prefix" 42 \
    "$(am_job_field "$id" .result)"
am_say "PASS"
