// GPU benchmarks of the CUDA kernels, in the harness's naming:
// <variant>/<workload>/attngen_cuda (fp32) and attngen_cuda_f16 / _bf16.
// The workloads take GPU shapes (dalle at B8 H8: B1 does not fill an H100).
// Inputs live in device memory of the primary context (as a framework's
// would); each iteration is one call timed with CUDA events on the default
// stream (kernel time, launch included, no host copies). Before timing,
// every (variant, workload, impl) output is checked against attngen's CPU
// kernels on the same inputs (max error relative to the output's magnitude).
//
//   attngen_bench_cuda [--benchmark_filter=dalle] [--benchmark_out=r.json --benchmark_out_format=json]
//
// bench/gpu/run.sh runs it next to bench/gpu/torch_compare.py (PyTorch SDPA
// and FlexAttention on the same shapes) and prints the ratios.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "attngen/attngen.h"
#include "attngen/layout.h"
#include "src/cuda_driver.h"

namespace {

namespace cu = attngen::cuda;

struct Workload {
  const char* name;
  int B, H, Nq, Nk, D;
  int64_t offset;
};
const Workload kWorkloads[] = {
    {"dalle", 8, 8, 1280, 1280, 64, 0},
    {"sd_self", 2, 8, 4096, 4096, 40, 0},
    {"decode", 8, 8, 1, 1280, 64, 1279},
};
constexpr int kDalleImage = 32;  // the dalle sequence: 257 text tokens + a 32 x 32 image

enum class Kind { Dense, SparseConv, SparseAxialRow, SparseAxialCol, BlockSparse, Chunked };
struct Variant {
  const char* name;
  Kind kind;
  std::vector<std::string> workloads;
};
const Variant kVariants[] = {
    {"dense_causal", Kind::Dense, {"dalle", "decode"}},
    {"sparse_conv_k5", Kind::SparseConv, {"dalle"}},
    {"sparse_axial_row", Kind::SparseAxialRow, {"dalle"}},
    {"sparse_axial_col", Kind::SparseAxialCol, {"dalle"}},
    {"block_sparse", Kind::BlockSparse, {"dalle"}},
    {"chunked", Kind::Chunked, {"sd_self"}},
};

struct Impl {
  const char* name;
  attngen_dtype dtype;
  double tol;  // max error / max |out| against the CPU fp32 kernels
};
const Impl kImpls[] = {{"attngen_cuda", ATTNGEN_F32, 1e-4}, {"attngen_cuda_f16", ATTNGEN_F16, 5e-3},
                       {"attngen_cuda_bf16", ATTNGEN_BF16, 3e-2}};

size_t elem_bytes(attngen_dtype t) { return t == ATTNGEN_F32 ? 4 : 2; }

// Host inputs of a workload (fp32) and their device copies per dtype.
struct Data {
  const Workload* w;
  std::vector<float> q, k, v;
  std::map<int, std::unique_ptr<cu::DeviceMemory[]>> dev;  // dtype -> q, k, v, out
  std::vector<uint8_t> layout;
  attngen_block_layout* handle = nullptr;
  std::map<std::string, std::vector<float>> cpu_out;  // variant -> CPU fp32 output
  ~Data() { attngen_block_layout_destroy(handle); }
};

Data& data_for(const Workload& w) {
  static std::map<std::string, std::unique_ptr<Data>> all;
  auto& d = all[w.name];
  if (d) return *d;
  d = std::make_unique<Data>();
  d->w = &w;
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  d->q.resize(size_t(w.B) * w.Nq * w.H * w.D);
  d->k.resize(size_t(w.B) * w.Nk * w.H * w.D);
  d->v.resize(d->k.size());
  for (auto* t : {&d->q, &d->k, &d->v})
    for (float& x : *t) x = u(rng);
  return *d;
}

std::string device_inputs(Data& d, attngen_dtype t, cu::DeviceMemory** out) {
  auto& slot = d.dev[int(t)];
  if (!slot) {
    slot.reset(new cu::DeviceMemory[4]);
    const std::vector<float>* src[3] = {&d.q, &d.k, &d.v};
    for (int i = 0; i < 4; i++) {
      const size_t n = i < 3 ? src[i]->size() : d.q.size();
      std::string e = slot[i].alloc(n * elem_bytes(t));
      if (!e.empty()) return e;
      if (i == 3) continue;
      if (t == ATTNGEN_F32) {
        e = slot[i].upload(src[i]->data(), n * 4);
      } else {
        std::vector<uint16_t> h(n);
        if (attngen_convert(src[i]->data(), ATTNGEN_F32, h.data(), t, int64_t(n)) != ATTNGEN_OK)
          return attngen_last_error();
        e = slot[i].upload(h.data(), n * 2);
      }
      if (!e.empty()) return e;
    }
  }
  *out = slot.get();
  return "";
}

attngen_tensor view(void* p, attngen_dtype t, int B, int N, int H, int D, attngen_device dev) {
  const int64_t shape[4] = {B, N, H, D};
  attngen_tensor x = attngen_tensor_make(p, t, 4, shape);
  x.device = dev;
  return x;
}

// One call of a variant on q/k/v/out tensors (host or device).
attngen_status call(const Variant& var, Data& d, attngen_tensor* q, attngen_tensor* k, attngen_tensor* v,
                    attngen_tensor* o) {
  const Workload& w = *d.w;
  const int64_t text_len = int64_t(w.Nq) + 1 - kDalleImage * kDalleImage;
  switch (var.kind) {
    case Kind::Dense: {
      attngen_dense_options opt;
      attngen_dense_options_init(&opt);
      opt.causal = 1;
      opt.offset = w.offset;
      return attngen_dense(q, k, v, o, &opt);
    }
    case Kind::SparseConv:
    case Kind::SparseAxialRow:
    case Kind::SparseAxialCol: {
      attngen_sparse_options opt;
      attngen_sparse_options_init(&opt);
      opt.seq_len = w.Nq;
      opt.image_size = kDalleImage;
      opt.axis = var.kind == Kind::SparseAxialCol ? 1 : 0;
      return var.kind == Kind::SparseConv ? attngen_sparse_conv(q, k, v, o, &opt) : attngen_sparse_axial(q, k, v, o, &opt);
    }
    case Kind::BlockSparse: {
      if (!d.handle) {
        const int64_t nb = (w.Nq + 15) / 16;
        d.layout.assign(size_t(nb * nb), 0);
        attngen_status s = attngen_layout_dalle(1, w.Nq, text_len, 1, 42, d.layout.data(), d.layout.size());
        if (s) return s;
        const int64_t shape[3] = {1, nb, nb};
        attngen_tensor lt = attngen_tensor_make(d.layout.data(), ATTNGEN_U8, 3, shape);
        if ((s = attngen_block_layout_create(&lt, 16, 1, &d.handle))) return s;
      }
      return attngen_block_sparse(q, k, v, o, d.handle, nullptr);
    }
    case Kind::Chunked:
      return attngen_chunked(q, k, v, o, nullptr);
  }
  return ATTNGEN_ERR_OPTION;
}

// Visible (query, key) pairs x 4 D: the FLOPs of the pattern.
double pattern_flops(const Variant& var, const Workload& w) {
  const double D = w.D, B = w.B, H = w.H;
  if (var.kind == Kind::Chunked) return 4.0 * B * H * w.Nq * double(w.Nk) * D;
  if (var.kind == Kind::Dense) {
    double pairs = 0;
    for (int i = 0; i < w.Nq; i++) pairs += double(std::min<int64_t>(w.offset + i + 1, w.Nk));
    return 4.0 * B * H * pairs * D;
  }
  // DALL-E patterns: count from the sparse rules (SPEC.md).
  const int G = kDalleImage, T = w.Nq + 1 - G * G;
  double pairs = 0;
  for (int i = 0; i < w.Nq; i++) {
    if (i < T) {
      pairs += i + 1;
      continue;
    }
    const int r = (i - T) / G, c = (i - T) % G;
    double img = 0;
    if (var.kind == Kind::SparseConv) {
      for (int a = 0; a < 5; a++)
        for (int e = 0; e < 5; e++) img += (r - a >= 0 && c - e >= 0) ? 1 : 0;
    } else if (var.kind == Kind::SparseAxialRow) {
      img = c + 1;
    } else if (var.kind == Kind::SparseAxialCol) {
      img = r + 1;
    } else {
      img = 0;  // block-sparse: counted by its layout below
    }
    pairs += T + img;
  }
  if (var.kind == Kind::BlockSparse) {
    int64_t kept = 0, total = 0;
    Data& d = data_for(w);
    if (d.handle && attngen_block_layout_stats(d.handle, &kept, &total) == ATTNGEN_OK) {
      return 4.0 * B * H * double(kept) * 16 * 16 * D;  // kept blocks (diagonal ones counted whole)
    }
    return 0;
  }
  return 4.0 * B * H * pairs * D;
}

void run_bench(benchmark::State& st, const Variant& var, const Workload& w, const Impl& impl) {
  if (!attngen_cuda_available()) {
    st.SkipWithError("no CUDA device or driver (or built without CUDA)");
    return;
  }
  if (!cu::use_primary_context()) {
    st.SkipWithError("cannot make the primary context current");
    return;
  }
  Data& d = data_for(w);
  cu::DeviceMemory* m = nullptr;
  std::string err = device_inputs(d, impl.dtype, &m);
  if (!err.empty()) {
    st.SkipWithError(err.c_str());
    return;
  }
  const attngen_device G = ATTNGEN_DEVICE_CUDA;
  attngen_tensor q = view(m[0].data(), impl.dtype, w.B, w.Nq, w.H, w.D, G),
                 k = view(m[1].data(), impl.dtype, w.B, w.Nk, w.H, w.D, G),
                 v = view(m[2].data(), impl.dtype, w.B, w.Nk, w.H, w.D, G),
                 o = view(m[3].data(), impl.dtype, w.B, w.Nq, w.H, w.D, G);
  // Check once against the CPU kernels (fp32) on the same inputs.
  {
    if (call(var, d, &q, &k, &v, &o) != ATTNGEN_OK || attngen_cuda_synchronize() != ATTNGEN_OK) {
      st.SkipWithError((std::string("attngen: ") + attngen_last_error()).c_str());
      return;
    }
    const std::string kernel = attngen_last_kernel();
    auto& want = d.cpu_out[var.name];
    if (want.empty()) {
      want.resize(d.q.size());
      attngen_tensor hq = view(d.q.data(), ATTNGEN_F32, w.B, w.Nq, w.H, w.D, ATTNGEN_DEVICE_CPU),
                     hk = view(d.k.data(), ATTNGEN_F32, w.B, w.Nk, w.H, w.D, ATTNGEN_DEVICE_CPU),
                     hv = view(d.v.data(), ATTNGEN_F32, w.B, w.Nk, w.H, w.D, ATTNGEN_DEVICE_CPU),
                     ho = view(want.data(), ATTNGEN_F32, w.B, w.Nq, w.H, w.D, ATTNGEN_DEVICE_CPU);
      if (call(var, d, &hq, &hk, &hv, &ho) != ATTNGEN_OK) {
        st.SkipWithError((std::string("CPU reference: ") + attngen_last_error()).c_str());
        return;
      }
    }
    std::vector<float> got(d.q.size());
    if (impl.dtype == ATTNGEN_F32) {
      err = m[3].download(got.data(), got.size() * 4);
    } else {
      std::vector<uint16_t> h(got.size());
      err = m[3].download(h.data(), h.size() * 2);
      if (err.empty()) attngen_convert(h.data(), impl.dtype, got.data(), ATTNGEN_F32, int64_t(h.size()));
    }
    double maxerr = 0, maxabs = 0;
    for (size_t i = 0; i < got.size(); i++) {
      maxabs = std::max(maxabs, double(std::fabs(want[i])));
      const double e = std::fabs(double(got[i]) - want[i]);
      maxerr = std::isnan(e) ? INFINITY : std::max(maxerr, e);
    }
    const double rel = maxabs > 0 ? maxerr / maxabs : maxerr;
    st.counters["max_rel_err"] = rel;
    if (!err.empty() || !(rel <= impl.tol)) {
      st.SkipWithError(("output check failed: max error " + std::to_string(rel) + " of the output's magnitude (tol " +
                        std::to_string(impl.tol) + ") " + err).c_str());
      return;
    }
    st.SetLabel(kernel);
  }
  const cu::Driver* drv = cu::driver();
  cu::CUevent e0 = nullptr, e1 = nullptr;
  drv->cuEventCreate(&e0, 0);
  drv->cuEventCreate(&e1, 0);
  for (auto _ : st) {
    drv->cuEventRecord(e0, nullptr);
    const attngen_status s = call(var, d, &q, &k, &v, &o);
    drv->cuEventRecord(e1, nullptr);
    if (s != ATTNGEN_OK || drv->cuEventSynchronize(e1) != 0) {
      st.SkipWithError(attngen_last_error());
      break;
    }
    float ms = 0;
    drv->cuEventElapsedTime(&ms, e0, e1);
    st.SetIterationTime(ms * 1e-3);
  }
  drv->cuEventDestroy(e0);
  drv->cuEventDestroy(e1);
  const double flops = pattern_flops(var, w);
  if (flops > 0) st.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  for (const Variant& var : kVariants) {
    for (const Workload& w : kWorkloads) {
      if (std::find(var.workloads.begin(), var.workloads.end(), w.name) == var.workloads.end()) continue;
      for (const Impl& impl : kImpls) {
        const std::string name = std::string(var.name) + "/" + w.name + "/" + impl.name;
        benchmark::RegisterBenchmark(name.c_str(), [&var, &w, &impl](benchmark::State& st) { run_bench(st, var, w, impl); })
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond)
            ->MinTime(0.5);
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  std::printf("attngen_bench_cuda: CUDA %s\n", attngen_cuda_available() ? "available" : "NOT available");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
