// C API robustness: every bad argument of attngen_dense gives the right
// status and a message naming the argument, without crashing or touching
// memory; errors are per thread and cleared by the next call; NaN and
// large-magnitude inputs behave.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <functional>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "attngen/attngen.h"
#include "attngen/attngen.hpp"
#include "reference/reference.h"
#include "test_util.h"

namespace {

using namespace attngen_test;

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

// A valid dense call (B=2, N=8, H=4, Hkv=2, D=16, all options) that each test
// breaks in one way. Buffers are real, so a validation failure that went on
// to run a kernel would still not crash; out is checked to stay untouched.
class ApiErrors : public ::testing::Test {
 protected:
  static constexpr int B = 2, N = 8, H = 4, Hkv = 2, D = 16, S = 10, Nf = 8, R = 8;
  static constexpr float kSentinel = -4242.f;

  void SetUp() override {
    std::mt19937 rng(5);
    q = random_floats(size_t(B) * N * H * D, rng);
    k = random_floats(size_t(B) * N * Hkv * D, rng);
    v = random_floats(size_t(B) * N * Hkv * D, rng);
    out.assign(q.size(), kSentinel);
    km.assign(size_t(B) * N, 1);
    sm.assign(size_t(S) * S, 1);
    fr = random_floats(size_t(Nf) * R, rng);
    reset();
  }

  void reset() {
    tq = f32_view(q.data(), {B, N, H, D});
    tk = f32_view(k.data(), {B, N, Hkv, D});
    tv = f32_view(v.data(), {B, N, Hkv, D});
    to = f32_view(out.data(), {B, N, H, D});
    tkm = u8_view(km.data(), {B, N});
    tsm = u8_view(sm.data(), {S, S});
    tfr = f32_view(fr.data(), {Nf, R});
    attngen_dense_options_init(&opts);
    opts.causal = 1;
    opts.key_mask = &tkm;
    opts.static_mask = &tsm;
    opts.freqs = &tfr;
    pq = &tq, pk = &tk, pv = &tv, po = &to;
  }

  attngen_status call() { return attngen_dense(pq, pk, pv, po, &opts); }

  // Expects `want` and a message naming one of `names`; out must be untouched.
  void expect_error(attngen_status want, std::initializer_list<const char*> names) {
    std::fill(out.begin(), out.end(), kSentinel);
    const attngen_status got = call();
    EXPECT_EQ(got, want) << "got " << attngen_status_string(got) << " (" << attngen_last_error() << "), want "
                         << attngen_status_string(want);
    const std::string msg = attngen_last_error();
    EXPECT_FALSE(msg.empty());
    bool named = false;
    std::string list;
    for (const char* n : names) {
      named |= names_word(msg, n);
      list += std::string(list.empty() ? "" : " or ") + n;
    }
    EXPECT_TRUE(named) << "message \"" << msg << "\" does not name " << list;
    bool untouched = true;
    for (float x : out) untouched &= x == kSentinel;
    EXPECT_TRUE(untouched) << "out was written by a call that failed validation";
  }

  // The unmodified call succeeds and clears the error.
  void expect_good_call() {
    reset();
    const attngen_status st = call();
    EXPECT_EQ(st, ATTNGEN_OK) << attngen_last_error();
    EXPECT_STREQ(attngen_last_error(), "");
  }

  std::vector<float> q, k, v, out, fr;
  std::vector<uint8_t> km, sm;
  attngen_tensor tq, tk, tv, to, tkm, tsm, tfr;
  attngen_tensor *pq, *pk, *pv, *po;
  attngen_dense_options opts;
};

TEST_F(ApiErrors, ValidCallSucceeds) {
  expect_good_call();
  EXPECT_STRNE(attngen_last_kernel(), "");
}

TEST_F(ApiErrors, NullOptionsMeansDefaults) {
  ASSERT_EQ(attngen_dense(&tq, &tk, &tv, &to, nullptr), ATTNGEN_OK) << attngen_last_error();
  std::vector<float> want(q.size());
  ref::dense({B, N, N, H, Hkv, D, D}, q.data(), k.data(), v.data(), want.data(), ref::DenseOpts{});
  EXPECT_TRUE(all_close(out, want, B, N, H, D));
}

TEST_F(ApiErrors, NullTensors) {
  pq = nullptr;
  expect_error(ATTNGEN_ERR_NULL_ARGUMENT, {"q"});
  reset(), pk = nullptr;
  expect_error(ATTNGEN_ERR_NULL_ARGUMENT, {"k"});
  reset(), pv = nullptr;
  expect_error(ATTNGEN_ERR_NULL_ARGUMENT, {"v"});
  reset(), po = nullptr;
  expect_error(ATTNGEN_ERR_NULL_ARGUMENT, {"out"});
  expect_good_call();
}

TEST_F(ApiErrors, NullData) {
  tq.data = nullptr;
  expect_error(ATTNGEN_ERR_NULL_ARGUMENT, {"q"});
  reset(), tk.data = nullptr;
  expect_error(ATTNGEN_ERR_NULL_ARGUMENT, {"k"});
  reset(), tv.data = nullptr;
  expect_error(ATTNGEN_ERR_NULL_ARGUMENT, {"v"});
  reset(), to.data = nullptr;
  expect_error(ATTNGEN_ERR_NULL_ARGUMENT, {"out"});
  reset(), tkm.data = nullptr;
  expect_error(ATTNGEN_ERR_NULL_ARGUMENT, {"key_mask"});
  reset(), tsm.data = nullptr;
  expect_error(ATTNGEN_ERR_NULL_ARGUMENT, {"static_mask"});
  reset(), tfr.data = nullptr;
  expect_error(ATTNGEN_ERR_NULL_ARGUMENT, {"freqs"});
  expect_good_call();
}

TEST_F(ApiErrors, WrongDtype) {
  tq.dtype = ATTNGEN_U8;
  expect_error(ATTNGEN_ERR_DTYPE, {"q"});
  reset(), tk.dtype = ATTNGEN_U8;
  expect_error(ATTNGEN_ERR_DTYPE, {"k"});
  reset(), tv.dtype = ATTNGEN_U8;
  expect_error(ATTNGEN_ERR_DTYPE, {"v"});
  reset(), to.dtype = ATTNGEN_U8;
  expect_error(ATTNGEN_ERR_DTYPE, {"out"});
  reset(), tq.dtype = static_cast<attngen_dtype>(42);
  expect_error(ATTNGEN_ERR_DTYPE, {"q"});
  reset(), tkm.dtype = ATTNGEN_F32;
  expect_error(ATTNGEN_ERR_DTYPE, {"key_mask"});
  reset(), tsm.dtype = ATTNGEN_F32;
  expect_error(ATTNGEN_ERR_DTYPE, {"static_mask"});
  reset(), tfr.dtype = ATTNGEN_U8;
  expect_error(ATTNGEN_ERR_DTYPE, {"freqs"});
  expect_good_call();
}

TEST_F(ApiErrors, WrongRank) {
  for (int32_t ndim : {-1, 0, 3, 5, 1000}) {
    SCOPED_TRACE("ndim " + std::to_string(ndim));
    reset(), tq.ndim = ndim;
    expect_error(ATTNGEN_ERR_SHAPE, {"q"});
    reset(), tk.ndim = ndim;
    expect_error(ATTNGEN_ERR_SHAPE, {"k"});
    reset(), tv.ndim = ndim;
    expect_error(ATTNGEN_ERR_SHAPE, {"v"});
    reset(), to.ndim = ndim;
    expect_error(ATTNGEN_ERR_SHAPE, {"out"});
  }
  for (int32_t ndim : {1, 3}) {
    SCOPED_TRACE("ndim " + std::to_string(ndim));
    reset(), tkm.ndim = ndim;
    expect_error(ATTNGEN_ERR_SHAPE, {"key_mask"});
    reset(), tsm.ndim = ndim;
    expect_error(ATTNGEN_ERR_SHAPE, {"static_mask"});
    reset(), tfr.ndim = ndim;
    expect_error(ATTNGEN_ERR_SHAPE, {"freqs"});
  }
  expect_good_call();
}

TEST_F(ApiErrors, NonPositiveSizes) {
  for (int64_t bad : {int64_t(0), int64_t(-1), -(int64_t(1) << 40)}) {
    SCOPED_TRACE("size " + std::to_string(bad));
    for (int dim = 0; dim < 4; ++dim) {
      SCOPED_TRACE("dim " + std::to_string(dim));
      reset(), tq.shape[dim] = bad;
      expect_error(ATTNGEN_ERR_SHAPE, {"q"});
      reset(), tk.shape[dim] = bad;
      expect_error(ATTNGEN_ERR_SHAPE, {"k"});
      reset(), tv.shape[dim] = bad;
      expect_error(ATTNGEN_ERR_SHAPE, {"v"});
      reset(), to.shape[dim] = bad;
      expect_error(ATTNGEN_ERR_SHAPE, {"out"});
    }
    for (int dim = 0; dim < 2; ++dim) {
      reset(), tkm.shape[dim] = bad;
      expect_error(ATTNGEN_ERR_SHAPE, {"key_mask"});
      reset(), tsm.shape[dim] = bad;
      expect_error(ATTNGEN_ERR_SHAPE, {"static_mask"});
      reset(), tfr.shape[dim] = bad;
      expect_error(ATTNGEN_ERR_SHAPE, {"freqs"});
    }
  }
  expect_good_call();
}

// Shapes that disagree: views smaller than the buffers, so nothing can be
// read out of bounds.
TEST_F(ApiErrors, ShapeMismatches) {
  tk.shape[0] = 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"k"});
  reset(), tv.shape[0] = 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"v"});
  reset(), tk.shape[3] = 8;
  expect_error(ATTNGEN_ERR_SHAPE, {"k"});
  reset(), tv.shape[3] = 8;
  expect_error(ATTNGEN_ERR_SHAPE, {"v"});
  reset(), tv.shape[1] = N - 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"v"});
  reset(), tv.shape[2] = 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"v"});
  reset(), to.shape[0] = 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"out"});
  reset(), to.shape[1] = N - 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"out"});
  reset(), to.shape[2] = H - 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"out"});
  reset(), to.shape[3] = D - 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"out"});
  // q smaller than k/v: B, H and D of q disagree with k/v or out.
  reset(), tq.shape[0] = 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"k", "q"});
  reset(), tq.shape[3] = 8;
  expect_error(ATTNGEN_ERR_SHAPE, {"k", "q"});
  expect_good_call();
}

TEST_F(ApiErrors, HeadsNotDivisible) {
  tq.shape[2] = 3;  // q: 3 heads, k/v: 2 heads
  to.shape[2] = 3;
  expect_error(ATTNGEN_ERR_SHAPE, {"k", "q"});
  reset();
  tq.shape[2] = 1;  // Hkv > H
  to.shape[2] = 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"k", "q"});
  expect_good_call();
}

TEST_F(ApiErrors, QueryKeyCountsWithoutOffset) {
  tq.shape[1] = N - 1;  // Nq != Nk, offset 0
  to.shape[1] = N - 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"k", "q"});
  expect_good_call();
}

TEST_F(ApiErrors, KeyCountMustBeOffsetPlusQueries) {
  tq.shape[1] = 2;
  to.shape[1] = 2;
  opts.offset = 5;  // Nk = 8 != 5 + 2
  expect_error(ATTNGEN_ERR_SHAPE, {"k", "offset"});
  opts.offset = 7;  // Nk = 8 != 7 + 2
  expect_error(ATTNGEN_ERR_SHAPE, {"k", "offset"});
  opts.offset = 6;  // fine
  EXPECT_EQ(call(), ATTNGEN_OK) << attngen_last_error();
  EXPECT_STREQ(attngen_last_error(), "");
  reset(), opts.offset = 3;  // Nq == Nk == 8 with an offset
  expect_error(ATTNGEN_ERR_SHAPE, {"k", "offset"});
  expect_good_call();
}

TEST_F(ApiErrors, NegativeOffset) {
  for (int64_t off : {int64_t(-1), int64_t(-8), int64_t(1) << 63}) {
    reset(), opts.offset = off;
    expect_error(ATTNGEN_ERR_OPTION, {"offset"});
  }
  expect_good_call();
}

TEST_F(ApiErrors, HugeOffset) {
  // Nk = offset + Nq cannot hold, whatever the offset; must not overflow.
  for (int64_t off : {int64_t(1) << 31, int64_t(1) << 40, INT64_MAX}) {
    reset(), opts.offset = off;
    const attngen_status st = call();
    EXPECT_NE(st, ATTNGEN_OK) << off;
    EXPECT_STRNE(attngen_last_error(), "");
  }
  expect_good_call();
}

TEST_F(ApiErrors, KeyMaskShape) {
  tkm.shape[1] = N - 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"key_mask"});
  reset(), tkm.shape[0] = 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"key_mask"});
  reset(), tkm.shape[0] = N, tkm.shape[1] = B;  // transposed
  expect_error(ATTNGEN_ERR_SHAPE, {"key_mask"});
  expect_good_call();
}

TEST_F(ApiErrors, StaticMaskShape) {
  tsm.shape[0] = S - 1;  // not square
  expect_error(ATTNGEN_ERR_SHAPE, {"static_mask"});
  reset(), tsm.shape[0] = tsm.shape[1] = N - 1;  // square but smaller than Nk
  tsm.strides[0] = S, tsm.strides[1] = 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"static_mask"});
  // Decode: S must cover offset + Nq (= Nk), not just Nq.
  reset(), tq.shape[1] = to.shape[1] = 2, opts.offset = N - 2;
  tsm.shape[0] = tsm.shape[1] = N - 1;
  tsm.strides[0] = S, tsm.strides[1] = 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"static_mask"});
  tsm.shape[0] = tsm.shape[1] = N;  // exactly Nk: fine
  EXPECT_EQ(call(), ATTNGEN_OK) << attngen_last_error();
  expect_good_call();
}

// The rotary dim is the freqs table's second dimension, so a bad one is a
// shape error (the header files it under ATTNGEN_ERR_SHAPE).
TEST_F(ApiErrors, RotaryDim) {
  tfr.shape[1] = 7;  // odd
  tfr.strides[0] = R, tfr.strides[1] = 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"freqs"});
  std::vector<float> wide(size_t(Nf) * (D + 2), 0.f);
  reset(), tfr = f32_view(wide.data(), {Nf, D + 2});  // R > D
  expect_error(ATTNGEN_ERR_SHAPE, {"freqs"});
  expect_good_call();
}

TEST_F(ApiErrors, FreqsTooFewPositions) {
  tfr.shape[0] = N - 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"freqs"});
  // Decode: positions must cover offset + Nq.
  reset(), tq.shape[1] = to.shape[1] = 2, opts.offset = N - 2;
  tfr.shape[0] = N - 1;
  expect_error(ATTNGEN_ERR_SHAPE, {"freqs"});
  tfr.shape[0] = N;
  EXPECT_EQ(call(), ATTNGEN_OK) << attngen_last_error();
  expect_good_call();
}

TEST_F(ApiErrors, FeatureStrideMustBeOne) {
  // Same shapes over a buffer twice as large, every stride doubled.
  std::vector<float> wide(2 * q.size());
  auto doubled = [&](attngen_tensor* t) {
    t->data = wide.data();
    t->strides[3] = 2;
    for (int i = 2; i >= 0; --i) t->strides[i] = t->strides[i + 1] * t->shape[i + 1];
  };
  doubled(&tq);
  expect_error(ATTNGEN_ERR_LAYOUT, {"q"});
  reset(), doubled(&tk);
  expect_error(ATTNGEN_ERR_LAYOUT, {"k"});
  reset(), doubled(&tv);
  expect_error(ATTNGEN_ERR_LAYOUT, {"v"});
  reset(), doubled(&to);
  expect_error(ATTNGEN_ERR_LAYOUT, {"out"});
  expect_good_call();
}

// Negative strides are refused (q); for out, zero strides too (they overlap).
TEST_F(ApiErrors, NegativeOrZeroStride) {
  const int64_t contiguous[4] = {N * H * D, H * D, D, 1};
  for (int dim = 0; dim < 3; ++dim) {
    SCOPED_TRACE("dim " + std::to_string(dim));
    reset();
    for (int i = 0; i < 4; ++i) tq.strides[i] = contiguous[i];
    tq.strides[dim] = -contiguous[dim];
    expect_error(ATTNGEN_ERR_LAYOUT, {"q"});
    for (int64_t sign : {-1, 0}) {
      reset();
      for (int i = 0; i < 4; ++i) to.strides[i] = contiguous[i];
      to.strides[dim] = sign * contiguous[dim];
      expect_error(ATTNGEN_ERR_LAYOUT, {"out"});
    }
  }
  expect_good_call();
}

TEST_F(ApiErrors, OverlappingOutStrides) {
  // Token stride D: token n + 1 of head h is token n of head h + 1.
  to.strides[0] = N * H * D, to.strides[1] = D, to.strides[2] = D, to.strides[3] = 1;
  expect_error(ATTNGEN_ERR_LAYOUT, {"out"});
  // Head stride shorter than the row.
  reset(), to.strides[0] = N * H * D, to.strides[1] = H * D, to.strides[2] = D / 2, to.strides[3] = 1;
  expect_error(ATTNGEN_ERR_LAYOUT, {"out"});
  // Batches on top of each other.
  reset(), to.strides[0] = H * D, to.strides[1] = H * D, to.strides[2] = D, to.strides[3] = 1;
  expect_error(ATTNGEN_ERR_LAYOUT, {"out"});
  expect_good_call();
}

TEST_F(ApiErrors, OutAliasesAnInput) {
  // out exactly on q (same shape).
  to.data = q.data();
  expect_error(ATTNGEN_ERR_LAYOUT, {"out"});
  // out partly over k and v (k and v hold half as many elements as out).
  std::vector<float> kv(k.size() + v.size() + q.size() + 3);
  reset();
  tk.data = kv.data();
  tv.data = kv.data() + k.size();
  to.data = kv.data() + 3;
  expect_error(ATTNGEN_ERR_LAYOUT, {"out"});
  // out over the rotary table.
  std::vector<float> big(q.size() + fr.size());
  reset(), to.data = big.data(), tfr.data = big.data() + q.size() - 1;
  expect_error(ATTNGEN_ERR_LAYOUT, {"out"});
  expect_good_call();
}

// Inputs may alias each other (read only): self-attention on one buffer.
TEST(ApiAliasing, InputsMayShareMemory) {
  std::mt19937 rng(6);
  std::vector<float> x = random_floats(size_t(2) * 12 * 3 * 40, rng), o(x.size());
  attngen_tensor t = f32_view(x.data(), {2, 12, 3, 40});
  attngen_tensor to = f32_view(o.data(), {2, 12, 3, 40});
  attngen_dense_options opts;
  attngen_dense_options_init(&opts);
  opts.causal = 1;
  ASSERT_EQ(attngen_dense(&t, &t, &t, &to, &opts), ATTNGEN_OK) << attngen_last_error();
  std::vector<float> want(x.size());
  ref::DenseOpts ro;
  ro.causal = true;
  ref::dense({2, 12, 12, 3, 3, 40, 40}, x.data(), x.data(), x.data(), want.data(), ro);
  EXPECT_TRUE(all_close(o, want, 2, 12, 3, 40));
}

// Sizes beyond the kernels' 32-bit indexing: huge views of a tiny buffer.
// The call must refuse them before touching memory.
TEST_F(ApiErrors, TooLarge) {
  const int64_t big = int64_t(1) << 20;
  // 2^32 elements, contiguous.
  tq.shape[1] = tk.shape[1] = tv.shape[1] = to.shape[1] = big;
  tq.shape[2] = to.shape[2] = 64 * 64 / D;
  tk.shape[2] = tv.shape[2] = 64 * 64 / D;
  expect_error(ATTNGEN_ERR_TOO_LARGE, {"q"});
  // One dimension alone beyond 2^31 - 1.
  reset(), tq.shape[1] = tk.shape[1] = tv.shape[1] = to.shape[1] = int64_t(1) << 31;
  expect_error(ATTNGEN_ERR_TOO_LARGE, {"q"});
  // A product that overflows int64.
  reset();
  for (attngen_tensor* t : {&tq, &tk, &tv, &to})
    for (int i = 0; i < 4; ++i) t->shape[i] = (int64_t(1) << 31) - 1;
  expect_error(ATTNGEN_ERR_TOO_LARGE, {"q"});
  // Strided spans: k's batch stride puts batch 1 past 2^31 elements.
  reset();
  tk.strides[0] = int64_t(1) << 31, tk.strides[1] = Hkv * D, tk.strides[2] = D, tk.strides[3] = 1;
  expect_error(ATTNGEN_ERR_TOO_LARGE, {"k"});
  reset();
  tv.strides[0] = (int64_t(1) << 30) + (int64_t(1) << 29) + (int64_t(1) << 28), tv.strides[1] = int64_t(1) << 27;
  tv.strides[2] = D, tv.strides[3] = 1;  // (B-1)*sb + (N-1)*sn > 2^31 - 1
  expect_error(ATTNGEN_ERR_TOO_LARGE, {"v"});
  reset();
  to.strides[0] = int64_t(1) << 40, to.strides[1] = H * D, to.strides[2] = D, to.strides[3] = 1;
  expect_error(ATTNGEN_ERR_TOO_LARGE, {"out"});
  reset();
  tkm.strides[0] = int64_t(1) << 31, tkm.strides[1] = 1;
  expect_error(ATTNGEN_ERR_TOO_LARGE, {"key_mask"});
  expect_good_call();
}

// ---- Error state -------------------------------------------------------------------------

TEST_F(ApiErrors, ErrorIsClearedByTheNextGoodCall) {
  tq.dtype = ATTNGEN_U8;
  expect_error(ATTNGEN_ERR_DTYPE, {"q"});
  EXPECT_STRNE(attngen_last_error(), "");
  expect_good_call();
  // And again with a different kind of error.
  opts.offset = -3;
  expect_error(ATTNGEN_ERR_OPTION, {"offset"});
  expect_good_call();
}

TEST_F(ApiErrors, ErrorsArePerThread) {
  expect_good_call();
  std::string other_msg;
  attngen_status other_status = ATTNGEN_OK;
  std::thread t([&] {
    attngen_tensor bad = tq;
    bad.dtype = ATTNGEN_U8;
    other_status = attngen_dense(&bad, &tk, &tv, &to, &opts);
    other_msg = attngen_last_error();
  });
  t.join();
  EXPECT_EQ(other_status, ATTNGEN_ERR_DTYPE);
  EXPECT_TRUE(names_word(other_msg, "q")) << other_msg;
  EXPECT_STREQ(attngen_last_error(), "") << "an error in another thread leaked into this one";
}

TEST(ApiMisc, StatusStrings) {
  for (int s = ATTNGEN_OK; s <= ATTNGEN_ERR_OUT_OF_MEMORY; ++s) {
    const char* str = attngen_status_string(static_cast<attngen_status>(s));
    ASSERT_NE(str, nullptr);
    EXPECT_STRNE(str, "") << s;
  }
  EXPECT_NE(attngen_status_string(static_cast<attngen_status>(1234)), nullptr);
}

TEST(ApiMisc, TensorMakeIsContiguous) {
  float x[4];
  const int64_t shape[2] = {2, 2};
  const attngen_tensor t = attngen_tensor_make(x, ATTNGEN_F32, 2, shape);
  EXPECT_EQ(t.data, x);
  EXPECT_EQ(t.ndim, 2);
  EXPECT_EQ(t.shape[0], 2);
  EXPECT_EQ(t.shape[1], 2);
  for (int i = 0; i < ATTNGEN_MAX_DIMS; ++i) EXPECT_EQ(t.strides[i], 0);
  // A rank beyond ATTNGEN_MAX_DIMS must not write past the shape array.
  const int64_t shape6[6] = {1, 2, 3, 4, 5, 6};
  const attngen_tensor u = attngen_tensor_make(x, ATTNGEN_F32, 6, shape6);
  EXPECT_EQ(u.ndim, 6);
}

// Concurrent calls from several threads give the same results as serial ones.
TEST(ApiThreads, ConcurrentCallsAreCorrect) {
  constexpr int kThreads = 4;
  std::vector<DenseProblem> problems;
  for (int t = 0; t < kThreads; ++t) {
    std::mt19937 rng(100 + t);
    DenseProblem p;
    p.B = 1 + t % 2, p.H = 2, p.Hkv = t % 2 ? 1 : 2, p.D = t % 2 ? 59 : 64;
    p.Nq = t % 2 ? 3 : 50;
    p.offset = t % 2 ? 20 : 0;
    p.Nk = p.offset + p.Nq;
    p.causal = true;
    p.fill_random(rng);
    p.key_mask = random_mask(size_t(p.B) * p.Nk, rng, 0.8);
    if (t >= 2) p.set_rotary(16, p.Nk, rng);
    problems.push_back(p);
  }
  std::vector<std::vector<float>> serial(kThreads), parallel(kThreads * 5);
  for (int t = 0; t < kThreads; ++t) ASSERT_EQ(problems[t].run(&serial[t]), ATTNGEN_OK) << attngen_last_error();
  std::vector<attngen_status> status(kThreads * 5, ATTNGEN_ERR_KERNEL);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 5; ++rep) status[t * 5 + rep] = problems[t].run(&parallel[t * 5 + rep]);
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    const DenseProblem& p = problems[t];
    EXPECT_TRUE(all_close(serial[t], p.reference(), p.B, p.Nq, p.H, p.D)) << p.describe();
    for (int rep = 0; rep < 5; ++rep) {
      ASSERT_EQ(status[t * 5 + rep], ATTNGEN_OK) << p.describe();
      EXPECT_TRUE(bitwise_equal(parallel[t * 5 + rep], serial[t])) << p.describe() << " rep " << rep;
    }
  }
}

// ---- Non-finite and large inputs -------------------------------------------------------------

// Runs p and compares with the reference NaN-aware (want NaN => got NaN, want
// finite => got finite and close). Returns the number of NaN outputs.
size_t check_with_nans(const DenseProblem& p) {
  std::vector<float> got;
  const attngen_status st = p.run(&got);
  EXPECT_EQ(st, ATTNGEN_OK) << attngen_last_error();
  if (st != ATTNGEN_OK) return 0;
  const std::vector<float> want = p.reference();
  EXPECT_TRUE(all_close(got, want, p.B, p.Nq, p.H, p.D)) << p.describe();
  size_t nans = 0;
  for (float x : want) nans += std::isnan(x);
  return nans;
}

size_t at(const DenseProblem& p, int b, int n, int h, int d, bool kv) {
  const int N = kv ? p.Nk : p.Nq, Hh = kv ? p.Hkv : p.H;
  return ((size_t(b) * N + n) * Hh + h) * p.D + d;
}

// NaN in one query row: that row of out is NaN, every other row finite and correct.
// (Non-finite scores are detected on their bits in the kernels: Halide
// compiles float code under fast-math.)
TEST(ApiNonFinite, NanInOneQueryRow) {
  for (bool causal : {false, true})
    for (int offset : {0, 20}) {
      std::mt19937 rng(7);
      DenseProblem p;
      p.B = 2, p.Nq = offset ? 4 : 40, p.Nk = offset + p.Nq, p.H = 3, p.Hkv = 3, p.D = 64;
      p.causal = causal, p.offset = offset;
      p.fill_random(rng);
      p.q[at(p, 1, 2, 1, 5, false)] = std::nanf("");
      SCOPED_TRACE(p.describe());
      EXPECT_EQ(check_with_nans(p), size_t(p.D)) << "expected exactly one NaN row";
    }
}

// NaN in one key row (causal): it reaches the query rows that can see that key
// (i >= j, heads reading that k/v head) and only those.
TEST(ApiNonFinite, NanInOneKeyRowCausal) {
  std::mt19937 rng(8);
  DenseProblem p;
  p.B = 2, p.Nq = p.Nk = 150, p.H = 4, p.Hkv = 2, p.D = 64, p.causal = true;
  p.fill_random(rng);
  const int j = 100;
  p.k[at(p, 1, j, 0, 3, true)] = std::nanf("");
  // Batch 1, query heads 0 and 1 (kv head 0), rows j..Nq-1.
  EXPECT_EQ(check_with_nans(p), size_t(2) * (p.Nq - j) * p.D);
}

// A value row is zeroed (on its bits) for the queries that cannot see it, so
// a NaN/inf value row does not leak into rows of the same key chunk
// (0 * NaN = NaN).
TEST(ApiNonFinite, NanInOneValueRowCausal) {
  std::mt19937 rng(9);
  DenseProblem p;
  p.B = 1, p.Nq = p.Nk = 70, p.H = 2, p.Hkv = 2, p.D = 40, p.causal = true;
  p.fill_random(rng);
  const int j = 30;
  p.v[at(p, 0, j, 1, 7, true)] = std::nanf("");
  // Head 1, rows j..N-1, feature 7 only.
  EXPECT_EQ(check_with_nans(p), size_t(p.Nq - j));
}

// Padding keys hidden by the key mask may hold anything (NaN, inf): a masked
// score contributes nothing (SPEC), so the output stays finite and correct.
void check_masked_garbage(bool in_k, bool in_v) {
  for (bool causal : {false, true}) {
    std::mt19937 rng(10);
    DenseProblem p;
    p.B = 2, p.Nq = p.Nk = 50, p.H = 2, p.Hkv = 2, p.D = 64, p.causal = causal;
    p.fill_random(rng);
    p.key_mask.assign(size_t(p.B) * p.Nk, 1);
    for (int j : {3, 41, 49}) {
      p.key_mask[size_t(1) * p.Nk + j] = 0;
      for (int h = 0; h < p.Hkv; ++h)
        for (int d = 0; d < p.D; ++d) {
          if (in_k) p.k[at(p, 1, j, h, d, true)] = d % 2 ? std::nanf("") : INFINITY;
          if (in_v) p.v[at(p, 1, j, h, d, true)] = d % 3 ? std::nanf("") : -INFINITY;
        }
    }
    SCOPED_TRACE(p.describe());
    EXPECT_EQ(check_with_nans(p), 0u);
  }
}

TEST(ApiNonFinite, NonFiniteMaskedKeysAreIgnored) { check_masked_garbage(true, false); }
TEST(ApiNonFinite, NonFiniteMaskedValuesAreIgnored) {
  check_masked_garbage(false, true);
}

// Scores around +-1e4: integer-valued q and k make every score exact in
// float32 (|q . k| < 2^24, scale 1/8), so the softmax is well defined to
// float precision; the output must be finite and match the reference.
TEST(ApiNonFinite, LargeMagnitudeScores) {
  for (int offset : {0, 30}) {
    std::mt19937 rng(11);
    std::uniform_int_distribution<int> qd(30, 40), kd(20, 40);
    DenseProblem p;
    p.B = 2, p.Nq = offset ? 4 : 60, p.Nk = offset + p.Nq, p.H = 2, p.Hkv = 2, p.D = 64;
    p.causal = true, p.offset = offset;
    p.fill_random(rng);  // v stays in [-1, 1)
    for (auto& x : p.q) x = float(qd(rng));
    for (size_t i = 0; i < p.k.size(); ++i) {
      const size_t row = i / size_t(p.Hkv * p.D) % size_t(p.Nk);  // every third key scores high
      p.k[i] = float(kd(rng) * (row % 3 == 0 ? 1 : -1));
    }
    SCOPED_TRACE(p.describe());
    double max_score = 0;
    for (int b = 0; b < p.B; ++b)
      for (int i = 0; i < p.Nq; ++i)
        for (int j = 0; j < p.Nk; ++j) {
          double dot = 0;
          for (int d = 0; d < p.D; ++d) dot += double(p.q[at(p, b, i, 0, d, false)]) * p.k[at(p, b, j, 0, d, true)];
          max_score = std::max(max_score, std::fabs(dot) / 8.0);
        }
    ASSERT_GT(max_score, 8e3);
    EXPECT_EQ(check_with_nans(p), 0u);
    // All scores hugely negative: still a proper softmax, not a masked row.
    for (auto& x : p.k) x = -std::fabs(x);
    std::vector<float> got;
    ASSERT_EQ(p.run(&got), ATTNGEN_OK) << attngen_last_error();
    EXPECT_TRUE(all_close(got, p.reference(), p.B, p.Nq, p.H, p.D));
    for (float x : got) ASSERT_TRUE(std::isfinite(x));
  }
}

}  // namespace

// ---- Validation gaps closed by the hardening issue (#8) ---------------------------------

namespace {

// A dtype field holding a value outside the enum (C callers may store any
// int): refused by name, without loading it as the enum (UBSan would flag
// that in the sanitizer build).
TEST_F(ApiErrors, DtypeOutsideTheEnum) {
  for (int32_t raw : {99, -1, 4, 1 << 30}) {
    SCOPED_TRACE(raw);
    reset();
    std::memcpy(&tk.dtype, &raw, sizeof raw);
    expect_error(ATTNGEN_ERR_DTYPE, {"k"});
    reset();
    std::memcpy(&tkm.dtype, &raw, sizeof raw);
    expect_error(ATTNGEN_ERR_DTYPE, {"key_mask"});
  }
  expect_good_call();
}

// Halide refuses a buffer whose size x stride in one dimension exceeds
// 2^31-1 elements even when the span (sum of (size-1) x stride) fits: the
// runtime must refuse it first, by name, instead of ATTNGEN_ERR_KERNEL. The
// views are never read, so a small buffer backs them.
TEST_F(ApiErrors, SizeTimesStrideBeyond32Bits) {
  const int64_t sb = (int64_t(3) << 29);  // (B-1) * sb < 2^31 - 1 < B * sb
  tq.strides[0] = sb, tq.strides[1] = H * D, tq.strides[2] = D, tq.strides[3] = 1;
  expect_error(ATTNGEN_ERR_TOO_LARGE, {"q"});
  reset();
  to.strides[0] = sb, to.strides[1] = H * D, to.strides[2] = D, to.strides[3] = 1;
  expect_error(ATTNGEN_ERR_TOO_LARGE, {"out"});
  reset();
  tkm.strides[0] = sb, tkm.strides[1] = 1;
  expect_error(ATTNGEN_ERR_TOO_LARGE, {"key_mask"});
  expect_good_call();
}

// An overlapping (read-only) view may address few bytes yet have more than
// 2^31-1 elements, which the kernels cannot index: TOO_LARGE, not a kernel
// error. static_mask (2^16, 2^16) with strides (1, 1) spans 2^17 bytes.
TEST_F(ApiErrors, OverlappingInputWithTooManyElements) {
  const int64_t S = int64_t(1) << 16;
  std::vector<uint8_t> small(size_t(2 * S), 1);
  tsm = u8_view(small.data(), {S, S}, {1, 1});
  expect_error(ATTNGEN_ERR_TOO_LARGE, {"static_mask"});
  expect_good_call();
}

// Block-sparse: a block far larger than the sequence (2^20 tokens over 8,
// or over 100 after a shorter call on the same handle) must neither
// allocate per-row lists for 2^20 / 16 granules (16 GiB) nor change the
// result: it equals the same call with a (1, 1, 1) layout of block 128.
TEST(ApiBlockSparse, HugeBlockOverFewTokens) {
  uint8_t one = 1;
  attngen_tensor lt = u8_view(&one, {1, 1, 1});
  attngen_block_layout *huge = nullptr, *small = nullptr;
  ASSERT_EQ(attngen_block_layout_create(&lt, 1 << 20, 1, &huge), ATTNGEN_OK) << attngen_last_error();
  ASSERT_EQ(attngen_block_layout_create(&lt, 128, 1, &small), ATTNGEN_OK) << attngen_last_error();
  for (int N : {8, 100, 20}) {
    SCOPED_TRACE(N);
    std::mt19937 rng(N);
    const int H = 2, D = 32;
    std::vector<float> q = random_floats(size_t(N) * H * D, rng), k = random_floats(q.size(), rng),
                       v = random_floats(q.size(), rng), o1(q.size()), o2(q.size());
    attngen_tensor tq = f32_view(q.data(), {1, N, H, D}), tk = f32_view(k.data(), {1, N, H, D}),
                   tv = f32_view(v.data(), {1, N, H, D}), t1 = f32_view(o1.data(), {1, N, H, D}),
                   t2 = f32_view(o2.data(), {1, N, H, D});
    const int64_t live = attngen_scratch_live_bytes();
    ASSERT_EQ(attngen_block_sparse(&tq, &tk, &tv, &t1, huge, nullptr), ATTNGEN_OK) << attngen_last_error();
    ASSERT_EQ(attngen_block_sparse(&tq, &tk, &tv, &t2, small, nullptr), ATTNGEN_OK) << attngen_last_error();
    EXPECT_TRUE(bitwise_equal(o1, o2));
    EXPECT_EQ(attngen_scratch_live_bytes(), live);
    std::vector<float> want(q.size());
    ref::DenseOpts ro;
    ro.causal = true;
    ref::dense({1, N, N, H, H, D, D}, q.data(), k.data(), v.data(), want.data(), ro);
    EXPECT_TRUE(all_close(o1, want, 1, N, H, D));
  }
  attngen_block_layout_destroy(huge);
  attngen_block_layout_destroy(small);
}

// Every variant refuses NULL tensors, bad dtypes and mismatched shapes by
// name, and leaves out untouched (dense is covered above in detail).
TEST(ApiVariants, ValidationNamesTheArgument) {
  const int B = 1, N = 24, H = 2, D = 16;
  std::mt19937 rng(3);
  std::vector<float> q = random_floats(size_t(B) * N * H * D, rng), k = q, v = q, out(q.size(), -7.f);
  std::vector<float> k_bad = random_floats(size_t(B) * N * H * 8, rng);
  uint8_t ones[4] = {1, 1, 1, 1};
  attngen_tensor lt = u8_view(ones, {1, 2, 2});
  attngen_block_layout* handle = nullptr;
  ASSERT_EQ(attngen_block_layout_create(&lt, 16, 0, &handle), ATTNGEN_OK) << attngen_last_error();
  attngen_sparse_options so;
  attngen_sparse_options_init(&so);
  so.seq_len = 24, so.image_size = 4;  // text_len 9
  using Fn = std::function<attngen_status(const attngen_tensor*, const attngen_tensor*, const attngen_tensor*,
                                          attngen_tensor*)>;
  const std::vector<std::pair<const char*, Fn>> fns = {
      {"sparse_conv", [&](auto a, auto b, auto c, auto d) { return attngen_sparse_conv(a, b, c, d, &so); }},
      {"sparse_axial", [&](auto a, auto b, auto c, auto d) { return attngen_sparse_axial(a, b, c, d, &so); }},
      {"block_sparse", [&](auto a, auto b, auto c, auto d) { return attngen_block_sparse(a, b, c, d, handle, nullptr); }},
      {"chunked", [&](auto a, auto b, auto c, auto d) { return attngen_chunked(a, b, c, d, nullptr); }},
  };
  for (const auto& [name, fn] : fns) {
    SCOPED_TRACE(name);
    attngen_tensor tq = f32_view(q.data(), {B, N, H, D}), tk = f32_view(k.data(), {B, N, H, D}),
                   tv = f32_view(v.data(), {B, N, H, D}), to = f32_view(out.data(), {B, N, H, D});
    ASSERT_EQ(fn(&tq, &tk, &tv, &to), ATTNGEN_OK) << attngen_last_error();
    std::fill(out.begin(), out.end(), -7.f);
    auto expect = [&](attngen_status st, attngen_status want, const char* word) {
      EXPECT_EQ(st, want) << attngen_last_error();
      EXPECT_TRUE(names_word(attngen_last_error(), word)) << attngen_last_error() << " does not name " << word;
      for (float x : out) ASSERT_EQ(x, -7.f) << "out written by a refused call";
    };
    expect(fn(nullptr, &tk, &tv, &to), ATTNGEN_ERR_NULL_ARGUMENT, "q");
    expect(fn(&tq, &tk, &tv, nullptr), ATTNGEN_ERR_NULL_ARGUMENT, "out");
    attngen_tensor nodata = tv;
    nodata.data = nullptr;
    expect(fn(&tq, &tk, &nodata, &to), ATTNGEN_ERR_NULL_ARGUMENT, "v");
    attngen_tensor u8 = tk;
    int32_t raw = 77;
    std::memcpy(&u8.dtype, &raw, sizeof raw);
    expect(fn(&tq, &u8, &tv, &to), ATTNGEN_ERR_DTYPE, "k");
    attngen_tensor kd = f32_view(k_bad.data(), {B, N, H, 8});
    expect(fn(&tq, &kd, &kd, &to), ATTNGEN_ERR_SHAPE, "k");
    attngen_tensor zero = tq;
    zero.shape[2] = 0;
    expect(fn(&zero, &tk, &tv, &to), ATTNGEN_ERR_SHAPE, "q");
    attngen_tensor neg = to;
    neg.shape[1] = -N;
    expect(fn(&tq, &tk, &tv, &neg), ATTNGEN_ERR_SHAPE, "out");
    expect(fn(&tq, &tk, &tv, &tq), ATTNGEN_ERR_LAYOUT, "out");  // in place
    attngen_tensor wide = tq;
    wide.shape[1] = int64_t(1) << 31;
    expect(fn(&wide, &tk, &tv, &to), ATTNGEN_ERR_TOO_LARGE, "q");
  }
  attngen_block_layout_destroy(handle);
}

// Scalar inputs beyond the kernels' ranges (generators/: rotary_dim <= 1024,
// image_size and dilation <= 2^15, text_len <= 2^30) are refused by name
// (or, for a dilation past the grid, clamped without changing the result)
// instead of failing inside the kernel with ATTNGEN_ERR_KERNEL.
TEST(ApiVariants, KernelParameterRanges) {
  std::mt19937 rng(21);
  {  // rotary dim 1040 on the generic kernel (D = 1040)
    const int N = 2, D = 1040;
    std::vector<float> q = random_floats(size_t(N) * D, rng), out(q.size()), fr = random_floats(size_t(N) * D, rng);
    attngen_tensor tq = f32_view(q.data(), {1, N, 1, D}), to = f32_view(out.data(), {1, N, 1, D});
    attngen_tensor tf = f32_view(fr.data(), {N, D});
    attngen_dense_options o;
    attngen_dense_options_init(&o);
    o.freqs = &tf;
    EXPECT_EQ(attngen_dense(&tq, &tq, &tq, &to, &o), ATTNGEN_ERR_UNSUPPORTED) << attngen_last_error();
    EXPECT_TRUE(names_word(attngen_last_error(), "freqs")) << attngen_last_error();
    tf.shape[1] = 1024;  // the largest rotary dim runs
    tf.strides[0] = D, tf.strides[1] = 1;
    if (host_call_device() == ATTNGEN_DEVICE_CUDA) {
      // (offloaded: D = 1040 is past a CUDA block's shared memory, refused with the numbers)
      EXPECT_EQ(attngen_dense(&tq, &tq, &tq, &to, &o), ATTNGEN_ERR_UNSUPPORTED) << attngen_last_error();
      EXPECT_NE(std::string(attngen_last_error()).find("too large for the CUDA kernel"), std::string::npos)
          << attngen_last_error();
    } else {
      EXPECT_EQ(attngen_dense(&tq, &tq, &tq, &to, &o), ATTNGEN_OK) << attngen_last_error();
    }
  }
  const int n = 8, H = 2, D = 16;
  std::vector<float> q = random_floats(size_t(n) * H * D, rng), o1(q.size()), o2(q.size());
  attngen_tensor tq = f32_view(q.data(), {1, n, H, D}), t1 = f32_view(o1.data(), {1, n, H, D}),
                 t2 = f32_view(o2.data(), {1, n, H, D});
  attngen_sparse_options so;
  attngen_sparse_options_init(&so);
  so.seq_len = (int64_t(1) << 31) - 1, so.image_size = 1;  // text_len 2^31 - 1
  EXPECT_EQ(attngen_sparse_conv(&tq, &tq, &tq, &t1, &so), ATTNGEN_ERR_TOO_LARGE) << attngen_last_error();
  EXPECT_TRUE(names_word(attngen_last_error(), "seq_len")) << attngen_last_error();
  so.image_size = 40000, so.seq_len = int64_t(40000) * 40000 + 7;
  EXPECT_EQ(attngen_sparse_axial(&tq, &tq, &tq, &t1, &so), ATTNGEN_ERR_OPTION) << attngen_last_error();
  EXPECT_TRUE(names_word(attngen_last_error(), "image_size")) << attngen_last_error();
  // Dilation 2^31 - 1 on a 3x3 grid: each image query keeps its own cell,
  // exactly as with kernel_size 1.
  so.image_size = 3, so.seq_len = 3 + 9 - 1;
  so.kernel_size = 5, so.dilation = INT32_MAX;
  ASSERT_EQ(attngen_sparse_conv(&tq, &tq, &tq, &t1, &so), ATTNGEN_OK) << attngen_last_error();
  so.kernel_size = 1, so.dilation = 1;
  ASSERT_EQ(attngen_sparse_conv(&tq, &tq, &tq, &t2, &so), ATTNGEN_OK) << attngen_last_error();
  EXPECT_TRUE(bitwise_equal(o1, o2));
}

// Layout handles and misc entry points with NULL / absurd arguments.
TEST(ApiVariants, LayoutHandleArguments) {
  int64_t kept = 0, total = 0;
  EXPECT_EQ(attngen_block_layout_stats(nullptr, &kept, &total), ATTNGEN_ERR_NULL_ARGUMENT);
  attngen_block_layout_destroy(nullptr);  // no-op
  uint8_t l[4] = {1, 1, 0, 1};  // rows: (1, 1), (0, 1)
  attngen_tensor lt = u8_view(l, {1, 2, 2});
  attngen_block_layout* h = reinterpret_cast<attngen_block_layout*>(&kept);  // must be reset to NULL
  for (int32_t block : {0, -16, 8, 17, (1 << 20) + 16, INT32_MIN, INT32_MAX}) {
    EXPECT_EQ(attngen_block_layout_create(&lt, block, 0, &h), ATTNGEN_ERR_OPTION) << block;
    EXPECT_TRUE(names_word(attngen_last_error(), "block")) << attngen_last_error();
    EXPECT_EQ(h, nullptr);
    EXPECT_EQ(attngen_block_layout_from_mask(&lt, block, 0, &h), ATTNGEN_ERR_SHAPE) << "rank 3 mask";
  }
  ASSERT_EQ(attngen_block_layout_create(&lt, 16, 1, &h), ATTNGEN_OK);
  EXPECT_EQ(attngen_block_layout_stats(h, nullptr, &total), ATTNGEN_ERR_NULL_ARGUMENT);
  EXPECT_TRUE(names_word(attngen_last_error(), "kept_blocks")) << attngen_last_error();
  EXPECT_EQ(attngen_block_layout_stats(h, &kept, nullptr), ATTNGEN_ERR_NULL_ARGUMENT);
  ASSERT_EQ(attngen_block_layout_stats(h, &kept, &total), ATTNGEN_OK);
  EXPECT_EQ(kept, 2);  // causal: the block above the diagonal does not count
  EXPECT_EQ(total, 4);
  attngen_block_layout_destroy(h);
  // Status strings for codes outside the enum (C callers may pass any int).
  auto status_string = reinterpret_cast<const char* (*)(int32_t)>(&attngen_status_string);
  for (int32_t c : {-1, 11, 1 << 30}) EXPECT_STREQ(status_string(c), "unknown status");
  EXPECT_EQ(attngen_set_num_threads(-5) >= 0, true);
  attngen_set_num_threads(0);
}

// The C++ wrapper: errors become attngen::Error with the status and the
// C API's message; a tensor of rank > 4 is refused, not truncated.
TEST(ApiCpp, WrapperThrowsWithStatusAndMessage) {
  std::mt19937 rng(9);
  std::vector<float> q = random_floats(2 * 8 * 2 * 16, rng), out(q.size(), 0.f);
  attngen::Tensor tq(q.data(), {2, 8, 2, 16}), to(out.data(), {2, 8, 2, 16});
  EXPECT_NO_THROW(attngen::dense(tq, tq, tq, to));
  EXPECT_FALSE(attngen::last_kernel().empty());
  attngen::Tensor bad(q.data(), {2, 8, 2, 8});
  try {
    attngen::dense(tq, bad, bad, to);
    ADD_FAILURE() << "no exception";
  } catch (const attngen::Error& e) {
    EXPECT_EQ(e.status(), ATTNGEN_ERR_SHAPE);
    EXPECT_TRUE(names_word(e.what(), "k")) << e.what();
  }
  attngen::Tensor rank5(q.data(), {2, 8, 2, 16, 1});
  try {
    attngen::dense(rank5, tq, tq, to);
    ADD_FAILURE() << "no exception";
  } catch (const attngen::Error& e) {
    EXPECT_EQ(e.status(), ATTNGEN_ERR_SHAPE);
    EXPECT_TRUE(names_word(e.what(), "q")) << e.what();
  }
  attngen::DenseOptions o;
  o.offset = -1;
  EXPECT_THROW(attngen::dense(tq, tq, tq, to, o), attngen::Error);
  // Explicit strides (here the contiguous ones); a fifth is ignored, not
  // written past the array.
  std::vector<float> out2(out.size(), 0.f);
  attngen::Tensor strided(q.data(), {2, 8, 2, 16}), to2(out2.data(), {2, 8, 2, 16});
  strided.strides({256, 32, 16, 1, 99});
  EXPECT_NO_THROW(attngen::dense(strided, tq, tq, to2));
  EXPECT_TRUE(bitwise_equal(out, out2));
  // A token stride below H * D overlaps heads: fine for an input.
  strided.strides({256, 16, 16, 1});
  EXPECT_NO_THROW(attngen::dense(strided, tq, tq, to2));
  // ... but not for the output.
  attngen::Tensor overlapping_out(out2.data(), {2, 8, 2, 16});
  overlapping_out.strides({256, 16, 16, 1});
  EXPECT_THROW(attngen::dense(tq, tq, tq, overlapping_out), attngen::Error);
}

}  // namespace

// Every variant shares the kernels' softmax core: a NaN in one query row
// gives exactly that output row NaN, and an inf/NaN value row behind the key
// mask changes nothing.
namespace {
size_t nan_rows(const std::vector<float>& out, int D) {
  size_t rows = 0;
  for (size_t r = 0; r < out.size() / D; r++) {
    size_t n = 0;
    for (int d = 0; d < D; d++) n += std::isnan(out[r * D + d]);
    if (n == size_t(D)) rows++;
    else EXPECT_EQ(n, 0u) << "row " << r << " partly NaN";
  }
  return rows;
}
}  // namespace

TEST(ApiNonFinite, NanQueryRowEveryVariant) {
  const int B = 1, N = 72, H = 2, D = 32;
  std::mt19937 rng(21);
  std::vector<float> q = random_floats(size_t(B) * N * H * D, rng), k = random_floats(q.size(), rng),
                     v = random_floats(q.size(), rng), out(q.size());
  q[(size_t(40) * H + 1) * D + 3] = std::nanf("");  // token 40, head 1
  attngen_tensor tq = f32_view(q.data(), {B, N, H, D}), tk = f32_view(k.data(), {B, N, H, D}),
                 tv = f32_view(v.data(), {B, N, H, D}), to = f32_view(out.data(), {B, N, H, D});
  attngen_sparse_options so;
  attngen_sparse_options_init(&so);
  so.seq_len = N;
  so.image_size = 8;
  ASSERT_EQ(attngen_sparse_conv(&tq, &tk, &tv, &to, &so), ATTNGEN_OK) << attngen_last_error();
  EXPECT_EQ(nan_rows(out, D), 1u) << "sparse_conv";
  ASSERT_EQ(attngen_sparse_axial(&tq, &tk, &tv, &to, &so), ATTNGEN_OK) << attngen_last_error();
  EXPECT_EQ(nan_rows(out, D), 1u) << "sparse_axial";
  ASSERT_EQ(attngen_chunked(&tq, &tk, &tv, &to, nullptr), ATTNGEN_OK) << attngen_last_error();
  EXPECT_EQ(nan_rows(out, D), 1u) << "chunked";
  const int nb = (N + 15) / 16;
  std::vector<uint8_t> layout(size_t(H) * nb * nb, 1);
  attngen_tensor tl = u8_view(layout.data(), {H, nb, nb});
  attngen_block_layout* handle = nullptr;
  ASSERT_EQ(attngen_block_layout_create(&tl, 16, 1, &handle), ATTNGEN_OK) << attngen_last_error();
  ASSERT_EQ(attngen_block_sparse(&tq, &tk, &tv, &to, handle, nullptr), ATTNGEN_OK) << attngen_last_error();
  attngen_block_layout_destroy(handle);
  EXPECT_EQ(nan_rows(out, D), 1u) << "block_sparse";
}
