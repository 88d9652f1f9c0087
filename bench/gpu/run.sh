#!/bin/bash
# GPU benchmark run (issue 7): attngen's CUDA kernels and PyTorch's SDPA /
# FlexAttention on the same shapes, one GPU, one run, then the issue's ratios.
#   bench/gpu/run.sh BIN_DIR OUT_DIR [benchmark filter]
# BIN_DIR holds attngen_bench_cuda (built here, carried to the GPU machine).
set -uo pipefail
bin=$1
out=$2
filter=${3:-.}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
"$bin/attngen_bench_cuda" --benchmark_filter="$filter" --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=true \
    --benchmark_out="$out/bench_cuda.json" --benchmark_out_format=json 2>&1 | tee "$out/bench_cuda.txt"
PYTHONUNBUFFERED=1 python3 "$here/torch_compare.py" --json "$out/torch.json" 2>&1 | grep -v Warning | tee "$out/torch.txt"
python3 "$here/ratios.py" "$out/bench_cuda.json" "$out/torch.json" | tee "$out/ratios.txt"
