// Block-sparse layout builders (layout.h): hand-drawn layouts of DeepSpeed's
// variable sparsity rules (local windows, global blocks, random blocks), the
// DALL-E layout, layouts of dense masks, block counts, and every bad
// argument giving its status and a message naming it without writing the
// layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "attngen/attngen.h"
#include "attngen/layout.h"

namespace {

using Layout = std::vector<uint8_t>;
using Drawing = std::vector<std::string>;

constexpr uint8_t kSentinel = 0xAB;  // fills buffers to see what a call wrote

// Does msg mention `name` as a whole word (not as part of a longer identifier)?
bool names_word(const std::string& msg, const std::string& name) {
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (size_t pos = msg.find(name); pos != std::string::npos; pos = msg.find(name, pos + 1)) {
    const bool left = pos == 0 || !ident(msg[pos - 1]);
    const bool right = pos + name.size() == msg.size() || !ident(msg[pos + name.size()]);
    if (left && right) return true;
  }
  return false;
}

// Expects status `want` and a message naming `name`.
void check_error(attngen_status got, attngen_status want, const char* name) {
  const std::string msg = attngen_last_error();
  EXPECT_EQ(int(got), int(want)) << "message: " << msg;
  EXPECT_FALSE(msg.empty());
  EXPECT_TRUE(names_word(msg, name)) << "message \"" << msg << "\" does not name " << name;
}
#define EXPECT_LAYOUT_ERROR(call, want, name) \
  do {                                        \
    SCOPED_TRACE(#call);                      \
    check_error((call), (want), (name));      \
  } while (0)

// Head h of an (H, nb, nb) layout, one string per block row: '1' kept, '.' not.
Drawing draw(const Layout& layout, int64_t nb, int64_t h = 0) {
  Drawing rows;
  for (int64_t i = 0; i < nb; i++) {
    std::string row;
    for (int64_t j = 0; j < nb; j++) row += layout[size_t((h * nb + i) * nb + j)] ? '1' : '.';
    rows.push_back(row);
  }
  return rows;
}

bool all_zero_one(const Layout& layout) {
  for (uint8_t b : layout) {
    if (b > 1) return false;
  }
  return true;
}

// A variable sparsity config that owns its arrays. Block 1 unless changed,
// so seq_len = nb; no random blocks; no global blocks unless given.
class Config {
 public:
  explicit Config(std::vector<int32_t> windows, std::vector<int32_t> globals = {}, std::vector<int32_t> ends = {})
      : windows_(std::move(windows)), globals_(std::move(globals)), ends_(std::move(ends)) {
    attngen_variable_sparsity_config_init(&c);
    c.block = 1;
    c.local_window_blocks = windows_.data();
    c.num_local_windows = int32_t(windows_.size());
    c.global_block_indices = globals_.empty() ? nullptr : globals_.data();
    c.num_global_blocks = int32_t(globals_.size());
    c.global_block_end_indices = ends_.empty() ? nullptr : ends_.data();
  }
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;

  attngen_variable_sparsity_config c;

 private:
  std::vector<int32_t> windows_, globals_, ends_;
};

// Builds cfg's layout for seq_len tokens; every byte must be written, 0 or 1.
Layout build(const attngen_variable_sparsity_config& cfg, int64_t seq_len) {
  int64_t nb = 0;
  EXPECT_EQ(attngen_layout_num_blocks(seq_len, cfg.block, &nb), ATTNGEN_OK);
  Layout layout(size_t(cfg.num_heads * nb * nb), kSentinel);
  EXPECT_EQ(attngen_layout_variable_sparsity(&cfg, seq_len, layout.data(), layout.size()), ATTNGEN_OK)
      << attngen_last_error();
  EXPECT_STREQ(attngen_last_error(), "");
  EXPECT_TRUE(all_zero_one(layout));
  return layout;
}

Layout dalle(int32_t heads, int64_t seq_len, int64_t text_len, int32_t causal, uint64_t seed) {
  const int64_t nb = (seq_len + 15) / 16;
  Layout layout(size_t(heads * nb * nb), kSentinel);
  EXPECT_EQ(attngen_layout_dalle(heads, seq_len, text_len, causal, seed, layout.data(), layout.size()), ATTNGEN_OK)
      << attngen_last_error();
  EXPECT_TRUE(all_zero_one(layout));
  return layout;
}

// ---- An independent transcription of the random-block algorithm as layout.h
// documents it: splitmix64 seeded with seed ^ mix64(head + 1), per row a
// partial Fisher-Yates shuffle of 0..nb-1, unbiased draws by rejection.
uint64_t doc_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::vector<std::set<int64_t>> doc_random_picks(uint64_t seed, int64_t head, int64_t nb, int64_t count) {
  uint64_t state = seed ^ doc_mix64(uint64_t(head) + 1);
  auto below = [&state](uint64_t m) {
    for (;;) {
      state += 0x9E3779B97F4A7C15ull;
      const uint64_t r = doc_mix64(state);
      if (r >= (0 - m) % m) return int64_t(r % m);
    }
  };
  std::vector<std::set<int64_t>> picks(static_cast<size_t>(nb));
  for (int64_t row = 0; row < nb; row++) {
    std::vector<int64_t> perm(static_cast<size_t>(nb));
    for (int64_t j = 0; j < nb; j++) perm[size_t(j)] = j;
    for (int64_t k = 0; k < count; k++) {
      std::swap(perm[size_t(k)], perm[size_t(k + below(uint64_t(nb - k)))]);
      picks[size_t(row)].insert(perm[size_t(k)]);
    }
  }
  return picks;
}

// ---- Block counts and defaults ------------------------------------------------

TEST(Layout, NumBlocks) {
  int64_t nb = -1;
  ASSERT_EQ(attngen_layout_num_blocks(1, 16, &nb), ATTNGEN_OK);
  EXPECT_EQ(nb, 1);
  ASSERT_EQ(attngen_layout_num_blocks(16, 16, &nb), ATTNGEN_OK);
  EXPECT_EQ(nb, 1);
  ASSERT_EQ(attngen_layout_num_blocks(17, 16, &nb), ATTNGEN_OK);
  EXPECT_EQ(nb, 2);
  ASSERT_EQ(attngen_layout_num_blocks(INT64_MAX, 1, &nb), ATTNGEN_OK);
  EXPECT_EQ(nb, INT64_MAX);
  ASSERT_EQ(attngen_layout_num_blocks(INT64_MAX, INT32_MAX, &nb), ATTNGEN_OK);
  EXPECT_EQ(nb, INT64_MAX / INT32_MAX + 1);
}

TEST(Layout, ConfigDefaultsAreDeepSpeeds) {
  attngen_variable_sparsity_config c;
  std::memset(&c, 0x5A, sizeof c);
  attngen_variable_sparsity_config_init(&c);
  EXPECT_EQ(c.num_heads, 1);
  EXPECT_EQ(c.block, 16);
  EXPECT_EQ(c.different_layout_per_head, 0);
  EXPECT_EQ(c.num_random_blocks, 0);
  ASSERT_EQ(c.num_local_windows, 1);
  EXPECT_EQ(c.local_window_blocks[0], 4);
  ASSERT_EQ(c.num_global_blocks, 1);
  EXPECT_EQ(c.global_block_indices[0], 0);
  EXPECT_EQ(c.global_block_end_indices, nullptr);
  EXPECT_EQ(c.attention, ATTNGEN_BIDIRECTIONAL);
  EXPECT_EQ(c.horizontal_global_attention, 0);
  EXPECT_EQ(c.seed, 0u);
  attngen_variable_sparsity_config_init(nullptr);  // no-op

  // Six blocks of 16: windows [0,4) and [4,6), global column 0.
  EXPECT_EQ(draw(build(c, 96), 6), (Drawing{"1111..",  //
                                            "1111..",  //
                                            "1111..",  //
                                            "1111..",  //
                                            "1...11",  //
                                            "1...11"}));
}

// ---- Local windows ----------------------------------------------------------------

// Windows [2, 3] on nb = 10: [0,2), [2,5), then 3 repeats: [5,8), [8,10).
TEST(Layout, LocalWindowsBidirectional) {
  Config cfg({2, 3});
  EXPECT_EQ(draw(build(cfg.c, 10), 10), (Drawing{"11........",  //
                                                 "11........",  //
                                                 "..111.....",  //
                                                 "..111.....",  //
                                                 "..111.....",  //
                                                 ".....111..",  //
                                                 ".....111..",  //
                                                 ".....111..",  //
                                                 "........11",  //
                                                 "........11"}));
}

TEST(Layout, LocalWindowsUnidirectional) {
  Config cfg({2, 3});
  cfg.c.attention = ATTNGEN_UNIDIRECTIONAL;
  EXPECT_EQ(draw(build(cfg.c, 10), 10), (Drawing{"1.........",  //
                                                 "11........",  //
                                                 "..1.......",  //
                                                 "..11......",  //
                                                 "..111.....",  //
                                                 ".....1....",  //
                                                 ".....11...",  //
                                                 ".....111..",  //
                                                 "........1.",  //
                                                 "........11"}));
}

// Windows reaching past nb are clipped; later windows change nothing.
TEST(Layout, LocalWindowsPastTheEnd) {
  Config cfg({3, 100, 1});
  EXPECT_EQ(draw(build(cfg.c, 5), 5), (Drawing{"111..",  //
                                               "111..",  //
                                               "111..",  //
                                               "...11",  //
                                               "...11"}));
}

// Block size in tokens: 70 tokens in blocks of 16 is 5 blocks, the last partial.
TEST(Layout, BlockSizeInTokens) {
  Config cfg({2});
  cfg.c.block = 16;
  EXPECT_EQ(draw(build(cfg.c, 70), 5), (Drawing{"11...",  //
                                                "11...",  //
                                                "..11.",  //
                                                "..11.",  //
                                                "....1"}));
}

// ---- Global blocks ----------------------------------------------------------------

TEST(Layout, GlobalColumnsBidirectional) {
  Config cfg({1}, {1, 3, 7});  // 7 >= nb: ignored
  EXPECT_EQ(draw(build(cfg.c, 5), 5), (Drawing{"11.1.",  //
                                               ".1.1.",  //
                                               ".111.",  //
                                               ".1.1.",  //
                                               ".1.11"}));
}

TEST(Layout, GlobalColumnsUnidirectionalStartAtTheirRow) {
  Config cfg({1}, {1, 3, 7});
  cfg.c.attention = ATTNGEN_UNIDIRECTIONAL;
  EXPECT_EQ(draw(build(cfg.c, 5), 5), (Drawing{"1....",  //
                                               ".1...",  //
                                               ".11..",  //
                                               ".1.1.",  //
                                               ".1.11"}));
}

// With end indices a range is global; when unidirectional all of its columns
// start at the range's first row (DeepSpeed's rule).
TEST(Layout, GlobalRanges) {
  {
    Config cfg({1}, {1}, {3});
    cfg.c.attention = ATTNGEN_UNIDIRECTIONAL;
    EXPECT_EQ(draw(build(cfg.c, 5), 5), (Drawing{"1....",  //
                                                 ".11..",  //
                                                 ".11..",  //
                                                 ".111.",  //
                                                 ".11.1"}));
  }
  {
    Config cfg({1}, {1}, {3});
    EXPECT_EQ(draw(build(cfg.c, 5), 5), (Drawing{"111..",  //
                                                 ".11..",  //
                                                 ".11..",  //
                                                 ".111.",  //
                                                 ".11.1"}));
  }
  {
    Config cfg({1}, {3, 5}, {100, 9});  // end clipped to nb; a start >= nb is ignored
    EXPECT_EQ(draw(build(cfg.c, 5), 5), (Drawing{"1..11",  //
                                                 ".1.11",  //
                                                 "..111",  //
                                                 "...11",  //
                                                 "...11"}));
  }
}

TEST(Layout, HorizontalGlobalAttention) {
  {
    Config cfg({1}, {2});
    cfg.c.horizontal_global_attention = 1;
    EXPECT_EQ(draw(build(cfg.c, 5), 5), (Drawing{"1.1..",  //
                                                 ".11..",  //
                                                 "11111",  //
                                                 "..11.",  //
                                                 "..1.1"}));
  }
  {
    Config cfg({1}, {1}, {3});
    cfg.c.horizontal_global_attention = 1;
    EXPECT_EQ(draw(build(cfg.c, 5), 5), (Drawing{"111..",  //
                                                 "11111",  //
                                                 "11111",  //
                                                 ".111.",  //
                                                 ".11.1"}));
  }
}

// ---- Random blocks ----------------------------------------------------------------

// Only the diagonal (window 1) besides the random blocks: each row holds
// exactly the documented draws, count distinct columns, plus its diagonal.
TEST(Layout, RandomBlocksFollowTheDocumentedGenerator) {
  constexpr int64_t nb = 24;
  for (int32_t count : {1, 5, 24}) {
    for (uint64_t seed : {0ull, 1ull, 0xDEADBEEFCAFEull}) {
      Config cfg({1});
      cfg.c.num_random_blocks = count;
      cfg.c.seed = seed;
      const Layout layout = build(cfg.c, nb);
      const auto picks = doc_random_picks(seed, 0, nb, count);
      for (int64_t i = 0; i < nb; i++) {
        std::set<int64_t> want = picks[size_t(i)];
        ASSERT_EQ(int64_t(want.size()), count);  // distinct
        want.insert(i);
        std::set<int64_t> got;
        for (int64_t j = 0; j < nb; j++) {
          if (layout[size_t(i * nb + j)]) got.insert(j);
        }
        EXPECT_EQ(got, want) << "row " << i << " count " << count << " seed " << seed;
      }
    }
  }
}

// Pins the stream itself: a change of generator or sampling order (or a
// platform difference) shows here. Window 1: the diagonal is always kept.
TEST(Layout, RandomBlocksGolden) {
  Config cfg({1});
  cfg.c.num_random_blocks = 2;
  cfg.c.seed = 42;
  EXPECT_EQ(draw(build(cfg.c, 8), 8), (Drawing{"1..1...1",  //
                                              ".11..1..",  //
                                              "..11....",  //
                                              "...1...1",  //
                                              ".1..11..",  //
                                              "....11.1",  //
                                              "....111.",  //
                                              "..1...11"}));
}

TEST(Layout, RandomBlocksPerRowCount) {
  constexpr int64_t nb = 40;
  Config cfg({1});
  cfg.c.num_random_blocks = 7;
  cfg.c.seed = 3;
  const Layout layout = build(cfg.c, nb);
  for (int64_t i = 0; i < nb; i++) {
    int64_t off_diagonal = 0;
    for (int64_t j = 0; j < nb; j++) off_diagonal += j != i && layout[size_t(i * nb + j)];
    const bool diagonal_drawn = doc_random_picks(3, 0, nb, 7)[size_t(i)].count(i) > 0;
    EXPECT_EQ(off_diagonal, diagonal_drawn ? 6 : 7) << "row " << i;
  }
}

TEST(Layout, RandomBlocksReproducibleAndSeeded) {
  Config cfg({1});
  cfg.c.num_random_blocks = 4;
  cfg.c.seed = 7;
  const Layout a = build(cfg.c, 32), b = build(cfg.c, 32);
  EXPECT_EQ(a, b);
  cfg.c.seed = 8;
  EXPECT_NE(build(cfg.c, 32), a);
}

// Columns are drawn from all nb blocks, even unidirectional (DeepSpeed): some
// land above the diagonal; the local and global rules stay causal.
TEST(Layout, RandomBlocksIgnoreDirection) {
  constexpr int64_t nb = 16;
  Config cfg({1});
  cfg.c.attention = ATTNGEN_UNIDIRECTIONAL;
  cfg.c.num_random_blocks = 8;
  const Layout layout = build(cfg.c, nb);
  int64_t above = 0;
  for (int64_t i = 0; i < nb; i++) {
    for (int64_t j = i + 1; j < nb; j++) above += layout[size_t(i * nb + j)];
  }
  EXPECT_GT(above, 0);
  EXPECT_EQ(attngen_layout_count(layout.data(), 1, nb, 0) - attngen_layout_count(layout.data(), 1, nb, 1), above);
}

// Every column equally likely: off-diagonal hits per column over many seeds
// (expected 375 each; the bounds are about 4 standard deviations).
TEST(Layout, RandomBlocksUniform) {
  constexpr int64_t nb = 16;
  std::vector<int64_t> hits(size_t(nb), 0);
  Config cfg({1});
  cfg.c.num_random_blocks = 1;
  for (uint64_t seed = 0; seed < 400; seed++) {
    cfg.c.seed = seed;
    const Layout layout = build(cfg.c, nb);
    for (int64_t i = 0; i < nb; i++) {
      for (int64_t j = 0; j < nb; j++) hits[size_t(j)] += j != i && layout[size_t(i * nb + j)];
    }
  }
  for (int64_t j = 0; j < nb; j++) {
    EXPECT_GT(hits[size_t(j)], 300) << "column " << j;
    EXPECT_LT(hits[size_t(j)], 450) << "column " << j;
  }
}

TEST(Layout, RandomBlocksPerHead) {
  constexpr int64_t nb = 20, area = nb * nb;
  Config cfg({2}, {0});
  cfg.c.num_heads = 4;
  cfg.c.num_random_blocks = 3;
  cfg.c.seed = 11;

  cfg.c.different_layout_per_head = 1;
  const Layout own = build(cfg.c, nb);
  for (int64_t h = 0; h < 4; h++) {
    for (int64_t g = h + 1; g < 4; g++) EXPECT_NE(draw(own, nb, h), draw(own, nb, g)) << h << " vs " << g;
  }

  cfg.c.different_layout_per_head = 0;
  const Layout shared = build(cfg.c, nb);
  for (int64_t h = 1; h < 4; h++) EXPECT_EQ(draw(shared, nb, h), draw(shared, nb, 0)) << "head " << h;
  // Head 0 draws the same stream either way.
  EXPECT_TRUE(std::equal(shared.begin(), shared.begin() + area, own.begin()));
}

// num_random_blocks == nb keeps every block.
TEST(Layout, RandomBlocksAllColumns) {
  Config cfg({1});
  cfg.c.num_random_blocks = 6;
  const Layout layout = build(cfg.c, 6);
  EXPECT_EQ(attngen_layout_count(layout.data(), 1, 6, 0), 36);
}

// ---- DALL-E -----------------------------------------------------------------------

// Under 64 tokens there are no random blocks: 48 tokens, 3 blocks, text
// block 0 global, one causal window of 4 clipped to 3.
TEST(Layout, DalleSmallExact) {
  EXPECT_EQ(draw(dalle(1, 48, 16, 1, 0), 3), (Drawing{"1..",  //
                                                      "11.",  //
                                                      "111"}));
  EXPECT_EQ(draw(dalle(1, 48, 16, 0, 0), 3), (Drawing{"111",  //
                                                      "111",  //
                                                      "111"}));
}

// 256 tokens (16 blocks), 40 text tokens (blocks 0..2 global), 4 random
// blocks per row, causal windows of 4.
TEST(Layout, DalleDefaultCausal) {
  constexpr int64_t nb = 16;
  const Layout layout = dalle(3, 256, 40, 1, 5);
  for (int64_t h = 1; h < 3; h++) EXPECT_EQ(draw(layout, nb, h), draw(layout, nb, 0)) << "head " << h;
  const Drawing d = draw(layout, nb);
  for (int64_t i = 0; i < nb; i++) {
    for (int64_t c = 0; c <= std::min<int64_t>(i, 2); c++) EXPECT_EQ(d[size_t(i)][size_t(c)], '1') << i << "," << c;
    for (int64_t j = i / 4 * 4; j <= i; j++) EXPECT_EQ(d[size_t(i)][size_t(j)], '1') << i << "," << j;
    int64_t kept = 0;
    for (char ch : d[size_t(i)]) kept += ch == '1';
    EXPECT_GE(kept, 4) << "row " << i;  // at least its random blocks
  }

  // The same as the variable sparsity config DALL-E describes.
  const int32_t window = 4, globals[] = {0, 1, 2};
  attngen_variable_sparsity_config c;
  attngen_variable_sparsity_config_init(&c);
  c.num_heads = 3;
  c.num_random_blocks = 4;
  c.local_window_blocks = &window;
  c.global_block_indices = globals;
  c.num_global_blocks = 3;
  c.attention = ATTNGEN_UNIDIRECTIONAL;
  c.seed = 5;
  EXPECT_EQ(build(c, 256), layout);
}

TEST(Layout, DalleBidirectionalAndUnevenLength) {
  // 100 tokens: 7 blocks, 1 random block per row, text blocks 0..1 global.
  constexpr int64_t nb = 7;
  const Layout layout = dalle(2, 100, 20, 0, 9);
  const Drawing d = draw(layout, nb);
  for (int64_t i = 0; i < nb; i++) {
    EXPECT_EQ(d[size_t(i)].substr(0, 2), "11") << "row " << i;
    for (int64_t j = i / 4 * 4; j < std::min<int64_t>(i / 4 * 4 + 4, nb); j++) {
      EXPECT_EQ(d[size_t(i)][size_t(j)], '1') << i << "," << j;
    }
  }
  EXPECT_EQ(dalle(2, 100, 20, 0, 9), layout);
}

// ---- Layouts of dense masks ---------------------------------------------------------

struct MaskLayout {
  Drawing drawing;
  int32_t partial;
};

MaskLayout from_mask(const std::vector<uint8_t>& mask, int64_t n, int64_t stride, int32_t block) {
  const int64_t nb = (n + block - 1) / block;
  Layout layout(size_t(nb * nb) + 3, kSentinel);  // 3 bytes past the layout stay untouched
  int32_t partial = -1;
  EXPECT_EQ(attngen_layout_from_mask(mask.data(), n, stride, block, layout.data(), layout.size(), &partial),
            ATTNGEN_OK)
      << attngen_last_error();
  for (size_t i = size_t(nb * nb); i < layout.size(); i++) EXPECT_EQ(layout[i], kSentinel);
  layout.resize(size_t(nb * nb));
  EXPECT_TRUE(all_zero_one(layout));
  return {draw(layout, nb), partial};
}

std::vector<uint8_t> causal_mask(int64_t n) {
  std::vector<uint8_t> m(size_t(n * n), 0);
  for (int64_t i = 0; i < n; i++) {
    for (int64_t j = 0; j <= i; j++) m[size_t(i * n + j)] = 1;
  }
  return m;
}

TEST(Layout, FromMaskEmpty) {
  const MaskLayout got = from_mask(std::vector<uint8_t>(100, 0), 10, 10, 4);
  EXPECT_EQ(got.drawing, (Drawing{"...", "...", "..."}));
  EXPECT_EQ(got.partial, 0);
}

TEST(Layout, FromMaskFull) {
  // 10 is not a multiple of 4: the edge tiles are clipped, still full.
  const MaskLayout got = from_mask(std::vector<uint8_t>(100, 1), 10, 10, 4);
  EXPECT_EQ(got.drawing, (Drawing{"111", "111", "111"}));
  EXPECT_EQ(got.partial, 0);
}

TEST(Layout, FromMaskCausal) {
  MaskLayout got = from_mask(causal_mask(8), 8, 8, 4);
  EXPECT_EQ(got.drawing, (Drawing{"1.", "11"}));
  EXPECT_EQ(got.partial, 1);  // the diagonal blocks are triangles
  got = from_mask(causal_mask(10), 10, 10, 4);
  EXPECT_EQ(got.drawing, (Drawing{"1..", "11.", "111"}));
  EXPECT_EQ(got.partial, 1);
  // Block 1 (a whole block) on the diagonal: no partial blocks.
  got = from_mask(causal_mask(5), 5, 5, 1);
  EXPECT_EQ(got.drawing, (Drawing{"1....", "11...", "111..", "1111.", "11111"}));
  EXPECT_EQ(got.partial, 0);
}

TEST(Layout, FromMaskEdgeTilesAndValues) {
  std::vector<uint8_t> m(100, 0);
  m[99] = 7;  // (9, 9): any nonzero keeps; in the clipped corner tile
  MaskLayout got = from_mask(m, 10, 10, 4);
  EXPECT_EQ(got.drawing, (Drawing{"...", "...", "..1"}));
  EXPECT_EQ(got.partial, 1);

  // The clipped bottom-left tile (rows 8..9, cols 0..3) full: not partial.
  std::fill(m.begin(), m.end(), 0);
  for (int64_t i = 8; i < 10; i++) {
    for (int64_t j = 0; j < 4; j++) m[size_t(i * 10 + j)] = 1;
  }
  got = from_mask(m, 10, 10, 4);
  EXPECT_EQ(got.drawing, (Drawing{"...", "...", "1.."}));
  EXPECT_EQ(got.partial, 0);
}

// Row stride past n: the padding between rows is not part of the mask.
TEST(Layout, FromMaskStride) {
  constexpr int64_t n = 6, stride = 9;
  std::vector<uint8_t> m(size_t(stride * n), 0xFF);
  for (int64_t i = 0; i < n; i++) {
    for (int64_t j = 0; j < n; j++) m[size_t(i * stride + j)] = i == j;
  }
  const MaskLayout got = from_mask(m, n, stride, 3);
  EXPECT_EQ(got.drawing, (Drawing{"1.", ".1"}));
  EXPECT_EQ(got.partial, 1);

  Layout layout(4);
  EXPECT_EQ(attngen_layout_from_mask(m.data(), n, stride, 3, layout.data(), layout.size(), nullptr), ATTNGEN_OK);
  EXPECT_EQ(layout, (Layout{1, 0, 0, 1}));
}

// ---- Counting -----------------------------------------------------------------------

TEST(Layout, Count) {
  constexpr int64_t nb = 5;
  Layout layout(2 * nb * nb, 1);
  EXPECT_EQ(attngen_layout_count(layout.data(), 2, nb, 0), 50);
  EXPECT_EQ(attngen_layout_count(layout.data(), 2, nb, 1), 30);
  EXPECT_EQ(attngen_layout_count(layout.data(), 1, nb, 1), 15);
  std::fill(layout.begin(), layout.end(), 0);
  layout[1] = 9;                // head 0, above the diagonal
  layout[nb * nb + nb] = 1;     // head 1, row 1, col 0
  EXPECT_EQ(attngen_layout_count(layout.data(), 2, nb, 0), 2);
  EXPECT_EQ(attngen_layout_count(layout.data(), 2, nb, 1), 1);
  EXPECT_STREQ(attngen_last_error(), "");
}

// ---- Bad arguments ----------------------------------------------------------------

TEST(LayoutErrors, NumBlocks) {
  int64_t nb = 0;
  EXPECT_LAYOUT_ERROR(attngen_layout_num_blocks(10, 4, nullptr), ATTNGEN_ERR_NULL_ARGUMENT, "nb");
  EXPECT_LAYOUT_ERROR(attngen_layout_num_blocks(0, 4, &nb), ATTNGEN_ERR_SHAPE, "seq_len");
  EXPECT_LAYOUT_ERROR(attngen_layout_num_blocks(-5, 4, &nb), ATTNGEN_ERR_SHAPE, "seq_len");
  EXPECT_LAYOUT_ERROR(attngen_layout_num_blocks(10, 0, &nb), ATTNGEN_ERR_OPTION, "block");
  EXPECT_LAYOUT_ERROR(attngen_layout_num_blocks(10, -1, &nb), ATTNGEN_ERR_OPTION, "block");
  EXPECT_EQ(attngen_layout_num_blocks(10, 4, &nb), ATTNGEN_OK);
  EXPECT_STREQ(attngen_last_error(), "");  // cleared by the good call
}

// A valid config (block 1, seq_len 8, 2 heads) that each test breaks in one
// way; the layout must stay untouched.
class VariableErrors : public ::testing::Test {
 protected:
  VariableErrors() : cfg({2, 3}, {0, 4}, {2, 6}) {
    cfg.c.num_heads = 2;
    cfg.c.num_random_blocks = 2;
  }

  void expect(attngen_status want, const char* name, const attngen_variable_sparsity_config* c = nullptr) {
    std::fill(layout.begin(), layout.end(), kSentinel);
    check_error(attngen_layout_variable_sparsity(c ? c : &cfg.c, seq_len, layout.data(), size), want, name);
    bool untouched = true;
    for (uint8_t b : layout) untouched &= b == kSentinel;
    EXPECT_TRUE(untouched) << "a failed call wrote the layout";
  }

  Config cfg;
  int64_t seq_len = 8;
  Layout layout = Layout(2 * 8 * 8);
  size_t size = layout.size();
};

TEST_F(VariableErrors, ValidConfigSucceeds) {
  EXPECT_EQ(attngen_layout_variable_sparsity(&cfg.c, seq_len, layout.data(), size), ATTNGEN_OK)
      << attngen_last_error();
}

TEST_F(VariableErrors, NullPointers) {
  EXPECT_LAYOUT_ERROR(attngen_layout_variable_sparsity(nullptr, 8, layout.data(), size), ATTNGEN_ERR_NULL_ARGUMENT,
                      "cfg");
  EXPECT_LAYOUT_ERROR(attngen_layout_variable_sparsity(&cfg.c, 8, nullptr, size), ATTNGEN_ERR_NULL_ARGUMENT,
                      "layout");
  const int32_t* windows = cfg.c.local_window_blocks;
  cfg.c.local_window_blocks = nullptr;
  expect(ATTNGEN_ERR_NULL_ARGUMENT, "local_window_blocks");
  cfg.c.local_window_blocks = windows;
  cfg.c.global_block_indices = nullptr;
  expect(ATTNGEN_ERR_NULL_ARGUMENT, "global_block_indices");
  // No global blocks: NULL arrays are fine.
  cfg.c.num_global_blocks = 0;
  EXPECT_EQ(attngen_layout_variable_sparsity(&cfg.c, seq_len, layout.data(), size), ATTNGEN_OK);
}

TEST_F(VariableErrors, Sizes) {
  cfg.c.num_heads = 0;
  expect(ATTNGEN_ERR_SHAPE, "num_heads");
  cfg.c.num_heads = -3;
  expect(ATTNGEN_ERR_SHAPE, "num_heads");
  cfg.c.num_heads = 2;
  cfg.c.block = 0;
  expect(ATTNGEN_ERR_OPTION, "block");
  cfg.c.block = -16;
  expect(ATTNGEN_ERR_OPTION, "block");
  cfg.c.block = 1;
  seq_len = 0;
  expect(ATTNGEN_ERR_SHAPE, "seq_len");
  seq_len = -8;
  expect(ATTNGEN_ERR_SHAPE, "seq_len");
  seq_len = 8;
  size = layout.size() - 1;
  expect(ATTNGEN_ERR_SHAPE, "layout_size");
}

TEST_F(VariableErrors, TooLarge) {
  // 2 x 32768^2 = 2^31 blocks is the limit: allowed (the buffer is then too small).
  cfg.c.num_random_blocks = 0;
  seq_len = 32768;
  expect(ATTNGEN_ERR_SHAPE, "layout_size");
  cfg.c.num_heads = 3;
  expect(ATTNGEN_ERR_TOO_LARGE, "seq_len");
  cfg.c.num_heads = INT32_MAX;
  seq_len = INT64_MAX;
  expect(ATTNGEN_ERR_TOO_LARGE, "seq_len");
  cfg.c.num_heads = 1;
  seq_len = 46341;  // 46341^2 > 2^31
  expect(ATTNGEN_ERR_TOO_LARGE, "seq_len");
}

TEST_F(VariableErrors, Options) {
  const int32_t raw_attention = 7;  // a C caller may store any int in the enum
  std::memcpy(&cfg.c.attention, &raw_attention, sizeof raw_attention);
  expect(ATTNGEN_ERR_OPTION, "attention");
  cfg.c.attention = ATTNGEN_BIDIRECTIONAL;

  cfg.c.num_random_blocks = -1;
  expect(ATTNGEN_ERR_OPTION, "num_random_blocks");
  cfg.c.num_random_blocks = 9;  // > nb = 8
  expect(ATTNGEN_ERR_OPTION, "num_random_blocks");
  cfg.c.num_random_blocks = 2;

  cfg.c.num_local_windows = 0;
  expect(ATTNGEN_ERR_OPTION, "num_local_windows");
  cfg.c.num_local_windows = 2;

  cfg.c.num_global_blocks = -1;
  expect(ATTNGEN_ERR_OPTION, "num_global_blocks");
  cfg.c.num_global_blocks = 2;

  cfg.c.horizontal_global_attention = 1;
  cfg.c.attention = ATTNGEN_UNIDIRECTIONAL;
  expect(ATTNGEN_ERR_OPTION, "horizontal_global_attention");
  cfg.c.attention = ATTNGEN_BIDIRECTIONAL;
  EXPECT_EQ(attngen_layout_variable_sparsity(&cfg.c, seq_len, layout.data(), size), ATTNGEN_OK);
  EXPECT_STREQ(attngen_last_error(), "");
}

TEST_F(VariableErrors, ArrayEntries) {
  for (int32_t bad : {0, -3}) {
    Config c({2, bad});
    expect(ATTNGEN_ERR_OPTION, "local_window_blocks", &c.c);
  }
  {
    Config c({2}, {0, -1});
    expect(ATTNGEN_ERR_OPTION, "global_block_indices", &c.c);
  }
  for (int32_t end : {3, 1}) {  // end == start, end < start
    Config c({2}, {0, 3}, {1, end});
    expect(ATTNGEN_ERR_OPTION, "global_block_end_indices", &c.c);
  }
}

TEST(LayoutErrors, Dalle) {
  Layout layout(4 * 4 * 2, kSentinel);  // 64 tokens: 4 blocks, 2 heads
  const size_t size = layout.size();
  EXPECT_LAYOUT_ERROR(attngen_layout_dalle(2, 64, 16, 1, 0, nullptr, size), ATTNGEN_ERR_NULL_ARGUMENT, "layout");
  EXPECT_LAYOUT_ERROR(attngen_layout_dalle(0, 64, 16, 1, 0, layout.data(), size), ATTNGEN_ERR_SHAPE, "num_heads");
  EXPECT_LAYOUT_ERROR(attngen_layout_dalle(2, 0, 0, 1, 0, layout.data(), size), ATTNGEN_ERR_SHAPE, "seq_len");
  EXPECT_LAYOUT_ERROR(attngen_layout_dalle(2, 64, 0, 1, 0, layout.data(), size), ATTNGEN_ERR_SHAPE, "text_len");
  EXPECT_LAYOUT_ERROR(attngen_layout_dalle(2, 64, -1, 1, 0, layout.data(), size), ATTNGEN_ERR_SHAPE, "text_len");
  EXPECT_LAYOUT_ERROR(attngen_layout_dalle(2, 64, 65, 1, 0, layout.data(), size), ATTNGEN_ERR_SHAPE, "text_len");
  EXPECT_LAYOUT_ERROR(attngen_layout_dalle(2, 64, 16, 1, 0, layout.data(), size - 1), ATTNGEN_ERR_SHAPE,
                      "layout_size");
  EXPECT_LAYOUT_ERROR(attngen_layout_dalle(2, INT64_MAX, 16, 1, 0, layout.data(), size), ATTNGEN_ERR_TOO_LARGE,
                      "seq_len");
  for (uint8_t b : layout) ASSERT_EQ(b, kSentinel) << "a failed call wrote the layout";
  EXPECT_EQ(attngen_layout_dalle(2, 64, 64, 1, 0, layout.data(), size), ATTNGEN_OK);  // all text: fine
  EXPECT_STREQ(attngen_last_error(), "");
}

TEST(LayoutErrors, FromMask) {
  const std::vector<uint8_t> mask(64, 1);  // 8 x 8
  Layout layout(4, kSentinel);             // blocks of 4: 2 x 2
  const size_t size = layout.size();
  int32_t partial = -1;
  EXPECT_LAYOUT_ERROR(attngen_layout_from_mask(nullptr, 8, 8, 4, layout.data(), size, &partial),
                      ATTNGEN_ERR_NULL_ARGUMENT, "mask");
  EXPECT_LAYOUT_ERROR(attngen_layout_from_mask(mask.data(), 8, 8, 4, nullptr, size, &partial),
                      ATTNGEN_ERR_NULL_ARGUMENT, "layout");
  EXPECT_LAYOUT_ERROR(attngen_layout_from_mask(mask.data(), 0, 8, 4, layout.data(), size, &partial),
                      ATTNGEN_ERR_SHAPE, "n");
  EXPECT_LAYOUT_ERROR(attngen_layout_from_mask(mask.data(), 8, 8, 0, layout.data(), size, &partial),
                      ATTNGEN_ERR_OPTION, "block");
  EXPECT_LAYOUT_ERROR(attngen_layout_from_mask(mask.data(), 8, 7, 4, layout.data(), size, &partial),
                      ATTNGEN_ERR_LAYOUT, "mask_stride");
  EXPECT_LAYOUT_ERROR(attngen_layout_from_mask(mask.data(), 8, INT64_MAX / 4, 4, layout.data(), size, &partial),
                      ATTNGEN_ERR_TOO_LARGE, "mask_stride");
  EXPECT_LAYOUT_ERROR(attngen_layout_from_mask(mask.data(), 8, 8, 4, layout.data(), size - 1, &partial),
                      ATTNGEN_ERR_SHAPE, "layout_size");
  EXPECT_LAYOUT_ERROR(attngen_layout_from_mask(mask.data(), 1 << 20, 1 << 20, 1, layout.data(), size, &partial),
                      ATTNGEN_ERR_TOO_LARGE, "n");
  for (uint8_t b : layout) ASSERT_EQ(b, kSentinel) << "a failed call wrote the layout";
  EXPECT_EQ(partial, -1) << "a failed call wrote *partial";
  EXPECT_EQ(attngen_layout_from_mask(mask.data(), 8, 8, 4, layout.data(), size, &partial), ATTNGEN_OK);
  EXPECT_STREQ(attngen_last_error(), "");
}

// attngen_layout_count returns -1 on bad arguments, the message says why.
void check_count_error(int64_t got, const char* name) {
  EXPECT_EQ(got, -1);
  const std::string msg = attngen_last_error();
  EXPECT_TRUE(names_word(msg, name)) << "message \"" << msg << "\" does not name " << name;
}

TEST(LayoutErrors, Count) {
  const Layout layout(8, 1);
  check_count_error(attngen_layout_count(nullptr, 2, 2, 0), "layout");
  check_count_error(attngen_layout_count(layout.data(), 0, 2, 0), "num_heads");
  check_count_error(attngen_layout_count(layout.data(), 2, 0, 0), "nb");
  check_count_error(attngen_layout_count(layout.data(), 2, -4, 1), "nb");
  check_count_error(attngen_layout_count(layout.data(), 2, INT64_MAX / 2, 0), "nb");
  EXPECT_EQ(attngen_layout_count(layout.data(), 2, 2, 0), 8);
  EXPECT_STREQ(attngen_last_error(), "");
}

// ---- Threads ----------------------------------------------------------------------

// Builders keep no state: concurrent calls give the serial result.
TEST(Layout, ConcurrentCallsAgree) {
  const Layout want = dalle(2, 1024, 256, 1, 123);
  std::vector<Layout> got(4);
  std::vector<std::thread> threads;
  for (auto& g : got) {
    threads.emplace_back([&g] {
      g.assign(2 * 64 * 64, kSentinel);
      for (int rep = 0; rep < 20; rep++) attngen_layout_dalle(2, 1024, 256, 1, 123, g.data(), g.size());
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, want);
}

}  // namespace
