#!/usr/bin/env bash
# Sanitizer suite (issue 8):
#   1. ASan + UBSan (+ LeakSanitizer) build with clang of the runtime, I/O,
#      CLI, the whole GoogleTest suite and the libFuzzer targets (one build
#      serves both); runs all of ctest, then `attngen check` on
#      tests/data/golden and tests/data/hostile and a few `attngen run`
#      error paths, all under the sanitizers.
#   2. ThreadSanitizer build of the stress test (tests/test_stress.cpp),
#      run with 16 threads over every variant.
# Then, unless --no-fuzz, scripts/fuzz.sh runs every fuzzer for
# ATTNGEN_FUZZ_SECONDS (default 60) seconds on the ASan build.
#
#   scripts/test-sanitizers.sh [--asan-only | --tsan-only] [--no-fuzz]
#
# Environment:
#   ATTNGEN_ASAN_BUILD / ATTNGEN_TSAN_BUILD  build folders (default build-asan, build-tsan)
#   ATTNGEN_SAN_FULL_KERNELS=1  build every specialised kernel and CPU level
#                               (default: only the generic 'any' kernels for
#                               this CPU's best level, which the tests pass
#                               with; each extra library costs build time)
#   JOBS                        parallel build jobs (default nproc)
# The Halide generators are never instrumented (they run at build time);
# the generated kernel objects are not either. Exits nonzero on the first
# failure or sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

asan=1 tsan=1 fuzz=1
for a in "$@"; do
    case "$a" in
        --asan-only) tsan=0 ;;
        --tsan-only) asan=0; fuzz=0 ;;
        --no-fuzz) fuzz=0 ;;
        -h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test-sanitizers: unknown argument $a" >&2; exit 2 ;;
    esac
done
asan_dir=${ATTNGEN_ASAN_BUILD:-build-asan}
tsan_dir=${ATTNGEN_TSAN_BUILD:-build-tsan}
jobs=${JOBS:-$(nproc)}

# ---- Packages (idempotent) -------------------------------------------------------
bash scripts/install-deps.sh
pkgs=(clang libclang-rt-14-dev llvm)
missing=()
# Native-architecture instance (a foreign one, e.g. arm64 for cross builds,
# makes a bare `dpkg -s NAME` ambiguous).
installed() {
    dpkg-query -W -f='${Status}' "$1:$(dpkg --print-architecture)" 2>/dev/null | grep -q 'install ok installed' ||
        dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}
for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "installing: ${missing[*]}"
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ---- Reduced kernel set (build time) -----------------------------------------------
# One CPU feature level, the best this machine runs, and only the generic
# kernels (every variant, any head dim), no CUDA kernels (the CUDA runtime
# code is built without them: its refusal paths are what runs without a GPU).
reduced=()
if [[ ${ATTNGEN_SAN_FULL_KERNELS:-0} != 1 ]]; then
    flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
    has() { [[ " $flags " == *" $1 "* ]]; }
    target=""
    if [[ $(uname -m) == x86_64 ]]; then
        if has avx2 && has fma && has f16c; then target=x86-64-linux-avx2-avx-f16c-fma-sse41-user_context
        elif has sse4_1; then target=x86-64-linux-sse41-user_context
        else target=x86-64-linux-user_context; fi
    fi
    reduced=(-DATTNGEN_HEAD_DIMS= -DATTNGEN_DECODE_HEAD_DIMS= -DATTNGEN_ROTARY_HEAD_DIMS=
             -DATTNGEN_SPARSE_HEAD_DIMS= -DATTNGEN_CHUNKED_HEAD_DIMS= -DATTNGEN_HALF_HEAD_DIMS= -DATTNGEN_LONG_HEAD_DIMS=
             -DATTNGEN_CUDA=OFF)
    if [[ -n $target ]]; then reduced+=("-DATTNGEN_CPU_TARGETS=$target"); fi
fi

export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)}
# Distinct exit codes: a sanitizer report is never mistaken for a test's
# own exit status (e.g. `attngen check` exits 1 when a case fails).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:exitcode=86:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=87}
export LSAN_OPTIONS=${LSAN_OPTIONS:-exitcode=88}
# scripts/tsan.supp: races inside Halide's uninstrumented runtime only.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:exitcode=89:second_deadlock_stack=1:suppressions=$root/scripts/tsan.supp}

step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }
fail() { echo "test-sanitizers: FAIL: $*" >&2; exit 1; }
t_start=$(date +%s)

if [[ $asan == 1 ]]; then
    step "ASan+UBSan build ($asan_dir)"
    t0=$(date +%s)
    CC=clang CXX=clang++ cmake -S . -B "$asan_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DATTNGEN_SANITIZE=address,undefined -DATTNGEN_BUILD_FUZZERS=ON -DATTNGEN_BUILD_BENCH=OFF "${reduced[@]}"
    cmake --build "$asan_dir" -j"$jobs"
    echo "ASan build: $(($(date +%s) - t0)) s"

    step "ctest under ASan+UBSan+LSan"
    t0=$(date +%s)
    (cd "$asan_dir" && ctest --output-on-failure -j"$jobs") || fail "ctest under ASan/UBSan"
    echo "ASan ctest: $(($(date +%s) - t0)) s"

    cli=$asan_dir/bin/attngen
    step "attngen check tests/data/golden (ASan)"
    set +e
    "$cli" check tests/data/golden >"$asan_dir/golden-check.log" 2>&1
    rc=$?
    set -e
    tail -n 3 "$asan_dir/golden-check.log"
    # Every golden case passes (fp16/bf16 included); anything else is a
    # failure, a crash or a sanitizer report.
    [[ $rc == 0 ]] || { cat "$asan_dir/golden-check.log"; fail "attngen check golden exited $rc"; }

    step "attngen check tests/data/hostile (ASan)"
    set +e
    "$cli" check tests/data/hostile >"$asan_dir/hostile-check.log" 2>&1
    rc=$?
    set -e
    tail -n 1 "$asan_dir/hostile-check.log"
    [[ $rc == 1 ]] || { cat "$asan_dir/hostile-check.log"; fail "attngen check hostile exited $rc (want 1)"; }
    if grep -q '^PASS' "$asan_dir/hostile-check.log"; then fail "a hostile case passed"; fi

    step "attngen run: error paths (ASan)"
    g=tests/data/golden/dense_causal
    h=tests/data/hostile
    expect_rc() { # WANT CMD...: the exit status must be WANT
        local want=$1
        shift
        set +e
        "$@" >/dev/null 2>"$asan_dir/run.err"
        local got=$?
        set -e
        [[ $got == "$want" ]] || { cat "$asan_dir/run.err"; fail "'$*' exited $got, want $want"; }
        printf '  %s -> %s: %s\n' "${*:2:3}" "$got" "$(head -c 150 "$asan_dir/run.err" | head -n 1)"
    }
    out=$asan_dir/run-out.npy
    expect_rc 0 "$cli" run --variant dense --q $g/q.npy --k $g/k.npy --v $g/v.npy --causal --out "$out"
    expect_rc 1 "$cli" run --variant dense --q $h/npy_truncated_data/q.npy --k $g/k.npy --v $g/v.npy --out "$out"
    expect_rc 1 "$cli" run --variant dense --q $h/npy_huge_declared_shape/q.npy --k $g/k.npy --v $g/v.npy --out "$out"
    expect_rc 1 "$cli" run --variant dense --q $g/q.npy --k $h/shape_head_dim_mismatch/k.npy --v $g/v.npy --out "$out"
    expect_rc 1 "$cli" run --variant chunked --q $g/q.npy --k $g/k.npy --v $g/v.npy --out /nonexistent/dir/o.npy
    expect_rc 1 "$cli" run --variant dense --q /dev/null --k $g/k.npy --v $g/v.npy --out "$out"
    expect_rc 1 "$cli" run --variant dense --q $g --k $g/k.npy --v $g/v.npy --out "$out"
    expect_rc 2 "$cli" run --variant dense --q $g/q.npy --k $g/k.npy --v $g/v.npy --out "$out" --offset -1
    expect_rc 2 "$cli" run --variant dense --q $g/q.npy --k $g/k.npy --v $g/v.npy --out "$out" --offset 99999999999999999999
    expect_rc 2 "$cli" run --variant sparse_conv --q $g/q.npy --k $g/k.npy --v $g/v.npy --out "$out"
    expect_rc 2 "$cli" run --variant nope --q $g/q.npy --k $g/k.npy --v $g/v.npy --out "$out"
    expect_rc 2 "$cli" run --variant dense --q $g/q.npy --q $g/q.npy --k $g/k.npy --v $g/v.npy --out "$out"
    expect_rc 2 "$cli" check
    expect_rc 2 "$cli" check /nonexistent
    expect_rc 2 "$cli" bogus
fi

if [[ $tsan == 1 ]]; then
    step "TSan build of the stress test ($tsan_dir)"
    t0=$(date +%s)
    CC=clang CXX=clang++ cmake -S . -B "$tsan_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DATTNGEN_SANITIZE=thread -DATTNGEN_BUILD_BENCH=OFF "${reduced[@]}"
    cmake --build "$tsan_dir" -j"$jobs" --target attngen_stress_tests
    echo "TSan build: $(($(date +%s) - t0)) s"
    step "stress test under ThreadSanitizer"
    t0=$(date +%s)
    "$tsan_dir/bin/attngen_stress_tests" || fail "stress test under TSan (exit $?)"
    echo "TSan stress: $(($(date +%s) - t0)) s"
fi

if [[ $fuzz == 1 ]]; then
    step "fuzzers (${ATTNGEN_FUZZ_SECONDS:-60} s each)"
    bash scripts/fuzz.sh "$asan_dir" "${ATTNGEN_FUZZ_SECONDS:-60}"
fi

printf '\ntest-sanitizers: all passed in %d s\n' "$(($(date +%s) - t_start))"
