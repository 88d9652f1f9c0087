// Golden-data checker of the attngen command-line tool (see golden.h).
#include "golden.h"

#include "src/cuda_driver.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <new>
#include <set>
#include <stdexcept>
#include <utility>

#include "attngen/attngen.h"
#include "io/json.h"

namespace attngen::cli {
namespace {

using io::Json;

const double kNaN = std::numeric_limits<double>::quiet_NaN();
attngen_device g_check_device = ATTNGEN_DEVICE_CPU;  // set_check_device
const double kInf = std::numeric_limits<double>::infinity();

// SPEC.md: fp32 tolerance when a case gives none.
constexpr double kDefaultRtol = 1e-4;
constexpr double kDefaultAtol = 1e-5;

std::string fmt(const char* f, double x) {
  char b[64];
  std::snprintf(b, sizeof b, f, x);
  return b;
}

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

const char* json_type_name(const Json& j) {
  switch (j.type()) {
    case Json::Type::Null: return "null";
    case Json::Type::Bool: return "a boolean";
    case Json::Type::Number: return "a number";
    case Json::Type::String: return "a string";
    case Json::Type::Array: return "an array";
    case Json::Type::Object: return "an object";
  }
  return "?";
}

// A JSON value for a message: short and single-line.
std::string json_brief(const Json& j) {
  std::string s = j.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return sanitize(s, false);
}

bool is_float_dtype(io::DType t) { return t == io::DType::F32 || t == io::DType::F64 || t == io::DType::F16; }

// Unravels a flat index into "[i, j, k, l]".
std::string index_str(int64_t flat, const std::vector<int64_t>& shape) {
  std::vector<int64_t> idx(shape.size(), 0);
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] > 0) {
      idx[d] = flat % shape[d];
      flat /= shape[d];
    }
  }
  std::string s = "[";
  for (size_t d = 0; d < idx.size(); ++d) s += (d ? ", " : "") + std::to_string(idx[d]);
  return s + "]";
}

// expected.npy as double (float64 files keep their precision).
bool load_expected(const std::string& path, std::vector<int64_t>* shape, std::vector<double>* out,
                   std::string* err) {
  io::NpyArray a;
  if (!io::npy_load(path, &a, err)) return false;
  if (!is_float_dtype(a.dtype)) {
    *err = "expected: '" + path + "' has dtype " + io::dtype_name(a.dtype) + ", expected a float type";
    return false;
  }
  const int64_t n = a.numel();
  if (n < 0) {
    *err = "expected: '" + path + "' has an invalid shape";
    return false;
  }
  std::vector<double> v(static_cast<size_t>(n));
  if (a.dtype == io::DType::F64) {
    if (n) std::memcpy(v.data(), a.bytes.data(), static_cast<size_t>(n) * sizeof(double));
  } else {
    std::vector<float> f;
    if (!io::npy_to_f32(a, &f, err)) return false;
    for (size_t i = 0; i < f.size(); ++i) v[i] = f[i];
  }
  *shape = a.shape;
  *out = std::move(v);
  return true;
}

struct Comparison {
  bool pass = false;
  double max_abs_err = 0;
  std::string reason;
};

// Pass iff every element has |got - want| <= atol + rtol*|want|. Non-finite
// `want` must be matched exactly (NaN by NaN, inf by the same inf); a
// non-finite `got` where `want` is finite fails and counts as an infinite
// error.
Comparison compare(const float* got, const std::vector<double>& want, const std::vector<int64_t>& shape,
                   double rtol, double atol) {
  Comparison c;
  int64_t bad = 0, first = -1, worst = -1;
  double worst_err = -1;
  const int64_t n = static_cast<int64_t>(want.size());
  for (int64_t i = 0; i < n; ++i) {
    const double g = got[i], w = want[static_cast<size_t>(i)];
    double diff;
    bool ok;
    if (std::isfinite(w)) {
      if (std::isfinite(g)) {
        diff = std::fabs(g - w);
        ok = diff <= atol + rtol * std::fabs(w);
      } else {
        diff = kInf;
        ok = false;
      }
    } else if (std::isnan(w)) {
      ok = std::isnan(g);
      diff = ok ? 0 : kInf;
    } else {
      ok = g == w;
      diff = ok ? 0 : kInf;
    }
    if (diff > c.max_abs_err) c.max_abs_err = diff;
    if (!ok) {
      ++bad;
      if (first < 0) first = i;
      if (diff > worst_err) {
        worst_err = diff;
        worst = i;
      }
    }
  }
  c.pass = bad == 0;
  if (!c.pass) {
    auto at = [&](int64_t i) {
      return index_str(i, shape) + " (got " + fmt("%.9g", got[i]) + ", want " +
             fmt("%.9g", want[static_cast<size_t>(i)]) + ")";
    };
    c.reason = std::to_string(bad) + " of " + std::to_string(n) + " elements exceed atol " + fmt("%g", atol) +
               " + rtol " + fmt("%g", rtol) + "*|want|; first at " + at(first);
    if (worst != first) c.reason += "; worst at " + at(worst);
  }
  return c;
}

// Thrown inside a case to end it with a FAIL reason; caught per case.
struct CaseFail {
  std::string reason;
};
[[noreturn]] void fail(std::string reason) { throw CaseFail{std::move(reason)}; }

const char* const kKnownVariants[] = {"dense", "sparse_conv", "sparse_axial", "block_sparse", "chunked"};

// A JSON number that must be an integer in [lo, hi].
int64_t param_int(const std::string& key, const Json& val, int64_t lo, int64_t hi) {
  const double x = val.as_number(-1);
  if (!val.is_number() || !std::isfinite(x) || x != std::floor(x) || x < double(lo) || x > double(hi)) {
    fail("param '" + key + "' must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
         json_brief(val));
  }
  return static_cast<int64_t>(x);
}

bool param_bool(const std::string& key, const Json& val) {
  if (!val.is_bool()) fail("param '" + key + "' must be a boolean, got " + json_brief(val));
  return val.as_bool();
}

// Fills the call's options from params; *rotary is set by rotary_targets.
void parse_params(const std::string& variant, const Json* params, Call* c, bool* rotary) {
  *rotary = false;
  if (!params || params->is_null()) return;
  if (!params->is_object()) fail(std::string("'params' is ") + json_type_name(*params) + ", expected an object");
  const bool dense = variant == "dense", conv = variant == "sparse_conv", axial = variant == "sparse_axial";
  const bool sparse = conv || axial, block = variant == "block_sparse", chunked = variant == "chunked";
  constexpr int64_t kBig = (int64_t(1) << 31) - 1;
  for (const auto& [key, val] : params->as_object()) {
    if (val.is_null()) continue;  // null = default
    if (key == "stable") {
      param_bool(key, val);  // every kernel subtracts the running max (SPEC.md); accepted, no effect
    } else if (key == "causal" && (dense || block)) {
      c->causal = param_bool(key, val);
    } else if (key == "offset" && dense) {
      c->offset = param_int(key, val, 0, kBig);
    } else if (key == "rotary_targets" && (dense || sparse)) {
      if (!val.is_string()) fail("param 'rotary_targets' must be a string, got " + json_brief(val));
      if (val.as_string() != "qkv") {
        fail("rotary_targets '" + sanitize(val.as_string(), false) +
             "' not supported (the kernels rotate q, k and v: 'qkv')");
      }
      *rotary = true;
    } else if (key == "seq_len" && sparse) {
      c->seq_len = param_int(key, val, 1, kBig);
    } else if (key == "image_size" && sparse) {
      c->image_size = param_int(key, val, 1, kBig);
    } else if (key == "kernel_size" && conv) {
      c->kernel_size = static_cast<int32_t>(param_int(key, val, 1, kBig));
    } else if (key == "dilation" && conv) {
      c->dilation = static_cast<int32_t>(param_int(key, val, 1, kBig));
    } else if (key == "axis" && axial) {
      c->axis = static_cast<int32_t>(param_int(key, val, 0, 1));
    } else if (key == "block" && block) {
      c->block = static_cast<int32_t>(param_int(key, val, 1, kBig));
    } else if (key == "query_chunk_size" && chunked) {
      c->query_chunk_size = param_int(key, val, 1, kBig);
    } else if (key == "kv_chunk_size" && chunked) {
      c->kv_chunk_size = param_int(key, val, 1, kBig);
    } else if (key == "kv_chunk_size_min" && chunked) {
      c->kv_chunk_size_min = param_int(key, val, 1, kBig);
    } else if (key == "dtype") {
      if (!val.is_string()) fail("param 'dtype' must be a string, got " + json_brief(val));
      if (!parse_dtype(val.as_string(), &c->dtype)) {
        fail("param 'dtype': unknown storage type '" + sanitize(val.as_string(), false) + "' (fp32, fp16, bf16)");
      }
    } else {
      fail("param '" + sanitize(key, false) + "' not understood by variant " + variant);
    }
  }
  if (sparse && (c->seq_len == 0 || c->image_size == 0)) fail("variant " + variant + " needs params seq_len and image_size");
}

double parse_tolerance(const Json& c, const char* key, double def) {
  const Json* t = c.find(key);
  if (!t || t->is_null()) return def;
  const double x = t->as_number(-1);
  if (!t->is_number() || !std::isfinite(x) || x < 0) {
    fail(std::string("'") + key + "' must be a non-negative number, got " + json_brief(*t));
  }
  return x;
}

// Checks one case entry; fills r (name already set) or throws CaseFail.
void check_case(const std::string& dir, const Json& c, std::set<std::string>* seen, CaseResult* r) {
  if (!c.is_object()) fail(std::string("case entry is ") + json_type_name(c) + ", expected an object");
  const Json* name = c.find("name");
  if (!name || !name->is_string() || name->as_string().empty()) fail("case has no non-empty 'name' string");
  std::string why;
  if (!safe_relative_path(name->as_string(), &why)) fail("case name unusable as a folder: " + why);
  if (!seen->insert(name->as_string()).second) fail("duplicate case name");

  for (const auto& member : c.as_object()) {
    const std::string& key = member.first;
    if (key != "name" && key != "variant" && key != "params" && key != "files" && key != "rtol" &&
        key != "atol" && key != "description" && key != "comment" && key != "notes") {
      fail("case key '" + sanitize(key, false) + "' not understood");
    }
  }

  const Json* variant = c.find("variant");
  if (!variant || !variant->is_string()) fail("case has no 'variant' string");
  const std::string& var = variant->as_string();
  bool known = false;
  for (const char* k : kKnownVariants) known = known || var == k;
  if (!known) fail("unknown variant '" + sanitize(var, false) + "'");

  Call call;
  call.device = g_check_device;
  call.variant = var;
  bool rotary = false;
  parse_params(var, c.find("params"), &call, &rotary);
  const double rtol = parse_tolerance(c, "rtol", kDefaultRtol);
  const double atol = parse_tolerance(c, "atol", kDefaultAtol);

  // Files: q, k, v, expected required; the rest as the variant reads them.
  const bool dense = var == "dense", block = var == "block_sparse", chunked = var == "chunked";
  const Json* files = c.find("files");
  if (!files || !files->is_object()) fail("case has no 'files' object");
  const std::string case_dir = join_path(dir, name->as_string());
  std::string path_q, path_k, path_v, path_exp, path_km, path_sm, path_fr, path_lay;
  for (const auto& [key, val] : files->as_object()) {
    std::string* slot = key == "q"                           ? &path_q
                        : key == "k"                         ? &path_k
                        : key == "v"                         ? &path_v
                        : key == "expected"                  ? &path_exp
                        : key == "key_mask" && !chunked      ? &path_km
                        : key == "static_mask" && dense      ? &path_sm
                        : key == "freqs" && !block && !chunked ? &path_fr
                        : key == "layout" && block           ? &path_lay
                                                             : nullptr;
    if (!slot) fail("file '" + sanitize(key, false) + "' not understood by variant " + var);
    if (val.is_null()) continue;
    if (!val.is_string()) fail("files." + key + " must be a string, got " + json_brief(val));
    if (!safe_relative_path(val.as_string(), &why)) {
      fail("files." + key + ": '" + sanitize(val.as_string(), false) + "' rejected: " + why);
    }
    *slot = join_path(case_dir, val.as_string());
  }
  for (auto [key, path] : {std::pair<const char*, const std::string*>{"q", &path_q},
                           {"k", &path_k},
                           {"v", &path_v},
                           {"expected", &path_exp}}) {
    if (path->empty()) fail(std::string("files.") + key + " is missing");
  }
  if (block && path_lay.empty()) fail("variant block_sparse needs files.layout");
  if (rotary && path_fr.empty()) fail("params.rotary_targets is 'qkv' but files.freqs is missing");
  if (!rotary && !path_fr.empty()) fail("files.freqs given but params.rotary_targets is not 'qkv'");

  std::string err;
  F32Tensor q, k, v, freqs;
  MaskTensor key_mask, static_mask, layout;
  if (!load_f32(path_q, "q", &q, &err) || !load_f32(path_k, "k", &k, &err) || !load_f32(path_v, "v", &v, &err) ||
      (!path_km.empty() && !load_mask(path_km, "key_mask", &key_mask, &err)) ||
      (!path_sm.empty() && !load_mask(path_sm, "static_mask", &static_mask, &err)) ||
      (!path_lay.empty() && !load_mask(path_lay, "layout", &layout, &err)) ||
      (!path_fr.empty() && !load_f32(path_fr, "freqs", &freqs, &err))) {
    fail(err);
  }
  std::vector<int64_t> exp_shape;
  std::vector<double> expected;
  if (!load_expected(path_exp, &exp_shape, &expected, &err)) fail(err);

  call.q = &q;
  call.k = &k;
  call.v = &v;
  call.key_mask = path_km.empty() ? nullptr : &key_mask;
  call.static_mask = path_sm.empty() ? nullptr : &static_mask;
  call.layout = path_lay.empty() ? nullptr : &layout;
  call.freqs = path_fr.empty() ? nullptr : &freqs;
  std::vector<float> out;
  std::vector<int64_t> out_shape;
  double seconds = 0;
  if (!run_call(call, &out, &out_shape, &r->kernel, &seconds, &err)) fail(err);

  if (exp_shape != out_shape) {
    fail("expected.npy has shape " + shape_str(exp_shape) + " but the output is " + shape_str(out_shape));
  }
  const Comparison cmp = compare(out.data(), expected, out_shape, rtol, atol);
  r->max_abs_err = cmp.max_abs_err;
  r->pass = cmp.pass;
  r->reason = cmp.reason;
}

}  // namespace

// ---- Public helpers ---------------------------------------------------------

std::string sanitize(const std::string& s, bool spaces) {
  static const char hex[] = "0123456789abcdef";
  std::string r;
  r.reserve(s.size());
  for (unsigned char ch : s) {
    if (ch < 0x20 || ch == 0x7f || (spaces && ch == ' ')) {
      r += "\\x";
      r += hex[ch >> 4];
      r += hex[ch & 15];
    } else {
      r += static_cast<char>(ch);
    }
  }
  return r;
}

bool safe_relative_path(const std::string& p, std::string* why) {
  auto no = [&](const char* m) {
    if (why) *why = m;
    return false;
  };
  if (p.empty()) return no("empty path");
  if (p.find('\0') != std::string::npos) return no("path contains a NUL byte");
  if (p[0] == '/') return no("absolute paths are not allowed");
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    if (p.compare(start, end - start, "..") == 0) return no("'..' components are not allowed");
    start = end + 1;
  }
  return true;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

std::string format_result_line(const CaseResult& r) {
  std::string line = r.pass ? "PASS " : "FAIL ";
  line += r.name.empty() ? std::string("?") : sanitize(r.name, true);
  line += ' ';
  line += std::isnan(r.max_abs_err) ? std::string("-") : fmt("%.3g", r.max_abs_err);
  if (!r.pass) line += ' ' + (r.reason.empty() ? std::string("(no reason given)") : sanitize(r.reason, false));
  return line;
}

int64_t F32Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// npy_to_f32/npy_to_mask name no file ("npy <memory>: ..."); the caller does.
static std::string strip_memory_prefix(const std::string& e) {
  const std::string prefix = "npy <memory>: ";
  return e.compare(0, prefix.size(), prefix) == 0 ? e.substr(prefix.size()) : e;
}

bool load_f32(const std::string& path, const char* role, F32Tensor* out, std::string* err) {
  io::NpyArray a;
  std::string e;
  if (!io::npy_load(path, &a, &e)) {
    *err = std::string(role) + ": " + e;
    return false;
  }
  if (!is_float_dtype(a.dtype)) {
    *err = std::string(role) + ": '" + path + "' has dtype " + io::dtype_name(a.dtype) +
           ", expected float32 (or float16/float64)";
    return false;
  }
  F32Tensor t;
  t.shape = a.shape;
  t.file_dtype = a.dtype;
  if (a.dtype == io::DType::F32) {
    t.raw = std::move(a);
  } else if (!io::npy_to_f32(a, &t.converted, &e)) {
    *err = std::string(role) + ": '" + path + "': " + strip_memory_prefix(e);
    return false;
  }
  *out = std::move(t);
  return true;
}

bool load_mask(const std::string& path, const char* role, MaskTensor* out, std::string* err) {
  io::NpyArray a;
  std::string e;
  if (!io::npy_load(path, &a, &e)) {
    *err = std::string(role) + ": " + e;
    return false;
  }
  MaskTensor m;
  if (!io::npy_to_mask(a, &m.data, &e)) {
    *err = std::string(role) + ": '" + path + "': " + strip_memory_prefix(e);
    return false;
  }
  m.shape = a.shape;
  *out = std::move(m);
  return true;
}

namespace {
// Device copies of a call's tensors (CUDA runs): each host tensor is
// uploaded into an allocation of its own and its view re-pointed there.
struct DeviceCopies {
  std::vector<attngen::cuda::DeviceMemory> mem;
  std::string err;
  bool put(attngen_tensor* t, bool upload) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    const size_t bytes = static_cast<size_t>(n) * (t->dtype == ATTNGEN_F32 ? 4 : t->dtype == ATTNGEN_U8 ? 1 : 2);
    mem.emplace_back();
    attngen::cuda::DeviceMemory& m = mem.back();
    std::string e = m.alloc(bytes);
    if (e.empty() && upload) e = m.upload(t->data, bytes);
    if (!e.empty()) {
      err = e;
      return false;
    }
    t->data = m.data();
    t->device = ATTNGEN_DEVICE_CUDA;
    return true;
  }
};
}  // namespace

void set_check_device(attngen_device d) { g_check_device = d; }

bool run_call(const Call& c, std::vector<float>* out, std::vector<int64_t>* out_shape, std::string* kernel,
              double* seconds, std::string* err, attngen_call_stats* stats) {
  try {
    if (!c.q || !c.k || !c.v) {
      *err = "q, k and v are required";
      return false;
    }
    auto check = [&](const char* role, const std::vector<int64_t>& shape, size_t rank, const char* dims) {
      if (shape.size() != rank) {
        *err = std::string(role) + ": rank " + std::to_string(shape.size()) + " (shape " + shape_str(shape) +
               "), expected " + std::to_string(rank) + " " + dims;
        return false;
      }
      for (int64_t d : shape) {
        if (d <= 0) {
          *err = std::string(role) + ": shape " + shape_str(shape) + " has an empty dimension";
          return false;
        }
      }
      return true;
    };
    if (!check("q", c.q->shape, 4, "(B, Nq, H, D)") || !check("k", c.k->shape, 4, "(B, Nk, Hkv, D)") ||
        !check("v", c.v->shape, 4, "(B, Nk, Hkv, Dv)") ||
        (c.key_mask && !check("key_mask", c.key_mask->shape, 2, "(B, Nk)")) ||
        (c.static_mask && !check("static_mask", c.static_mask->shape, 2, "(S, S)")) ||
        (c.layout && !check("layout", c.layout->shape, 3, "(H, nb, nb)")) ||
        (c.freqs && !check("freqs", c.freqs->shape, 2, "(Nf, R)"))) {
      return false;
    }
    // out is (B, Nq, H, Dv).
    std::vector<int64_t> shape = c.q->shape;
    shape[3] = c.v->shape[3];
    // The kernels index at most 2^31 - 1 elements (the API refuses larger
    // outputs): refuse before allocating it.
    const int64_t kMaxElems = (int64_t(1) << 31) - 1;
    int64_t numel = 1;
    for (int64_t d : shape) {
      if (d > kMaxElems / numel) {
        *err = "output " + shape_str(shape) + " exceeds the kernels' 2^31-1 elements";
        return false;
      }
      numel *= d;
    }
    std::vector<float> o(static_cast<size_t>(numel));

    auto view = [](const float* data, const std::vector<int64_t>& s) {
      return attngen_tensor_make(const_cast<float*>(data), ATTNGEN_F32, static_cast<int32_t>(s.size()), s.data());
    };
    // Half-precision storage: q, k, v rounded to the type, out in the type.
    const bool half = c.dtype != ATTNGEN_F32;
    std::vector<uint16_t> hq, hk, hv, ho;
    auto half_view = [&](const float* data, const std::vector<int64_t>& s, std::vector<uint16_t>* store) {
      int64_t n = 1;
      for (int64_t d : s) n *= d;
      store->resize(static_cast<size_t>(n));
      if (data && attngen_convert(data, ATTNGEN_F32, store->data(), c.dtype, n) != ATTNGEN_OK) {
        throw std::runtime_error(attngen_last_error());
      }
      return attngen_tensor_make(store->data(), c.dtype, static_cast<int32_t>(s.size()), s.data());
    };
    auto mview = [](const MaskTensor* m) {
      return attngen_tensor_make(const_cast<uint8_t*>(m->data.data()), ATTNGEN_U8,
                                 static_cast<int32_t>(m->shape.size()), m->shape.data());
    };
    attngen_tensor tq = half ? half_view(c.q->data(), c.q->shape, &hq) : view(c.q->data(), c.q->shape);
    attngen_tensor tk = half ? half_view(c.k->data(), c.k->shape, &hk) : view(c.k->data(), c.k->shape);
    attngen_tensor tv = half ? half_view(c.v->data(), c.v->shape, &hv) : view(c.v->data(), c.v->shape);
    attngen_tensor to = half ? half_view(nullptr, shape, &ho) : view(o.data(), shape);
    attngen_tensor tkm{}, tsm{}, tfr{}, tlay{};
    if (c.key_mask) tkm = mview(c.key_mask);
    if (c.static_mask) tsm = mview(c.static_mask);
    if (c.layout) tlay = mview(c.layout);
    if (c.freqs) tfr = view(c.freqs->data(), c.freqs->shape);
    const attngen_tensor* km = c.key_mask ? &tkm : nullptr;
    const attngen_tensor* fr = c.freqs ? &tfr : nullptr;
    // CUDA: every tensor argument in device memory (the layout is a host
    // object); out is downloaded after the call.
    const bool cuda = c.device == ATTNGEN_DEVICE_CUDA;
    void* host_out = to.data;
    DeviceCopies dev;
    if (cuda) {
      if (!attngen_cuda_available()) {
        *err = "--device cuda: no CUDA (built without CUDA, or no driver or device)";
        return false;
      }
      if (!attngen::cuda::use_primary_context()) {
        *err = "--device cuda: cannot make the primary context current";
        return false;
      }
      bool ok = dev.put(&tq, true) && dev.put(&tk, true) && dev.put(&tv, true) && dev.put(&to, false) &&
                (!c.key_mask || dev.put(&tkm, true)) && (!c.static_mask || dev.put(&tsm, true)) &&
                (!c.freqs || dev.put(&tfr, true));
      if (!ok) {
        *err = "--device cuda: " + dev.err;
        return false;
      }
    }

    attngen_status st = ATTNGEN_OK;
    const char* fn = "";
    attngen_block_layout* handle = nullptr;
    auto t0 = std::chrono::steady_clock::now();
    if (c.variant == "dense") {
      fn = "attngen_dense";
      attngen_dense_options opts;
      attngen_dense_options_init(&opts);
      opts.causal = c.causal ? 1 : 0;
      opts.offset = c.offset;
      opts.key_mask = km;
      opts.static_mask = c.static_mask ? &tsm : nullptr;
      opts.freqs = fr;
      t0 = std::chrono::steady_clock::now();
      st = attngen_dense(&tq, &tk, &tv, &to, &opts);
    } else if (c.variant == "sparse_conv" || c.variant == "sparse_axial") {
      attngen_sparse_options opts;
      attngen_sparse_options_init(&opts);
      opts.seq_len = c.seq_len;
      opts.image_size = c.image_size;
      opts.kernel_size = c.kernel_size;
      opts.dilation = c.dilation;
      opts.axis = c.axis;
      opts.key_mask = km;
      opts.freqs = fr;
      t0 = std::chrono::steady_clock::now();
      if (c.variant == "sparse_conv") {
        fn = "attngen_sparse_conv";
        st = attngen_sparse_conv(&tq, &tk, &tv, &to, &opts);
      } else {
        fn = "attngen_sparse_axial";
        st = attngen_sparse_axial(&tq, &tk, &tv, &to, &opts);
      }
    } else if (c.variant == "block_sparse") {
      fn = "attngen_block_layout_create";
      if (!c.layout) {
        *err = "block_sparse needs a layout";
        return false;
      }
      st = attngen_block_layout_create(&tlay, c.block, c.causal ? 1 : 0, &handle);
      if (st == ATTNGEN_OK) {
        fn = "attngen_block_sparse";
        attngen_block_sparse_options opts{km};
        t0 = std::chrono::steady_clock::now();
        st = attngen_block_sparse(&tq, &tk, &tv, &to, handle, &opts);
      }
    } else if (c.variant == "chunked") {
      fn = "attngen_chunked";
      attngen_chunked_options opts;
      attngen_chunked_options_init(&opts);
      opts.query_chunk_size = c.query_chunk_size;
      opts.kv_chunk_size = c.kv_chunk_size;
      opts.kv_chunk_size_min = c.kv_chunk_size_min;
      t0 = std::chrono::steady_clock::now();
      st = attngen_chunked(&tq, &tk, &tv, &to, &opts);
    } else {
      *err = "unknown variant '" + sanitize(c.variant, false) + "'";
      return false;
    }
    if (cuda && st == ATTNGEN_OK) {
      fn = "attngen_cuda_synchronize";
      st = attngen_cuda_synchronize();
    }
    const auto t1 = std::chrono::steady_clock::now();
    const std::string api_err = st != ATTNGEN_OK ? attngen_last_error() : "";
    attngen_block_layout_destroy(handle);
    if (st != ATTNGEN_OK) {
      *err = std::string(fn) + " failed (" + attngen_status_string(st) + "): " + api_err;
      return false;
    }
    if (cuda) {
      const size_t bytes = static_cast<size_t>(numel) * (half ? 2 : 4);
      const std::string e = dev.mem[3].download(host_out, bytes);
      if (!e.empty()) {
        *err = "--device cuda: " + e;
        return false;
      }
    }
    if (half && attngen_convert(ho.data(), c.dtype, o.data(), ATTNGEN_F32, numel) != ATTNGEN_OK) {
      *err = std::string("attngen_convert failed: ") + attngen_last_error();
      return false;
    }
    if (seconds) *seconds = std::chrono::duration<double>(t1 - t0).count();
    if (kernel) *kernel = attngen_last_kernel();
    if (stats) attngen_last_call_stats(stats);
    *out = std::move(o);
    *out_shape = shape;
    return true;
  } catch (const std::bad_alloc&) {
    *err = "out of memory";
  } catch (const std::exception& e) {
    *err = std::string("internal error: ") + e.what();
  } catch (...) {
    *err = "internal error: unknown exception";
  }
  return false;
}

bool parse_dtype(const std::string& s, attngen_dtype* t) {
  if (s == "fp32" || s == "f32") {
    *t = ATTNGEN_F32;
  } else if (s == "fp16" || s == "f16") {
    *t = ATTNGEN_F16;
  } else if (s == "bf16") {
    *t = ATTNGEN_BF16;
  } else {
    return false;
  }
  return true;
}

bool run_manifest(const std::string& dir, const std::string& filter, std::vector<CaseResult>* results,
                  std::string* err) {
  return run_manifest(dir, filter, results, err, nullptr);
}

namespace {

// run_manifest's work once the manifest is parsed (`manifest` names it in
// messages). Throws nothing.
bool run_parsed_manifest(const std::string& dir, const std::string& manifest, const Json& m,
                         const std::string& filter, std::vector<CaseResult>* results, std::string* err,
                         const std::function<void(const CaseResult&)>& on_case) {
  try {
    if (!m.is_object()) {
      *err = "manifest '" + manifest + "': top level is " + json_type_name(m) + ", expected an object";
      return false;
    }
    if (const Json* f = m.find("format")) {
      if (!f->is_number() || f->as_number() != 1) {
        *err = "manifest '" + manifest + "': unsupported format " + json_brief(*f) + " (this tool reads format 1)";
        return false;
      }
    }
    const Json* cases = m.find("cases");
    if (!cases || !cases->is_array()) {
      *err = "manifest '" + manifest + "': no 'cases' array";
      return false;
    }
    std::set<std::string> seen;
    const std::vector<Json>& list = cases->as_array();
    for (size_t i = 0; i < list.size(); ++i) {
      const Json& c = list[i];
      CaseResult r;
      const Json* name = c.find("name");
      r.name = name && name->is_string() && !name->as_string().empty() ? name->as_string()
                                                                       : "#" + std::to_string(i);
      if (!filter.empty() && r.name.find(filter) == std::string::npos) continue;
      r.max_abs_err = kNaN;
      try {
        check_case(dir, c, &seen, &r);
      } catch (const CaseFail& f) {
        r.pass = false;
        r.reason = f.reason;
      } catch (const std::bad_alloc&) {
        r.pass = false;
        r.reason = "out of memory";
      } catch (const std::exception& e) {
        r.pass = false;
        r.reason = std::string("internal error: ") + e.what();
      } catch (...) {
        r.pass = false;
        r.reason = "internal error: unknown exception";
      }
      if (!r.pass && r.reason.empty()) r.reason = "failed";
      results->push_back(r);
      if (on_case) on_case(results->back());
    }
    return true;
  } catch (const std::bad_alloc&) {
    *err = "out of memory";
  } catch (const std::exception& e) {
    *err = std::string("internal error: ") + e.what();
  } catch (...) {
    *err = "internal error: unknown exception";
  }
  return false;
}

}  // namespace

bool run_manifest(const std::string& dir, const std::string& filter, std::vector<CaseResult>* results,
                  std::string* err, const std::function<void(const CaseResult&)>& on_case) {
  std::string local_err;
  if (!err) err = &local_err;
  if (!results) {
    *err = "run_manifest: null results";
    return false;
  }
  try {
    const std::string manifest = join_path(dir.empty() ? std::string(".") : dir, "manifest.json");
    Json m;
    if (!io::json_load_file(manifest, &m, err)) return false;
    return run_parsed_manifest(dir, manifest, m, filter, results, err, on_case);
  } catch (const std::bad_alloc&) {
    *err = "out of memory";
  } catch (...) {
    *err = "internal error: unknown exception";
  }
  return false;
}

bool run_manifest_text(const std::string& dir, const std::string& text, const std::string& filter,
                       std::vector<CaseResult>* results, std::string* err) {
  std::string local_err;
  if (!err) err = &local_err;
  if (!results) {
    *err = "run_manifest_text: null results";
    return false;
  }
  try {
    const std::string manifest = "<manifest text>";
    Json m;
    std::string e;
    if (!io::json_parse(text, &m, &e)) {
      *err = "manifest " + manifest + ": " + e;
      return false;
    }
    return run_parsed_manifest(dir, manifest, m, filter, results, err, nullptr);
  } catch (const std::bad_alloc&) {
    *err = "out of memory";
  } catch (...) {
    *err = "internal error: unknown exception";
  }
  return false;
}

}  // namespace attngen::cli
