// Minimal, hardened reader/writer for NumPy .npy files (format v1.0/v2.0/v3.0).
//
// Only little-endian, C-order, plain numeric dtypes are supported. The reader
// is meant to be fed untrusted input: every size is validated (including
// against NpyLimits) before anything is allocated, and no exception escapes a
// public function; failures return false and describe the problem in *err.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace attngen::io {

enum class DType {
  F32,
  F64,
  F16,
  BF16_AS_U16,  // never produced by numpy; not readable/writable via .npy here
  U8,
  BOOL,
  I32,
  I64
};

struct NpyArray {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // C order; empty = scalar
  std::vector<uint8_t> bytes;  // raw little-endian element data, size = numel * itemsize

  int64_t numel() const;  // product of shape; 1 for a scalar; -1 if a dim is negative or it overflows
  // Typed views of `bytes`; nullptr when the dtype does not match.
  const float* f32() const;    // dtype == F32
  const uint8_t* u8() const;   // dtype == U8 or BOOL
};

struct NpyLimits {
  int64_t max_bytes = int64_t(1) << 32;  // max element data size
  int max_ndim = 8;
};

// Size in bytes of one element.
size_t dtype_size(DType);
const char* dtype_name(DType);

// All functions return false on failure and set *err (if non-null) to a
// message naming the file (or "<memory>") and the problem. *out is only
// modified on success.
bool npy_load(const std::string& path, NpyArray* out, std::string* err,
              const NpyLimits& lim = {});
bool npy_parse(const uint8_t* data, size_t size, NpyArray* out, std::string* err,
               const NpyLimits& lim = {});
// Writes format v1.0 (v2.0 only if the header would not fit in 64 KiB).
// `data` holds numel(shape) little-endian elements; may be null when numel is 0.
bool npy_save(const std::string& path, DType dtype, const std::vector<int64_t>& shape,
              const void* data, std::string* err);

// Converts any numeric array (F32, F64, F16, U8, BOOL, I32, I64) to float32.
// F64 values beyond float range become +-inf.
bool npy_to_f32(const NpyArray& a, std::vector<float>* out, std::string* err);
// Converts BOOL/U8/I32/I64 to a 0/1 uint8 mask (nonzero -> 1). Floats are rejected.
bool npy_to_mask(const NpyArray& a, std::vector<uint8_t>* out, std::string* err);

// IEEE 754 binary16 -> binary32 (exact, including subnormals, inf and nan).
float half_to_float(uint16_t h);

}  // namespace attngen::io
