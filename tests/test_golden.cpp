// Golden vectors (tests/data/golden/manifest.json, computed in float64 from
// the SPEC semantics): one test per case, run through the checker of
// `attngen check`, half-precision storage cases included.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include "attngen/attngen.h"
#include "golden.h"
#include "io/json.h"
#include "io/npy.h"
#include "reference/reference.h"
#include "test_util.h"

#ifndef ATTNGEN_GOLDEN_DIR
#error "ATTNGEN_GOLDEN_DIR must point at tests/data/golden"
#endif

namespace {

using attngen::io::Json;
using namespace attngen_test;
namespace io = attngen::io;

struct GoldenCase {
  std::string name;     // case name = folder under the golden dir
  std::string variant;
  Json params;
  Json files;
  double rtol = kRtol, atol = kAtol;
  std::string error;    // set when the manifest could not be read
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name << " (" << c.variant << ")"; }

std::vector<GoldenCase> golden_cases() {
  const std::string path = std::string(ATTNGEN_GOLDEN_DIR) + "/manifest.json";
  Json m;
  std::string err;
  std::vector<GoldenCase> cases;
  auto broken = [&](const std::string& why) {
    GoldenCase c;
    c.name = "manifest";
    c.error = why;
    return std::vector<GoldenCase>{c};
  };
  if (!io::json_load_file(path, &m, &err)) return broken(err);
  const Json* list = m.find("cases");
  if (!list || !list->is_array() || list->as_array().empty()) return broken(path + ": no \"cases\" array");
  for (const Json& j : list->as_array()) {
    GoldenCase c;
    const Json* name = j.find("name");
    const Json* variant = j.find("variant");
    if (!name || !name->is_string() || !variant || !variant->is_string()) {
      return broken(path + ": a case lacks \"name\" or \"variant\"");
    }
    c.name = name->as_string();
    c.variant = variant->as_string();
    if (const Json* p = j.find("params")) c.params = *p;
    if (const Json* f = j.find("files")) c.files = *f;
    if (const Json* r = j.find("rtol")) c.rtol = r->as_number(kRtol);
    if (const Json* a = j.find("atol")) c.atol = a->as_number(kAtol);
    cases.push_back(c);
  }
  return cases;
}

std::string golden_name(const ::testing::TestParamInfo<GoldenCase>& info) {
  std::string s;
  for (char ch : info.param.name) s += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return s;
}

class Golden : public ::testing::TestWithParam<GoldenCase> {
 protected:
  // Loads files[key] as float32 (shape into *shape). Empty when absent.
  bool load_f32(const std::string& key, std::vector<float>* out, std::vector<int64_t>* shape) {
    io::NpyArray a;
    if (!load(key, &a)) return false;
    std::string err;
    EXPECT_TRUE(io::npy_to_f32(a, out, &err)) << err;
    *shape = a.shape;
    return true;
  }
  bool load_mask(const std::string& key, std::vector<uint8_t>* out, std::vector<int64_t>* shape) {
    io::NpyArray a;
    if (!load(key, &a)) return false;
    std::string err;
    EXPECT_TRUE(io::npy_to_mask(a, out, &err)) << err;
    *shape = a.shape;
    return true;
  }
  bool load(const std::string& key, io::NpyArray* a) {
    const Json* f = GetParam().files.find(key);
    if (!f) return false;
    const std::string path = std::string(ATTNGEN_GOLDEN_DIR) + "/" + GetParam().name + "/" + f->as_string();
    std::string err;
    const bool ok = io::npy_load(path, a, &err);
    EXPECT_TRUE(ok) << err;
    return ok;
  }
};

TEST_P(Golden, MatchesExpected) {
  const GoldenCase& c = GetParam();
  ASSERT_TRUE(c.error.empty()) << c.error;
  // Every variant through the checker `attngen check` uses.
  std::vector<attngen::cli::CaseResult> results;
  std::string err;
  ASSERT_TRUE(attngen::cli::run_manifest(ATTNGEN_GOLDEN_DIR, c.name, &results, &err)) << err;
  bool found = false;
  for (const attngen::cli::CaseResult& r : results) {
    if (r.name != c.name) continue;
    found = true;
    EXPECT_TRUE(r.pass) << c.name << ": " << r.reason;
  }
  ASSERT_TRUE(found) << c.name << " not run by the checker";
  if (c.variant != "dense") return;

  // Dense: also straight through the C API, and the oracle against the data.

  bool causal = false;
  int64_t offset = 0;
  for (const auto& [key, val] : c.params.as_object()) {
    if (key == "causal") {
      causal = val.as_bool();
    } else if (key == "offset") {
      offset = static_cast<int64_t>(val.as_number());
    } else if (key == "rotary_targets") {
      if (val.as_string() != "qkv") GTEST_SKIP() << "not yet supported: rotary_targets " << val.as_string();
    } else if (key != "dtype") {
      FAIL() << "unknown dense parameter \"" << key << "\" in case " << c.name;
    }
  }

  std::vector<float> q, k, v, expected, freqs;
  std::vector<uint8_t> key_mask, static_mask;
  std::vector<int64_t> sq, sk, sv, se, skm, ssm, sfr;
  ASSERT_TRUE(load_f32("q", &q, &sq) && load_f32("k", &k, &sk) && load_f32("v", &v, &sv) &&
              load_f32("expected", &expected, &se))
      << c.name << ": q, k, v and expected are required";
  const bool has_km = load_mask("key_mask", &key_mask, &skm);
  const bool has_sm = load_mask("static_mask", &static_mask, &ssm);
  const bool has_fr = load_f32("freqs", &freqs, &sfr);
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(sq.size(), 4u);
  ASSERT_EQ(sk.size(), 4u);
  ASSERT_EQ(sv, sk);
  ASSERT_EQ(se, sq);
  ASSERT_TRUE(!has_km || skm.size() == 2u) << "key_mask must be 2-D";
  ASSERT_TRUE(!has_sm || ssm.size() == 2u) << "static_mask must be 2-D";
  ASSERT_TRUE(!has_fr || sfr.size() == 2u) << "freqs must be 2-D";
  const int B = int(sq[0]), Nq = int(sq[1]), H = int(sq[2]), D = int(sq[3]);
  const int Nk = int(sk[1]), Hkv = int(sk[2]);

  std::vector<float> out(expected.size(), -1.f);
  attngen_tensor tq = f32_view(q.data(), {sq[0], sq[1], sq[2], sq[3]});
  attngen_tensor tk = f32_view(k.data(), {sk[0], sk[1], sk[2], sk[3]});
  attngen_tensor tv = f32_view(v.data(), {sv[0], sv[1], sv[2], sv[3]});
  attngen_tensor to = f32_view(out.data(), {sq[0], sq[1], sq[2], sq[3]});
  attngen_tensor tkm, tsm, tfr;
  attngen_dense_options o;
  attngen_dense_options_init(&o);
  o.causal = causal;
  o.offset = offset;
  if (has_km) o.key_mask = &(tkm = u8_view(key_mask.data(), {skm[0], skm[1]}));
  if (has_sm) o.static_mask = &(tsm = u8_view(static_mask.data(), {ssm[0], ssm[1]}));
  if (has_fr) o.freqs = &(tfr = f32_view(freqs.data(), {sfr[0], sfr[1]}));
  const attngen_status st = attngen_dense(&tq, &tk, &tv, &to, &o);
  ASSERT_EQ(st, ATTNGEN_OK) << attngen_status_string(st) << ": " << attngen_last_error();
  EXPECT_TRUE(all_close(out, expected, B, Nq, H, D, c.rtol, c.atol)) << c.name << " (kernel vs expected.npy)";

  // The test oracle must agree with the golden data too.
  ref::DenseOpts ro;
  ro.causal = causal;
  ro.offset = int(offset);
  ro.key_mask = has_km ? key_mask.data() : nullptr;
  ro.static_mask = has_sm ? static_mask.data() : nullptr;
  ro.static_size = has_sm ? int(ssm[0]) : 0;
  ro.freqs = has_fr ? freqs.data() : nullptr;
  ro.freqs_n = has_fr ? int(sfr[0]) : 0;
  ro.rotary_dim = has_fr ? int(sfr[1]) : 0;
  std::vector<float> want(expected.size());
  ref::dense({B, Nq, Nk, H, Hkv, D, D}, q.data(), k.data(), v.data(), want.data(), ro);
  EXPECT_TRUE(all_close(want, expected, B, Nq, H, D, c.rtol, c.atol)) << c.name << " (reference vs expected.npy)";
}

INSTANTIATE_TEST_SUITE_P(Manifest, Golden, ::testing::ValuesIn(golden_cases()), golden_name);

}  // namespace
