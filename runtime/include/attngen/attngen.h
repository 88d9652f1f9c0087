/* attngen: ahead-of-time generated attention kernels behind a thin C API.
 *
 * Tensors
 *   Activations q, k, v and out are (B, N, H, D): batch, token, head,
 *   feature, described by an attngen_tensor view (shape + strides in
 *   elements). The feature dimension must have stride 1; other strides are
 *   free (a (B, N, 3*H*D) fused projection can be passed without a copy).
 *   Masks are uint8, 1 = keep. Scores are (q . k) / sqrt(D).
 *   A query row whose keys are all masked produces zeros.
 *
 * Errors
 *   Every entry point validates its arguments and returns an attngen_status;
 *   nothing aborts. On failure attngen_last_error() gives a message naming
 *   the offending argument. The message is per thread.
 *
 * Threads
 *   All entry points are thread-safe and may be called concurrently; the
 *   kernels share one worker pool (attngen_set_num_threads).
 *
 * Diagnostics
 *   ATTNGEN_VERBOSE=1 in the environment prints, per call, the kernel used,
 *   the CPU feature level and the schedule knobs, to stderr.
 */
#ifndef ATTNGEN_ATTNGEN_H
#define ATTNGEN_ATTNGEN_H

#include <stddef.h>
#include <stdint.h>

#include "attngen/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum attngen_status {
    ATTNGEN_OK = 0,
    ATTNGEN_ERR_NULL_ARGUMENT = 1,  /* a required pointer is NULL */
    ATTNGEN_ERR_SHAPE = 2,          /* shapes disagree (q/k/v/out, masks, rotary table and its dim) */
    ATTNGEN_ERR_LAYOUT = 3,         /* strides unsupported, out of range or overlapping */
    ATTNGEN_ERR_DTYPE = 4,          /* element type not accepted for this argument */
    ATTNGEN_ERR_OPTION = 5,         /* an option value is invalid (e.g. a negative offset) */
    ATTNGEN_ERR_TOO_LARGE = 6,      /* a size exceeds the kernels' 32-bit indexing limits */
    ATTNGEN_ERR_UNSUPPORTED = 7,    /* no kernel was built for this case */
    ATTNGEN_ERR_KERNEL = 8,         /* the generated kernel reported an error */
    ATTNGEN_ERR_OUT_OF_MEMORY = 9,
    ATTNGEN_ERR_DEVICE = 10         /* tensors on different devices, no CUDA device or driver, or a CUDA error */
} attngen_status;

typedef enum attngen_dtype {
    ATTNGEN_F32 = 0,
    ATTNGEN_F16 = 1,
    ATTNGEN_BF16 = 2,
    ATTNGEN_U8 = 3
} attngen_dtype;

#define ATTNGEN_MAX_DIMS 4

/* Where a tensor's memory lives. */
typedef enum attngen_device {
    ATTNGEN_DEVICE_CPU = 0,  /* host memory (the default: a zeroed field) */
    ATTNGEN_DEVICE_CUDA = 1  /* a CUDA device pointer (CUdeviceptr) of the calling thread's context */
} attngen_device;

/* A view of caller-owned memory. strides[i] is in elements; a tensor whose
 * strides are all 0 is taken as contiguous row-major. device says where
 * data points (see "CUDA" below). */
typedef struct attngen_tensor {
    void *data;
    attngen_dtype dtype;
    int32_t ndim;
    int64_t shape[ATTNGEN_MAX_DIMS];
    int64_t strides[ATTNGEN_MAX_DIMS];
    attngen_device device;
} attngen_tensor;

/* Contiguous row-major view helper. */
attngen_tensor attngen_tensor_make(void *data, attngen_dtype dtype, int32_t ndim, const int64_t *shape);

/* Storage types. q, k, v and out of one call share one storage type: f32,
 * f16 (IEEE binary16) or bf16 (the upper 16 bits of an IEEE binary32);
 * kernels accumulate in f32 and round the output to nearest even. Mixed
 * types are refused (ATTNGEN_ERR_DTYPE); masks are u8 and rotary tables f32
 * whatever the storage type.
 * attngen_convert converts `count` elements between f32, f16 and bf16
 * (round to nearest even; NaN stays NaN, overflow gives infinity); src and
 * dst must not overlap unless they are the same pointer with the same
 * element size. Returns ATTNGEN_ERR_NULL_ARGUMENT, ATTNGEN_ERR_DTYPE (u8 or
 * an unknown type) or ATTNGEN_ERR_OPTION (count < 0). */
attngen_status attngen_convert(const void *src, attngen_dtype src_type, void *dst, attngen_dtype dst_type,
                               int64_t count);

/* Dense attention (SPEC.md section 1).
 *   q (B, Nq, H, D); k, v (B, Nk, Hkv, D) with H % Hkv == 0; out (B, Nq, H, D).
 *   Without a cache (offset == 0): Nq == Nk.
 *   With a KV cache: q holds the Nq new tokens at absolute positions
 *   offset .. offset+Nq-1 and k, v hold Nk == offset + Nq rows (cache then
 *   new). Causal: key j is visible to new query i iff j <= offset + i.
 *   key_mask (B, Nk) uint8; static_mask (S, S) uint8 with S >= Nk, indexed
 *   at absolute positions; freqs (Nf, R) f32 rotary angles, R even, R <= D,
 *   Nf >= Nk: rotates q, k and v on their first R features in interleaved
 *   pairs (cached rows j < offset are taken as already rotated).
 *   stable: accepted for compatibility with the DALL-E module; every kernel
 *   subtracts the running max, so it changes nothing. */
typedef struct attngen_dense_options {
    int32_t causal;
    int32_t stable;
    int64_t offset;
    const attngen_tensor *key_mask;
    const attngen_tensor *static_mask;
    const attngen_tensor *freqs;
} attngen_dense_options;

void attngen_dense_options_init(attngen_dense_options *opts);

attngen_status attngen_dense(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                             attngen_tensor *out, const attngen_dense_options *opts);

/* DALL-E sparse attention (SPEC.md sections 2 and 3).
 *   The sequence is text_len = seq_len + 1 - image_size^2 text tokens, then
 *   an image_size x image_size image grid in raster order. q, k, v, out are
 *   (B, n, H, D) with n <= seq_len tokens; k, v may have Hkv heads (H % Hkv == 0).
 *   Text query i attends causally to text keys 0..i (no key mask). Image
 *   query (r, c) attends to the text keys that key_mask keeps, plus
 *     sparse_conv:  keys (r - a*dilation, c - e*dilation), a, e in
 *                   0..kernel_size-1 (odd), inside the grid;
 *     sparse_axial: axis 0: keys (r, c') with c' <= c; axis 1: (r', c),
 *                   r' <= r.
 *   key_mask (B, >= text_len) uint8: its first text_len columns are used
 *   (NULL = keep all). freqs (Nf >= n, R) rotates q, k and v at positions
 *   0..n-1 (NULL = no rotary). stable: accepted, no effect (see dense). */
typedef struct attngen_sparse_options {
    int64_t seq_len;
    int64_t image_size;
    int32_t kernel_size; /* sparse_conv; default 5 */
    int32_t dilation;    /* sparse_conv; default 1 */
    int32_t axis;        /* sparse_axial; 0 = rows (default), 1 = columns */
    int32_t stable;
    const attngen_tensor *key_mask;
    const attngen_tensor *freqs;
} attngen_sparse_options;

/* kernel_size 5, dilation 1, axis 0, everything else 0/NULL (seq_len and
 * image_size must then be set). */
void attngen_sparse_options_init(attngen_sparse_options *opts);

attngen_status attngen_sparse_conv(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                                   attngen_tensor *out, const attngen_sparse_options *opts);
attngen_status attngen_sparse_axial(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                                    attngen_tensor *out, const attngen_sparse_options *opts);

/* Block-sparse attention (SPEC.md section 4).
 *   A layout handle turns a (Hl, nb, nb) uint8 block layout (Hl = 1 for one
 *   layout shared by every head, or H) into compact per-row lists of kept
 *   key blocks, once; it is immutable afterwards and may be used by any
 *   number of threads at once. With causal, blocks above the diagonal are
 *   left out of the lists (never computed) and the diagonal blocks are
 *   masked per element. The block size must be a multiple of 16.
 *   attngen_block_layout_from_mask derives the layout from a dense (S, S)
 *   element mask (rows = queries): fully masked blocks are skipped and the
 *   element mask (copied into the handle) still applies inside kept blocks,
 *   so masked dense attention costs only its kept blocks.
 *   attngen_block_sparse: q, k, v, out (B, N, H, D), k/v may have Hkv heads
 *   (H % Hkv == 0), nb == ceil(N / block) (or, for a mask-derived layout,
 *   S >= N); key_mask (B, N) uint8 or NULL. */
typedef struct attngen_block_layout attngen_block_layout;

attngen_status attngen_block_layout_create(const attngen_tensor *layout, int32_t block, int32_t causal,
                                           attngen_block_layout **handle);
attngen_status attngen_block_layout_from_mask(const attngen_tensor *mask, int32_t block, int32_t causal,
                                              attngen_block_layout **handle);
/* Kept blocks (after the causal cut) and all blocks, over every layout head. */
attngen_status attngen_block_layout_stats(const attngen_block_layout *handle, int64_t *kept_blocks,
                                          int64_t *total_blocks);
void attngen_block_layout_destroy(attngen_block_layout *handle);

typedef struct attngen_block_sparse_options {
    const attngen_tensor *key_mask;
} attngen_block_sparse_options;

attngen_status attngen_block_sparse(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                                    attngen_tensor *out, const attngen_block_layout *layout,
                                    const attngen_block_sparse_options *opts);

/* Chunked memory-efficient attention (Rabe & Staats; SPEC.md section 5).
 *   Plain softmax attention, no mask: q (B, Nq, H, D), k (B, Nk, Hkv, D),
 *   v (B, Nk, Hkv, Dv), out (B, Nq, H, Dv); Nq and Nk independent, Dv may
 *   differ from D, H % Hkv == 0. Temporary memory is O(threads * query
 *   tile * kv chunk), never O(Nq * Nk).
 *   query_chunk_size: queries per kernel call (0 = 1024, the seed's
 *   default, on the CPU; all queries in one call on CUDA, whose kernels'
 *   scratch does not grow with the queries); each call's scratch is
 *   bounded by it.
 *   kv_chunk_size / kv_chunk_size_min: the seed's knobs. The kernels merge
 *   keys in compiled chunks (the tuned kc, see attngen_build_info); the
 *   chunk size changes rounding only, never the result. When given, the
 *   compiled chunked kernel whose kc is closest to max(kv_chunk_size,
 *   kv_chunk_size_min) is used (attngen_last_kernel says which). */
typedef struct attngen_chunked_options {
    int64_t query_chunk_size;
    int64_t kv_chunk_size;
    int64_t kv_chunk_size_min;
} attngen_chunked_options;

void attngen_chunked_options_init(attngen_chunked_options *opts);

attngen_status attngen_chunked(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                               attngen_tensor *out, const attngen_chunked_options *opts);

/* Memory accounting. Every heap allocation the kernels make goes through a
 * counting allocator (thread-safe). Small fixed-size scratch that Halide
 * places on the worker threads' stacks is not heap and is not counted. */
typedef struct attngen_call_stats {
    int64_t peak_scratch_bytes;  /* peak live heap scratch of the call, over all its worker threads */
    int64_t total_scratch_bytes; /* sum of all its allocations */
    int32_t kernel_calls;        /* kernel invocations the call made */
} attngen_call_stats;

/* Statistics of the last successful attention call on this thread. */
attngen_status attngen_last_call_stats(attngen_call_stats *stats);
/* Process-wide heap scratch of all kernels: live now and peak so far. */
int64_t attngen_scratch_live_bytes(void);
int64_t attngen_scratch_peak_bytes(void);

/* The message of the last failed call on this thread ("" if none). */
const char *attngen_last_error(void);
/* A short name for a status code. */
const char *attngen_status_string(attngen_status status);
/* "<library> [<feature level>] <knobs>" of the kernel the last successful
 * call on this thread ran. */
const char *attngen_last_kernel(void);

/* Worker threads for all kernels (0 = one per core). Returns the previous value. */
int attngen_set_num_threads(int n);

/* CUDA
 *   A call whose q, k, v and out are ATTNGEN_DEVICE_CUDA tensors runs the
 *   CUDA kernels on those device pointers (no host copies): q, k, v and out
 *   must all live on the device; masks and rotary tables may be host or
 *   device tensors (host ones are uploaded per call); block layouts are host
 *   objects (their lists are uploaded per call). The kernels are launched on
 *   the context and stream set with attngen_cuda_set_stream for the calling
 *   thread; without one, on the context current on the calling thread
 *   (e.g. the one a framework made current) and its default stream, else
 *   on a context of attngen's own on device 0. Launches are asynchronous:
 *   a call returns once its kernels are queued, errors found at launch are
 *   returned (ATTNGEN_ERR_DEVICE or ATTNGEN_ERR_KERNEL), and
 *   attngen_cuda_synchronize waits for the stream and reports errors of
 *   kernels that already ran. Libraries built without CUDA (or a machine
 *   without a driver) refuse device tensors with ATTNGEN_ERR_DEVICE.
 *   The driver (libcuda) is loaded at run time; no CUDA toolkit is needed. */
/* 1 when CUDA kernels were built in and a CUDA driver and device are present. */
int attngen_cuda_available(void);
/* Context (CUcontext) and stream (CUstream) for the calling thread's CUDA
 * calls; NULL context = the current one at call time, NULL stream = its
 * default stream. */
attngen_status attngen_cuda_set_stream(void *context, void *stream);
/* Waits for the work attngen queued on the calling thread's stream. */
attngen_status attngen_cuda_synchronize(void);

/* Human-readable description of what was compiled in: targets, variants,
 * head dims, buckets and knobs. */
const char *attngen_build_info(void);

/* The CPU feature level the kernels dispatch to on this machine
 * ("avx512", "avx2", "sse41" or "baseline" on x86). */
const char *attngen_cpu_level(void);

#ifdef __cplusplus
}
#endif

#endif /* ATTNGEN_ATTNGEN_H */
