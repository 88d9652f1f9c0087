// CUDA target (issue 7): the device-pointer API. Inputs live in device
// memory the test allocates itself (cuMemAlloc in the primary context, as a
// framework would); the kernels run on those pointers and the output is
// checked against the float64 reference. Every test needing a GPU skips
// when attngen_cuda_available() is 0 (no driver, no device, or a build
// without CUDA); the refusal tests run everywhere.
//
// The rest of the suite runs on the CUDA kernels too with ATTNGEN_OFFLOAD=cuda
// in the environment (host tensors copied to the device per call).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "src/cuda_driver.h"
#include "test_util.h"

namespace {

using namespace attngen_test;
namespace cu = attngen::cuda;

#define REQUIRE_CUDA()                                                        \
  do {                                                                        \
    if (!attngen_cuda_available()) GTEST_SKIP() << "no CUDA device here";     \
    ASSERT_NE(cu::use_primary_context(), nullptr);                            \
  } while (0)

// A device copy of a host array, with its attngen view.
struct Dev {
  cu::DeviceMemory mem;
  attngen_tensor t{};
  template <typename T>
  Dev(const std::vector<T>& host, attngen_dtype dtype, std::initializer_list<int64_t> shape) {
    const size_t bytes = host.size() * sizeof(T);
    EXPECT_EQ(mem.alloc(bytes), "");
    if (!host.empty()) {
      EXPECT_EQ(mem.upload(host.data(), bytes), "");
    }
    t = make_view(mem.data(), dtype, shape);
    t.device = ATTNGEN_DEVICE_CUDA;
  }
  template <typename T>
  std::vector<T> get(size_t n) const {
    std::vector<T> h(n);
    EXPECT_EQ(mem.download(h.data(), n * sizeof(T)), "");
    return h;
  }
};

std::vector<float> zeros(size_t n) { return std::vector<float>(n, 0.0f); }

// ---- Refusals (every machine) --------------------------------------------------------

TEST(CudaApi, MixedDevicesAreRefused) {
  std::vector<float> q(2 * 8 * 1 * 16, 0.1f), k = q, v = q, o = q;
  attngen_tensor tq = f32_view(q.data(), {2, 8, 1, 16}), tk = f32_view(k.data(), {2, 8, 1, 16}),
                 tv = f32_view(v.data(), {2, 8, 1, 16}), to = f32_view(o.data(), {2, 8, 1, 16});
  tk.device = ATTNGEN_DEVICE_CUDA;  // k on the device, the rest on the host
  EXPECT_EQ(attngen_dense(&tq, &tk, &tv, &to, nullptr), ATTNGEN_ERR_DEVICE);
  EXPECT_NE(std::string(attngen_last_error()).find("k: on the CUDA device but q is on the host"), std::string::npos)
      << attngen_last_error();
  // A host call with a device mask.
  tk.device = ATTNGEN_DEVICE_CPU;
  std::vector<uint8_t> km(2 * 8, 1);
  attngen_tensor tkm = u8_view(km.data(), {2, 8});
  tkm.device = ATTNGEN_DEVICE_CUDA;
  attngen_dense_options opts;
  attngen_dense_options_init(&opts);
  opts.key_mask = &tkm;
  EXPECT_EQ(attngen_dense(&tq, &tk, &tv, &to, &opts), ATTNGEN_ERR_DEVICE) << attngen_last_error();
}

TEST(CudaApi, UnknownDeviceIsRefused) {
  std::vector<float> q(8 * 16, 0.1f), k = q, v = q, o = q;
  attngen_tensor tq = f32_view(q.data(), {1, 8, 1, 16}), tk = f32_view(k.data(), {1, 8, 1, 16}),
                 tv = f32_view(v.data(), {1, 8, 1, 16}), to = f32_view(o.data(), {1, 8, 1, 16});
  int32_t bad = 7;
  std::memcpy(&tq.device, &bad, sizeof bad);
  EXPECT_EQ(attngen_chunked(&tq, &tk, &tv, &to, nullptr), ATTNGEN_ERR_DEVICE);
  EXPECT_NE(std::string(attngen_last_error()).find("not an attngen_device"), std::string::npos);
}

TEST(CudaApi, WithoutCudaDeviceTensorsAreRefused) {
  if (attngen_cuda_available()) GTEST_SKIP() << "CUDA is available here";
  std::vector<float> q(8 * 16, 0.1f), k = q, v = q, o = q;
  attngen_tensor t[4] = {f32_view(q.data(), {1, 8, 1, 16}), f32_view(k.data(), {1, 8, 1, 16}),
                         f32_view(v.data(), {1, 8, 1, 16}), f32_view(o.data(), {1, 8, 1, 16})};
  for (auto& x : t) x.device = ATTNGEN_DEVICE_CUDA;
  EXPECT_EQ(attngen_dense(&t[0], &t[1], &t[2], &t[3], nullptr), ATTNGEN_ERR_DEVICE);
  EXPECT_NE(std::string(attngen_last_error()).find("CUDA"), std::string::npos) << attngen_last_error();
  EXPECT_EQ(attngen_cuda_synchronize(), ATTNGEN_ERR_DEVICE);
}

TEST(CudaApi, StreamNeedsContext) {
  int dummy = 0;
  EXPECT_EQ(attngen_cuda_set_stream(nullptr, &dummy), ATTNGEN_ERR_NULL_ARGUMENT);
  EXPECT_EQ(attngen_cuda_set_stream(nullptr, nullptr), ATTNGEN_OK);
}

// ---- Kernels on device pointers ------------------------------------------------------------

struct DenseCase {
  int B, Nq, Nk, H, Hkv, D;
  bool causal;
  int offset;
  bool key_mask, static_mask;
  int R;  // rotary dim (0 = none)
};

class CudaDense : public ::testing::TestWithParam<DenseCase> {};

TEST_P(CudaDense, MatchesReference) {
  REQUIRE_CUDA();
  const DenseCase c = GetParam();
  std::mt19937 rng(11);
  DenseProblem p;
  p.B = c.B; p.Nq = c.Nq; p.Nk = c.Nk; p.H = c.H; p.Hkv = c.Hkv; p.D = c.D;
  p.causal = c.causal;
  p.offset = c.offset;
  p.fill_random(rng);
  if (c.key_mask) {
    p.key_mask = random_mask(size_t(c.B) * c.Nk, rng, 0.8);
    for (int b = 0; b < c.B; b++) p.key_mask[size_t(b) * c.Nk] = 1;
  }
  if (c.static_mask) {
    p.S = c.Nk;
    p.static_mask = random_mask(size_t(p.S) * p.S, rng, 0.7);
    for (int i = 0; i < p.S; i++) p.static_mask[size_t(i) * p.S] = 1;
  }
  if (c.R) p.set_rotary(c.R, c.Nk, rng);
  std::vector<float> want(p.q_size());
  attngen::ref::dense(p.shape(), p.q.data(), p.k.data(), p.v.data(), want.data(), p.ref_opts());

  Dev q(p.q, ATTNGEN_F32, {c.B, c.Nq, c.H, c.D}), k(p.k, ATTNGEN_F32, {c.B, c.Nk, c.Hkv, c.D}),
      v(p.v, ATTNGEN_F32, {c.B, c.Nk, c.Hkv, c.D}), out(zeros(p.q_size()), ATTNGEN_F32, {c.B, c.Nq, c.H, c.D});
  // The key mask stays on the host (uploaded per call), the static mask
  // and the rotary table are device tensors: both are accepted.
  attngen_tensor km = u8_view(p.key_mask.data(), {c.B, c.Nk});
  Dev sm(p.static_mask, ATTNGEN_U8, {p.S, p.S});
  Dev fr(p.freqs, ATTNGEN_F32, {p.Nf, p.R});
  attngen_dense_options o;
  attngen_dense_options_init(&o);
  o.causal = c.causal;
  o.offset = c.offset;
  if (c.key_mask) o.key_mask = &km;
  if (c.static_mask) o.static_mask = &sm.t;
  if (c.R) o.freqs = &fr.t;
  ASSERT_EQ(attngen_dense(&q.t, &k.t, &v.t, &out.t, &o), ATTNGEN_OK) << attngen_last_error();
  EXPECT_NE(std::string(attngen_last_kernel()).find("_cuda"), std::string::npos) << attngen_last_kernel();
  ASSERT_EQ(attngen_cuda_synchronize(), ATTNGEN_OK) << attngen_last_error();
  EXPECT_TRUE(all_close(out.get<float>(p.q_size()), want, c.B, c.Nq, c.H, c.D)) << p.describe();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CudaDense,
    ::testing::Values(DenseCase{2, 100, 100, 4, 4, 64, true, 0, false, false, 0},    // d64 prefill kernel
                      DenseCase{1, 77, 77, 3, 3, 64, false, 0, true, false, 0},      // key mask, ragged tile
                      DenseCase{1, 64, 64, 2, 2, 40, true, 0, false, true, 0},       // generic D, static mask
                      DenseCase{2, 50, 50, 4, 2, 32, true, 0, false, false, 32},     // rotary, GQA
                      DenseCase{2, 1, 45, 8, 2, 64, true, 44, false, false, 0},      // GQA decode (group)
                      DenseCase{1, 4, 24, 2, 2, 48, true, 20, true, false, 16},      // decode, rotary
                      DenseCase{1, 300, 300, 1, 1, 128, true, 0, false, false, 0})); // D = 128, long

TEST(CudaSparse, ConvAndAxialMatchReference) {
  REQUIRE_CUDA();
  std::mt19937 rng(5);
  const int B = 2, H = 2, D = 64, G = 8, L = 72, n = 72;  // text_len = 72 + 1 - 64 = 9
  for (int variant = 0; variant < 4; variant++) {
    attngen::ref::SparseSeqOpts r;
    r.seq_len = L;
    r.image_size = G;
    r.kernel_size = variant == 1 ? 3 : 5;
    r.dilation = variant == 1 ? 2 : 1;
    r.axis = variant == 3 ? 1 : 0;
    std::vector<float> q = random_floats(size_t(B) * n * H * D, rng), k = random_floats(q.size(), rng),
                       v = random_floats(q.size(), rng);
    std::vector<uint8_t> km = random_mask(size_t(B) * 9, rng, 0.7);
    km[0] = km[9] = 1;
    std::vector<float> fr = random_floats(size_t(n) * 32, rng, -3.f, 3.f);
    const bool rotary = variant == 0;
    r.key_mask = km.data();
    r.key_mask_len = 9;
    if (rotary) {
      r.freqs = fr.data();
      r.freqs_n = n;
      r.rotary_dim = 32;
    }
    const attngen::ref::Shape s{B, n, n, H, H, D, D};
    std::vector<float> want(q.size());
    if (variant <= 1) attngen::ref::sparse_conv(s, q.data(), k.data(), v.data(), want.data(), r);
    else attngen::ref::sparse_axial(s, q.data(), k.data(), v.data(), want.data(), r);

    Dev dq(q, ATTNGEN_F32, {B, n, H, D}), dk(k, ATTNGEN_F32, {B, n, H, D}), dv(v, ATTNGEN_F32, {B, n, H, D}),
        dout(zeros(q.size()), ATTNGEN_F32, {B, n, H, D}), dkm(km, ATTNGEN_U8, {B, 9}),
        dfr(fr, ATTNGEN_F32, {n, 32});
    attngen_sparse_options o;
    attngen_sparse_options_init(&o);
    o.seq_len = L;
    o.image_size = G;
    o.kernel_size = r.kernel_size;
    o.dilation = r.dilation;
    o.axis = r.axis;
    o.key_mask = &dkm.t;
    if (rotary) o.freqs = &dfr.t;
    const attngen_status st = variant <= 1 ? attngen_sparse_conv(&dq.t, &dk.t, &dv.t, &dout.t, &o)
                                           : attngen_sparse_axial(&dq.t, &dk.t, &dv.t, &dout.t, &o);
    ASSERT_EQ(st, ATTNGEN_OK) << "variant " << variant << ": " << attngen_last_error();
    ASSERT_EQ(attngen_cuda_synchronize(), ATTNGEN_OK) << attngen_last_error();
    EXPECT_TRUE(all_close(dout.get<float>(q.size()), want, B, n, H, D)) << "variant " << variant;
  }
}

TEST(CudaBlockSparse, MatchesReference) {
  REQUIRE_CUDA();
  std::mt19937 rng(9);
  const int B = 2, N = 100, H = 2, D = 64, block = 16, nb = 7;
  for (int causal = 0; causal <= 1; causal++) {
    std::vector<uint8_t> layout = random_mask(size_t(H) * nb * nb, rng, 0.5);
    for (int h = 0; h < H; h++) for (int i = 0; i < nb; i++) layout[(size_t(h) * nb + i) * nb + i] = 1;
    std::vector<float> q = random_floats(size_t(B) * N * H * D, rng), k = random_floats(q.size(), rng),
                       v = random_floats(q.size(), rng);
    const attngen::ref::Shape s{B, N, N, H, H, D, D};
    std::vector<float> want(q.size());
    attngen::ref::block_sparse(s, q.data(), k.data(), v.data(), want.data(), layout.data(), block, causal, nullptr);
    attngen_tensor tl = u8_view(layout.data(), {H, nb, nb});
    attngen_block_layout* handle = nullptr;
    ASSERT_EQ(attngen_block_layout_create(&tl, block, causal, &handle), ATTNGEN_OK) << attngen_last_error();
    Dev dq(q, ATTNGEN_F32, {B, N, H, D}), dk(k, ATTNGEN_F32, {B, N, H, D}), dv(v, ATTNGEN_F32, {B, N, H, D}),
        dout(zeros(q.size()), ATTNGEN_F32, {B, N, H, D});
    const attngen_status st = attngen_block_sparse(&dq.t, &dk.t, &dv.t, &dout.t, handle, nullptr);
    attngen_block_layout_destroy(handle);
    ASSERT_EQ(st, ATTNGEN_OK) << attngen_last_error();
    ASSERT_EQ(attngen_cuda_synchronize(), ATTNGEN_OK) << attngen_last_error();
    EXPECT_TRUE(all_close(dout.get<float>(q.size()), want, B, N, H, D)) << "causal " << causal;
  }
}

TEST(CudaChunked, CrossAttentionOnAStream) {
  REQUIRE_CUDA();
  const cu::Driver* d = cu::driver();
  cu::CUcontext ctx = cu::use_primary_context();
  cu::CUstream stream = nullptr;
  ASSERT_EQ(d->cuStreamCreate(&stream, 0), 0);
  ASSERT_EQ(attngen_cuda_set_stream(ctx, stream), ATTNGEN_OK);
  std::mt19937 rng(3);
  const int B = 2, Nq = 300, Nk = 77, H = 4, Hkv = 2, D = 40, Dv = 24;
  std::vector<float> q = random_floats(size_t(B) * Nq * H * D, rng), k = random_floats(size_t(B) * Nk * Hkv * D, rng),
                     v = random_floats(size_t(B) * Nk * Hkv * Dv, rng);
  std::vector<float> want(size_t(B) * Nq * H * Dv);
  attngen::ref::chunked(attngen::ref::Shape{B, Nq, Nk, H, Hkv, D, Dv}, q.data(), k.data(), v.data(), want.data());
  Dev dq(q, ATTNGEN_F32, {B, Nq, H, D}), dk(k, ATTNGEN_F32, {B, Nk, Hkv, D}), dv(v, ATTNGEN_F32, {B, Nk, Hkv, Dv}),
      dout(zeros(want.size()), ATTNGEN_F32, {B, Nq, H, Dv});
  attngen_chunked_options o;
  attngen_chunked_options_init(&o);
  o.query_chunk_size = 128;  // three calls on offset views of q and out
  ASSERT_EQ(attngen_chunked(&dq.t, &dk.t, &dv.t, &dout.t, &o), ATTNGEN_OK) << attngen_last_error();
  ASSERT_EQ(attngen_cuda_synchronize(), ATTNGEN_OK) << attngen_last_error();
  EXPECT_EQ(d->cuStreamSynchronize(stream), 0);
  EXPECT_TRUE(all_close(dout.get<float>(want.size()), want, B, Nq, H, Dv));
  EXPECT_EQ(attngen_cuda_set_stream(nullptr, nullptr), ATTNGEN_OK);
  d->cuStreamDestroy(stream);
}

TEST(CudaHalf, DenseAndSparseInHalfStorage) {
  REQUIRE_CUDA();
  std::mt19937 rng(21);
  const int B = 1, N = 72, H = 2, D = 32;
  for (attngen_dtype dt : {ATTNGEN_F16, ATTNGEN_BF16}) {
    std::vector<float> q = random_floats(size_t(B) * N * H * D, rng), k = random_floats(q.size(), rng),
                       v = random_floats(q.size(), rng);
    std::vector<uint16_t> hq(q.size()), hk(q.size()), hv(q.size()), ho(q.size());
    // The reference sees the rounded inputs.
    for (auto pr : {std::make_pair(&q, &hq), std::make_pair(&k, &hk), std::make_pair(&v, &hv)}) {
      ASSERT_EQ(attngen_convert(pr.first->data(), ATTNGEN_F32, pr.second->data(), dt, int64_t(q.size())), ATTNGEN_OK);
      ASSERT_EQ(attngen_convert(pr.second->data(), dt, pr.first->data(), ATTNGEN_F32, int64_t(q.size())), ATTNGEN_OK);
    }
    const attngen::ref::Shape s{B, N, N, H, H, D, D};
    for (int variant = 0; variant < 2; variant++) {
      std::vector<float> want(q.size());
      attngen::ref::SparseSeqOpts r;
      r.seq_len = 72;
      r.image_size = 8;
      attngen::ref::DenseOpts od;
      od.causal = true;
      if (variant == 0) attngen::ref::dense(s, q.data(), k.data(), v.data(), want.data(), od);
      else attngen::ref::sparse_conv(s, q.data(), k.data(), v.data(), want.data(), r);
      Dev dq(hq, dt, {B, N, H, D}), dk(hk, dt, {B, N, H, D}), dv(hv, dt, {B, N, H, D}),
          dout(std::vector<uint16_t>(q.size()), dt, {B, N, H, D});
      attngen_status st;
      if (variant == 0) {
        attngen_dense_options o;
        attngen_dense_options_init(&o);
        o.causal = 1;
        st = attngen_dense(&dq.t, &dk.t, &dv.t, &dout.t, &o);
      } else {
        attngen_sparse_options o;
        attngen_sparse_options_init(&o);
        o.seq_len = 72;
        o.image_size = 8;
        st = attngen_sparse_conv(&dq.t, &dk.t, &dv.t, &dout.t, &o);
      }
      ASSERT_EQ(st, ATTNGEN_OK) << attngen_last_error();
      ASSERT_EQ(attngen_cuda_synchronize(), ATTNGEN_OK) << attngen_last_error();
      ho = dout.get<uint16_t>(q.size());
      std::vector<float> got(q.size());
      ASSERT_EQ(attngen_convert(ho.data(), dt, got.data(), ATTNGEN_F32, int64_t(q.size())), ATTNGEN_OK);
      // Output rounding only: half an ulp of the type (2^-11 fp16, 2^-8 bf16).
      const double rtol = dt == ATTNGEN_F16 ? 1e-3 : 8e-3;
      EXPECT_TRUE(all_close(got, want, B, N, H, D, rtol, 1e-3)) << "dtype " << dt << " variant " << variant;
    }
  }
}

TEST(CudaLimits, HeadDimBeyondSharedMemoryIsRefused) {
  REQUIRE_CUDA();
  const int D = 1024;
  std::vector<float> q(size_t(64) * D, 0.01f);
  Dev dq(q, ATTNGEN_F32, {1, 64, 1, D}), dk(q, ATTNGEN_F32, {1, 64, 1, D}), dv(q, ATTNGEN_F32, {1, 64, 1, D}),
      dout(q, ATTNGEN_F32, {1, 64, 1, D});
  EXPECT_EQ(attngen_dense(&dq.t, &dk.t, &dv.t, &dout.t, nullptr), ATTNGEN_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(attngen_last_error()).find("too large for the CUDA kernel"), std::string::npos)
      << attngen_last_error();
}

}  // namespace
