// libFuzzer target for the tuning database readers (tuning/tuning.h): the
// JSON-lines log (attngen::tune::parse_log, built on io::json_parse) and the
// best-points table (attngen::tune::parse_best). The input is fed to both
// readers and, as before, to the JSON layer itself.
//
// Invariants: no crash or exception; a refusal of the JSON layer has a
// "line L, column C" message and a refusal of a DB reader names the line
// ("line N: ..."); an accepted document dumps to valid JSON that parses back
// to the same dump (a fixed point); an accepted log or table re-serialises
// (record_to_json / format_best) to text that reads back to the same
// serialisation.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "io/json.h"
#include "tuning.h"

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
void read_tuning(const std::string& text) {
  namespace t = attngen::tune;
  std::string err;
  std::vector<t::Record> recs;
  if (t::parse_log(text, &recs, &err)) {
    std::string again;
    for (const auto& r : recs) again += t::record_to_json(r) + "\n";
    std::vector<t::Record> back;
    std::string err2;
    check(t::parse_log(again, &back, &err2), "a serialised log parses", err2);
    check(back.size() == recs.size(), "log round trip keeps every record");
    std::string twice;
    for (const auto& r : back) twice += t::record_to_json(r) + "\n";
    check(twice == again, "log serialisation is a fixed point", again.substr(0, 200));
    (void)t::best_from_log(recs);
  } else {
    check(err.rfind("line ", 0) == 0, "log error names a line", err);
  }
  std::vector<t::BestEntry> best;
  err.clear();
  if (t::parse_best(text, &best, &err)) {
    const std::string once = t::format_best(best);
    std::vector<t::BestEntry> back;
    std::string err2;
    check(t::parse_best(once, &back, &err2), "a formatted table parses", err2);
    check(t::format_best(back) == once, "table formatting is a fixed point", once.substr(0, 200));
    for (const auto& e : best) check(t::find_best(back, e.key) != nullptr, "every key found after the round trip");
  } else {
    check(err.rfind("line ", 0) == 0, "table error names a line", err);
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  read_db(text);
  read_tuning(text);
  return 0;
}
