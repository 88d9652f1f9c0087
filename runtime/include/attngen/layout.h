/* attngen layout builders: block-sparse attention layouts.
 *
 * Layouts
 *   A layout says which (query block, key block) pairs a block-sparse kernel
 *   computes. It is a caller-allocated uint8 array, row-major (H, nb, nb):
 *   byte [h * nb * nb + i * nb + j] is 1 if query block i of head h attends
 *   to key block j, 0 otherwise. A block covers `block` tokens; for a
 *   sequence of seq_len tokens nb = ceil(seq_len / block), the last block
 *   possibly partial. A builder writes exactly H * nb * nb bytes; bytes of the
 *   buffer past them are left alone. On failure nothing is written.
 *
 * Sizes
 *   A layout holds at most 2^31 blocks (H * nb * nb <= 2^31, the kernels'
 *   32-bit indexing); a larger one is ATTNGEN_ERR_TOO_LARGE.
 *
 * Errors
 *   As in attngen.h: every function validates its arguments, never aborts,
 *   and on failure returns a status and leaves a message naming the offending
 *   argument for attngen_last_error() (per thread). A successful call clears
 *   the message.
 *
 * Threads
 *   Every function is pure and reentrant: its result depends only on its
 *   arguments (random layouts included: see `seed`), it keeps no state and
 *   may be called concurrently from any number of threads.
 */
#ifndef ATTNGEN_LAYOUT_H
#define ATTNGEN_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "attngen.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which key blocks a local window or global block lets a query block see. */
typedef enum attngen_sparsity_direction {
    /* Autoregressive: local windows keep only their lower triangle (the
     * diagonal included) and a global column starts at its own row. */
    ATTNGEN_UNIDIRECTIONAL = 0,
    /* BERT-like: local windows are full squares, global columns full height. */
    ATTNGEN_BIDIRECTIONAL = 1
} attngen_sparsity_direction;

/* DeepSpeed's VariableSparsityConfig: per head, random blocks, then local
 * windows, then global blocks are set on an empty layout. All counts and
 * indices are in blocks, not tokens. Fill with
 * attngen_variable_sparsity_config_init, then change what differs. The
 * config only borrows its arrays; they must stay valid during the call. */
typedef struct attngen_variable_sparsity_config {
    /* Number of heads H of the layout, >= 1. */
    int32_t num_heads;
    /* Block size in tokens, >= 1. */
    int32_t block;
    /* Nonzero: every head gets its own random blocks (its own random stream).
     * 0: head 0 is built and copied to every head. Only random blocks can
     * differ between heads. */
    int32_t different_layout_per_head;
    /* Random key blocks per query block row, >= 0 and <= nb: that many
     * distinct columns drawn uniformly from all nb columns (from all of
     * them even when unidirectional, as DeepSpeed does: a causal kernel must
     * still mask the blocks above the diagonal). */
    int32_t num_random_blocks;
    /* Local window sizes in blocks, each >= 1, num_local_windows >= 1 of
     * them. Consecutive windows tile the diagonal from block 0; once the list
     * is used up its last size repeats to the end. Within a window
     * [start, end) every query block i sees key blocks start .. end-1
     * (bidirectional) or start .. i (unidirectional). */
    const int32_t *local_window_blocks;
    int32_t num_local_windows;
    /* Global blocks: num_global_blocks >= 0 block indices, each >= 0 (may be
     * NULL when num_global_blocks is 0). Indices >= nb are ignored. Every
     * query block sees a global key block (unidirectional: every query block
     * at or after it). */
    const int32_t *global_block_indices;
    int32_t num_global_blocks;
    /* NULL, or num_global_blocks exclusive ends: global_block_indices[g] ..
     * global_block_end_indices[g] - 1 are then all global, and the columns
     * start at row global_block_indices[g] when unidirectional. Each end must
     * be > its start; ends past nb are clipped. */
    const int32_t *global_block_end_indices;
    /* ATTNGEN_UNIDIRECTIONAL or ATTNGEN_BIDIRECTIONAL. */
    attngen_sparsity_direction attention;
    /* Nonzero: global blocks also see every key block (their rows are full).
     * Bidirectional only, else ATTNGEN_ERR_OPTION. */
    int32_t horizontal_global_attention;
    /* Seed of the random blocks. The same config and seq_len give the same
     * layout on every platform and in every release that keeps this
     * algorithm: head h (head 0 only when layouts are shared) draws from a
     * splitmix64 generator whose initial state is seed XOR mix64(h + 1),
     * mix64 being splitmix64's output function. For each row in order, a
     * partial Fisher-Yates shuffle of 0 .. nb-1 (reset per row) picks the
     * num_random_blocks columns; a draw below m is next() % m after
     * rejecting outputs < 2^64 mod m (no modulo bias). */
    uint64_t seed;
} attngen_variable_sparsity_config;

/* Fills *cfg with DeepSpeed's defaults: num_heads 1, block 16, one layout
 * for all heads, no random blocks, local windows {4}, global blocks {0}
 * without end indices, bidirectional, no horizontal global attention,
 * seed 0. The arrays point to static storage. Does nothing if cfg is NULL. */
void attngen_variable_sparsity_config_init(attngen_variable_sparsity_config *cfg);

/* Number of blocks *nb = ceil(seq_len / block) of seq_len >= 1 tokens in
 * blocks of block >= 1 tokens.
 * Errors: ATTNGEN_ERR_NULL_ARGUMENT (nb), ATTNGEN_ERR_SHAPE (seq_len < 1),
 * ATTNGEN_ERR_OPTION (block < 1). */
attngen_status attngen_layout_num_blocks(int64_t seq_len, int32_t block, int64_t *nb);

/* Builds the (cfg->num_heads, nb, nb) layout of cfg for seq_len >= 1 tokens
 * (nb = ceil(seq_len / cfg->block)) into layout, which holds layout_size
 * >= num_heads * nb * nb bytes.
 * Errors:
 *   ATTNGEN_ERR_NULL_ARGUMENT  cfg, layout, or an array that cfg's counts
 *                              say is there;
 *   ATTNGEN_ERR_SHAPE          num_heads < 1, seq_len < 1, layout_size too
 *                              small;
 *   ATTNGEN_ERR_OPTION         block < 1, attention not one of the enum,
 *                              num_random_blocks < 0 or > nb, no local window
 *                              or one < 1, num_global_blocks < 0, a global
 *                              index < 0 or end <= its start, horizontal
 *                              global attention when unidirectional;
 *   ATTNGEN_ERR_TOO_LARGE      num_heads * nb * nb > 2^31;
 *   ATTNGEN_ERR_OUT_OF_MEMORY  scratch for the random draws (nb int32). */
attngen_status attngen_layout_variable_sparsity(const attngen_variable_sparsity_config *cfg, int64_t seq_len,
                                                uint8_t *layout, size_t layout_size);

/* The layout of DALL-E's (dalle-pytorch) SparseAttention: the variable
 * sparsity layout with block 16, the text blocks 0 .. ceil(text_len/16) - 1
 * global, num_random_blocks = floor(seq_len / 16 / 4), local windows {4},
 * unidirectional if causal is nonzero else bidirectional, and one layout
 * shared by the num_heads heads. seq_len >= 1 tokens hold text_len tokens of
 * text first, 1 <= text_len <= seq_len. layout holds layout_size >=
 * num_heads * nb * nb bytes, nb = ceil(seq_len / 16). seed: as in
 * attngen_variable_sparsity_config.
 * Errors: ATTNGEN_ERR_NULL_ARGUMENT (layout), ATTNGEN_ERR_SHAPE (num_heads,
 * seq_len, text_len out of range, layout_size too small),
 * ATTNGEN_ERR_TOO_LARGE, ATTNGEN_ERR_OUT_OF_MEMORY. */
attngen_status attngen_layout_dalle(int32_t num_heads, int64_t seq_len, int64_t text_len, int32_t causal,
                                   uint64_t seed, uint8_t *layout, size_t layout_size);

/* The (1, nb, nb) layout, nb = ceil(n / block), of a dense element mask:
 * n x n uint8, rows = queries, columns = keys, element (i, j) at
 * mask[i * mask_stride + j] (mask_stride >= n, in elements). Block (bi, bj)
 * is kept iff some element of its tile is nonzero; tiles of the last block
 * row and column are clipped to the mask. If partial is not NULL, *partial
 * is set on success to 1 iff some kept tile also holds a zero, i.e. the
 * element mask must still be applied inside kept blocks, else to 0.
 * layout holds layout_size >= nb * nb bytes.
 * Errors: ATTNGEN_ERR_NULL_ARGUMENT (mask, layout), ATTNGEN_ERR_SHAPE (n < 1,
 * layout_size too small), ATTNGEN_ERR_LAYOUT (mask_stride < n),
 * ATTNGEN_ERR_OPTION (block < 1), ATTNGEN_ERR_TOO_LARGE (nb * nb > 2^31, or
 * the mask's extent does not fit in memory addresses),
 * ATTNGEN_ERR_OUT_OF_MEMORY (scratch of nb int64). */
attngen_status attngen_layout_from_mask(const uint8_t *mask, int64_t n, int64_t mask_stride, int32_t block,
                                        uint8_t *layout, size_t layout_size, int32_t *partial);

/* Number of nonzero blocks of an (num_heads, nb, nb) layout, summed over
 * heads, for cost estimates. With causal nonzero only blocks on or below the
 * diagonal (key block <= query block) count. Returns -1 and sets
 * attngen_last_error() if layout is NULL, num_heads < 1, nb < 1 or the
 * layout's size overflows. */
int64_t attngen_layout_count(const uint8_t *layout, int64_t num_heads, int64_t nb, int32_t causal);

#ifdef __cplusplus
}
#endif

#endif /* ATTNGEN_LAYOUT_H */
