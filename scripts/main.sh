#!/usr/bin/env bash
# The main job: install what is missing, generate the kernels, and run the
# benchmark on the default `dalle` workload, ending with a summary table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
build/bin/attngen info
build/bin/attngen_bench --benchmark_filter="${ATTNGEN_WORKLOAD:-dalle}"
