#!/usr/bin/env bash
# Tunes the CPU kernel keys the benchmark workloads use, on this machine's
# x86 feature level, then regenerates tuning/db/best.txt from the log.
#   bash tuning/campaign.sh [BUILD_DIR] [BUDGET] [SEED]
# Every measurement is appended to tuning/db/log.jsonl (commit it with
# best.txt). Re-running with the same seed and budget draws the same
# candidates.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
BUDGET=${2:-24}
SEED=${3:-1}
TUNE="$BUILD/bin/attngen_tune"
[ -x "$TUNE" ] || { echo "campaign: $TUNE not built (cmake --build $BUILD --target attngen_tune)" >&2; exit 2; }
run() { "$TUNE" run --budget "$BUDGET" --seed "$SEED" --rungs 3 "$@"; }
run --variant dense --workload dalle                          # attngen_dense_f32_d64_prefill
run --variant dense --workload sd_self                        # attngen_dense_f32_d40_prefill
run --variant dense --bucket decode --workload decode         # attngen_dense_f32_d64_decode
run --variant dense --bucket group --workload decode          # attngen_dense_f32_d64_group
run --variant chunked --workload sd_self                      # attngen_chunked_f32_d40_prefill
run --variant sparse_conv --workload dalle                    # attngen_sparse_conv_f32_d64_prefill
run --variant sparse_axial_row --workload dalle
run --variant sparse_axial_col --workload dalle
run --variant block_sparse --workload dalle
run --variant dense --dtype f16 --workload dalle              # half storage, dense d64
run --variant dense --dtype bf16 --workload dalle
"$TUNE" best
"$TUNE" report --chart tuning_report.svg
