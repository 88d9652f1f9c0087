// The dense generator compiled with Halide's autoschedulers (bench/CMakeLists.txt
// builds one library per autoscheduler that can schedule the pipeline), called
// directly through halide_buffer_t: the "what would an autoscheduler give us"
// baseline of attngen_bench.
#pragma once

#include <cstdint>
#include <string>

struct halide_buffer_t;

namespace attngen::bench {

// Signature of the generated entry points: the generator's inputs in order
// (q, k, v, key_mask, static_mask, freqs, diag_shift, offset, use_key_mask,
// use_static_mask, rotary_dim, values_finite), then out.
using AutoschedFn = int (*)(halide_buffer_t*, halide_buffer_t*, halide_buffer_t*, halide_buffer_t*,
                            halide_buffer_t*, halide_buffer_t*, int32_t, int32_t, bool, bool, int32_t, bool,
                            halide_buffer_t*);

struct AutoschedKernel {
  const char* name;         // "li2018": benchmark impl "autosched_li2018"
  const char* scheduler;    // "Li2018"
  AutoschedFn fn;           // null when the kernel was left out of the build
  const char* why_missing;  // why, when fn is null
};

// Every autoscheduler the harness knows of, built or not (bench/CMakeLists.txt).
const AutoschedKernel* autosched_kernels(int* count);

// The kernels are specialised for this head dim (PARAMS head_dim=64).
constexpr int kAutoschedHeadDim = 64;
// The Halide target they were compiled for (a single AVX-512 target).
const char* autosched_target();
// Whether this CPU can run that target.
bool cpu_supports_autosched_target();

// Row-major (B, N, H, D) tensors, as in the C API; k and v have Hkv heads.
struct AutoschedArgs {
  int B, Nq, Nk, H, Hkv, D;
  const float* q;
  const float* k;
  const float* v;
  float* out;
  bool causal;
  int32_t offset;             // absolute position of query 0 (KV-cache decode)
  const uint8_t* key_mask;    // nullable (B, Nk)
};

// Runs one kernel; returns "" on success, else the Halide error.
std::string run_autosched(const AutoschedKernel& kernel, const AutoschedArgs& a);

}  // namespace attngen::bench
