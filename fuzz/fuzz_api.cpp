// libFuzzer target: the C API's argument validation. The input chooses an
// entry point, tensors (dtype as a raw int, rank, shape, strides, NULL
// pointers), options and layout handles; sizes are small, or one of a few
// absurd values (negative, zero, 2^31, 2^40, INT64_MAX/MIN) that the API
// must refuse. Every buffer the fuzzer hands over covers what its view
// addresses when the view is a valid one (so a call the API accepts reads
// and writes only memory it was given), and is surrounded by guard zones.
//
// Invariants: no crash, hang or sanitizer report; the status is a known
// code; attngen_last_error() is "" after success and names something after
// failure; a refused call leaves out untouched; no call writes outside out.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "attngen/attngen.h"
#include "attngen/layout.h"

namespace {

[[noreturn]] void die(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "fuzz_api: invariant violated: %s %s\n", what, detail.c_str());
  std::abort();
}

constexpr size_t kGuard = 16;           // elements of guard zone on each side
constexpr int64_t kMaxSpan = 1 << 16;   // largest view the fuzzer backs with memory
constexpr float kSentinel = -31337.f;

const int64_t kAbsurd[] = {0,
                           -1,
                           int64_t(1) << 31,
                           int64_t(1) << 40,
                           std::numeric_limits<int64_t>::max(),
                           std::numeric_limits<int64_t>::min(),
                           -(int64_t(1) << 33)};

// A buffer of `span` elements of `elem` bytes between two guard zones.
struct Buffer {
  std::vector<unsigned char> bytes;
  size_t elem = 4, span = 0;
  void init(size_t elem_bytes, size_t n, FuzzedDataProvider* fdp, bool sentinel) {
    elem = elem_bytes;
    span = n;
    bytes.assign((n + 2 * kGuard) * elem, 0);
    if (elem == 4) {
      float* f = reinterpret_cast<float*>(bytes.data());
      for (size_t i = 0; i < n + 2 * kGuard; ++i) f[i] = kSentinel;
      if (!sentinel) {
        // Inputs: small values, sometimes NaN/Inf/huge.
        for (size_t i = 0; i < n; ++i) {
          const uint8_t b = fdp->remaining_bytes() ? fdp->ConsumeIntegral<uint8_t>() : uint8_t(i * 37);
          float x = (int(b) - 128) / 32.f;
          if (b == 255) x = std::numeric_limits<float>::quiet_NaN();
          if (b == 254) x = std::numeric_limits<float>::infinity();
          if (b == 253) x = 1e30f;
          f[kGuard + i] = x;
        }
      }
    } else {
      std::memset(bytes.data(), 0xAB, bytes.size());
      for (size_t i = 0; i < n; ++i) bytes[kGuard + i] = fdp->remaining_bytes() ? fdp->ConsumeIntegral<uint8_t>() & 1 : 1;
    }
  }
  void* data() { return bytes.data() + kGuard * elem; }
  bool guards_intact() const {
    if (elem == 4) {
      const float* f = reinterpret_cast<const float*>(bytes.data());
      for (size_t i = 0; i < kGuard; ++i)
        if (f[i] != kSentinel || f[kGuard + span + i] != kSentinel) return false;
    } else {
      for (size_t i = 0; i < kGuard; ++i)
        if (bytes[i] != 0xAB || bytes[(kGuard + span + i)] != 0xAB) return false;
    }
    return true;
  }
  bool body_is_sentinel() const {
    const float* f = reinterpret_cast<const float*>(bytes.data()) + kGuard;
    for (size_t i = 0; i < span; ++i)
      if (std::memcmp(&f[i], &kSentinel, 4) != 0) return false;
    return true;
  }
};

// A tensor argument: its view and the memory behind it.
struct Arg {
  attngen_tensor t{};
  Buffer buf;
  bool null_ptr = false;  // pass NULL instead of &t
};

// Elements a view addresses (0 if it is not a valid, small view; then the
// API must refuse it and a tiny buffer backs it).
int64_t span_of(const attngen_tensor& t) {
  if (t.ndim < 1 || t.ndim > ATTNGEN_MAX_DIMS) return 0;
  bool all_zero = true;
  for (int i = 0; i < t.ndim; ++i) {
    if (t.shape[i] < 1 || t.shape[i] > kMaxSpan) return 0;
    all_zero = all_zero && t.strides[i] == 0;
  }
  if (all_zero) {
    int64_t n = 1;
    for (int i = 0; i < t.ndim; ++i) {
      n *= t.shape[i];
      if (n > kMaxSpan) return 0;
    }
    return n;
  }
  int64_t last = 0;
  for (int i = 0; i < t.ndim; ++i) {
    // The API takes a zero stride of a size-1 dimension as 1, and refuses
    // other non-positive strides.
    const int64_t s = t.strides[i] > 0 ? t.strides[i] : 1;
    if (t.shape[i] == 1) continue;  // never stepped along
    if (s > kMaxSpan) return 0;
    last += (t.shape[i] - 1) * s;
    if (last >= kMaxSpan) return 0;
  }
  return last + 1;
}

// Builds a tensor of nominal rank `rank` and nominal sizes `dims` (the
// input may break any of it).
void make_arg(FuzzedDataProvider* fdp, Arg* a, attngen_dtype dtype, int rank, const int64_t* dims, bool is_out) {
  attngen_tensor& t = a->t;
  std::memset(&t, 0, sizeof t);
  const uint8_t mode = fdp->ConsumeIntegral<uint8_t>();
  // dtype: mostly right, sometimes another one or an out-of-enum value.
  int32_t raw_dtype = dtype;
  if ((mode & 0x7) == 1) raw_dtype = fdp->ConsumeIntegralInRange<int32_t>(-2, 6);
  if ((mode & 0x7) == 2) raw_dtype = fdp->ConsumeIntegral<int32_t>();
  std::memcpy(&t.dtype, &raw_dtype, sizeof raw_dtype);
  t.ndim = (mode & 0x38) == 0x08 ? fdp->ConsumeIntegralInRange<int32_t>(-1, 6) : rank;
  for (int i = 0; i < ATTNGEN_MAX_DIMS; ++i) t.shape[i] = i < rank ? dims[i] : 0;
  // Perturb one dimension.
  if ((mode & 0x38) == 0x10) {
    const int i = fdp->ConsumeIntegralInRange(0, ATTNGEN_MAX_DIMS - 1);
    t.shape[i] = fdp->ConsumeBool() ? fdp->ConsumeIntegralInRange<int64_t>(-2, 70)
                                    : fdp->PickValueInArray(kAbsurd);
  }
  // Strides: contiguous (all 0), explicit small ones, or an absurd one.
  if (mode & 0x40) {
    int64_t s = 1;
    for (int i = t.ndim > 0 && t.ndim <= ATTNGEN_MAX_DIMS ? t.ndim - 1 : -1; i >= 0; --i) {
      t.strides[i] = s + fdp->ConsumeIntegralInRange<int64_t>(-1, 2) * (fdp->ConsumeBool() ? 1 : s);
      s = std::max<int64_t>(1, t.shape[i] > 0 && t.shape[i] < kMaxSpan ? s * t.shape[i] : s);
    }
    if (mode & 0x80) t.strides[fdp->ConsumeIntegralInRange(0, ATTNGEN_MAX_DIMS - 1)] = fdp->PickValueInArray(kAbsurd);
  }
  const int64_t span = span_of(t);
  const size_t elem = dtype == ATTNGEN_U8 ? 1 : 4;
  a->buf.init(elem, size_t(span > 0 ? span : 1), fdp, is_out);
  t.data = (mode & 0x38) == 0x18 && fdp->ConsumeBool() ? nullptr : a->buf.data();
  a->null_ptr = (mode & 0x38) == 0x20 && fdp->ConsumeBool();
}

const attngen_tensor* ptr(Arg& a) { return a.null_ptr ? nullptr : &a.t; }

void check_status(attngen_status st, const char* fn) {
  if (st < ATTNGEN_OK || st > ATTNGEN_ERR_OUT_OF_MEMORY) die("unknown status from", fn);
  const std::string msg = attngen_last_error();
  if (st == ATTNGEN_OK && !msg.empty()) die("success left an error message:", msg);
  if (st != ATTNGEN_OK && msg.empty()) die("failure without a message from", fn);
}

void check_out(attngen_status st, Arg& out, const char* fn) {
  if (!out.buf.guards_intact()) die("a call wrote outside out:", fn);
  if (st != ATTNGEN_OK && out.buf.elem == 4 && !out.buf.body_is_sentinel()) {
    die("a refused call wrote to out:", std::string(fn) + " " + attngen_last_error());
  }
}

// Activations of nominal shapes q (B, Nq, H, D), k/v (B, Nk, Hkv, D|Dv).
struct Qkvo {
  Arg q, k, v, out;
  int64_t B, Nq, Nk, H, Hkv, D, Dv;
  void make(FuzzedDataProvider* fdp, bool self, bool dv) {
    B = fdp->ConsumeIntegralInRange(1, 2);
    Nq = fdp->ConsumeIntegralInRange(1, 40);
    Nk = self ? Nq : fdp->ConsumeIntegralInRange(1, 40);
    Hkv = fdp->ConsumeIntegralInRange(1, 3);
    H = Hkv * fdp->ConsumeIntegralInRange(1, 2);
    D = fdp->ConsumeIntegralInRange(1, 80);
    Dv = dv && fdp->ConsumeBool() ? fdp->ConsumeIntegralInRange(1, 40) : D;
    const int64_t dq[4] = {B, Nq, H, D}, dk[4] = {B, Nk, Hkv, D}, dvv[4] = {B, Nk, Hkv, Dv}, dout[4] = {B, Nq, H, Dv};
    make_arg(fdp, &q, ATTNGEN_F32, 4, dq, false);
    make_arg(fdp, &k, ATTNGEN_F32, 4, dk, false);
    make_arg(fdp, &v, ATTNGEN_F32, 4, dvv, false);
    make_arg(fdp, &out, ATTNGEN_F32, 4, dout, true);
  }
};

void fuzz_dense(FuzzedDataProvider* fdp) {
  Qkvo a;
  a.make(fdp, false, false);
  attngen_dense_options o;
  attngen_dense_options_init(&o);
  o.causal = fdp->ConsumeIntegral<int8_t>();
  o.stable = fdp->ConsumeIntegral<int8_t>();
  const uint8_t off = fdp->ConsumeIntegral<uint8_t>();
  o.offset = off < 200 ? (off % 2 ? a.Nk - a.Nq : 0) : (off < 250 ? int64_t(off) - 225 : fdp->PickValueInArray(kAbsurd));
  Arg km, sm, fr;
  const int64_t dkm[2] = {a.B, a.Nk};
  const int64_t S = a.Nk + fdp->ConsumeIntegralInRange(-2, 3);
  const int64_t dsm[2] = {S, S};
  const int64_t R = 2 * fdp->ConsumeIntegralInRange(0, 8);
  const int64_t dfr[2] = {a.Nk + fdp->ConsumeIntegralInRange(-1, 2), R};
  const uint8_t opt = fdp->ConsumeIntegral<uint8_t>();
  if (opt & 1) make_arg(fdp, &km, ATTNGEN_U8, 2, dkm, false);
  if (opt & 2) make_arg(fdp, &sm, ATTNGEN_U8, 2, dsm, false);
  if (opt & 4) make_arg(fdp, &fr, ATTNGEN_F32, 2, dfr, false);
  o.key_mask = opt & 1 ? ptr(km) : nullptr;
  o.static_mask = opt & 2 ? ptr(sm) : nullptr;
  o.freqs = opt & 4 ? ptr(fr) : nullptr;
  const attngen_status st =
      attngen_dense(ptr(a.q), ptr(a.k), ptr(a.v), a.out.null_ptr ? nullptr : &a.out.t, (opt & 8) ? nullptr : &o);
  check_status(st, "attngen_dense");
  check_out(st, a.out, "attngen_dense");
}

void fuzz_sparse(FuzzedDataProvider* fdp, bool conv) {
  attngen_sparse_options o;
  attngen_sparse_options_init(&o);
  o.image_size = fdp->ConsumeIntegralInRange<int64_t>(1, 7);
  const int64_t text = fdp->ConsumeIntegralInRange<int64_t>(1, 12);
  o.seq_len = text + o.image_size * o.image_size - 1;
  const uint8_t knob = fdp->ConsumeIntegral<uint8_t>();
  if (knob & 1) o.seq_len += fdp->ConsumeIntegralInRange(-3, 3);
  if (knob & 2) o.image_size = fdp->PickValueInArray(kAbsurd);
  if (knob & 4) o.seq_len = fdp->PickValueInArray(kAbsurd);
  o.kernel_size = (knob & 8) ? fdp->ConsumeIntegral<int32_t>() : fdp->ConsumeIntegralInRange(-1, 9);
  o.dilation = (knob & 16) ? fdp->ConsumeIntegral<int32_t>() : fdp->ConsumeIntegralInRange(-1, 4);
  o.axis = fdp->ConsumeIntegralInRange(-1, 2);
  o.stable = fdp->ConsumeBool();
  // Tokens: usually n <= seq_len (self-attention).
  Qkvo a;
  a.make(fdp, true, false);
  const int64_t n = std::max<int64_t>(1, std::min<int64_t>(o.seq_len > 0 && o.seq_len < 64 ? o.seq_len : 8, 40) -
                                              fdp->ConsumeIntegralInRange(0, 3));
  for (Arg* x : {&a.q, &a.k, &a.v, &a.out}) {
    // Re-shape the token dimension to n where the buffer allows it.
    if (x->t.ndim == 4 && x->t.shape[1] == a.Nq) {
      attngen_tensor t = x->t;
      t.shape[1] = n;
      if (span_of(t) > 0 && int64_t(x->buf.span) >= span_of(t)) x->t = t;
    }
  }
  Arg km, fr;
  const int64_t dkm[2] = {a.B, text + fdp->ConsumeIntegralInRange(-1, 2)};
  const int64_t dfr[2] = {n, 2 * fdp->ConsumeIntegralInRange(0, 6)};
  const uint8_t opt = fdp->ConsumeIntegral<uint8_t>();
  if (opt & 1) make_arg(fdp, &km, ATTNGEN_U8, 2, dkm, false);
  if (opt & 2) make_arg(fdp, &fr, ATTNGEN_F32, 2, dfr, false);
  o.key_mask = opt & 1 ? ptr(km) : nullptr;
  o.freqs = opt & 2 ? ptr(fr) : nullptr;
  const attngen_sparse_options* po = (opt & 4) ? nullptr : &o;
  attngen_tensor* out = a.out.null_ptr ? nullptr : &a.out.t;
  const attngen_status st = conv ? attngen_sparse_conv(ptr(a.q), ptr(a.k), ptr(a.v), out, po)
                                 : attngen_sparse_axial(ptr(a.q), ptr(a.k), ptr(a.v), out, po);
  const char* fn = conv ? "attngen_sparse_conv" : "attngen_sparse_axial";
  check_status(st, fn);
  check_out(st, a.out, fn);
}

int32_t pick_block(FuzzedDataProvider* fdp) {
  static const int32_t kBlocks[] = {16, 32, 48, 64, 0, -16, 8, 24, 1 << 20, (1 << 20) + 16, 1 << 30, INT32_MIN};
  return fdp->ConsumeBool() ? fdp->PickValueInArray(kBlocks) : fdp->ConsumeIntegral<int32_t>();
}

void fuzz_block_sparse(FuzzedDataProvider* fdp) {
  Qkvo a;
  a.make(fdp, true, false);
  const int32_t block = pick_block(fdp);
  const int32_t causal = fdp->ConsumeIntegral<int8_t>();
  attngen_block_layout* handle = nullptr;
  attngen_status st;
  const bool from_mask = fdp->ConsumeBool();
  Arg lay;
  if (from_mask) {
    const int64_t S = a.Nq + fdp->ConsumeIntegralInRange(-2, 20);
    const int64_t d[2] = {S, S};
    make_arg(fdp, &lay, ATTNGEN_U8, 2, d, false);
    st = attngen_block_layout_from_mask(ptr(lay), block, causal, fdp->ConsumeIntegral<uint8_t>() == 7 ? nullptr : &handle);
    check_status(st, "attngen_block_layout_from_mask");
  } else {
    const int64_t b = block > 0 && block <= 4096 ? block : 16;
    const int64_t nb = (a.Nq + b - 1) / b + fdp->ConsumeIntegralInRange(-1, 1);
    const int64_t d[3] = {fdp->ConsumeBool() ? 1 : a.H + fdp->ConsumeIntegralInRange(-1, 1), nb, nb};
    make_arg(fdp, &lay, ATTNGEN_U8, 3, d, false);
    st = attngen_block_layout_create(ptr(lay), block, causal, fdp->ConsumeIntegral<uint8_t>() == 7 ? nullptr : &handle);
    check_status(st, "attngen_block_layout_create");
  }
  if (st != ATTNGEN_OK && handle != nullptr) die("a refused layout call returned a handle");
  if (st == ATTNGEN_OK) {
    int64_t kept = -1, total = -1;
    check_status(attngen_block_layout_stats(handle, &kept, &total), "attngen_block_layout_stats");
    if (kept < 0 || kept > total) die("layout stats out of range");
  }
  Arg km;
  const int64_t dkm[2] = {a.B, a.Nq + fdp->ConsumeIntegralInRange(-1, 1)};
  const bool use_km = fdp->ConsumeBool();
  if (use_km) make_arg(fdp, &km, ATTNGEN_U8, 2, dkm, false);
  attngen_block_sparse_options o{use_km ? ptr(km) : nullptr};
  st = attngen_block_sparse(ptr(a.q), ptr(a.k), ptr(a.v), a.out.null_ptr ? nullptr : &a.out.t, handle,
                            fdp->ConsumeBool() ? &o : nullptr);
  check_status(st, "attngen_block_sparse");
  check_out(st, a.out, "attngen_block_sparse");
  attngen_block_layout_destroy(handle);
}

void fuzz_chunked(FuzzedDataProvider* fdp) {
  Qkvo a;
  a.make(fdp, false, true);
  attngen_chunked_options o;
  attngen_chunked_options_init(&o);
  const uint8_t knob = fdp->ConsumeIntegral<uint8_t>();
  o.query_chunk_size = knob & 1 ? fdp->PickValueInArray(kAbsurd) : fdp->ConsumeIntegralInRange<int64_t>(-1, 50);
  o.kv_chunk_size = knob & 2 ? fdp->PickValueInArray(kAbsurd) : fdp->ConsumeIntegralInRange<int64_t>(-1, 300);
  o.kv_chunk_size_min = knob & 4 ? fdp->PickValueInArray(kAbsurd) : fdp->ConsumeIntegralInRange<int64_t>(-1, 300);
  const attngen_status st =
      attngen_chunked(ptr(a.q), ptr(a.k), ptr(a.v), a.out.null_ptr ? nullptr : &a.out.t, (knob & 8) ? nullptr : &o);
  check_status(st, "attngen_chunked");
  check_out(st, a.out, "attngen_chunked");
}

// The layout builders of layout.h on small grids.
void fuzz_layouts(FuzzedDataProvider* fdp) {
  const uint8_t which = fdp->ConsumeIntegralInRange(0, 3);
  const int64_t seq_len = fdp->ConsumeBool() ? fdp->ConsumeIntegralInRange<int64_t>(-2, 200)
                                             : fdp->PickValueInArray(kAbsurd);
  const size_t cap = fdp->ConsumeIntegralInRange<size_t>(0, 4096);
  std::vector<uint8_t> layout(cap + 2 * kGuard, 0xCD);
  uint8_t* lp = fdp->ConsumeIntegral<uint8_t>() == 3 ? nullptr : layout.data() + kGuard;
  attngen_status st = ATTNGEN_OK;
  const char* fn = "";
  if (which == 0) {
    fn = "attngen_layout_num_blocks";
    int64_t nb = 0;
    st = attngen_layout_num_blocks(seq_len, fdp->ConsumeIntegral<int32_t>(), fdp->ConsumeBool() ? &nb : nullptr);
  } else if (which == 1) {
    fn = "attngen_layout_dalle";
    const int32_t heads = fdp->ConsumeIntegralInRange(-1, 3);
    const int64_t text = fdp->ConsumeIntegralInRange<int64_t>(-1, 210);
    st = attngen_layout_dalle(heads, seq_len, text, fdp->ConsumeIntegral<int8_t>(), fdp->ConsumeIntegral<uint64_t>(),
                              lp, cap);
  } else if (which == 2) {
    fn = "attngen_layout_variable_sparsity";
    attngen_variable_sparsity_config c;
    attngen_variable_sparsity_config_init(&c);
    int32_t windows[4], globals[4], ends[4];
    for (int i = 0; i < 4; ++i) {
      windows[i] = fdp->ConsumeIntegralInRange(-1, 6);
      globals[i] = fdp->ConsumeIntegralInRange(-1, 20);
      ends[i] = fdp->ConsumeIntegralInRange(-1, 24);
    }
    c.num_heads = fdp->ConsumeIntegralInRange(-1, 3);
    c.block = fdp->ConsumeBool() ? fdp->ConsumeIntegralInRange(-1, 64) : fdp->ConsumeIntegral<int32_t>();
    c.different_layout_per_head = fdp->ConsumeBool();
    c.num_random_blocks = fdp->ConsumeIntegralInRange(-1, 5);
    c.num_local_windows = fdp->ConsumeIntegralInRange(-1, 4);
    c.local_window_blocks = fdp->ConsumeIntegral<uint8_t>() == 1 ? nullptr : windows;
    c.num_global_blocks = fdp->ConsumeIntegralInRange(-1, 4);
    c.global_block_indices = fdp->ConsumeIntegral<uint8_t>() == 1 ? nullptr : globals;
    c.global_block_end_indices = fdp->ConsumeBool() ? ends : nullptr;
    const int32_t dir = fdp->ConsumeIntegralInRange(-1, 3);
    std::memcpy(&c.attention, &dir, sizeof dir);
    c.horizontal_global_attention = fdp->ConsumeBool();
    c.seed = fdp->ConsumeIntegral<uint64_t>();
    st = attngen_layout_variable_sparsity(fdp->ConsumeIntegral<uint8_t>() == 1 ? nullptr : &c, seq_len, lp, cap);
  } else {
    fn = "attngen_layout_from_mask";
    const int64_t n = fdp->ConsumeIntegralInRange<int64_t>(-1, 48);
    const int64_t stride = n + fdp->ConsumeIntegralInRange<int64_t>(-1, 3);
    std::vector<uint8_t> mask(size_t(std::max<int64_t>(1, n) * std::max<int64_t>(1, stride)));
    for (uint8_t& m : mask) m = fdp->remaining_bytes() ? fdp->ConsumeIntegral<uint8_t>() % 3 == 0 : 1;
    int32_t partial = -1;
    st = attngen_layout_from_mask(mask.data(), n, stride, pick_block(fdp), lp, cap,
                                  fdp->ConsumeBool() ? &partial : nullptr);
  }
  check_status(st, fn);
  for (size_t i = 0; i < kGuard; ++i) {
    if (layout[i] != 0xCD || layout[kGuard + cap + i] != 0xCD) die("a layout builder wrote outside its buffer", fn);
  }
  if (st != ATTNGEN_OK && lp) {
    for (size_t i = 0; i < cap; ++i)
      if (lp[i] != 0xCD) die("a refused layout builder wrote to the layout", fn);
  }
  if (st == ATTNGEN_OK && lp && cap > 0) {
    (void)attngen_layout_count(lp, 1, 1, 0);
  }
}

void fuzz_misc(FuzzedDataProvider* fdp) {
  int32_t raw = fdp->ConsumeIntegral<int32_t>();
  // Called through an int signature (as C code may pass any int).
  auto status_string = reinterpret_cast<const char* (*)(int32_t)>(&attngen_status_string);
  if (!status_string(raw)) die("attngen_status_string returned NULL");
  int64_t shape[6];
  for (int64_t& x : shape) x = fdp->ConsumeIntegral<int64_t>();
  float dummy;
  const attngen_tensor t =
      attngen_tensor_make(&dummy, ATTNGEN_F32, fdp->ConsumeIntegralInRange(-3, 8), fdp->ConsumeBool() ? shape : nullptr);
  (void)t;
  // A query: it reports failure like every entry point, but a success
  // leaves the last failed call's message alone.
  attngen_call_stats stats;
  const attngen_status st = attngen_last_call_stats(fdp->ConsumeBool() ? &stats : nullptr);
  if (st != ATTNGEN_OK && std::string(attngen_last_error()).empty()) die("attngen_last_call_stats failed silently");
  int64_t kept, total;
  check_status(attngen_block_layout_stats(nullptr, &kept, &total), "attngen_block_layout_stats");
  attngen_block_layout_destroy(nullptr);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  attngen_set_num_threads(2);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  switch (fdp.ConsumeIntegralInRange(0, 7)) {
    case 0: fuzz_dense(&fdp); break;
    case 1: fuzz_sparse(&fdp, true); break;
    case 2: fuzz_sparse(&fdp, false); break;
    case 3: fuzz_block_sparse(&fdp); break;
    case 4: fuzz_chunked(&fdp); break;
    case 5: fuzz_layouts(&fdp); break;
    case 6: fuzz_misc(&fdp); break;
    default: fuzz_dense(&fdp); break;
  }
  return 0;
}
