// Tests of the autotuner (issue 5): search space constraints, seeded
// sampling, successive halving, the database files (round trips, errors as
// values, exact-key lookup) and, through the attngen_tune executable,
// failures recorded while the search goes on.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "cpu_schedule.h"
#include "gpu_limits.h"
#include "gpu_schedule.h"
#include "tuning.h"

using namespace attngen;
using namespace attngen::tune;

namespace {

Key key(const std::string &variant, const std::string &bucket = "prefill", int hd = 64,
        const std::string &target = "x86-64-avx512") {
    Key k;
    k.variant = variant;
    k.dtype = "f32";
    k.target = target;
    k.head_dim = hd;
    k.bucket = bucket;
    k.halide = "14.0.0";
    return k;
}

Record rec(const Key &k, const std::string &session, const std::string &role, const std::string &params,
           double median, int rung, const std::string &status = "ok") {
    static int n = 0;
    Record r;
    r.id = session + "-" + std::to_string(++n);
    r.session = session;
    r.time = "2026-11-22T12:00:00Z";
    r.key = k;
    r.workload = "dalle";
    r.role = role;
    r.params = params;
    r.status = status;
    r.median_s = status == "ok" ? median : 0;
    r.min_s = r.median_s * 0.9;
    r.rung = rung;
    r.flops = 1e9;
    if (status != "ok") r.error = "it broke";
    return r;
}

}  // namespace

TEST(TuningSpace, EveryEnumeratedPointIsLegal) {
    struct Case {
        std::string variant, bucket, target;
        int hd;
    };
    const std::vector<Case> cases = {
        {"dense", "prefill", "x86-64-avx512", 64},  {"dense", "prefill", "x86-64-avx512", 128},
        {"dense", "prefill", "x86-64-avx512", 0},   {"dense", "decode", "x86-64-avx512", 64},
        {"dense", "group", "x86-64-avx512", 64},    {"chunked", "prefill", "x86-64-avx512", 40},
        {"sparse_conv", "prefill", "x86-64-avx512", 64}, {"sparse_axial_col", "prefill", "x86-64-avx2", 0},
        {"block_sparse", "prefill", "x86-64-avx512", 64}, {"dense", "prefill", "arm-64", 40},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.variant + " " + c.bucket + " " + c.target + " d" + std::to_string(c.hd));
        Space sp;
        std::string err;
        ASSERT_TRUE(make_space(key(c.variant, c.bucket, c.hd, c.target), &sp, &err)) << err;
        const std::vector<Knobs> pts = sp.enumerate();
        ASSERT_FALSE(pts.empty());
        size_t product = sp.tq.size() * sp.kc.size() * sp.kci.size() * sp.vec.size() * sp.rq.size() *
                         sp.rk.size() * sp.qvec.size() * sp.threads_split.size() * sp.lanes.size();
        EXPECT_LT(pts.size(), product) << "the constraints removed nothing";
        std::set<std::string> seen;
        for (const Knobs &k : pts) {
            EXPECT_EQ(check_cpu_knobs(k, c.hd), "") << k.params_string();
            EXPECT_EQ(sp.valid(k), "");
            EXPECT_TRUE(seen.insert(k.params_string()).second) << "duplicate " << k.params_string();
            if (c.variant == "block_sparse") {
                EXPECT_EQ(k.tq, k.kc);
                EXPECT_EQ(16 % k.kc, 0);
            }
            EXPECT_EQ(k.qvec, c.bucket == "decode" ? 0 : 1);
            if (c.variant.rfind("sparse_", 0) == 0) {
                EXPECT_GT(k.kci, 0);  // any kci >= 1 on the CPU (its image tile divides kci)
            }
            if (c.target == "x86-64-avx2") {
                EXPECT_EQ(k.vec, 8);
            }
            if (c.target == "arm-64") {
                EXPECT_EQ(k.vec, 4);
            }
        }
    }
}

TEST(TuningSpace, RejectsIllegalPoints) {
    Space sp;
    std::string err;
    ASSERT_TRUE(make_space(key("dense"), &sp, &err));
    Knobs k;  // tq=32 kc=64 vec=16 rq=4 rk=8 qvec=1: legal
    EXPECT_EQ(sp.valid(k), "");
    Knobs big = k;
    big.tq = 128;
    big.rk = 16;  // 16 * 8 accumulators: far over 32 registers
    EXPECT_NE(sp.valid(big), "");
    Knobs odd = k;
    odd.tq = 48;  // not in the space
    EXPECT_NE(sp.valid(odd), "");
    Knobs qv0 = k;
    qv0.qvec = 0;  // prefill with keys vectorised: not in the prefill space
    EXPECT_NE(sp.valid(qv0), "");
    EXPECT_FALSE(make_space(key("nope"), &sp, &err));
    EXPECT_NE(err.find("unknown variant"), std::string::npos);
    EXPECT_FALSE(make_space(key("chunked", "decode"), &sp, &err));
    EXPECT_FALSE(make_space(key("dense", "prefill", 64, "x86-64-sse41"), &sp, &err));
}

TEST(TuningSpace, GpuSpaceFitsABlock) {
    struct Case {
        std::string variant, bucket;
        int hd;
    };
    const std::vector<Case> cases = {{"dense", "prefill", 64},      {"dense", "prefill", 128},
                                     {"dense", "prefill", 0},       {"dense", "decode", 64},
                                     {"dense", "group", 64},        {"chunked", "prefill", 40},
                                     {"sparse_conv", "prefill", 64}, {"sparse_axial_row", "prefill", 0},
                                     {"block_sparse", "prefill", 64}};
    for (const Case &c : cases) {
        SCOPED_TRACE(c.variant + " " + c.bucket + " d" + std::to_string(c.hd));
        Space sp;
        std::string err;
        ASSERT_TRUE(make_space(key(c.variant, c.bucket, c.hd, "cuda-sm80"), &sp, &err)) << err;
        EXPECT_EQ(sp.family, "cuda");
        const std::vector<Knobs> pts = sp.enumerate();
        ASSERT_FALSE(pts.empty());
        size_t product = sp.tq.size() * sp.kc.size() * sp.kci.size() * sp.vec.size() * sp.rq.size() *
                         sp.rk.size() * sp.qvec.size() * sp.threads_split.size() * sp.lanes.size();
        EXPECT_LT(pts.size(), product) << "the constraints removed nothing";
        const bool sparse = c.variant.rfind("sparse_", 0) == 0;
        const int D = c.hd > 0 ? c.hd : 64;
        for (const Knobs &k : pts) {
            SCOPED_TRACE(k.params_string());
            EXPECT_EQ(check_gpu_knobs(k, c.hd, sparse ? 2 : 1), "");
            if (k.lanes) {
                // One warp per block, state in registers (GpuLaneFamilyPoints).
                EXPECT_EQ(k.tq, 32);
                continue;
            }
            const int64_t threads = gpu::threads(k.tq, k.rq, std::max(k.kc, k.kci), k.rk, D, k.vec);
            EXPECT_GE(threads, 32);
            EXPECT_LE(threads, gpu::kMaxThreads);
            EXPECT_LE(gpu::shared_floats(k.tq, std::max(k.kc, k.kci), D, sparse ? 2 : 1) * 4, gpu::kSharedBytes);
            EXPECT_EQ(k.tq % k.rq, 0);
            EXPECT_EQ(k.kc % k.rk, 0);
            if (c.bucket == "decode") {
                EXPECT_EQ(k.tq, 1);
            }
            if (sparse) {
                EXPECT_GT(k.kci, 0);
            }
        }
    }
    Space sp;
    std::string err;
    ASSERT_TRUE(make_space(key("dense", "prefill", 64, "cuda-sm80"), &sp, &err));
    Knobs k;
    k.tq = 16, k.kc = 64, k.vec = 4, k.rq = 2, k.rk = 4, k.qvec = 1, k.threads_split = 1;  // the GPU hand default
    EXPECT_EQ(sp.valid(k), "");
    Knobs wide = k;
    wide.vec = 8;  // no float8 loads
    EXPECT_NE(sp.valid(wide), "");
    Knobs many = k;
    many.tq = 64, many.rq = 1, many.kc = 128, many.rk = 1;  // 64 x 128 threads
    EXPECT_NE(sp.valid(many), "");
}

// The lane family (knob lanes=1, schedules/gpu_schedule.cpp) is in the GPU
// spaces of dense, chunked and DALL-E sparse prefill kernels with a fixed
// head dim up to 64, in one canonical form per chunk size, and nowhere else.
TEST(TuningSpace, GpuLaneFamilyPoints) {
    auto lane_points = [](const std::string &variant, int hd, const std::string &target) {
        Space sp;
        std::string err;
        EXPECT_TRUE(make_space(key(variant, "prefill", hd, target), &sp, &err)) << err;
        std::vector<Knobs> out;
        for (const Knobs &k : sp.enumerate()) {
            if (k.lanes) out.push_back(k);
        }
        return out;
    };
    struct Case {
        std::string variant;
        int hd;
        size_t points;
    };
    for (const Case &c : std::vector<Case>{{"dense", 64, 4},  // kc 4, 8, 16, 32
                                           {"chunked", 40, 4},
                                           {"sparse_conv", 64, 16}}) {  // kc, kci 4, 8, 16, 32
        SCOPED_TRACE(c.variant);
        const std::vector<Knobs> pts = lane_points(c.variant, c.hd, "cuda-sm80");
        ASSERT_EQ(pts.size(), c.points);
        for (const Knobs &k : pts) {
            EXPECT_EQ(k.tq, 32);
            EXPECT_EQ(k.rq, 1);
            EXPECT_LE(k.kc, 32);
            EXPECT_NE(k.params_string().find(" lanes=1"), std::string::npos);
            Knobs parsed;
            std::string err;
            ASSERT_TRUE(parse_params(k.params_string(), &parsed, &err)) << err;
            EXPECT_TRUE(same_knobs(parsed, k));
        }
    }
    EXPECT_TRUE(lane_points("dense", 128, "cuda-sm80").empty());  // state past the registers
    EXPECT_TRUE(lane_points("dense", 0, "cuda-sm80").empty());    // generic head dim
    EXPECT_TRUE(lane_points("block_sparse", 64, "cuda-sm80").empty());  // 16-token blocks
    EXPECT_TRUE(lane_points("dense", 64, "x86-64-avx512").empty());
    Knobs k;
    k.tq = 32, k.kc = 8, k.vec = 4, k.rq = 1, k.rk = 4, k.lanes = 1;  // the hand default at d64
    EXPECT_EQ(check_gpu_knobs(k, 64, 1), "");
    EXPECT_NE(check_gpu_knobs(k, 0, 1), "");   // needs a fixed head dim
    EXPECT_NE(check_gpu_knobs(k, 66, 1), "");  // a multiple of 4
    Knobs image = k;
    image.kci = 64;  // image scores past the registers
    EXPECT_NE(check_gpu_knobs(image, 64, 2), "");
    Knobs half = k;
    half.tq = 16;  // half a warp
    EXPECT_NE(check_gpu_knobs(half, 64, 1), "");
    Knobs wide = k;
    wide.kc = 64;  // scores past the registers
    EXPECT_NE(check_gpu_knobs(wide, 64, 1), "");
    Knobs cpu = k;
    cpu.vec = 16;
    EXPECT_NE(check_cpu_knobs(cpu, 64), "");  // a GPU knob
}

TEST(TuningSearch, SameSeedSameSequence) {
    Space sp;
    std::string err;
    ASSERT_TRUE(make_space(key("dense"), &sp, &err));
    const Knobs def;
    auto a = sample(sp, 12, 42, {def}), b = sample(sp, 12, 42, {def}), c = sample(sp, 12, 43, {def});
    ASSERT_EQ(a.size(), 12u);
    ASSERT_EQ(b.size(), 12u);
    bool differs = false;
    std::set<std::string> seen;
    for (size_t i = 0; i < a.size(); i++) {
        EXPECT_TRUE(same_knobs(a[i], b[i])) << i;
        differs |= !same_knobs(a[i], c[i]);
        EXPECT_TRUE(seen.insert(a[i].params_string()).second) << "drawn twice";
        EXPECT_FALSE(same_knobs(a[i], def)) << "the default is measured separately";
        EXPECT_EQ(sp.valid(a[i]), "");
    }
    EXPECT_TRUE(differs) << "another seed gives another sequence";
    // Asking for more than the space holds gives every point once.
    EXPECT_EQ(sample(sp, 100000, 1).size(), sp.enumerate().size());
    // The PRNG is fixed (splitmix64), not the standard library's.
    Rng r(0);
    EXPECT_EQ(r.next(), 0xE220A8397B1DCDAFull);
}

TEST(TuningSearch, SuccessiveHalvingDropsFailuresAndKeepsTheFastest) {
    // Candidate i takes i ms; 3 and 5 fail; 0 fails on rung 1.
    std::vector<int> calls(10, 0);
    auto ranking = successive_halving(10, 3, 3, 2, [&](size_t i, int rung) {
        calls[i]++;
        Measurement m;
        m.ok = !(i == 3 || i == 5 || (i == 0 && rung == 1));
        m.median_s = double(i) * 1e-3;
        return m;
    });
    ASSERT_FALSE(ranking.empty());
    EXPECT_EQ(ranking[0], 1u);
    for (size_t i : ranking) EXPECT_TRUE(i != 3 && i != 5 && i != 0);
    EXPECT_EQ(calls[9], 1) << "a slow candidate is dropped after rung 0";
    EXPECT_EQ(calls[3], 1);
    EXPECT_GE(calls[1], 2) << "the fastest is re-measured";
}

TEST(TuningDb, LogRoundTrip) {
    Key k = key("sparse_axial_row");
    k.rotary = true;
    k.dtype = "bf16";
    Record r = rec(k, "S1", "candidate", "tq=32 kc=96 vec=16 rq=4 rk=8 qvec=1 threads_split=1 kci=32", 0.0123, 2);
    r.max_err = 3.5e-6;
    r.seed = 77;
    r.runner = "remote:ssh host {artifact} {args}";
    Record f = rec(key("dense"), "S1", "candidate", "tq=64 kc=64 vec=16 rq=4 rk=2 qvec=1 threads_split=0", 0, 0,
                   "wrong_answer");
    const std::string text = record_to_json(r) + "\n" + record_to_json(f) + "\n";
    std::vector<Record> back;
    std::string err;
    ASSERT_TRUE(parse_log(text, &back, &err)) << err;
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[0].key, r.key);
    EXPECT_EQ(back[0].params, r.params);
    EXPECT_EQ(back[0].median_s, r.median_s);
    EXPECT_EQ(back[0].max_err, r.max_err);
    EXPECT_EQ(back[0].seed, 77u);
    EXPECT_EQ(back[0].rung, 2);
    EXPECT_EQ(back[0].runner, r.runner);
    EXPECT_EQ(back[1].status, "wrong_answer");
    EXPECT_EQ(back[1].error, "it broke");
    EXPECT_EQ(record_to_json(back[0]), record_to_json(r));

    // Append-only file: two appends, one read.
    char tmpl[] = "/tmp/attngen_tuning_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string path = std::string(tmpl) + "/log.jsonl";
    ASSERT_TRUE(append_log(path, r, &err)) << err;
    ASSERT_TRUE(append_log(path, f, &err)) << err;
    ASSERT_TRUE(read_log(path, &back, &err)) << err;
    EXPECT_EQ(back.size(), 2u);
    std::remove(path.c_str());
    rmdir(tmpl);
}

TEST(TuningDb, MalformedLogsAreErrorsNamingTheLine) {
    const std::string good = record_to_json(rec(key("dense"), "S", "default", "tq=32 kc=128 vec=16 rq=4 rk=8 qvec=1 threads_split=1", 0.01, 0));
    std::vector<Record> out;
    std::string err;
    const std::vector<std::pair<std::string, std::string>> bad = {
        {good + "\n{\"id\":", "line 2"},                                  // torn last line
        {good + "\n[1,2]", "not a JSON object"},
        {std::string(good).replace(good.find("\"dense\""), 7, "\"dance\""), "unknown variant"},
        {std::string(good).replace(good.find("\"ok\""), 4, "\"fine\""), "unknown status"},
        {std::string(good).replace(good.find("tq=32"), 5, "tq=x"), "params"},
        {std::string(good).replace(good.find("\"median_s\":"), 11, "\"median_s\":-"), "median_s"},
    };
    for (const auto &[text, what] : bad) {
        EXPECT_FALSE(parse_log(text, &out, &err)) << text;
        EXPECT_EQ(err.rfind("line ", 0), 0u) << err;
        EXPECT_NE(err.find(what), std::string::npos) << err;
    }
    EXPECT_FALSE(read_log("/nonexistent/log.jsonl", &out, &err));
    EXPECT_NE(err.find("cannot open"), std::string::npos);
}

TEST(TuningDb, BestTableRoundTripAndExactKeys) {
    BestEntry e;
    e.key = key("dense");
    e.params = "tq=32 kc=64 vec=16 rq=2 rk=2 qvec=1 threads_split=1";
    e.source = "tuned 2026-11-22 S-3 on dalle: 12.6 ms, 1.97x vs hand default";
    BestEntry e2 = e;
    e2.key.variant = "sparse_conv";
    e2.params = "tq=32 kc=96 vec=16 rq=4 rk=8 qvec=1 threads_split=1 kci=32";
    const std::string text = format_best({e, e2});
    std::vector<BestEntry> back;
    std::string err;
    ASSERT_TRUE(parse_best(text, &back, &err)) << err;
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(format_best(back), text);
    ASSERT_NE(find_best(back, e.key), nullptr);
    EXPECT_EQ(find_best(back, e.key)->params, e.params);
    // Any key field differing: no record (never served across keys).
    for (int f = 0; f < 7; f++) {
        Key k = e.key;
        switch (f) {
        case 0: k.target = "x86-64-avx2"; break;
        case 1: k.halide = "15.0.0"; break;
        case 2: k.head_dim = 128; break;
        case 3: k.bucket = "decode"; break;
        case 4: k.dtype = "f16"; break;
        case 5: k.rotary = true; break;
        case 6: k.variant = "chunked"; break;
        }
        EXPECT_EQ(find_best(back, k), nullptr) << "field " << f;
    }
}

TEST(TuningDb, MalformedTablesAreRefused) {
    std::vector<BestEntry> out;
    std::string err;
    const std::string ok = "attngen_dense_f32_d64_prefill|x86-64-avx512|14.0.0|tq=32 kc=64 vec=16 rq=2 rk=2 qvec=1 threads_split=1|tuned x\n";
    ASSERT_TRUE(parse_best("# comment\n\n" + ok, &out, &err)) << err;
    const std::vector<std::string> bad = {
        "attngen_dense_f32_d64_prefill|x86-64-avx512|14.0.0|tq=32\n",                         // 4 fields
        "attngen_dance_f32_d64_prefill|x86-64-avx512|14.0.0|tq=32 kc=64 vec=16 rq=2 rk=2 qvec=1 threads_split=1|s\n",
        "attngen_dense_f32_d64_prefill|x86-64-avx512|14.0.0|tq=32 kc=64 vec=16 rq=2 rk=2 qvec=1 threads_split=1 bogus=1|s\n",
        "attngen_dense_f32_d64_prefill|x86-64-avx512|14.0.0|tq=128 kc=64 vec=16 rq=2 rk=16 qvec=1 threads_split=1|s\n",  // spills
        "attngen_dense_f32_d64_prefill|x86-64-avx512|14.0.0|kc=64 tq=32 vec=16 rq=2 rk=2 qvec=1 threads_split=1|s\n",  // order
        "attngen_dense_f32_d64_prefill|x86-64-avx512|14.0.0|tq=32 kc=64 vec=16 rq=2 rk=2 qvec=1 threads_split=1|a;b\n",
        ok + ok,  // duplicate key
        "attngen_dense_f32_dx_prefill|x86-64-avx512|14.0.0|tq=32 kc=64 vec=16 rq=2 rk=2 qvec=1 threads_split=1|s\n",
    };
    for (const std::string &t : bad) {
        EXPECT_FALSE(parse_best(t, &out, &err)) << t;
        EXPECT_EQ(err.rfind("line ", 0), 0u) << err;
    }
}

TEST(TuningDb, BestFromLogTakesTheLatestSessionsDeepestRung) {
    const Key k = key("dense");
    const std::string d = "tq=32 kc=128 vec=16 rq=4 rk=8 qvec=1 threads_split=1",
                      a = "tq=32 kc=64 vec=16 rq=2 rk=2 qvec=1 threads_split=1",
                      b = "tq=64 kc=64 vec=16 rq=4 rk=2 qvec=1 threads_split=0";
    std::vector<Record> log = {
        rec(k, "20260101T000000Z-1", "default", d, 0.020, 0), rec(k, "20260101T000000Z-1", "candidate", b, 0.001, 0),
        rec(k, "20261122T000000Z-2", "default", d, 0.025, 0), rec(k, "20261122T000000Z-2", "candidate", a, 0.010, 0),
        rec(k, "20261122T000000Z-2", "candidate", b, 0.005, 0),  // fast on a short rung only
        rec(k, "20261122T000000Z-2", "candidate", "tq=16 kc=32 vec=16 rq=1 rk=2 qvec=1 threads_split=1", 0, 0, "crash"),
        rec(k, "20261122T000000Z-2", "default", d, 0.025, 1), rec(k, "20261122T000000Z-2", "candidate", a, 0.020, 1),
    };
    auto best = best_from_log(log);
    ASSERT_EQ(best.size(), 1u);
    EXPECT_EQ(best[0].params, a);
    EXPECT_NE(best[0].source.find("1.25x"), std::string::npos) << best[0].source;
    // The default winning is recorded as such.
    log.push_back(rec(k, "20261123T000000Z-3", "default", d, 0.010, 0));
    log.push_back(rec(k, "20261123T000000Z-3", "candidate", a, 0.011, 0));
    best = best_from_log(log);
    ASSERT_EQ(best.size(), 1u);
    EXPECT_EQ(best[0].params, d);
    EXPECT_NE(best[0].source.find("hand default won"), std::string::npos);
    // Every generated table is accepted by the reader.
    std::vector<BestEntry> back;
    std::string err;
    EXPECT_TRUE(parse_best(format_best(best), &back, &err)) << err;
}

// The confirmation rung measures the default and the winner several times,
// interleaved: the table compares their medians, so one lucky measurement
// (a burst of load elsewhere during the other's run) does not win.
TEST(TuningDb, BestFromLogComparesMediansOfTheConfirmationRung) {
    const Key k = key("dense");
    const std::string s = "20261123T000000Z-4";
    const std::string d = "tq=32 kc=128 vec=16 rq=4 rk=8 qvec=1 threads_split=1",
                      a = "tq=32 kc=64 vec=16 rq=2 rk=2 qvec=1 threads_split=1",
                      b = "tq=64 kc=64 vec=16 rq=4 rk=2 qvec=1 threads_split=0";
    std::vector<Record> log = {
        rec(k, s, "default", d, 0.0070, 0), rec(k, s, "candidate", a, 0.0064, 0), rec(k, s, "candidate", b, 0.0090, 0),
        rec(k, s, "default", d, 0.0067, 1), rec(k, s, "candidate", a, 0.0064, 1),
    };
    const double dt[] = {0.0060, 0.0061, 0.0090, 0.0062, 0.0059}, at[] = {0.0065, 0.0050, 0.0064, 0.0066, 0.0063};
    for (int r = 0; r < 5; r++) {
        log.push_back(rec(k, s, "default", d, dt[r], 2));
        log.push_back(rec(k, s, "candidate", a, at[r], 2));
    }
    const std::map<std::string, RungPoint> pts = deepest_points(log, k, s);
    ASSERT_EQ(pts.size(), 3u);
    EXPECT_EQ(pts.at(d).rung, 2);
    EXPECT_DOUBLE_EQ(pts.at(d).median_s, 0.0061);
    EXPECT_DOUBLE_EQ(pts.at(a).median_s, 0.0064);
    EXPECT_EQ(pts.at(b).rung, 0);
    auto best = best_from_log(log);
    ASSERT_EQ(best.size(), 1u);
    EXPECT_EQ(best[0].params, d);  // 6.1 ms against 6.4, though a ran the single fastest measurement
    EXPECT_NE(best[0].source.find("6.100 ms"), std::string::npos) << best[0].source;
    EXPECT_NE(best[0].source.find("hand default won"), std::string::npos) << best[0].source;
}

TEST(TuningDb, KernelNamesAndTargets) {
    Key k;
    std::string err;
    ASSERT_TRUE(parse_kernel_name("attngen_sparse_axial_col_bf16_dany_prefill_rot", &k, &err)) << err;
    EXPECT_EQ(k.variant, "sparse_axial_col");
    EXPECT_EQ(k.dtype, "bf16");
    EXPECT_EQ(k.head_dim, 0);
    EXPECT_TRUE(k.rotary);
    EXPECT_EQ(k.kernel_name(), "attngen_sparse_axial_col_bf16_dany_prefill_rot");
    EXPECT_FALSE(parse_kernel_name("attngen_dense_f64_d64_prefill", &k, &err));
    EXPECT_FALSE(parse_kernel_name("dense_f32_d64_prefill", &k, &err));
    EXPECT_FALSE(parse_kernel_name("attngen_dense_f32_d64_later", &k, &err));
    EXPECT_EQ(target_level("x86-64-linux-avx512_skylake-avx2-avx-f16c-fma-sse41-user_context"), "x86-64-avx512");
    EXPECT_EQ(target_level("x86-64-linux-avx2-avx-f16c-fma-sse41-user_context"), "x86-64-avx2");
    EXPECT_EQ(target_level("x86-64-linux-sse41"), "x86-64-sse41");
    EXPECT_EQ(target_level("x86-64-linux-user_context"), "x86-64");
    EXPECT_EQ(target_level("arm-64-linux-user_context"), "arm-64");
    EXPECT_EQ(target_level("x86-64-linux-avx2-cuda-cuda_capability_86-user_context"), "cuda-sm86");
}

#ifdef ATTNGEN_TUNE_EXE
namespace {
int run(const std::string &cmd, std::string *out) {
    FILE *p = popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return -1;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
}  // namespace

// A real tuning run on a small shape through a runner template that makes
// candidate c1 crash, c2 hang and c3 report a wrong answer (the template
// is the "remote" path, run locally): every failure is a record, the
// default and the remaining candidate are measured, the search finishes.
TEST(TuningRun, FailuresAreRecordedAndTheSearchGoesOn) {
    char tmpl[] = "/tmp/attngen_tuning_run_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl, log = dir + "/log.jsonl";
    std::ofstream(dir + "/wrap.sh")
        << "case \"$1\" in\n"
           "  */c1/*) kill -SEGV $$ ;;\n"
           "  */c2/*) sleep 30 ;;\n"
           "  */c3/*) echo '{\"ok\":false,\"status\":\"wrong_answer\",\"error\":\"injected\"}'; exit 1 ;;\n"
           "  *) exec \"$@\" ;;\n"
           "esac\n";
    const std::string cmd = std::string(ATTNGEN_TUNE_EXE) +
                            " run --variant dense --shape 'B=1 H=2 N=128 D=64 causal=1' --budget 4 --rungs 1 --seed 5 "
                            "--min-time 0.001 --repeats 1 --timeout 5 --log " + log + " --work " + dir +
                            "/work --remote 'sh " + dir + "/wrap.sh {artifact} {args}'";
    std::string out;
    const int rc = run(cmd, &out);
    ASSERT_EQ(rc, 0) << out;
    std::vector<Record> recs;
    std::string err;
    ASSERT_TRUE(read_log(log, &recs, &err)) << err << "\n" << out;
    std::map<std::string, int> by_status;
    for (const Record &r : recs) by_status[r.status]++;
    EXPECT_EQ(recs.size(), 5u) << out;
    EXPECT_EQ(by_status["crash"], 1) << out;
    EXPECT_EQ(by_status["timeout"], 1) << out;
    EXPECT_EQ(by_status["wrong_answer"], 1) << out;
    EXPECT_EQ(by_status["ok"], 2) << out;
    EXPECT_EQ(recs[0].role, "default");
    EXPECT_EQ(recs[0].status, "ok");
    for (const Record &r : recs) {
        EXPECT_EQ(r.key.kernel_name(), "attngen_dense_f32_d64_prefill");
        EXPECT_EQ(r.runner.rfind("remote:", 0), 0u);
        if (r.status == "ok") {
            EXPECT_GT(r.median_s, 0);
            EXPECT_LT(r.max_err, 1e-3);
        } else {
            EXPECT_FALSE(r.error.empty());
        }
    }
    // The best table from this log names one of the measured points.
    const std::string best = dir + "/best.txt";
    out.clear();
    ASSERT_EQ(run(std::string(ATTNGEN_TUNE_EXE) + " best --log " + log + " --out " + best, &out), 0) << out;
    std::vector<BestEntry> es;
    ASSERT_TRUE(read_best(best, &es, &err)) << err;
    ASSERT_EQ(es.size(), 1u);
    // Bad input: an unknown variant and a malformed log are clear errors.
    out.clear();
    EXPECT_EQ(run(std::string(ATTNGEN_TUNE_EXE) + " run --variant dance", &out), 2);
    EXPECT_NE(out.find("unknown variant"), std::string::npos) << out;
    std::ofstream(dir + "/bad.jsonl") << "{\"id\":\n";
    out.clear();
    EXPECT_EQ(run(std::string(ATTNGEN_TUNE_EXE) + " check " + dir + "/bad.jsonl", &out), 1);
    EXPECT_NE(out.find("line 1"), std::string::npos) << out;
    out.clear();
    run("rm -rf " + dir, &out);
}

// A temporary directory for staged tuner runs, removed with the test.
struct StageDir {
    std::string dir, log, stage;
    explicit StageDir(const std::string &prefix) {
        std::string t = "/tmp/" + prefix + "_XXXXXX";
        if (mkdtemp(t.data())) dir = t;
        log = dir + "/log.jsonl";
        stage = dir + "/stage";
    }
    ~StageDir() {
        std::string out;
        if (!dir.empty()) run("rm -rf " + dir, &out);
    }
    // attngen_tune run OPTS --stage <stage>, one rung, short measurements.
    int stage_run(const std::string &opts, std::string *out) const {
        return run(std::string(ATTNGEN_TUNE_EXE) + " run " + opts +
                       " --rungs 1 --seed 3 --min-time 0.001 --repeats 1 --timeout 30 --log " + log + " --work " +
                       dir + "/work --stage " + stage,
                   out);
    }
};

// A staged run (attngen_tune run --stage, for machines the tuner cannot
// reach by command): the artifacts and run.sh are written, run.sh runs them
// where they are copied to, and import turns their reports into records;
// a candidate whose report is missing is a recorded failure.
TEST(TuningRun, StagedRunAndImport) {
    const StageDir d("attngen_tuning_stage");
    ASSERT_FALSE(d.dir.empty());
    std::string out;
    ASSERT_EQ(d.stage_run("--variant dense --shape 'B=1 H=2 N=96 D=64 causal=1' --budget 2", &out), 0) << out;
    std::ifstream plan(d.stage + "/plan.tsv");
    int lines = 0;
    for (std::string l; std::getline(plan, l);) lines++;
    EXPECT_EQ(lines, 3) << out;  // the default and two candidates
    // Nothing measured yet: the log has no record of this session.
    std::vector<Record> recs;
    std::string err;
    EXPECT_FALSE(read_log(d.log, &recs, &err) && !recs.empty());
    // "Elsewhere": run the stage, then lose one candidate's report.
    out.clear();
    ASSERT_EQ(run("sh " + d.stage + "/run.sh", &out), 0) << out;
    std::remove((d.stage + "/out/c2.rc").c_str());
    out.clear();
    ASSERT_EQ(run(std::string(ATTNGEN_TUNE_EXE) + " import " + d.stage + " --log " + d.log + " --runner test-box", &out),
              0)
        << out;
    ASSERT_TRUE(read_log(d.log, &recs, &err)) << err;
    ASSERT_EQ(recs.size(), 3u) << out;
    EXPECT_EQ(recs[0].role, "default");
    EXPECT_EQ(recs[0].status, "ok");
    EXPECT_EQ(recs[1].status, "ok");
    EXPECT_LT(recs[1].max_err, 1e-3);
    EXPECT_EQ(recs[2].status, "run_error");
    EXPECT_NE(recs[2].error.find("not run"), std::string::npos) << recs[2].error;
    for (const Record &r : recs) {
        EXPECT_EQ(r.session, recs[0].session);
        EXPECT_EQ(r.runner, "remote:stage test-box");
        EXPECT_EQ(r.key.kernel_name(), "attngen_dense_f32_d64_prefill");
        EXPECT_EQ(r.key.target, "x86-64-avx512");
    }
    // Not a stage directory: a clear error.
    out.clear();
    EXPECT_EQ(run(std::string(ATTNGEN_TUNE_EXE) + " import " + d.dir, &out), 2);
    EXPECT_NE(out.find("stage.tsv"), std::string::npos) << out;
}

// GPU candidates build here (Halide's CUDA backend needs no toolkit), with
// the GPU hand default as the reference point.
TEST(TuningRun, GpuCandidatesStage) {
    const StageDir d("attngen_tuning_gpu");
    ASSERT_FALSE(d.dir.empty());
    std::string out;
    ASSERT_EQ(d.stage_run("--variant dense --shape 'B=1 H=2 N=64 D=64 causal=1' --budget 1 "
                          "--target x86-64-linux-cuda-cuda_capability_80",
                          &out),
              0)
        << out;
    std::ifstream meta(d.stage + "/stage.tsv");
    std::string all((std::istreambuf_iterator<char>(meta)), std::istreambuf_iterator<char>());
    EXPECT_NE(all.find("target\tcuda-sm80"), std::string::npos) << all;
    std::ifstream plan(d.stage + "/plan.tsv");
    std::string first;
    ASSERT_TRUE(std::getline(plan, first)) << out;
    EXPECT_NE(first.find("default\ttq=32 kc=4 vec=4 rq=1 rk=4 qvec=1 threads_split=1 lanes=1"), std::string::npos)
        << first;  // gpu_defaults.cmake (the lane family)
    struct stat st;
    EXPECT_EQ(stat((d.stage + "/c0/artifact").c_str(), &st), 0);
}
#endif
