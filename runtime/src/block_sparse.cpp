// C API: block-sparse attention (SPEC.md section 4) and its layout handles.
//
// A handle keeps the block layout (and, when derived from a dense mask, a
// copy of the mask). Kernels walk compact per-row lists of kept key blocks
// at their own granule (the kernel's kc; a layout block of size `block` is
// block/kc granules wide), built lazily once per granule and cached in the
// handle under a mutex, so concurrent calls share them.
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "attngen/layout.h"
#include "internal.h"

namespace {

using namespace attngen::detail;
using attngen::KernelEntry;

// Per-row lists at one granule: cols[h][row][slot] = key granule, padded to
// max_count slots; counts[h][row] = listed granules.
struct RowLists {
    int32_t max_count = 1, rows = 0, heads = 0;
    std::vector<int32_t> cols, counts;
};

}  // namespace

struct attngen_block_layout {
    int64_t heads = 0, nb = 0;
    int32_t block = 0;
    bool causal = false;
    std::vector<uint8_t> layout;  // (heads, nb, nb)
    int64_t mask_size = 0;        // S of a mask-derived layout, else 0
    std::vector<uint8_t> mask;    // (S, S) rows = queries
    std::mutex mu;
    std::map<int, std::shared_ptr<const RowLists>> lists;  // by granule

    bool kept(int64_t h, int64_t r, int64_t c) const { return layout[(h * nb + r) * nb + c] != 0; }

    // The lists of a call on `tokens` tokens, or nullptr when they would
    // exceed what one Halide buffer can index (2^31-1 entries). Only the
    // query and key granules below `tokens` are listed (the kernels mask
    // keys past N and have no query tiles past N), so a huge block over a
    // few tokens does not ask for (block / granule)^2 entries; the cache
    // keeps the lists of the longest call so far, which serve shorter ones.
    std::shared_ptr<const RowLists> lists_for(int granule, int64_t tokens) {
        const int64_t m = block / granule;
        const int64_t need = std::min<int64_t>(nb * m, (tokens + granule - 1) / granule);
        std::lock_guard<std::mutex> lock(mu);
        auto it = lists.find(granule);
        if (it != lists.end() && it->second->rows >= need) return it->second;
        auto l = std::make_shared<RowLists>();
        l->rows = static_cast<int32_t>(need);
        l->heads = static_cast<int32_t>(heads);
        int64_t max_count = 1;
        for (int64_t h = 0; h < heads; h++) {
            for (int64_t br = 0; br < nb && br * m < need; br++) {
                int64_t n = 0;
                for (int64_t bc = 0; bc < nb && bc * m < need; bc++) {
                    n += kept(h, br, bc) ? std::min(m, need - bc * m) : 0;
                }
                max_count = std::max(max_count, n);
            }
        }
        if (max_count * l->rows * heads > kMaxIndex) return nullptr;
        l->max_count = static_cast<int32_t>(max_count);
        l->cols.assign(static_cast<size_t>(max_count * l->rows * heads), 0);
        l->counts.assign(static_cast<size_t>(l->rows * heads), 0);
        for (int64_t h = 0; h < heads; h++) {
            for (int64_t gr = 0; gr < l->rows; gr++) {
                const int64_t br = gr / m;
                int32_t *row = &l->cols[static_cast<size_t>((h * l->rows + gr) * max_count)];
                int32_t n = 0;
                for (int64_t bc = 0; bc < nb; bc++) {
                    if (!kept(h, br, bc)) continue;
                    for (int64_t y = 0; y < m; y++) {
                        const int64_t gc = bc * m + y;
                        if (gc >= need || (causal && gc > gr)) break;  // past N / above the diagonal
                        row[n++] = static_cast<int32_t>(gc);
                    }
                }
                l->counts[static_cast<size_t>(h * l->rows + gr)] = n;
            }
        }
        lists[granule] = l;
        return l;
    }
};

namespace {

constexpr int kMinGranule = 16;

attngen_status check_block(int32_t block) {
    if (block < kMinGranule || block % kMinGranule != 0 || block > (1 << 20)) {
        return set_error(ATTNGEN_ERR_OPTION, "block: %d must be a positive multiple of %d (at most 2^20)",
                         (int)block, kMinGranule);
    }
    return ATTNGEN_OK;
}

attngen_status create_impl(const attngen_tensor *layout, int32_t block, int32_t causal,
                           attngen_block_layout **handle) {
    if (!handle) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "handle: pointer is NULL");
    *handle = nullptr;
    View vl;
    attngen_status s;
    if ((s = check_tensor("layout", layout, ATTNGEN_U8, 3, false, false, &vl))) return s;
    if ((s = check_block(block))) return s;
    if (vl.shape[1] != vl.shape[2]) {
        return set_error(ATTNGEN_ERR_SHAPE, "layout: shape (%lld, %lld, %lld) must be (H, nb, nb)",
                         (long long)vl.shape[0], (long long)vl.shape[1], (long long)vl.shape[2]);
    }
    const int64_t H = vl.shape[0], nb = vl.shape[1];
    if (nb * block > kMaxIndex || H * nb * nb * (block / kMinGranule) > kMaxIndex) {
        return set_error(ATTNGEN_ERR_TOO_LARGE, "layout: %lld blocks of %d tokens exceed the kernels' limits",
                         (long long)nb, (int)block);
    }
    auto h = std::make_unique<attngen_block_layout>();
    h->heads = H;
    h->nb = nb;
    h->block = block;
    h->causal = causal != 0;
    h->layout.resize(static_cast<size_t>(H * nb * nb));
    const auto *src = static_cast<const uint8_t *>(vl.data);
    for (int64_t a = 0; a < H; a++) {
        for (int64_t r = 0; r < nb; r++) {
            for (int64_t c = 0; c < nb; c++) {
                h->layout[static_cast<size_t>((a * nb + r) * nb + c)] =
                    src[a * vl.strides[0] + r * vl.strides[1] + c * vl.strides[2]] != 0;
            }
        }
    }
    *handle = h.release();
    return ATTNGEN_OK;
}

attngen_status from_mask_impl(const attngen_tensor *mask, int32_t block, int32_t causal,
                              attngen_block_layout **handle) {
    if (!handle) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "handle: pointer is NULL");
    *handle = nullptr;
    View vm;
    attngen_status s;
    if ((s = check_tensor("mask", mask, ATTNGEN_U8, 2, false, false, &vm))) return s;
    if ((s = check_block(block))) return s;
    if (vm.shape[0] != vm.shape[1]) {
        return set_error(ATTNGEN_ERR_SHAPE, "mask: shape (%lld, %lld) must be square", (long long)vm.shape[0],
                         (long long)vm.shape[1]);
    }
    const int64_t S = vm.shape[0];
    if (S * S > kMaxIndex) return set_error(ATTNGEN_ERR_TOO_LARGE, "mask: %lld x %lld elements exceed 2^31-1", (long long)S, (long long)S);
    auto h = std::make_unique<attngen_block_layout>();
    h->mask.resize(static_cast<size_t>(S * S));
    const auto *src = static_cast<const uint8_t *>(vm.data);
    for (int64_t r = 0; r < S; r++) {
        for (int64_t c = 0; c < S; c++) h->mask[static_cast<size_t>(r * S + c)] = src[r * vm.strides[0] + c * vm.strides[1]] != 0;
    }
    int64_t nb = 0;
    if ((s = attngen_layout_num_blocks(S, block, &nb))) return s;
    h->layout.resize(static_cast<size_t>(nb * nb));
    int32_t partial = 0;
    if ((s = attngen_layout_from_mask(h->mask.data(), S, S, block, h->layout.data(), h->layout.size(), &partial))) {
        return s;
    }
    h->heads = 1;
    h->nb = nb;
    h->block = block;
    h->causal = causal != 0;
    h->mask_size = S;
    if (!partial) {
        h->mask.clear();  // every kept block is full: no element mask needed
        h->mask.shrink_to_fit();
    }
    *handle = h.release();
    return ATTNGEN_OK;
}

attngen_status block_sparse_impl(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                                 attngen_tensor *out, const attngen_block_layout *layout,
                                 const attngen_block_sparse_options *opts) {
    if (!layout) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "layout: handle is NULL");
    auto *L = const_cast<attngen_block_layout *>(layout);
    View vq, vk, vv, vo, vkm;
    attngen_status s;
    if ((s = check_qkv(q, k, v, out, false, &vq, &vk, &vv, &vo))) return s;
    const attngen_device device = call_device(vq);
    const int64_t B = vq.shape[0], N = vq.shape[1], H = vq.shape[2], D = vq.shape[3];
    if (vk.shape[1] != N) {
        return set_error(ATTNGEN_ERR_SHAPE, "k: %lld tokens but q has %lld (block-sparse is self-attention)",
                         (long long)vk.shape[1], (long long)N);
    }
    if (L->heads != 1 && L->heads != H) {
        return set_error(ATTNGEN_ERR_SHAPE, "layout: %lld heads, expected 1 or q's %lld", (long long)L->heads,
                         (long long)H);
    }
    if (L->mask_size > 0) {
        if (L->mask_size < N) {
            return set_error(ATTNGEN_ERR_SHAPE, "layout: derived from a %lld x %lld mask, too small for N = %lld",
                             (long long)L->mask_size, (long long)L->mask_size, (long long)N);
        }
    } else if (L->nb != (N + L->block - 1) / L->block) {
        return set_error(ATTNGEN_ERR_SHAPE, "layout: %lld blocks per side, expected ceil(N / block) = %lld",
                         (long long)L->nb, (long long)((N + L->block - 1) / L->block));
    }
    const attngen_tensor *key_mask = opts ? opts->key_mask : nullptr;
    if (key_mask) {
        if ((s = check_tensor("key_mask", key_mask, ATTNGEN_U8, 2, false, false, &vkm))) return s;
        if (vkm.shape[0] != B || vkm.shape[1] != N) {
            return set_error(ATTNGEN_ERR_SHAPE, "key_mask: shape (%lld, %lld), expected (B, N) = (%lld, %lld)",
                             (long long)vkm.shape[0], (long long)vkm.shape[1], (long long)B, (long long)N);
        }
    }
    if ((s = check_no_alias(vo, {&vq, &vk, &vv, key_mask ? &vkm : nullptr}))) return s;

    const KernelEntry *e = nullptr;
    for (const KernelEntry *c : attngen::kernels_for("block_sparse", vq.dtype, (int)D, device)) {
        const int g = c->knob("kc", 0);
        if (g > 0 && L->block % g == 0) {
            e = c;
            break;
        }
    }
    if (!e) {
        return set_error(ATTNGEN_ERR_UNSUPPORTED,
                         "no block_sparse %s %skernel was built for head dim %lld with a granule dividing block %d",
                         dtype_str(vq.dtype), kernel_kind(device), (long long)D,
                         (int)L->block);
    }
    if ((s = check_device_limits(e, D, D))) return s;
    std::shared_ptr<const RowLists> lists = L->lists_for(e->knob("kc", 16), N);
    if (!lists) {
        return set_error(ATTNGEN_ERR_TOO_LARGE,
                         "layout: the per-row block lists of %lld tokens in blocks of %d exceed 2^31-1 entries",
                         (long long)N, (int)L->block);
    }

    HBuf bq, bk, bv, bo, bkm, bem, bcols, bcounts;
    bq.init(vq);
    bk.init(vk);
    bv.init(vv);
    bo.init(vo);
    uint8_t one = 1;
    if (key_mask) bkm.init(vkm); else bkm.placeholder(&one, halide_type_t(halide_type_uint, 8), 2);
    const bool use_elem = !L->mask.empty();
    if (use_elem) {
        const int32_t ext[2] = {static_cast<int32_t>(L->mask_size), static_cast<int32_t>(L->mask_size)};
        bem.init_raw(const_cast<uint8_t *>(L->mask.data()), halide_type_t(halide_type_uint, 8), 2, ext);
    } else {
        bem.placeholder(&one, halide_type_t(halide_type_uint, 8), 2);
    }
    const int32_t cext[3] = {lists->max_count, lists->rows, lists->heads};
    bcols.init_raw(const_cast<int32_t *>(lists->cols.data()), halide_type_t(halide_type_int, 32), 3, cext);
    const int32_t next[2] = {lists->rows, lists->heads};
    bcounts.init_raw(const_cast<int32_t *>(lists->counts.data()), halide_type_t(halide_type_int, 32), 2, next);
    const int32_t diag_shift = L->causal ? 0 : static_cast<int32_t>(N);
    CallContext ctx;
    DeviceScope dev(device, &ctx, e);
    if ((s = dev.bind({&bq, &bk, &bv, &bkm, &bem, &bcols, &bcounts}, &bo))) return s;
    int rc = reinterpret_cast<attngen::BlockSparseFn>(e->fn)(&ctx, &bq.buf, &bk.buf, &bv.buf, &bkm.buf, &bem.buf,
                                                             &bcols.buf, &bcounts.buf, diag_shift,
                                                             key_mask != nullptr, use_elem, values_finite(vv, N), &bo.buf);
    if ((s = finish_kernel(e, rc, &ctx))) return s;
    if ((s = dev.finish())) return s;
    publish_stats(ctx);
    return ATTNGEN_OK;
}

}  // namespace

extern "C" {

attngen_status attngen_block_layout_create(const attngen_tensor *layout, int32_t block, int32_t causal,
                                           attngen_block_layout **handle) {
    return guarded([&] { return create_impl(layout, block, causal, handle); });
}

attngen_status attngen_block_layout_from_mask(const attngen_tensor *mask, int32_t block, int32_t causal,
                                              attngen_block_layout **handle) {
    return guarded([&] { return from_mask_impl(mask, block, causal, handle); });
}

attngen_status attngen_block_layout_stats(const attngen_block_layout *handle, int64_t *kept_blocks,
                                          int64_t *total_blocks) {
    return guarded([&] {
        if (!handle) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "handle: pointer is NULL");
        if (!kept_blocks || !total_blocks) {
            return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "%s: pointer is NULL", kept_blocks ? "total_blocks" : "kept_blocks");
        }
        *kept_blocks = attngen_layout_count(handle->layout.data(), handle->heads, handle->nb, handle->causal);
        *total_blocks = handle->heads * handle->nb * handle->nb;
        return ATTNGEN_OK;
    });
}

void attngen_block_layout_destroy(attngen_block_layout *handle) { delete handle; }

attngen_status attngen_block_sparse(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                                    attngen_tensor *out, const attngen_block_layout *layout,
                                    const attngen_block_sparse_options *opts) {
    return guarded([&] { return block_sparse_impl(q, k, v, out, layout, opts); });
}

}  // extern "C"
