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
    ATTNGEN_ERR_OUT_OF_MEMORY = 9
} attngen_status;

typedef enum attngen_dtype {
    ATTNGEN_F32 = 0,
    ATTNGEN_F16 = 1,
    ATTNGEN_BF16 = 2,
    ATTNGEN_U8 = 3
} attngen_dtype;

#define ATTNGEN_MAX_DIMS 4

/* A view of caller-owned memory. strides[i] is in elements; a tensor whose
 * strides are all 0 is taken as contiguous row-major. */
typedef struct attngen_tensor {
    void *data;
    attngen_dtype dtype;
    int32_t ndim;
    int64_t shape[ATTNGEN_MAX_DIMS];
    int64_t strides[ATTNGEN_MAX_DIMS];
} attngen_tensor;

/* Contiguous row-major view helper. */
attngen_tensor attngen_tensor_make(void *data, attngen_dtype dtype, int32_t ndim, const int64_t *shape);

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

/* The message of the last failed call on this thread ("" if none). */
const char *attngen_last_error(void);
/* A short name for a status code. */
const char *attngen_status_string(attngen_status status);
/* "<library> [<feature level>] <knobs>" of the kernel the last successful
 * call on this thread ran. */
const char *attngen_last_kernel(void);

/* Worker threads for all kernels (0 = one per core). Returns the previous value. */
int attngen_set_num_threads(int n);

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
