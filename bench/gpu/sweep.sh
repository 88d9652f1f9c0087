#!/bin/bash
# GPU knob sweep of the dense kernel (the measurements behind
# tuning/gpu_defaults.cmake). Builds one CUDA kernel per knob point here
# (AOT, from a build's generator binary) and one runner that checks each
# against a float64 reference on a sample of rows and times it (causal and
# not, B8 H8 N1280 D64); run the runner on the GPU machine.
#   bench/gpu/sweep.sh BUILD_DIR OUT_BINARY "tq=16 kc=64 rq=2 rk=4 vec=4" ["..." ...]
set -euo pipefail
build=$(cd "$1" && pwd)
out=$2
shift 2
gen=$build/bin/attngen_generators
src=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "#pragma once" > cands.h
tab="struct Cand { const char *knobs; int (*fn)(const void*, halide_buffer_t*, halide_buffer_t*, halide_buffer_t*, halide_buffer_t*, halide_buffer_t*, halide_buffer_t*, int, int, bool, bool, int, bool, halide_buffer_t*); };
static Cand cands[] = {"
i=0
libs=()
for kn in "$@"; do
    # shellcheck disable=SC2086
    if ! "$gen" -g attngen_dense -o . -e static_library,h -f "cand_$i" \
        target=x86-64-linux-cuda-cuda_capability_80-user_context-no_runtime head_dim=64 $kn \
        q.type=float32 k.type=float32 v.type=float32 out.type=float32; then
        echo "sweep: knobs '$kn' do not compile, left out" >&2
        continue
    fi
    echo "#include \"cand_$i.h\"" >> cands.h
    tab="$tab {\"$kn\", cand_$i},"
    libs+=("cand_$i.a")
    i=$((i + 1))
done
echo "$tab };" >> cands.h
"$gen" -r rt -o . -e static_library target=x86-64-linux-cuda
hal_inc=$(dirname "$(find /usr/include -name HalideBuffer.h | head -1)")
g++ -O2 -std=c++17 -I"$hal_inc" -I. "$src/sweep_main.cpp" "${libs[@]}" rt.a -ldl -lpthread -o "$out"
echo "sweep: $i candidates in $out"
