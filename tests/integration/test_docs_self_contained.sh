#!/usr/bin/env bash
#   The repository's documents stand on their own, for a user who cloned
#   only this repository: no tracked file refers to files
#   outside it (the workspace's shared directory, the contract's old name)
#   or to issue numbers; every "docs/spec.md section N" names a section
#   that docs/spec.md has; every relative link of README.md and docs/*.md
#   leads to a file that exists; and the C examples of docs/modules.md
#   compile: the first, a whole module, with the plain cc line the guide
#   gives, the others being excerpts of examples/guide/guide.c (built with
#   -Werror by CMake), word for word. Starts nothing.
source "$(dirname "$0")/../helpers/lib.sh"

cd "$AM_TOP"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files)
else
    mapfile -t files < <(find . -type f -not -path './.git/*' -not -path './build*' \
                         | sed 's|^\./||')
fi
[ ${#files[@]} -gt 50 ] || am_fail "found only ${#files[@]} files under $AM_TOP"

#   The patterns are spelt in pieces, so that this file does not match them
am_check "no file refers to the workspace's shared directory, the contract's old name or an issue number"
patterns=(
    '\.\./'"shared"
    'SPEC'"\.md"
    '\bSPEC'" (sections?|[0-9])"
    '\(SPEC'"\)"
    '[Ii]ss'"ues? #?[0-9]+"
)
bad=0
for pattern in "${patterns[@]}"; do
    if grep -I -n -E "$pattern" -- "${files[@]}" >"$AM_TMP/hits" 2>/dev/null; then
        am_say "files that match /$pattern/:"
        cat "$AM_TMP/hits"
        bad=1
    fi
done
[ $bad = 0 ] || am_fail "files refer outside the repository (see above); refer to docs/spec.md section N, docs/*.md, or describe the behaviour instead"

am_check "every docs/spec.md section named elsewhere exists"
[ -f docs/spec.md ] || am_fail "docs/spec.md is missing"
mapfile -t sections < <(grep -E '^#{2,3} [0-9]+(\.[0-9]+)*\.? ' docs/spec.md \
                        | sed -E 's/^#+ ([0-9.]*[0-9]).*/\1/')
[ ${#sections[@]} -ge 9 ] || am_fail "docs/spec.md has ${#sections[@]} numbered sections, not 9 or more"
grep -I -o -h -E 'docs/spec\.md sections? [0-9]+(\.[0-9]+)*((, | and )[0-9]+(\.[0-9]+)*)*' \
    -- "${files[@]}" 2>/dev/null | grep -o -E '[0-9]+(\.[0-9]+)*$|[0-9]+(\.[0-9]+)*(,| and)' \
    | sed -E 's/(,| and)$//' | sort -u >"$AM_TMP/named" || true
[ -s "$AM_TMP/named" ] || am_fail "no file names a docs/spec.md section: the check would prove nothing"
while read -r number; do
    found=0
    for section in "${sections[@]}"; do
        [ "$section" = "$number" ] && found=1
    done
    [ $found = 1 ] || am_fail "docs/spec.md has no section $number, but a file names it: $(grep -I -l -E "docs/spec\.md sections? ([0-9., ]|and )*\b$number\b" -- "${files[@]}" | head -3 | tr '\n' ' ')"
done <"$AM_TMP/named"

am_check "every function and constant of the code the docs name in backquotes exists"
#   Names of the code's own shape: s_name, S_NAME, or a function, constant
#   or variable of a module (commit_start, async_msg_init, ASYNC_CURVE_KEY),
#   looked for in every file but the documents: a part that was moved or
#   renamed leaves its old name behind in the docs otherwise
prefixes='(s|S|async|broker|commit|dispatch|every|keys|lifecycle|listing|nodes|query|queueing|quota|recover|requests|session|SESSION|spec|store|timers|token|upkeep|waiters|WAITERS|NODES|COMMIT|KEYS|ASYNC)'
mapfile -t sources < <(printf '%s\n' "${files[@]}" | grep -v -E '\.md$')
names=0
for doc in README.md docs/*.md; do
    while IFS= read -r name; do
        names=$((names + 1))
        grep -q -w -F -- "$name" "${sources[@]}" \
            || am_fail "$doc names \`$name\`, which is in no source file (moved or renamed?)"
    done < <(grep -o -E '`'"$prefixes"'_[A-Za-z0-9_]+`' "$doc" | tr -d '`' | sort -u)
done
[ $names -ge 50 ] || am_fail "only $names names found: the check would prove nothing"
am_say "$names names of the code checked"

am_check "every relative link of README.md and docs/*.md exists"
links=0
for doc in README.md docs/*.md; do
    dir=$(dirname "$doc")
    while IFS= read -r target; do
        links=$((links + 1))
        path=${target%%#*}
        [ -n "$path" ] || continue                      #   #anchor in the same file
        [ -e "$dir/$path" ] || am_fail "$doc links to '$target', which does not exist ($dir/$path)"
    done < <(grep -o -E '\]\([^)[:space:]]+\)' "$doc" | sed -E 's/^\]\((.*)\)$/\1/' \
             | grep -v -E '^[a-z]+:' || true)
done
[ $links -ge 5 ] || am_fail "only $links relative links found: the check would prove nothing"
am_say "$links relative links checked"

am_check "the C examples of docs/modules.md compile"
command -v cc >/dev/null || am_skip "no C compiler"
pkg-config --exists jansson || am_skip "no pkg-config file for jansson (libjansson-dev)"
awk -v dir="$AM_TMP" '
    /^```c$/ { n++; file = sprintf ("%s/block%d.c", dir, n); inside = 1; next }
    /^```$/  { if (inside) close (file); inside = 0; next }
    inside   { print > file }
' docs/modules.md
blocks=("$AM_TMP"/block*.c)
[ ${#blocks[@]} -ge 3 ] || am_fail "docs/modules.md has ${#blocks[@]} C examples, not 3 or more"
#   The plain cc line of docs/modules.md, section 2, with warnings as errors
cc_line=$(grep -m1 -E '^cc -shared -fPIC -o demo.so demo.c -I libcore/include' docs/modules.md) \
    || am_fail "docs/modules.md no longer gives the plain cc line this test runs"
cp "$AM_TMP/block1.c" "$AM_TMP/demo.c"
(cd "$AM_TMP" && eval "${cc_line/-I libcore\/include/-I $AM_TOP/libcore/include}" \
                     -Wall -Wextra -Werror) || am_fail "the first example of docs/modules.md does not compile with: $cc_line"
[ -s "$AM_TMP/demo.so" ] || am_fail "cc made no demo.so"
nm -D --defined-only "$AM_TMP/demo.so" | grep -q ' T async_module_init$' \
    || am_fail "demo.so does not export async_module_init"
guide=$(cat examples/guide/guide.c)
for block in "${blocks[@]:1}"; do
    text=$(cat "$block")
    [[ "$guide" == *"$text"* ]] \
        || am_fail "this example of docs/modules.md is not in examples/guide/guide.c word for word: $(head -3 "$block" | tr '\n' ' ')"
done
am_say "${#blocks[@]} C examples checked"
am_say "PASS"
