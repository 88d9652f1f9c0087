// CUDA calls: device buffers, the caller's context and stream, and the
// C API's CUDA entry points. The Halide runtime linked in (one for all
// kernels) has CUDA support when ATTNGEN_HAVE_CUDA is defined.
#include <cstdlib>
#include <cstring>

#include "cuda_driver.h"
#include "gpu_jit.h"
#include "internal.h"

#ifdef ATTNGEN_HAVE_CUDA
#include "HalideRuntimeCuda.h"
#endif

namespace attngen::detail {

namespace {

thread_local void *t_context = nullptr;
thread_local void *t_stream = nullptr;

#ifdef ATTNGEN_HAVE_CUDA
// Halide asks these hooks which context and stream to use. A kernel call's
// user_context is its CallContext, which names them; any other Halide use
// (none in attngen) gets Halide's own context.
halide_cuda_acquire_context_t g_prev_acquire = nullptr;
halide_cuda_release_context_t g_prev_release = nullptr;

// The JIT register cap of a kernel's family (gpu::jit_register_cap) is set
// in the environment by each CUDA call while it may load the kernel's
// module, under one lock; a cap the caller put in the environment before
// attngen's first CUDA call is left alone.
std::mutex g_jit_mu;
bool g_caller_jit_cap = false;

std::unique_lock<std::mutex> jit_cap_for(const KernelEntry *e) {
    std::unique_lock<std::mutex> lock(g_jit_mu);
    if (!g_caller_jit_cap) {
        setenv("HL_CUDA_JIT_MAX_REGISTERS", gpu::jit_register_cap(e && e->knob("lanes", 0)), 1);
    }
    return lock;
}

int acquire_context(void *uc, void **ctx, bool create) {
    auto *c = static_cast<CallContext *>(uc);
    if (c && c->cuda_context) {
        *ctx = c->cuda_context;
        return 0;
    }
    return g_prev_acquire(uc, ctx, create);
}

int release_context(void *uc) {
    auto *c = static_cast<CallContext *>(uc);
    if (c && c->cuda_context) return 0;
    return g_prev_release(uc);
}

int get_stream(void *uc, void *ctx, void **stream) {
    auto *c = static_cast<CallContext *>(uc);
    *stream = (c && c->cuda_context == ctx) ? c->cuda_stream : nullptr;
    return 0;
}

void install_cuda_hooks() {
    static std::once_flag once;
    std::call_once(once, [] {
        g_prev_acquire = halide_set_cuda_acquire_context(acquire_context);
        g_prev_release = halide_set_cuda_release_context(release_context);
        halide_set_cuda_get_stream(get_stream);
        // Scratch of compute_root stages and uploaded host inputs come from
        // a pool instead of cuMemAlloc/cuMemFree per call.
        halide_reuse_device_allocations(nullptr, true);
        g_caller_jit_cap = std::getenv("HL_CUDA_JIT_MAX_REGISTERS") != nullptr;
    });
}

// The context and stream of a call from this thread.
void choose_context(CallContext *ctx) {
    ctx->cuda_context = t_context;
    ctx->cuda_stream = t_stream;
    if (!ctx->cuda_context) {
        cuda::CUcontext cur = nullptr;
        if (cuda::driver() && cuda::driver()->cuCtxGetCurrent(&cur) == 0) ctx->cuda_context = cur;
        ctx->cuda_stream = cur ? t_stream : nullptr;
    }
}
#endif

}  // namespace

bool cuda_built() {
#ifdef ATTNGEN_HAVE_CUDA
    return true;
#else
    return false;
#endif
}

attngen_device call_device(const View &q) {
    static const bool offload = [] {
        const char *e = std::getenv("ATTNGEN_OFFLOAD");
        return e && std::strcmp(e, "cuda") == 0;
    }();
    if (q.device == ATTNGEN_DEVICE_CPU && offload && attngen_cuda_available()) return ATTNGEN_DEVICE_CUDA;
    return q.device;
}

attngen_status DeviceScope::bind(std::initializer_list<HBuf *> inputs, HBuf *out) {
    if (inputs.size() + 1 > 16) return set_error(ATTNGEN_ERR_KERNEL, "internal: too many buffers in one call");
    if (device_ == ATTNGEN_DEVICE_CPU) {
        for (HBuf *b : inputs) {
            if (b->device != ATTNGEN_DEVICE_CPU) {
                return set_error(ATTNGEN_ERR_DEVICE,
                                 "a mask or table argument is a CUDA tensor but q, k, v and out are host tensors");
            }
        }
        return ATTNGEN_OK;
    }
#ifdef ATTNGEN_HAVE_CUDA
    install_cuda_hooks();
    jit_lock_ = jit_cap_for(kernel_);
    choose_context(ctx_);
    auto wrap = [&](HBuf *b) -> attngen_status {
        const uint64_t ptr = reinterpret_cast<uintptr_t>(b->buf.host);
        b->buf.host = nullptr;
        b->buf.flags = 0;
        if (int rc = halide_cuda_wrap_device_ptr(ctx_, &b->buf, ptr)) {
            return set_error(ATTNGEN_ERR_DEVICE, "wrapping a device pointer failed (%d)", rc);
        }
        wrapped_[n_wrapped_++] = b;
        return ATTNGEN_OK;
    };
    attngen_status s;
    for (HBuf *b : inputs) {
        if (b->device == ATTNGEN_DEVICE_CUDA) {
            if ((s = wrap(b))) return s;
        } else {
            // Host memory read by a GPU kernel: Halide uploads it.
            b->buf.flags = halide_buffer_flag_host_dirty;
            uploaded_[n_uploaded_++] = b;
        }
    }
    if (out->device == ATTNGEN_DEVICE_CUDA) return wrap(out);
    // Offload mode: Halide gives the output a device buffer; finish()
    // copies it back.
    out->buf.flags = 0;
    host_out_ = out;
    return ATTNGEN_OK;
#else
    (void)out;
    return set_error(ATTNGEN_ERR_DEVICE, "this library was built without CUDA");
#endif
}

attngen_status DeviceScope::finish() {
#ifdef ATTNGEN_HAVE_CUDA
    if (jit_lock_.owns_lock()) jit_lock_.unlock();
    if (host_out_ && host_out_->buf.device) {
        if (int rc = halide_copy_to_host(ctx_, &host_out_->buf)) {
            std::lock_guard<std::mutex> lock(ctx_->mu);
            return set_error(ATTNGEN_ERR_DEVICE, "copying the output to the host failed: %s",
                             ctx_->error.empty() ? std::to_string(rc).c_str() : ctx_->error.c_str());
        }
    }
#endif
    return ATTNGEN_OK;
}

DeviceScope::~DeviceScope() {
#ifdef ATTNGEN_HAVE_CUDA
    for (int i = 0; i < n_wrapped_; i++) halide_cuda_detach_device_ptr(ctx_, &wrapped_[i]->buf);
    for (int i = 0; i < n_uploaded_; i++) {
        if (uploaded_[i]->buf.device) halide_device_free(ctx_, &uploaded_[i]->buf);
    }
    if (host_out_ && host_out_->buf.device) halide_device_free(ctx_, &host_out_->buf);
#endif
}

}  // namespace attngen::detail

using namespace attngen::detail;

extern "C" {

int attngen_cuda_available(void) {
    static const bool ok = cuda_built() && attngen::cuda::driver() != nullptr;
    return ok ? 1 : 0;
}

attngen_status attngen_cuda_set_stream(void *context, void *stream) {
    clear_error();
    if (stream && !context) {
        return set_error(ATTNGEN_ERR_NULL_ARGUMENT, "context: NULL with a stream (a stream belongs to a context)");
    }
    t_context = context;
    t_stream = stream;
    return ATTNGEN_OK;
}

attngen_status attngen_cuda_synchronize(void) {
    clear_error();
    if (!attngen_cuda_available()) {
        return set_error(ATTNGEN_ERR_DEVICE, "no CUDA: %s",
                         cuda_built() ? attngen::cuda::load_error().c_str() : "built without CUDA");
    }
#ifdef ATTNGEN_HAVE_CUDA
    install_halide_hooks();
    install_cuda_hooks();
    CallContext ctx;
    choose_context(&ctx);
    const attngen::cuda::Driver *d = attngen::cuda::driver();
    if (ctx.cuda_context) {
        // The stream (or the context's default stream) the kernels ran on.
        auto *c = static_cast<attngen::cuda::CUcontext>(ctx.cuda_context);
        attngen::cuda::CUresult r = d->cuCtxPushCurrent(c);
        if (r == 0) {
            r = d->cuStreamSynchronize(static_cast<attngen::cuda::CUstream>(ctx.cuda_stream));
            attngen::cuda::CUcontext popped = nullptr;
            d->cuCtxPopCurrent(&popped);
        }
        if (r != 0) {
            return set_error(ATTNGEN_ERR_DEVICE, "CUDA synchronize failed: %s",
                             attngen::cuda::error_string(r).c_str());
        }
        return ATTNGEN_OK;
    }
    // No context named or current: the kernels ran in Halide's own context.
    halide_buffer_t dummy{};
    dummy.device = 1;  // halide_device_sync validates the handle; the CUDA sync ignores it
    dummy.device_interface = halide_cuda_device_interface();
    int rc = halide_device_sync(&ctx, &dummy);
    if (rc != 0) {
        std::lock_guard<std::mutex> lock(ctx.mu);
        return set_error(ATTNGEN_ERR_DEVICE, "CUDA synchronize failed: %s",
                         ctx.error.empty() ? std::to_string(rc).c_str() : ctx.error.c_str());
    }
#endif
    return ATTNGEN_OK;
}

}  // extern "C"
