#!/usr/bin/env bash
#   tests/fuzz/run.sh - build the codec fuzzer with clang and run it
#
#       run.sh [OUT_DIR [SECONDS]]      (default: build/fuzz, 30 s)
#
#   Compiles tests/fuzz/fuzz_codec.c with the libcore sources it needs,
#   straight from the source tree with clang -fsanitize=fuzzer,address,
#   undefined (whatever compiler the CMake build uses), into OUT_DIR; writes
#   fresh seeds (make_corpus) next to a copy of tests/fuzz/corpus; runs
#   libFuzzer for SECONDS. Exit 0 when it found nothing. On a finding,
#   libFuzzer prints the input (and its base64); it is also kept as
#   OUT_DIR/crash-*, leak-*, oom-* or timeout-*: reproduce with
#       OUT_DIR/fuzz_codec OUT_DIR/crash-...
#   Environment: FUZZ_CC (default clang).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/build/fuzz}
seconds=${2:-30}
cc=${FUZZ_CC:-clang}

if ! command -v "$cc" >/dev/null; then
    echo "fuzz.codec: FAIL: '$cc' is not installed; the fuzzer needs clang with" \
         "libFuzzer (apt-get install clang libclang-rt-14-dev; .ci/install-deps does)" >&2
    exit 1
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
libs="libczmq libzmq msgpack jansson uuid"
pkg=$(pkg-config --cflags --libs $libs) || {
    echo "fuzz.codec: FAIL: pkg-config does not know one of: $libs" >&2
    exit 1
}
src=$top/libcore/src
sources=("$src/async_codec.c" "$src/async_proto.c" "$src/async_msgs.c" "$src/async_alloc.c"
         "$src/async_job.c"
         "$src/async_util.c" "$src/async_log.c" "$src/async_cron.c"
         "$src/async_tz.c")
flags=(-g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=undefined
       -I"$top/libcore/include" -I"$src")

echo "fuzz.codec: building with $("$cc" --version | head -n 1)"
# shellcheck disable=SC2086
"$cc" "${flags[@]}" -fsanitize=fuzzer,address,undefined -o "$out/fuzz_codec" \
    "$top/tests/fuzz/fuzz_codec.c" "${sources[@]}" $pkg -lm -lpthread \
    >"$out/build.log" 2>&1 || {
    echo "fuzz.codec: FAIL: the fuzzer does not build (is libclang-rt-NN-dev installed?):" >&2
    cat "$out/build.log" >&2
    exit 1
}
# shellcheck disable=SC2086
"$cc" "${flags[@]}" -fsanitize=address,undefined -o "$out/make_corpus" \
    "$top/tests/fuzz/make_corpus.c" "${sources[@]}" $pkg -lm -lpthread \
    >>"$out/build.log" 2>&1 || {
    echo "fuzz.codec: FAIL: make_corpus does not build:" >&2
    cat "$out/build.log" >&2
    exit 1
}

#   A fresh working corpus: the committed seeds, the generated ones
rm -rf "$out/corpus"
mkdir -p "$out/corpus"
cp "$top"/tests/fuzz/corpus/* "$out/corpus/"
"$out/make_corpus" "$out/corpus"
rm -f "$out"/crash-* "$out"/leak-* "$out"/oom-* "$out"/timeout-* "$out"/slow-unit-*

echo "fuzz.codec: running for $seconds s on $(ls "$out/corpus" | wc -l) seeds"
rc=0
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
"$out/fuzz_codec" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -timeout=10 -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/" \
    "$out/corpus" >"$out/fuzz.log" 2>&1 || rc=$?
tail -n 40 "$out/fuzz.log"
if [ $rc != 0 ]; then
    for f in "$out"/crash-* "$out"/leak-* "$out"/oom-* "$out"/timeout-*; do
        [ -e "$f" ] || continue
        echo "fuzz.codec: finding $f ($(stat -c %s "$f") bytes), first 256 as hex:"
        od -A x -t x1z -N 256 "$f"
    done
    echo "fuzz.codec: FAIL: libFuzzer exited with $rc (see above; full log $out/fuzz.log)" >&2
    exit 1
fi
echo "fuzz.codec: PASS"
