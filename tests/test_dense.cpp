// Dense attention (SPEC.md section 1) through the C API against the float64
// reference (tests/reference): shapes, every option and combination, GQA,
// KV-cache decode, decode/prefill consistency, strided views, `stable`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "attngen/attngen.h"
#include "src/dispatch.h"
#include "reference/reference.h"
#include "test_util.h"

namespace {

using namespace attngen_test;

// ---- Parameterised kernel-vs-reference cases ------------------------------------------

enum class KeyMask {
  None,
  Random,     // ~30% of keys masked at random
  EmptyRows,  // random, plus some query rows left with no key: non-causal, all
              // keys of batch 0 masked; causal, the leading keys of batch 0
              // masked so the first query rows see nothing
};

struct DenseCase {
  int B = 2, Nq = 17, H = 3, Hkv = 3, D = 64;
  int offset = 0;
  bool causal = false;
  KeyMask key_mask = KeyMask::None;
  int static_extra = -1;  // -1: no static mask; else S = Nk + static_extra
  int R = 0;              // rotary dim, 0 = none
  int nf_extra = 0;       // Nf = Nk + nf_extra
  uint32_t seed = 1;

  int Nk() const { return offset + Nq; }

  std::string name() const {
    std::string s = offset > 0 ? "dec_off" + std::to_string(offset) + "_Nq" + std::to_string(Nq)
                               : "N" + std::to_string(Nq);
    s += "_D" + std::to_string(D) + "_B" + std::to_string(B) + "H" + std::to_string(H);
    if (Hkv != H) s += "kv" + std::to_string(Hkv);
    s += causal ? "_causal" : "_full";
    if (key_mask == KeyMask::Random) s += "_km";
    if (key_mask == KeyMask::EmptyRows) s += "_kmempty";
    if (static_extra >= 0) s += "_sm" + std::to_string(static_extra);
    if (R > 0) s += "_rot" + std::to_string(R) + (nf_extra ? "nf" + std::to_string(nf_extra) : "");
    return s;
  }

  DenseProblem problem() const {
    std::mt19937 rng(seed * 7919u + uint32_t(Nq * 131 + D * 17 + offset));
    DenseProblem p;
    p.B = B;
    p.Nq = Nq;
    p.Nk = Nk();
    p.H = H;
    p.Hkv = Hkv;
    p.D = D;
    p.causal = causal;
    p.offset = offset;
    p.fill_random(rng);
    const int nk = Nk();
    if (key_mask != KeyMask::None) {
      p.key_mask = random_mask(size_t(B) * nk, rng, 0.7);
      if (key_mask == KeyMask::EmptyRows) {
        // Causal: query i sees keys 0..offset+i, so masking the first m keys
        // empties query rows i < m - offset.
        const int m = causal ? std::min(nk, offset + std::max(1, Nq / 3)) : nk;
        std::fill(p.key_mask.begin(), p.key_mask.begin() + m, uint8_t(0));
      }
    }
    if (static_extra >= 0) {
      p.S = nk + static_extra;
      p.static_mask = random_mask(size_t(p.S) * p.S, rng, 0.75);
    }
    if (R > 0) p.set_rotary(R, nk + nf_extra, rng);
    return p;
  }
};

void PrintTo(const DenseCase& c, std::ostream* os) { *os << c.name(); }

class DenseVsReference : public ::testing::TestWithParam<DenseCase> {};

TEST_P(DenseVsReference, MatchesReference) {
  const DenseCase& c = GetParam();
  SCOPED_TRACE(c.name());
  const DenseProblem p = c.problem();
  std::vector<float> got;
  ASSERT_NO_FATAL_FAILURE(check_dense(p, &got));
  if (c.key_mask == KeyMask::EmptyRows) {
    int empty = 0;
    EXPECT_TRUE(p.empty_rows_are_zero(got, &empty));
    EXPECT_GT(empty, 0) << "case meant to contain fully masked query rows has none";
  }
}

std::string case_name(const ::testing::TestParamInfo<DenseCase>& info) { return info.param.name(); }

int rot_small(int D) { return std::max(2, (D / 2) & ~1); }
int rot_full(int D) { return D & ~1; }  // R == D for even D; D - 1 for odd D

// Plain attention over many shapes: tiny, odd, tile and chunk boundaries
// (decode bucket below 8 queries), every specialised head dim and generic ones.
std::vector<DenseCase> shape_cases() {
  std::vector<DenseCase> v;
  for (int N : {1, 2, 7, 8, 17, 63, 129})
    for (int D : {16, 40, 59, 64, 80, 128})
      for (bool causal : {false, true}) {
        DenseCase c;
        c.Nq = N;
        c.D = D;
        c.causal = causal;
        v.push_back(c);
      }
  auto add = [&](int B, int N, int H, int D, bool causal, KeyMask km, int R) {
    DenseCase c;
    c.B = B, c.Nq = N, c.H = c.Hkv = H, c.D = D, c.causal = causal, c.key_mask = km, c.R = R;
    v.push_back(c);
  };
  add(2, 300, 3, 64, true, KeyMask::None, 0);
  add(2, 300, 3, 59, false, KeyMask::None, 0);
  add(1, 300, 2, 128, true, KeyMask::Random, 0);
  add(1, 300, 2, 80, false, KeyMask::None, 80);
  add(1, 1, 1, 16, false, KeyMask::None, 0);
  add(1, 3, 1, 2, true, KeyMask::None, 0);   // smallest even head dim
  add(3, 5, 1, 1, false, KeyMask::None, 0);  // head dim 1
  add(1, 33, 5, 7, true, KeyMask::Random, 6);
  return v;
}

// Every option and combination of options on a few shapes (prefill and
// decode buckets, specialised and generic head dims).
std::vector<DenseCase> option_cases() {
  std::vector<DenseCase> v;
  const std::pair<int, int> shapes[] = {{17, 59}, {63, 64}, {129, 40}, {9, 80}, {5, 128}};
  for (auto [N, D] : shapes)
    for (bool causal : {false, true})
      for (KeyMask km : {KeyMask::None, KeyMask::Random, KeyMask::EmptyRows})
        for (int sm : {-1, 3})
          for (int rot : {0, 1, 2}) {
            DenseCase c;
            c.Nq = N;
            c.D = D;
            c.causal = causal;
            c.key_mask = km;
            c.static_extra = sm;
            c.R = rot == 0 ? 0 : (rot == 1 ? rot_small(D) : rot_full(D));
            c.nf_extra = rot == 1 ? 5 : 0;
            c.seed = 2;
            v.push_back(c);
          }
  return v;
}

// Grouped-query and multi-query attention.
std::vector<DenseCase> gqa_cases() {
  std::vector<DenseCase> v;
  const std::pair<int, int> heads[] = {{4, 2}, {4, 1}, {6, 3}};
  for (auto [H, Hkv] : heads)
    for (int N : {3, 17, 63})
      for (int D : {64, 59})
        for (bool causal : {false, true})
          for (bool extras : {false, true}) {
            DenseCase c;
            c.H = H;
            c.Hkv = Hkv;
            c.Nq = N;
            c.D = D;
            c.causal = causal;
            if (extras) {
              c.key_mask = KeyMask::Random;
              c.static_extra = 0;
              c.R = rot_small(D);
            }
            c.seed = 3;
            v.push_back(c);
          }
  return v;
}

// KV-cache decode: Nq new queries at absolute positions offset..offset+Nq-1,
// Nk = offset + Nq keys. The reference rotates only q and the new k/v rows.
std::vector<DenseCase> decode_cases() {
  std::vector<DenseCase> v;
  for (int offset : {1, 20, 130})
    for (int Nq : {1, 4, 9})
      for (int D : {16, 59, 64, 128})
        for (int opt = 0; opt < 6; ++opt) {
          DenseCase c;
          c.offset = offset;
          c.Nq = Nq;
          c.D = D;
          c.seed = 4;
          switch (opt) {
          case 0: c.causal = true; break;
          case 1: c.causal = false; break;
          case 2: c.causal = true; c.key_mask = KeyMask::EmptyRows; break;
          case 3: c.causal = true; c.R = rot_small(D); c.nf_extra = 3; break;
          case 4: c.causal = false; c.R = rot_full(D); c.static_extra = 0; c.key_mask = KeyMask::Random; break;
          case 5:
            c.causal = true;
            c.H = 4;
            c.Hkv = 2;
            c.key_mask = KeyMask::Random;
            c.static_extra = 2;
            c.R = rot_full(D);
            break;
          }
          v.push_back(c);
        }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Shapes, DenseVsReference, ::testing::ValuesIn(shape_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Options, DenseVsReference, ::testing::ValuesIn(option_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Gqa, DenseVsReference, ::testing::ValuesIn(gqa_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Decode, DenseVsReference, ::testing::ValuesIn(decode_cases()), case_name);

// ---- Fully masked rows --------------------------------------------------------------------

// Every key of batch 1 masked (non-causal): every query row of batch 1 is
// exactly zero, batch 0 is untouched by the mask of batch 1.
TEST(DenseMasks, FullyMaskedBatchGivesExactZeros) {
  std::mt19937 rng(11);
  DenseProblem p;
  p.B = 2, p.Nq = p.Nk = 40, p.H = 2, p.Hkv = 2, p.D = 64;
  p.fill_random(rng);
  p.key_mask.assign(size_t(p.B) * p.Nk, 1);
  std::fill(p.key_mask.begin() + p.Nk, p.key_mask.end(), uint8_t(0));
  std::vector<float> got;
  ASSERT_NO_FATAL_FAILURE(check_dense(p, &got));
  const size_t half = got.size() / 2;
  for (size_t i = half; i < got.size(); ++i) ASSERT_EQ(got[i], 0.f) << "index " << i;
  bool any_nonzero = false;
  for (size_t i = 0; i < half; ++i) any_nonzero |= got[i] != 0.f;
  EXPECT_TRUE(any_nonzero);
}

// A static mask row of zeros empties that query row (prefill and decode).
TEST(DenseMasks, StaticMaskEmptyRowGivesExactZeros) {
  for (int offset : {0, 12}) {
    std::mt19937 rng(12);
    DenseProblem p;
    p.B = 1, p.Nq = 9, p.Nk = offset + 9, p.H = 3, p.Hkv = 3, p.D = 40, p.offset = offset;
    p.causal = offset > 0;
    p.fill_random(rng);
    p.S = p.Nk + 1;
    p.static_mask.assign(size_t(p.S) * p.S, 1);
    const int row = offset + 4;  // absolute position of query 4
    std::fill_n(p.static_mask.begin() + size_t(row) * p.S, p.S, uint8_t(0));
    std::vector<float> got;
    ASSERT_NO_FATAL_FAILURE(check_dense(p, &got));
    int empty = 0;
    EXPECT_TRUE(p.empty_rows_are_zero(got, &empty));
    EXPECT_EQ(empty, p.H) << "offset " << offset;
  }
}

// ---- Decode consistency ---------------------------------------------------------------------

// Copies query rows [i0, i0 + n) of a (B, N, H, D) tensor.
std::vector<float> rows(const std::vector<float>& t, int B, int N, int H, int D, int i0, int n) {
  std::vector<float> r;
  r.reserve(size_t(B) * n * H * D);
  for (int b = 0; b < B; ++b) {
    auto first = t.begin() + (size_t(b) * N + i0) * H * D;
    r.insert(r.end(), first, first + size_t(n) * H * D);
  }
  return r;
}

struct ConsistencyCase {
  const char* what;
  int B, N, H, Hkv, D;
  bool key_mask, rotary, static_mask;
};

// A causal run over N tokens, then decode calls (offset = N - Nq, the last Nq
// query rows, k/v = all N rows) must give the matching rows of the full run.
// With rotary the cache holds k/v rows already rotated (SPEC: "cached rows
// are stored already rotated"), as a decoder that rotated them when they were
// new would have stored them.
void check_decode_consistency(const ConsistencyCase& cc) {
  SCOPED_TRACE(cc.what);
  std::mt19937 rng(21);
  DenseProblem full;
  full.B = cc.B, full.Nq = full.Nk = cc.N, full.H = cc.H, full.Hkv = cc.Hkv, full.D = cc.D;
  full.causal = true;
  full.fill_random(rng);
  if (cc.key_mask) full.key_mask = random_mask(size_t(cc.B) * cc.N, rng, 0.7);
  if (cc.static_mask) {
    full.S = cc.N;
    full.static_mask = random_mask(size_t(cc.N) * cc.N, rng, 0.8);
  }
  if (cc.rotary) full.set_rotary(rot_small(cc.D), cc.N, rng);
  std::vector<float> full_out;
  ASSERT_NO_FATAL_FAILURE(check_dense(full, &full_out));

  for (int Nq : {1, 4, 9}) {
    SCOPED_TRACE("Nq = " + std::to_string(Nq));
    DenseProblem dec = full;
    dec.Nq = Nq;
    dec.offset = cc.N - Nq;
    dec.q = rows(full.q, cc.B, cc.N, cc.H, cc.D, dec.offset, Nq);
    if (cc.rotary) {
      for (int b = 0; b < cc.B; ++b) {
        const size_t base = size_t(b) * cc.N * cc.Hkv * cc.D;
        ref::apply_rotary(dec.k.data() + base, 1, dec.offset, cc.Hkv, cc.D, full.freqs.data(), full.Nf, full.R, 0);
        ref::apply_rotary(dec.v.data() + base, 1, dec.offset, cc.Hkv, cc.D, full.freqs.data(), full.Nf, full.R, 0);
      }
    }
    std::vector<float> got;
    const attngen_status st = dec.run(&got);
    ASSERT_EQ(st, ATTNGEN_OK) << attngen_last_error();
    EXPECT_TRUE(all_close(got, rows(full_out, cc.B, cc.N, cc.H, cc.D, dec.offset, Nq), cc.B, Nq, cc.H, cc.D))
        << dec.describe();
  }
}

TEST(DenseDecodeConsistency, Plain) { check_decode_consistency({"plain", 2, 150, 3, 3, 64, false, false, false}); }
TEST(DenseDecodeConsistency, KeyMask) { check_decode_consistency({"key mask", 2, 70, 3, 3, 59, true, false, false}); }
TEST(DenseDecodeConsistency, RotaryWithRotatedCache) {
  check_decode_consistency({"rotary", 1, 70, 2, 2, 64, false, true, false});
}
TEST(DenseDecodeConsistency, GqaKeyMaskStaticMaskRotary) {
  check_decode_consistency({"gqa + masks + rotary", 2, 45, 4, 2, 128, true, true, true});
}

// Token-by-token generation: step t (offset t, one query) equals row t of the
// full causal run, for every t.
TEST(DenseDecodeConsistency, TokenByToken) {
  std::mt19937 rng(22);
  DenseProblem full;
  full.B = 2, full.Nq = full.Nk = 40, full.H = 4, full.Hkv = 1, full.D = 80;
  full.causal = true;
  full.fill_random(rng);
  full.key_mask = random_mask(size_t(full.B) * full.Nk, rng, 0.8);
  std::vector<float> full_out;
  ASSERT_NO_FATAL_FAILURE(check_dense(full, &full_out));
  for (int t = 1; t < full.Nk; ++t) {
    DenseProblem dec;
    dec.B = full.B, dec.Nq = 1, dec.Nk = t + 1, dec.H = full.H, dec.Hkv = full.Hkv, dec.D = full.D;
    dec.causal = true;
    dec.offset = t;
    dec.q = rows(full.q, full.B, full.Nk, full.H, full.D, t, 1);
    dec.k = rows(full.k, full.B, full.Nk, full.Hkv, full.D, 0, t + 1);
    dec.v = rows(full.v, full.B, full.Nk, full.Hkv, full.D, 0, t + 1);
    for (int b = 0; b < full.B; ++b)
      for (int j = 0; j <= t; ++j) dec.key_mask.push_back(full.key_mask[size_t(b) * full.Nk + j]);
    std::vector<float> got;
    ASSERT_EQ(dec.run(&got), ATTNGEN_OK) << attngen_last_error();
    ASSERT_TRUE(all_close(got, rows(full_out, full.B, full.Nk, full.H, full.D, t, 1), full.B, 1, full.H, full.D))
        << "step t = " << t;
  }
}

// ---- Strided views --------------------------------------------------------------------------

// q, k, v as slices of one fused projection buffer (B, N, Hq + 2*Hkv, D)
// (token stride (Hq + 2*Hkv) * D, no copy), out with padded head and token
// strides. Must equal the contiguous call; the padding of out stays untouched.
void check_fused(const DenseProblem& p) {
  SCOPED_TRACE(p.describe());
  ASSERT_EQ(p.Nq, p.Nk) << "fused layout needs Nq == Nk";
  const int B = p.B, N = p.Nq, H = p.H, Hkv = p.Hkv, D = p.D;
  const int HT = H + 2 * Hkv;
  std::vector<float> fused(size_t(B) * N * HT * D);
  for (int b = 0; b < B; ++b)
    for (int n = 0; n < N; ++n) {
      float* row = fused.data() + (size_t(b) * N + n) * HT * D;
      std::copy_n(p.q.data() + (size_t(b) * N + n) * H * D, H * D, row);
      std::copy_n(p.k.data() + (size_t(b) * N + n) * Hkv * D, Hkv * D, row + H * D);
      std::copy_n(p.v.data() + (size_t(b) * N + n) * Hkv * D, Hkv * D, row + (H + Hkv) * D);
    }
  const int64_t sb = int64_t(N) * HT * D, sn = int64_t(HT) * D;
  attngen_tensor tq = f32_view(fused.data(), {B, N, H, D}, {sb, sn, D, 1});
  attngen_tensor tk = f32_view(fused.data() + H * D, {B, N, Hkv, D}, {sb, sn, D, 1});
  attngen_tensor tv = f32_view(fused.data() + (H + Hkv) * D, {B, N, Hkv, D}, {sb, sn, D, 1});
  // out: heads padded to D + 3, tokens padded by 5 more floats.
  const int64_t oh = D + 3, on = H * oh + 5, ob = N * on;
  const float kPad = -777.f;
  std::vector<float> obuf(size_t(B) * ob, kPad);
  attngen_tensor to = f32_view(obuf.data(), {B, N, H, D}, {ob, on, oh, 1});
  attngen_tensor tkm = u8_view(const_cast<uint8_t*>(p.key_mask.data()), {B, N});
  attngen_tensor tfr = f32_view(const_cast<float*>(p.freqs.data()), {p.Nf, p.R});
  attngen_dense_options o;
  attngen_dense_options_init(&o);
  o.causal = p.causal;
  o.key_mask = p.key_mask.empty() ? nullptr : &tkm;
  o.freqs = p.freqs.empty() ? nullptr : &tfr;
  ASSERT_EQ(attngen_dense(&tq, &tk, &tv, &to, &o), ATTNGEN_OK) << attngen_last_error();

  std::vector<float> got(size_t(B) * N * H * D);
  size_t pad_touched = 0;
  for (int b = 0; b < B; ++b)
    for (int n = 0; n < N; ++n)
      for (int64_t e = 0; e < on; ++e) {
        const float x = obuf[size_t(b * ob + n * on + e)];
        const int64_t h = e / oh, d = e % oh;
        if (h < H && d < D) {
          got[(size_t(b * N + n) * H + h) * D + d] = x;
        } else if (x != kPad) {
          ++pad_touched;
        }
      }
  EXPECT_EQ(pad_touched, 0u) << "the kernel wrote into the padding of a strided out";
  std::vector<float> contiguous;
  ASSERT_EQ(p.run(&contiguous), ATTNGEN_OK) << attngen_last_error();
  EXPECT_TRUE(all_close(got, contiguous, B, N, H, D)) << "strided vs contiguous";
  EXPECT_TRUE(all_close(got, p.reference(), B, N, H, D)) << "strided vs reference";
}

DenseProblem make_problem(int B, int N, int H, int Hkv, int D, bool causal, uint32_t seed) {
  std::mt19937 rng(seed);
  DenseProblem p;
  p.B = B, p.Nq = p.Nk = N, p.H = H, p.Hkv = Hkv, p.D = D, p.causal = causal;
  p.fill_random(rng);
  return p;
}

TEST(DenseStrided, FusedQkvPaddedOut) { check_fused(make_problem(2, 77, 3, 3, 64, true, 31)); }
TEST(DenseStrided, FusedQkvGenericHeadDim) { check_fused(make_problem(2, 40, 2, 2, 59, false, 32)); }
TEST(DenseStrided, FusedQkvDecodeBucket) { check_fused(make_problem(3, 5, 3, 3, 128, true, 33)); }
TEST(DenseStrided, FusedGqaWithKeyMaskAndRotary) {
  DenseProblem p = make_problem(2, 50, 4, 2, 80, true, 34);
  std::mt19937 rng(35);
  p.key_mask = random_mask(size_t(p.B) * p.Nk, rng, 0.7);
  p.set_rotary(40, p.Nk, rng);
  check_fused(p);
}

// Heads-first memory (B, H, N, D) passed as a (B, N, H, D) view by strides
// alone: token stride D, head stride N * D.
TEST(DenseStrided, HeadsFirstLayout) {
  for (int N : {3, 45}) {
    const DenseProblem p = make_problem(2, N, 3, 3, 40, true, 36);
    SCOPED_TRACE(p.describe());
    const int B = p.B, H = p.H, D = p.D;
    auto to_bhnd = [&](const std::vector<float>& t) {
      std::vector<float> r(t.size());
      for (int b = 0; b < B; ++b)
        for (int n = 0; n < N; ++n)
          for (int h = 0; h < H; ++h)
            std::copy_n(t.data() + (size_t(b * N + n) * H + h) * D, D, r.data() + (size_t(b * H + h) * N + n) * D);
      return r;
    };
    std::vector<float> q = to_bhnd(p.q), k = to_bhnd(p.k), v = to_bhnd(p.v), o(p.q.size(), -1.f);
    const int64_t sb = int64_t(H) * N * D, sh = int64_t(N) * D;
    attngen_tensor tq = f32_view(q.data(), {B, N, H, D}, {sb, D, sh, 1});
    attngen_tensor tk = f32_view(k.data(), {B, N, H, D}, {sb, D, sh, 1});
    attngen_tensor tv = f32_view(v.data(), {B, N, H, D}, {sb, D, sh, 1});
    attngen_tensor to = f32_view(o.data(), {B, N, H, D}, {sb, D, sh, 1});
    attngen_dense_options opts;
    attngen_dense_options_init(&opts);
    opts.causal = 1;
    ASSERT_EQ(attngen_dense(&tq, &tk, &tv, &to, &opts), ATTNGEN_OK) << attngen_last_error();
    EXPECT_TRUE(all_close(o, to_bhnd(p.reference()), B, H, N, D));  // both in (B, H, N, D) order
  }
}

// Explicit strides equal to the contiguous ones are the same as all-zero strides.
TEST(DenseStrided, ExplicitContiguousStrides) {
  const DenseProblem p = make_problem(2, 20, 2, 2, 64, false, 37);
  std::vector<float> q = p.q, k = p.k, v = p.v, o(p.q.size());
  const int64_t sb = 20 * 2 * 64, sn = 2 * 64;
  attngen_tensor tq = f32_view(q.data(), {2, 20, 2, 64}, {sb, sn, 64, 1});
  attngen_tensor tk = f32_view(k.data(), {2, 20, 2, 64}, {sb, sn, 64, 1});
  attngen_tensor tv = f32_view(v.data(), {2, 20, 2, 64}, {sb, sn, 64, 1});
  attngen_tensor to = f32_view(o.data(), {2, 20, 2, 64}, {sb, sn, 64, 1});
  ASSERT_EQ(attngen_dense(&tq, &tk, &tv, &to, nullptr), ATTNGEN_OK) << attngen_last_error();
  std::vector<float> contiguous;
  ASSERT_EQ(p.run(&contiguous), ATTNGEN_OK);
  EXPECT_TRUE(bitwise_equal(o, contiguous));
}

// ---- `stable` and repeatability ------------------------------------------------------------

// SPEC: every kernel subtracts the running max, so `stable` changes nothing.
TEST(DenseStable, StableOptionChangesNothing) {
  std::vector<DenseCase> cases;
  for (const DenseCase& c : option_cases())
    if (c.key_mask == KeyMask::Random && c.static_extra >= 0) cases.push_back(c);
  for (const DenseCase& c : decode_cases())
    if (c.offset == 20 && (c.D == 59 || c.D == 64)) cases.push_back(c);
  ASSERT_FALSE(cases.empty());
  for (const DenseCase& c : cases) {
    const DenseProblem p = c.problem();
    std::vector<float> plain, stable;
    ASSERT_EQ(p.run(&plain, false), ATTNGEN_OK) << c.name() << ": " << attngen_last_error();
    ASSERT_EQ(p.run(&stable, true), ATTNGEN_OK) << c.name() << ": " << attngen_last_error();
    EXPECT_TRUE(bitwise_equal(plain, stable)) << c.name();
  }
}

TEST(DenseStable, RepeatedCallsAreBitwiseEqual) {
  for (int N : {4, 100}) {
    DenseCase c;
    c.Nq = N;
    c.D = 64;
    c.causal = true;
    c.key_mask = KeyMask::Random;
    const DenseProblem p = c.problem();
    std::vector<float> a, b;
    ASSERT_EQ(p.run(&a), ATTNGEN_OK);
    ASSERT_EQ(p.run(&b), ATTNGEN_OK);
    EXPECT_TRUE(bitwise_equal(a, b)) << c.name();
  }
}

// Whatever out held before the call (NaN here) is fully overwritten.
TEST(DenseOutput, GarbageInOutIsOverwritten) {
  for (int N : {1, 37}) {
    const DenseProblem p = make_problem(2, N, 3, 3, 64, true, 38);
    std::vector<float> o(p.q.size(), std::nanf(""));
    std::vector<float> q = p.q, k = p.k, v = p.v;
    attngen_tensor tq = f32_view(q.data(), {p.B, N, p.H, p.D});
    attngen_tensor tk = f32_view(k.data(), {p.B, N, p.H, p.D});
    attngen_tensor tv = f32_view(v.data(), {p.B, N, p.H, p.D});
    attngen_tensor to = f32_view(o.data(), {p.B, N, p.H, p.D});
    attngen_dense_options opts;
    attngen_dense_options_init(&opts);
    opts.causal = 1;
    ASSERT_EQ(attngen_dense(&tq, &tk, &tv, &to, &opts), ATTNGEN_OK) << attngen_last_error();
    EXPECT_TRUE(all_close(o, p.reference(), p.B, N, p.H, p.D)) << "N = " << N;
  }
}

// The kernel that ran is reported after a successful call.
TEST(DenseOutput, LastKernelIsReported) {
  const DenseProblem p = make_problem(1, 9, 2, 2, 64, false, 39);
  std::vector<float> got;
  ASSERT_EQ(p.run(&got), ATTNGEN_OK);
  EXPECT_NE(std::string(attngen_last_kernel()).find("dense"), std::string::npos) << attngen_last_kernel();
}

// Prefill calls over at least kLongMinKeys keys take the Long kernel of
// their head dim when one is built (its own tuning key), else the Prefill
// one; the results are the same.
TEST(DenseOutput, LongKeySetsTakeTheLongKernel) {
  const attngen_device dev = host_call_device();
  bool have_long = false;
  for (const attngen::KernelEntry &e : attngen::kernel_table())
    have_long = have_long || (e.variant == "dense" && e.bucket == attngen::Bucket::Long && e.head_dim == 64 &&
                              e.dtype == ATTNGEN_F32 && e.device == dev);
  struct Case {
    int D, Nk;
    const char *bucket;
  };
  for (const Case c : {Case{64, int(attngen::kLongMinKeys), have_long ? "_long" : "_prefill"},
                       Case{64, int(attngen::kLongMinKeys) - 1, "_prefill"},
                       Case{40, int(attngen::kLongMinKeys), "_prefill"}}) {
    DenseProblem p;
    p.B = 1, p.H = p.Hkv = 1, p.D = c.D, p.Nq = 8, p.Nk = c.Nk, p.offset = c.Nk - 8, p.causal = true;
    std::mt19937 rng(c.Nk + c.D);
    p.fill_random(rng);
    SCOPED_TRACE(p.describe());
    std::vector<float> got;
    ASSERT_EQ(p.run(&got), ATTNGEN_OK) << attngen_last_error();
    EXPECT_NE(std::string(attngen_last_kernel()).find(c.bucket), std::string::npos) << attngen_last_kernel();
    EXPECT_TRUE(all_close(got, p.reference(), p.B, p.Nq, p.H, p.D));
  }
}

// A pinned kernel (runtime/src/dispatch.h; the benchmark's untuned and
// autoscheduled builds run through it) serves every call of its variant on
// the pinning thread only, and only while pinned.
TEST(DenseOutput, PinnedKernelServesItsThreadWhilePinned) {
  const DenseProblem p = make_problem(1, 20, 2, 2, 64, false, 41);
  std::vector<float> got;
  ASSERT_EQ(p.run(&got), ATTNGEN_OK);
  // attngen_last_kernel(): "<name> [<level>] <knobs>"
  auto last_name = [] {
    const std::string s = attngen_last_kernel();
    return s.substr(0, s.find(' '));
  };
  const std::string chosen = last_name();
  const attngen::KernelEntry *other = nullptr;
  for (const attngen::KernelEntry &e : attngen::kernel_table())
    if (e.variant == "dense" && e.dtype == ATTNGEN_F32 && e.device == host_call_device() && !e.rotary &&
        (e.head_dim == 0 || e.head_dim == 64) && e.name != chosen && !other)
      other = &e;
  if (!other) GTEST_SKIP() << "one dense f32 kernel for head dim 64 in this build";
  {
    attngen::PinnedKernel pin(other);
    std::vector<float> pinned;
    ASSERT_EQ(p.run(&pinned), ATTNGEN_OK) << attngen_last_error();
    EXPECT_EQ(last_name(), other->name);  // another bucket's kernel is fine: same math
    EXPECT_TRUE(all_close(pinned, p.reference(), p.B, p.Nq, p.H, p.D));
    std::string elsewhere;
    std::thread([&] {
      std::vector<float> g;
      if (p.run(&g) == ATTNGEN_OK) elsewhere = last_name();
    }).join();
    EXPECT_EQ(elsewhere, chosen);
  }
  ASSERT_EQ(p.run(&got), ATTNGEN_OK);
  EXPECT_EQ(last_name(), chosen);
}

}  // namespace
