#!/usr/bin/env bash
#   tests/python/run.sh [client|tasks|quickstart] - ctest "python.client"
#   (every test but test_tasks.py) or "python.tasks" (test_tasks.py: tasks
#   written in Python, asyncnode --python-module): pytest on tests/python
#   against the build tree's asyncbroker, asyncnode and asyncmesh package;
#   "python.quickstart" runs examples/python/quickstart.py.
#
#   ASYNC_BUILD          the build tree (set by ctest)
#   ASYNC_PYTHON         the interpreter CMake built the extension for
#   ASYNC_PYTHON_BUILT   ON when the package was built (python3-dev found)
#   ASYNC_SANITIZE       the build's sanitizers, if any
#   ASYNC_PYTHON_TASKS   ON when asyncnode embeds Python (python.tasks)
#
#   ASYNC_PYTHON_ASAN=1  in an ASan/UBSan build, run anyway, with the
#                        sanitizers' runtime preloaded into python3 (leak
#                        checks off: the interpreter keeps memory on exit)
#
#   Exit 77 (SKIPPED) when the package was not built, when the build is
#   sanitized (an extension that links a sanitized libasync cannot load
#   in an unsanitized python3 unless the runtime is preloaded, which is
#   what ASYNC_PYTHON_ASAN=1 asks for), or when no interpreter that can
#   load the extension has pytest (apt-get install python3-pytest).
#   python.tasks and python.quickstart are also skipped when asyncnode was
#   built without Python; in a sanitized build, ASYNC_PYTHON_ASAN=1 runs
#   them as it runs python.client (the nodes inherit the preload and run
#   without leak checks: their interpreter is never finalized).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${ASYNC_BUILD:?ASYNC_BUILD must name the build tree}
which=${1:-client}
case $which in
    client) selection=(--ignore=test_tasks.py "$here");;
    tasks) selection=("$here/test_tasks.py");;
    quickstart) selection=();;
    *) echo "usage: run.sh [client|tasks|quickstart]" >&2; exit 2;;
esac

skip () { echo "python.$which: SKIPPED: $*"; exit 77; }

[ "${ASYNC_PYTHON_BUILT:-OFF}" = ON ] \
    || skip "the Python package was not built: CMake found no Python 3 headers (apt-get install python3-dev)"
if [ "$which" != client ]; then
    [ "${ASYNC_PYTHON_TASKS:-OFF}" = ON ] \
        || skip "asyncnode was built without Python tasks: CMake found no python3-embed (apt-get install python3-dev)"
fi
if [ -n "${ASYNC_SANITIZE:-}" ]; then
    [ "${ASYNC_PYTHON_ASAN:-0}" = 1 ] \
        || skip "a build with ASYNC_SANITIZE=$ASYNC_SANITIZE: its extension cannot load in an unsanitized python3 (ASYNC_PYTHON_ASAN=1 preloads the sanitizers' runtime)"
    case $ASYNC_SANITIZE in *thread*) skip "ASYNC_PYTHON_ASAN=1 is for ASan/UBSan builds, not $ASYNC_SANITIZE";; esac
    #   The runtime libasync links, first in the process
    preload=$(ldd "$build/lib/libasync.so" | awk '/lib(a|ub)san/ { print $3 }' | tr '\n' ' ')
    export LD_PRELOAD="$preload"
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi

export PYTHONPATH=$build/python${PYTHONPATH:+:$PYTHONPATH}
#   The interpreter built for first; else another of the same ABI (the
#   extension's file name says which ones load it) that has pytest
candidates=("${ASYNC_PYTHON:-python3}" python3 /usr/bin/python3)
"${candidates[0]}" -c 'import asyncmesh' \
    || { echo "python.$which: FAIL: ${candidates[0]} cannot import asyncmesh from $build/python" >&2; exit 1; }
for python in "${candidates[@]}"; do
    command -v "$python" >/dev/null || continue
    if [ "$which" = quickstart ]; then
        #   examples/python/quickstart.py, whole, on a free port
        ASYNC_QUICKSTART_PORT=0 exec "$python" "$here/../../examples/python/quickstart.py"
    fi
    if "$python" -c 'import asyncmesh, pytest' 2>/dev/null; then
        echo "python.$which: $("$python" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
        cd "$here"
        exec "$python" -m pytest -q -p no:cacheprovider "${selection[@]}"
    fi
done
skip "no python3 here that loads the extension has pytest (apt-get install python3-pytest)"
