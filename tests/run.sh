#!/usr/bin/env bash
# Build Corral and run every test, the way CI does (.ci/run):
#
#   1. install the Debian packages (tests/install-deps.sh)
#   2. bench/'s report scripts on made-up figures (tests/bench); configure
#      and build into build/
#   3. unit tests (ctest), integration tests (pytest, real binary and nginx)
#   4. fuzz targets for ${CORRAL_FUZZ_SECONDS:-45}s each, if tests/fuzz/run.sh exists
#      (issue 7: at least a minute each in CI), and the soak test with
#      ${SOAK_REQUESTS:-30000} requests (tests/soak/soak.sh; 200000 by hand)
#   5. the same build with ASan+UBSan into build-asan/, unit and integration
#      tests against that binary
#
# Every step runs even when an earlier one failed (except those that need a
# build that failed); the last line is a summary, and the exit status is
# non-zero when any step failed.
#
# Environment: CORRAL_SKIP_DEPS=1 skips step 1, CORRAL_SKIP_ASAN=1 step 5,
# CORRAL_FUZZ_SECONDS=0 step 4; PYTEST_ARGS are passed to pytest,
# CORRAL_TEST_JOBS (default 3, 1 = serial) is its parallelism;
# JOBS (default 2) is the build parallelism; CORRAL_BUILD_DIR (default build)
# the build directory, with "-asan" appended for step 5.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
JOBS=${JOBS:-2}
B=${CORRAL_BUILD_DIR:-build}
case "$B" in /*) ;; *) B=$ROOT/$B ;; esac
PYTHON=/usr/bin/python3          # Debian's, which has django and pytest
export PYTHONDONTWRITEBYTECODE=1

declare -a results=()
failed=0
start_all=$(date +%s)

# step NAME COMMAND...: run one step, record PASS/FAIL and its duration.
step() {
    local name=$1; shift
    local t0=$(date +%s) rc
    echo
    echo "==> $name: $*"
    "$@"
    rc=$?
    local dt=$(( $(date +%s) - t0 ))
    if [ "$rc" -eq 0 ]; then
        results+=("PASS $name (${dt}s)")
    else
        results+=("FAIL $name (exit $rc, ${dt}s)")
        failed=$((failed + 1))
    fi
    return "$rc"
}

skip() {
    results+=("SKIP $1 ($2)")
    echo
    echo "==> $1: skipped ($2)"
}

build() {  # build DIR [cmake args...]
    local dir=$1; shift
    cmake -S "$ROOT" -B "$dir" "$@" && cmake --build "$dir" -j"$JOBS"
}

# The integration tests mostly wait (timeouts, reloads, slow clients), so
# they run in CORRAL_TEST_JOBS parallel pytest workers (pytest-xdist) when
# it is installed: about a third of the serial time on 2 cores.
integration() {  # integration BINARY
    local par=()
    if [ "${CORRAL_TEST_JOBS:-3}" -gt 1 ] && "$PYTHON" -c 'import xdist' 2>/dev/null; then
        par=(-n "${CORRAL_TEST_JOBS:-3}")
    fi
    CORRAL_BIN="$1" "$PYTHON" -m pytest -q -p no:cacheprovider "${par[@]}" \
        ${PYTEST_ARGS:-} tests/integration
}

if [ "${CORRAL_SKIP_DEPS:-0}" = 1 ]; then
    skip deps "CORRAL_SKIP_DEPS=1"
else
    step deps bash tests/install-deps.sh
fi

# bench/'s reports and scripts, on made-up figures: no benchmark runs here.
step bench-tools "$PYTHON" -m pytest -q -p no:cacheprovider tests/bench

# collectstatic output is what the nginx tests serve.
step collectstatic env -C examples/django "$PYTHON" manage.py collectstatic \
    --noinput -v 0

if step build build "$B" -DCORRAL_TESTS=ON -DCORRAL_SANITIZE=OFF; then
    step unit ctest --test-dir "$B" --output-on-failure -j"$JOBS"
    step integration integration "$B/corral"
    step soak env SOAK_REQUESTS="${SOAK_REQUESTS:-30000}" CORRAL_BIN="$B/corral" \
        bash tests/soak/soak.sh
else
    skip unit "build failed"; skip integration "build failed"; skip soak "build failed"
fi

fuzz_seconds=${CORRAL_FUZZ_SECONDS:-45}
if [ ! -f tests/fuzz/run.sh ]; then
    skip fuzz "no tests/fuzz/run.sh"
elif [ "$fuzz_seconds" = 0 ]; then
    skip fuzz "CORRAL_FUZZ_SECONDS=0"
else
    step fuzz bash tests/fuzz/run.sh "$fuzz_seconds"
fi

if [ "${CORRAL_SKIP_ASAN:-0}" = 1 ]; then
    skip asan "CORRAL_SKIP_ASAN=1"
else
    # CPython allocates for the life of the process; its leaks are not ours.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0}
    export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/integration/lsan.supp:print_suppressions=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    if step asan-build build "$B-asan" -DCORRAL_TESTS=ON -DCORRAL_SANITIZE=ON; then
        step asan-unit ctest --test-dir "$B-asan" --output-on-failure -j"$JOBS"
        step asan-integration integration "$B-asan/corral"
    else
        skip asan-unit "build failed"; skip asan-integration "build failed"
    fi
fi

echo
echo "==> summary"
for r in "${results[@]}"; do
    echo "    $r"
done
total=$(( $(date +%s) - start_all ))
if [ "$failed" -eq 0 ]; then
    echo "tests/run.sh: all steps passed in ${total}s"
    exit 0
fi
echo "tests/run.sh: $failed step(s) failed in ${total}s"
exit 1
