#include "cuda_driver.h"

#include <dlfcn.h>

#include <mutex>

namespace attngen::cuda {

namespace {

std::string g_error;

template<typename F>
bool load(void *lib, F *fn, const char *name) {
    *fn = reinterpret_cast<F>(dlsym(lib, name));
    if (!*fn) g_error = std::string("libcuda.so.1 has no ") + name;
    return *fn != nullptr;
}

Driver *open_driver() {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) lib = dlopen("libcuda.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        g_error = "no CUDA driver (libcuda.so.1 not found)";
        return nullptr;
    }
    static Driver d;
    bool ok = load(lib, &d.cuInit, "cuInit") && load(lib, &d.cuDeviceGetCount, "cuDeviceGetCount") &&
              load(lib, &d.cuDeviceGet, "cuDeviceGet") && load(lib, &d.cuDeviceGetName, "cuDeviceGetName") &&
              load(lib, &d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain") &&
              load(lib, &d.cuCtxSetCurrent, "cuCtxSetCurrent") && load(lib, &d.cuCtxGetCurrent, "cuCtxGetCurrent") &&
              load(lib, &d.cuCtxSynchronize, "cuCtxSynchronize") &&
              load(lib, &d.cuCtxPushCurrent, "cuCtxPushCurrent_v2") && load(lib, &d.cuCtxPopCurrent, "cuCtxPopCurrent_v2") && load(lib, &d.cuStreamCreate, "cuStreamCreate") &&
              load(lib, &d.cuStreamDestroy, "cuStreamDestroy_v2") &&
              load(lib, &d.cuStreamSynchronize, "cuStreamSynchronize") && load(lib, &d.cuMemAlloc, "cuMemAlloc_v2") &&
              load(lib, &d.cuMemFree, "cuMemFree_v2") && load(lib, &d.cuMemcpyHtoD, "cuMemcpyHtoD_v2") &&
              load(lib, &d.cuMemcpyDtoH, "cuMemcpyDtoH_v2") && load(lib, &d.cuMemsetD8, "cuMemsetD8_v2") &&
              load(lib, &d.cuEventCreate, "cuEventCreate") && load(lib, &d.cuEventDestroy, "cuEventDestroy_v2") &&
              load(lib, &d.cuEventRecord, "cuEventRecord") && load(lib, &d.cuEventSynchronize, "cuEventSynchronize") &&
              load(lib, &d.cuEventElapsedTime, "cuEventElapsedTime") &&
              load(lib, &d.cuGetErrorString, "cuGetErrorString");
    if (!ok) return nullptr;
    CUresult r = d.cuInit(0);
    if (r != 0) {
        g_error = "cuInit failed: " + std::to_string(r);
        return nullptr;
    }
    int count = 0;
    r = d.cuDeviceGetCount(&count);
    if (r != 0 || count < 1) {
        g_error = "no CUDA device";
        return nullptr;
    }
    return &d;
}

}  // namespace

const Driver *driver() {
    static Driver *d = open_driver();
    return d;
}

const std::string &load_error() {
    driver();
    return g_error;
}

std::string error_string(CUresult r) {
    const Driver *d = driver();
    const char *s = nullptr;
    if (d && d->cuGetErrorString(r, &s) == 0 && s) return s;
    return "CUDA error " + std::to_string(r);
}

CUcontext use_primary_context() {
    const Driver *d = driver();
    if (!d) return nullptr;
    CUdevice dev = 0;
    CUcontext ctx = nullptr;
    if (d->cuDeviceGet(&dev, 0) != 0 || d->cuDevicePrimaryCtxRetain(&ctx, dev) != 0) return nullptr;
    if (d->cuCtxSetCurrent(ctx) != 0) return nullptr;
    return ctx;
}

DeviceMemory::~DeviceMemory() {
    if (ptr_ && driver()) driver()->cuMemFree(ptr_);
}

std::string DeviceMemory::alloc(size_t bytes) {
    const Driver *d = driver();
    if (!d) return load_error();
    if (ptr_) d->cuMemFree(ptr_);
    ptr_ = 0;
    bytes_ = 0;
    CUresult r = d->cuMemAlloc(&ptr_, bytes ? bytes : 1);
    if (r != 0) return "cuMemAlloc: " + error_string(r);
    bytes_ = bytes;
    return "";
}

std::string DeviceMemory::upload(const void *host, size_t bytes) {
    if (bytes > bytes_) return "upload larger than the allocation";
    CUresult r = driver()->cuMemcpyHtoD(ptr_, host, bytes);
    return r ? "cuMemcpyHtoD: " + error_string(r) : "";
}

std::string DeviceMemory::download(void *host, size_t bytes) const {
    if (bytes > bytes_) return "download larger than the allocation";
    CUresult r = driver()->cuMemcpyDtoH(host, ptr_, bytes);
    return r ? "cuMemcpyDtoH: " + error_string(r) : "";
}

}  // namespace attngen::cuda
