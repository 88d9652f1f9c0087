# Script-mode test of tuning/tuned.cmake: cmake -DSRC=<repo> -DWORK=<dir> -P lookup_test.cmake
include("${SRC}/tuning/tuned.cmake")
file(MAKE_DIRECTORY "${WORK}")
set(table "${WORK}/best.txt")

function(expect what got want)
    if (NOT "${got}" STREQUAL "${want}")
        message(FATAL_ERROR "${what}: got '${got}', want '${want}'")
    endif ()
endfunction()

attngen_target_level(l "x86-64-linux-avx512_skylake-avx2-avx-f16c-fma-sse41-user_context")
expect("level avx512" "${l}" "x86-64-avx512")
attngen_target_level(l "x86-64-linux-avx2-avx-f16c-fma-sse41-user_context")
expect("level avx2" "${l}" "x86-64-avx2")
attngen_target_level(l "arm-64-linux-user_context")
expect("level arm" "${l}" "arm-64")
attngen_target_level(l "x86-64-linux-avx2-cuda-cuda_capability_86-user_context")
expect("level cuda" "${l}" "cuda-sm86")

set(p1 "tq=32 kc=64 vec=16 rq=2 rk=2 qvec=1 threads_split=1")
file(WRITE "${table}"
     "# comment\n"
     "attngen_dense_f32_d64_prefill|x86-64-avx512|14.0.0|${p1}|tuned A\n"
     "attngen_sparse_axial_row_f32_d64_prefill|x86-64-avx512|14.0.0|tq=64 kc=96 vec=16 rq=4 rk=8 qvec=1 threads_split=1 kci=32|tuned B\n")

attngen_tuned_lookup(p s "${table}" attngen_dense_f32_d64_prefill x86-64-avx512 14.0.0)
expect("exact key params" "${p}" "${p1}")
expect("exact key source" "${s}" "tuned A")
# Any other key: no record.
foreach (probe IN ITEMS "attngen_dense_f32_d64_prefill;x86-64-avx2;14.0.0"
                       "attngen_dense_f32_d64_prefill;x86-64-avx512;15.0.0"
                       "attngen_dense_f32_d128_prefill;x86-64-avx512;14.0.0"
                       "attngen_dense_f32_dany_prefill;x86-64-avx512;14.0.0"
                       "attngen_dense_f32_d64_decode;x86-64-avx512;14.0.0"
                       "attngen_dense_f16_d64_prefill;x86-64-avx512;14.0.0"
                       "attngen_dense_f32_d64_prefill_rot;x86-64-avx512;14.0.0")
    list(GET probe 0 k)
    list(GET probe 1 t)
    list(GET probe 2 h)
    attngen_tuned_lookup(p s "${table}" ${k} ${t} ${h})
    expect("mismatch ${probe}" "${p}" "")
endforeach ()
attngen_tuned_lookup(p s "${WORK}/missing.txt" attngen_dense_f32_d64_prefill x86-64-avx512 14.0.0)
expect("missing table" "${p}" "")

# attngen_apply_tuning, as attngen_add_kernel calls it: the record replaces
# the knobs, non-knob params (axis=) stay; a changed record is picked up.
set(ATTNGEN_USE_TUNING ON)
set(ATTNGEN_TUNING_TABLE "${table}")
set(ATTNGEN_CPU_TARGETS x86-64-linux-avx512_skylake-avx2-avx-f16c-fma-sse41-user_context x86-64-linux-user_context)
set(Halide_VERSION 14.0.0)
set(P "axis=0 tq=32 kc=96 kci=32 vec=16 rq=4 rk=8 qvec=1 threads_split=1")
set(S "hand default")
attngen_apply_tuning(P S attngen_sparse_axial_row_f32_d64_prefill)
expect("apply keeps axis" "${P}" "axis=0 tq=64 kc=96 vec=16 rq=4 rk=8 qvec=1 threads_split=1 kci=32")
expect("apply source" "${S}" "tuned B")

file(WRITE "${table}" "attngen_dense_f32_d64_prefill|x86-64-avx512|14.0.0|tq=16 kc=256 vec=16 rq=1 rk=4 qvec=1 threads_split=1|tuned C\n")
set(P "tq=32 kc=128 vec=16 rq=4 rk=8 qvec=1 threads_split=1")
set(S "hand default")
attngen_apply_tuning(P S attngen_dense_f32_d64_prefill)
expect("changed record" "${P}" "tq=16 kc=256 vec=16 rq=1 rk=4 qvec=1 threads_split=1")
expect("changed record source" "${S}" "tuned C")
set(Halide_VERSION 15.0.0)
set(P "tq=32 kc=128 vec=16 rq=4 rk=8 qvec=1 threads_split=1")
set(S "hand default")
attngen_apply_tuning(P S attngen_dense_f32_d64_prefill)
expect("other Halide: default" "${P}" "tq=32 kc=128 vec=16 rq=4 rk=8 qvec=1 threads_split=1")
expect("other Halide: source" "${S}" "hand default")
message(STATUS "tuning_lookup: all checks passed")
