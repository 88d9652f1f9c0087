# Hand-picked default knobs of the GPU schedule family (schedules/gpu_schedule.h:
# tq queries per block, kc keys per chunk, rq x rk register tile of Q@K^T,
# rq x vec of P@V and the state), per variant, head dim and bucket: the
# fallback for every CUDA key the tuning database has no record for.
# Measured on an H100 (dense causal B8 H8 N1280 D64, fp32, one sweep of 10
# points in one run, bench/gpu/sweep): tq=16 kc=64 rq=2 rk=4 vec=4 fastest
# (1.85 ms causal, 3.47 ms non-causal), tq=32 kc=32 rq=4 rk=2 2.01 ms,
# tq=16 kc=32 rq=2 rk=2 2.03 ms; 4 x 4 register tiles (3.1 ms) and 8-key
# tiles (2.4 ms) are slower (registers, fewer blocks per SM).
# Dense and chunked prefill at head dims 40 and 64, DALL-E sparse at 64: the
# lane family (lanes=1, one query per warp lane, its state in registers;
# schedules/gpu_schedule.cpp). kc from a sweep of a standalone prototype of
# the kernel (no masks) on the H100: d64 causal kc=8 0.92 ms (16: 1.00, 4:
# 0.97), d40 kc=16 2.01 ms (8: 2.15). The built kernels on the benchmark
# (bench/gpu/results_h100.txt): dense 1.41 ms against 1.95 for the tiled
# family's best point, chunked 2.52 against 8.99, conv 0.83 against 1.30,
# rows 0.82 against 1.26. After the lane kernels learned to skip a tile's
# dead chunks and to zero chunked's unseen value rows as they are staged
# (one run of single-point sessions on the H100, 2026-11-23): dense d64
# kc=4 1.056 ms (8: 1.077, 2: 1.33), chunked d40 kc=8 2.09 (16: 2.13,
# 32: 2.08, 4: 2.89), conv kc=kci=4 0.766 (8: 0.816, kc=4 kci=8: 0.80),
# rows kc=kci=8 0.807 (4: 0.813); the previous build's kernels in the same
# run: 1.336, 2.523, 0.806, 0.805.
# DALL-E sparse: 16-query blocks (two phases of state in shared memory),
# 32-key text chunks (staged), 32-slot image chunks (a 5x5 box or a row of
# 32). Decode: one query per block, keys across the threads.
function(attngen_gpu_default_knobs out variant head_dim bucket)
    if (variant MATCHES "^(dense|chunked)$" AND bucket STREQUAL "prefill" AND head_dim MATCHES "^(40|64)$")
        if (variant STREQUAL "dense" AND head_dim EQUAL 64)
            set(k "tq=32 kc=4 vec=4 rq=1 rk=4 qvec=1 threads_split=1 lanes=1")
        else ()
            set(k "tq=32 kc=8 vec=4 rq=1 rk=4 qvec=1 threads_split=1 lanes=1")
        endif ()
    elseif (variant STREQUAL "sparse_conv" AND head_dim EQUAL 64)
        # The lane family: text keys in chunks of 4, image slots in chunks of
        # 4 (a 5x5 box in seven).
        set(k "tq=32 kc=4 kci=4 vec=4 rq=1 rk=4 qvec=1 threads_split=1 lanes=1")
    elseif (variant MATCHES "^sparse_" AND head_dim EQUAL 64)
        # The lane family: text keys in chunks of 8, image slots in chunks of 8
        # (a grid row or column of 32 in four).
        set(k "tq=32 kc=8 kci=8 vec=4 rq=1 rk=4 qvec=1 threads_split=1 lanes=1")
    elseif (variant MATCHES "^sparse_")
        set(k "tq=16 kc=32 kci=32 vec=4 rq=2 rk=2 qvec=1 threads_split=1")
    elseif (variant STREQUAL "block_sparse")
        set(k "tq=16 kc=16 vec=4 rq=2 rk=1 qvec=1 threads_split=1")
    elseif (bucket STREQUAL "decode")
        # One query per block, keys over the threads. (256-key chunks over
        # 128 threads failed to launch on the H100: CUDA_ERROR_INVALID_VALUE.)
        set(k "tq=1 kc=64 vec=4 rq=1 rk=2 qvec=1 threads_split=1")
    elseif (head_dim EQUAL 128)
        # 3 x 128 x 16 floats of state leave room for a 32-key staged chunk.
        set(k "tq=16 kc=32 vec=4 rq=2 rk=2 qvec=1 threads_split=1")
    elseif (bucket STREQUAL "group")
        set(k "tq=16 kc=64 vec=4 rq=1 rk=4 qvec=1 threads_split=1")
    else ()
        set(k "tq=16 kc=64 vec=4 rq=2 rk=4 qvec=1 threads_split=1")
    endif ()
    set(${out} "${k}" PARENT_SCOPE)
endfunction()
