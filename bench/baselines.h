// Baselines for benchmarks: "what a user would write instead" of a fused
// attention kernel, plus a probe of the machine's fp32 FMA peak.
//
// The materialized baselines compute, per (b, h): S = Q K^T / sqrt(D) with the
// full Nq x Nk score matrix in memory, mask (masked -> -inf), row softmax
// (max-subtracted, fp32, std::exp; fully masked rows -> zero output), then
// O = P V. Layout as in SPEC.md: q (B, Nq, H, D), k (B, Nk, Hkv, D),
// v (B, Nk, Hkv, Dv), out (B, Nq, H, Dv), row-major, read in place through
// leading-dimension strides (no transposes or copies).
// Bad shapes throw std::invalid_argument.
#pragma once

#include <cstdint>
#include <string>

namespace attngen::bench {

enum class MaskKind { None, Causal };

struct MaterializedArgs {
  int B, Nq, Nk, H, D, Dv;
  const float* q;
  const float* k;
  const float* v;
  float* out;
  // Causal keeps j <= i + (Nk - Nq): the KV-cache convention (query i is at
  // absolute position Nk - Nq + i), i.e. the usual j <= i when Nq == Nk.
  bool causal;
  const uint8_t* mask_qk;   // nullable (Nq, Nk), shared by all b, h; applied on top of causal
  const uint8_t* key_mask;  // nullable (B, Nk)
  int Hkv = 0;              // k/v heads (GQA); 0 means H. Query head h reads kv head h / (H / Hkv).
};

// OpenBLAS cblas_sgemm per (b, h); parallelism is OpenBLAS's own threading
// inside each sgemm (what a user gets by default). Scratch: one Nq x Nk
// score matrix per call.
void blas_materialized(const MaterializedArgs& a);

// oneDNN matmul primitives, created once per shape (cached in a thread-safe
// static map) and reused. One batched matmul over (B, Hkv, group) for S and
// one for O, with strided memory descriptors (GQA as a broadcast of the
// weights' group dimension). Scratch: the B * H * Nq * Nk score tensor.
void dnnl_materialized(const MaterializedArgs& a);

// The oneDNN implementations chosen for this shape ("scores: <impl>; values:
// <impl>"), for benchmark reports. Creates (and caches) the primitives.
std::string dnnl_materialized_impl(const MaterializedArgs& a);

// Measured fp32 FMA throughput in GFLOP/s (2 flops per FMA lane) on
// `threads` threads, using the widest vectors the CPU supports (AVX-512F,
// else AVX2+FMA, else SSE2 mul+add), ~0.2 s per thread after a short warm-up.
double fma_peak_gflops(int threads);

}  // namespace attngen::bench
