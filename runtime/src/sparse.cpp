// C API: DALL-E sparse convolutional and axial attention (SPEC.md sections
// 2 and 3).
#include <algorithm>
#include <cstring>
#include <string>

#include "dalle_extents.h"
#include "internal.h"

namespace {

using namespace attngen::detail;
namespace dalle = attngen::dalle;
using attngen::KernelEntry;

enum class Pattern { Conv, Axial };

attngen_status sparse_impl(Pattern pattern, const attngen_tensor *q, const attngen_tensor *k,
                           const attngen_tensor *v, attngen_tensor *out, const attngen_sparse_options *opts) {
    const char *what = pattern == Pattern::Conv ? "sparse_conv" : "sparse_axial";
    if (!opts) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "opts: %s needs seq_len and image_size", what);
    const attngen_sparse_options &o = *opts;
    View vq, vk, vv, vo, vkm, vfr;
    attngen_status s;
    if ((s = check_qkv(q, k, v, out, false, &vq, &vk, &vv, &vo))) return s;
    const attngen_device device = call_device(vq);
    const int64_t B = vq.shape[0], n = vq.shape[1], D = vq.shape[3];
    if (vk.shape[1] != n) {
        return set_error(ATTNGEN_ERR_SHAPE, "k: %lld tokens but q has %lld (self-attention: they must agree)",
                         (long long)vk.shape[1], (long long)n);
    }
    if (o.image_size < 1 || o.image_size > kMaxImageSize) {  // the kernels' image_size range
        return set_error(ATTNGEN_ERR_OPTION, "image_size: %lld is outside 1..%lld", (long long)o.image_size,
                         (long long)kMaxImageSize);
    }
    const int64_t G = o.image_size, cells = G * G;
    if (o.seq_len < 1 || o.seq_len > kMaxIndex) {
        return set_error(ATTNGEN_ERR_OPTION, "seq_len: %lld is outside 1..2^31-1", (long long)o.seq_len);
    }
    const int64_t text_len = o.seq_len + 1 - cells;
    if (text_len > kMaxShift) {  // the kernels' text_len range
        return set_error(ATTNGEN_ERR_TOO_LARGE, "seq_len: %lld gives text_len %lld, beyond the kernels' limit of 2^30",
                         (long long)o.seq_len, (long long)text_len);
    }
    if (text_len < 1) {
        return set_error(ATTNGEN_ERR_OPTION,
                         "seq_len: %lld leaves text_len = seq_len + 1 - image_size^2 = %lld (must be >= 1)",
                         (long long)o.seq_len, (long long)text_len);
    }
    if (n > o.seq_len) {
        return set_error(ATTNGEN_ERR_SHAPE, "q: %lld tokens exceed seq_len %lld", (long long)n,
                         (long long)o.seq_len);
    }
    int32_t kernel_size = 1, dilation = 1;
    const char *variant = nullptr;
    if (pattern == Pattern::Conv) {
        if (o.kernel_size < 1 || o.kernel_size % 2 == 0) {
            return set_error(ATTNGEN_ERR_OPTION, "kernel_size: %d must be odd and positive", (int)o.kernel_size);
        }
        if (o.dilation < 1) return set_error(ATTNGEN_ERR_OPTION, "dilation: %d must be positive", (int)o.dilation);
        // Box rows/columns past the grid keep nothing: the kernels walk
        // only the cells that can lie inside it (same result, and the slot
        // count stays small for huge kernel sizes).
        const int64_t reach = (G - 1) / o.dilation + 1;
        kernel_size = static_cast<int32_t>(std::min<int64_t>(o.kernel_size, reach));
        // A dilation past the grid keeps only the query's own cell (reach 1),
        // like any other such dilation: clamp it into the kernels' range.
        dilation = static_cast<int32_t>(std::min<int64_t>(o.dilation, std::max<int64_t>(G - 1, 1)));
        variant = "sparse_conv";
    } else {
        if (o.axis != 0 && o.axis != 1) {
            return set_error(ATTNGEN_ERR_OPTION, "axis: %d must be 0 (rows) or 1 (columns)", (int)o.axis);
        }
        variant = o.axis == 0 ? "sparse_axial_row" : "sparse_axial_col";
    }
    if (o.key_mask) {
        if ((s = check_tensor("key_mask", o.key_mask, ATTNGEN_U8, 2, false, false, &vkm))) return s;
        if (vkm.shape[0] != B || vkm.shape[1] < text_len) {
            return set_error(ATTNGEN_ERR_SHAPE,
                             "key_mask: shape (%lld, %lld), expected (B, >= text_len) = (%lld, >= %lld)",
                             (long long)vkm.shape[0], (long long)vkm.shape[1], (long long)B, (long long)text_len);
        }
    }
    int64_t R = 0;
    if ((s = check_freqs(o.freqs, D, n, "n", &vfr, &R))) return s;
    if ((s = check_no_alias(vo, {&vq, &vk, &vv, o.key_mask ? &vkm : nullptr, o.freqs ? &vfr : nullptr}))) return s;

    // On the GPU, a sequence of text only (n <= text_len) is causal text
    // attention: the dense kernel computes it (the sparse kernels' image
    // stages would get empty per-call buffers, which Halide's CUDA runtime
    // refuses to allocate). No key mask applies to text queries.
    if (device == ATTNGEN_DEVICE_CUDA && n <= text_len) {
        attngen_dense_options d;
        attngen_dense_options_init(&d);
        d.causal = 1;
        d.freqs = o.freqs;
        return attngen_dense(q, k, v, out, &d);
    }
    const KernelEntry *e = attngen::select_kernel(variant, vq.dtype, (int)D, n, n, R > 0, device);
    if (!e) {
        return set_error(ATTNGEN_ERR_UNSUPPORTED, "no %s %s %skernel was built for head dim %lld", variant,
                         dtype_str(vq.dtype), kernel_kind(device), (long long)D);
    }
    if ((s = check_device_limits(e, D, D))) return s;

    HBuf bq, bk, bv, bo, bkm, bfr;
    bq.init(vq);
    bk.init(vk);
    bv.init(vv);
    bo.init(vo);
    uint8_t one = 1;
    float zero[1] = {0.0f};
    if (o.key_mask) bkm.init(vkm); else bkm.placeholder(&one, halide_type_t(halide_type_uint, 8), 2);
    if (o.freqs) bfr.init(vfr); else bfr.placeholder(zero, halide_type_t(halide_type_float, 32), 2);
    const int kc = e->knob("kc", 32), kci = e->knob("kci", 32), tq = e->knob("tq", 32);
    const dalle::Pattern dp = pattern == Pattern::Conv ? dalle::Pattern::Conv
                              : o.axis == 0            ? dalle::Pattern::AxialRow
                                                       : dalle::Pattern::AxialCol;
    const int32_t text_chunks = dalle::text_chunks(text_len, n, kc);
    const int32_t image_chunks = dalle::image_chunks(dp, text_len, n, G, kernel_size, tq, kci, e->device == ATTNGEN_DEVICE_CUDA);
    const int32_t first_image_tile = dalle::first_image_tile(text_len, tq);
    CallContext ctx;
    DeviceScope dev(device, &ctx, e);
    if ((s = dev.bind({&bq, &bk, &bv, &bkm, &bfr}, &bo))) return s;
    int rc = reinterpret_cast<attngen::SparseSeqFn>(e->fn)(
        &ctx, &bq.buf, &bk.buf, &bv.buf, &bkm.buf, &bfr.buf, static_cast<int32_t>(text_len),
        static_cast<int32_t>(G), kernel_size, dilation, text_chunks, image_chunks, first_image_tile,
        o.key_mask != nullptr, static_cast<int32_t>(R), values_finite(vv, n), &bo.buf);
    if ((s = finish_kernel(e, rc, &ctx))) return s;
    if ((s = dev.finish())) return s;
    publish_stats(ctx);
    return ATTNGEN_OK;
}

}  // namespace

extern "C" {

void attngen_sparse_options_init(attngen_sparse_options *opts) {
    if (!opts) return;
    std::memset(opts, 0, sizeof *opts);
    opts->kernel_size = 5;
    opts->dilation = 1;
}

attngen_status attngen_sparse_conv(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                                   attngen_tensor *out, const attngen_sparse_options *opts) {
    return guarded([&] { return sparse_impl(Pattern::Conv, q, k, v, out, opts); });
}

attngen_status attngen_sparse_axial(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                                    attngen_tensor *out, const attngen_sparse_options *opts) {
    return guarded([&] { return sparse_impl(Pattern::Axial, q, k, v, out, opts); });
}

}  // extern "C"
