// DALL-E sparse convolutional and axial attention against the reference,
// over randomised grids, plus argument validation.
#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

using namespace attngen_test;

struct SparseCase {
  bool conv = true;
  int B = 1, H = 2, D = 16;
  int image = 4, text = 5, n = 0;  // n = 0: the whole sequence
  int kernel = 3, dilation = 1, axis = 0;
  bool key_mask = false;
  int rotary = 0;  // rotary dim, 0 = off
  unsigned seed = 1;

  int seq_len() const { return text + image * image - 1; }
  int tokens() const { return n > 0 ? n : seq_len(); }
  std::string describe() const {
    std::ostringstream s;
    s << (conv ? "conv" : "axial") << " B=" << B << " H=" << H << " D=" << D << " image=" << image
      << " text=" << text << " n=" << tokens() << " seq_len=" << seq_len() << " kernel=" << kernel
      << " dil=" << dilation << " axis=" << axis << " key_mask=" << key_mask << " rotary=" << rotary;
    return s.str();
  }
};

void PrintTo(const SparseCase& c, std::ostream* os) { *os << c.describe(); }

// Runs the case through the API and the reference; checks closeness,
// exact zeros in rows with no key, and no write outside out.
void check_sparse(const SparseCase& c) {
  SCOPED_TRACE(c.describe());
  std::mt19937 rng(c.seed);
  const int N = c.tokens();
  const size_t sz = size_t(c.B) * N * c.H * c.D;
  std::vector<float> q = random_floats(sz, rng), k = random_floats(sz, rng), v = random_floats(sz, rng);
  std::vector<uint8_t> km;
  const int km_len = c.text + 2;  // wider than text_len: only the text part is read
  if (c.key_mask) km = random_mask(size_t(c.B) * km_len, rng, 0.7);
  std::vector<float> freqs;
  if (c.rotary) freqs = random_floats(size_t(N) * c.rotary, rng, -3.14159265f, 3.14159265f);

  constexpr size_t kGuard = 32;
  std::vector<float> buf(sz + 2 * kGuard, 777.f);
  attngen_tensor tq = f32_view(q.data(), {c.B, N, c.H, c.D}), tk = f32_view(k.data(), {c.B, N, c.H, c.D}),
                 tv = f32_view(v.data(), {c.B, N, c.H, c.D}), to = f32_view(buf.data() + kGuard, {c.B, N, c.H, c.D});
  attngen_tensor tkm = u8_view(km.data(), {c.B, km_len}), tfr = f32_view(freqs.data(), {N, c.rotary});
  attngen_sparse_options o;
  attngen_sparse_options_init(&o);
  o.seq_len = c.seq_len();
  o.image_size = c.image;
  o.kernel_size = c.kernel;
  o.dilation = c.dilation;
  o.axis = c.axis;
  o.key_mask = c.key_mask ? &tkm : nullptr;
  o.freqs = c.rotary ? &tfr : nullptr;
  const attngen_status st = c.conv ? attngen_sparse_conv(&tq, &tk, &tv, &to, &o) : attngen_sparse_axial(&tq, &tk, &tv, &to, &o);
  ASSERT_EQ(st, ATTNGEN_OK) << attngen_last_error();
  for (size_t i = 0; i < kGuard; ++i) {
    ASSERT_EQ(buf[i], 777.f) << "wrote before out";
    ASSERT_EQ(buf[kGuard + sz + i], 777.f) << "wrote after out";
  }
  std::vector<float> got(buf.begin() + kGuard, buf.begin() + kGuard + sz), want(sz);
  ref::SparseSeqOpts ro;
  ro.seq_len = c.seq_len();
  ro.image_size = c.image;
  ro.kernel_size = c.kernel;
  ro.dilation = c.dilation;
  ro.axis = c.axis;
  ro.key_mask = c.key_mask ? km.data() : nullptr;
  ro.key_mask_len = km_len;
  ro.freqs = c.rotary ? freqs.data() : nullptr;
  ro.freqs_n = N;
  ro.rotary_dim = c.rotary;
  const ref::Shape s{c.B, N, N, c.H, c.H, c.D, c.D};
  if (c.conv) {
    ref::sparse_conv(s, q.data(), k.data(), v.data(), want.data(), ro);
  } else {
    ref::sparse_axial(s, q.data(), k.data(), v.data(), want.data(), ro);
  }
  EXPECT_TRUE(all_close(got, want, c.B, N, c.H, c.D));
}

std::vector<SparseCase> random_cases(bool conv, int count, unsigned seed) {
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<SparseCase> cases;
  for (int i = 0; i < count; ++i) {
    SparseCase c;
    c.conv = conv;
    c.image = pick(1, 16);
    c.text = pick(1, 40);
    c.n = pick(1, c.seq_len());
    if (i % 4 == 0) c.n = c.seq_len();
    c.B = pick(1, 2);
    c.H = pick(1, 3);
    const int dims[] = {8, 16, 40, 64};
    c.D = dims[pick(0, 3)];
    c.kernel = 2 * pick(0, 3) + 1;
    c.dilation = pick(1, 3);
    c.axis = pick(0, 1);
    c.key_mask = pick(0, 1);
    c.rotary = pick(0, 2) == 0 ? 2 * pick(1, c.D / 2) : 0;
    c.seed = seed * 1000 + i;
    cases.push_back(c);
  }
  return cases;
}

class SparseConvRandom : public ::testing::TestWithParam<SparseCase> {};
TEST_P(SparseConvRandom, MatchesReference) { check_sparse(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Grid, SparseConvRandom, ::testing::ValuesIn(random_cases(true, 48, 11)));

class SparseAxialRandom : public ::testing::TestWithParam<SparseCase> {};
TEST_P(SparseAxialRandom, MatchesReference) { check_sparse(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Grid, SparseAxialRandom, ::testing::ValuesIn(random_cases(false, 48, 12)));

TEST(SparseConv, DalleShape) {
  SparseCase c;
  c.image = 32;
  c.text = 257;
  c.H = 2;
  c.D = 64;
  c.kernel = 5;
  c.key_mask = true;
  check_sparse(c);
}

TEST(SparseConv, HugeKernelIsTheWholeUpperLeft) {
  SparseCase c;
  c.image = 6;
  c.text = 3;
  c.kernel = 1001;  // clipped to the grid: every cell above-left
  check_sparse(c);
}

TEST(SparseAxial, DalleShapeColumns) {
  SparseCase c;
  c.conv = false;
  c.axis = 1;
  c.image = 32;
  c.text = 257;
  c.H = 1;
  c.D = 64;
  c.key_mask = true;
  c.rotary = 32;
  check_sparse(c);
}

// The heap scratch of a call is the key-major copy of K (plus the small
// position tables; rows read their keys in place, so only the tables):
// every per-tile and per-chunk buffer has a constant size and lives on the
// stack. (Halide 14 had given the image phase's score, P@V
// and chunk buffers a run-time size, so each image tile allocated them on
// the heap and kept the P@V accumulators in memory.) Head dim 64, the
// specialised kernels: generic-head-dim kernels size their per-tile state
// by the run-time head dim, on the heap.
TEST(SparseScratch, OnlyTheKeyCopyIsOnTheHeap) {
  for (int pattern = 0; pattern < 3; ++pattern) {
    SparseCase c;
    c.conv = pattern == 0;
    c.axis = pattern == 2;
    c.text = 33;
    c.image = 16;
    c.H = 2;
    c.D = 64;
    c.kernel = 5;
    check_sparse(c);
    attngen_call_stats st{};
    ASSERT_EQ(attngen_last_call_stats(&st), ATTNGEN_OK);
    const std::string kernel = attngen_last_kernel();
    if (kernel.find("_d64_") == std::string::npos) {
      GTEST_SKIP() << "served by " << kernel << ": this build has no head-dim-64 kernel (sanitizer builds keep the generic ones)";
    }
    // The copy spans the keys the image slots reach: the query positions
    // less the farthest slot offset, plus a vector of padding.
    const int G = c.image;
    const int64_t reach = pattern == 0 ? int64_t(c.kernel - 1) * c.dilation * (G + 1) : int64_t(G - 1) * G;
    const int64_t N = c.tokens();
    const int64_t key_copy = pattern == 1 ? 0 : int64_t(c.B) * c.H * (N + reach + 32) * c.D * 4;
    const int64_t tables = 16 * N + 4096;
    if (host_call_device() == ATTNGEN_DEVICE_CPU) {
      EXPECT_GT(st.total_scratch_bytes, 0) << c.describe();
    }
    EXPECT_LE(st.total_scratch_bytes, key_copy + tables) << c.describe() << " (peak " << st.peak_scratch_bytes << ")";
  }
}

// ---- Bad input ----------------------------------------------------------------
struct SparseArgs {
  std::vector<float> q, k, v, out;
  attngen_tensor tq, tk, tv, to;
  attngen_sparse_options o;
  explicit SparseArgs(int n = 20, int D = 16) : q(size_t(n) * D, 0.1f), k(q), v(q), out(q) {
    tq = f32_view(q.data(), {1, n, 1, D});
    tk = f32_view(k.data(), {1, n, 1, D});
    tv = f32_view(v.data(), {1, n, 1, D});
    to = f32_view(out.data(), {1, n, 1, D});
    attngen_sparse_options_init(&o);
    o.seq_len = 20;  // text 5 + 4x4
    o.image_size = 4;
  }
  attngen_status conv() { return attngen_sparse_conv(&tq, &tk, &tv, &to, &o); }
  attngen_status axial() { return attngen_sparse_axial(&tq, &tk, &tv, &to, &o); }
};

TEST(SparseErrors, GoodCallIsAccepted) {
  SparseArgs a;
  EXPECT_EQ(a.conv(), ATTNGEN_OK) << attngen_last_error();
  EXPECT_EQ(a.axial(), ATTNGEN_OK) << attngen_last_error();
}

TEST(SparseErrors, EvenKernel) {
  SparseArgs a;
  a.o.kernel_size = 4;
  EXPECT_EQ(a.conv(), ATTNGEN_ERR_OPTION);
  EXPECT_NE(std::string(attngen_last_error()).find("kernel_size"), std::string::npos);
}

TEST(SparseErrors, BadDilationAndAxis) {
  SparseArgs a;
  a.o.dilation = 0;
  EXPECT_EQ(a.conv(), ATTNGEN_ERR_OPTION);
  SparseArgs b;
  b.o.axis = 2;
  EXPECT_EQ(b.axial(), ATTNGEN_ERR_OPTION);
  EXPECT_NE(std::string(attngen_last_error()).find("axis"), std::string::npos);
}

TEST(SparseErrors, TextLenBelowOne) {
  SparseArgs a;
  a.o.image_size = 5;  // 25 cells > seq_len: text_len = 20 + 1 - 25 < 1
  EXPECT_EQ(a.conv(), ATTNGEN_ERR_OPTION);
  EXPECT_NE(std::string(attngen_last_error()).find("text_len"), std::string::npos);
}

TEST(SparseErrors, MoreTokensThanSeqLen) {
  SparseArgs a(21);
  EXPECT_EQ(a.conv(), ATTNGEN_ERR_SHAPE);
  EXPECT_NE(std::string(attngen_last_error()).find("seq_len"), std::string::npos);
}

TEST(SparseErrors, NullOptionsAndTensors) {
  SparseArgs a;
  EXPECT_EQ(attngen_sparse_conv(&a.tq, &a.tk, &a.tv, &a.to, nullptr), ATTNGEN_ERR_NULL_ARGUMENT);
  EXPECT_EQ(attngen_sparse_axial(nullptr, &a.tk, &a.tv, &a.to, &a.o), ATTNGEN_ERR_NULL_ARGUMENT);
}

TEST(SparseErrors, KeyMaskTooShortOrWrongBatch) {
  SparseArgs a;
  std::vector<uint8_t> km(8, 1);
  attngen_tensor t = u8_view(km.data(), {1, 4});  // text_len is 5
  a.o.key_mask = &t;
  EXPECT_EQ(a.conv(), ATTNGEN_ERR_SHAPE);
  attngen_tensor t2 = u8_view(km.data(), {2, 4});
  a.o.key_mask = &t2;
  EXPECT_EQ(a.axial(), ATTNGEN_ERR_SHAPE);
}

TEST(SparseErrors, CrossAttentionRefused) {
  SparseArgs a;
  a.tk.shape[1] = a.tv.shape[1] = 10;
  EXPECT_EQ(a.conv(), ATTNGEN_ERR_SHAPE);
}

TEST(SparseErrors, OddRotaryDim) {
  SparseArgs a;
  std::vector<float> fr(20 * 3, 0.f);
  attngen_tensor t = f32_view(fr.data(), {20, 3});
  a.o.freqs = &t;
  EXPECT_EQ(a.conv(), ATTNGEN_ERR_SHAPE);
}

}  // namespace
