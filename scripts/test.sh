#!/usr/bin/env bash
# The test command (what CI runs): install what is missing, build, run the
# whole test suite, the install test, the sanitizer suite and the ARM64 suite
# under qemu. ATTNGEN_TEST_QUICK=1 stops after the x86 suite and install test.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
bash scripts/install-deps.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure -j"$(nproc)")
# The installed package: a consumer project built against the install tree
# alone (no Halide on its include path), CMake and pkg-config.
bash scripts/test-install.sh build
echo "x86 suite and install test: $(($(date +%s) - t0)) s"
if [[ ${ATTNGEN_TEST_QUICK:-0} == 1 ]]; then exit 0; fi
# ASan + UBSan + LeakSanitizer build of every test, ThreadSanitizer stress
# test, every fuzzer for a bounded time (ATTNGEN_FUZZ_SECONDS).
bash scripts/test-sanitizers.sh
echo "sanitizers and fuzzers: done at $(($(date +%s) - t0)) s"
# ARM64: cross build, every test and golden case under qemu, NEON FMA check.
ATTNGEN_HOST_BUILD=build bash scripts/test-arm.sh
echo "all suites passed in $(($(date +%s) - t0)) s"
