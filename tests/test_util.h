// Helpers shared by the attention tests: random data, tensor views, a
// NaN-aware tolerance comparison, and DenseProblem (one dense attention call:
// its inputs, options, the kernel run through the C API, the reference).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "attngen/attngen.h"
#include "reference/reference.h"

namespace attngen_test {

namespace ref = attngen::ref;

// SPEC tolerance of fp32 kernels against the float64 reference.
constexpr double kRtol = 1e-4;
constexpr double kAtol = 1e-5;

// Under an emulator (the ARM suite runs under qemu; the toolchain file sets
// ATTNGEN_TEST_EMULATED=1) the few long tests use smaller sizes.
inline bool emulated() {
  const char* e = std::getenv("ATTNGEN_TEST_EMULATED");
  return e && e[0] == '1';
}

// The device host calls run on: the CUDA kernels when the suite runs with
// ATTNGEN_OFFLOAD=cuda on a machine with a GPU (runtime/src/cuda.cpp), else
// the CPU ones.
inline attngen_device host_call_device() {
  const char* e = std::getenv("ATTNGEN_OFFLOAD");
  return e && std::strcmp(e, "cuda") == 0 && attngen_cuda_available() ? ATTNGEN_DEVICE_CUDA : ATTNGEN_DEVICE_CPU;
}

// ---- Random data -------------------------------------------------------------
inline std::vector<float> random_floats(size_t n, std::mt19937& rng, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline std::vector<uint8_t> random_mask(size_t n, std::mt19937& rng, double keep_prob) {
  std::bernoulli_distribution dist(keep_prob);
  std::vector<uint8_t> m(n);
  for (auto& x : m) x = dist(rng) ? 1 : 0;
  return m;
}

// ---- Tensor views ----------------------------------------------------------------
// strides empty (or all 0) = contiguous row-major.
inline attngen_tensor make_view(void* data, attngen_dtype dtype, std::initializer_list<int64_t> shape,
                                std::initializer_list<int64_t> strides = {}) {
  attngen_tensor t;
  std::memset(&t, 0, sizeof t);
  t.data = data;
  t.dtype = dtype;
  t.ndim = static_cast<int32_t>(shape.size());
  int i = 0;
  for (int64_t s : shape) t.shape[i++] = s;
  i = 0;
  for (int64_t s : strides) t.strides[i++] = s;
  return t;
}
inline attngen_tensor f32_view(float* data, std::initializer_list<int64_t> shape,
                               std::initializer_list<int64_t> strides = {}) {
  return make_view(data, ATTNGEN_F32, shape, strides);
}
inline attngen_tensor u8_view(uint8_t* data, std::initializer_list<int64_t> shape,
                              std::initializer_list<int64_t> strides = {}) {
  return make_view(data, ATTNGEN_U8, shape, strides);
}

// ---- Comparison --------------------------------------------------------------------
// Compares got against want over a row-major (B, N, H, D) tensor:
// |got - want| <= atol + rtol * |want|. NaN-aware: where want is NaN got must
// be NaN, where want is finite got must be finite and close, infinities must
// match exactly. Failure messages give (b, n, h, d) of the first mismatches.
inline ::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<float>& want, int B,
                                            int N, int H, int D, double rtol = kRtol, double atol = kAtol) {
  const size_t n = size_t(B) * N * H * D;
  if (got.size() != n || want.size() != n) {
    return ::testing::AssertionFailure() << "size mismatch: got " << got.size() << ", want " << want.size()
                                         << ", shape has " << n << " elements";
  }
  size_t bad = 0;
  double max_err = 0;
  std::ostringstream first;
  for (size_t idx = 0; idx < n; ++idx) {
    const double g = got[idx], w = want[idx];
    bool ok;
    if (std::isnan(w)) {
      ok = std::isnan(g);
    } else if (std::isinf(w)) {
      ok = g == w;
    } else {
      ok = std::isfinite(g) && std::fabs(g - w) <= atol + rtol * std::fabs(w);
      if (std::isfinite(g)) max_err = std::max(max_err, std::fabs(g - w));
    }
    if (!ok) {
      if (bad < 8) {
        size_t r = idx;
        const int d = int(r % D);
        r /= D;
        const int h = int(r % H);
        r /= H;
        const int i = int(r % N);
        const int b = int(r / N);
        first << "\n  (b=" << b << ", n=" << i << ", h=" << h << ", d=" << d << "): got " << got[idx]
              << ", want " << want[idx];
      }
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << n << " elements differ (rtol " << rtol << ", atol "
                                       << atol << ", max finite abs error " << max_err << "); first:"
                                       << first.str();
}

// Bitwise equality (NaN payloads and signed zeros included).
inline bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// ---- One dense attention problem -----------------------------------------------------
struct DenseProblem {
  int B = 1, Nq = 1, Nk = 1, H = 1, Hkv = 1, D = 16;
  bool causal = false;
  int offset = 0;
  std::vector<float> q, k, v;          // (B, Nq, H, D), (B, Nk, Hkv, D) x2
  std::vector<uint8_t> key_mask;       // (B, Nk) or empty
  std::vector<uint8_t> static_mask;    // (S, S) or empty
  int S = 0;
  std::vector<float> freqs;            // (Nf, R) or empty
  int Nf = 0, R = 0;

  size_t q_size() const { return size_t(B) * Nq * H * D; }
  size_t kv_size() const { return size_t(B) * Nk * Hkv * D; }

  // Random q, k, v in [-1, 1).
  void fill_random(std::mt19937& rng) {
    q = random_floats(q_size(), rng);
    k = random_floats(kv_size(), rng);
    v = random_floats(kv_size(), rng);
  }
  // Random rotary angles in [-pi, pi) for Nf positions.
  void set_rotary(int rotary_dim, int num_positions, std::mt19937& rng) {
    R = rotary_dim;
    Nf = num_positions;
    freqs = random_floats(size_t(Nf) * R, rng, -3.14159265f, 3.14159265f);
  }

  std::string describe() const {
    std::ostringstream s;
    s << "B=" << B << " Nq=" << Nq << " Nk=" << Nk << " H=" << H << " Hkv=" << Hkv << " D=" << D
      << " causal=" << causal << " offset=" << offset << " key_mask=" << !key_mask.empty()
      << " static_mask=" << (static_mask.empty() ? 0 : S) << " rotary R=" << R << " Nf=" << Nf;
    return s.str();
  }

  ref::Shape shape() const { return ref::Shape{B, Nq, Nk, H, Hkv, D, D}; }

  ref::DenseOpts ref_opts() const {
    ref::DenseOpts o;
    o.causal = causal;
    o.offset = offset;
    o.key_mask = key_mask.empty() ? nullptr : key_mask.data();
    o.static_mask = static_mask.empty() ? nullptr : static_mask.data();
    o.static_size = S;
    o.freqs = freqs.empty() ? nullptr : freqs.data();
    o.freqs_n = Nf;
    o.rotary_dim = R;
    return o;
  }

  std::vector<float> reference() const {
    std::vector<float> out(q_size());
    ref::dense(shape(), q.data(), k.data(), v.data(), out.data(), ref_opts());
    return out;
  }

  // Runs attngen_dense on contiguous views. The output buffer has guard
  // zones before and after it, and the inputs are copied first: writes
  // outside `out` or into an input are reported as test failures.
  attngen_status run(std::vector<float>* out, bool stable = false) const {
    constexpr size_t kGuard = 64;
    constexpr float kSentinel = 12345.f;
    std::vector<float> buf(q_size() + 2 * kGuard, kSentinel);
    DenseProblem in = *this;  // the API gets pointers into this copy
    attngen_tensor tq = f32_view(in.q.data(), {B, Nq, H, D});
    attngen_tensor tk = f32_view(in.k.data(), {B, Nk, Hkv, D});
    attngen_tensor tv = f32_view(in.v.data(), {B, Nk, Hkv, D});
    attngen_tensor to = f32_view(buf.data() + kGuard, {B, Nq, H, D});
    attngen_tensor tkm = u8_view(in.key_mask.data(), {B, Nk});
    attngen_tensor tsm = u8_view(in.static_mask.data(), {S, S});
    attngen_tensor tfr = f32_view(in.freqs.data(), {Nf, R});
    attngen_dense_options o;
    attngen_dense_options_init(&o);
    o.causal = causal;
    o.stable = stable;
    o.offset = offset;
    o.key_mask = key_mask.empty() ? nullptr : &tkm;
    o.static_mask = static_mask.empty() ? nullptr : &tsm;
    o.freqs = freqs.empty() ? nullptr : &tfr;
    const attngen_status st = attngen_dense(&tq, &tk, &tv, &to, &o);
    for (size_t i = 0; i < kGuard; ++i) {
      if (buf[i] != kSentinel || buf[kGuard + q_size() + i] != kSentinel) {
        ADD_FAILURE() << "attngen_dense wrote outside out (" << describe() << ")";
        break;
      }
    }
    EXPECT_TRUE(bitwise_equal(in.q, q) && bitwise_equal(in.k, k) && bitwise_equal(in.v, v) &&
                in.key_mask == key_mask && in.static_mask == static_mask && bitwise_equal(in.freqs, freqs))
        << "attngen_dense modified an input (" << describe() << ")";
    out->assign(buf.begin() + kGuard, buf.begin() + kGuard + q_size());
    return st;
  }

  // Query rows (b, i, h) that see no key at all after masking: the SPEC
  // wants exact zeros there. Returns a message for each offending row.
  ::testing::AssertionResult empty_rows_are_zero(const std::vector<float>& out, int* num_empty = nullptr) const {
    const ref::KeepFn keep = ref::dense_keep(shape(), ref_opts());
    int empty = 0, bad = 0;
    std::ostringstream msg;
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < H; ++h)
        for (int i = 0; i < Nq; ++i) {
          bool any = false;
          for (int j = 0; j < Nk && !any; ++j) any = keep(b, h, i, j);
          if (any) continue;
          ++empty;
          const float* o = out.data() + (size_t(b * Nq + i) * H + h) * D;
          for (int d = 0; d < D; ++d) {
            if (o[d] != 0.f) {
              if (bad++ < 8) msg << "\n  fully masked row (b=" << b << ", i=" << i << ", h=" << h << "): out[" << d
                                 << "] = " << o[d];
              break;
            }
          }
        }
    if (num_empty) *num_empty = empty;
    if (bad == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << bad << " fully masked rows are not exactly zero:" << msg.str();
  }
};

// Runs p through the API and checks it against the reference (and exact
// zeros in fully masked rows). Use as EXPECT_NO_FATAL_FAILURE(check_dense(p)).
inline void check_dense(const DenseProblem& p, std::vector<float>* got_out = nullptr) {
  SCOPED_TRACE(p.describe());
  std::vector<float> got;
  const attngen_status st = p.run(&got);
  ASSERT_EQ(st, ATTNGEN_OK) << attngen_status_string(st) << ": " << attngen_last_error();
  EXPECT_STREQ(attngen_last_error(), "");
  const std::vector<float> want = p.reference();
  EXPECT_TRUE(all_close(got, want, p.B, p.Nq, p.H, p.D));
  EXPECT_TRUE(p.empty_rows_are_zero(got));
  if (got_out) *got_out = std::move(got);
}

}  // namespace attngen_test
