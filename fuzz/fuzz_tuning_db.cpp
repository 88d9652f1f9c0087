// libFuzzer target for the tuning database reader. The database is JSON
// read with attngen::io::json_parse (runtime/io/json.h); the reader itself
// is not written yet, so this target fuzzes the JSON layer it will stand on.
// When the DB reader exists, call it from read_db() below (keep the JSON
// checks) and point the corpus (fuzz/corpus/fuzz_tuning_db/) at real
// database files.
//
// Invariants: no crash or exception; a refusal has a "line L, column C"
// message; an accepted document dumps to valid JSON that parses back to
// the same dump (a fixed point).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/json.h"

using attngen::io::Json;

namespace {
void check(bool ok, const char* what, const std::string& detail = "") {
  if (!ok) {
    std::fprintf(stderr, "fuzz_tuning_db: invariant violated: %s %s\n", what, detail.c_str());
    std::abort();
  }
}

// Walks a parsed document through every accessor (as a DB reader would).
size_t walk(const Json& j, int depth) {
  size_t n = 1;
  if (depth > 100) return n;
  (void)j.as_bool();
  (void)j.as_number();
  (void)j.as_string().size();
  for (const Json& x : j.as_array()) n += walk(x, depth + 1);
  for (const auto& [k, v] : j.as_object()) {
    check(j.find(k) != nullptr, "find() sees every member");
    n += walk(v, depth + 1);
  }
  return n;
}

void read_db(const std::string& text) {
  Json doc;
  std::string err;
  if (!attngen::io::json_parse(text, &doc, &err)) {
    check(err.find("line ") != std::string::npos, "error names a line", err);
    return;
  }
  walk(doc, 0);
  const std::string once = doc.dump();
  Json again;
  std::string err2;
  check(attngen::io::json_parse(once, &again, &err2), "dump() output parses", err2);
  check(again.dump() == once, "dump() is a fixed point", once.substr(0, 200));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  read_db(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
