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
// Ranges of the kernels' scalar inputs (generators/): beyond them a kernel
// refuses the call, so the runtime refuses it first, by name.
constexpr int64_t kMaxRotaryDim = 1024;       // rotary_dim
constexpr int64_t kMaxShift = int64_t(1) << 30;  // text_len (dense: Nk + Nq <= 2^31-1 bounds the rest)
constexpr int64_t kMaxImageSize = 1 << 15;    // image_size, kernel_size, dilation

const char *dtype_str(attngen_dtype t);
const char *device_str(attngen_device d);
// "CUDA " for a CUDA call, "" otherwise (messages: "no dense f32 CUDA kernel ...").
inline const char *kernel_kind(attngen_device d) { return d == ATTNGEN_DEVICE_CUDA ? "CUDA " : ""; }
// A CUDA kernel's per-block limits (shared memory, threads) at head dims
// D, Dv: ATTNGEN_ERR_UNSUPPORTED naming them when exceeded. CPU kernels: OK.
attngen_status check_device_limits(const KernelEntry *e, int64_t D, int64_t Dv);
size_t dtype_bytes(attngen_dtype t);

// ThreadSanitizer builds: Halide's runtime is not instrumented, so TSan
// cannot see how its thread pool hands a call's tasks to the workers and
// back. tsan_release(p) / tsan_acquire(p) state those edges on the call's
// context: what the caller did before the kernel happens before the
// workers' callbacks, which happen before the kernel returns. No-ops in
// every other build.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ATTNGEN_TSAN_ANNOTATIONS 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define ATTNGEN_TSAN_ANNOTATIONS 1
#endif
#ifdef ATTNGEN_TSAN_ANNOTATIONS
extern "C" void __tsan_acquire(void *addr);
extern "C" void __tsan_release(void *addr);
inline void tsan_acquire(const void *p) { __tsan_acquire(const_cast<void *>(p)); }
inline void tsan_release(const void *p) { __tsan_release(const_cast<void *>(p)); }
#else
inline void tsan_acquire(const void *) {}
inline void tsan_release(const void *) {}
#endif

// A validated tensor: shape and element strides, outermost first (as given).
struct View {
    const char *name = "";
    void *data = nullptr;
    attngen_dtype dtype = ATTNGEN_F32;
    int ndim = 0;
    int64_t shape[ATTNGEN_MAX_DIMS] = {0, 0, 0, 0};
    int64_t strides[ATTNGEN_MAX_DIMS] = {0, 0, 0, 0};
    attngen_device device = ATTNGEN_DEVICE_CPU;

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
    // Where buf.host points until a DeviceScope binds the buffer (init()
    // copies the view's device; init_raw and placeholder are host memory).
    attngen_device device = ATTNGEN_DEVICE_CPU;

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
    // CUDA calls: the context and stream the kernels run on (see cuda.cpp).
    void *cuda_context = nullptr;
    void *cuda_stream = nullptr;

    CallContext() { tsan_release(this); }  // constructed right before the kernel call
};

// Binds the Halide buffers of one kernel call to the device the call runs
// on and undoes it on destruction. CPU calls: nothing to do (every buffer
// must be host memory). CUDA calls: device tensors are wrapped as device
// buffers in place (no copies), host buffers (masks, tables, block lists)
// are marked for upload and their device copies released afterwards, and
// the context records the CUDA context and stream to launch on.
class DeviceScope {
public:
    // kernel: the kernel the call runs (its JIT register cap, see cuda.cpp).
    DeviceScope(attngen_device device, CallContext *ctx, const KernelEntry *kernel)
        : device_(device), ctx_(ctx), kernel_(kernel) {}
    ~DeviceScope();
    DeviceScope(const DeviceScope &) = delete;
    DeviceScope &operator=(const DeviceScope &) = delete;
    // inputs: every input buffer; out: the output. A host output of a CUDA
    // call (offload mode, see call_device) is copied back by finish().
    attngen_status bind(std::initializer_list<HBuf *> inputs, HBuf *out);
    // After the kernel returned 0: host outputs of a CUDA call are copied back.
    attngen_status finish();

private:
    attngen_device device_;
    CallContext *ctx_;
    const KernelEntry *kernel_;
    // Held from bind() to finish() on CUDA calls: the kernel's JIT register
    // cap is set in the environment while its module may be loaded.
    std::unique_lock<std::mutex> jit_lock_;
    HBuf *wrapped_[16] = {};
    HBuf *uploaded_[16] = {};
    HBuf *host_out_ = nullptr;
    int n_wrapped_ = 0, n_uploaded_ = 0;
};

// The device a call runs on: where its q lives, except that with
// ATTNGEN_OFFLOAD=cuda in the environment (a test and debugging mode) host
// calls run the CUDA kernels too, copying their inputs to the device and
// the output back.
attngen_device call_device(const View &q);

// Whether CUDA kernels were built in (ATTNGEN_HAVE_CUDA).
bool cuda_built();

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

// The kernels' values_finite input: true when every element of the 4-D
// f32/f16/bf16 view v (unit stride innermost) is finite, so they may skip
// masking invisible value rows in P@V. One pass over v, next to the
// kernels' O(Nq * Nk) work; below kDecodeMaxQueries queries the scan would
// cost as much as the kernel (which reads V once), so it is skipped and
// the answer is false (the kernel masks).
bool values_finite(const View &v, int64_t num_queries);

// An optional rotary table freqs (Nf, R) f32: R even and <= head_dim, Nf >=
// positions (named `positions_name` in the message). Sets *R (0 when freqs
// is NULL) and fills *view.
attngen_status check_freqs(const attngen_tensor *freqs, int64_t head_dim, int64_t positions,
                           const char *positions_name, View *view, int64_t *R);

}  // namespace attngen::detail
