// Internals shared by the runtime's entry points: validated tensor views,
// Halide buffer views, the per-call context (errors and scratch accounting
// from the kernels, including their worker threads), kernel calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <new>
#include <string>

#include "HalideRuntime.h"
#include "attngen/attngen.h"
#include "dispatch.h"
#include "errors.h"

namespace attngen::detail {

constexpr int64_t kMaxIndex = (int64_t(1) << 31) - 1;

const char *dtype_str(attngen_dtype t);
size_t dtype_bytes(attngen_dtype t);

// A validated tensor: shape and element strides, outermost first (as given).
struct View {
    const char *name = "";
    void *data = nullptr;
    attngen_dtype dtype = ATTNGEN_F32;
    int ndim = 0;
    int64_t shape[ATTNGEN_MAX_DIMS] = {0, 0, 0, 0};
    int64_t strides[ATTNGEN_MAX_DIMS] = {0, 0, 0, 0};

    // Byte range [lo, hi) the view touches.
    void byte_range(uintptr_t *lo, uintptr_t *hi) const;
};

// Checks a tensor argument: non-null, dtype, rank, positive sizes, strides
// (stride 1 innermost when unit_inner, positive, non-overlapping when
// written), and 32-bit index limits.
attngen_status check_tensor(const char *name, const attngen_tensor *t, attngen_dtype dtype, int ndim,
                            bool unit_inner, bool written, View *v);
// out must not share memory with any input (null entries are skipped).
attngen_status check_no_alias(const View &out, std::initializer_list<const View *> inputs);

// A Halide view: dimension 0 is the innermost (last) attngen dimension.
struct HBuf {
    halide_buffer_t buf{};
    halide_dimension_t dims[ATTNGEN_MAX_DIMS]{};

    void init(const View &v);
    // Plain contiguous data of `ndim` dims, extents innermost first.
    void init_raw(void *data, halide_type_t type, int ndim, const int32_t *extents);
    // A 1-element placeholder for an absent optional input.
    void placeholder(void *storage, halide_type_t type, int ndim);
};

// Per-call context passed to the kernels as Halide's user_context: errors
// and heap scratch (live, peak, total bytes) of one call, whichever thread
// of Halide's pool reports them.
struct CallContext {
    std::atomic<int64_t> live{0}, peak{0}, total{0};
    std::atomic<int32_t> calls{0};
    std::mutex mu;
    std::string error;
};

// Installs the error handler and the counting allocator (once).
void install_halide_hooks();

// Bookkeeping after a kernel returned rc: error status and message, or
// records the kernel as this thread's last and prints it when verbose.
attngen_status finish_kernel(const KernelEntry *e, int rc, CallContext *ctx);
// Publishes the context's statistics as this thread's last call stats.
void publish_stats(const CallContext &ctx);
const char *last_kernel();
const attngen_call_stats &last_stats();
// Process-wide heap scratch of all kernels: live now, and the peak.
int64_t live_scratch_bytes();
int64_t peak_scratch_bytes();

// Runs body() with the hooks installed and the error cleared, mapping
// exceptions to status codes.
template<typename Body>
attngen_status guarded(Body body) {
    install_halide_hooks();
    clear_error();
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return set_error(ATTNGEN_ERR_OUT_OF_MEMORY, "out of memory");
    } catch (...) {
        return set_error(ATTNGEN_ERR_KERNEL, "unexpected internal error");
    }
}

// The activations of every variant: checks q, k, v (read) and out
// (written) as f32 rank-4 tensors with a unit feature stride, then that they
// agree on batch and head dim, v on k's rows and heads, out is
// (B, Nq, H, Dv) and Hkv divides H. Dv may differ from D only when
// allow_dv. Fills the four views.
attngen_status check_qkv(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                         const attngen_tensor *out, bool allow_dv, View *vq, View *vk, View *vv, View *vo);

// An optional rotary table freqs (Nf, R) f32: R even and <= head_dim, Nf >=
// positions (named `positions_name` in the message). Sets *R (0 when freqs
// is NULL) and fills *view.
attngen_status check_freqs(const attngen_tensor *freqs, int64_t head_dim, int64_t positions,
                           const char *positions_name, View *view, int64_t *R);

}  // namespace attngen::detail
