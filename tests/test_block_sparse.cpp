// Block-sparse attention against the reference (random, empty-row, full and
// DALL-E layouts; causal or not; key mask; grouped K/V heads; block 16, 32,
// 64), layouts derived from a dense mask, and argument validation.
#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <vector>

#include "attngen/layout.h"
#include "test_util.h"

namespace {

using namespace attngen_test;

enum class Pattern { Random, Full, EmptyRows, Dalle };

struct BlockCase {
  int B = 1, N = 64, H = 2, Hkv = 2, D = 16, block = 16;
  bool causal = false, key_mask = false, shared_layout = false;
  Pattern pattern = Pattern::Random;
  unsigned seed = 1;
  std::string describe() const {
    std::ostringstream s;
    s << "B=" << B << " N=" << N << " H=" << H << " Hkv=" << Hkv << " D=" << D << " block=" << block
      << " causal=" << causal << " key_mask=" << key_mask << " shared_layout=" << shared_layout
      << " pattern=" << int(pattern);
    return s.str();
  }
};
void PrintTo(const BlockCase& c, std::ostream* os) { *os << c.describe(); }

// (H, nb, nb) layout of the pattern (one layout repeated when shared).
std::vector<uint8_t> make_layout(const BlockCase& c, std::mt19937& rng, int* Hl) {
  const int nb = (c.N + c.block - 1) / c.block;
  *Hl = c.shared_layout ? 1 : c.H;
  std::vector<uint8_t> l(size_t(*Hl) * nb * nb, 0);
  switch (c.pattern) {
    case Pattern::Full: std::fill(l.begin(), l.end(), 1); break;
    case Pattern::Random: l = random_mask(l.size(), rng, 0.4); break;
    case Pattern::EmptyRows:
      l = random_mask(l.size(), rng, 0.5);
      for (int h = 0; h < *Hl; ++h)
        for (int r = 0; r < nb; r += 2)
          for (int col = 0; col < nb; ++col) l[(size_t(h) * nb + r) * nb + col] = 0;
      break;
    case Pattern::Dalle: {
      const int text = std::max(1, c.N / 5);
      EXPECT_EQ(attngen_layout_dalle(*Hl, c.N, text, c.causal, c.seed, l.data(), l.size()), ATTNGEN_OK)
          << attngen_last_error();
      break;
    }
  }
  return l;
}

void check_block(const BlockCase& c) {
  SCOPED_TRACE(c.describe());
  std::mt19937 rng(c.seed);
  const size_t qsz = size_t(c.B) * c.N * c.H * c.D, kvsz = size_t(c.B) * c.N * c.Hkv * c.D;
  std::vector<float> q = random_floats(qsz, rng), k = random_floats(kvsz, rng), v = random_floats(kvsz, rng);
  std::vector<uint8_t> km;
  if (c.key_mask) km = random_mask(size_t(c.B) * c.N, rng, 0.7);
  int Hl = 0;
  std::vector<uint8_t> layout = make_layout(c, rng, &Hl);
  ASSERT_FALSE(::testing::Test::HasFailure());
  const int nb = (c.N + c.block - 1) / c.block;

  attngen_tensor tl = u8_view(layout.data(), {Hl, nb, nb});
  attngen_block_layout* handle = nullptr;
  ASSERT_EQ(attngen_block_layout_create(&tl, c.block, c.causal, &handle), ATTNGEN_OK) << attngen_last_error();
  std::vector<float> got(qsz, -5.f);
  attngen_tensor tq = f32_view(q.data(), {c.B, c.N, c.H, c.D}), tk = f32_view(k.data(), {c.B, c.N, c.Hkv, c.D}),
                 tv = f32_view(v.data(), {c.B, c.N, c.Hkv, c.D}), to = f32_view(got.data(), {c.B, c.N, c.H, c.D});
  attngen_tensor tkm = u8_view(km.data(), {c.B, c.N});
  attngen_block_sparse_options o{c.key_mask ? &tkm : nullptr};
  const attngen_status st = attngen_block_sparse(&tq, &tk, &tv, &to, handle, &o);
  attngen_block_layout_destroy(handle);
  ASSERT_EQ(st, ATTNGEN_OK) << attngen_last_error();

  // The reference takes one layout per head.
  std::vector<uint8_t> full(size_t(c.H) * nb * nb);
  for (int h = 0; h < c.H; ++h)
    std::copy_n(layout.begin() + (Hl == 1 ? 0 : size_t(h) * nb * nb), size_t(nb) * nb, full.begin() + size_t(h) * nb * nb);
  std::vector<float> want(qsz);
  ref::block_sparse({c.B, c.N, c.N, c.H, c.Hkv, c.D, c.D}, q.data(), k.data(), v.data(), want.data(), full.data(),
                    c.block, c.causal, c.key_mask ? km.data() : nullptr);
  EXPECT_TRUE(all_close(got, want, c.B, c.N, c.H, c.D));
}

std::vector<BlockCase> block_cases() {
  std::vector<BlockCase> cases;
  std::mt19937 rng(5);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const Pattern patterns[] = {Pattern::Random, Pattern::Full, Pattern::EmptyRows, Pattern::Dalle};
  for (int i = 0; i < 40; ++i) {
    BlockCase c;
    c.block = 16 << pick(0, 2);
    c.N = pick(1, 200);
    c.B = pick(1, 2);
    const int groups[] = {1, 2, 4};
    c.Hkv = pick(1, 2);
    c.H = c.Hkv * groups[pick(0, 2)];
    const int dims[] = {16, 40, 64};
    c.D = dims[pick(0, 2)];
    c.causal = pick(0, 1);
    c.key_mask = pick(0, 1);
    c.shared_layout = pick(0, 1);
    c.pattern = patterns[i % 4];
    if (c.pattern == Pattern::Dalle) c.block = 16;
    c.seed = 100 + i;
    cases.push_back(c);
  }
  return cases;
}

class BlockSparseRandom : public ::testing::TestWithParam<BlockCase> {};
TEST_P(BlockSparseRandom, MatchesReference) { check_block(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Layouts, BlockSparseRandom, ::testing::ValuesIn(block_cases()));

TEST(BlockSparse, DalleLayoutDalleShape) {
  BlockCase c;
  c.N = 1280;
  c.H = 2;
  c.Hkv = 2;
  c.D = 64;
  c.causal = true;
  c.shared_layout = true;
  c.pattern = Pattern::Dalle;
  check_block(c);
}

TEST(BlockSparse, LayoutStatsCountCausalBlocks) {
  std::vector<uint8_t> l(2 * 3 * 3, 1);
  attngen_tensor t = u8_view(l.data(), {2, 3, 3});
  attngen_block_layout* h = nullptr;
  ASSERT_EQ(attngen_block_layout_create(&t, 16, 1, &h), ATTNGEN_OK);
  int64_t kept = 0, total = 0;
  ASSERT_EQ(attngen_block_layout_stats(h, &kept, &total), ATTNGEN_OK);
  EXPECT_EQ(kept, 12);
  EXPECT_EQ(total, 18);
  attngen_block_layout_destroy(h);
}

// A layout derived from a dense mask gives dense attention with that mask.
TEST(BlockSparse, FromMaskMatchesDenseWithStaticMask) {
  std::mt19937 rng(9);
  const int N = 90, S = 100, H = 2, D = 32;
  std::vector<uint8_t> mask(size_t(S) * S, 0);
  // Banded mask with holes: many blocks empty, some partial.
  for (int i = 0; i < S; ++i)
    for (int j = std::max(0, i - 20); j <= i; ++j) mask[size_t(i) * S + j] = (i + j) % 7 != 0;
  for (bool causal : {false, true}) {
    DenseProblem p;
    p.B = 2;
    p.Nq = p.Nk = N;
    p.H = p.Hkv = H;
    p.D = D;
    p.causal = causal;
    p.fill_random(rng);
    p.static_mask = mask;
    p.S = S;
    const std::vector<float> want = p.reference();
    attngen_tensor tm = u8_view(mask.data(), {S, S});
    attngen_block_layout* h = nullptr;
    ASSERT_EQ(attngen_block_layout_from_mask(&tm, 16, causal, &h), ATTNGEN_OK) << attngen_last_error();
    int64_t kept = 0, total = 0;
    ASSERT_EQ(attngen_block_layout_stats(h, &kept, &total), ATTNGEN_OK);
    EXPECT_LT(kept, total / 2) << "a banded mask keeps few blocks";
    std::vector<float> got(want.size());
    attngen_tensor tq = f32_view(p.q.data(), {2, N, H, D}), tk = f32_view(p.k.data(), {2, N, H, D}),
                   tv = f32_view(p.v.data(), {2, N, H, D}), to = f32_view(got.data(), {2, N, H, D});
    ASSERT_EQ(attngen_block_sparse(&tq, &tk, &tv, &to, h, nullptr), ATTNGEN_OK) << attngen_last_error();
    attngen_block_layout_destroy(h);
    EXPECT_TRUE(all_close(got, want, 2, N, H, D)) << "causal=" << causal;
  }
}

// ---- Bad input ----------------------------------------------------------------
struct BlockArgs {
  std::vector<float> q, k, v, out;
  std::vector<uint8_t> layout;
  attngen_tensor tq, tk, tv, to, tl;
  explicit BlockArgs(int N = 40, int H = 2) : q(size_t(N) * H * 16, 0.1f), k(q), v(q), out(q) {
    tq = f32_view(q.data(), {1, N, H, 16});
    tk = f32_view(k.data(), {1, N, H, 16});
    tv = f32_view(v.data(), {1, N, H, 16});
    to = f32_view(out.data(), {1, N, H, 16});
    layout.assign(size_t(H) * 9, 1);
    tl = u8_view(layout.data(), {H, 3, 3});
  }
};

TEST(BlockSparseErrors, GoodCallIsAccepted) {
  BlockArgs a;
  attngen_block_layout* h = nullptr;
  ASSERT_EQ(attngen_block_layout_create(&a.tl, 16, 0, &h), ATTNGEN_OK);
  EXPECT_EQ(attngen_block_sparse(&a.tq, &a.tk, &a.tv, &a.to, h, nullptr), ATTNGEN_OK) << attngen_last_error();
  attngen_block_layout_destroy(h);
}

TEST(BlockSparseErrors, LayoutOfTheWrongSize) {
  BlockArgs a(60);  // ceil(60 / 16) = 4 blocks, the layout has 3
  attngen_block_layout* h = nullptr;
  ASSERT_EQ(attngen_block_layout_create(&a.tl, 16, 0, &h), ATTNGEN_OK);
  EXPECT_EQ(attngen_block_sparse(&a.tq, &a.tk, &a.tv, &a.to, h, nullptr), ATTNGEN_ERR_SHAPE);
  EXPECT_NE(std::string(attngen_last_error()).find("layout"), std::string::npos);
  attngen_block_layout_destroy(h);
}

TEST(BlockSparseErrors, LayoutHeadsMismatch) {
  BlockArgs a(40, 3);
  std::vector<uint8_t> l(2 * 9, 1);
  attngen_tensor t = u8_view(l.data(), {2, 3, 3});
  attngen_block_layout* h = nullptr;
  ASSERT_EQ(attngen_block_layout_create(&t, 16, 0, &h), ATTNGEN_OK);
  EXPECT_EQ(attngen_block_sparse(&a.tq, &a.tk, &a.tv, &a.to, h, nullptr), ATTNGEN_ERR_SHAPE);
  attngen_block_layout_destroy(h);
}

TEST(BlockSparseErrors, BadBlockAndShapes) {
  BlockArgs a;
  attngen_block_layout* h = reinterpret_cast<attngen_block_layout*>(&a);  // must be reset to NULL
  EXPECT_EQ(attngen_block_layout_create(&a.tl, 8, 0, &h), ATTNGEN_ERR_OPTION);
  EXPECT_EQ(h, nullptr);
  EXPECT_EQ(attngen_block_layout_create(&a.tl, 24, 0, &h), ATTNGEN_ERR_OPTION);
  std::vector<uint8_t> l(12, 1);
  attngen_tensor t = u8_view(l.data(), {1, 3, 4});
  EXPECT_EQ(attngen_block_layout_create(&t, 16, 0, &h), ATTNGEN_ERR_SHAPE);
  EXPECT_EQ(attngen_block_layout_create(nullptr, 16, 0, &h), ATTNGEN_ERR_NULL_ARGUMENT);
  EXPECT_EQ(attngen_block_layout_create(&a.tl, 16, 0, nullptr), ATTNGEN_ERR_NULL_ARGUMENT);
  EXPECT_EQ(attngen_block_sparse(&a.tq, &a.tk, &a.tv, &a.to, nullptr, nullptr), ATTNGEN_ERR_NULL_ARGUMENT);
  attngen_tensor f = f32_view(a.q.data(), {2, 3, 3});
  EXPECT_EQ(attngen_block_layout_create(&f, 16, 0, &h), ATTNGEN_ERR_DTYPE);
}

TEST(BlockSparseErrors, KeyMaskWrongShape) {
  BlockArgs a;
  attngen_block_layout* h = nullptr;
  ASSERT_EQ(attngen_block_layout_create(&a.tl, 16, 1, &h), ATTNGEN_OK);
  std::vector<uint8_t> km(41, 1);
  attngen_tensor t = u8_view(km.data(), {1, 41});
  attngen_block_sparse_options o{&t};
  EXPECT_EQ(attngen_block_sparse(&a.tq, &a.tk, &a.tv, &a.to, h, &o), ATTNGEN_ERR_SHAPE);
  attngen_block_layout_destroy(h);
}

}  // namespace
