#!/usr/bin/env bash
#   tests/fuzz/run_broker.sh - build the broker fuzzer with clang and run it
#
#       run_broker.sh [OUT_DIR [SECONDS]]      (default: build/fuzz-broker, 60 s)
#
#   Compiles tests/fuzz/fuzz_broker.c with the broker and libcore sources,
#   straight from the source tree, with clang -fsanitize=fuzzer,address,
#   undefined, into OUT_DIR (the dashboard's web_assets.c is made there by
#   broker/web/embed.cmake); writes the generated seeds (make_corpus_broker)
#   next to a copy of tests/fuzz/corpus_broker; runs libFuzzer for SECONDS
#   with tests/fuzz/broker.dict. The broker's temp store lives in
#   OUT_DIR/tmp and is removed at the end. Exit 0 when it found nothing. On
#   a finding, libFuzzer prints the input; it is kept as OUT_DIR/crash-*
#   (leak-*, oom-*, timeout-*): reproduce with
#       OUT_DIR/fuzz_broker OUT_DIR/crash-...
#   (the broker's state carries over between inputs: if that does not
#   reproduce it, run the whole corpus again with the same seed, -seed=N
#   from the log).
#   Environment: FUZZ_CC (default clang), FUZZ_BROKER_LOG (the broker's log
#   level, default error), FUZZ_BROKER_LOG_FILE (default stderr: fuzz.log).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/build/fuzz-broker}
seconds=${2:-60}
cc=${FUZZ_CC:-clang}
name=fuzz.broker

if ! command -v "$cc" >/dev/null; then
    echo "$name: FAIL: '$cc' is not installed; the fuzzer needs clang with" \
         "libFuzzer (apt-get install clang libclang-rt-14-dev; .ci/install-deps does)" >&2
    exit 1
fi
command -v cmake >/dev/null || { echo "$name: FAIL: cmake is not installed" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
libs="libczmq libzmq msgpack jansson uuid rocksdb libmicrohttpd libsodium"
pkg=$(pkg-config --cflags --libs $libs) || {
    echo "$name: FAIL: pkg-config does not know one of: $libs" >&2
    exit 1
}
src=$top/libcore/src
cmake -DOUTPUT="$out/web_assets.c" -DDIR="$top/broker/web" \
      -P "$top/broker/web/embed.cmake" >"$out/build.log" 2>&1 || {
    echo "$name: FAIL: cannot embed the dashboard:" >&2
    cat "$out/build.log" >&2
    exit 1
}
#   asyncmesh/version.h, as CMake makes it from project (VERSION)
version=$(sed -n 's/^project (asyncmesh VERSION \([0-9]*\)\.\([0-9]*\)\.\([0-9]*\).*/\1 \2 \3/p' \
          "$top/CMakeLists.txt")
read -r major minor patch <<<"$version"
[ -n "${patch:-}" ] || { echo "$name: FAIL: no project version in CMakeLists.txt" >&2; exit 1; }
mkdir -p "$out/include/asyncmesh"
sed -e "s/@PROJECT_VERSION_MAJOR@/$major/" -e "s/@PROJECT_VERSION_MINOR@/$minor/" \
    -e "s/@PROJECT_VERSION_PATCH@/$patch/" -e "s/@PROJECT_VERSION@/$major.$minor.$patch/" \
    "$top/libcore/include/asyncmesh/version.h.in" >"$out/include/asyncmesh/version.h"
broker=()
for f in "$top"/broker/*.c; do
    [ "$(basename "$f")" = main.c ] || broker+=("$f")
done
flags=(-g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=undefined
       -I"$top/libcore/include" -I"$out/include" -I"$src" -I"$top/broker" -I"$top/tests/fuzz")

echo "$name: building with $("$cc" --version | head -n 1)"
# shellcheck disable=SC2086
"$cc" "${flags[@]}" -fsanitize=fuzzer,address,undefined -o "$out/fuzz_broker" \
    "$top/tests/fuzz/fuzz_broker.c" "${broker[@]}" "$out/web_assets.c" "$src"/*.c \
    $pkg -lm -lpthread >>"$out/build.log" 2>&1 || {
    echo "$name: FAIL: the fuzzer does not build (is libclang-rt-NN-dev installed?):" >&2
    cat "$out/build.log" >&2
    exit 1
}
# shellcheck disable=SC2086
"$cc" "${flags[@]}" -fsanitize=address,undefined -o "$out/make_corpus_broker" \
    "$top/tests/fuzz/make_corpus_broker.c" "$src"/async_codec.c "$src"/async_proto.c \
    "$src"/async_alloc.c "$src"/async_util.c \
    "$src"/async_log.c $pkg -lm -lpthread >>"$out/build.log" 2>&1 || {
    echo "$name: FAIL: make_corpus_broker does not build:" >&2
    cat "$out/build.log" >&2
    exit 1
}

#   A fresh working corpus: the committed seeds, the generated ones
rm -rf "$out/corpus" "$out/tmp"
mkdir -p "$out/corpus" "$out/tmp"
cp "$top"/tests/fuzz/corpus_broker/* "$out/corpus/"
"$out/make_corpus_broker" "$out/corpus"
rm -f "$out"/crash-* "$out"/leak-* "$out"/oom-* "$out"/timeout-* "$out"/slow-unit-*

echo "$name: running for $seconds s on $(ls "$out/corpus" | wc -l) seeds"
rc=0
TMPDIR=$out/tmp \
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
"$out/fuzz_broker" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -timeout=10 -max_len=16384 -print_final_stats=1 -artifact_prefix="$out/" \
    -dict="$top/tests/fuzz/broker.dict" "$out/corpus" >"$out/fuzz.log" 2>&1 || rc=$?
rm -rf "$out/tmp"
tail -n 40 "$out/fuzz.log"
if [ $rc != 0 ]; then
    for f in "$out"/crash-* "$out"/leak-* "$out"/oom-* "$out"/timeout-*; do
        [ -e "$f" ] || continue
        echo "$name: finding $f ($(stat -c %s "$f") bytes), first 256 as hex:"
        od -A x -t x1z -N 256 "$f"
    done
    echo "$name: FAIL: libFuzzer exited with $rc (see above; full log $out/fuzz.log)" >&2
    exit 1
fi
echo "$name: PASS"
