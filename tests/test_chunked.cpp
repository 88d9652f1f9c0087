// Chunked memory-efficient attention against the reference: randomised
// shapes (self and cross, Nk = 1, Dv != D, grouped K/V heads), query and
// KV chunk sizes that do and do not divide the lengths, results independent
// of the chunking, memory accounting, and argument validation.
#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <vector>

#include "test_util.h"

namespace {

using namespace attngen_test;

struct ChunkCase {
  int B = 1, Nq = 10, Nk = 10, H = 1, Hkv = 1, D = 16, Dv = 16;
  int64_t query_chunk = 0, kv_chunk = 0;
  unsigned seed = 1;
  std::string describe() const {
    std::ostringstream s;
    s << "B=" << B << " Nq=" << Nq << " Nk=" << Nk << " H=" << H << " Hkv=" << Hkv << " D=" << D << " Dv=" << Dv
      << " query_chunk=" << query_chunk << " kv_chunk=" << kv_chunk;
    return s.str();
  }
};
void PrintTo(const ChunkCase& c, std::ostream* os) { *os << c.describe(); }

struct ChunkData {
  std::vector<float> q, k, v;
  explicit ChunkData(const ChunkCase& c) {
    std::mt19937 rng(c.seed);
    q = random_floats(size_t(c.B) * c.Nq * c.H * c.D, rng);
    k = random_floats(size_t(c.B) * c.Nk * c.Hkv * c.D, rng);
    v = random_floats(size_t(c.B) * c.Nk * c.Hkv * c.Dv, rng);
  }
  attngen_status run(const ChunkCase& c, std::vector<float>* out) {
    out->assign(size_t(c.B) * c.Nq * c.H * c.Dv, -3.f);
    attngen_tensor tq = f32_view(q.data(), {c.B, c.Nq, c.H, c.D}), tk = f32_view(k.data(), {c.B, c.Nk, c.Hkv, c.D}),
                   tv = f32_view(v.data(), {c.B, c.Nk, c.Hkv, c.Dv}),
                   to = f32_view(out->data(), {c.B, c.Nq, c.H, c.Dv});
    attngen_chunked_options o;
    attngen_chunked_options_init(&o);
    o.query_chunk_size = c.query_chunk;
    o.kv_chunk_size = c.kv_chunk;
    return attngen_chunked(&tq, &tk, &tv, &to, &o);
  }
  std::vector<float> reference(const ChunkCase& c) const {
    std::vector<float> want(size_t(c.B) * c.Nq * c.H * c.Dv);
    ref::chunked({c.B, c.Nq, c.Nk, c.H, c.Hkv, c.D, c.Dv}, q.data(), k.data(), v.data(), want.data());
    return want;
  }
};

void check_chunked(const ChunkCase& c) {
  SCOPED_TRACE(c.describe());
  ChunkData data(c);
  std::vector<float> got;
  ASSERT_EQ(data.run(c, &got), ATTNGEN_OK) << attngen_last_error();
  EXPECT_TRUE(all_close(got, data.reference(c), c.B, c.Nq, c.H, c.Dv));
}

std::vector<ChunkCase> chunk_cases() {
  std::vector<ChunkCase> cases;
  std::mt19937 rng(21);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int dims[] = {8, 16, 40, 64, 80, 128};
  for (int i = 0; i < 40; ++i) {
    ChunkCase c;
    c.Nq = pick(1, 600);
    c.Nk = i % 8 == 0 ? 1 : pick(1, 600);
    if (i % 5 == 0) c.Nk = c.Nq;
    c.B = pick(1, 2);
    c.Hkv = pick(1, 2);
    c.H = c.Hkv * (1 << pick(0, 2));
    c.D = dims[pick(0, 5)];
    c.Dv = i % 3 == 0 ? dims[pick(0, 5)] : c.D;
    const int64_t qc[] = {0, 1, 7, 64, 128, 1000};
    c.query_chunk = qc[pick(0, 5)];
    c.seed = 300 + i;
    cases.push_back(c);
  }
  return cases;
}

class ChunkedRandom : public ::testing::TestWithParam<ChunkCase> {};
TEST_P(ChunkedRandom, MatchesReference) { check_chunked(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Shapes, ChunkedRandom, ::testing::ValuesIn(chunk_cases()));

// Query chunk sizes and pinned KV chunk sizes change rounding only.
TEST(Chunked, ResultIndependentOfChunking) {
  ChunkCase c;
  c.B = 1;
  c.Nq = 333;
  c.Nk = 517;
  c.H = 2;
  c.Hkv = 2;
  c.D = c.Dv = 64;
  ChunkData data(c);
  std::vector<float> base;
  ASSERT_EQ(data.run(c, &base), ATTNGEN_OK) << attngen_last_error();
  const std::vector<float> want = data.reference(c);
  EXPECT_TRUE(all_close(base, want, c.B, c.Nq, c.H, c.Dv));
  const std::vector<int64_t> qcs = emulated() ? std::vector<int64_t>{5, 100, 5000}
                                               : std::vector<int64_t>{1, 5, 32, 100, 333, 5000};
  const std::vector<int64_t> kcs = emulated() ? std::vector<int64_t>{0, 64, 100000}
                                               : std::vector<int64_t>{0, 1, 64, 128, 100000};
  for (int64_t qc : qcs) {
    for (int64_t kc : kcs) {
      ChunkCase v = c;
      v.query_chunk = qc;
      v.kv_chunk = kc;
      std::vector<float> got;
      ASSERT_EQ(data.run(v, &got), ATTNGEN_OK) << attngen_last_error();
      EXPECT_TRUE(all_close(got, want, c.B, c.Nq, c.H, c.Dv)) << v.describe();
    }
  }
}

// Peak heap scratch at a long length stays O(Nq-chunk * kv-chunk): far
// below the N x N score matrix (here 2 x 8192^2 x 4 B = 512 MiB; 2048
// tokens under an emulator).
TEST(Chunked, PeakScratchIsLinear) {
  ChunkCase c;
  c.Nq = c.Nk = emulated() ? 2048 : 8192;
  c.H = c.Hkv = 2;
  c.D = c.Dv = 64;
  ChunkData data(c);
  std::vector<float> got;
  ASSERT_EQ(data.run(c, &got), ATTNGEN_OK) << attngen_last_error();
  attngen_call_stats st{};
  ASSERT_EQ(attngen_last_call_stats(&st), ATTNGEN_OK);
  // Query chunks of 1024 on the CPU; one launch on CUDA (its scratch does
  // not grow with the queries).
  EXPECT_GE(st.kernel_calls, host_call_device() == ATTNGEN_DEVICE_CUDA ? 1 : c.Nq / 1024);
  const int64_t score_matrix = int64_t(c.H) * c.Nq * c.Nk * 4;
  EXPECT_LE(st.peak_scratch_bytes, int64_t(16) << 20) << "peak " << st.peak_scratch_bytes;
  EXPECT_LT(st.peak_scratch_bytes * 32, score_matrix);
  // Spot check a few rows against the reference on a slice.
  ChunkCase s = c;
  s.Nq = 3;
  std::vector<float> want(size_t(s.Nq) * s.H * s.Dv);
  ref::chunked({1, s.Nq, s.Nk, s.H, s.Hkv, s.D, s.Dv}, data.q.data(), data.k.data(), data.v.data(), want.data());
  std::vector<float> head(got.begin(), got.begin() + want.size());
  EXPECT_TRUE(all_close(head, want, 1, s.Nq, s.H, s.Dv));
}

TEST(Chunked, RotaryFreeScratchIsCountedPerCall) {
  // The counters are per call: a second, smaller call reports its own peak.
  ChunkCase c;
  c.Nq = c.Nk = 300;
  c.D = c.Dv = 40;
  ChunkData data(c);
  std::vector<float> out;
  ASSERT_EQ(data.run(c, &out), ATTNGEN_OK);
  attngen_call_stats st{};
  ASSERT_EQ(attngen_last_call_stats(&st), ATTNGEN_OK);
  EXPECT_EQ(st.kernel_calls, 1);
  EXPECT_EQ(attngen_last_call_stats(nullptr), ATTNGEN_ERR_NULL_ARGUMENT);
  EXPECT_GE(attngen_scratch_peak_bytes(), st.peak_scratch_bytes);
  EXPECT_GE(attngen_scratch_live_bytes(), 0);
}

// ---- Bad input ----------------------------------------------------------------
TEST(ChunkedErrors, Validation) {
  ChunkCase c;
  c.Nq = 12;
  c.Nk = 7;
  c.D = 16;
  c.Dv = 8;
  ChunkData data(c);
  std::vector<float> out(size_t(c.Nq) * c.Dv);
  attngen_tensor tq = f32_view(data.q.data(), {1, 12, 1, 16}), tk = f32_view(data.k.data(), {1, 7, 1, 16}),
                 tv = f32_view(data.v.data(), {1, 7, 1, 8}), to = f32_view(out.data(), {1, 12, 1, 8});
  EXPECT_EQ(attngen_chunked(&tq, &tk, &tv, &to, nullptr), ATTNGEN_OK) << attngen_last_error();
  attngen_chunked_options o;
  attngen_chunked_options_init(&o);
  o.query_chunk_size = -1;
  EXPECT_EQ(attngen_chunked(&tq, &tk, &tv, &to, &o), ATTNGEN_ERR_OPTION);
  EXPECT_NE(std::string(attngen_last_error()).find("query_chunk_size"), std::string::npos);
  o.query_chunk_size = 0;
  o.kv_chunk_size_min = -4;
  EXPECT_EQ(attngen_chunked(&tq, &tk, &tv, &to, &o), ATTNGEN_ERR_OPTION);
  attngen_tensor bad_out = f32_view(out.data(), {1, 12, 1, 16});
  std::vector<float> big(12 * 16);
  bad_out.data = big.data();
  EXPECT_EQ(attngen_chunked(&tq, &tk, &tv, &bad_out, nullptr), ATTNGEN_ERR_SHAPE);  // out must be (.., Dv)
  attngen_tensor bad_k = f32_view(data.k.data(), {1, 7, 1, 8});
  EXPECT_EQ(attngen_chunked(&tq, &bad_k, &tv, &to, nullptr), ATTNGEN_ERR_SHAPE);  // k's D differs from q's
  attngen_tensor bad_v = f32_view(data.v.data(), {1, 6, 1, 8});
  EXPECT_EQ(attngen_chunked(&tq, &tk, &bad_v, &to, nullptr), ATTNGEN_ERR_SHAPE);  // v's rows differ from k's
  EXPECT_EQ(attngen_chunked(&tq, &tk, &tv, &tq, nullptr), ATTNGEN_ERR_SHAPE);
}

}  // namespace
