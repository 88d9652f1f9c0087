// Materialized-attention baselines (OpenBLAS, oneDNN) and the FMA peak probe.
#include "baselines.h"

#include <cblas.h>
#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <vector>

#include <dnnl.hpp>

namespace attngen::bench {
namespace {

int kv_heads(const MaterializedArgs& a) { return a.Hkv ? a.Hkv : a.H; }

void check(const MaterializedArgs& a) {
  const int hkv = kv_heads(a);
  if (a.B < 1 || a.Nq < 1 || a.Nk < 1 || a.H < 1 || a.D < 1 || a.Dv < 1 || hkv < 1 || a.H % hkv != 0 ||
      !a.q || !a.k || !a.v || !a.out)
    throw std::invalid_argument("attngen::bench: bad MaterializedArgs");
}

// Masks (if any) and softmaxes the Nq x Nk scores of batch b in place; rows
// with nothing kept become zeros so that P V yields the SPEC's zero output.
void masked_softmax(const MaterializedArgs& a, int b, float* S) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const uint8_t* km = a.key_mask ? a.key_mask + size_t(b) * a.Nk : nullptr;
  const int off = a.Nk - a.Nq;
  for (int i = 0; i < a.Nq; ++i) {
    float* s = S + size_t(i) * a.Nk;
    if (a.causal)
      for (int j = std::max(0, i + off + 1); j < a.Nk; ++j) s[j] = ninf;
    if (a.mask_qk) {
      const uint8_t* m = a.mask_qk + size_t(i) * a.Nk;
      for (int j = 0; j < a.Nk; ++j) s[j] = m[j] ? s[j] : ninf;
    }
    if (km)
      for (int j = 0; j < a.Nk; ++j) s[j] = km[j] ? s[j] : ninf;
    float mx = ninf;
    for (int j = 0; j < a.Nk; ++j) mx = std::max(mx, s[j]);
    if (mx == ninf) {
      std::fill(s, s + a.Nk, 0.f);
      continue;
    }
    float sum = 0.f;
    for (int j = 0; j < a.Nk; ++j) {
      s[j] = std::exp(s[j] - mx);
      sum += s[j];
    }
    const float inv = 1.f / sum;
    for (int j = 0; j < a.Nk; ++j) s[j] *= inv;
  }
}

// ---- oneDNN ----------------------------------------------------------------
using dnnl::memory;
using dt = memory::data_type;

struct DnnlPlan {
  memory::desc q, k, s, v, o;
  dnnl::matmul scores, values;
  std::string impl;
};

dnnl::engine& dnnl_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// Both matmuls are 5-D batched over (B, Hkv, G) with G = H / Hkv query heads
// per kv head. q/out are read in place via strides; k/v have a size-1 G
// dimension that oneDNN broadcasts (GQA without copies).
DnnlPlan make_plan(const MaterializedArgs& a) {
  const memory::dim B = a.B, Nq = a.Nq, Nk = a.Nk, H = a.H, D = a.D, Dv = a.Dv, Hkv = kv_heads(a), G = H / Hkv;
  DnnlPlan p;
  p.q = memory::desc({B, Hkv, G, Nq, D}, dt::f32, {Nq * H * D, G * D, D, H * D, 1});
  p.k = memory::desc({B, Hkv, 1, D, Nk}, dt::f32, {Nk * Hkv * D, D, D, 1, Hkv * D});  // K^T view
  p.s = memory::desc({B, Hkv, G, Nq, Nk}, dt::f32, {H * Nq * Nk, G * Nq * Nk, Nq * Nk, Nk, 1});
  p.v = memory::desc({B, Hkv, 1, Nk, Dv}, dt::f32, {Nk * Hkv * Dv, Dv, Dv, Hkv * Dv, 1});
  p.o = memory::desc({B, Hkv, G, Nq, Dv}, dt::f32, {Nq * H * Dv, G * Dv, Dv, H * Dv, 1});
  dnnl::primitive_attr scale_attr;
  scale_attr.set_output_scales(0, {float(1.0 / std::sqrt(double(a.D)))});
  const dnnl::matmul::primitive_desc pd_s({p.q, p.k, p.s}, scale_attr, dnnl_engine());
  const dnnl::matmul::primitive_desc pd_o({p.s, p.v, p.o}, dnnl_engine());
  p.scores = dnnl::matmul(pd_s);
  p.values = dnnl::matmul(pd_o);
  p.impl = std::string("scores: ") + pd_s.impl_info_str() + "; values: " + pd_o.impl_info_str();
  return p;
}

DnnlPlan get_plan(const MaterializedArgs& a) {
  using Key = std::tuple<int, int, int, int, int, int, int>;
  static std::mutex mu;
  static std::map<Key, DnnlPlan> cache;
  const Key key{a.B, a.Nq, a.Nk, a.H, kv_heads(a), a.D, a.Dv};
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, make_plan(a)).first;
  return it->second;  // handles are reference-counted; execute outside the lock
}

// ---- FMA probe -------------------------------------------------------------
// 16 independent accumulator chains cover FMA latency x throughput (4 x 2 on
// most cores). acc = acc * m + add converges to add / (1 - m): no overflow,
// no denormals. Each probe runs a 20 ms warm-up pass (clocks settle), then a
// timed pass, and returns flops per second on this thread. Plain loops, not
// lambdas, so the target attribute covers the hot code.
constexpr int kChains = 16;
constexpr int kInner = 256;

struct Stopwatch {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
};

#define ATTNGEN_PROBE_LOOP(FMA, LANES)                                   \
  double rate = 0;                                                      \
  for (double limit : {0.02, seconds}) {                                \
    Stopwatch sw;                                                       \
    double flops = 0;                                                   \
    do {                                                                \
      for (int r = 0; r < kInner; ++r) {                                \
        _Pragma("GCC unroll 16") for (int c = 0; c < kChains; ++c)      \
          acc[c] = FMA;                                                 \
      }                                                                 \
      flops += double(kInner) * kChains * (LANES) * 2;                  \
    } while (sw.seconds() < limit);                                     \
    rate = flops / sw.seconds();                                        \
  }

#if defined(__x86_64__)
__attribute__((target("avx512f"))) double probe_avx512(double seconds, volatile float* sink) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(0.001f * c);
  const __m512 m = _mm512_set1_ps(0.9999f), add = _mm512_set1_ps(1e-4f);
  ATTNGEN_PROBE_LOOP(_mm512_fmadd_ps(acc[c], m, add), 16)
  __m512 t = acc[0];
  for (int c = 1; c < kChains; ++c) t = _mm512_add_ps(t, acc[c]);
  alignas(64) float lanes[16];  // (_mm512_reduce_add_ps trips -Wuninitialized in GCC 12 headers)
  _mm512_store_ps(lanes, t);
  *sink = lanes[0];  // keeps the chains live
  return rate;
}

__attribute__((target("avx2,fma"))) double probe_avx2(double seconds, volatile float* sink) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(0.001f * c);
  const __m256 m = _mm256_set1_ps(0.9999f), add = _mm256_set1_ps(1e-4f);
  ATTNGEN_PROBE_LOOP(_mm256_fmadd_ps(acc[c], m, add), 8)
  __m256 t = acc[0];
  for (int c = 1; c < kChains; ++c) t = _mm256_add_ps(t, acc[c]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, t);
  *sink = lanes[0];
  return rate;
}

// Baseline x86-64 fallback: separate mul and add, counted as 2 flops per lane.
double probe_sse(double seconds, volatile float* sink) {
  __m128 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm_set1_ps(0.001f * c);
  const __m128 m = _mm_set1_ps(0.9999f), add = _mm_set1_ps(1e-4f);
  ATTNGEN_PROBE_LOOP(_mm_add_ps(_mm_mul_ps(acc[c], m), add), 4)
  __m128 t = acc[0];
  for (int c = 1; c < kChains; ++c) t = _mm_add_ps(t, acc[c]);
  *sink = _mm_cvtss_f32(t);
  return rate;
}
#elif defined(__aarch64__)
// AArch64: 4-lane NEON fmla (Advanced SIMD is part of the base ISA).
double probe_neon(double seconds, volatile float* sink) {
  float32x4_t acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = vdupq_n_f32(0.001f * c);
  const float32x4_t m = vdupq_n_f32(0.9999f), add = vdupq_n_f32(1e-4f);
  ATTNGEN_PROBE_LOOP(vfmaq_f32(add, acc[c], m), 4)
  float32x4_t t = acc[0];
  for (int c = 1; c < kChains; ++c) t = vaddq_f32(t, acc[c]);
  *sink = vgetq_lane_f32(t, 0);
  return rate;
}
#endif
#undef ATTNGEN_PROBE_LOOP

}  // namespace

void blas_materialized(const MaterializedArgs& a) {
  check(a);
  const int hkv = kv_heads(a), group = a.H / hkv;
  const float scale = float(1.0 / std::sqrt(double(a.D)));
  std::vector<float> S(size_t(a.Nq) * a.Nk);
  for (int b = 0; b < a.B; ++b)
    for (int h = 0; h < a.H; ++h) {
      const float* q = a.q + (size_t(b) * a.Nq * a.H + h) * a.D;
      const float* k = a.k + (size_t(b) * a.Nk * hkv + h / group) * a.D;
      const float* v = a.v + (size_t(b) * a.Nk * hkv + h / group) * a.Dv;
      float* o = a.out + (size_t(b) * a.Nq * a.H + h) * a.Dv;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a.Nq, a.Nk, a.D, scale, q, a.H * a.D, k, hkv * a.D, 0.f,
                  S.data(), a.Nk);
      masked_softmax(a, b, S.data());
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a.Nq, a.Dv, a.Nk, 1.f, S.data(), a.Nk, v, hkv * a.Dv,
                  0.f, o, a.H * a.Dv);
    }
}

void dnnl_materialized(const MaterializedArgs& a) {
  check(a);
  const DnnlPlan p = get_plan(a);
  std::vector<float> S(size_t(a.B) * a.H * a.Nq * a.Nk);
  dnnl::stream strm(dnnl_engine());
  auto mem = [](const memory::desc& md, const void* ptr) {
    return memory(md, dnnl_engine(), const_cast<void*>(ptr));  // oneDNN wants non-const handles
  };
  memory mq = mem(p.q, a.q), mk = mem(p.k, a.k), ms = mem(p.s, S.data()), mv = mem(p.v, a.v), mo = mem(p.o, a.out);
  p.scores.execute(strm, {{DNNL_ARG_SRC, mq}, {DNNL_ARG_WEIGHTS, mk}, {DNNL_ARG_DST, ms}});
  strm.wait();
  // S is laid out (B, H, Nq, Nk): query head h = kvh * G + g, so slab b*H + h.
  for (int b = 0; b < a.B; ++b)
    for (int h = 0; h < a.H; ++h) masked_softmax(a, b, S.data() + (size_t(b) * a.H + h) * a.Nq * a.Nk);
  p.values.execute(strm, {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mv}, {DNNL_ARG_DST, mo}});
  strm.wait();
}

std::string dnnl_materialized_impl(const MaterializedArgs& a) {
  check(a);
  return get_plan(a).impl;
}

double fma_peak_gflops(int threads) {
  threads = std::max(1, threads);
  const double seconds = 0.2;
#if defined(__x86_64__)
  double (*probe)(double, volatile float*) = probe_sse;
  if (__builtin_cpu_supports("avx512f"))
    probe = probe_avx512;
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    probe = probe_avx2;
#elif defined(__aarch64__)
  double (*probe)(double, volatile float*) = probe_neon;
#endif
  std::vector<double> rate(threads);
  std::vector<float> sink(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] { rate[t] = probe(seconds, &sink[t]); });
  for (auto& th : pool) th.join();
  double total = 0;
  for (double r : rate) total += r;
  return total * 1e-9;
}

}  // namespace attngen::bench
