// Small strict JSON (RFC 8259) DOM: parser with depth/size limits and a
// compact writer. Used for manifest files and the tuning database.
//
// Parsing never throws: json_parse/json_load_file return false and describe
// the problem (with line and column) in *err. Builders and dump() allocate
// and may throw std::bad_alloc like any standard container.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace attngen::io {

class Json {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };

  Json() = default;  // null

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  // Typed accessors; return the default / an empty value on type mismatch.
  bool as_bool(bool def = false) const;
  double as_number(double def = 0) const;
  const std::string& as_string() const;
  const std::vector<Json>& as_array() const;
  const std::vector<std::pair<std::string, Json>>& as_object() const;  // insertion order
  // Member lookup (linear scan); nullptr if missing or not an object.
  const Json* find(const std::string& key) const;

  // Builders.
  static Json null();
  static Json boolean(bool b);
  static Json number(double x);
  static Json string(std::string s);
  static Json array(std::vector<Json> items);
  static Json object(std::vector<std::pair<std::string, Json>> members);  // duplicate keys: last wins
  // Appends to an array; a non-array value is first reset to an empty array.
  void push_back(Json v);
  // Sets/replaces a member; a non-object value is first reset to an empty object.
  void set(const std::string& key, Json v);

  // Compact, valid JSON. Integral numbers with |x| < 2^53 are printed as
  // integers, others with the shortest of %.15g/%.16g/%.17g that round-trips;
  // non-finite numbers become null; invalid UTF-8 in strings becomes U+FFFD.
  std::string dump() const;

 private:
  void dump_to(std::string* out) const;

  Type type_ = Type::Null;
  bool b_ = false;
  double n_ = 0;
  std::string s_;
  std::vector<Json> a_;
  std::vector<std::pair<std::string, Json>> o_;
};

struct JsonLimits {
  size_t max_depth = 64;           // max nesting of arrays/objects
  size_t max_size = 64u << 20;     // max input size in bytes
};

// Parses exactly one JSON value (surrounded by optional whitespace). *out is
// only modified on success. Errors look like "json: line 3, column 7: ...".
bool json_parse(const std::string& text, Json* out, std::string* err, const JsonLimits& lim = {});
// Same, from a file; errors name the file: "json 'path': line 3, column 7: ...".
bool json_load_file(const std::string& path, Json* out, std::string* err,
                    const JsonLimits& lim = {});

}  // namespace attngen::io
