// Tests for runtime/io: .npy reader/writer and the JSON DOM.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "io/json.h"
#include "io/npy.h"

namespace {

using attngen::io::DType;
using attngen::io::Json;
using attngen::io::JsonLimits;
using attngen::io::NpyArray;
using attngen::io::NpyLimits;
namespace io = attngen::io;

#define EXPECT_CONTAINS(haystack, needle)                                        \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos)              \
      << "expected to find \"" << (needle) << "\" in \"" << (haystack) << "\""

std::vector<std::string>& created_files() {
  static std::vector<std::string> files;
  return files;
}

// Removes the files made by tmp_path() after all tests ran.
struct CleanupEnv : ::testing::Environment {
  void TearDown() override {
    for (const auto& p : created_files()) std::remove(p.c_str());
  }
};
::testing::Environment* const kCleanupEnv = ::testing::AddGlobalTestEnvironment(new CleanupEnv);

// Unique per-test file in the gtest temp dir.
std::string tmp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string p = ::testing::TempDir() + "attngen_io_" + info->test_suite_name() + "_" +
                  info->name() + "_" + name;
  created_files().push_back(p);
  return p;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Builds a .npy image from a header dict literal (padded like numpy does).
std::vector<uint8_t> make_npy(const std::string& dict, const std::vector<uint8_t>& data,
                              int major = 1) {
  const size_t prelude = major == 1 ? 10 : 12;
  std::string h = dict;
  h.append((64 - (prelude + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  std::vector<uint8_t> f = {0x93, 'N', 'U', 'M', 'P', 'Y', uint8_t(major), 0};
  for (size_t i = 0; i < prelude - 8; ++i) f.push_back(uint8_t(h.size() >> (8 * i)));
  f.insert(f.end(), h.begin(), h.end());
  f.insert(f.end(), data.begin(), data.end());
  return f;
}

std::string dict(const std::string& descr, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
}

// Expects npy_parse to fail and returns the message.
std::string npy_error(const std::vector<uint8_t>& f, const NpyLimits& lim = {}) {
  NpyArray a;
  std::string err;
  EXPECT_FALSE(io::npy_parse(f.data(), f.size(), &a, &err, lim));
  EXPECT_FALSE(err.empty());
  return err;
}

template <class T>
std::vector<uint8_t> as_bytes(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// ---------------------------------------------------------------- npy

TEST(Npy, RoundTripF32AndU8) {
  const std::vector<std::vector<int64_t>> shapes = {{}, {0}, {3}, {2, 3, 4}};
  for (const auto& shape : shapes) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> f(static_cast<size_t>(n));
    std::vector<uint8_t> u(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      f[size_t(i)] = 0.5f * float(i) - 3.25f;
      u[size_t(i)] = uint8_t(i * 7);
    }
    const std::string pf = tmp_path("f32.npy"), pu = tmp_path("u8.npy");
    std::string err;
    ASSERT_TRUE(io::npy_save(pf, DType::F32, shape, f.data(), &err)) << err;
    ASSERT_TRUE(io::npy_save(pu, DType::U8, shape, u.data(), &err)) << err;

    NpyArray a, b;
    ASSERT_TRUE(io::npy_load(pf, &a, &err)) << err;
    ASSERT_TRUE(io::npy_load(pu, &b, &err)) << err;
    EXPECT_EQ(a.dtype, DType::F32);
    EXPECT_EQ(b.dtype, DType::U8);
    EXPECT_EQ(a.shape, shape);
    EXPECT_EQ(b.shape, shape);
    EXPECT_EQ(a.numel(), n);
    EXPECT_EQ(a.bytes, as_bytes(f));
    EXPECT_EQ(b.bytes, u);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(a.f32()[i], f[size_t(i)]);
    if (n > 0) {
      EXPECT_NE(a.f32(), nullptr);
      EXPECT_NE(b.u8(), nullptr);
    }
    EXPECT_EQ(a.u8(), nullptr);  // wrong dtype
    EXPECT_EQ(b.f32(), nullptr);

    // Written as v1.0 with a 64-byte aligned header ending in '\n'.
    const auto raw = read_file(pf);
    ASSERT_GE(raw.size(), 10u);
    EXPECT_EQ(raw[6], 1);
    EXPECT_EQ(raw[7], 0);
    const size_t hlen = raw[8] | size_t(raw[9]) << 8;
    EXPECT_EQ((10 + hlen) % 64, 0u);
    EXPECT_EQ(raw[10 + hlen - 1], '\n');
    EXPECT_EQ(raw.size(), 10 + hlen + size_t(n) * 4);
  }
}

TEST(Npy, ScalarAndEmptyNumel) {
  NpyArray a;
  std::string err;
  auto f = make_npy(dict("<f4", "()"), as_bytes(std::vector<float>{42.f}));
  ASSERT_TRUE(io::npy_parse(f.data(), f.size(), &a, &err)) << err;
  EXPECT_TRUE(a.shape.empty());
  EXPECT_EQ(a.numel(), 1);
  EXPECT_EQ(a.f32()[0], 42.f);

  f = make_npy(dict("<f4", "(4, 0, 3)"), {});
  ASSERT_TRUE(io::npy_parse(f.data(), f.size(), &a, &err)) << err;
  EXPECT_EQ(a.numel(), 0);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{4, 0, 3}));
  EXPECT_TRUE(a.bytes.empty());
}

TEST(Npy, OtherDtypesRoundTrip) {
  std::string err;
  const std::string p = tmp_path("x.npy");
  struct Case {
    DType dt;
    std::vector<uint8_t> data;
    std::vector<float> expect;
  } cases[] = {
      {DType::F64, as_bytes(std::vector<double>{1.5, -1e300}), {1.5f, -INFINITY}},
      {DType::I32, as_bytes(std::vector<int32_t>{-7, 1 << 20}), {-7.f, float(1 << 20)}},
      {DType::I64, as_bytes(std::vector<int64_t>{int64_t(1) << 40, -3}), {float(int64_t(1) << 40), -3.f}},
      {DType::BOOL, {0, 1}, {0.f, 1.f}},
      {DType::F16, as_bytes(std::vector<uint16_t>{0x3c00, 0xc000}), {1.f, -2.f}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(io::dtype_name(c.dt));
    ASSERT_TRUE(io::npy_save(p, c.dt, {2}, c.data.data(), &err)) << err;
    NpyArray a;
    ASSERT_TRUE(io::npy_load(p, &a, &err)) << err;
    EXPECT_EQ(a.dtype, c.dt);
    EXPECT_EQ(a.bytes, c.data);
    std::vector<float> f;
    ASSERT_TRUE(io::npy_to_f32(a, &f, &err)) << err;
    EXPECT_EQ(f, c.expect);
  }
}

TEST(Npy, V2AndV3Headers) {
  const auto data = as_bytes(std::vector<float>{1, 2, 3, 4, 5, 6});
  for (int major : {2, 3}) {
    auto f = make_npy(dict("<f4", "(2, 3)"), data, major);
    NpyArray a;
    std::string err;
    ASSERT_TRUE(io::npy_parse(f.data(), f.size(), &a, &err)) << err;
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(a.f32()[5], 6.f);

    const std::string p = tmp_path("v" + std::to_string(major) + ".npy");
    write_file(p, f);
    ASSERT_TRUE(io::npy_load(p, &a, &err)) << err;
    EXPECT_EQ(a.bytes, data);
  }
}

TEST(Npy, HeaderSpellingVariants) {
  const auto data = as_bytes(std::vector<float>{1, 2});
  const char* dicts[] = {
      "{'shape': (2,), 'descr': '<f4', 'fortran_order': False}",             // order, no trailing comma
      "{ \"descr\" :\"<f4\" ,\n\t'fortran_order':False,'shape':( 2 , ) , }",  // whitespace, quotes
      "{'descr': '=f4', 'fortran_order': False, 'shape': (2L,)}",           // native order, py2 long
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}",
  };
  for (const char* d : dicts) {
    SCOPED_TRACE(d);
    auto f = make_npy(d, data);
    NpyArray a;
    std::string err;
    ASSERT_TRUE(io::npy_parse(f.data(), f.size(), &a, &err)) << err;
    EXPECT_EQ(a.dtype, DType::F32);
    EXPECT_EQ(a.numel(), 2);
  }
  for (const char* descr : {"|u1", "<u1", ">u1", "|b1"}) {
    auto f = make_npy(dict(descr, "(2,)"), {1, 0});
    NpyArray a;
    std::string err;
    EXPECT_TRUE(io::npy_parse(f.data(), f.size(), &a, &err)) << descr << ": " << err;
  }
}

TEST(Npy, RejectsBadMagicVersionAndTruncation) {
  auto good = make_npy(dict("<f4", "(2, 3)"), as_bytes(std::vector<float>(6, 1.f)));
  auto bad = good;
  bad[1] = 'X';
  EXPECT_CONTAINS(npy_error(bad), "magic");
  bad = good;
  bad[6] = 4;
  EXPECT_CONTAINS(npy_error(bad), "version 4.0");
  bad = good;
  bad[7] = 1;
  EXPECT_CONTAINS(npy_error(bad), "version 1.1");
  bad = good;
  bad[8] = 0xff, bad[9] = 0xff;  // header length beyond the file
  EXPECT_CONTAINS(npy_error(bad), "truncated");

  // Every strict prefix of a valid file is rejected.
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> prefix(good.begin(), good.begin() + long(n));
    NpyArray a;
    std::string err;
    EXPECT_FALSE(io::npy_parse(prefix.data(), prefix.size(), &a, &err)) << n;
    EXPECT_FALSE(err.empty());
  }

  // Truncated file on disk: message names the file and both byte counts.
  const std::string p = tmp_path("trunc.npy");
  write_file(p, std::vector<uint8_t>(good.begin(), good.end() - 4));
  NpyArray a;
  std::string err;
  EXPECT_FALSE(io::npy_load(p, &a, &err));
  EXPECT_CONTAINS(err, p);
  EXPECT_CONTAINS(err, "expected 24 bytes");
  EXPECT_CONTAINS(err, "got 20 bytes");

  write_file(p, {0x93, 'N', 'U'});
  EXPECT_FALSE(io::npy_load(p, &a, &err));
  EXPECT_CONTAINS(err, "truncated");
  write_file(p, {});
  EXPECT_FALSE(io::npy_load(p, &a, &err));
}

TEST(Npy, RejectsBadHeaderDict) {
  const std::vector<uint8_t> d4(4, 0);
  struct Case {
    const char* dict;
    const char* msg;
  } cases[] = {
      {"['descr', '<f4']", "dict"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "expected ',' or '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", "after header dict"},
      {"{descr: '<f4', 'fortran_order': False, 'shape': (1,)}", "quoted key"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}", "':'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "unexpected key 'extra'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", "duplicate"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", "structured"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", "tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1)}", "not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}", "expected ',' or ')'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (a,)}", "integer"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", ""},
      {"", "dict"},
      // Missing keys.
      {"{'fortran_order': False, 'shape': (1,)}", "missing key 'descr'"},
      {"{'descr': '<f4', 'shape': (1,)}", "missing key 'fortran_order'"},
      {"{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dict);
    EXPECT_CONTAINS(npy_error(make_npy(c.dict, d4)), c.msg);
  }
}

TEST(Npy, RejectsUnsupportedDtypesAndLayouts) {
  const std::vector<uint8_t> d8(8, 0);
  std::string e = npy_error(make_npy(dict(">f4", "(2,)"), d8));
  EXPECT_CONTAINS(e, "big-endian");
  EXPECT_CONTAINS(e, ">f4");
  EXPECT_CONTAINS(npy_error(make_npy(dict(">i8", "(1,)"), d8)), "big-endian");
  for (const char* descr : {"<c8", "|O", "<U2", "f4", "|f4", "<i2", "<u4", "", "<f4x"}) {
    SCOPED_TRACE(descr);
    EXPECT_CONTAINS(npy_error(make_npy(dict(descr, "(2,)"), d8)), "unsupported dtype");
  }
  e = npy_error(make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}", d8));
  EXPECT_CONTAINS(e, "fortran_order");
}

TEST(Npy, RejectsBadShapesWithoutAllocating) {
  const std::vector<uint8_t> d8(8, 0);
  EXPECT_CONTAINS(npy_error(make_npy(dict("<f4", "(2, -3)"), d8)), "negative dimension -3");
  // (2^40, 2^40): the element count overflows int64.
  std::string e = npy_error(make_npy(dict("<f4", "(1099511627776, 1099511627776)"), d8));
  EXPECT_CONTAINS(e, "overflows int64");
  // Even with a zero dim (numpy rejects this too).
  EXPECT_CONTAINS(npy_error(make_npy(dict("<f4", "(1099511627776, 1099511627776, 0)"), d8)),
                  "overflows int64");
  // Element count fits but the byte size does not.
  EXPECT_CONTAINS(npy_error(make_npy(dict("<f8", "(4611686018427387904,)"), d8)), "overflows int64");
  EXPECT_CONTAINS(npy_error(make_npy(dict("<f4", "(99999999999999999999,)"), d8)), "overflows int64");
  // 2^40 floats = 4 TiB > default max_bytes (4 GiB): rejected before any allocation
  // (ASan would abort on an allocation this large).
  e = npy_error(make_npy(dict("<f4", "(1048576, 1048576)"), d8));
  EXPECT_CONTAINS(e, "max_bytes");
  EXPECT_CONTAINS(e, "4398046511104 bytes");
  // Limit not hit: the size check against the (tiny) file rejects it, still before allocating.
  NpyLimits big;
  big.max_bytes = std::numeric_limits<int64_t>::max();
  e = npy_error(make_npy(dict("|u1", "(35184372088832,)"), d8), big);
  EXPECT_CONTAINS(e, "expected 35184372088832 bytes");
  // Custom limits.
  NpyLimits small;
  small.max_bytes = 4;
  EXPECT_CONTAINS(npy_error(make_npy(dict("<f4", "(2,)"), d8), small), "max_bytes=4");
  EXPECT_CONTAINS(npy_error(make_npy(dict("|u1", "(1, 1, 1, 1, 1, 1, 1, 1, 1)"), {1})), "max_ndim");
  // The same checks apply to files.
  const std::string p = tmp_path("huge.npy");
  write_file(p, make_npy(dict("<f4", "(1099511627776, 1099511627776)"), d8));
  NpyArray a;
  EXPECT_FALSE(io::npy_load(p, &a, &e));
  EXPECT_CONTAINS(e, "overflows int64");
}

TEST(Npy, RejectsDataSizeMismatch) {
  std::string e = npy_error(make_npy(dict("<f4", "(2, 3)"), std::vector<uint8_t>(20)));
  EXPECT_CONTAINS(e, "expected 24 bytes");
  EXPECT_CONTAINS(e, "got 20 bytes");
  e = npy_error(make_npy(dict("<f4", "(2, 3)"), std::vector<uint8_t>(25)));
  EXPECT_CONTAINS(e, "expected 24 bytes");
  EXPECT_CONTAINS(e, "got 25 bytes");
  e = npy_error(make_npy(dict("<f4", "()"), {}));
  EXPECT_CONTAINS(e, "expected 4 bytes");
}

TEST(Npy, LoadErrorsNameTheFile) {
  NpyArray a;
  std::string err;
  const std::string missing = tmp_path("does_not_exist.npy");
  EXPECT_FALSE(io::npy_load(missing, &a, &err));
  EXPECT_CONTAINS(err, missing);
  EXPECT_CONTAINS(err, "cannot open");
  EXPECT_FALSE(io::npy_load(::testing::TempDir(), &a, &err));  // a directory
  EXPECT_CONTAINS(err, "not a regular file");
}

TEST(Npy, SaveRejectsInvalidInput) {
  std::string err;
  const std::string p = tmp_path("bad.npy");
  float x[2] = {0, 0};
  EXPECT_FALSE(io::npy_save(p, DType::F32, {2, -1}, x, &err));
  EXPECT_CONTAINS(err, "negative");
  EXPECT_FALSE(io::npy_save(p, DType::F32, {2}, nullptr, &err));
  EXPECT_CONTAINS(err, "null data");
  EXPECT_FALSE(io::npy_save(p, DType::BF16_AS_U16, {1}, x, &err));
  EXPECT_FALSE(io::npy_save(tmp_path("no/such/dir.npy"), DType::F32, {2}, x, &err));
  EXPECT_CONTAINS(err, "cannot open");
  EXPECT_TRUE(io::npy_save(p, DType::F32, {0}, nullptr, &err)) << err;
}

TEST(Npy, HalfToFloat) {
  const std::vector<uint16_t> h = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400,
                                   0x7c00, 0xfc00, 0x7e00, 0x0000, 0x8000, 0x3555};
  NpyArray a;
  a.dtype = DType::F16;
  a.shape = {int64_t(h.size())};
  a.bytes = as_bytes(h);
  std::vector<float> f;
  std::string err;
  ASSERT_TRUE(io::npy_to_f32(a, &f, &err)) << err;
  ASSERT_EQ(f.size(), h.size());
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_EQ(f[1], -2.0f);
  EXPECT_EQ(f[2], 65504.0f);
  EXPECT_EQ(f[3], std::ldexp(1.0f, -24));           // smallest subnormal
  EXPECT_EQ(f[4], 1023.0f * std::ldexp(1.0f, -24));  // largest subnormal
  EXPECT_EQ(f[5], std::ldexp(1.0f, -14));           // smallest normal
  EXPECT_TRUE(std::isinf(f[6]) && f[6] > 0);
  EXPECT_TRUE(std::isinf(f[7]) && f[7] < 0);
  EXPECT_TRUE(std::isnan(f[8]));
  EXPECT_EQ(f[9], 0.0f);
  EXPECT_TRUE(f[10] == 0.0f && std::signbit(f[10]));
  EXPECT_FLOAT_EQ(f[11], 0.33325195f);
  EXPECT_EQ(io::half_to_float(0x3c00), 1.0f);
}

TEST(Npy, ToMask) {
  std::string err;
  std::vector<uint8_t> m;
  NpyArray a;
  a.dtype = DType::U8;
  a.shape = {4};
  a.bytes = {0, 1, 7, 255};
  ASSERT_TRUE(io::npy_to_mask(a, &m, &err)) << err;
  EXPECT_EQ(m, (std::vector<uint8_t>{0, 1, 1, 1}));
  a.dtype = DType::BOOL;
  ASSERT_TRUE(io::npy_to_mask(a, &m, &err)) << err;
  EXPECT_EQ(m, (std::vector<uint8_t>{0, 1, 1, 1}));
  a.dtype = DType::I64;
  a.shape = {3};
  a.bytes = as_bytes(std::vector<int64_t>{0, int64_t(1) << 40, -1});
  ASSERT_TRUE(io::npy_to_mask(a, &m, &err)) << err;
  EXPECT_EQ(m, (std::vector<uint8_t>{0, 1, 1}));
  a.dtype = DType::I32;
  a.shape = {2};
  a.bytes = as_bytes(std::vector<int32_t>{256, 0});
  ASSERT_TRUE(io::npy_to_mask(a, &m, &err)) << err;
  EXPECT_EQ(m, (std::vector<uint8_t>{1, 0}));
  a.dtype = DType::F32;
  a.bytes = as_bytes(std::vector<float>{1, 0});
  EXPECT_FALSE(io::npy_to_mask(a, &m, &err));
  EXPECT_CONTAINS(err, "float32");
}

TEST(Npy, ConversionRejectsInconsistentArray) {
  NpyArray a;
  a.dtype = DType::F32;
  a.shape = {3};
  a.bytes.resize(8);  // should be 12
  std::vector<float> f;
  std::vector<uint8_t> m;
  std::string err;
  EXPECT_FALSE(io::npy_to_f32(a, &f, &err));
  EXPECT_CONTAINS(err, "needs 12 bytes");
  a.dtype = DType::U8;
  EXPECT_FALSE(io::npy_to_mask(a, &m, &err));
  a.shape = {-1};
  EXPECT_EQ(a.numel(), -1);
  EXPECT_FALSE(io::npy_to_mask(a, &m, &err));
}

// Cheap in-tree fuzzing: mutated valid files must be rejected or accepted cleanly.
TEST(Npy, MutatedInputsDoNotCrash) {
  const auto good = make_npy(dict("<f4", "(2, 3)"), as_bytes(std::vector<float>(6, 1.f)));
  std::mt19937 rng(1234);
  for (int it = 0; it < 20000; ++it) {
    auto f = good;
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng() % f.size();
      switch (rng() % 3) {
        case 0: f[pos] = uint8_t(rng()); break;
        case 1: f.erase(f.begin() + long(pos)); break;
        default: f.insert(f.begin() + long(pos), "(),-1'9 "[rng() % 8]); break;
      }
      if (f.empty()) break;
    }
    NpyArray a;
    std::string err;
    if (io::npy_parse(f.data(), f.size(), &a, &err)) {
      EXPECT_EQ(int64_t(a.bytes.size()), a.numel() * int64_t(io::dtype_size(a.dtype)));
    } else {
      EXPECT_FALSE(err.empty());
    }
  }
}

// ---------------------------------------------------------------- json

Json parse_ok(const std::string& text) {
  Json j;
  std::string err;
  EXPECT_TRUE(io::json_parse(text, &j, &err)) << text << ": " << err;
  return j;
}

std::string json_error(const std::string& text, const JsonLimits& lim = {}) {
  Json j = Json::string("untouched");
  std::string err;
  EXPECT_FALSE(io::json_parse(text, &j, &err, lim)) << text;
  EXPECT_EQ(j.as_string(), "untouched");  // output only written on success
  EXPECT_CONTAINS(err, "line ");
  return err;
}

TEST(Json, ParsesNestedManifest) {
  const Json j = parse_ok(R"({
    "name": "flash_fwd", "version": 2, "eps": 1e-05, "scale": -0.5,
    "causal": true, "dropout": false, "bias": null,
    "shapes": [[1, 2, 3], [], [{"b": 12}]],
    "meta": {"nested": {"deep": [true, null]}}
  })");
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.as_object().size(), 9u);
  EXPECT_EQ(j.as_object()[0].first, "name");  // insertion order
  EXPECT_EQ(j.find("name")->as_string(), "flash_fwd");
  EXPECT_EQ(j.find("version")->as_number(), 2);
  EXPECT_EQ(j.find("eps")->as_number(), 1e-05);
  EXPECT_EQ(j.find("scale")->as_number(), -0.5);
  EXPECT_TRUE(j.find("causal")->as_bool());
  EXPECT_TRUE(j.find("dropout")->is_bool());
  EXPECT_FALSE(j.find("dropout")->as_bool(true));
  EXPECT_TRUE(j.find("bias")->is_null());
  EXPECT_EQ(j.find("missing"), nullptr);
  const auto& shapes = j.find("shapes")->as_array();
  ASSERT_EQ(shapes.size(), 3u);
  EXPECT_EQ(shapes[0].as_array()[2].as_number(), 3);
  EXPECT_TRUE(shapes[1].is_array());
  EXPECT_TRUE(shapes[1].as_array().empty());
  EXPECT_EQ(shapes[2].as_array()[0].find("b")->as_number(), 12);
  const Json* deep = j.find("meta")->find("nested")->find("deep");
  ASSERT_NE(deep, nullptr);
  EXPECT_TRUE(deep->as_array()[1].is_null());

  // Accessors on the wrong type return defaults.
  EXPECT_EQ(j.find("name")->as_number(7), 7);
  EXPECT_TRUE(j.find("name")->as_array().empty());
  EXPECT_TRUE(j.find("version")->as_string().empty());
  EXPECT_EQ(j.find("version")->find("x"), nullptr);
  EXPECT_TRUE(j.find("version")->as_object().empty());
}

TEST(Json, ScalarsAndNumbers) {
  EXPECT_EQ(parse_ok("12").as_number(), 12);
  EXPECT_EQ(parse_ok(" -0.5 ").as_number(), -0.5);
  EXPECT_EQ(parse_ok("1e-05").as_number(), 1e-05);
  EXPECT_EQ(parse_ok("1E+2").as_number(), 100);
  EXPECT_EQ(parse_ok("0").as_number(), 0);
  EXPECT_TRUE(std::signbit(parse_ok("-0").as_number()));
  EXPECT_EQ(parse_ok("3.141592653589793").as_number(), 3.141592653589793);
  EXPECT_EQ(parse_ok("1e-400").as_number(), 0);  // underflow is fine
  EXPECT_TRUE(parse_ok("null").is_null());
  EXPECT_TRUE(parse_ok("\t\r\ntrue\n").as_bool());
  EXPECT_EQ(parse_ok("\"x\"").as_string(), "x");
  EXPECT_TRUE(parse_ok("\xEF\xBB\xBF{}").is_object());  // UTF-8 BOM ignored
}

TEST(Json, StringEscapes) {
  EXPECT_EQ(parse_ok(R"("a\"b\\c\/d\be\ff\ng\rh\ti")").as_string(), "a\"b\\c/d\be\ff\ng\rh\ti");
  EXPECT_EQ(parse_ok(R"("\u00e9\u20AC")").as_string(), "\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(parse_ok(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");  // surrogate pair
  EXPECT_EQ(parse_ok(R"("\u0000")").as_string(), std::string(1, '\0'));
  EXPECT_EQ(parse_ok("\"\xC3\xA9 \xF0\x9F\x98\x80\"").as_string(), "\xC3\xA9 \xF0\x9F\x98\x80");
}

TEST(Json, RejectsInvalidInput) {
  struct Case {
    const char* text;
    const char* msg;
  } cases[] = {
      {"", "end of input"},
      {"   ", "end of input"},
      {"01", "leading zeros"},
      {"-01", "leading zeros"},
      {"-", "expected a digit"},
      {"1.", "after '.'"},
      {".5", "unexpected character '.'"},
      {"+1", "unexpected character '+'"},
      {"1e", "exponent"},
      {"1e999", "out of range"},
      {"NaN", "unexpected character 'N'"},
      {"Infinity", "unexpected character 'I'"},
      {"-Infinity", "expected a digit"},
      {"None", "unexpected character 'N'"},
      {"True", "unexpected character 'T'"},
      {"tru", "invalid literal"},
      {"nul", "invalid literal"},
      {"{} x", "trailing"},
      {"[1] [2]", "trailing"},
      {"truex", "trailing"},
      {"[1,]", "unexpected character ']'"},
      {"[1 2]", "expected ',' or ']'"},
      {"{\"a\":1,}", "expected a string key"},
      {"{\"a\" 1}", "expected ':'"},
      {"{'a': 1}", "expected a string key"},
      {"{\"a\":1", "end of input"},
      {"[", "end of input"},
      {"\"abc", "unterminated string"},
      {"\"a\\", "unterminated string"},
      {"\"a\x01\"", "control character"},
      {"\"a\tb\"", "control character"},
      {"\"\\x41\"", "invalid escape"},
      {"\"\\u12\"", "4 hex digits"},
      {"\"\\ud800\"", "unpaired high surrogate"},
      {"\"\\ud800\\u0041\"", "unpaired high surrogate"},
      {"\"\\udc00\"", "unpaired low surrogate"},
      {"\"\xff\"", "invalid UTF-8"},
      {"\"\xC0\xAF\"", "invalid UTF-8"},          // overlong
      {"\"\xED\xA0\x80\"", "invalid UTF-8"},      // encoded surrogate
      {"\"\xE2\x82\"", "invalid UTF-8"},          // truncated sequence
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_CONTAINS(json_error(c.text), c.msg);
  }
  EXPECT_CONTAINS(json_error(std::string("[1,\0 2]", 7)), "byte 0x00");
}

TEST(Json, ErrorReportsLineAndColumn) {
  std::string e = json_error("{\n  \"a\": 1,\n  \"b\": x\n}");
  EXPECT_CONTAINS(e, "line 3, column 8");
  e = json_error("[1, 2,\n\n   ]");
  EXPECT_CONTAINS(e, "line 3, column 4");
}

TEST(Json, DepthAndSizeLimits) {
  auto nest = [](size_t n) { return std::string(n, '[') + std::string(n, ']'); };
  Json j = parse_ok(nest(64));
  EXPECT_TRUE(j.is_array());
  EXPECT_CONTAINS(json_error(nest(65)), "nesting depth exceeds limit of 64");
  // Far deeper than any stack could recurse; must fail cleanly.
  EXPECT_CONTAINS(json_error(std::string(1000000, '[')), "nesting depth");
  EXPECT_CONTAINS(json_error(std::string(100000, '{')), "expected a string key");
  std::string objs;
  for (int i = 0; i < 100000; ++i) objs += "{\"a\":";
  EXPECT_CONTAINS(json_error(objs), "nesting depth");

  JsonLimits lim;
  lim.max_depth = 2;
  std::string err;
  EXPECT_TRUE(io::json_parse("[[1]]", &j, &err, lim)) << err;
  EXPECT_FALSE(io::json_parse("[[[1]]]", &j, &err, lim));
  EXPECT_FALSE(io::json_parse("{\"a\":{\"b\":{}}}", &j, &err, lim));
  lim = JsonLimits();
  lim.max_size = 4;
  EXPECT_TRUE(io::json_parse("1234", &j, &err, lim)) << err;
  EXPECT_FALSE(io::json_parse("12345", &j, &err, lim));
  EXPECT_CONTAINS(err, "max_size");
}

TEST(Json, DuplicateKeysLastWins) {
  Json j = parse_ok(R"({"a": 1, "b": 2, "a": 3})");
  ASSERT_EQ(j.as_object().size(), 2u);
  EXPECT_EQ(j.as_object()[0].first, "a");
  EXPECT_EQ(j.find("a")->as_number(), 3);
  // Large object (hash path).
  std::string text = "{";
  for (int i = 0; i < 100; ++i) text += "\"k" + std::to_string(i % 40) + "\": " + std::to_string(i) + ",";
  text.back() = '}';
  j = parse_ok(text);
  ASSERT_EQ(j.as_object().size(), 40u);
  EXPECT_EQ(j.as_object()[5].first, "k5");
  EXPECT_EQ(j.find("k5")->as_number(), 85);
  EXPECT_EQ(j.find("k39")->as_number(), 79);
}

TEST(Json, BuildersAndDump) {
  Json j = Json::object({{"b", Json::number(12)}, {"a", Json::string("x\"y\\\n\x01")}});
  j.set("eps", Json::number(1e-05));
  j.set("neg", Json::number(-0.5));
  j.set("b", Json::number(13));  // replaces in place
  j.set("big", Json::number(9007199254740992.0));
  j.set("pi", Json::number(0.1));
  j.set("nan", Json::number(NAN));
  j.set("inf", Json::number(-INFINITY));
  j.set("flags", Json::array({Json::boolean(true), Json::null(), Json::boolean(false)}));
  Json list;  // null becomes an array on push_back
  list.push_back(Json::number(1));
  list.push_back(Json::array({}));
  list.push_back(Json::object({}));
  j.set("list", list);
  j.set("utf8", Json::string("\xC3\xA9\xff"));  // invalid byte -> U+FFFD
  EXPECT_EQ(j.dump(),
            "{\"b\":13,\"a\":\"x\\\"y\\\\\\n\\u0001\",\"eps\":1e-05,\"neg\":-0.5,"
            "\"big\":9007199254740992,\"pi\":0.1,\"nan\":null,\"inf\":null,"
            "\"flags\":[true,null,false],\"list\":[1,[],{}],\"utf8\":\"\xC3\xA9\\ufffd\"}");
  EXPECT_EQ(Json::number(-0.0).dump(), "-0");
  EXPECT_EQ(Json::number(-3).dump(), "-3");
  EXPECT_EQ(Json::number(1e300).dump(), "1e+300");
  EXPECT_EQ(Json().dump(), "null");
  Json s = Json::number(1);
  s.set("k", Json::null());  // non-object becomes an object
  EXPECT_EQ(s.dump(), "{\"k\":null}");
}

TEST(Json, DumpRoundTrip) {
  const std::string text = R"({"name":"flash \"fwd\"\n","eps":1e-05,"x":[-0.5,12,1.0000000000000002,
      3.14159,1e+300,-2.5e-300,{"deep":[[[]]]}],"u":"\ud83d\ude00\u00e9\t","t":true,"n":null})";
  const Json a = parse_ok(text);
  const std::string d1 = a.dump();
  const Json b = parse_ok(d1);
  EXPECT_EQ(b.dump(), d1);
  EXPECT_EQ(b.find("x")->as_array()[2].as_number(), 1.0000000000000002);
  EXPECT_EQ(b.find("x")->as_array()[5].as_number(), -2.5e-300);
  EXPECT_EQ(b.find("u")->as_string(), "\xF0\x9F\x98\x80\xC3\xA9\t");
  // Every double survives dump -> parse exactly.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 10000; ++i) {
    uint64_t bits = rng();
    double x;
    std::memcpy(&x, &bits, sizeof x);
    if (!std::isfinite(x)) continue;
    const Json r = parse_ok(Json::number(x).dump());
    EXPECT_EQ(r.as_number(), x) << Json::number(x).dump();
  }
}

TEST(Json, LoadFile) {
  const std::string p = tmp_path("manifest.json");
  const std::string text = "{\"kernels\": [{\"name\": \"k0\", \"eps\": 1e-05}]}\n";
  write_file(p, std::vector<uint8_t>(text.begin(), text.end()));
  Json j;
  std::string err;
  ASSERT_TRUE(io::json_load_file(p, &j, &err)) << err;
  EXPECT_EQ(j.find("kernels")->as_array()[0].find("name")->as_string(), "k0");

  const std::string bad = "{\n  \"a\": [1, 2,]\n}\n";
  write_file(p, std::vector<uint8_t>(bad.begin(), bad.end()));
  EXPECT_FALSE(io::json_load_file(p, &j, &err));
  EXPECT_CONTAINS(err, p);
  EXPECT_CONTAINS(err, "line 2, column 14");

  JsonLimits lim;
  lim.max_size = 8;
  EXPECT_FALSE(io::json_load_file(p, &j, &err, lim));
  EXPECT_CONTAINS(err, "max_size");

  const std::string missing = tmp_path("missing.json");
  EXPECT_FALSE(io::json_load_file(missing, &j, &err));
  EXPECT_CONTAINS(err, missing);
  EXPECT_FALSE(io::json_load_file(::testing::TempDir(), &j, &err));  // a directory
  EXPECT_CONTAINS(err, "not a regular file");
  write_file(p, {});
  EXPECT_FALSE(io::json_load_file(p, &j, &err));
  EXPECT_CONTAINS(err, "end of input");
}

TEST(Json, MutatedInputsDoNotCrash) {
  const std::string good =
      R"({"a":[1,-2.5e-3,true,false,null,"s\u00e9\ud83d\ude00"],"b":{"c":{}}})";
  std::mt19937 rng(99);
  const char alphabet[] = "[]{}\",:\\u0e-+.9 \x01\xff";
  for (int it = 0; it < 20000; ++it) {
    std::string s = good;
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[pos] = alphabet[rng() % (sizeof alphabet - 1)]; break;
        case 1: s.erase(pos, 1); break;
        default: s.insert(pos, 1, alphabet[rng() % (sizeof alphabet - 1)]); break;
      }
    }
    Json j;
    std::string err;
    if (io::json_parse(s, &j, &err)) {
      Json k;
      EXPECT_TRUE(io::json_parse(j.dump(), &k, &err)) << s;  // dump output always parses
    } else {
      EXPECT_FALSE(err.empty());
    }
  }
}

}  // namespace

// ---- Hostile files (issue 8) -------------------------------------------------------

#include <sys/stat.h>

#include "golden.h"

namespace {

// Devices, FIFOs and folders are refused by name, never read (a read of
// /dev/zero would never end, a FIFO would block).
TEST(Hostile, SpecialFilesAreRefused) {
  const std::string fifo = tmp_path("fifo.npy");
  std::remove(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& p : {std::string("/dev/zero"), std::string("/dev/null"), ::testing::TempDir(), fifo}) {
    SCOPED_TRACE(p);
    NpyArray a;
    std::string err;
    EXPECT_FALSE(io::npy_load(p, &a, &err));
    EXPECT_CONTAINS(err, p);
    Json j;
    std::string jerr;
    EXPECT_FALSE(io::json_load_file(p, &j, &jerr));
    EXPECT_FALSE(jerr.empty());
  }
}

// A file whose header declares 2^40 x 2^20 floats: refused from the header
// and the file size alone (a huge allocation would abort under ASan).
TEST(Hostile, HugeDeclaredShapeOnDiskIsRefusedBeforeAllocating) {
  const std::string p = tmp_path("huge.npy");
  write_file(p, make_npy(dict("<f4", "(1099511627776, 1048576)"), {1, 2, 3, 4}));
  NpyArray a;
  std::string err;
  NpyLimits lim;
  lim.max_bytes = std::numeric_limits<int64_t>::max();  // only the file size can stop it
  EXPECT_FALSE(io::npy_load(p, &a, &err, lim));
  EXPECT_FALSE(err.empty());
  write_file(p, make_npy(dict("<f8", "(536870912,)"), {1, 2, 3, 4}));  // 4 GiB declared, 4 bytes there
  lim.max_bytes = int64_t(1) << 40;
  EXPECT_FALSE(io::npy_load(p, &a, &err, lim));
  EXPECT_CONTAINS(err, "truncated");
}

// run_manifest_text: the manifest fuzzer's entry point.
TEST(Hostile, ManifestText) {
  const std::string data = std::string(ATTNGEN_GOLDEN_DIR) + "/..";
  std::vector<attngen::cli::CaseResult> r;
  std::string err;
  EXPECT_FALSE(attngen::cli::run_manifest_text(data, "{\"format\": 1, \"cases\": [", "", &r, &err));
  EXPECT_CONTAINS(err, "line 1");
  EXPECT_FALSE(attngen::cli::run_manifest_text(data, "[]", "", &r, &err));
  EXPECT_FALSE(attngen::cli::run_manifest_text(data, "{\"format\": 2, \"cases\": []}", "", &r, &err));
  EXPECT_CONTAINS(err, "format");
  EXPECT_FALSE(attngen::cli::run_manifest_text(data, "{}", "", nullptr, &err));
  // A real golden case by its path under tests/data, and two escapes.
  const std::string text = R"({"format": 1, "cases": [
      {"name": "golden/dense_causal", "variant": "dense", "params": {"causal": true},
       "files": {"q": "q.npy", "k": "k.npy", "v": "v.npy", "expected": "expected.npy"}},
      {"name": "golden/../golden/dense_causal", "variant": "dense",
       "files": {"q": "q.npy", "k": "k.npy", "v": "v.npy", "expected": "expected.npy"}},
      {"name": "golden/dense_causal_2", "variant": "dense",
       "files": {"q": "../dense_causal/q.npy", "k": "k.npy", "v": "v.npy", "expected": "expected.npy"}}]})";
  ASSERT_TRUE(attngen::cli::run_manifest_text(data, text, "", &r, &err)) << err;
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(r[0].pass) << r[0].reason;
  EXPECT_FALSE(r[1].pass);
  EXPECT_CONTAINS(r[1].reason, "..");
  EXPECT_FALSE(r[2].pass);
  EXPECT_CONTAINS(r[2].reason, "..");
}

// tests/data/hostile in process (the ctest hostile_check runs the CLI):
// every case fails with a reason, nothing escapes, and (under LSan) nothing
// leaks on any of the error paths.
TEST(Hostile, EveryHostileCaseFailsWithAReason) {
  const std::string dir = std::string(ATTNGEN_GOLDEN_DIR) + "/../hostile";
  Json m;
  std::string err;
  ASSERT_TRUE(io::json_load_file(dir + "/manifest.json", &m, &err)) << err;
  const size_t n = m.find("cases")->as_array().size();
  std::vector<attngen::cli::CaseResult> r;
  ASSERT_TRUE(attngen::cli::run_manifest(dir, "", &r, &err)) << err;
  ASSERT_EQ(r.size(), n);
  for (const auto& c : r) {
    SCOPED_TRACE(c.name);
    EXPECT_FALSE(c.pass);
    EXPECT_FALSE(c.reason.empty());
    EXPECT_EQ(attngen::cli::format_result_line(c).find('\n'), std::string::npos);
  }
  auto reason_of = [&](const std::string& name) {
    for (const auto& c : r)
      if (c.name == name) return c.reason;
    ADD_FAILURE() << "no case " << name;
    return std::string();
  };
  EXPECT_CONTAINS(reason_of("npy_truncated_data"), "truncated");
  EXPECT_CONTAINS(reason_of("npy_bad_magic"), "magic");
  EXPECT_CONTAINS(reason_of("npy_big_endian"), "big-endian");
  EXPECT_CONTAINS(reason_of("npy_fortran_order"), "fortran_order");
  EXPECT_CONTAINS(reason_of("npy_beyond_size_limit"), "exceeds limit");
  EXPECT_CONTAINS(reason_of("npy_huge_declared_shape"), "exceeds limit");
  EXPECT_CONTAINS(reason_of("npy_header_length_huge"), "header length");
  EXPECT_CONTAINS(reason_of("shape_head_dim_mismatch"), "head dim");
  EXPECT_CONTAINS(reason_of("path_traversal_dotdot"), "'..'");
  EXPECT_CONTAINS(reason_of("path_absolute"), "absolute");
  EXPECT_CONTAINS(reason_of("path_is_directory"), "not a regular file");
  EXPECT_CONTAINS(reason_of("missing_file"), "cannot open");
  EXPECT_CONTAINS(reason_of("param_block_huge"), "elements exceed");  // it ran: values differ
  EXPECT_CONTAINS(reason_of("nan_in_q_row"), "elements exceed");
}

}  // namespace
