// Internals shared by the runtime's entry points (internal.h).
#include "internal.h"

#include "dispatch.h"
#include "gpu_limits.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace attngen::detail {

namespace {

thread_local std::string t_kernel;
thread_local attngen_call_stats t_stats{};

// Halide's default handler prints (and in some builds aborts); ours keeps
// the message in the call's context and lets the pipeline return an error.
void halide_error_handler(void *uc, const char *msg) {
    auto *ctx = static_cast<CallContext *>(const_cast<void *>(uc));
    if (!ctx) return;
    tsan_acquire(ctx);
    {
        std::lock_guard<std::mutex> lock(ctx->mu);
        if (ctx->error.size() < 4096) ctx->error += msg ? msg : "unknown Halide error";
    }
    tsan_release(ctx);
}

// Counting allocator. Every block carries a header with its size, so free
// can account for it; 64-byte alignment (AVX-512 vectors). Halide may read
// a few bytes before and after a block, which the header and the padding
// cover.
constexpr size_t kAlign = 64;
std::atomic<int64_t> g_live{0}, g_peak{0};

void bump_peak(std::atomic<int64_t> &peak, int64_t now) {
    int64_t p = peak.load(std::memory_order_relaxed);
    while (now > p && !peak.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
    }
}

void *counting_malloc(void *uc, size_t size) {
    if (size > (size_t(1) << 62)) return nullptr;
    const void *sync = uc ? uc : &g_live;  // see tsan_release in internal.h
    tsan_acquire(sync);
    const size_t total = ((size + kAlign - 1) / kAlign) * kAlign + 2 * kAlign;
    void *raw = std::aligned_alloc(kAlign, total);
    if (!raw) return nullptr;
    auto *base = static_cast<unsigned char *>(raw);
    std::memcpy(base, &size, sizeof size);
    const int64_t n = static_cast<int64_t>(size);
    bump_peak(g_peak, g_live.fetch_add(n, std::memory_order_relaxed) + n);
    if (auto *ctx = static_cast<CallContext *>(uc)) {
        bump_peak(ctx->peak, ctx->live.fetch_add(n, std::memory_order_relaxed) + n);
        ctx->total.fetch_add(n, std::memory_order_relaxed);
    }
    tsan_release(sync);
    return base + kAlign;
}

void counting_free(void *uc, void *ptr) {
    if (!ptr) return;
    const void *sync = uc ? uc : &g_live;
    tsan_acquire(sync);
    unsigned char *base = static_cast<unsigned char *>(ptr) - kAlign;
    size_t size;
    std::memcpy(&size, base, sizeof size);
    const int64_t n = static_cast<int64_t>(size);
    g_live.fetch_sub(n, std::memory_order_relaxed);
    if (auto *ctx = static_cast<CallContext *>(uc)) ctx->live.fetch_sub(n, std::memory_order_relaxed);
    tsan_release(sync);
    std::free(base);
}

}  // namespace

void install_halide_hooks() {
    static std::once_flag once;
    std::call_once(once, [] {
        halide_set_error_handler(halide_error_handler);
        halide_set_custom_malloc(counting_malloc);
        halide_set_custom_free(counting_free);
    });
}

attngen_status finish_kernel(const KernelEntry *e, int rc, CallContext *ctx) {
    tsan_acquire(ctx);  // the kernel's tasks are done
    ctx->calls.fetch_add(1);
    if (rc != 0) {
        std::string msg;
        {
            std::lock_guard<std::mutex> lock(ctx->mu);
            msg = ctx->error.empty() ? "error code " + std::to_string(rc) : ctx->error;
        }
        // Errors of the CUDA runtime (launch, memory, driver) are device errors.
        const attngen_status st = msg.rfind("CUDA", 0) == 0 ? ATTNGEN_ERR_DEVICE : ATTNGEN_ERR_KERNEL;
        return set_error(st, "kernel %s failed: %s", e->name.c_str(), msg.c_str());
    }
    t_kernel = e->name + " [" + (e->device == ATTNGEN_DEVICE_CUDA ? "cuda" : attngen::cpu_level()) + "] " + e->knobs;
    if (attngen::verbose()) std::fprintf(stderr, "attngen: %s (%s)\n", t_kernel.c_str(), e->source.c_str());
    return ATTNGEN_OK;
}

void publish_stats(const CallContext &ctx) {
    t_stats.peak_scratch_bytes = ctx.peak.load();
    t_stats.total_scratch_bytes = ctx.total.load();
    t_stats.kernel_calls = ctx.calls.load();
}

const char *last_kernel() { return t_kernel.c_str(); }
const attngen_call_stats &last_stats() { return t_stats; }
int64_t live_scratch_bytes() { return g_live.load(); }
int64_t peak_scratch_bytes() { return g_peak.load(); }

void View::byte_range(uintptr_t *lo, uintptr_t *hi) const {
    int64_t last = 0;
    for (int i = 0; i < ndim; i++) last += (shape[i] - 1) * strides[i];
    *lo = reinterpret_cast<uintptr_t>(data);
    *hi = *lo + static_cast<uintptr_t>((last + 1) * static_cast<int64_t>(dtype_bytes(dtype)));
}

void HBuf::init(const View &v) {
    buf.host = static_cast<uint8_t *>(v.data);
    device = v.device;
    switch (v.dtype) {
    case ATTNGEN_U8: buf.type = halide_type_t(halide_type_uint, 8); break;
    case ATTNGEN_F16: buf.type = halide_type_t(halide_type_float, 16); break;
    // The kernels declare bf16 buffers as uint16 bit patterns (see
    // generators/attention_common.h, load_storage).
    case ATTNGEN_BF16: buf.type = halide_type_t(halide_type_uint, 16); break;
    default: buf.type = halide_type_t(halide_type_float, 32); break;
    }
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

void HBuf::init_raw(void *data, halide_type_t type, int ndim, const int32_t *extents) {
    buf.host = static_cast<uint8_t *>(data);
    buf.type = type;
    buf.dimensions = ndim;
    buf.dim = dims;
    int32_t stride = 1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = halide_dimension_t{0, extents[i], stride, 0};
        stride *= extents[i];
    }
}

void HBuf::placeholder(void *storage, halide_type_t type, int ndim) {
    buf.host = static_cast<uint8_t *>(storage);
    buf.type = type;
    buf.dimensions = ndim;
    buf.dim = dims;
    for (int i = 0; i < ndim; i++) dims[i] = halide_dimension_t{0, 1, 1, 0};
}

namespace {
// Rows of n elements: is any exponent field all ones (inf or NaN)?
template<typename T>
bool row_finite(const T *p, int64_t n, T exp_mask) {
    T bad = 0;
    for (int64_t i = 0; i < n; i++) bad |= static_cast<T>(((p[i] & exp_mask) == exp_mask) ? 1 : 0);
    return bad == 0;
}
}  // namespace

bool values_finite(const View &v, int64_t num_queries) {
    // Device memory is not scanned from the host (the kernels mask).
    if (num_queries < attngen::kDecodeMaxQueries || v.device != ATTNGEN_DEVICE_CPU) return false;
    const size_t elem = dtype_bytes(v.dtype);
    const int64_t n = v.shape[3];
    for (int64_t a = 0; a < v.shape[0]; a++) {
        for (int64_t b = 0; b < v.shape[1]; b++) {
            for (int64_t c = 0; c < v.shape[2]; c++) {
                const char *row = static_cast<const char *>(v.data) +
                                  (a * v.strides[0] + b * v.strides[1] + c * v.strides[2]) * int64_t(elem);
                bool ok;
                if (v.dtype == ATTNGEN_F32) {
                    ok = row_finite(reinterpret_cast<const uint32_t *>(row), n, uint32_t(0x7f800000u));
                } else if (v.dtype == ATTNGEN_F16) {
                    ok = row_finite(reinterpret_cast<const uint16_t *>(row), n, uint16_t(0x7c00u));
                } else {
                    ok = row_finite(reinterpret_cast<const uint16_t *>(row), n, uint16_t(0x7f80u));
                }
                if (!ok) return false;
            }
        }
    }
    return true;
}

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

// Checks a tensor argument: non-null, dtype, rank, positive sizes, strides
// (stride 1 innermost when required, positive, non-overlapping when it is
// written), and 32-bit index limits.
attngen_status check_tensor(const char *name, const attngen_tensor *t, attngen_dtype dtype, int ndim,
                            bool unit_inner, bool written, View *v) {
    if (!t) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "%s: tensor is NULL", name);
    if (!t->data) return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "%s: data pointer is NULL", name);
    // Read as an integer: a C caller may store any int in the enum field,
    // and loading such a value as the enum is undefined behaviour.
    int32_t raw_dtype;
    static_assert(sizeof raw_dtype == sizeof t->dtype, "attngen_dtype is not int-sized");
    std::memcpy(&raw_dtype, &t->dtype, sizeof raw_dtype);
    if (raw_dtype != static_cast<int32_t>(dtype)) {
        if (raw_dtype < ATTNGEN_F32 || raw_dtype > ATTNGEN_U8) {
            return set_error(ATTNGEN_ERR_DTYPE, "%s: dtype %d is not an attngen_dtype, expected %s", name,
                             (int)raw_dtype, dtype_str(dtype));
        }
        return set_error(ATTNGEN_ERR_DTYPE, "%s: dtype %s, expected %s", name,
                         dtype_str(static_cast<attngen_dtype>(raw_dtype)), dtype_str(dtype));
    }
    if (t->ndim != ndim) return set_error(ATTNGEN_ERR_SHAPE, "%s: rank %d, expected %d", name, (int)t->ndim, ndim);
    int32_t raw_device;
    static_assert(sizeof raw_device == sizeof t->device, "attngen_device is not int-sized");
    std::memcpy(&raw_device, &t->device, sizeof raw_device);
    if (raw_device != ATTNGEN_DEVICE_CPU && raw_device != ATTNGEN_DEVICE_CUDA) {
        return set_error(ATTNGEN_ERR_DEVICE, "%s: device %d is not an attngen_device", name, (int)raw_device);
    }
    v->device = static_cast<attngen_device>(raw_device);
    v->name = name;
    v->data = t->data;
    v->dtype = t->dtype;
    v->ndim = ndim;
    bool all_zero = true;
    for (int i = 0; i < ndim; i++) {
        if (t->shape[i] <= 0) {
            return set_error(ATTNGEN_ERR_SHAPE, "%s: dimension %d has size %lld (sizes must be positive)", name, i,
                        (long long)t->shape[i]);
        }
        if (t->shape[i] > kMaxIndex) {
            return set_error(ATTNGEN_ERR_TOO_LARGE, "%s: dimension %d size %lld exceeds 2^31-1", name, i,
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
                return set_error(ATTNGEN_ERR_TOO_LARGE, "%s: %lld elements exceed the kernels' 32-bit indexing", name,
                            (long long)(s * v->shape[i]));
            }
            s *= v->shape[i];
        }
    } else {
        for (int i = 0; i < ndim; i++) {
            if (t->strides[i] <= 0 && t->shape[i] > 1) {
                return set_error(ATTNGEN_ERR_LAYOUT, "%s: stride %lld of dimension %d must be positive", name,
                            (long long)t->strides[i], i);
            }
            v->strides[i] = t->strides[i] > 0 ? t->strides[i] : 1;
        }
    }
    if (unit_inner && v->strides[ndim - 1] != 1 && v->shape[ndim - 1] > 1) {
        return set_error(ATTNGEN_ERR_LAYOUT, "%s: the innermost (feature) dimension must have stride 1, got %lld", name,
                    (long long)v->strides[ndim - 1]);
    }
    // Largest element offset must fit the kernels' 32-bit index arithmetic.
    int64_t last = 0;
    for (int i = 0; i < ndim; i++) {
        if (v->strides[i] > kMaxIndex) {
            return set_error(ATTNGEN_ERR_TOO_LARGE, "%s: stride %lld exceeds 2^31-1", name, (long long)v->strides[i]);
        }
        last += (v->shape[i] - 1) * v->strides[i];
        if (last > kMaxIndex) {
            return set_error(ATTNGEN_ERR_TOO_LARGE,
                        "%s: spans more than 2^31-1 elements; split the batch into smaller calls", name);
        }
    }
    // Halide also refuses a buffer whose size x stride in any dimension, or
    // whose element count (larger than the span for overlapping input
    // views), exceeds 2^31-1.
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (v->shape[i] * v->strides[i] > kMaxIndex) {
            return set_error(ATTNGEN_ERR_TOO_LARGE, "%s: dimension %d of size %lld x stride %lld exceeds 2^31-1 elements",
                             name, i, (long long)v->shape[i], (long long)v->strides[i]);
        }
        numel *= v->shape[i];
        if (numel > kMaxIndex) {
            return set_error(ATTNGEN_ERR_TOO_LARGE, "%s: more than 2^31-1 elements (overlapping view)", name);
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
                return set_error(ATTNGEN_ERR_LAYOUT, "%s: strides make elements overlap (dimension %d)", name, i);
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
            return set_error(ATTNGEN_ERR_LAYOUT, "%s overlaps %s in memory; attention cannot run in place", out.name,
                        in->name);
        }
    }
    return ATTNGEN_OK;
}

attngen_status check_qkv(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                         const attngen_tensor *out, bool allow_dv, View *q_view, View *k_view, View *v_view,
                         View *out_view) {
    attngen_status s;
    // The storage type is q's (f32, f16 or bf16); k, v and out must match it.
    attngen_dtype dtype = ATTNGEN_F32;
    if (q) {
        int32_t raw;
        std::memcpy(&raw, &q->dtype, sizeof raw);
        if (raw == ATTNGEN_F16 || raw == ATTNGEN_BF16) dtype = static_cast<attngen_dtype>(raw);
    }
    if ((s = check_tensor("q", q, dtype, 4, true, false, q_view))) return s;
    if ((s = check_tensor("k", k, dtype, 4, true, false, k_view))) return s;
    if ((s = check_tensor("v", v, dtype, 4, true, false, v_view))) return s;
    if ((s = check_tensor("out", out, dtype, 4, true, true, out_view))) return s;
    const View &vq = *q_view, &vk = *k_view, &vv = *v_view, &vo = *out_view;
    const int64_t B = vq.shape[0], Nq = vq.shape[1], H = vq.shape[2], D = vq.shape[3];
    const int64_t Nk = vk.shape[1], Hkv = vk.shape[2], Dv = vv.shape[3];
    for (const View *t : {&vk, &vv}) {
        if (t->shape[0] != B) {
            return set_error(ATTNGEN_ERR_SHAPE, "%s: batch %lld differs from q's %lld", t->name,
                             (long long)t->shape[0], (long long)B);
        }
    }
    if (vk.shape[3] != D) {
        return set_error(ATTNGEN_ERR_SHAPE, "k: head dim %lld differs from q's %lld", (long long)vk.shape[3],
                         (long long)D);
    }
    if (!allow_dv && Dv != D) {
        return set_error(ATTNGEN_ERR_SHAPE, "v: head dim %lld differs from q's %lld", (long long)Dv, (long long)D);
    }
    if (vv.shape[1] != Nk || vv.shape[2] != Hkv) {
        return set_error(ATTNGEN_ERR_SHAPE, "v: shape (%lld, %lld, %lld, %lld) differs from k's in rows or heads",
                         (long long)vv.shape[0], (long long)vv.shape[1], (long long)vv.shape[2],
                         (long long)vv.shape[3]);
    }
    if (H % Hkv != 0) {
        return set_error(ATTNGEN_ERR_SHAPE, "k: %lld key/value heads do not divide q's %lld heads", (long long)Hkv,
                         (long long)H);
    }
    if (vo.shape[0] != B || vo.shape[1] != Nq || vo.shape[2] != H || vo.shape[3] != Dv) {
        return set_error(ATTNGEN_ERR_SHAPE,
                         "out: shape (%lld, %lld, %lld, %lld), expected (%lld, %lld, %lld, %lld)",
                         (long long)vo.shape[0], (long long)vo.shape[1], (long long)vo.shape[2],
                         (long long)vo.shape[3], (long long)B, (long long)Nq, (long long)H, (long long)Dv);
    }
    for (const View *t : {&vk, &vv, &vo}) {
        if (t->device != vq.device) {
            return set_error(ATTNGEN_ERR_DEVICE, "%s: on the %s but q is on the %s (q, k, v and out share a device)",
                             t->name, device_str(t->device), device_str(vq.device));
        }
    }
    if (vq.device == ATTNGEN_DEVICE_CUDA && !attngen_cuda_available()) {
        return set_error(ATTNGEN_ERR_DEVICE, "q: a CUDA tensor, but %s",
                         cuda_built() ? "no CUDA driver or device was found" : "this library was built without CUDA");
    }
    return ATTNGEN_OK;
}

attngen_status check_device_limits(const KernelEntry *e, int64_t D, int64_t Dv) {
    if (e->device != ATTNGEN_DEVICE_CUDA) return ATTNGEN_OK;
    // Lane kernels exist for fixed head dims only (checked when generated).
    if (e->knob("lanes", 0)) return ATTNGEN_OK;
    const int64_t tq = e->knob("tq", 32), kc = e->knob("kc", 64), kci = e->knob("kci", 0);
    const int64_t build_D = e->head_dim > 0 ? e->head_dim : gpu::kBudgetHeadDim;
    const int64_t shared = gpu::shared_bytes(tq, kc, kci, build_D, std::max(D, Dv));
    const int64_t threads =
        gpu::threads(tq, e->knob("rq", 1), std::max(kc, kci), e->knob("rk", 1), std::max(D, Dv), e->knob("vec", 4));
    if (shared > gpu::kSharedBytes || threads > gpu::kMaxThreads) {
        return set_error(ATTNGEN_ERR_UNSUPPORTED,
                         "head dim %lld is too large for the CUDA kernel %s: it would need %lld bytes of shared memory "
                         "and %lld threads per block (at most %lld and %lld)",
                         (long long)std::max(D, Dv), e->name.c_str(), (long long)shared, (long long)threads,
                         (long long)gpu::kSharedBytes, (long long)gpu::kMaxThreads);
    }
    return ATTNGEN_OK;
}

const char *device_str(attngen_device d) { return d == ATTNGEN_DEVICE_CUDA ? "CUDA device" : "host"; }

attngen_status check_freqs(const attngen_tensor *freqs, int64_t head_dim, int64_t positions,
                           const char *positions_name, View *view, int64_t *R) {
    *R = 0;
    if (!freqs) return ATTNGEN_OK;
    attngen_status s;
    if ((s = check_tensor("freqs", freqs, ATTNGEN_F32, 2, false, false, view))) return s;
    const int64_t r = view->shape[1];
    if (r % 2 != 0 || r > head_dim) {
        return set_error(ATTNGEN_ERR_SHAPE, "freqs: rotary dim %lld must be even and at most the head dim %lld",
                         (long long)r, (long long)head_dim);
    }
    if (r > kMaxRotaryDim) {  // the generators' rotary_dim range
        return set_error(ATTNGEN_ERR_UNSUPPORTED, "freqs: rotary dim %lld exceeds the kernels' limit of %lld",
                         (long long)r, (long long)kMaxRotaryDim);
    }
    if (view->shape[0] < positions) {
        return set_error(ATTNGEN_ERR_SHAPE, "freqs: %lld positions, need at least %s = %lld",
                         (long long)view->shape[0], positions_name, (long long)positions);
    }
    *R = r;
    return ATTNGEN_OK;
}

}  // namespace attngen::detail
