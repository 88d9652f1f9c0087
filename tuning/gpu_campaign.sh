#!/usr/bin/env bash
# Tunes the CUDA kernels' knobs (issue 5 / 7) for a GPU this machine cannot
# reach by command (the device tool's H100): candidates are built here for
# x86-64-linux-cuda-cuda_capability_80 and staged (attngen_tune run --stage),
# run there, and their reports imported into tuning/db/log.jsonl.
#
#   bash tuning/gpu_campaign.sh stage  BUILD_DIR STAGE_DIR [BUDGET] [SEED]   here
#   bash tuning/gpu_campaign.sh run    STAGE_DIR OUT_DIR                     on the GPU machine
#   bash tuning/gpu_campaign.sh import BUILD_DIR STAGE_DIR RESULTS [RUNNER]  here, RESULTS = OUT_DIR/results.tgz
#
# then `attngen_tune best` regenerates tuning/db/best.txt; the build serves
# the records to the `_cuda` kernels of the same name (target level cuda-sm80).
# Shapes are the GPU benchmark's (bench/bench_cuda.cpp: dalle at B8 H8).
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86-64-linux-cuda-cuda_capability_80
# name | attngen_tune run options
keys=(
    "dense_d64_prefill|--variant dense --shape B=8_H=8_N=1280_D=64_causal=1"
    "dense_d64_decode|--variant dense --bucket decode --shape B=8_H=8_Nq=1_Nk=1280_D=64_offset=1279_causal=1"
    "sparse_conv_d64|--variant sparse_conv --shape B=8_H=8_N=1280_D=64_image=32"
    "sparse_axial_row_d64|--variant sparse_axial_row --shape B=8_H=8_N=1280_D=64_image=32"
    "block_sparse_d64|--variant block_sparse --shape B=8_H=8_N=1280_D=64_causal=1"
    "chunked_d40|--variant chunked --shape B=2_H=8_N=4096_D=40_causal=0"
)
cmd=${1:-}
case "$cmd" in
stage)
    build=$2 stage=$3 budget=${4:-16} seed=${5:-1}
    tune="$build/bin/attngen_tune"
    [ -x "$tune" ] || { echo "gpu_campaign: $tune not built" >&2; exit 2; }
    mkdir -p "$stage"
    for k in "${keys[@]}"; do
        name=${k%%|*} opts=${k#*|}
        shape=$(sed 's/.*--shape //; s/_/ /g' <<< "$opts")
        read -r -a o <<< "${opts% --shape*}"
        "$tune" run "${o[@]}" --shape "$shape" --target "$target" --budget "$budget" --seed "$seed" \
            --min-time 0.05 --repeats 5 --timeout 120 --stage "$stage/$name"
    done
    ;;
run)
    stage=$(cd "$2" && pwd) out=$3
    mkdir -p "$out"
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt" || true
    for d in "$stage"/*/; do
        name=$(basename "$d")
        echo "== $name"
        sh "$d/run.sh" | tee "$out/$name.txt"
    done
    # One file back (the device tool brings back a few files, no folders).
    tar czf "$out/results.tgz" -C "$stage" $(cd "$stage" && ls -d */out)
    ;;
import)
    build=$2 stage=$3 results=$4 runner=${5:-H100 via the device tool}
    rm -rf "$stage"/*/out
    tar xzf "$results" -C "$stage"
    for d in "$stage"/*/; do
        [ -d "$d/out" ] || { echo "gpu_campaign: no results for $(basename "$d") in $results" >&2; continue; }
        "$build/bin/attngen_tune" import "$d" --runner "$runner" || true
    done
    ;;
*)
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac
