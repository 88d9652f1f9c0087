#include "npy.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <new>
#include <utility>

// Element data is exposed as raw little-endian bytes and converted with memcpy.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "attngen::io npy support assumes a little-endian host"
#endif

namespace attngen::io {
namespace {

constexpr uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
// numpy itself refuses headers > 10000 bytes from untrusted files; 1 MiB is
// far beyond any legitimate header and keeps hostile v2/v3 lengths bounded.
constexpr size_t kMaxHeaderLen = size_t(1) << 20;
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

// Builds "npy '<path>': msg" (or "npy <memory>: msg"). Must not throw: it is
// also used from catch(std::bad_alloc) handlers.
void set_err(std::string* err, const std::string* path, const std::string& msg) noexcept {
  if (!err) return;
  try {
    *err = path ? "npy '" + *path + "': " + msg : "npy <memory>: " + msg;
  } catch (...) {
    err->clear();  // clear() never allocates
  }
}

void set_err_nothrow(std::string* err, const std::string* path, const char* a,
                     const char* b) noexcept {
  try {
    set_err(err, path, std::string(a) + b);
  } catch (...) {
    if (err) err->clear();
  }
}

// Runs f() and converts any exception into an error return.
template <class F>
bool guarded(std::string* err, const std::string* path, F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    set_err_nothrow(err, path, "out of memory", "");
  } catch (const std::exception& e) {
    set_err_nothrow(err, path, "internal error: ", e.what());
  } catch (...) {
    set_err_nothrow(err, path, "internal error: unknown exception", "");
  }
  return false;
}

// Header text comes from untrusted input; keep it printable and short in messages.
std::string printable(const std::string& s) {
  std::string r;
  for (char c : s.substr(0, 40)) r += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 40) r += "...";
  return r;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    s += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return s + (shape.size() == 1 ? ",)" : ")");
}

// numel and byte size of a shape, with negative/overflow checks. Like numpy,
// nonzero dims must not overflow even if another dim is 0.
bool shape_bytes(const std::vector<int64_t>& shape, size_t itemsize, int64_t* numel,
                 int64_t* nbytes, std::string* msg) {
  int64_t prod = 1;
  bool zero = false;
  for (int64_t d : shape) {
    if (d < 0) {
      *msg = "negative dimension " + std::to_string(d) + " in shape " + shape_str(shape);
      return false;
    }
    if (d == 0) {
      zero = true;
      continue;
    }
    if (prod > kI64Max / d) {
      *msg = "shape " + shape_str(shape) + " element count overflows int64";
      return false;
    }
    prod *= d;
  }
  if (prod > kI64Max / int64_t(itemsize)) {
    *msg = "shape " + shape_str(shape) + " byte size overflows int64";
    return false;
  }
  *numel = zero ? 0 : prod;
  *nbytes = *numel * int64_t(itemsize);
  return true;
}

struct Header {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  int64_t numel = 0;
  int64_t nbytes = 0;
};

// Maps a numpy descr string ('<f4', '|u1', ...) to a DType.
bool parse_descr(const std::string& descr, DType* dt, std::string* msg) {
  static const struct {
    const char* code;
    DType dt;
  } kTable[] = {{"f4", DType::F32}, {"f8", DType::F64}, {"f2", DType::F16},
                {"u1", DType::U8},  {"b1", DType::BOOL}, {"i4", DType::I32},
                {"i8", DType::I64}};
  if (descr.size() >= 2) {
    const char order = descr[0];
    const std::string code = descr.substr(1);
    for (const auto& e : kTable) {
      if (code != e.code) continue;
      if (dtype_size(e.dt) == 1 && (order == '<' || order == '>' || order == '|' || order == '=')) {
        *dt = e.dt;  // byte order is irrelevant for 1-byte types
        return true;
      }
      if (order == '<' || order == '=') {  // '=' is native, i.e. little-endian here
        *dt = e.dt;
        return true;
      }
      if (order == '>' || order == '!') {
        *msg = "big-endian dtype '" + printable(descr) +
               "' is unsupported (re-save as little-endian, e.g. arr.astype('<" + code + "'))";
        return false;
      }
      break;
    }
  }
  *msg = "unsupported dtype '" + printable(descr) +
         "' (supported: <f4 <f8 <f2 |u1 |b1 <i4 <i8)";
  return false;
}

// Parses the Python dict literal of the header, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// Strict: exactly the three keys (any order), string/bool/tuple values.
class HeaderParser {
 public:
  HeaderParser(const char* s, size_t n) : p_(s), end_(s + n) {}

  bool parse(const NpyLimits& lim, Header* h, std::string* msg) {
    msg_ = msg;
    std::string descr;
    bool fortran = false, have_descr = false, have_fortran = false, have_shape = false;
    if (!eat('{')) return fail("header is not a dict literal (expected '{')");
    while (!eat('}')) {
      std::string key;
      if (!str(&key)) return fail("expected a quoted key in header dict");
      if (!eat(':')) return fail("expected ':' after key '" + printable(key) + "'");
      if (key == "descr") {
        if (have_descr) return fail("duplicate key 'descr'");
        if (!str(&descr)) return fail("'descr' must be a string (structured dtypes are unsupported)");
        have_descr = true;
      } else if (key == "fortran_order") {
        if (have_fortran) return fail("duplicate key 'fortran_order'");
        if (word("True")) fortran = true;
        else if (word("False")) fortran = false;
        else return fail("'fortran_order' must be True or False");
        have_fortran = true;
      } else if (key == "shape") {
        if (have_shape) return fail("duplicate key 'shape'");
        if (!shape(lim, &h->shape)) return false;
        have_shape = true;
      } else {
        return fail("unexpected key '" + printable(key) + "' in header dict");
      }
      if (eat(',')) continue;  // also allows the trailing comma numpy writes
      if (eat('}')) break;
      return fail("expected ',' or '}' in header dict");
    }
    skip_ws();
    if (p_ != end_) return fail("unexpected characters after header dict");
    if (!have_descr) return fail("header is missing key 'descr'");
    if (!have_fortran) return fail("header is missing key 'fortran_order'");
    if (!have_shape) return fail("header is missing key 'shape'");
    if (!parse_descr(descr, &h->dtype, msg)) return false;
    if (fortran) {
      return fail("fortran_order=True (column-major) arrays are unsupported; "
                  "save a C-contiguous array (np.ascontiguousarray)");
    }
    if (!shape_bytes(h->shape, dtype_size(h->dtype), &h->numel, &h->nbytes, msg)) return false;
    // Checked before any allocation for the data takes place.
    if (h->nbytes > lim.max_bytes ||
        uint64_t(h->nbytes) > uint64_t(std::numeric_limits<size_t>::max())) {
      return fail("declared data size " + std::to_string(h->nbytes) + " bytes (shape " +
                  shape_str(h->shape) + ", dtype " + dtype_name(h->dtype) +
                  ") exceeds limit max_bytes=" + std::to_string(lim.max_bytes));
    }
    return true;
  }

 private:
  bool fail(const std::string& m) {
    *msg_ = m;
    return false;
  }
  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool eat(char c) {
    skip_ws();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool word(const char* w) {
    skip_ws();
    const size_t n = std::strlen(w);
    if (size_t(end_ - p_) < n || std::memcmp(p_, w, n) != 0) return false;
    p_ += n;
    return true;
  }
  // Python string literal without escapes: '...' or "...".
  bool str(std::string* out) {
    skip_ws();
    if (p_ >= end_ || (*p_ != '\'' && *p_ != '"')) return false;
    const char q = *p_++;
    const char* start = p_;
    while (p_ < end_ && *p_ != q) {
      if (*p_ == '\\' || *p_ == '\n') return false;
      ++p_;
    }
    if (p_ >= end_) return false;
    out->assign(start, p_);
    ++p_;
    return true;
  }
  // Non-negative Python int (optional Python 2 'L' suffix). Negative values are
  // parsed so that the error message can name them.
  bool integer(int64_t* v) {
    skip_ws();
    const bool neg = p_ < end_ && *p_ == '-';
    if (neg) ++p_;
    if (p_ >= end_ || *p_ < '0' || *p_ > '9') return fail("expected an integer in 'shape'");
    int64_t x = 0;
    for (; p_ < end_ && *p_ >= '0' && *p_ <= '9'; ++p_) {
      const int d = *p_ - '0';
      if (x > (kI64Max - d) / 10) return fail("dimension in 'shape' overflows int64");
      x = x * 10 + d;
    }
    if (p_ < end_ && (*p_ == 'L' || *p_ == 'l')) ++p_;
    if (neg && x != 0) return fail("negative dimension -" + std::to_string(x) + " in 'shape'");
    *v = x;
    return true;
  }
  bool shape(const NpyLimits& lim, std::vector<int64_t>* dims) {
    if (!eat('(')) return fail("'shape' must be a tuple like (2, 3)");
    if (eat(')')) return true;  // scalar
    for (;;) {
      int64_t d;
      if (!integer(&d)) return false;
      if (int(dims->size()) >= lim.max_ndim) {
        return fail("shape has more than max_ndim=" + std::to_string(lim.max_ndim) + " dimensions");
      }
      dims->push_back(d);
      if (eat(',')) {
        if (eat(')')) return true;
        continue;
      }
      if (eat(')')) {
        // Python: "(5)" is an int, not a tuple.
        if (dims->size() == 1) return fail("'shape' (N) is not a tuple; expected (N,)");
        return true;
      }
      return fail("expected ',' or ')' in 'shape'");
    }
  }

  const char* p_;
  const char* end_;
  std::string* msg_ = nullptr;
};

// Validates magic + version and returns where the header dict lives.
// `avail` bytes of the file start are at p (at least min(file size, 12)).
bool parse_prelude(const uint8_t* p, size_t avail, uint64_t file_size, size_t* dict_off,
                   size_t* dict_len, std::string* msg) {
  const size_t m = avail < 6 ? avail : 6;
  if (m > 0 && std::memcmp(p, kMagic, m) != 0) {
    *msg = "not a .npy file (bad magic, expected \\x93NUMPY)";
    return false;
  }
  if (avail < 10) {
    *msg = "truncated file (" + std::to_string(file_size) + " bytes, too short for a .npy header)";
    return false;
  }
  const int major = p[6], minor = p[7];
  if (major < 1 || major > 3 || minor != 0) {
    *msg = "unsupported .npy format version " + std::to_string(major) + "." +
           std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)";
    return false;
  }
  const size_t len_bytes = major == 1 ? 2 : 4;  // v2/v3 have a 4-byte header length
  if (avail < 8 + len_bytes) {
    *msg = "truncated file (" + std::to_string(file_size) + " bytes, too short for a .npy header)";
    return false;
  }
  uint32_t len = uint32_t(p[8]) | uint32_t(p[9]) << 8;
  if (len_bytes == 4) len |= uint32_t(p[10]) << 16 | uint32_t(p[11]) << 24;
  *dict_off = 8 + len_bytes;
  *dict_len = len;
  if (len > kMaxHeaderLen) {
    *msg = "header length " + std::to_string(len) + " exceeds sanity limit " +
           std::to_string(kMaxHeaderLen);
    return false;
  }
  if (*dict_off + uint64_t(len) > file_size) {
    *msg = "truncated file: header declares " + std::to_string(len) + " bytes but only " +
           std::to_string(file_size - *dict_off) + " follow";
    return false;
  }
  return true;
}

bool check_data_size(uint64_t actual, const Header& h, std::string* msg) {
  if (actual == uint64_t(h.nbytes)) return true;
  *msg = "data size mismatch: expected " + std::to_string(h.nbytes) + " bytes (shape " +
         shape_str(h.shape) + " x " + std::to_string(dtype_size(h.dtype)) +
         " bytes), got " + std::to_string(actual) + " bytes" +
         (actual < uint64_t(h.nbytes) ? " (truncated file?)" : " (trailing data)");
  return false;
}

const char* descr_of(DType dt) {
  switch (dt) {
    case DType::F32: return "<f4";
    case DType::F64: return "<f8";
    case DType::F16: return "<f2";
    case DType::U8: return "|u1";
    case DType::BOOL: return "|b1";
    case DType::I32: return "<i4";
    case DType::I64: return "<i8";
    case DType::BF16_AS_U16: break;
  }
  return nullptr;
}

// Checks that a (possibly hand-built) NpyArray is self-consistent.
bool check_array(const NpyArray& a, std::string* err) {
  std::string msg;
  int64_t numel = 0, nbytes = 0;
  if (!shape_bytes(a.shape, dtype_size(a.dtype), &numel, &nbytes, &msg)) {
    set_err(err, nullptr, msg);
    return false;
  }
  if (uint64_t(nbytes) != a.bytes.size()) {
    set_err(err, nullptr, "inconsistent array: shape " + shape_str(a.shape) + " of " +
                              dtype_name(a.dtype) + " needs " + std::to_string(nbytes) +
                              " bytes, has " + std::to_string(a.bytes.size()));
    return false;
  }
  return true;
}

template <class T>
T load_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <class T, class F>
void convert(const uint8_t* p, size_t n, float* dst, F f) {
  for (size_t i = 0; i < n; ++i) dst[i] = f(load_le<T>(p + i * sizeof(T)));
}

float f64_to_f32(double d) {
  // Out-of-range double->float casts are UB in C++; saturate to +-inf
  // (0x1.ffffffp127 is FLT_MAX + half an ulp, the IEEE round-to-inf point).
  if (std::fabs(d) >= 0x1.ffffffp127) return d > 0 ? HUGE_VALF : -HUGE_VALF;
  return static_cast<float>(d);  // also fine for nan
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t numel = 0, nbytes = 0;
  std::string msg;
  // -1 for an invalid (negative or overflowing) shape; same rules as the reader.
  return shape_bytes(shape, 1, &numel, &nbytes, &msg) ? numel : -1;
}

const float* NpyArray::f32() const {
  return dtype == DType::F32 ? reinterpret_cast<const float*>(bytes.data()) : nullptr;
}

const uint8_t* NpyArray::u8() const {
  return dtype == DType::U8 || dtype == DType::BOOL ? bytes.data() : nullptr;
}

size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::F64:
    case DType::I64: return 8;
    case DType::F32:
    case DType::I32: return 4;
    case DType::F16:
    case DType::BF16_AS_U16: return 2;
    case DType::U8:
    case DType::BOOL: return 1;
  }
  return 1;
}

const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::F16: return "float16";
    case DType::BF16_AS_U16: return "bfloat16";
    case DType::U8: return "uint8";
    case DType::BOOL: return "bool";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
  }
  return "unknown";
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h >> 15) << 31;
  const uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exactly representable in float.
    const float v = std::ldexp(float(mant), -24);
    return sign ? -v : v;
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf, or nan keeping its payload
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

bool npy_parse(const uint8_t* data, size_t size, NpyArray* out, std::string* err,
               const NpyLimits& lim) {
  return guarded(err, nullptr, [&] {
    std::string msg;
    size_t off = 0, len = 0;
    Header h;
    if (!out || (!data && size)) {
      msg = "invalid arguments (null pointer)";
    } else if (parse_prelude(data, size, size, &off, &len, &msg) &&
               HeaderParser(reinterpret_cast<const char*>(data) + off, len).parse(lim, &h, &msg) &&
               check_data_size(size - off - len, h, &msg)) {
      NpyArray a;
      a.dtype = h.dtype;
      a.shape = std::move(h.shape);
      a.bytes.assign(data + off + len, data + size);
      *out = std::move(a);
      return true;
    }
    set_err(err, nullptr, msg);
    return false;
  });
}

bool npy_load(const std::string& path, NpyArray* out, std::string* err, const NpyLimits& lim) {
  return guarded(err, &path, [&] {
    auto fail = [&](const std::string& m) {
      set_err(err, &path, m);
      return false;
    };
    if (!out) return fail("invalid arguments (null output)");
    // Directories/FIFOs would "open" fine but report a bogus size.
    std::error_code ec;
    if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) {
      return fail("not a regular file");
    }
    errno = 0;
    std::ifstream f(path, std::ios::binary);
    if (!f) return fail(std::string("cannot open file") + (errno ? ": " + std::string(std::strerror(errno)) : ""));
    f.seekg(0, std::ios::end);
    const std::streamoff end = f.tellg();
    if (!f || end < 0) return fail("cannot determine file size");
    const uint64_t fsize = uint64_t(end);
    f.seekg(0);

    // Read magic/version/header length, then the header, then (after all
    // checks) the data: allocations are bounded by the file size and limits.
    uint8_t pre[12];
    const size_t pre_n = fsize < sizeof pre ? size_t(fsize) : sizeof pre;
    if (!f.read(reinterpret_cast<char*>(pre), std::streamsize(pre_n))) {
      return fail("read error (is it a regular file?)");
    }
    std::string msg;
    size_t off = 0, len = 0;
    if (!parse_prelude(pre, pre_n, fsize, &off, &len, &msg)) return fail(msg);
    std::string text(len, '\0');
    f.seekg(std::streamoff(off));
    if (!f.read(&text[0], std::streamsize(len))) return fail("read error in header");
    Header h;
    if (!HeaderParser(text.data(), len).parse(lim, &h, &msg)) return fail(msg);
    if (!check_data_size(fsize - off - len, h, &msg)) return fail(msg);

    NpyArray a;
    a.dtype = h.dtype;
    a.shape = std::move(h.shape);
    a.bytes.resize(size_t(h.nbytes));
    if (h.nbytes > 0 && (!f.read(reinterpret_cast<char*>(a.bytes.data()), std::streamsize(h.nbytes)) ||
                         f.gcount() != std::streamsize(h.nbytes))) {
      return fail("read error in data (file changed while reading?)");
    }
    *out = std::move(a);
    return true;
  });
}

bool npy_save(const std::string& path, DType dtype, const std::vector<int64_t>& shape,
              const void* data, std::string* err) {
  return guarded(err, &path, [&] {
    auto fail = [&](const std::string& m) {
      set_err(err, &path, m);
      return false;
    };
    const char* descr = descr_of(dtype);
    if (!descr) return fail(std::string("dtype ") + dtype_name(dtype) + " cannot be saved as .npy");
    std::string msg;
    int64_t numel = 0, nbytes = 0;
    if (!shape_bytes(shape, dtype_size(dtype), &numel, &nbytes, &msg)) return fail(msg);
    if (nbytes > 0 && !data) return fail("null data pointer for non-empty array");

    std::string dict = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': " + shape_str(shape) + ", }";
    // Pad with spaces so magic + version + length + header is a multiple of
    // 64 bytes (numpy's alignment), ending in '\n'.
    int major = 1;
    size_t prelude = 10;
    if (dict.size() + 1 + 64 + prelude > 0xffff) {  // v1.0 length field is 16-bit
      major = 2;
      prelude = 12;
    }
    const size_t total = prelude + dict.size() + 1;
    dict.append((64 - total % 64) % 64, ' ');
    dict += '\n';

    errno = 0;
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) return fail(std::string("cannot open file for writing") + (errno ? ": " + std::string(std::strerror(errno)) : ""));
    const uint32_t hlen = uint32_t(dict.size());
    char pre[12];
    std::memcpy(pre, kMagic, 6);
    pre[6] = char(major);
    pre[7] = 0;
    for (int i = 0; i < 4; ++i) pre[8 + i] = char((hlen >> (8 * i)) & 0xff);
    f.write(pre, std::streamsize(prelude));
    f.write(dict.data(), std::streamsize(dict.size()));
    if (nbytes > 0) f.write(static_cast<const char*>(data), std::streamsize(nbytes));
    f.close();
    if (!f) return fail("write error (disk full?)");
    return true;
  });
}

bool npy_to_f32(const NpyArray& a, std::vector<float>* out, std::string* err) {
  return guarded(err, nullptr, [&] {
    if (!out) {
      set_err(err, nullptr, "invalid arguments (null output)");
      return false;
    }
    if (!check_array(a, err)) return false;
    const size_t n = size_t(a.numel());
    const uint8_t* p = a.bytes.data();
    std::vector<float> v(n);
    float* dst = v.data();
    switch (a.dtype) {
      case DType::F32: if (n) std::memcpy(dst, p, 4 * n); break;
      case DType::F64: convert<double>(p, n, dst, f64_to_f32); break;
      case DType::F16: convert<uint16_t>(p, n, dst, half_to_float); break;
      case DType::U8: convert<uint8_t>(p, n, dst, [](uint8_t x) { return float(x); }); break;
      case DType::BOOL: convert<uint8_t>(p, n, dst, [](uint8_t x) { return x ? 1.f : 0.f; }); break;
      case DType::I32: convert<int32_t>(p, n, dst, [](int32_t x) { return float(x); }); break;
      case DType::I64: convert<int64_t>(p, n, dst, [](int64_t x) { return float(x); }); break;
      case DType::BF16_AS_U16:
        set_err(err, nullptr, "cannot convert dtype bfloat16 (raw uint16) to float32");
        return false;
    }
    *out = std::move(v);
    return true;
  });
}

bool npy_to_mask(const NpyArray& a, std::vector<uint8_t>* out, std::string* err) {
  return guarded(err, nullptr, [&] {
    if (!out) {
      set_err(err, nullptr, "invalid arguments (null output)");
      return false;
    }
    if (a.dtype != DType::BOOL && a.dtype != DType::U8 && a.dtype != DType::I32 &&
        a.dtype != DType::I64) {
      set_err(err, nullptr, std::string("cannot convert dtype ") + dtype_name(a.dtype) +
                                " to a mask (expected bool, uint8, int32 or int64)");
      return false;
    }
    if (!check_array(a, err)) return false;
    const size_t n = size_t(a.numel()), sz = dtype_size(a.dtype);
    const uint8_t* p = a.bytes.data();
    std::vector<uint8_t> m(n);
    for (size_t i = 0; i < n; ++i) {
      // Any nonzero byte of the element means a nonzero value.
      uint8_t nz = 0;
      for (size_t b = 0; b < sz; ++b) nz |= p[i * sz + b];
      m[i] = nz ? 1 : 0;
    }
    *out = std::move(m);
    return true;
  });
}

}  // namespace attngen::io
