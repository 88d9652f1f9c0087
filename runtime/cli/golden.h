// Golden-data checker and shared helpers of the attngen command-line tool.
//
// run_manifest() reads DIR/manifest.json (format 1, see SPEC.md "Golden
// data"), runs every selected case through the C API and compares the result
// with the case's expected.npy. It is reusable from the test suite: nothing
// here prints, exits, aborts or lets an exception escape.
//
// Manifest format
//   { "format": 1, "cases": [ { "name": ..., "variant": ..., "params": {...},
//     "files": { "q": ..., "k": ..., "v": ..., "expected": ..., ... },
//     "rtol": ..., "atol": ... }, ... ] }
//   Case files live in the case folder DIR/<name>/; "files" paths are
//   relative to it. Absolute paths and any ".." component are rejected (in
//   names too). rtol/atol default to SPEC's fp32 tolerance (1e-4, 1e-5).
//   A JSON null for a param or a file means "absent".
//
// Variants and what they read (files q, k, v, expected always):
//   dense         params causal, offset, rotary_targets ("qkv"); files
//                 key_mask, static_mask, freqs (optional)
//   sparse_conv   params seq_len, image_size, kernel_size, dilation,
//                 rotary_targets; files key_mask, freqs (optional)
//   sparse_axial  params seq_len, image_size, axis, rotary_targets; files
//                 key_mask, freqs (optional)
//   block_sparse  params block, causal; files layout (required), key_mask
//   chunked       params query_chunk_size, kv_chunk_size, kv_chunk_size_min
// Every variant accepts stable (bool, no effect) and dtype ("fp32").
// Anything else is reported as a failed case with a specific reason;
// nothing is silently ignored.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "attngen/attngen.h"
#include "io/npy.h"

namespace attngen::cli {

struct CaseResult {
  std::string name;
  bool pass = false;
  double max_abs_err = 0;  // NaN if not computed
  std::string reason;      // why it failed ("" when it passed)
  std::string kernel;      // attngen_last_kernel() of the call ("" if none ran)
};

// Loads DIR/manifest.json; returns false (and err) if the manifest itself is
// unusable. Otherwise appends one result per case whose name contains
// `filter` (all cases when empty), in manifest order, and returns true.
bool run_manifest(const std::string& dir, const std::string& filter, std::vector<CaseResult>* results,
                  std::string* err);
// Same, calling on_case(result) as soon as each case is done (for progress).
bool run_manifest(const std::string& dir, const std::string& filter, std::vector<CaseResult>* results,
                  std::string* err, const std::function<void(const CaseResult&)>& on_case);
// Same, with the manifest's text given instead of read from
// DIR/manifest.json (the case files are still read from DIR/<name>/). The
// manifest fuzzer's entry point.
bool run_manifest_text(const std::string& dir, const std::string& text, const std::string& filter,
                       std::vector<CaseResult>* results, std::string* err);

// The line `check` prints for a result: "PASS <name> <err>" or
// "FAIL <name> <err or -> <reason>" (name and reason made single-line and
// free of spaces/control bytes where it matters, error printed with %.3g).
std::string format_result_line(const CaseResult& r);

// Replaces control bytes (and, when `spaces` is set, spaces) by \xNN
// escapes, so the text cannot break a line-oriented report.
std::string sanitize(const std::string& s, bool spaces);

// Whether `p` is a usable relative path: non-empty, not absolute, no ".."
// component, no NUL byte. On false, *why says what is wrong.
bool safe_relative_path(const std::string& p, std::string* why);

// ---- Loading and running (shared by `check` and `run`) --------------------

// A float32 array loaded from .npy; float32 files are used without a copy,
// float16/float64 are converted. Integer/bool dtypes are refused.
struct F32Tensor {
  std::vector<int64_t> shape;
  io::DType file_dtype = io::DType::F32;  // dtype stored in the file
  io::NpyArray raw;                       // the file's data when it is float32
  std::vector<float> converted;           // otherwise, the converted data
  const float* data() const {
    return raw.dtype == io::DType::F32 && !raw.bytes.empty() ? raw.f32() : converted.data();
  }
  int64_t numel() const;
};

// A 0/1 uint8 mask loaded from .npy (bool/uint8/int32/int64; nonzero = keep).
struct MaskTensor {
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

bool load_f32(const std::string& path, const char* role, F32Tensor* out, std::string* err);
bool load_mask(const std::string& path, const char* role, MaskTensor* out, std::string* err);

// Inputs of one attention call of any variant. Optional members may be
// null; the options a variant does not use are ignored.
struct Call {
  std::string variant = "dense";  // dense, sparse_conv, sparse_axial, block_sparse, chunked
  const F32Tensor* q = nullptr;
  const F32Tensor* k = nullptr;
  const F32Tensor* v = nullptr;
  const MaskTensor* key_mask = nullptr;
  const MaskTensor* static_mask = nullptr;  // dense
  const MaskTensor* layout = nullptr;       // block_sparse (H, nb, nb)
  const F32Tensor* freqs = nullptr;         // dense, sparse_*
  bool causal = false;                      // dense, block_sparse
  int64_t offset = 0;                       // dense
  int64_t seq_len = 0, image_size = 0;      // sparse_*
  int32_t kernel_size = 5, dilation = 1;    // sparse_conv
  int32_t axis = 0;                         // sparse_axial
  int32_t block = 16;                       // block_sparse
  int64_t query_chunk_size = 0, kv_chunk_size = 0, kv_chunk_size_min = 0;  // chunked
  // Storage type the kernels run in: q, k, v are rounded to it (to nearest
  // even) before the call and out is converted back to f32.
  attngen_dtype dtype = ATTNGEN_F32;
  // Where the kernels run: CUDA uploads every input to device memory of
  // its own (cuMemAlloc in the primary context), passes device tensors and
  // downloads out after attngen_cuda_synchronize.
  attngen_device device = ATTNGEN_DEVICE_CPU;
};

// The device golden cases run on (attngen check --device); default host.
void set_check_device(attngen_device d);

// "fp32"/"f32", "fp16"/"f16", "bf16" -> *t; false for anything else.
bool parse_dtype(const std::string& s, attngen_dtype* t);

// Checks ranks, allocates the output (B, Nq, H, Dv) and calls the variant's
// C API function. On failure *err holds a message (the API's
// attngen_last_error() when the API refused the call). *kernel gets
// attngen_last_kernel(), *seconds the wall time of the API call alone and
// *stats (when not null) attngen_last_call_stats().
bool run_call(const Call& c, std::vector<float>* out, std::vector<int64_t>* out_shape, std::string* kernel,
              double* seconds, std::string* err, attngen_call_stats* stats = nullptr);

// "(2, 64, 4, 40)".
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace attngen::cli
