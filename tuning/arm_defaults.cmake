# ARM (aarch64 NEON) default knobs of the CPU schedule family
# (schedules/knobs.h): included after cpu_defaults.cmake; when the kernel
# targets (ATTNGEN_CPU_TARGETS) are ARM it replaces attngen_default_knobs for
# every kernel. Also sets ATTNGEN_KNOBS_SOURCE, the SOURCE of every kernel's
# dispatch-table entry ("hand default" on x86; `attngen info` prints it).
#
# NOT MEASURED ON ARM HARDWARE. These are chosen by a stated heuristic, from
# the register file alone, so that a tuner run on a real ARM machine has a
# sane starting point and every record says where it came from:
#  - vec=4: one 128-bit NEON register holds 4 fp32 lanes (no SVE).
#  - 32 vector registers (v0-v31). Q@K^T register tile (qvec=1): tq/vec query
#    vectors x rk keys of accumulators, plus tq/vec query vectors and one
#    broadcast key feature: tq=16, rk=4 gives 16 accumulators + 4 + 1 = 21
#    registers (check_cpu_knobs accepts it), 16 independent FMA chains (enough
#    for 4-cycle FMA latency on 2-4 FMA pipes) and 16 FMAs per 4 vector loads
#    and 4 broadcasts. tq=32 would leave rk <= 2 (8 query vectors).
#  - P@V register tile: rq queries x D/4 feature vectors of accumulators:
#    rq = the largest divisor of tq with rq * D/4 <= 20 accumulators (one value
#    vector and rq broadcast probabilities stream through the rest):
#    D=40: rq=2 (20 acc.); D=64: rq=1 (16); D=80: rq=1 (20); generic head dim
#    (not unrolled, accumulators in memory): rq=4. D=128 has 32 accumulators
#    even at rq=1 and spills: the schedule has no split of D in P@V (see
#    docs/ARM.md). check_cpu_knobs counts ceil(D/vec) value registers on top of
#    the accumulators, so it rejects every D >= 64 with vec=4 whatever rq is.
#  - Decode (qvec=0, keys vectorised): rk=8 key vectors per step = 8
#    independent accumulators (x86: 4 AVX-512 vectors, the same 64 keys would
#    be 16 NEON vectors); kc=128 as on x86.
#  - Group (GQA decode step, the g = H/Hkv heads of a group as g queries; g is
#    4 to 8 in common models): a tile of 8 queries (2 vectors) x rk=8 keys =
#    16 accumulators + 2 + 1 registers, so a group of <= 8 wastes at most half
#    a tile (x86: one 16-lane vector of 16 queries).
#  - Chunk sizes (kc, kci) and the parallel split are not register-file
#    matters: they follow the x86 defaults (dense, chunked and group 128-key
#    chunks; DALL-E sparse 96-key text chunks and 32-slot image chunks;
#    block-sparse 16-token blocks), with tq=16 instead of 32 (block-sparse:
#    16 as on x86).
if (NOT DEFINED ATTNGEN_KNOBS_SOURCE)
    set(ATTNGEN_KNOBS_SOURCE "hand default")
endif ()
if (NOT ATTNGEN_CPU_TARGETS MATCHES "^arm-")
    return()
endif ()
set(ATTNGEN_KNOBS_SOURCE "ARM heuristic, not measured on ARM hardware")

function(attngen_default_knobs out variant head_dim bucket)
    # P@V queries per register tile (see above).
    if (head_dim EQUAL 0)
        set(rq 4)
    elseif (head_dim LESS_EQUAL 40)
        set(rq 2)
    else ()
        set(rq 1)
    endif ()
    if (variant MATCHES "^sparse_")
        set(k "tq=16 kc=96 kci=32 vec=4 rq=${rq} rk=4 qvec=1 threads_split=1")
    elseif (variant STREQUAL "block_sparse")
        set(k "tq=16 kc=16 vec=4 rq=${rq} rk=4 qvec=1 threads_split=1")
    elseif (bucket STREQUAL "group")
        set(k "tq=8 kc=128 vec=4 rq=${rq} rk=8 qvec=1 threads_split=1")
    elseif (bucket STREQUAL "decode")
        set(k "tq=1 kc=128 vec=4 rq=1 rk=8 qvec=0 threads_split=1")
    else ()
        set(k "tq=16 kc=128 vec=4 rq=${rq} rk=4 qvec=1 threads_split=1")
    endif ()
    set(${out} "${k}" PARENT_SCOPE)
endfunction()
