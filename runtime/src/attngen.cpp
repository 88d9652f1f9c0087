// C API: dense attention, errors, build information. The other variants
// live in sparse.cpp, block_sparse.cpp and chunked.cpp; shared validation
// and kernel-call plumbing in internal.cpp.
#include "attngen/attngen.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

#include "internal.h"

namespace {

thread_local std::string t_error;

}  // namespace

namespace attngen::detail {
attngen_status set_error(attngen_status s, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    t_error = buf;
    return s;
}
void clear_error() { t_error.clear(); }
}  // namespace attngen::detail

namespace {

using namespace attngen::detail;
using attngen::KernelEntry;

attngen_status dense_impl(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                          attngen_tensor *out, const attngen_dense_options *opts) {
    attngen_dense_options defaults;
    attngen_dense_options_init(&defaults);
    const attngen_dense_options &o = opts ? *opts : defaults;

    View vq, vk, vv, vo, vkm, vsm, vfr;
    attngen_status s;
    if ((s = check_qkv(q, k, v, out, false, &vq, &vk, &vv, &vo))) return s;
    const attngen_device device = call_device(vq);
    const int64_t B = vq.shape[0], Nq = vq.shape[1], D = vq.shape[3];
    const int64_t Nk = vk.shape[1];
    if (o.offset < 0) return set_error(ATTNGEN_ERR_OPTION, "offset: %lld is negative", (long long)o.offset);
    if (o.offset == 0 && Nk != Nq) {
        return set_error(ATTNGEN_ERR_SHAPE, "k: %lld keys but q has %lld queries (without a cache, Nq == Nk)",
                    (long long)Nk, (long long)Nq);
    }
    if (o.offset > 0 && Nk - Nq != o.offset) {  // not offset + Nq: offset may be near INT64_MAX
        return set_error(ATTNGEN_ERR_SHAPE, "k: %lld keys, expected offset + Nq = %lld + %lld", (long long)Nk,
                    (long long)o.offset, (long long)Nq);
    }
    if (Nk + Nq + o.offset > kMaxIndex) return set_error(ATTNGEN_ERR_TOO_LARGE, "sequence too long");
    if (o.key_mask) {
        if ((s = check_tensor("key_mask", o.key_mask, ATTNGEN_U8, 2, false, false, &vkm))) return s;
        if (vkm.shape[0] != B || vkm.shape[1] != Nk) {
            return set_error(ATTNGEN_ERR_SHAPE, "key_mask: shape (%lld, %lld), expected (B, Nk) = (%lld, %lld)",
                        (long long)vkm.shape[0], (long long)vkm.shape[1], (long long)B, (long long)Nk);
        }
    }
    if (o.static_mask) {
        if ((s = check_tensor("static_mask", o.static_mask, ATTNGEN_U8, 2, false, false, &vsm))) return s;
        if (vsm.shape[0] != vsm.shape[1] || vsm.shape[0] < Nk) {
            return set_error(ATTNGEN_ERR_SHAPE, "static_mask: shape (%lld, %lld), expected square with side >= Nk = %lld",
                        (long long)vsm.shape[0], (long long)vsm.shape[1], (long long)Nk);
        }
    }
    int64_t R = 0;
    if ((s = check_freqs(o.freqs, D, Nk, "Nk", &vfr, &R))) return s;
    if ((s = check_no_alias(vo, {&vq, &vk, &vv, o.key_mask ? &vkm : nullptr, o.static_mask ? &vsm : nullptr,
                                 o.freqs ? &vfr : nullptr}))) {
        return s;
    }

    // Grouped-query decode step (one new token, H = g * Hkv heads): the g
    // query heads sharing a K/V head become g queries of that head, and a
    // "group" kernel reads each K/V row once per group instead of once per
    // query head. Same math: every key is at or before the new token, so
    // the g rows see the same keys (not with rotary or a static mask, whose
    // positions would differ per row). Views only, nothing is copied.
    const int64_t H = vq.shape[2], Hkv = vk.shape[2];
    const KernelEntry *e = nullptr;
    if (Nq == 1 && Hkv < H && R == 0 && !o.static_mask) {
        e = attngen::select_group_kernel(vq.dtype, (int)D, device);
        if (e) {
            const int64_t g = H / Hkv;
            for (View *t : {&vq, &vo}) {
                t->shape[1] = g;
                t->shape[2] = Hkv;
                const int64_t sh = t->strides[2];
                t->strides[1] = sh;
                t->strides[2] = sh * g;
            }
        }
    }
    if (!e) e = attngen::select_kernel("dense", vq.dtype, (int)D, Nq, Nk, R > 0, device);
    if (!e) {
        return set_error(ATTNGEN_ERR_UNSUPPORTED, "no dense %s %skernel was built for head dim %lld%s",
                         dtype_str(vq.dtype), kernel_kind(device), (long long)D,
                         R > 0 ? " with rotary" : "");
    }
    if ((s = check_device_limits(e, D, vv.shape[3]))) return s;

    HBuf bq, bk, bv, bo, bkm, bsm, bfr;
    bq.init(vq);
    bk.init(vk);
    bv.init(vv);
    bo.init(vo);
    uint8_t one = 1;
    float zero[1] = {0.0f};
    if (o.key_mask) bkm.init(vkm); else bkm.placeholder(&one, halide_type_t(halide_type_uint, 8), 2);
    if (o.static_mask) bsm.init(vsm); else bsm.placeholder(&one, halide_type_t(halide_type_uint, 8), 2);
    if (o.freqs) bfr.init(vfr); else bfr.placeholder(zero, halide_type_t(halide_type_float, 32), 2);
    // diag_shift: 0 = causal; Nk = every key visible.
    const int32_t diag_shift = o.causal ? 0 : static_cast<int32_t>(Nk);
    CallContext ctx;
    DeviceScope dev(device, &ctx, e);
    if ((s = dev.bind({&bq, &bk, &bv, &bkm, &bsm, &bfr}, &bo))) return s;
    int rc = reinterpret_cast<attngen::DenseFn>(e->fn)(&ctx, &bq.buf, &bk.buf, &bv.buf, &bkm.buf, &bsm.buf, &bfr.buf,
                                                         diag_shift, static_cast<int32_t>(o.offset),
                                                         o.key_mask != nullptr, o.static_mask != nullptr,
                                                         static_cast<int32_t>(R), values_finite(vv, Nq), &bo.buf);
    if ((s = finish_kernel(e, rc, &ctx))) return s;
    if ((s = dev.finish())) return s;
    publish_stats(ctx);
    return ATTNGEN_OK;
}

}  // namespace

extern "C" {

attngen_tensor attngen_tensor_make(void *data, attngen_dtype dtype, int32_t ndim, const int64_t *shape) {
    attngen_tensor t;
    std::memset(&t, 0, sizeof t);
    t.data = data;
    t.dtype = dtype;
    t.ndim = ndim;
    if (ndim < 0 || ndim > ATTNGEN_MAX_DIMS || !shape) return t;
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    return t;
}

void attngen_dense_options_init(attngen_dense_options *opts) {
    if (opts) std::memset(opts, 0, sizeof *opts);
}

attngen_status attngen_dense(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                             attngen_tensor *out, const attngen_dense_options *opts) {
    return guarded([&] { return dense_impl(q, k, v, out, opts); });
}

const char *attngen_last_error(void) { return t_error.c_str(); }
const char *attngen_last_kernel(void) { return attngen::detail::last_kernel(); }

attngen_status attngen_last_call_stats(attngen_call_stats *stats) {
    if (!stats) return attngen::detail::set_error(ATTNGEN_ERR_NULL_ARGUMENT, "stats: pointer is NULL");
    *stats = attngen::detail::last_stats();
    return ATTNGEN_OK;
}

int64_t attngen_scratch_live_bytes(void) { return attngen::detail::live_scratch_bytes(); }
int64_t attngen_scratch_peak_bytes(void) { return attngen::detail::peak_scratch_bytes(); }

const char *attngen_status_string(attngen_status status) {
    // Switch on the stored integer: C callers may pass any int.
    int32_t code;
    static_assert(sizeof code == sizeof status, "attngen_status is not int-sized");
    std::memcpy(&code, &status, sizeof code);
    switch (code) {
    case ATTNGEN_OK: return "ok";
    case ATTNGEN_ERR_NULL_ARGUMENT: return "null argument";
    case ATTNGEN_ERR_SHAPE: return "shape mismatch";
    case ATTNGEN_ERR_LAYOUT: return "unsupported layout";
    case ATTNGEN_ERR_DTYPE: return "wrong dtype";
    case ATTNGEN_ERR_OPTION: return "invalid option";
    case ATTNGEN_ERR_TOO_LARGE: return "too large";
    case ATTNGEN_ERR_UNSUPPORTED: return "unsupported";
    case ATTNGEN_ERR_KERNEL: return "kernel error";
    case ATTNGEN_ERR_OUT_OF_MEMORY: return "out of memory";
    case ATTNGEN_ERR_DEVICE: return "device error";
    }
    return "unknown status";
}

int attngen_set_num_threads(int n) { return halide_set_num_threads(n < 0 ? 0 : n); }

const char *attngen_cpu_level(void) { return attngen::cpu_level(); }

const char *attngen_build_info(void) {
    static const std::string info = [] {
        std::string s = "attngen kernels (CPU feature level here: ";
        s += attngen::cpu_level();
        s += ")\n";
        for (const KernelEntry &e : attngen::kernel_table()) {
            s += "  " + e.name + "  variant=" + e.variant + " dtype=" + dtype_str(e.dtype) +
                 " head_dim=" + (e.head_dim ? std::to_string(e.head_dim) : std::string("any")) +
                 " bucket=" + attngen::bucket_name(e.bucket) +
                 " rotary=" + (e.rotary ? "yes" : "no") +
                 (e.device == ATTNGEN_DEVICE_CUDA ? " device=cuda" : "") + "  knobs: " + e.knobs + "  (" + e.source + ")\n";
        }
        return s;
    }();
    return info.c_str();
}

}  // extern "C"
