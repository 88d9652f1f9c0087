#!/usr/bin/env bash
# The test command: install what is missing, build, run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure -j"$(nproc)")
# The installed package: a consumer project built against the install tree
# alone (no Halide on its include path), CMake and pkg-config.
bash scripts/test-install.sh build
