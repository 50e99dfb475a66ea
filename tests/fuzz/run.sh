#!/bin/bash
# Build every libFuzzer target (ours and those the tests/fuzz/*.cmake files
# add) with clang in build-fuzz/, then run each for SECONDS (default 60),
# one after the other. Exits non-zero when a target fails to build, crashes,
# leaks, hangs or breaks one of its checks; the input that did it is kept
# in tests/fuzz/artifacts/<target>/ (reproduce: build-fuzz/fuzz/<target>
# <file>).
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
#
# Seeds are read from tests/fuzz/corpus/<target>/ and never written; what
# the fuzzer finds goes to build-fuzz/fuzz-corpus/<target>/ and is reused
# by the next run. Logs: build-fuzz/fuzz-logs/<target>.log.
set -u

secs=${1:-60}
[ $# -gt 0 ] && shift
case $secs in
'' | *[!0-9]*) echo "usage: $0 [seconds] [target...]" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build-fuzz

mkdir -p "$build"
CC=clang cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCORRAL_FUZZ=ON \
    -DCORRAL_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log"
    echo "FAIL: configuring $build" >&2
    exit 1
}
if ! cmake --build "$build" -j2 --target corral_fuzz; then
    echo "FAIL: building the fuzz targets" >&2
    exit 1
fi

mkdir -p "$build/fuzz-logs"
failed=()
ran=0
while IFS="|" read -r name bin seeds dict options; do
    if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then
        continue
    fi
    work=$build/fuzz-corpus/$name
    artifacts=$here/artifacts/$name/
    log=$build/fuzz-logs/$name.log
    mkdir -p "$work" "$artifacts"
    args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$artifacts")
    [ -n "$dict" ] && args+=(-dict="$dict")
    # shellcheck disable=SC2206  # options are split on purpose
    [ -n "$options" ] && args+=($options)
    dirs=("$work")
    [ -d "$seeds" ] && dirs+=("$seeds")

    echo "== $name: ${secs}s"
    # max_total_time bounds the run; the outer timeout catches a hang at exit.
    if timeout --kill-after=10 $((secs + 120)) "$bin" "${args[@]}" "${dirs[@]}" >"$log" 2>&1; then
        grep -E '^(stat::number_of_executed_units|stat::new_units_added)' "$log" |
            sed "s/^/   /"
    else
        echo "FAIL: $name (log: $log, inputs: $artifacts)"
        grep -E 'ERROR|check failed|SUMMARY|Test unit written' "$log" | head -20
        failed+=("$name")
    fi
    ran=$((ran + 1))
done <"$build/tests/fuzz/fuzz_targets.txt"

if [ "$ran" -eq 0 ]; then
    echo "FAIL: no fuzz target matched: $*" >&2
    exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "OK: $ran targets, ${secs}s each"
