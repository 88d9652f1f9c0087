# Hand-picked default knobs of the CPU schedule family (schedules/knobs.h),
# per variant, head dim and shape bucket. These are the fallback the build
# uses for every key the tuning database has no record for.
#
# Prefill: tiles of 32 queries vectorised over queries (2 AVX-512 vectors),
# 8 keys per Q@K^T register tile (16 accumulators), 128-key chunks (merge
# cost amortised over 128 keys), 4 queries per P@V register tile
# (4 x D/16 accumulators; 2 for D=128 to stay within 32 registers).
# Measured on Zen 4 (2 cores): dense causal B1 H8 N1280 D64 in 23 ms,
# 72 GFLOP/s, ~32% of the FMA peak probe.
# Decode: one query per task, scores vectorised over keys. Group (GQA decode
# step, the g heads of a group as g queries): the prefill schedule on one
# 16-query vector tile, so a group reads each K/V row once (tq > 1 with
# keys vectorised, qvec=0, crashes Halide 14's lowering).
# DALL-E sparse: 88-key text chunks (257 text keys take 3 chunks, 264 slots:
# fewer merges and less rounding than 64, 96 or 128) and image chunks of one
# 5x5 box (25 slots, Q@K^T tiles of 5), one 32-high column (32) or the
# 63-key window that holds a 32-query tile's rows of a 32-wide grid (64). Block-sparse: 16-token granule = DeepSpeed's default block.
function(attngen_default_knobs out variant head_dim bucket)
    if (variant STREQUAL "sparse_conv")
        set(k "tq=32 kc=88 kci=25 vec=16 rq=4 rk=8 qvec=1 threads_split=1")
    elseif (variant STREQUAL "sparse_axial_row")
        set(k "tq=32 kc=88 kci=64 vec=16 rq=4 rk=8 qvec=1 threads_split=1")
    elseif (variant MATCHES "^sparse_")
        set(k "tq=32 kc=88 kci=32 vec=16 rq=4 rk=8 qvec=1 threads_split=1")
    elseif (variant STREQUAL "block_sparse")
        set(k "tq=16 kc=16 vec=16 rq=4 rk=8 qvec=1 threads_split=1")
    elseif (bucket STREQUAL "group")
        set(k "tq=16 kc=128 vec=16 rq=4 rk=8 qvec=1 threads_split=1")
    elseif (bucket STREQUAL "decode")
        set(k "tq=1 kc=128 vec=16 rq=1 rk=4 qvec=0 threads_split=1")
    elseif (head_dim EQUAL 128)
        set(k "tq=32 kc=128 vec=16 rq=2 rk=8 qvec=1 threads_split=1")
    else ()
        set(k "tq=32 kc=128 vec=16 rq=4 rk=8 qvec=1 threads_split=1")
    endif ()
    set(${out} "${k}" PARENT_SCOPE)
endfunction()
