// Block-sparse layout builders (layout.h): DeepSpeed's VariableSparsityConfig,
// DALL-E's sparse attention layout, the layout of a dense element mask, and
// block counts.
//
// Every entry point validates all of its arguments and allocates its scratch
// before it writes anything, so a failure leaves the caller's layout as it
// was. Random blocks come from a fixed, documented generator (splitmix64) so
// that a seed gives the same layout everywhere.
#include "attngen/layout.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <numeric>
#include <type_traits>
#include <vector>

#include "errors.h"

namespace {

using attngen::detail::set_error;

// Most blocks a layout may hold (H * nb * nb): the kernels index it with 32
// bits. With H >= 1 this also bounds nb by 46341, so block indices fit int32.
constexpr int64_t kMaxLayoutBlocks = int64_t(1) << 31;

// Largest byte extent an array may span (the pointer difference type).
constexpr int64_t kMaxExtent =
    int64_t(std::min<uint64_t>(uint64_t(std::numeric_limits<std::ptrdiff_t>::max()),
                               uint64_t(std::numeric_limits<int64_t>::max())));

// DALL-E's SparseAttention (dalle-pytorch) defaults.
constexpr int32_t kDalleBlock = 16;
constexpr int32_t kDalleWindow = 4;

// DeepSpeed's VariableSparsityConfig defaults (static: the init function
// points the config at them).
constexpr int32_t kDefaultLocalWindows[] = {4};
constexpr int32_t kDefaultGlobalBlocks[] = {0};

// ---- Deterministic random numbers -------------------------------------------

// splitmix64's output function (Steele, Lea & Flood 2014; Stafford's
// variant 13 finalizer): a bijective 64-bit mix.
uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// splitmix64: a Weyl sequence (state += golden gamma) through mix64. Small,
// fast, statistically sound for sampling, and defined by 64-bit unsigned
// arithmetic alone, so its streams are identical on every platform (unlike
// the std:: distributions, whose algorithms are unspecified).
class SplitMix64 {
public:
    explicit SplitMix64(uint64_t state) : state_(state) {}

    uint64_t next() { return mix64(state_ += kGamma); }

    // Uniform in [0, m), m >= 1, without modulo bias: outputs below
    // 2^64 mod m are rejected so that the rest is a whole number of
    // periods of m.
    uint64_t below(uint64_t m) {
        const uint64_t reject = (0 - m) % m;  // 2^64 mod m
        for (;;) {
            const uint64_t r = next();
            if (r >= reject) return r % m;
        }
    }

private:
    static constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;
    uint64_t state_;
};

// The generator of head h's random blocks (layout.h documents this).
SplitMix64 head_rng(uint64_t seed, int64_t head) { return SplitMix64(seed ^ mix64(uint64_t(head) + 1)); }

// ---- Argument checks ----------------------------------------------------------

// nb = ceil(len / block) of len >= 1 tokens in blocks of block >= 1 tokens;
// the names are the caller's spelling of the arguments, for messages.
attngen_status check_blocks(int64_t len, const char *len_name, int32_t block, const char *block_name, int64_t *nb) {
    if (len < 1) return set_error(ATTNGEN_ERR_SHAPE, "%s must be >= 1, got %lld", len_name, (long long)len);
    if (block < 1) return set_error(ATTNGEN_ERR_OPTION, "%s must be >= 1, got %d", block_name, (int)block);
    *nb = (len - 1) / block + 1;  // ceil without overflowing len + block - 1
    return ATTNGEN_OK;
}

// check_blocks, then: an (heads, nb, nb) layout holds at most 2^31 blocks
// and fits the caller's layout_size bytes.
attngen_status check_grid(int64_t heads, int64_t len, const char *len_name, int32_t block, const char *block_name,
                          size_t layout_size, int64_t *nb) {
    int64_t n = 0;
    if (attngen_status s = check_blocks(len, len_name, block, block_name, &n)) return s;
    if (n > kMaxLayoutBlocks / heads / n) {  // heads * n * n > 2^31, without overflow
        return set_error(ATTNGEN_ERR_TOO_LARGE,
                         "%s %lld in blocks of %s %d gives nb = %lld: %lld head(s) x nb x nb exceeds the 2^31 "
                         "blocks of a layout",
                         len_name, (long long)len, block_name, (int)block, (long long)n, (long long)heads);
    }
    const int64_t bytes = heads * n * n;
    if (layout_size < uint64_t(bytes)) {
        return set_error(ATTNGEN_ERR_SHAPE, "layout_size %llu is below the %lld bytes of a (%lld, %lld, %lld) layout",
                         (unsigned long long)layout_size, (long long)bytes, (long long)heads, (long long)n,
                         (long long)n);
    }
    *nb = n;
    return ATTNGEN_OK;
}

// The attention field as stored. A C caller may store any int there; reading
// it as an integer avoids loading an enum value outside the enum's range.
int64_t raw_direction(const attngen_sparsity_direction &d) {
    std::underlying_type_t<attngen_sparsity_direction> v;
    static_assert(sizeof v == sizeof d, "enum and its underlying type differ in size");
    std::memcpy(&v, &d, sizeof v);
    return int64_t(v);
}

// Everything of a variable sparsity config that does not depend on seq_len.
attngen_status check_config(const attngen_variable_sparsity_config &c) {
    if (c.num_heads < 1) {
        return set_error(ATTNGEN_ERR_SHAPE, "cfg->num_heads must be >= 1, got %d", (int)c.num_heads);
    }
    const int64_t direction = raw_direction(c.attention);
    if (direction != ATTNGEN_UNIDIRECTIONAL && direction != ATTNGEN_BIDIRECTIONAL) {
        return set_error(ATTNGEN_ERR_OPTION,
                         "cfg->attention must be ATTNGEN_UNIDIRECTIONAL or ATTNGEN_BIDIRECTIONAL, got %lld",
                         (long long)direction);
    }
    if (c.num_random_blocks < 0) {
        return set_error(ATTNGEN_ERR_OPTION, "cfg->num_random_blocks must be >= 0, got %d", (int)c.num_random_blocks);
    }
    if (c.num_local_windows < 1) {
        return set_error(ATTNGEN_ERR_OPTION, "cfg->num_local_windows must be >= 1 (the last window repeats), got %d",
                         (int)c.num_local_windows);
    }
    if (!c.local_window_blocks) {
        return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "cfg->local_window_blocks is NULL but cfg->num_local_windows is %d",
                         (int)c.num_local_windows);
    }
    for (int32_t w = 0; w < c.num_local_windows; w++) {
        if (c.local_window_blocks[w] < 1) {
            return set_error(ATTNGEN_ERR_OPTION, "cfg->local_window_blocks[%d] must be >= 1, got %d", (int)w,
                             (int)c.local_window_blocks[w]);
        }
    }
    if (c.num_global_blocks < 0) {
        return set_error(ATTNGEN_ERR_OPTION, "cfg->num_global_blocks must be >= 0, got %d", (int)c.num_global_blocks);
    }
    if (c.num_global_blocks > 0 && !c.global_block_indices) {
        return set_error(ATTNGEN_ERR_NULL_ARGUMENT,
                         "cfg->global_block_indices is NULL but cfg->num_global_blocks is %d",
                         (int)c.num_global_blocks);
    }
    for (int32_t g = 0; g < c.num_global_blocks; g++) {
        const int32_t start = c.global_block_indices[g];
        if (start < 0) {
            return set_error(ATTNGEN_ERR_OPTION, "cfg->global_block_indices[%d] must be >= 0, got %d", (int)g,
                             (int)start);
        }
        if (c.global_block_end_indices && c.global_block_end_indices[g] <= start) {
            return set_error(ATTNGEN_ERR_OPTION,
                             "cfg->global_block_end_indices[%d] (%d) must be greater than "
                             "cfg->global_block_indices[%d] (%d)",
                             (int)g, (int)c.global_block_end_indices[g], (int)g, (int)start);
        }
    }
    if (c.horizontal_global_attention && direction == ATTNGEN_UNIDIRECTIONAL) {
        return set_error(ATTNGEN_ERR_OPTION,
                         "cfg->horizontal_global_attention requires cfg->attention = ATTNGEN_BIDIRECTIONAL");
    }
    return ATTNGEN_OK;
}

// ---- Variable sparsity (one head: an nb x nb layout, zeroed beforehand) -------
// Each rule only sets blocks to 1, so their order does not change the result;
// they run in DeepSpeed's: random, local, global.

// Sets cols [c0, c1) of rows [r0, r1) to 1.
void fill_rect(uint8_t *layout, int64_t nb, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t r = r0; r < r1; r++) std::memset(layout + r * nb + c0, 1, size_t(c1 - c0));
}

// num_random distinct columns per row, uniform over all nb columns: a
// partial Fisher-Yates shuffle of 0 .. nb-1, reset for every row. perm is
// scratch of nb entries.
void set_random(uint8_t *layout, int64_t nb, int32_t num_random, SplitMix64 rng, std::vector<int32_t> &perm) {
    for (int64_t row = 0; row < nb; row++) {
        std::iota(perm.begin(), perm.end(), 0);
        for (int64_t k = 0; k < num_random; k++) {
            const int64_t pick = k + int64_t(rng.below(uint64_t(nb - k)));
            std::swap(perm[size_t(k)], perm[size_t(pick)]);
            layout[row * nb + perm[size_t(k)]] = 1;
        }
    }
}

// One local window [start, end): a square, or its lower triangle (diagonal
// included) when unidirectional.
void set_window(uint8_t *layout, int64_t nb, int64_t start, int64_t end, bool unidirectional) {
    for (int64_t row = start; row < end; row++) {
        fill_rect(layout, nb, row, row + 1, start, unidirectional ? row + 1 : end);
    }
}

// The listed windows tile the diagonal from block 0, then the last size
// repeats up to nb.
void set_local(uint8_t *layout, int64_t nb, const attngen_variable_sparsity_config &c, bool unidirectional) {
    int64_t start = 0;
    for (int32_t w = 0; w < c.num_local_windows && start < nb; w++) {
        set_window(layout, nb, start, std::min<int64_t>(start + c.local_window_blocks[w], nb), unidirectional);
        start += c.local_window_blocks[w];
    }
    const int64_t last = c.local_window_blocks[c.num_local_windows - 1];
    for (; start < nb; start += last) set_window(layout, nb, start, std::min(start + last, nb), unidirectional);
}

// Global blocks [start, end) (end = start + 1 without end indices): their
// columns from row 0 (bidirectional) or row start down, and with horizontal
// global attention their full rows. Starts >= nb are skipped.
void set_global(uint8_t *layout, int64_t nb, const attngen_variable_sparsity_config &c, bool unidirectional) {
    for (int32_t g = 0; g < c.num_global_blocks; g++) {
        const int64_t start = c.global_block_indices[g];
        if (start >= nb) continue;
        const int64_t end =
            c.global_block_end_indices ? std::min<int64_t>(c.global_block_end_indices[g], nb) : start + 1;
        if (c.horizontal_global_attention) fill_rect(layout, nb, start, end, 0, nb);
        fill_rect(layout, nb, unidirectional ? start : 0, nb, start, end);
    }
}

// Builds the layout of a validated config for nb blocks into all heads of
// layout. May throw std::bad_alloc, before it writes anything.
void build_variable(const attngen_variable_sparsity_config &c, int64_t nb, uint8_t *layout) {
    std::vector<int32_t> perm(c.num_random_blocks > 0 ? size_t(nb) : 0);
    const bool unidirectional = raw_direction(c.attention) == ATTNGEN_UNIDIRECTIONAL;
    const int64_t area = nb * nb;
    const int64_t built = c.different_layout_per_head ? c.num_heads : 1;
    std::memset(layout, 0, size_t(built * area));
    for (int64_t h = 0; h < built; h++) {
        uint8_t *head = layout + h * area;
        if (c.num_random_blocks > 0) set_random(head, nb, c.num_random_blocks, head_rng(c.seed, h), perm);
        set_local(head, nb, c, unidirectional);
        set_global(head, nb, c, unidirectional);
    }
    for (int64_t h = built; h < c.num_heads; h++) std::memcpy(layout + h * area, layout, size_t(area));
}

}  // namespace

extern "C" {

void attngen_variable_sparsity_config_init(attngen_variable_sparsity_config *cfg) {
    if (!cfg) return;
    cfg->num_heads = 1;
    cfg->block = 16;
    cfg->different_layout_per_head = 0;
    cfg->num_random_blocks = 0;
    cfg->local_window_blocks = kDefaultLocalWindows;
    cfg->num_local_windows = 1;
    cfg->global_block_indices = kDefaultGlobalBlocks;
    cfg->num_global_blocks = 1;
    cfg->global_block_end_indices = nullptr;
    cfg->attention = ATTNGEN_BIDIRECTIONAL;
    cfg->horizontal_global_attention = 0;
    cfg->seed = 0;
}

attngen_status attngen_layout_num_blocks(int64_t seq_len, int32_t block, int64_t *nb) {
    attngen::detail::clear_error();
    if (!nb) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "nb is NULL");
    return check_blocks(seq_len, "seq_len", block, "block", nb);
}

attngen_status attngen_layout_variable_sparsity(const attngen_variable_sparsity_config *cfg, int64_t seq_len,
                                                uint8_t *layout, size_t layout_size) {
    attngen::detail::clear_error();
    if (!cfg) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "cfg is NULL");
    if (!layout) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "layout is NULL");
    if (attngen_status s = check_config(*cfg)) return s;
    int64_t nb = 0;
    if (attngen_status s = check_grid(cfg->num_heads, seq_len, "seq_len", cfg->block, "cfg->block", layout_size, &nb)) {
        return s;
    }
    if (cfg->num_random_blocks > nb) {
        return set_error(ATTNGEN_ERR_OPTION,
                         "cfg->num_random_blocks %d exceeds the %lld blocks of a row (seq_len %lld)",
                         (int)cfg->num_random_blocks, (long long)nb, (long long)seq_len);
    }
    try {
        build_variable(*cfg, nb, layout);
    } catch (const std::bad_alloc &) {
        return set_error(ATTNGEN_ERR_OUT_OF_MEMORY, "out of memory for the random-draw scratch of seq_len %lld",
                         (long long)seq_len);
    }
    return ATTNGEN_OK;
}

attngen_status attngen_layout_dalle(int32_t num_heads, int64_t seq_len, int64_t text_len, int32_t causal,
                                   uint64_t seed, uint8_t *layout, size_t layout_size) {
    attngen::detail::clear_error();
    if (!layout) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "layout is NULL");
    if (num_heads < 1) return set_error(ATTNGEN_ERR_SHAPE, "num_heads must be >= 1, got %d", (int)num_heads);
    int64_t nb = 0;
    if (attngen_status s = check_grid(num_heads, seq_len, "seq_len", kDalleBlock, "DALL-E block", layout_size, &nb)) {
        return s;
    }
    if (text_len < 1 || text_len > seq_len) {
        return set_error(ATTNGEN_ERR_SHAPE, "text_len must be in [1, seq_len = %lld], got %lld", (long long)seq_len,
                         (long long)text_len);
    }
    try {
        // The text blocks are global, each as its own index (not as a range,
        // which would start every column at row 0 when causal).
        std::vector<int32_t> text_blocks(size_t((text_len - 1) / kDalleBlock + 1));  // <= nb
        std::iota(text_blocks.begin(), text_blocks.end(), 0);
        const int32_t window = kDalleWindow;

        attngen_variable_sparsity_config cfg;
        attngen_variable_sparsity_config_init(&cfg);
        cfg.num_heads = num_heads;
        cfg.block = kDalleBlock;
        cfg.num_random_blocks = int32_t(seq_len / kDalleBlock / 4);  // <= nb
        cfg.local_window_blocks = &window;
        cfg.num_local_windows = 1;
        cfg.global_block_indices = text_blocks.data();
        cfg.num_global_blocks = int32_t(text_blocks.size());
        cfg.attention = causal ? ATTNGEN_UNIDIRECTIONAL : ATTNGEN_BIDIRECTIONAL;
        cfg.seed = seed;
        build_variable(cfg, nb, layout);
    } catch (const std::bad_alloc &) {
        return set_error(ATTNGEN_ERR_OUT_OF_MEMORY, "out of memory for the DALL-E layout of seq_len %lld",
                         (long long)seq_len);
    }
    return ATTNGEN_OK;
}

attngen_status attngen_layout_from_mask(const uint8_t *mask, int64_t n, int64_t mask_stride, int32_t block,
                                        uint8_t *layout, size_t layout_size, int32_t *partial) {
    attngen::detail::clear_error();
    if (!mask) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "mask is NULL");
    if (!layout) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "layout is NULL");
    int64_t nb = 0;
    if (attngen_status s = check_grid(1, n, "n", block, "block", layout_size, &nb)) return s;
    if (mask_stride < n) {
        return set_error(ATTNGEN_ERR_LAYOUT, "mask_stride %lld must be >= n %lld (mask rows would overlap)",
                         (long long)mask_stride, (long long)n);
    }
    if (n > 1 && mask_stride > (kMaxExtent - n) / (n - 1)) {  // (n-1) * mask_stride + n bytes must be addressable
        return set_error(ATTNGEN_ERR_TOO_LARGE, "mask_stride %lld x n %lld exceeds the address space",
                         (long long)mask_stride, (long long)n);
    }
    try {
        std::vector<int64_t> nonzero(static_cast<size_t>(nb));  // per tile of the current block row
        bool any_partial = false;
        for (int64_t bi = 0; bi < nb; bi++) {
            const int64_t r0 = bi * block, r1 = std::min(r0 + block, n);
            std::fill(nonzero.begin(), nonzero.end(), 0);
            for (int64_t r = r0; r < r1; r++) {
                const uint8_t *row = mask + r * mask_stride;
                for (int64_t bj = 0; bj < nb; bj++) {
                    const int64_t c1 = std::min((bj + 1) * block, n);
                    int64_t count = 0;
                    for (int64_t col = bj * block; col < c1; col++) count += row[col] != 0;
                    nonzero[size_t(bj)] += count;
                }
            }
            for (int64_t bj = 0; bj < nb; bj++) {
                const int64_t area = (r1 - r0) * (std::min((bj + 1) * block, n) - bj * block);
                const int64_t count = nonzero[size_t(bj)];
                layout[bi * nb + bj] = count > 0;
                any_partial = any_partial || (count > 0 && count < area);
            }
        }
        if (partial) *partial = any_partial;
    } catch (const std::bad_alloc &) {
        return set_error(ATTNGEN_ERR_OUT_OF_MEMORY, "out of memory for the tile counts of n %lld", (long long)n);
    }
    return ATTNGEN_OK;
}

int64_t attngen_layout_count(const uint8_t *layout, int64_t num_heads, int64_t nb, int32_t causal) {
    attngen::detail::clear_error();
    // Errors are reported by message only: the return value is the count.
    if (!layout) {
        set_error(ATTNGEN_ERR_NULL_ARGUMENT, "layout is NULL");
        return -1;
    }
    if (num_heads < 1 || nb < 1) {
        set_error(ATTNGEN_ERR_SHAPE, "%s must be >= 1, got %lld", num_heads < 1 ? "num_heads" : "nb",
                  (long long)(num_heads < 1 ? num_heads : nb));
        return -1;
    }
    if (nb > kMaxExtent / num_heads / nb) {
        set_error(ATTNGEN_ERR_TOO_LARGE, "num_heads %lld x nb %lld x nb overflows the address space",
                  (long long)num_heads, (long long)nb);
        return -1;
    }
    int64_t kept = 0;
    for (int64_t h = 0; h < num_heads; h++) {
        for (int64_t i = 0; i < nb; i++) {
            const uint8_t *row = layout + (h * nb + i) * nb;
            const int64_t cols = causal ? i + 1 : nb;
            for (int64_t j = 0; j < cols; j++) kept += row[j] != 0;
        }
    }
    return kept;
}

}  // extern "C"
