// The JIT register cap of each GPU schedule family (gpu_schedule.cpp), for
// the runtime and the tuner's runner. No Halide here.
#pragma once

namespace attngen::gpu {

// Halide 14's runtime JIT-compiles a kernel's PTX when it first runs in a
// context, with at most HL_CUDA_JIT_MAX_REGISTERS registers per thread (64
// when unset). Lane kernels (knob lanes=1) keep a query's state in
// registers and need up to 255 (at 64 they spill, 3-6x slower); tiled
// kernels need 64, or their blocks of up to 1024 threads fail to launch
// (CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES). The value to set before a kernel
// of either family loads.
inline const char *jit_register_cap(bool lanes) { return lanes ? "255" : "64"; }

}  // namespace attngen::gpu
