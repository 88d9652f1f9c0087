// libFuzzer target: the golden manifest reader (`attngen check`'s parser
// and case runner) on arbitrary manifest text. The case folders are those
// of tests/data, so a case named "golden/dense_causal" or
// "hostile/<case>" loads real .npy files and runs the library; names and
// file paths that leave the folder are refused by the reader.
//
// Invariants: no crash or exception; an unusable manifest has a message;
// every case result has a name, and a failed case a reason.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/golden.h"

namespace {
void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_manifest: invariant violated: %s\n", what);
    std::abort();
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1 << 16)) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<attngen::cli::CaseResult> results;
  std::string err;
  if (!attngen::cli::run_manifest_text(ATTNGEN_FUZZ_DATA_DIR, text, "", &results, &err)) {
    check(!err.empty(), "an unusable manifest has a message");
    return 0;
  }
  for (const auto& r : results) {
    check(!r.name.empty(), "every case has a name");
    check(r.pass || !r.reason.empty(), "a failed case has a reason");
    const std::string line = attngen::cli::format_result_line(r);
    check(line.find('\n') == std::string::npos, "a result line is one line");
  }
  return 0;
}
