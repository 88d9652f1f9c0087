#include "json.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <string_view>
#include <unordered_map>

namespace attngen::io {
namespace {

// Decodes one well-formed UTF-8 sequence (no overlongs, surrogates or
// > U+10FFFF). Returns its length, or 0 if invalid/truncated.
int utf8_decode(const unsigned char* p, const unsigned char* end, uint32_t* cp) {
  const unsigned char c = p[0];
  int n;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if (c < 0xc2) {
    return 0;  // stray continuation byte or overlong 2-byte form
  } else if (c < 0xe0) {
    n = 2, *cp = c & 0x1f;
  } else if (c < 0xf0) {
    n = 3, *cp = c & 0x0f;
  } else if (c < 0xf5) {
    n = 4, *cp = c & 0x07;
  } else {
    return 0;
  }
  if (end - p < n) return 0;
  for (int i = 1; i < n; ++i) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    *cp = (*cp << 6) | (p[i] & 0x3f);
  }
  if (n == 3 && (*cp < 0x800 || (*cp >= 0xd800 && *cp <= 0xdfff))) return 0;
  if (n == 4 && (*cp < 0x10000 || *cp > 0x10ffff)) return 0;
  return n;
}

void utf8_encode(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    *out += char(cp);
  } else if (cp < 0x800) {
    *out += char(0xc0 | (cp >> 6));
    *out += char(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    *out += char(0xe0 | (cp >> 12));
    *out += char(0x80 | ((cp >> 6) & 0x3f));
    *out += char(0x80 | (cp & 0x3f));
  } else {
    *out += char(0xf0 | (cp >> 18));
    *out += char(0x80 | ((cp >> 12) & 0x3f));
    *out += char(0x80 | ((cp >> 6) & 0x3f));
    *out += char(0x80 | (cp & 0x3f));
  }
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Recursive-descent parser over [begin, end). Depth is bounded by
// JsonLimits::max_depth so hostile nesting cannot overflow the stack.
class Parser {
 public:
  Parser(const std::string& text, const JsonLimits& lim)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), lim_(lim) {}

  bool parse(Json* out) {
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) p_ += 3;  // RFC 8259 allows ignoring a BOM
    if (!value(out, 0)) return false;
    skip_ws();
    if (p_ != end_) return fail("unexpected trailing characters after JSON value");
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  bool fail_at(const char* pos, const std::string& msg) {
    size_t line = 1, col = 1;
    for (const char* q = begin_; q < pos; ++q) {
      if (*q == '\n') line++, col = 1;
      else col++;
    }
    error_ = "line " + std::to_string(line) + ", column " + std::to_string(col) + ": " + msg;
    return false;
  }
  bool fail(const std::string& msg) { return fail_at(p_, msg); }

  std::string describe_current() const {
    const unsigned char c = static_cast<unsigned char>(*p_);
    if (c >= 0x20 && c < 0x7f) return std::string("character '") + char(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
  }

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  bool value(Json* out, size_t depth) {
    skip_ws();
    if (p_ == end_) return fail("unexpected end of input, expected a value");
    switch (*p_) {
      case '{': return object(out, depth + 1);
      case '[': return array(out, depth + 1);
      case '"': {
        std::string s;
        if (!string(&s)) return false;
        *out = Json::string(std::move(s));
        return true;
      }
      case 't': return literal("true", Json::boolean(true), out);
      case 'f': return literal("false", Json::boolean(false), out);
      case 'n': return literal("null", Json::null(), out);
      default:
        if (*p_ == '-' || is_digit(*p_)) return number(out);
        return fail("unexpected " + describe_current() + ", expected a value");
    }
  }

  bool literal(const char* word, Json v, Json* out) {
    const size_t n = std::strlen(word);
    if (size_t(end_ - p_) < n || std::memcmp(p_, word, n) != 0) {
      return fail(std::string("invalid literal (expected '") + word + "')");
    }
    p_ += n;
    *out = std::move(v);
    return true;
  }

  bool check_depth(size_t depth) {
    if (depth <= lim_.max_depth) return true;
    return fail("nesting depth exceeds limit of " + std::to_string(lim_.max_depth));
  }

  bool array(Json* out, size_t depth) {
    if (!check_depth(depth)) return false;
    ++p_;  // '['
    std::vector<Json> items;
    skip_ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      *out = Json::array(std::move(items));
      return true;
    }
    for (;;) {
      Json v;
      if (!value(&v, depth)) return false;
      items.push_back(std::move(v));
      skip_ws();
      if (p_ == end_) return fail("unexpected end of input in array");
      if (*p_ == ',') {
        ++p_;
      } else if (*p_ == ']') {
        ++p_;
        break;
      } else {
        return fail("expected ',' or ']' in array, got " + describe_current());
      }
    }
    *out = Json::array(std::move(items));
    return true;
  }

  bool object(Json* out, size_t depth) {
    if (!check_depth(depth)) return false;
    ++p_;  // '{'
    std::vector<std::pair<std::string, Json>> members;
    skip_ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      *out = Json::object(std::move(members));
      return true;
    }
    for (;;) {
      skip_ws();
      if (p_ == end_) return fail("unexpected end of input in object");
      if (*p_ != '"') return fail("expected a string key in object, got " + describe_current());
      std::string key;
      if (!string(&key)) return false;
      skip_ws();
      if (p_ == end_ || *p_ != ':') return fail("expected ':' after object key");
      ++p_;
      Json v;
      if (!value(&v, depth)) return false;
      members.emplace_back(std::move(key), std::move(v));
      skip_ws();
      if (p_ == end_) return fail("unexpected end of input in object");
      if (*p_ == ',') {
        ++p_;
      } else if (*p_ == '}') {
        ++p_;
        break;
      } else {
        return fail("expected ',' or '}' in object, got " + describe_current());
      }
    }
    *out = Json::object(std::move(members));  // duplicate keys: last wins
    return true;
  }

  bool hex4(uint32_t* v) {
    if (end_ - p_ < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = *p_++;
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else return false;
      *v = (*v << 4) | uint32_t(d);
    }
    return true;
  }

  bool string(std::string* out) {
    const char* start = p_++;  // opening quote
    for (;;) {
      if (p_ == end_) return fail_at(start, "unterminated string");
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return fail("unescaped control character in string (" + describe_current() + ")");
      if (c == '\\') {
        if (!escape(out)) return false;
      } else if (c < 0x80) {
        *out += char(c);
        ++p_;
      } else {
        uint32_t cp;
        const auto* u = reinterpret_cast<const unsigned char*>(p_);
        const int n = utf8_decode(u, reinterpret_cast<const unsigned char*>(end_), &cp);
        if (!n) return fail("invalid UTF-8 in string");
        out->append(p_, size_t(n));
        p_ += n;
      }
    }
  }

  bool escape(std::string* out) {
    const char* esc = p_++;  // backslash
    if (p_ == end_) return fail_at(esc, "unterminated string");
    const char c = *p_++;
    switch (c) {
      case '"': *out += '"'; return true;
      case '\\': *out += '\\'; return true;
      case '/': *out += '/'; return true;
      case 'b': *out += '\b'; return true;
      case 'f': *out += '\f'; return true;
      case 'n': *out += '\n'; return true;
      case 'r': *out += '\r'; return true;
      case 't': *out += '\t'; return true;
      case 'u': break;
      default: return fail_at(esc, "invalid escape sequence in string");
    }
    uint32_t cp;
    if (!hex4(&cp)) return fail_at(esc, "invalid \\u escape (expected 4 hex digits)");
    if (cp >= 0xdc00 && cp <= 0xdfff) return fail_at(esc, "unpaired low surrogate in \\u escape");
    if (cp >= 0xd800 && cp <= 0xdbff) {
      // A high surrogate must be followed by an escaped low surrogate.
      uint32_t lo;
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') {
        return fail_at(esc, "unpaired high surrogate in \\u escape");
      }
      p_ += 2;
      if (!hex4(&lo)) return fail_at(esc, "invalid \\u escape (expected 4 hex digits)");
      if (lo < 0xdc00 || lo > 0xdfff) return fail_at(esc, "unpaired high surrogate in \\u escape");
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    utf8_encode(cp, out);
    return true;
  }

  // RFC 8259 grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool number(Json* out) {
    const char* start = p_;
    if (*p_ == '-') ++p_;
    if (p_ == end_ || !is_digit(*p_)) return fail("invalid number (expected a digit)");
    if (*p_ == '0') {
      ++p_;
      if (p_ < end_ && is_digit(*p_)) return fail_at(start, "leading zeros are not allowed in numbers");
    } else {
      while (p_ < end_ && is_digit(*p_)) ++p_;
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !is_digit(*p_)) return fail("invalid number (expected a digit after '.')");
      while (p_ < end_ && is_digit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !is_digit(*p_)) return fail("invalid number (expected a digit in exponent)");
      while (p_ < end_ && is_digit(*p_)) ++p_;
    }
    // The token is validated above; strtod only converts it. A partial
    // conversion means a non-"C" LC_NUMERIC locale is active.
    const std::string tok(start, p_);
    char* endp = nullptr;
    const double d = std::strtod(tok.c_str(), &endp);
    if (endp != tok.c_str() + tok.size()) {
      return fail_at(start, "cannot convert number (non-\"C\" numeric locale?)");
    }
    if (!std::isfinite(d)) return fail_at(start, "number out of range");
    *out = Json::number(d);
    return true;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  const JsonLimits& lim_;
  std::string error_;
};

void set_err(std::string* err, const std::string* path, const std::string& msg) noexcept {
  if (!err) return;
  try {
    *err = path ? "json '" + *path + "': " + msg : "json: " + msg;
  } catch (...) {
    err->clear();
  }
}

template <class F>
bool guarded(std::string* err, const std::string* path, F&& f) noexcept {
  const char* what = "internal error";
  try {
    return f();
  } catch (const std::bad_alloc&) {
    what = "out of memory";
  } catch (...) {
  }
  try {
    set_err(err, path, what);
  } catch (...) {
    if (err) err->clear();
  }
  return false;
}

bool parse_text(const std::string& text, Json* out, std::string* err, const std::string* path,
                const JsonLimits& lim) {
  if (!out) {
    set_err(err, path, "invalid arguments (null output)");
    return false;
  }
  if (text.size() > lim.max_size) {
    set_err(err, path, "input size " + std::to_string(text.size()) + " bytes exceeds max_size " +
                           std::to_string(lim.max_size));
    return false;
  }
  Parser ps(text, lim);
  Json v;
  if (!ps.parse(&v)) {
    set_err(err, path, ps.error());
    return false;
  }
  *out = std::move(v);
  return true;
}

void dump_number(double x, std::string* out) {
  if (!std::isfinite(x)) {
    *out += "null";  // JSON has no inf/nan
    return;
  }
  char buf[40];
  if (x == std::floor(x) && std::fabs(x) < 9007199254740992.0) {  // 2^53
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(x));
    if (x == 0 && std::signbit(x)) std::snprintf(buf, sizeof buf, "-0");
  } else {
    // Shortest precision that round-trips keeps manifests readable (1e-05, not 1.0000000000000001e-05).
    for (int prec = 15; prec <= 17; ++prec) {
      std::snprintf(buf, sizeof buf, "%.*g", prec, x);
      if (std::strtod(buf, nullptr) == x) break;
    }
    for (char* c = buf; *c; ++c) {
      if (*c == ',') *c = '.';  // guard against a non-"C" LC_NUMERIC locale
    }
  }
  *out += buf;
}

void dump_string(const std::string& s, std::string* out) {
  *out += '"';
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\b': *out += "\\b"; break;
      case '\f': *out += "\\f"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else if (c >= 0x80) {
          uint32_t cp;
          const int n = utf8_decode(p, end, &cp);
          if (n == 0) {
            *out += "\\ufffd";  // invalid UTF-8 byte -> replacement character
          } else {
            out->append(reinterpret_cast<const char*>(p), size_t(n));
            p += n - 1;
          }
        } else {
          *out += char(c);
        }
    }
    ++p;
  }
  *out += '"';
}

}  // namespace

bool Json::as_bool(bool def) const { return is_bool() ? b_ : def; }
double Json::as_number(double def) const { return is_number() ? n_ : def; }

const std::string& Json::as_string() const {
  static const std::string kEmpty;
  return is_string() ? s_ : kEmpty;
}

const std::vector<Json>& Json::as_array() const {
  static const std::vector<Json> kEmpty;
  return is_array() ? a_ : kEmpty;
}

const std::vector<std::pair<std::string, Json>>& Json::as_object() const {
  static const std::vector<std::pair<std::string, Json>> kEmpty;
  return is_object() ? o_ : kEmpty;
}

const Json* Json::find(const std::string& key) const {
  if (!is_object()) return nullptr;
  for (const auto& m : o_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

Json Json::null() { return Json(); }

Json Json::boolean(bool b) {
  Json j;
  j.type_ = Type::Bool;
  j.b_ = b;
  return j;
}

Json Json::number(double x) {
  Json j;
  j.type_ = Type::Number;
  j.n_ = x;
  return j;
}

Json Json::string(std::string s) {
  Json j;
  j.type_ = Type::String;
  j.s_ = std::move(s);
  return j;
}

Json Json::array(std::vector<Json> items) {
  Json j;
  j.type_ = Type::Array;
  j.a_ = std::move(items);
  return j;
}

Json Json::object(std::vector<std::pair<std::string, Json>> members) {
  Json j;
  j.type_ = Type::Object;
  if (members.size() <= 1) {
    j.o_ = std::move(members);
    return j;
  }
  // Drop duplicate keys (last value wins, first position kept) in O(n) so a
  // hostile object with many keys cannot trigger quadratic behaviour.
  j.o_.reserve(members.size());  // no reallocation: the string_views stay valid
  std::unordered_map<std::string_view, size_t> index;
  index.reserve(members.size());
  for (auto& m : members) {
    auto it = index.find(m.first);
    if (it != index.end()) {
      j.o_[it->second].second = std::move(m.second);
    } else {
      j.o_.push_back(std::move(m));
      index.emplace(j.o_.back().first, j.o_.size() - 1);
    }
  }
  return j;
}

void Json::push_back(Json v) {
  if (!is_array()) *this = array({});
  a_.push_back(std::move(v));
}

void Json::set(const std::string& key, Json v) {
  if (!is_object()) *this = object({});
  for (auto& m : o_) {
    if (m.first == key) {
      m.second = std::move(v);
      return;
    }
  }
  o_.emplace_back(key, std::move(v));
}

std::string Json::dump() const {
  std::string out;
  dump_to(&out);
  return out;
}

void Json::dump_to(std::string* out) const {
  switch (type_) {
    case Type::Null: *out += "null"; break;
    case Type::Bool: *out += b_ ? "true" : "false"; break;
    case Type::Number: dump_number(n_, out); break;
    case Type::String: dump_string(s_, out); break;
    case Type::Array:
      *out += '[';
      for (size_t i = 0; i < a_.size(); ++i) {
        if (i) *out += ',';
        a_[i].dump_to(out);
      }
      *out += ']';
      break;
    case Type::Object:
      *out += '{';
      for (size_t i = 0; i < o_.size(); ++i) {
        if (i) *out += ',';
        dump_string(o_[i].first, out);
        *out += ':';
        o_[i].second.dump_to(out);
      }
      *out += '}';
      break;
  }
}

bool json_parse(const std::string& text, Json* out, std::string* err, const JsonLimits& lim) {
  return guarded(err, nullptr, [&] { return parse_text(text, out, err, nullptr, lim); });
}

bool json_load_file(const std::string& path, Json* out, std::string* err, const JsonLimits& lim) {
  return guarded(err, &path, [&] {
    // Directories/FIFOs would "open" fine but report a bogus size.
    std::error_code ec;
    if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) {
      set_err(err, &path, "not a regular file");
      return false;
    }
    errno = 0;
    std::ifstream f(path, std::ios::binary);
    if (!f) {
      set_err(err, &path, std::string("cannot open file") +
                              (errno ? ": " + std::string(std::strerror(errno)) : ""));
      return false;
    }
    f.seekg(0, std::ios::end);
    const std::streamoff end = f.tellg();
    if (!f || end < 0) {
      set_err(err, &path, "cannot determine file size");
      return false;
    }
    // Check the size before allocating the buffer.
    if (uint64_t(end) > lim.max_size) {
      set_err(err, &path, "file size " + std::to_string(end) + " bytes exceeds max_size " +
                              std::to_string(lim.max_size));
      return false;
    }
    std::string text(size_t(end), '\0');
    f.seekg(0);
    if (end > 0 && !f.read(&text[0], std::streamsize(end))) {
      set_err(err, &path, "read error (is it a regular file?)");
      return false;
    }
    return parse_text(text, out, err, &path, lim);
  });
}

}  // namespace attngen::io
