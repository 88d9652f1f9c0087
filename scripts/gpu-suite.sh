#!/bin/bash
# Everything issue 7 runs on the GPU machine, in one go (the device tool
# starts a fresh machine per call): golden cases, the CUDA tests, the whole
# suite with ATTNGEN_OFFLOAD=cuda, the GPU benchmarks and the PyTorch
# comparison. Binaries come from a build here, copied to BIN_DIR (with the
# shared libraries they need that the GPU machine lacks, under BIN_DIR/lib).
#   scripts/gpu-suite.sh BIN_DIR OUT_DIR [tests|bench|all]
set -uo pipefail
bin=$(cd "$1" && pwd)
out=$2
what=${3:-all}
mkdir -p "$out"
export LD_LIBRARY_PATH=$bin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# The tests read the golden vectors from the source path of the build.
if [[ ! -e /work/main/tests/data/golden ]]; then
    mkdir -p /work && ln -sfn "$PWD" /work/main
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
rc=0
if [[ $what == tests || $what == all ]]; then
    "$bin/attngen" check tests/data/golden --device cuda --verbose 2>&1 | tee "$out/golden_cuda.txt" || rc=1
    "$bin/attngen_tests" --gtest_filter='*Cuda*' 2>&1 | tee "$out/test_cuda.txt" | tail -30 || rc=1
    # The whole suite on the CUDA kernels, one process per test suite (a
    # CUDA error that poisons a context stays within its suite), launches
    # synchronous so an error is reported by the call that caused it.
    : > "$out/offload.txt"
    for suite in $("$bin/attngen_tests" --gtest_list_tests | grep -v '^ ' | sed 's/\.$//' | sort -u); do
        CUDA_LAUNCH_BLOCKING=1 ATTNGEN_OFFLOAD=cuda timeout 300 "$bin/attngen_tests" --gtest_brief=1 \
            --gtest_filter="$suite.*" >> "$out/offload.txt" 2>&1 || { rc=1; echo "SUITE FAILED: $suite" >> "$out/offload.txt"; }
    done
    grep -c '^\[  FAILED  \]' "$out/offload.txt" | sed 's/^/offload: failed tests: /'
    grep '^SUITE FAILED' "$out/offload.txt"
fi
if [[ -x $bin/sweep_dense ]] && [[ $what == sweep || $what == all ]]; then
    "$bin/sweep_dense" 2>&1 | tee "$out/sweep.txt"
fi
if [[ $what == bench || $what == all ]]; then
    bench/gpu/run.sh "$bin" "$out" || rc=1
fi
exit $rc
