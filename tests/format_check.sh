#!/usr/bin/env bash
#   tests/format_check.sh [--fix] [BASE] - check the C of a change against
#   .clang-format
#
#   Runs `clang-format --dry-run --Werror` on the C files (*.c, *.h) that
#   changed since BASE, in the commits and in the working tree:
#     - a file added since BASE (or not yet tracked): the whole file;
#     - a file under tests/ that was changed: the lines changed only.
#   Product code that already existed (broker/, node/, ctl/, libcore/) is
#   not checked, so that nothing is reformatted wholesale.
#
#   BASE: a commit; by default $ASYNC_FORMAT_BASE, else where this branch
#   left `main` (git merge-base), else HEAD (on main itself, or with no
#   branch main: the changes not committed yet, so that a merged branch's
#   files are checked on the branch, not again on main).
#   --fix: format those files (those lines) in place instead.
#   Exit 0: formatted; 1: not formatted (clang-format
#   prints where; --fix formats them);
#   2: BASE is not a commit; 77: skipped (no clang-format, not a git
#   checkout, or no C file changed since BASE), which ctest reports as
#   skipped (test "format").
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

command -v clang-format >/dev/null || {
    echo "format_check: SKIPPED: clang-format is not installed (apt-get install clang-format)"
    exit 77
}
git rev-parse --verify -q HEAD >/dev/null 2>&1 || {
    echo "format_check: SKIPPED: $top is not a git checkout with commits"
    exit 77
}

mode=(--dry-run --Werror)
if [ "${1:-}" = --fix ]; then mode=(-i); shift; fi
base=${1:-${ASYNC_FORMAT_BASE:-}}
if [ -z "$base" ]; then
    if git rev-parse --verify -q main >/dev/null \
        && [ "$(git merge-base HEAD main)" != "$(git rev-parse HEAD)" ]; then
        base=$(git merge-base HEAD main)
    else
        base=HEAD               #   on main: what is not committed yet
    fi
fi
git rev-parse --verify -q "$base^{tree}" >/dev/null || {
    echo "format_check: '$base' is not a commit" >&2
    exit 2
}

is_c () { case $1 in *.c|*.h) return 0;; *) return 1;; esac; }

checked=0 failed=0
check () {                      #   check FILE [--lines=A:B ...]
    checked=$(( checked + 1 ))
    if ! clang-format "${mode[@]}" "$@" 2>&1; then
        failed=$(( failed + 1 ))
    fi
}

#   Added since BASE, or untracked: the whole file
declare -A whole=()
while IFS= read -r file; do
    is_c "$file" && [ -f "$file" ] && whole[$file]=1
done < <(git diff --name-only --diff-filter=A "$base" --;
         git ls-files --others --exclude-standard)
for file in "${!whole[@]}"; do check "$file"; done

#   Changed under tests/: the lines changed (the new side of each hunk)
while IFS= read -r file; do
    is_c "$file" && [ -f "$file" ] && [ -z "${whole[$file]:-}" ] || continue
    lines=()
    while IFS= read -r range; do
        start=${range%,*} count=1
        [ "$range" = "$start" ] || count=${range#*,}
        [ "$count" -gt 0 ] || continue                 #   lines removed only
        lines+=("--lines=$start:$(( start + count - 1 ))")
    done < <(git diff -U0 "$base" -- "$file" | sed -n 's/^@@ -[0-9,]* +\([0-9,]*\) @@.*/\1/p')
    [ ${#lines[@]} = 0 ] || check "$file" "${lines[@]}"
done < <(git diff --name-only --diff-filter=M "$base" -- tests)

if [ $failed -gt 0 ]; then
    echo "format_check: FAIL: $failed of $checked files differ from .clang-format" \
         "(base $base; tests/format_check.sh --fix formats them)" >&2
    exit 1
fi
if [ $checked = 0 ]; then
    #   Nothing was looked at (a clean checkout of main, as CI has): say so,
    #   rather than pass
    echo "format_check: SKIPPED: no C file changed since $base"
    exit 77
fi
echo "format_check: ok: $checked files checked against .clang-format (base $base)"
