// C API: argument validation, Halide buffer views, kernel calls, errors.
#include "attngen/attngen.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "HalideRuntime.h"
#include "dispatch.h"

namespace {

using attngen::KernelEntry;

thread_local std::string t_error;
thread_local std::string t_kernel;
thread_local std::string t_halide_error;

// Halide's default handler prints (and in some builds aborts); ours keeps
// the message for attngen_last_error and lets the pipeline return an error.
void halide_error_handler(void *, const char *msg) { t_halide_error += msg ? msg : "unknown Halide error"; }

void install_halide_hooks() {
    static std::once_flag once;
    std::call_once(once, [] { halide_set_error_handler(halide_error_handler); });
}

attngen_status fail(attngen_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
attngen_status fail(attngen_status s, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    t_error = buf;
    return s;
}

constexpr int64_t kMaxIndex = (int64_t(1) << 31) - 1;

const char *dtype_str(attngen_dtype t) {
    switch (t) {
    case ATTNGEN_F32: return "f32";
    case ATTNGEN_F16: return "f16";
    case ATTNGEN_BF16: return "bf16";
    case ATTNGEN_U8: return "u8";
    }
    return "unknown";
}

size_t dtype_bytes(attngen_dtype t) { return t == ATTNGEN_F32 ? 4 : (t == ATTNGEN_U8 ? 1 : 2); }

// A validated tensor: shape and element strides, outermost first (as given).
struct View {
    const char *name = "";
    void *data = nullptr;
    attngen_dtype dtype = ATTNGEN_F32;
    int ndim = 0;
    int64_t shape[ATTNGEN_MAX_DIMS] = {0, 0, 0, 0};
    int64_t strides[ATTNGEN_MAX_DIMS] = {0, 0, 0, 0};

    // Byte range [lo, hi) the view touches.
    void byte_range(uintptr_t *lo, uintptr_t *hi) const {
        int64_t last = 0;
        for (int i = 0; i < ndim; i++) last += (shape[i] - 1) * strides[i];
        *lo = reinterpret_cast<uintptr_t>(data);
        *hi = *lo + static_cast<uintptr_t>((last + 1) * static_cast<int64_t>(dtype_bytes(dtype)));
    }
};

// Checks a tensor argument: non-null, dtype, rank, positive sizes, strides
// (stride 1 innermost when required, positive, non-overlapping when it is
// written), and 32-bit index limits.
attngen_status check_tensor(const char *name, const attngen_tensor *t, attngen_dtype dtype, int ndim,
                            bool unit_inner, bool written, View *v) {
    if (!t) return fail(ATTNGEN_ERR_NULL_ARGUMENT, "%s: tensor is NULL", name);
    if (!t->data) return fail(ATTNGEN_ERR_NULL_ARGUMENT, "%s: data pointer is NULL", name);
    if (t->dtype != dtype) {
        return fail(ATTNGEN_ERR_DTYPE, "%s: dtype %s, expected %s", name, dtype_str(t->dtype), dtype_str(dtype));
    }
    if (t->ndim != ndim) return fail(ATTNGEN_ERR_SHAPE, "%s: rank %d, expected %d", name, (int)t->ndim, ndim);
    v->name = name;
    v->data = t->data;
    v->dtype = t->dtype;
    v->ndim = ndim;
    bool all_zero = true;
    for (int i = 0; i < ndim; i++) {
        if (t->shape[i] <= 0) {
            return fail(ATTNGEN_ERR_SHAPE, "%s: dimension %d has size %lld (sizes must be positive)", name, i,
                        (long long)t->shape[i]);
        }
        if (t->shape[i] > kMaxIndex) {
            return fail(ATTNGEN_ERR_TOO_LARGE, "%s: dimension %d size %lld exceeds 2^31-1", name, i,
                        (long long)t->shape[i]);
        }
        v->shape[i] = t->shape[i];
        all_zero = all_zero && t->strides[i] == 0;
    }
    if (all_zero) {
        int64_t s = 1;
        for (int i = ndim - 1; i >= 0; i--) {
            v->strides[i] = s;
            if (s > kMaxIndex / std::max<int64_t>(v->shape[i], 1) + 1) {
                return fail(ATTNGEN_ERR_TOO_LARGE, "%s: %lld elements exceed the kernels' 32-bit indexing", name,
                            (long long)(s * v->shape[i]));
            }
            s *= v->shape[i];
        }
    } else {
        for (int i = 0; i < ndim; i++) {
            if (t->strides[i] <= 0 && t->shape[i] > 1) {
                return fail(ATTNGEN_ERR_LAYOUT, "%s: stride %lld of dimension %d must be positive", name,
                            (long long)t->strides[i], i);
            }
            v->strides[i] = t->strides[i] > 0 ? t->strides[i] : 1;
        }
    }
    if (unit_inner && v->strides[ndim - 1] != 1 && v->shape[ndim - 1] > 1) {
        return fail(ATTNGEN_ERR_LAYOUT, "%s: the innermost (feature) dimension must have stride 1, got %lld", name,
                    (long long)v->strides[ndim - 1]);
    }
    // Largest element offset must fit the kernels' 32-bit index arithmetic.
    int64_t last = 0;
    for (int i = 0; i < ndim; i++) {
        if (v->strides[i] > kMaxIndex) {
            return fail(ATTNGEN_ERR_TOO_LARGE, "%s: stride %lld exceeds 2^31-1", name, (long long)v->strides[i]);
        }
        last += (v->shape[i] - 1) * v->strides[i];
        if (last > kMaxIndex) {
            return fail(ATTNGEN_ERR_TOO_LARGE,
                        "%s: spans more than 2^31-1 elements; split the batch into smaller calls", name);
        }
    }
    if (written) {
        // Sorted by stride, each dimension must step past the whole extent
        // of the smaller ones, or two elements share an address.
        int order[ATTNGEN_MAX_DIMS] = {0, 1, 2, 3};
        for (int r = 1; r < ndim; r++) {  // insertion sort by stride
            for (int q = r; q > 0 && v->strides[order[q]] < v->strides[order[q - 1]]; q--) {
                std::swap(order[q], order[q - 1]);
            }
        }
        int64_t span = 1;
        for (int r = 0; r < ndim; r++) {
            int i = order[r];
            if (v->shape[i] == 1) continue;
            if (v->strides[i] < span) {
                return fail(ATTNGEN_ERR_LAYOUT, "%s: strides make elements overlap (dimension %d)", name, i);
            }
            span = v->strides[i] * v->shape[i];
        }
    }
    return ATTNGEN_OK;
}

attngen_status check_no_alias(const View &out, std::initializer_list<const View *> inputs) {
    uintptr_t olo, ohi;
    out.byte_range(&olo, &ohi);
    for (const View *in : inputs) {
        if (!in || !in->data) continue;
        uintptr_t lo, hi;
        in->byte_range(&lo, &hi);
        if (lo < ohi && olo < hi) {
            return fail(ATTNGEN_ERR_LAYOUT, "%s overlaps %s in memory; attention cannot run in place", out.name,
                        in->name);
        }
    }
    return ATTNGEN_OK;
}

// Halide views: dimension 0 is the innermost (last) attngen dimension.
struct HBuf {
    halide_buffer_t buf{};
    halide_dimension_t dims[ATTNGEN_MAX_DIMS]{};

    void init(const View &v) {
        buf.host = static_cast<uint8_t *>(v.data);
        buf.type = v.dtype == ATTNGEN_U8 ? halide_type_t(halide_type_uint, 8)
                                         : halide_type_t(halide_type_float, 32);
        buf.dimensions = v.ndim;
        buf.dim = dims;
        for (int i = 0; i < v.ndim; i++) {
            int r = v.ndim - 1 - i;
            dims[i].min = 0;
            dims[i].extent = static_cast<int32_t>(v.shape[r]);
            dims[i].stride = static_cast<int32_t>(v.strides[r]);
            dims[i].flags = 0;
        }
    }
    // A 1-element placeholder for an absent optional input.
    void placeholder(void *storage, halide_type_t type, int ndim) {
        buf.host = static_cast<uint8_t *>(storage);
        buf.type = type;
        buf.dimensions = ndim;
        buf.dim = dims;
        for (int i = 0; i < ndim; i++) dims[i] = halide_dimension_t{0, 1, 1, 0};
    }
};

attngen_status run_kernel(const KernelEntry *e, int rc) {
    if (rc != 0) {
        std::string msg = t_halide_error.empty() ? "error code " + std::to_string(rc) : t_halide_error;
        return fail(ATTNGEN_ERR_KERNEL, "kernel %s failed: %s", e->name.c_str(), msg.c_str());
    }
    t_kernel = e->name + " [" + attngen::cpu_level() + "] " + e->knobs;
    if (attngen::verbose()) std::fprintf(stderr, "attngen: %s (%s)\n", t_kernel.c_str(), e->source.c_str());
    return ATTNGEN_OK;
}

attngen_status dense_impl(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                          attngen_tensor *out, const attngen_dense_options *opts) {
    attngen_dense_options defaults;
    attngen_dense_options_init(&defaults);
    const attngen_dense_options &o = opts ? *opts : defaults;

    View vq, vk, vv, vo, vkm, vsm, vfr;
    attngen_status s;
    if ((s = check_tensor("q", q, ATTNGEN_F32, 4, true, false, &vq))) return s;
    if ((s = check_tensor("k", k, ATTNGEN_F32, 4, true, false, &vk))) return s;
    if ((s = check_tensor("v", v, ATTNGEN_F32, 4, true, false, &vv))) return s;
    if ((s = check_tensor("out", out, ATTNGEN_F32, 4, true, true, &vo))) return s;
    const int64_t B = vq.shape[0], Nq = vq.shape[1], H = vq.shape[2], D = vq.shape[3];
    const int64_t Nk = vk.shape[1], Hkv = vk.shape[2];
    for (const View *t : {&vk, &vv}) {
        if (t->shape[0] != B) {
            return fail(ATTNGEN_ERR_SHAPE, "%s: batch %lld differs from q's %lld", t->name, (long long)t->shape[0],
                        (long long)B);
        }
        if (t->shape[3] != D) {
            return fail(ATTNGEN_ERR_SHAPE, "%s: head dim %lld differs from q's %lld", t->name,
                        (long long)t->shape[3], (long long)D);
        }
    }
    if (vv.shape[1] != Nk || vv.shape[2] != Hkv) {
        return fail(ATTNGEN_ERR_SHAPE, "v: shape (%lld, %lld, %lld, %lld) differs from k's", (long long)vv.shape[0],
                    (long long)vv.shape[1], (long long)vv.shape[2], (long long)vv.shape[3]);
    }
    if (H % Hkv != 0) {
        return fail(ATTNGEN_ERR_SHAPE, "k: %lld key/value heads do not divide q's %lld heads", (long long)Hkv,
                    (long long)H);
    }
    if (vo.shape[0] != B || vo.shape[1] != Nq || vo.shape[2] != H || vo.shape[3] != D) {
        return fail(ATTNGEN_ERR_SHAPE, "out: shape (%lld, %lld, %lld, %lld), expected (%lld, %lld, %lld, %lld)",
                    (long long)vo.shape[0], (long long)vo.shape[1], (long long)vo.shape[2], (long long)vo.shape[3],
                    (long long)B, (long long)Nq, (long long)H, (long long)D);
    }
    if (o.offset < 0) return fail(ATTNGEN_ERR_OPTION, "offset: %lld is negative", (long long)o.offset);
    if (o.offset == 0 && Nk != Nq) {
        return fail(ATTNGEN_ERR_SHAPE, "k: %lld keys but q has %lld queries (without a cache, Nq == Nk)",
                    (long long)Nk, (long long)Nq);
    }
    if (o.offset > 0 && Nk != o.offset + Nq) {
        return fail(ATTNGEN_ERR_SHAPE, "k: %lld keys, expected offset + Nq = %lld + %lld", (long long)Nk,
                    (long long)o.offset, (long long)Nq);
    }
    if (Nk + Nq + o.offset > kMaxIndex) return fail(ATTNGEN_ERR_TOO_LARGE, "sequence too long");
    if (o.key_mask) {
        if ((s = check_tensor("key_mask", o.key_mask, ATTNGEN_U8, 2, false, false, &vkm))) return s;
        if (vkm.shape[0] != B || vkm.shape[1] != Nk) {
            return fail(ATTNGEN_ERR_SHAPE, "key_mask: shape (%lld, %lld), expected (B, Nk) = (%lld, %lld)",
                        (long long)vkm.shape[0], (long long)vkm.shape[1], (long long)B, (long long)Nk);
        }
    }
    if (o.static_mask) {
        if ((s = check_tensor("static_mask", o.static_mask, ATTNGEN_U8, 2, false, false, &vsm))) return s;
        if (vsm.shape[0] != vsm.shape[1] || vsm.shape[0] < Nk) {
            return fail(ATTNGEN_ERR_SHAPE, "static_mask: shape (%lld, %lld), expected square with side >= Nk = %lld",
                        (long long)vsm.shape[0], (long long)vsm.shape[1], (long long)Nk);
        }
    }
    int64_t R = 0;
    if (o.freqs) {
        if ((s = check_tensor("freqs", o.freqs, ATTNGEN_F32, 2, false, false, &vfr))) return s;
        R = vfr.shape[1];
        if (R % 2 != 0 || R > D) {
            return fail(ATTNGEN_ERR_SHAPE, "freqs: rotary dim %lld must be even and at most the head dim %lld",
                        (long long)R, (long long)D);
        }
        if (vfr.shape[0] < Nk) {
            return fail(ATTNGEN_ERR_SHAPE, "freqs: %lld positions, need at least Nk = %lld", (long long)vfr.shape[0],
                        (long long)Nk);
        }
    }
    if ((s = check_no_alias(vo, {&vq, &vk, &vv, o.key_mask ? &vkm : nullptr, o.static_mask ? &vsm : nullptr,
                                 o.freqs ? &vfr : nullptr}))) {
        return s;
    }

    const KernelEntry *e = attngen::select_kernel("dense", (int)D, (int)Nq, R > 0);
    if (!e) return fail(ATTNGEN_ERR_UNSUPPORTED, "no dense kernel was built for head dim %lld", (long long)D);

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
    t_halide_error.clear();
    int rc = reinterpret_cast<attngen::DenseFn>(e->fn)(&bq.buf, &bk.buf, &bv.buf, &bkm.buf, &bsm.buf, &bfr.buf,
                                                         diag_shift, static_cast<int32_t>(o.offset),
                                                         o.key_mask != nullptr, o.static_mask != nullptr,
                                                         static_cast<int32_t>(R), &bo.buf);
    return run_kernel(e, rc);
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
    install_halide_hooks();
    t_error.clear();
    try {
        return dense_impl(q, k, v, out, opts);
    } catch (const std::bad_alloc &) {
        return fail(ATTNGEN_ERR_OUT_OF_MEMORY, "out of memory");
    } catch (...) {
        return fail(ATTNGEN_ERR_KERNEL, "unexpected internal error");
    }
}

const char *attngen_last_error(void) { return t_error.c_str(); }
const char *attngen_last_kernel(void) { return t_kernel.c_str(); }

const char *attngen_status_string(attngen_status status) {
    switch (status) {
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
            s += "  " + e.name + "  variant=" + e.variant +
                 " head_dim=" + (e.head_dim ? std::to_string(e.head_dim) : std::string("any")) +
                 " bucket=" + (e.bucket == attngen::Bucket::Decode ? "decode" : "prefill") +
                 " rotary=" + (e.rotary ? "yes" : "no") + "  knobs: " + e.knobs + "  (" + e.source + ")\n";
        }
        return s;
    }();
    return info.c_str();
}

}  // extern "C"
