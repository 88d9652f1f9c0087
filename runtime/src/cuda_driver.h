// The CUDA driver API, loaded at run time with dlopen: no CUDA toolkit is
// needed to build attngen, and a machine without a driver simply has no
// CUDA. Used by the runtime (current context, synchronisation) and by the
// CLI, tests and benchmarks (device memory of their own, as a caller's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace attngen::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;

struct Driver {
    CUresult (*cuInit)(unsigned);
    CUresult (*cuDeviceGetCount)(int *);
    CUresult (*cuDeviceGet)(CUdevice *, int);
    CUresult (*cuDeviceGetName)(char *, int, CUdevice);
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*cuCtxSetCurrent)(CUcontext);
    CUresult (*cuCtxGetCurrent)(CUcontext *);
    CUresult (*cuCtxSynchronize)();
    CUresult (*cuCtxPushCurrent)(CUcontext);
    CUresult (*cuCtxPopCurrent)(CUcontext *);
    CUresult (*cuStreamCreate)(CUstream *, unsigned);
    CUresult (*cuStreamDestroy)(CUstream);
    CUresult (*cuStreamSynchronize)(CUstream);
    CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
    CUresult (*cuMemFree)(CUdeviceptr);
    CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
    CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
    CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
    CUresult (*cuEventCreate)(CUevent *, unsigned);
    CUresult (*cuEventDestroy)(CUevent);
    CUresult (*cuEventRecord)(CUevent, CUstream);
    CUresult (*cuEventSynchronize)(CUevent);
    CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
    CUresult (*cuGetErrorString)(CUresult, const char **);
};

// The driver with cuInit done and at least one device, or nullptr (no
// libcuda.so.1, no device, or an initialisation error: see load_error()).
const Driver *driver();
const std::string &load_error();
// "CUDA_ERROR_..." text of a driver result.
std::string error_string(CUresult r);

// Makes device 0's primary context current on the calling thread (what a
// framework such as PyTorch does) and returns it, or nullptr.
CUcontext use_primary_context();

// Device memory owned by a caller (tests, CLI, benchmarks): plain
// cuMemAlloc allocations in the current context.
class DeviceMemory {
public:
    DeviceMemory() = default;
    ~DeviceMemory();
    DeviceMemory(const DeviceMemory &) = delete;
    DeviceMemory &operator=(const DeviceMemory &) = delete;
    DeviceMemory(DeviceMemory &&o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = 0; o.bytes_ = 0; }
    // Empty string on success, else the driver's error.
    std::string alloc(size_t bytes);
    std::string upload(const void *host, size_t bytes);
    std::string download(void *host, size_t bytes) const;
    void *data() const { return reinterpret_cast<void *>(static_cast<uintptr_t>(ptr_)); }
    size_t bytes() const { return bytes_; }

private:
    CUdeviceptr ptr_ = 0;
    size_t bytes_ = 0;
};

}  // namespace attngen::cuda
