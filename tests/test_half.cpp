// Half-precision storage (f16, bf16) for every variant, grouped-query
// attention (group sizes 1, 2, 4, 8, decode included), mixed-type refusals
// and attngen_convert. Each kernel runs on inputs held in the storage type;
// the float64 reference runs on the same (rounded) values, so the only
// expected difference is the output's rounding to the storage type.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

using namespace attngen_test;

// Output rounding of the storage type (half an ulp relative, plus fp32
// accumulation noise).
struct Tol {
  double rtol, atol;
};
Tol tol_for(attngen_dtype t) { return t == ATTNGEN_F16 ? Tol{2e-3, 1e-3} : Tol{1e-2, 4e-3}; }
const char* name_of(attngen_dtype t) { return t == ATTNGEN_F16 ? "f16" : "bf16"; }

// Values held in a half type: bits + the float values they represent.
struct Half {
  attngen_dtype type;
  std::vector<uint16_t> bits;
  std::vector<float> values;
  Half(attngen_dtype t, const std::vector<float>& x) : type(t), bits(x.size()), values(x.size()) {
    EXPECT_EQ(attngen_convert(x.data(), ATTNGEN_F32, bits.data(), t, int64_t(x.size())), ATTNGEN_OK);
    EXPECT_EQ(attngen_convert(bits.data(), t, values.data(), ATTNGEN_F32, int64_t(x.size())), ATTNGEN_OK);
  }
  Half(attngen_dtype t, size_t n) : type(t), bits(n), values(n) {}
  attngen_tensor view(std::initializer_list<int64_t> shape) { return make_view(bits.data(), type, shape); }
  std::vector<float> to_f32() const {
    std::vector<float> f(bits.size());
    EXPECT_EQ(attngen_convert(bits.data(), type, f.data(), ATTNGEN_F32, int64_t(bits.size())), ATTNGEN_OK);
    return f;
  }
};

std::string api_error(attngen_status s) {
  return std::string(attngen_status_string(s)) + ": " + attngen_last_error();
}

// ---- Dense, GQA, decode ------------------------------------------------------------

struct DenseCase {
  attngen_dtype type;
  int B, Nq, Nk, H, Hkv, D;
  bool causal;
  int offset;
  bool key_mask, rotary;
};
std::string describe(const DenseCase& c) {
  std::ostringstream s;
  s << name_of(c.type) << " B=" << c.B << " Nq=" << c.Nq << " Nk=" << c.Nk << " H=" << c.H << " Hkv=" << c.Hkv
    << " D=" << c.D << " causal=" << c.causal << " offset=" << c.offset << " key_mask=" << c.key_mask
    << " rotary=" << c.rotary;
  return s.str();
}

class HalfDense : public ::testing::TestWithParam<DenseCase> {};

TEST_P(HalfDense, MatchesReference) {
  const DenseCase& c = GetParam();
  SCOPED_TRACE(describe(c));
  std::mt19937 rng(1234 + c.Nq * 7 + c.H + c.D);
  Half q(c.type, random_floats(size_t(c.B) * c.Nq * c.H * c.D, rng));
  Half k(c.type, random_floats(size_t(c.B) * c.Nk * c.Hkv * c.D, rng));
  Half v(c.type, random_floats(size_t(c.B) * c.Nk * c.Hkv * c.D, rng));
  Half out(c.type, size_t(c.B) * c.Nq * c.H * c.D);
  std::vector<uint8_t> km = c.key_mask ? random_mask(size_t(c.B) * c.Nk, rng, 0.7) : std::vector<uint8_t>();
  const int R = c.rotary ? (c.D / 2) & ~1 : 0;
  std::vector<float> freqs = c.rotary ? random_floats(size_t(c.Nk) * R, rng, -3.f, 3.f) : std::vector<float>();

  attngen_tensor tq = q.view({c.B, c.Nq, c.H, c.D}), tk = k.view({c.B, c.Nk, c.Hkv, c.D}),
                 tv = v.view({c.B, c.Nk, c.Hkv, c.D}), to = out.view({c.B, c.Nq, c.H, c.D});
  attngen_tensor tkm = u8_view(km.data(), {c.B, c.Nk});
  attngen_tensor tfr = f32_view(freqs.data(), {c.Nk, R});
  attngen_dense_options o;
  attngen_dense_options_init(&o);
  o.causal = c.causal;
  o.offset = c.offset;
  if (c.key_mask) o.key_mask = &tkm;
  if (c.rotary) o.freqs = &tfr;
  const attngen_status s = attngen_dense(&tq, &tk, &tv, &to, &o);
  ASSERT_EQ(s, ATTNGEN_OK) << api_error(s);
  EXPECT_NE(std::string(attngen_last_kernel()).find(std::string("_") + name_of(c.type) + "_"), std::string::npos)
      << attngen_last_kernel();

  ref::Shape sh{c.B, c.Nq, c.Nk, c.H, c.Hkv, c.D, c.D};
  ref::DenseOpts ro;
  ro.causal = c.causal;
  ro.offset = c.offset;
  ro.key_mask = c.key_mask ? km.data() : nullptr;
  if (c.rotary) {
    ro.freqs = freqs.data();
    ro.freqs_n = c.Nk;
    ro.rotary_dim = R;
  }
  std::vector<float> want(out.bits.size());
  ref::dense(sh, q.values.data(), k.values.data(), v.values.data(), want.data(), ro);
  const Tol t = tol_for(c.type);
  EXPECT_TRUE(all_close(out.to_f32(), want, c.B, c.Nq, c.H, c.D, t.rtol, t.atol));
}

std::vector<DenseCase> dense_cases() {
  std::vector<DenseCase> v;
  for (attngen_dtype t : {ATTNGEN_F16, ATTNGEN_BF16}) {
    v.push_back({t, 1, 96, 96, 2, 2, 64, true, 0, false, false});    // golden-like, specialised D64
    v.push_back({t, 2, 37, 37, 3, 3, 40, false, 0, true, false});    // generic head dim, key mask
    v.push_back({t, 1, 70, 70, 2, 2, 64, true, 0, false, true});     // fused rotary
    v.push_back({t, 1, 4, 24, 2, 2, 64, true, 20, false, false});    // decode, Nq 4
    v.push_back({t, 1, 1, 130, 4, 4, 32, true, 129, false, true});   // decode + rotary
    for (int g : {1, 2, 4, 8}) {                                     // GQA, prefill and decode
      v.push_back({t, 1, 33, 33, 8, 8 / g, 64, true, 0, false, false});
      v.push_back({t, 2, 1, 77, 8, 8 / g, 64, true, 76, g == 4, false});
    }
  }
  return v;
}
INSTANTIATE_TEST_SUITE_P(Types, HalfDense, ::testing::ValuesIn(dense_cases()),
                         [](const ::testing::TestParamInfo<DenseCase>& i) { return "case" + std::to_string(i.index); });

// GQA reads shared K/V heads in place: the result equals the same call with
// K/V broadcast to every query head, bit for bit (f32 and both half types).
// A decode step (Nq = 1) runs the folded group kernel (the heads of a group
// as queries of one K/V head): same values up to summation order.
TEST(Gqa, EqualsBroadcastHeadsBitwise) {
  for (attngen_dtype t : {ATTNGEN_F32, ATTNGEN_F16, ATTNGEN_BF16}) {
    for (int g : {2, 4, 8}) {
      for (int Nq : {1, 50}) {
        SCOPED_TRACE(std::string(t == ATTNGEN_F32 ? "f32" : name_of(t)) + " group " + std::to_string(g) +
                     " Nq " + std::to_string(Nq));
        const int B = 1, H = 8, Hkv = H / g, D = 64, Nk = 50, off = Nk - Nq;
        std::mt19937 rng(g * 100 + Nq);
        const size_t es = t == ATTNGEN_F32 ? 4 : 2;
        auto rnd = [&](size_t n) {
          std::vector<float> f = random_floats(n, rng);
          std::vector<uint8_t> b(n * es);
          EXPECT_EQ(attngen_convert(f.data(), ATTNGEN_F32, b.data(), t, int64_t(n)), ATTNGEN_OK);
          return b;
        };
        std::vector<uint8_t> q = rnd(size_t(B) * Nq * H * D), k = rnd(size_t(B) * Nk * Hkv * D),
                             v = rnd(size_t(B) * Nk * Hkv * D);
        std::vector<uint8_t> kb(size_t(B) * Nk * H * D * es), vb(kb.size());
        for (int j = 0; j < Nk; j++)
          for (int h = 0; h < H; h++) {
            std::memcpy(&kb[((size_t(j) * H + h) * D) * es], &k[((size_t(j) * Hkv + h / g) * D) * es], D * es);
            std::memcpy(&vb[((size_t(j) * H + h) * D) * es], &v[((size_t(j) * Hkv + h / g) * D) * es], D * es);
          }
        std::vector<uint8_t> o1(size_t(B) * Nq * H * D * es), o2(o1.size());
        attngen_tensor tq = make_view(q.data(), t, {B, Nq, H, D}), tk = make_view(k.data(), t, {B, Nk, Hkv, D}),
                       tv = make_view(v.data(), t, {B, Nk, Hkv, D}), to1 = make_view(o1.data(), t, {B, Nq, H, D}),
                       tkb = make_view(kb.data(), t, {B, Nk, H, D}), tvb = make_view(vb.data(), t, {B, Nk, H, D}),
                       to2 = make_view(o2.data(), t, {B, Nq, H, D});
        attngen_dense_options o;
        attngen_dense_options_init(&o);
        o.causal = 1;
        o.offset = off;
        ASSERT_EQ(attngen_dense(&tq, &tk, &tv, &to1, &o), ATTNGEN_OK) << attngen_last_error();
        const std::string grouped_kernel = attngen_last_kernel();
        ASSERT_EQ(attngen_dense(&tq, &tkb, &tvb, &to2, &o), ATTNGEN_OK) << attngen_last_error();
        if (Nq > 1) {
          EXPECT_EQ(o1, o2);
          continue;
        }
        EXPECT_NE(grouped_kernel.find("_group"), std::string::npos) << grouped_kernel;
        std::vector<float> f1(size_t(B) * Nq * H * D), f2(f1.size());
        ASSERT_EQ(attngen_convert(o1.data(), t, f1.data(), ATTNGEN_F32, int64_t(f1.size())), ATTNGEN_OK);
        ASSERT_EQ(attngen_convert(o2.data(), t, f2.data(), ATTNGEN_F32, int64_t(f2.size())), ATTNGEN_OK);
        const Tol tol = t == ATTNGEN_F32 ? Tol{kRtol, kAtol} : tol_for(t);
        EXPECT_TRUE(all_close(f1, f2, B, Nq, H, D, tol.rtol, tol.atol));
      }
    }
  }
}

// ---- DALL-E sparse ---------------------------------------------------------------------

struct SparseCase {
  attngen_dtype type;
  bool conv;
  int axis, image, text, n, kernel, dilation;
  bool key_mask, rotary;
  int Hkv = 2;  // of H = 2 query heads (1: multi-query)
};

class HalfSparse : public ::testing::TestWithParam<SparseCase> {};

TEST_P(HalfSparse, MatchesReference) {
  const SparseCase& c = GetParam();
  const int seq_len = c.text + c.image * c.image - 1, B = 2, H = 2, Hkv = c.Hkv, D = 64;
  SCOPED_TRACE(std::string(name_of(c.type)) + (c.conv ? " conv" : " axial") + " axis=" + std::to_string(c.axis) +
               " n=" + std::to_string(c.n) + " seq_len=" + std::to_string(seq_len));
  std::mt19937 rng(77 + c.n);
  const size_t sz = size_t(B) * c.n * H * D, kv = size_t(B) * c.n * Hkv * D;
  Half q(c.type, random_floats(sz, rng)), k(c.type, random_floats(kv, rng)), v(c.type, random_floats(kv, rng));
  Half out(c.type, sz);
  std::vector<uint8_t> km = random_mask(size_t(B) * c.text, rng, 0.8);
  const int R = c.rotary ? 32 : 0;
  std::vector<float> freqs = random_floats(size_t(c.n) * std::max(R, 1), rng, -3.f, 3.f);
  attngen_tensor tq = q.view({B, c.n, H, D}), tk = k.view({B, c.n, Hkv, D}), tv = v.view({B, c.n, Hkv, D}),
                 to = out.view({B, c.n, H, D});
  attngen_tensor tkm = u8_view(km.data(), {B, c.text}), tfr = f32_view(freqs.data(), {c.n, R});
  attngen_sparse_options o;
  attngen_sparse_options_init(&o);
  o.seq_len = seq_len;
  o.image_size = c.image;
  o.kernel_size = c.kernel;
  o.dilation = c.dilation;
  o.axis = c.axis;
  if (c.key_mask) o.key_mask = &tkm;
  if (c.rotary) o.freqs = &tfr;
  const attngen_status s =
      c.conv ? attngen_sparse_conv(&tq, &tk, &tv, &to, &o) : attngen_sparse_axial(&tq, &tk, &tv, &to, &o);
  ASSERT_EQ(s, ATTNGEN_OK) << api_error(s);

  ref::Shape sh{B, c.n, c.n, H, Hkv, D, D};
  ref::SparseSeqOpts ro{seq_len, c.image};
  ro.kernel_size = c.kernel;
  ro.dilation = c.dilation;
  ro.axis = c.axis;
  if (c.key_mask) {
    ro.key_mask = km.data();
    ro.key_mask_len = c.text;
  }
  if (c.rotary) {
    ro.freqs = freqs.data();
    ro.freqs_n = c.n;
    ro.rotary_dim = R;
  }
  std::vector<float> want(sz);
  if (c.conv) {
    ref::sparse_conv(sh, q.values.data(), k.values.data(), v.values.data(), want.data(), ro);
  } else {
    ref::sparse_axial(sh, q.values.data(), k.values.data(), v.values.data(), want.data(), ro);
  }
  const Tol t = tol_for(c.type);
  EXPECT_TRUE(all_close(out.to_f32(), want, B, c.n, H, D, t.rtol, t.atol));
}

std::vector<SparseCase> sparse_cases() {
  std::vector<SparseCase> v;
  for (attngen_dtype t : {ATTNGEN_F16, ATTNGEN_BF16}) {
    v.push_back({t, true, 0, 8, 9, 72, 5, 1, false, false});
    v.push_back({t, true, 0, 6, 13, 40, 3, 2, true, true});
    v.push_back({t, false, 0, 8, 9, 72, 1, 1, true, false});
    v.push_back({t, false, 1, 7, 20, 60, 1, 1, false, true});
    v.push_back({t, true, 0, 5, 4, 28, 3, 1, true, false, 1});   // multi-query K/V
    v.push_back({t, false, 0, 5, 4, 28, 1, 1, false, false, 1});
  }
  return v;
}
INSTANTIATE_TEST_SUITE_P(Types, HalfSparse, ::testing::ValuesIn(sparse_cases()),
                         [](const ::testing::TestParamInfo<SparseCase>& i) { return "case" + std::to_string(i.index); });

// ---- Block-sparse and chunked ------------------------------------------------------------

class HalfTyped : public ::testing::TestWithParam<attngen_dtype> {};

TEST_P(HalfTyped, BlockSparseMatchesReference) {
  const attngen_dtype type = GetParam();
  const int B = 1, N = 100, H = 4, Hkv = 2, D = 48, block = 16, nb = (N + block - 1) / block;
  std::mt19937 rng(5);
  Half q(type, random_floats(size_t(B) * N * H * D, rng)), k(type, random_floats(size_t(B) * N * Hkv * D, rng)),
      v(type, random_floats(size_t(B) * N * Hkv * D, rng)), out(type, size_t(B) * N * H * D);
  std::vector<uint8_t> layout = random_mask(size_t(H) * nb * nb, rng, 0.5);
  for (int h = 0; h < H; h++)
    for (int r = 0; r < nb; r++) layout[(size_t(h) * nb + r) * nb + r] = 1;
  attngen_tensor tl = u8_view(layout.data(), {H, nb, nb});
  attngen_block_layout* handle = nullptr;
  ASSERT_EQ(attngen_block_layout_create(&tl, block, 1, &handle), ATTNGEN_OK) << attngen_last_error();
  attngen_tensor tq = q.view({B, N, H, D}), tk = k.view({B, N, Hkv, D}), tv = v.view({B, N, Hkv, D}),
                 to = out.view({B, N, H, D});
  const attngen_status s = attngen_block_sparse(&tq, &tk, &tv, &to, handle, nullptr);
  attngen_block_layout_destroy(handle);
  ASSERT_EQ(s, ATTNGEN_OK) << api_error(s);
  std::vector<float> want(out.bits.size());
  ref::block_sparse({B, N, N, H, Hkv, D, D}, q.values.data(), k.values.data(), v.values.data(), want.data(),
                    layout.data(), block, true, nullptr);
  const Tol t = tol_for(type);
  EXPECT_TRUE(all_close(out.to_f32(), want, B, N, H, D, t.rtol, t.atol));
}

TEST_P(HalfTyped, ChunkedMatchesReference) {
  const attngen_dtype type = GetParam();
  // Nq != Nk, Dv != D, multi-query (one K/V head), several query chunks.
  const int B = 2, Nq = 150, Nk = 77, H = 4, Hkv = 1, D = 40, Dv = 24;
  std::mt19937 rng(9);
  Half q(type, random_floats(size_t(B) * Nq * H * D, rng)), k(type, random_floats(size_t(B) * Nk * Hkv * D, rng)),
      v(type, random_floats(size_t(B) * Nk * Hkv * Dv, rng)), out(type, size_t(B) * Nq * H * Dv);
  attngen_tensor tq = q.view({B, Nq, H, D}), tk = k.view({B, Nk, Hkv, D}), tv = v.view({B, Nk, Hkv, Dv}),
                 to = out.view({B, Nq, H, Dv});
  attngen_chunked_options o;
  attngen_chunked_options_init(&o);
  o.query_chunk_size = 64;
  const attngen_status s = attngen_chunked(&tq, &tk, &tv, &to, &o);
  ASSERT_EQ(s, ATTNGEN_OK) << api_error(s);
  std::vector<float> want(out.bits.size());
  ref::chunked({B, Nq, Nk, H, Hkv, D, Dv}, q.values.data(), k.values.data(), v.values.data(), want.data());
  const Tol t = tol_for(type);
  EXPECT_TRUE(all_close(out.to_f32(), want, B, Nq, H, Dv, t.rtol, t.atol));
}

INSTANTIATE_TEST_SUITE_P(Types, HalfTyped, ::testing::Values(ATTNGEN_F16, ATTNGEN_BF16),
                         [](const ::testing::TestParamInfo<attngen_dtype>& i) { return name_of(i.param); });

// ---- Refusals ----------------------------------------------------------------------------------

TEST(HalfErrors, MixedStorageTypesAreRefused) {
  std::vector<uint16_t> h(2 * 8 * 2 * 16);
  std::vector<float> f(h.size());
  attngen_tensor q16 = make_view(h.data(), ATTNGEN_F16, {2, 8, 2, 16});
  attngen_tensor k16 = make_view(h.data(), ATTNGEN_F16, {2, 8, 2, 16});
  attngen_tensor kbf = make_view(h.data(), ATTNGEN_BF16, {2, 8, 2, 16});
  attngen_tensor k32 = f32_view(f.data(), {2, 8, 2, 16});
  std::vector<uint16_t> ob(h.size());
  std::vector<float> of(h.size());
  attngen_tensor o16 = make_view(ob.data(), ATTNGEN_F16, {2, 8, 2, 16});
  attngen_tensor o32 = f32_view(of.data(), {2, 8, 2, 16});
  attngen_tensor obf = make_view(ob.data(), ATTNGEN_BF16, {2, 8, 2, 16});
  struct Bad {
    const attngen_tensor *q, *k, *v, *out;
    const char* arg;
  } bad[] = {{&q16, &k32, &k16, &o16, "k"},
             {&q16, &kbf, &k16, &o16, "k"},
             {&q16, &k16, &k32, &o16, "v"},
             {&q16, &k16, &k16, &o32, "out"},
             {&q16, &k16, &k16, &obf, "out"},
             {&k32, &k16, &k16, &o16, "k"}};
  for (const Bad& b : bad) {
    EXPECT_EQ(attngen_dense(b.q, b.k, b.v, const_cast<attngen_tensor*>(b.out), nullptr), ATTNGEN_ERR_DTYPE);
    EXPECT_EQ(std::string(attngen_last_error()).rfind(std::string(b.arg) + ":", 0), 0u) << attngen_last_error();
    EXPECT_EQ(attngen_chunked(b.q, b.k, b.v, const_cast<attngen_tensor*>(b.out), nullptr), ATTNGEN_ERR_DTYPE);
  }
  // Rotary tables stay f32; u8 is not a storage type.
  attngen_tensor fr16 = make_view(h.data(), ATTNGEN_F16, {8, 8});
  attngen_dense_options o;
  attngen_dense_options_init(&o);
  o.freqs = &fr16;
  EXPECT_EQ(attngen_dense(&q16, &k16, &k16, &o16, &o), ATTNGEN_ERR_DTYPE);
  std::vector<uint8_t> u(h.size());
  attngen_tensor q8 = make_view(u.data(), ATTNGEN_U8, {2, 8, 2, 16});
  EXPECT_EQ(attngen_dense(&q8, &k16, &k16, &o16, nullptr), ATTNGEN_ERR_DTYPE);
}

// ---- attngen_convert ----------------------------------------------------------------------------

TEST(Convert, KnownValuesRoundToNearestEven) {
  const float in[] = {1.0f, -2.0f, 65504.0f, 65520.0f, 1e-8f, 5.960464477539063e-08f /* 2^-24 */,
                      1.0f + 1.0f / 2048.0f /* tie: to even (1.0) */, 1.0f + 3.0f / 2048.0f /* tie: up */,
                      INFINITY, 0.0f};
  const uint16_t want16[] = {0x3c00, 0xc000, 0x7bff, 0x7c00, 0x0000, 0x0001, 0x3c00, 0x3c02, 0x7c00, 0x0000};
  uint16_t got[10];
  ASSERT_EQ(attngen_convert(in, ATTNGEN_F32, got, ATTNGEN_F16, 10), ATTNGEN_OK);
  for (int i = 0; i < 10; i++) EXPECT_EQ(got[i], want16[i]) << "f16 of " << in[i];
  const float inb[] = {1.0f, 1.0f + 1.0f / 256.0f /* tie: to even */, 1.0f + 3.0f / 256.0f /* tie: up */, -0.0f};
  const uint16_t wantb[] = {0x3f80, 0x3f80, 0x3f82, 0x8000};
  ASSERT_EQ(attngen_convert(inb, ATTNGEN_F32, got, ATTNGEN_BF16, 4), ATTNGEN_OK);
  for (int i = 0; i < 4; i++) EXPECT_EQ(got[i], wantb[i]) << "bf16 of " << inb[i];
  // NaN stays NaN both ways; f16 -> f32 is exact (subnormals included).
  const float nan = NAN;
  float back;
  for (attngen_dtype t : {ATTNGEN_F16, ATTNGEN_BF16}) {
    ASSERT_EQ(attngen_convert(&nan, ATTNGEN_F32, got, t, 1), ATTNGEN_OK);
    ASSERT_EQ(attngen_convert(got, t, &back, ATTNGEN_F32, 1), ATTNGEN_OK);
    EXPECT_TRUE(std::isnan(back));
  }
  for (uint32_t b = 0; b < 0x7c00; b++) {
    const uint16_t h = static_cast<uint16_t>(b);
    uint16_t again;
    ASSERT_EQ(attngen_convert(&h, ATTNGEN_F16, &back, ATTNGEN_F32, 1), ATTNGEN_OK);
    ASSERT_EQ(attngen_convert(&back, ATTNGEN_F32, &again, ATTNGEN_F16, 1), ATTNGEN_OK);
    ASSERT_EQ(again, h) << "f16 bits " << b << " do not round-trip";
  }
  EXPECT_EQ(attngen_convert(nullptr, ATTNGEN_F32, got, ATTNGEN_F16, 1), ATTNGEN_ERR_NULL_ARGUMENT);
  EXPECT_EQ(attngen_convert(in, ATTNGEN_U8, got, ATTNGEN_F16, 1), ATTNGEN_ERR_DTYPE);
  EXPECT_EQ(attngen_convert(in, ATTNGEN_F32, got, ATTNGEN_F16, -1), ATTNGEN_ERR_OPTION);
}

}  // namespace
