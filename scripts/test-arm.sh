#!/usr/bin/env bash
# The ARM64 test command (docs/ARM.md): installs what is missing, cross-builds
# attngen for aarch64 Linux into ./build-arm with the generators of a host
# build, and runs, under qemu user-mode emulation,
#   1. the whole ctest suite,
#   2. `attngen check tests/data/golden`,
#   3. `attngen info` and `attngen_bench --benchmark_list_tests` (they load),
# then checks the kernels' machine code for NEON fmla (scripts/check-arm-asm.sh).
#
#   scripts/test-arm.sh [extra cmake arguments for build-arm]
#
# Environment:
#   ATTNGEN_HOST_BUILD  host build whose generators are used (default: build).
#                       Reused when it has them (only the generator target is
#                       brought up to date); otherwise configured there and
#                       only `attngen_generators` is built.
#   ATTNGEN_ARM_BUILD   cross build folder (default: build-arm)
#   ATTNGEN_JOBS        parallel jobs (default: nproc)
#
# Golden cases: a case must pass under qemu exactly when it passes on x86.
# With a host CLI (HOST_BUILD/bin/attngen, which scripts/test.sh builds) both
# run the same folder and the pass sets are compared; cases that fail on x86
# as well (e.g. fp16/bf16 storage before it is supported) are listed, not
# counted against ARM. Without a host CLI, every case must pass except those
# whose failure says "not supported yet" (a missing feature, the same on
# every platform); they are listed.
set -euo pipefail
cd "$(dirname "$0")/.."
host=${ATTNGEN_HOST_BUILD:-build}
arm=${ATTNGEN_ARM_BUILD:-build-arm}
jobs=${ATTNGEN_JOBS:-$(nproc)}
triple=aarch64-linux-gnu
# As CMAKE_CROSSCOMPILING_EMULATOR in cmake/toolchains/aarch64-linux-gnu.cmake (why LD_LIBRARY_PATH: there).
qemu=(qemu-aarch64 -L /usr/$triple -E LD_LIBRARY_PATH=/usr/$triple/lib)
t_start=$SECONDS
step() { printf '\n== [%ds] %s\n' "$((SECONDS - t_start))" "$*"; }
fail() {
    echo "test-arm: FAIL: $*" >&2
    exit 1
}

# ---- Packages --------------------------------------------------------------------
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_install() { # PACKAGE...: installs those not installed yet
    local missing=() p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    echo "installing: ${missing[*]}"
    if [[ $apt_updated == 0 ]]; then
        $SUDO apt-get update -qq
        apt_updated=1
    fi
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

step "packages"
# Host side: what scripts/install-deps.sh installs (the host build), the
# cross compiler and qemu.
bash scripts/install-deps.sh
apt_install g++-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user python3
# Target side: Debian multiarch arm64 packages (GoogleTest, Google Benchmark,
# OpenBLAS), installed next to the amd64 ones.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "dpkg --add-architecture arm64"
    $SUDO dpkg --add-architecture arm64
    apt_updated=0
fi
apt_install libgtest-dev:arm64 libgmock-dev:arm64 libbenchmark-dev:arm64 libopenblas-dev:arm64
# oneDNN: libdnnl-dev:arm64 cannot be installed next to libdnnl-dev:amd64
# (their dnnl_config.h differ), so its package and libdnnl2:arm64 are unpacked
# into the cross build folder (the benchmark's dnnl baseline; dnnl_DIR below).
dnnl_ver=$(dpkg-query -W -f='${Version}' libdnnl-dev 2>/dev/null || true)
[[ -n $dnnl_ver ]] || fail "libdnnl-dev (amd64) is not installed"
mkdir -p "$arm"
arm=$(cd "$arm" && pwd)
dnnl_root=$arm/deps/dnnl-arm64-$dnnl_ver
if [[ ! -f $dnnl_root/usr/lib/$triple/cmake/dnnl/dnnl-config.cmake ]]; then
    echo "unpacking libdnnl-dev:arm64 $dnnl_ver into $dnnl_root"
    rm -rf "$dnnl_root.tmp"
    mkdir -p "$dnnl_root.tmp/debs"
    if ! (cd "$dnnl_root.tmp/debs" && apt-get download "libdnnl-dev:arm64=$dnnl_ver" "libdnnl2:arm64=$dnnl_ver"); then
        $SUDO apt-get update -qq
        apt_updated=1
        (cd "$dnnl_root.tmp/debs" && apt-get download "libdnnl-dev:arm64=$dnnl_ver" "libdnnl2:arm64=$dnnl_ver")
    fi
    for deb in "$dnnl_root.tmp"/debs/*.deb; do dpkg-deb -x "$deb" "$dnnl_root.tmp"; done
    rm -rf "$dnnl_root.tmp/debs" "$dnnl_root"
    mv "$dnnl_root.tmp" "$dnnl_root"
fi

# ---- Host generators ---------------------------------------------------------------
step "host generators ($host)"
if [[ -f $host/CMakeCache.txt && -f $host/cmake/attngen-halide_generators-config.cmake ]]; then
    echo "reusing $host"
else
    cmake -S . -B "$host" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$host" --target attngen_generators -j"$jobs"
host=$(cd "$host" && pwd)

# ---- Cross build ---------------------------------------------------------------------
step "configure $arm (aarch64)"
cmake -S . -B "$arm" --toolchain cmake/toolchains/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
    "-Dattngen-halide_generators_ROOT=$host" "-Ddnnl_DIR=$dnnl_root/usr/lib/$triple/cmake/dnnl" "$@"
step "build $arm"
t0=$SECONDS
cmake --build "$arm" -j"$jobs"
echo "build: $((SECONDS - t0)) s"
$triple-readelf -h "$arm/bin/attngen" | grep -q 'AArch64' || fail "$arm/bin/attngen is not an aarch64 program"

# ---- Tests under qemu ---------------------------------------------------------------
step "ctest under qemu"
t0=$SECONDS
(cd "$arm" && ctest --output-on-failure -j"$jobs")
echo "ctest: $((SECONDS - t0)) s"

work=$(mktemp -d "${TMPDIR:-/tmp}/attngen-test-arm.XXXXXX")
trap 'rm -rf "$work"' EXIT
step "attngen info under qemu"
"${qemu[@]}" "$arm/bin/attngen" info >"$work/info.txt"
head -n 12 "$work/info.txt"
step "attngen_bench --benchmark_list_tests under qemu"
"${qemu[@]}" "$arm/bin/attngen_bench" --benchmark_list_tests >"$work/bench.txt"
n_bench=$(wc -l <"$work/bench.txt")
[[ $n_bench -gt 0 ]] || fail "attngen_bench lists no benchmark"
echo "$n_bench benchmarks"

step "attngen check tests/data/golden under qemu"
golden=tests/data/golden
# Every golden case must pass under qemu (fp16/bf16 included).
set +e
"${qemu[@]}" "$arm/bin/attngen" check "$golden" >"$work/arm.txt" 2>&1
rc=$?
set -e
cat "$work/arm.txt"
[[ $rc == 0 ]] || fail "attngen check tests/data/golden under qemu exited $rc"

# ---- Generated code -------------------------------------------------------------------
step "NEON fmla in the kernels' inner loops"
bash scripts/check-arm-asm.sh "$arm"

step "test-arm: all passed in $((SECONDS - t_start)) s"
