// attngen_bench: attention benchmarks (Google Benchmark) and a summary table.
//
// Benchmarks are named <variant>/<workload>/<impl> (Google Benchmark appends
// "/real_time"): e.g. dense_causal/dalle/attngen. Pick them with Google
// Benchmark's own flags, which take a regex over that name:
//   attngen_bench                                       everything, then the summary
//   attngen_bench --benchmark_filter=dalle              one workload
//   attngen_bench --benchmark_filter='dalle|decode'     two workloads
//   attngen_bench --benchmark_filter='/attngen'         one impl, every workload
//   attngen_bench --benchmark_filter='dense_causal/.*/(attngen|dnnl)'
//   attngen_bench --benchmark_format=json > r.json      JSON on stdout; the summary goes to stderr
//   attngen_bench --benchmark_min_time=2                longer runs (default here: 0.5 s each)
//   attngen_bench --benchmark_repetitions=5             the summary then uses the medians
//
// Variants, workloads and impls are the three tables below; a new variant
// (say, causal with a key-padding mask) is one more row of kVariants.
//
// Counters: GFLOPS = 4*B*H*D*(kept query-key pairs) per call / wall time,
// i.e. the flops of the scores the variant keeps (a causal N x N problem
// keeps N(N+1)/2 pairs per (b, h)), whatever an impl actually computes;
// peak_frac = GFLOPS / the fp32 FMA peak measured at startup on
// hardware_concurrency() threads.
//
// Inputs are fixed pseudo-random data. Small problems cycle through several
// copies of q/k/v/out (>= ~128 MiB in all) so that an iteration does not find
// its inputs in the cache left by the previous one.
//
// Guards: each impl's first call on a shape is untimed (warm-up) and its
// output is compared with attngen's. An impl other than attngen is skipped
// when one call is predicted (from its rate on a smaller shape) to take more
// than kMaxCallSeconds, and materializing impls are skipped when the score
// tensor would exceed kMaxScoreBytes.
#include <attngen/attngen.h>
#include <attngen/layout.h>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "pinned.h"
#include "baselines.h"

namespace {

using namespace attngen::bench;
using attngen::KernelEntry;
using attngen::PinnedKernel;

// ---- Tables ---------------------------------------------------------------------

struct Workload {
  const char* name;
  int B, H, Nq, Nk, D;
  int64_t offset;  // absolute position of query 0; Nk - Nq for a KV-cache step
  const char* what;
};

const Workload kWorkloads[] = {
    {"dalle", 1, 8, 1280, 1280, 64, 0, "DALL-E transformer layer"},
    {"sd_self", 2, 8, 4096, 4096, 40, 0, "Stable Diffusion 64x64 self-attention"},
    {"sd_cross", 2, 8, 4096, 77, 40, 0, "Stable Diffusion cross-attention (77 text tokens)"},
    {"long", 1, 16, 16384, 16384, 64, 0, "long context"},
    {"decode", 8, 8, 1, 1280, 64, 1279, "one decode step on a 1279-token KV cache"},
};

enum class Kind { Dense, SparseConv, SparseAxialRow, SparseAxialCol, BlockSparse, BlockSparseFull, Chunked };

struct Variant {
  const char* name;
  Kind kind;
  bool causal;
  bool key_mask;  // a random (B, Nk) key-padding mask
  // "" if the variant applies to the workload, else why not (then its
  // benchmarks are not registered).
  std::function<std::string(const Workload&)> not_applicable;
};

std::string dense_not_applicable(const Workload& w) {
  if (int64_t(w.Nk) != w.offset + w.Nq) return "dense attention needs Nk == offset + Nq";
  return {};
}

// DALL-E sequence of the dalle workload: 257 text tokens + a 32 x 32 image.
constexpr int kDalleImage = 32, kDalleKernel = 5;
std::string dalle_only(const Workload& w) {
  if (std::string(w.name) != "dalle") return "the DALL-E patterns are defined on the dalle workload";
  return {};
}
std::string chunked_not_applicable(const Workload& w) {
  if (w.offset != 0) return "chunked attention has no KV cache";
  if (std::string(w.name) == "dalle") return "chunked attention is benchmarked on the Stable Diffusion workloads";
  return {};
}

bool uses_mask_matrix(Kind k) { return k != Kind::Dense && k != Kind::Chunked; }

// The runtime's name of the pipeline a benchmark variant runs.
const char* runtime_variant_of(Kind k) {
  switch (k) {
    case Kind::Dense: return "dense";
    case Kind::SparseConv: return "sparse_conv";
    case Kind::SparseAxialRow: return "sparse_axial_row";
    case Kind::SparseAxialCol: return "sparse_axial_col";
    case Kind::BlockSparse:
    case Kind::BlockSparseFull: return "block_sparse";
    case Kind::Chunked: return "chunked";
  }
  return "";
}

const Variant kVariants[] = {
    {"dense_causal", Kind::Dense, true, false, dense_not_applicable},
    {"sparse_conv_k5", Kind::SparseConv, true, false, dalle_only},
    {"sparse_axial_row", Kind::SparseAxialRow, true, false, dalle_only},
    {"sparse_axial_col", Kind::SparseAxialCol, true, false, dalle_only},
    // DALL-E's default block layout (block 16, text blocks global, random
    // blocks, local window 4), causal; and the full causal layout, whose
    // time is the denominator of the kept-blocks ratio.
    {"block_sparse", Kind::BlockSparse, true, false, dalle_only},
    {"block_sparse_full", Kind::BlockSparseFull, true, false, dalle_only},
    {"chunked", Kind::Chunked, false, false, chunked_not_applicable},
};

// ---- Settings --------------------------------------------------------------------

constexpr double kDefaultMinTime = 0.5;             // s per benchmark (--benchmark_min_time)
constexpr double kMaxCallSeconds = 10.0;            // predicted time of one call above which an impl is skipped
constexpr double kNoWarmupSeconds = 2.0;            // calls slower than this are not warmed up
constexpr double kMaxScoreBytes = 4.0 * (1ull << 30);  // materialized score tensor cap
constexpr size_t kRotateBytes = size_t(128) << 20;  // working set the input copies should reach
constexpr int kMaxCopies = 32;
constexpr uint32_t kSeed = 20240521;

int g_threads = 1;
double g_peak_gflops = 0;  // fp32 FMA peak on g_threads threads

// ---- Data ------------------------------------------------------------------------

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

template <typename T>
std::unique_ptr<T[], FreeDeleter> alloc_aligned(size_t n) {
  const size_t bytes = std::max<size_t>(64, (n * sizeof(T) + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return std::unique_ptr<T[], FreeDeleter>(static_cast<T*>(p));
}

size_t round_up16(size_t n) { return (n + 15) / 16 * 16; }

// q/k/v/out of one workload, `copies` times (copy c of q at q + c * q_stride),
// plus a key-padding mask shared by all copies.
struct DataSet {
  Workload w;
  int copies = 1;
  size_t q_elems = 0, kv_elems = 0, q_stride = 0, kv_stride = 0;
  std::unique_ptr<float[], FreeDeleter> q, k, v, out;
  std::vector<uint8_t> key_mask;  // (B, Nk), 1 = keep
  std::map<std::string, std::vector<float>> ref;  // per variant: attngen's output on copy 0
  std::map<std::string, std::vector<uint8_t>> masks;    // per variant: (Nq, Nk) keep matrix
  std::map<std::string, std::vector<uint8_t>> layouts;  // per block-sparse variant: (1, nb, nb)
  std::map<std::string, attngen_block_layout*> handles;
  // Half-precision copies of q/k/v (all copies) and an output per copy, per
  // storage type (made on first use, outside the timed loop).
  struct HalfSet {
    std::vector<uint16_t> q, k, v, out;
  };
  std::map<int, HalfSet> half;
  ~DataSet() {
    for (auto& [name, h] : handles) attngen_block_layout_destroy(h);
  }

  DataSet(const Workload& wl, int max_copies) : w(wl) {
    q_elems = size_t(w.B) * w.Nq * w.H * w.D;
    kv_elems = size_t(w.B) * w.Nk * w.H * w.D;
    q_stride = round_up16(q_elems);
    kv_stride = round_up16(kv_elems);
    const size_t set_bytes = (2 * q_stride + 2 * kv_stride) * sizeof(float);
    copies = int(std::min<size_t>(max_copies, std::max<size_t>(1, (kRotateBytes + set_bytes - 1) / set_bytes)));
    q = alloc_aligned<float>(q_stride * copies);
    k = alloc_aligned<float>(kv_stride * copies);
    v = alloc_aligned<float>(kv_stride * copies);
    out = alloc_aligned<float>(q_stride * copies);

    std::mt19937 rng(kSeed ^ uint32_t(std::hash<std::string>()(w.name)));
    std::uniform_real_distribution<float> uni(-1.f, 1.f);
    for (float* p : {q.get(), k.get(), v.get()}) {
      const size_t n = (p == q.get()) ? q_elems : kv_elems;
      for (size_t i = 0; i < n; ++i) p[i] = uni(rng);
    }
    // Copies hold the same values in different memory (same outputs, cold caches).
    for (int c = 1; c < copies; ++c) {
      std::memcpy(q.get() + c * q_stride, q.get(), q_elems * sizeof(float));
      std::memcpy(k.get() + c * kv_stride, k.get(), kv_elems * sizeof(float));
      std::memcpy(v.get() + c * kv_stride, v.get(), kv_elems * sizeof(float));
    }
    std::memset(out.get(), 0, q_stride * copies * sizeof(float));  // touch every page now
    // ~10% of keys padded; key 0 always kept so no row is fully masked.
    key_mask.resize(size_t(w.B) * w.Nk);
    std::bernoulli_distribution keep(0.9);
    for (int b = 0; b < w.B; ++b)
      for (int j = 0; j < w.Nk; ++j) key_mask[size_t(b) * w.Nk + j] = (j == 0 || keep(rng)) ? 1 : 0;
  }

  const float* qp(int c) const { return q.get() + c * q_stride; }
  const float* kp(int c) const { return k.get() + c * kv_stride; }
  const float* vp(int c) const { return v.get() + c * kv_stride; }
  float* outp(int c) const { return out.get() + c * q_stride; }
};

// The workload's data, kept while consecutive benchmarks use it (benchmarks
// run in registration order, workload by workload).
DataSet& dataset(const Workload& w) {
  static std::unique_ptr<DataSet> current;
  if (!current || std::string(current->w.name) != w.name) {
    current.reset();  // free the previous workload's buffers first
    current = std::make_unique<DataSet>(w, kMaxCopies);
  }
  return *current;
}

constexpr int kBlock = 16;

// The block layout of a block-sparse variant (built once per data set).
const std::vector<uint8_t>& block_layout(const Variant& var, DataSet& d) {
  auto& l = d.layouts[var.name];
  if (!l.empty()) return l;
  const int nb = (d.w.Nq + kBlock - 1) / kBlock;
  l.assign(size_t(nb) * nb, 1);
  if (var.kind == Kind::BlockSparse) {
    const int64_t text = d.w.Nq + 1 - kDalleImage * kDalleImage;
    if (attngen_layout_dalle(1, d.w.Nq, text, var.causal, 42, l.data(), l.size()) != ATTNGEN_OK)
      throw std::runtime_error(std::string("attngen_layout_dalle: ") + attngen_last_error());
  }
  return l;
}

attngen_block_layout* block_handle(const Variant& var, DataSet& d) {
  auto& h = d.handles[var.name];
  if (h) return h;
  const std::vector<uint8_t>& l = block_layout(var, d);
  const int64_t nb = (d.w.Nq + kBlock - 1) / kBlock, shape[3] = {1, nb, nb};
  attngen_tensor t = attngen_tensor_make(const_cast<uint8_t*>(l.data()), ATTNGEN_U8, 3, shape);
  if (attngen_block_layout_create(&t, kBlock, var.causal, &h) != ATTNGEN_OK)
    throw std::runtime_error(std::string("attngen_block_layout_create: ") + attngen_last_error());
  return h;
}

// The (Nq, Nk) keep matrix of a masked variant (causal included), shared
// by all (b, h): the materializing baselines apply it to their scores.
const std::vector<uint8_t>& mask_matrix(const Variant& var, DataSet& d) {
  auto& m = d.masks[var.name];
  if (!m.empty()) return m;
  const int N = d.w.Nq, text = N + 1 - kDalleImage * kDalleImage, G = kDalleImage;
  m.assign(size_t(N) * N, 0);
  const std::vector<uint8_t>* layout = nullptr;
  if (var.kind == Kind::BlockSparse || var.kind == Kind::BlockSparseFull) layout = &block_layout(var, d);
  const int nb = (N + kBlock - 1) / kBlock;
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j <= i; ++j) {
      bool keep = false;
      if (layout) {
        keep = (*layout)[size_t(i / kBlock) * nb + j / kBlock] != 0;
      } else if (i < text) {
        keep = j < text;
      } else if (j < text) {
        keep = true;
      } else {
        const int r = (i - text) / G, c = (i - text) % G, rj = (j - text) / G, cj = (j - text) % G;
        if (var.kind == Kind::SparseConv) {
          keep = r - rj >= 0 && r - rj < kDalleKernel && c - cj >= 0 && c - cj < kDalleKernel;
        } else if (var.kind == Kind::SparseAxialRow) {
          keep = rj == r && cj <= c;
        } else {
          keep = cj == c && rj <= r;
        }
      }
      m[size_t(i) * N + j] = keep;
    }
  }
  return m;
}

// Query-key pairs the variant keeps, summed over (b, h).
double kept_pairs(const Variant& var, const Workload& w, DataSet& d) {
  if (var.kind == Kind::Chunked) return double(w.B) * w.H * double(w.Nq) * w.Nk;
  if (uses_mask_matrix(var.kind)) {
    const std::vector<uint8_t>& m = mask_matrix(var, d);
    double n = 0;
    for (uint8_t x : m) n += x;
    return n * w.B * w.H;
  }
  double total = 0;
  std::vector<int64_t> prefix(w.Nk + 1);
  for (int b = 0; b < w.B; ++b) {
    prefix[0] = 0;
    for (int j = 0; j < w.Nk; ++j)
      prefix[j + 1] = prefix[j] + ((!var.key_mask || d.key_mask[size_t(b) * w.Nk + j]) ? 1 : 0);
    for (int i = 0; i < w.Nq; ++i) {
      const int64_t visible = var.causal ? std::min<int64_t>(w.Nk, w.offset + i + 1) : w.Nk;
      total += double(prefix[visible]);
    }
  }
  return total * w.H;
}

double kept_flops(const Variant& var, const Workload& w, DataSet& d) {
  return 4.0 * w.D * kept_pairs(var, w, d);  // 2 for q.k, 2 for p*v, per feature
}

double score_bytes(const Workload& w) { return 4.0 * w.B * w.H * double(w.Nq) * w.Nk; }

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

// ---- Impls ------------------------------------------------------------------------

struct Impl {
  using AppliesFn = std::function<bool(const Variant&, const Workload&)>;
  using UnsupportedFn = std::function<std::string(const Variant&, const Workload&)>;
  using RunFn = std::function<std::string(const Variant&, DataSet&, int c, float* out)>;
  using LabelFn = std::function<std::string(const Variant&, DataSet&)>;
  Impl(std::string n, AppliesFn a, UnsupportedFn u, RunFn r, LabelFn l = {})
      : name(std::move(n)), applies(std::move(a)), unsupported(std::move(u)), run(std::move(r)), label(std::move(l)) {}

  std::string name;
  // Registered for this (variant, workload)?
  std::function<bool(const Variant&, const Workload&)> applies;
  // "" if it can run, else the reason it is skipped (SkipWithError).
  std::function<std::string(const Variant&, const Workload&)> unsupported;
  // One call on copy c; "" on success, else the error.
  std::function<std::string(const Variant&, DataSet&, int c, float* out)> run;
  // Optional label for the report (called after a successful run).
  std::function<std::string(const Variant&, DataSet&)> label;
  // Check of copy 0's output against attngen's fp32 output (relative to
  // its magnitude; half types round their output); no check if 0.
  double check_rtol = 2e-3;
  // Writes copy 0's output as f32 when run() leaves it elsewhere.
  std::function<void(DataSet&, float*)> fetch;
};

DataSet::HalfSet& half_set(DataSet& d, attngen_dtype t) {
  DataSet::HalfSet& h = d.half[int(t)];
  if (!h.q.empty()) return h;
  h.q.resize(d.q_stride * d.copies);
  h.k.resize(d.kv_stride * d.copies);
  h.v.resize(d.kv_stride * d.copies);
  h.out.resize(d.q_stride * d.copies);
  for (auto [src, dst, n] : {std::tuple{d.q.get(), &h.q, d.q_stride}, std::tuple{d.k.get(), &h.k, d.kv_stride},
                             std::tuple{d.v.get(), &h.v, d.kv_stride}}) {
    if (attngen_convert(src, ATTNGEN_F32, dst->data(), t, int64_t(n) * d.copies) != ATTNGEN_OK)
      throw std::runtime_error(std::string("attngen_convert: ") + attngen_last_error());
  }
  return h;
}

// One attngen call on copy c. dtype: storage type (half types run on
// converted copies and write their own output buffer; see fetch_half).
// kv_group > 1: grouped-query attention with H / kv_group K/V heads, viewed
// in place as the first heads of k and v (reads 1/kv_group of the K/V bytes).
std::string run_attngen_as(const Variant& var, DataSet& d, int c, float* out, attngen_dtype dtype, int kv_group) {
  const Workload& w = d.w;
  const int64_t Hkv = w.H / kv_group;
  const int64_t qs[4] = {w.B, w.Nq, w.H, w.D}, kvs[4] = {w.B, w.Nk, Hkv, w.D}, kms[2] = {w.B, w.Nk};
  void *qp = const_cast<float*>(d.qp(c)), *kp = const_cast<float*>(d.kp(c)), *vp = const_cast<float*>(d.vp(c));
  void* op = out;
  if (dtype != ATTNGEN_F32) {
    DataSet::HalfSet& h = half_set(d, dtype);
    qp = h.q.data() + c * d.q_stride;
    kp = h.k.data() + c * d.kv_stride;
    vp = h.v.data() + c * d.kv_stride;
    op = h.out.data() + c * d.q_stride;
  }
  attngen_tensor q = attngen_tensor_make(qp, dtype, 4, qs);
  attngen_tensor k = attngen_tensor_make(kp, dtype, 4, kvs);
  attngen_tensor v = attngen_tensor_make(vp, dtype, 4, kvs);
  if (kv_group > 1) {
    for (attngen_tensor* t : {&k, &v}) {
      t->strides[3] = 1;
      t->strides[2] = w.D;
      t->strides[1] = int64_t(w.H) * w.D;
      t->strides[0] = int64_t(w.Nk) * w.H * w.D;
    }
  }
  attngen_tensor o = attngen_tensor_make(op, dtype, 4, qs);
  attngen_tensor km = attngen_tensor_make(const_cast<uint8_t*>(d.key_mask.data()), ATTNGEN_U8, 2, kms);
  attngen_status s = ATTNGEN_OK;
  const char* fn = "";
  switch (var.kind) {
    case Kind::Dense: {
      fn = "attngen_dense";
      attngen_dense_options opts;
      attngen_dense_options_init(&opts);
      opts.causal = var.causal ? 1 : 0;
      opts.offset = w.offset;
      if (var.key_mask) opts.key_mask = &km;
      s = attngen_dense(&q, &k, &v, &o, &opts);
      break;
    }
    case Kind::SparseConv:
    case Kind::SparseAxialRow:
    case Kind::SparseAxialCol: {
      attngen_sparse_options opts;
      attngen_sparse_options_init(&opts);
      opts.seq_len = w.Nq;
      opts.image_size = kDalleImage;
      opts.kernel_size = kDalleKernel;
      opts.axis = var.kind == Kind::SparseAxialCol ? 1 : 0;
      fn = var.kind == Kind::SparseConv ? "attngen_sparse_conv" : "attngen_sparse_axial";
      s = var.kind == Kind::SparseConv ? attngen_sparse_conv(&q, &k, &v, &o, &opts)
                                       : attngen_sparse_axial(&q, &k, &v, &o, &opts);
      break;
    }
    case Kind::BlockSparse:
    case Kind::BlockSparseFull: {
      fn = "attngen_block_sparse";
      try {
        s = attngen_block_sparse(&q, &k, &v, &o, block_handle(var, d), nullptr);
      } catch (const std::exception& e) {
        return e.what();
      }
      break;
    }
    case Kind::Chunked: {
      fn = "attngen_chunked";
      s = attngen_chunked(&q, &k, &v, &o, nullptr);
      break;
    }
  }
  if (s != ATTNGEN_OK) return std::string(fn) + ": " + attngen_status_string(s) + ": " + attngen_last_error();
  return {};
}

std::string run_attngen(const Variant& var, DataSet& d, int c, float* out) {
  return run_attngen_as(var, d, c, out, ATTNGEN_F32, 1);
}

// The half-precision output of copy 0 as f32 (for the check against fp32).
void fetch_half(DataSet& d, attngen_dtype t, float* out) {
  const DataSet::HalfSet& h = half_set(d, t);
  attngen_convert(h.out.data(), t, out, ATTNGEN_F32, int64_t(d.q_elems));
}

MaterializedArgs materialized_args(const Variant& var, DataSet& d, int c, float* out) {
  const Workload& w = d.w;
  MaterializedArgs a{w.B, w.Nq, w.Nk, w.H, w.D, w.D, d.qp(c), d.kp(c), d.vp(c), out, var.causal,
                     uses_mask_matrix(var.kind) ? mask_matrix(var, d).data() : nullptr,
                     var.key_mask ? d.key_mask.data() : nullptr};
  return a;
}

std::vector<Impl> make_impls() {
  std::vector<Impl> impls;
  auto always = [](const Variant&, const Workload&) { return true; };
  auto none = [](const Variant&, const Workload&) { return std::string(); };

  impls.push_back({"attngen", always, none, run_attngen,
                   [](const Variant&, DataSet&) { return std::string(attngen_last_kernel()); }});
  // Half-precision storage (fp32 accumulation), every variant.
  for (auto [suffix, t, tol] : {std::tuple{"f16", ATTNGEN_F16, 4e-3}, std::tuple{"bf16", ATTNGEN_BF16, 2e-2}}) {
    Impl impl{std::string("attngen_") + suffix, always, none,
              [t = t](const Variant& var, DataSet& d, int c, float* out) {
                return run_attngen_as(var, d, c, out, t, 1);
              },
              [](const Variant&, DataSet&) { return std::string(attngen_last_kernel()); }};
    impl.check_rtol = tol;
    impl.fetch = [t = t](DataSet& d, float* out) { fetch_half(d, t, out); };
    impls.push_back(impl);
  }
  // Grouped-query decode: 4 query heads per K/V head (the decode workload's
  // 8 heads read 2 K/V heads). Different K/V than the other impls, so no
  // output check here (tests/test_half.cpp checks GQA against broadcast K/V).
  {
    Impl impl{"attngen_gqa4",
              [](const Variant& var, const Workload& w) {
                return var.kind == Kind::Dense && w.H % 4 == 0 && std::string(w.name) == "decode";
              },
              none,
              [](const Variant& var, DataSet& d, int c, float* out) {
                return run_attngen_as(var, d, c, out, ATTNGEN_F32, 4);
              },
              [](const Variant&, DataSet&) { return std::string(attngen_last_kernel()); }};
    impl.check_rtol = 0;
    impls.push_back(impl);
  }

  impls.push_back({"blas_materialized", always, none,
                   [](const Variant& var, DataSet& d, int c, float* out) {
                     try {
                       blas_materialized(materialized_args(var, d, c, out));
                     } catch (const std::exception& e) {
                       return std::string(e.what());
                     }
                     return std::string();
                   },
                   [](const Variant&, DataSet&) { return std::string("OpenBLAS sgemm per (b, h)"); }});

  impls.push_back({"dnnl_materialized", always,
                   [](const Variant&, const Workload& w) {
                     if (score_bytes(w) > kMaxScoreBytes)
                       return "the B*H*Nq*Nk fp32 score tensor would take " + fmt("%.1f", score_bytes(w) / (1u << 30)) +
                              " GiB (cap: " + fmt("%.0f", kMaxScoreBytes / (1u << 30)) + " GiB)";
                     return std::string();
                   },
                   [](const Variant& var, DataSet& d, int c, float* out) {
                     try {
                       dnnl_materialized(materialized_args(var, d, c, out));
                     } catch (const std::exception& e) {
                       return std::string(e.what());
                     }
                     return std::string();
                   },
                   [](const Variant& var, DataSet& d) {
                     return "oneDNN " + dnnl_materialized_impl(materialized_args(var, d, 0, d.outp(0)));
                   }});

  // Pinned builds (bench/pinned.h): `untuned` (issue 5: attngen, built from
  // the tuning database, against the same pipeline with the hand defaults)
  // and `autosched_<name>` (the pipeline scheduled by a Halide
  // autoscheduler). Registered where the table lists a build for the
  // variant and head dim; a build that was left out is skipped with its
  // reason.
  for (const std::string& name : pinned_impls()) {
    // An autoschedule is made for the generator's estimates (the dalle and
    // sd_self shapes): its splits assume extents that other workloads
    // (decode: one query) do not have, so it is registered for those only.
    const bool autosched = name.rfind("autosched_", 0) == 0;
    auto build = [name, autosched](const Variant& var, const Workload& w) -> const PinnedBuild* {
      const std::string wn = w.name;  // (the calibration shape is dalle-sized)
      if (autosched && wn != "dalle" && wn != "sd_self" && wn != "calibration") return nullptr;
      return pinned_build(name, runtime_variant_of(var.kind), w.D, w.Nq, w.Nk);
    };
    impls.push_back(
        {name, [build](const Variant& var, const Workload& w) { return build(var, w) != nullptr; },
         [build, name](const Variant& var, const Workload& w) {
           const PinnedBuild* b = build(var, w);
           if (!b) return "no " + name + " build for this shape";  // e.g. the calibration shape
           if (!b->fn)
             return b->scheduler[0] ? std::string("autoscheduler ") + b->scheduler +
                                          " could not schedule this pipeline: " + b->why_missing
                                    : std::string(b->name) + " was not built: " + b->why_missing;
           if (!cpu_supports_pinned_target())
             return std::string("this CPU cannot run the kernel's target ") + pinned_target();
           // Autoscheduled schedules compute whole score-sized stages at root
           // (Li2018 does for s, ms and p).
           if (b->scheduler[0] && score_bytes(w) > kMaxScoreBytes)
             return "the schedule materializes score-sized intermediates; the B*H*Nq*Nk fp32 score tensor would take " +
                    fmt("%.1f", score_bytes(w) / (1u << 30)) + " GiB (cap: " +
                    fmt("%.0f", kMaxScoreBytes / (1u << 30)) + " GiB)";
           return std::string();
         },
         [build](const Variant& var, DataSet& d, int c, float* out) {
           static std::map<const PinnedBuild*, KernelEntry> entries;  // runs are single-threaded
           const PinnedBuild* b = build(var, d.w);
           if (!b) return std::string("no build for this shape");
           auto it = entries.find(b);
           if (it == entries.end()) it = entries.emplace(b, pinned_entry(*b)).first;
           PinnedKernel pin(&it->second);
           return run_attngen(var, d, c, out);
         },
         [build](const Variant& var, DataSet& d) {
           const PinnedBuild* b = build(var, d.w);
           return (b->scheduler[0] ? std::string("Halide ") + b->scheduler + " autoschedule"
                                   : std::string("hand default ") + b->knobs) +
                  ", " + pinned_target();
         }});
  }
  return impls;
}

// ---- Running ---------------------------------------------------------------------

// Effective rate (kept GFLOP/s) each impl last achieved, to predict the
// time of a larger call.
std::map<std::string, double>& known_rates() {
  static std::map<std::string, double> rates;
  return rates;
}

// Times the impl on a small shape of the same head dim (dalle-sized) when no
// rate is known yet (e.g. --benchmark_filter=long). 0 if it cannot run there.
double calibrate(const Impl& impl, const Variant& var, int D) {
  const Workload cw{"calibration", 1, 8, 1280, 1280, D, 0, "calibration"};
  if (!var.not_applicable(cw).empty() || !impl.unsupported(var, cw).empty()) return 0;
  DataSet cd(cw, 1);
  double rate = 0;
  for (int rep = 0; rep < 2; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!impl.run(var, cd, 0, cd.outp(0)).empty()) return 0;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rate = kept_flops(var, cw, cd) / 1e9 / s;  // the second call: warm
  }
  return rate;
}

// (max |out - ref|, max |ref|)
std::pair<double, double> compare(const float* out, const std::vector<float>& ref) {
  double err = 0, mag = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double e = std::fabs(double(out[i]) - ref[i]);
    err = std::isnan(e) ? INFINITY : std::max(err, e);
    mag = std::max(mag, std::fabs(double(ref[i])));
  }
  return {err, mag};
}

void run_benchmark(benchmark::State& st, const Variant& var, const Workload& w, const Impl& impl) {
  if (const std::string why = impl.unsupported(var, w); !why.empty()) {
    st.SkipWithError(why.c_str());
    return;
  }
  DataSet& d = dataset(w);
  const double flops = kept_flops(var, w, d);
  const bool is_attngen = impl.name == "attngen";
  const bool is_attngen_family = impl.name.rfind("attngen", 0) == 0;

  // Predict one call's time; skip impls that would blow the time budget.
  double rate = 0;
  if (auto it = known_rates().find(impl.name); it != known_rates().end()) rate = it->second;
  if (rate == 0 && flops > 2e10) rate = calibrate(impl, var, w.D);
  const double predicted = rate > 0 ? flops / 1e9 / rate : 0;
  if (!is_attngen_family && predicted > kMaxCallSeconds) {
    const std::string why = "predicted " + fmt("%.0f", predicted) + " s per call at the " + fmt("%.1f", rate) +
                            " GFLOP/s it reached on a smaller shape (cap: " + fmt("%.0f", kMaxCallSeconds) + " s)";
    st.SkipWithError(why.c_str());
    return;
  }

  // First call of this benchmark: untimed warm-up (thread pools, primitive
  // creation, page faults) and a check against attngen's output.
  static std::set<std::string> warmed;
  const std::string key = std::string(var.name) + "/" + w.name + "/" + impl.name;
  if (!warmed.count(key) && predicted < kNoWarmupSeconds) {
    warmed.insert(key);
    if (const std::string err = impl.run(var, d, 0, d.outp(0)); !err.empty()) {
      st.SkipWithError(err.c_str());
      return;
    }
    if (!is_attngen && impl.check_rtol > 0) {
      if (impl.fetch) impl.fetch(d, d.outp(0));
      auto& ref = d.ref[var.name];
      if (ref.empty()) {
        ref.resize(d.q_elems);
        if (!run_attngen(var, d, 0, ref.data()).empty()) ref.clear();
      }
      if (!ref.empty()) {
        const auto [err, mag] = compare(d.outp(0), ref);
        if (!(err <= 1e-4 + impl.check_rtol * mag)) {
          const std::string why = "output differs from attngen's: max abs error " + fmt("%.3g", err) +
                                  " (max |out| " + fmt("%.3g", mag) + ")";
          st.SkipWithError(why.c_str());
          return;
        }
      }
    }
  }

  int c = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    if (const std::string err = impl.run(var, d, c, d.outp(c)); !err.empty()) {
      st.SkipWithError(err.c_str());
      break;
    }
    if (++c == d.copies) c = 0;
  }
  if (st.error_occurred()) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (st.iterations() > 0 && secs > 0) known_rates()[impl.name] = flops * double(st.iterations()) / 1e9 / secs;

  st.counters["GFLOPS"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["peak_frac"] =
      benchmark::Counter(g_peak_gflops > 0 ? flops / 1e9 / g_peak_gflops : 0, benchmark::Counter::kIsIterationInvariantRate);
  if (is_attngen_family) {
    attngen_call_stats stats{};
    if (attngen_last_call_stats(&stats) == ATTNGEN_OK)
      st.counters["scratch_bytes"] = benchmark::Counter(double(stats.peak_scratch_bytes));
  }
  if (impl.label) st.SetLabel(impl.label(var, d));
}

// ---- Summary ---------------------------------------------------------------------

struct Result {
  bool error = false;
  std::string message;
  double ms = 0, gflops = 0, peak_frac = 0;
};

// Forwards everything to Google Benchmark's own display reporter (so every
// --benchmark_format works unchanged) and keeps the results for the summary.
class CollectingReporter : public benchmark::BenchmarkReporter {
 public:
  explicit CollectingReporter(benchmark::BenchmarkReporter* inner) : inner_(inner) {}
  bool ReportContext(const Context& context) override { return inner_->ReportContext(context); }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const std::string name = run.run_name.function_name;
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name != "median") continue;  // with repetitions, report medians
        medians_.insert(name);
      } else if (medians_.count(name)) {
        continue;
      }
      Result r;
      r.error = run.error_occurred;
      r.message = run.error_message;
      if (!r.error) {
        r.ms = run.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(run.time_unit) * 1e3;
        if (auto it = run.counters.find("GFLOPS"); it != run.counters.end()) r.gflops = it->second.value;
        if (auto it = run.counters.find("peak_frac"); it != run.counters.end()) r.peak_frac = it->second.value;
      }
      if (!results_.count(name)) order_.push_back(name);
      results_[name] = r;
    }
    inner_->ReportRuns(runs);
  }
  void Finalize() override { inner_->Finalize(); }

  const std::vector<std::string>& order() const { return order_; }
  const std::map<std::string, Result>& results() const { return results_; }

 private:
  std::unique_ptr<benchmark::BenchmarkReporter> inner_;
  std::vector<std::string> order_;
  std::map<std::string, Result> results_;
  std::set<std::string> medians_;
};

void print_summary(std::ostream& os, const CollectingReporter& rep, const std::vector<Impl>& impls) {
  if (rep.order().empty()) return;
  std::vector<std::string> notes;
  auto note = [&](const std::string& msg) {
    auto it = std::find(notes.begin(), notes.end(), msg);
    if (it == notes.end()) {
      notes.push_back(msg);
      return notes.size();
    }
    return size_t(it - notes.begin()) + 1;
  };
  char line[512];
  os << "\n==== attngen benchmark summary ====\n";
  std::snprintf(line, sizeof line, "threads %d, attngen CPU level %s, fp32 FMA peak %.1f GFLOP/s\n", g_threads,
                attngen_cpu_level(), g_peak_gflops);
  os << line;
  os << "time: wall time per call; GFLOP/s: flops of the kept scores (4*B*H*D per kept query-key pair) / time\n";
  for (const Variant& var : kVariants) {
    for (const Workload& w : kWorkloads) {
      const std::string prefix = std::string(var.name) + "/" + w.name + "/";
      std::vector<std::pair<std::string, const Result*>> rows;
      for (const Impl& impl : impls) {
        auto it = rep.results().find(prefix + impl.name);
        if (it != rep.results().end()) rows.emplace_back(impl.name, &it->second);
      }
      if (rows.empty()) continue;
      std::snprintf(line, sizeof line, "\n%s / %s  (B%d H%d Nq%d Nk%d D%d%s%s; %s)\n", var.name, w.name, w.B, w.H,
                    w.Nq, w.Nk, w.D, w.offset ? (" offset" + std::to_string(w.offset)).c_str() : "",
                    var.causal ? ", causal" : "", w.what);
      os << line;
      std::snprintf(line, sizeof line, "  %-26s %12s %10s %9s  %s\n", "impl", "time (ms)", "GFLOP/s", "peak",
                    "vs attngen");
      os << line;
      const Result* base = nullptr;
      for (auto& [name, r] : rows)
        if (name == "attngen" && !r->error) base = r;
      for (auto& [name, r] : rows) {
        if (r->error) {
          std::snprintf(line, sizeof line, "  %-26s %12s %10s %9s  skipped [%zu]\n", name.c_str(), "-", "-", "-",
                        note(r->message));
          os << line;
          continue;
        }
        std::string vs = "-";
        if (name == "attngen") {
          vs = "1.00x";
        } else if (base && r->ms > 0) {
          const double ratio = r->ms / base->ms;
          vs = ratio >= 1 ? fmt("%.2fx slower", ratio) : fmt("%.2fx faster", 1 / ratio);
        }
        std::snprintf(line, sizeof line, "  %-26s %12.3f %10.1f %8.1f%%  %s\n", name.c_str(), r->ms, r->gflops,
                      100 * r->peak_frac, vs.c_str());
        os << line;
      }
    }
  }
  // Ratios the issues set bars on, when both sides ran.
  auto ms_of = [&](const std::string& name) {
    auto it = rep.results().find(name);
    return it == rep.results().end() || it->second.error ? 0.0 : it->second.ms;
  };
  bool header = false;
  auto bar = [&](const std::string& what, double value, double limit) {
    if (!header) os << "\nratios (one run):\n";
    header = true;
    std::snprintf(line, sizeof line, "  %-58s %6.3f  (bar <= %.3f: %s)\n", what.c_str(), value, limit,
                  value <= limit ? "met" : "NOT met");
    os << line;
  };
  const double dense = ms_of("dense_causal/dalle/attngen");
  for (const char* v : {"sparse_conv_k5", "sparse_axial_row", "sparse_axial_col"}) {
    const double t = ms_of(std::string(v) + "/dalle/attngen");
    if (dense > 0 && t > 0) bar(std::string(v) + "/dalle / dense_causal/dalle (attngen)", t / dense, 0.5);
  }
  const double bs = ms_of("block_sparse/dalle/attngen"), full = ms_of("block_sparse_full/dalle/attngen");
  if (bs > 0 && full > 0) {
    const int N = 1280, nb = (N + kBlock - 1) / kBlock;
    std::vector<uint8_t> l(size_t(nb) * nb);
    if (attngen_layout_dalle(1, N, N + 1 - kDalleImage * kDalleImage, 1, 42, l.data(), l.size()) == ATTNGEN_OK) {
      const double kept = double(attngen_layout_count(l.data(), 1, nb, 1)) / (double(nb) * (nb + 1) / 2);
      bar("block_sparse / block_sparse_full time, over kept-block ratio " + fmt("%.3f", kept), bs / full / kept,
          1.25);
    }
  }
  // Issue 10: half-precision storage and grouped-query decode.
  for (const char* t : {"bf16", "f16"}) {
    const double f32 = ms_of("dense_causal/dalle/attngen"), half = ms_of(std::string("dense_causal/dalle/attngen_") + t);
    if (f32 > 0 && half > 0)
      bar(std::string("dense_causal/dalle attngen_") + t + " / attngen (fp32)", half / f32, 1 / 1.3);
  }
  const double dec = ms_of("dense_causal/decode/attngen"), gqa = ms_of("dense_causal/decode/attngen_gqa4");
  if (dec > 0 && gqa > 0) bar("dense_causal/decode attngen_gqa4 / attngen", gqa / dec, 0.5);
  // Issue 5: tuned (attngen) against the hand defaults (untuned) and against
  // the best autoschedule, per variant and workload.
  int tuned_wins = 0, tuned_pairs = 0;
  for (const Variant& var : kVariants) {
    for (const Workload& w : kWorkloads) {
      const std::string prefix = std::string(var.name) + "/" + w.name + "/";
      const double tuned = ms_of(prefix + "attngen"), untuned = ms_of(prefix + "untuned");
      if (tuned <= 0) continue;
      if (untuned > 0) {
        ++tuned_pairs;
        if (untuned / tuned >= 1.2) ++tuned_wins;
        bar(prefix + "attngen / untuned (" + fmt("%.2fx", untuned / tuned) + " faster)", tuned / untuned, 1.05);
      }
      double best = 0;
      std::string best_name;
      for (const std::string& name : pinned_impls()) {
        const double t = name.rfind("autosched_", 0) == 0 ? ms_of(prefix + name) : 0;
        if (t > 0 && (best == 0 || t < best)) best = t, best_name = name;
      }
      if (best > 0)
        bar(prefix + "attngen / best autosched (" + best_name + ", " + fmt("%.1fx", best / tuned) + ")",
            tuned / best, 1 / 1.5);
    }
  }
  if (tuned_pairs > 0) {
    std::snprintf(line, sizeof line, "  %-58s %6d  (bar >= 2: %s)\n",
                  ("workloads where attngen is >= 1.2x faster than untuned, of " + std::to_string(tuned_pairs)).c_str(),
                  tuned_wins, tuned_wins >= 2 ? "met" : "NOT met");
    os << line;
  }
  if (!notes.empty()) {
    os << "\nskipped:\n";
    for (size_t i = 0; i < notes.size(); ++i) os << "  [" << i + 1 << "] " << notes[i] << "\n";
  }
  os << std::flush;
}

bool has_flag(int argc, char** argv, const char* name) {
  const size_t n = std::strlen(name);
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], name, n) == 0 && (argv[i][n] == '\0' || argv[i][n] == '=')) return true;
  return false;
}

std::string flag_value(int argc, char** argv, const char* name, const char* env, const std::string& dflt) {
  const std::string prefix = std::string(name) + "=";
  std::string v = dflt;
  if (const char* e = std::getenv(env)) v = e;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) v = argv[i] + prefix.size();
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  // Defaults that the command line (or BENCHMARK_MIN_TIME) can override.
  std::vector<char*> args(argv, argv + argc);
  std::string min_time_arg = "--benchmark_min_time=" + fmt("%g", kDefaultMinTime);
  if (!has_flag(argc, argv, "--benchmark_min_time") && !std::getenv("BENCHMARK_MIN_TIME"))
    args.insert(args.begin() + 1, min_time_arg.data());
  const std::string format = flag_value(argc, argv, "--benchmark_format", "BENCHMARK_FORMAT", "console");
  const std::string list_tests = flag_value(argc, argv, "--benchmark_list_tests", "BENCHMARK_LIST_TESTS", "false");
  const bool listing = has_flag(argc, argv, "--benchmark_list_tests") ? list_tests != "false" && list_tests != "0"
                                                                      : (list_tests == "true" || list_tests == "1");

  int nargs = int(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&nargs, args.data());
  if (benchmark::ReportUnrecognizedArguments(nargs, args.data())) return 1;

  g_threads = int(std::max(1u, std::thread::hardware_concurrency()));
  if (!listing) g_peak_gflops = fma_peak_gflops(g_threads);
  benchmark::AddCustomContext("attngen_cpu_level", attngen_cpu_level());
  benchmark::AddCustomContext("bench_threads", std::to_string(g_threads));
  benchmark::AddCustomContext("fma_peak_gflops", fmt("%.2f", g_peak_gflops));
  benchmark::AddCustomContext("pinned_kernel_target", pinned_target());

  static const std::vector<Impl> impls = make_impls();
  for (const Variant& var : kVariants) {
    for (const Workload& w : kWorkloads) {
      if (!var.not_applicable(w).empty()) continue;  // e.g. sd_cross for dense variants
      for (const Impl& impl : impls) {
        if (!impl.applies(var, w)) continue;
        const std::string name = std::string(var.name) + "/" + w.name + "/" + impl.name;
        benchmark::RegisterBenchmark(name.c_str(),
                                     [&var, &w, &impl](benchmark::State& st) { run_benchmark(st, var, w, impl); })
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }

  CollectingReporter reporter(benchmark::CreateDefaultDisplayReporter());
  benchmark::RunSpecifiedBenchmarks(&reporter);
  // The summary goes with the console output; with another format stdout
  // holds only that format, so the summary goes to stderr.
  print_summary(format == "console" ? std::cout : std::cerr, reporter, impls);
  benchmark::Shutdown();
  return 0;
}
