// The autotuner's plain data: search space, tuning keys, measurement records
// and the two database files (issue 5). Everything here is Halide-free
// except the search space, which validates points with check_cpu_knobs
// (schedules/cpu_schedule.cpp).
//
// Components exchange plain data and report errors as values:
//   Space      -> Candidate (a Knobs point; invalid points are never produced)
//   Builder    -> BuildResult {artifact, error}      (tune_main.cpp)
//   Runner     -> RunResult   {times, error, status} (tune_main.cpp)
//   Database   <- Record (one JSON line per measurement, failures included)
//   Best table <- the best ok record per key (tuning/db/best.txt, read by CMake)
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "knobs.h"

namespace attngen::tune {

// ---- Keys --------------------------------------------------------------------
// A record is only ever served for exactly this key (tuning/tuned.cmake does
// the same match at configure time).
struct Key {
    std::string variant;  // dense | sparse_conv | sparse_axial_row | sparse_axial_col | block_sparse | chunked
    std::string dtype;    // f32 | f16 | bf16
    std::string target;   // arch + feature level: x86-64-avx512, x86-64-avx2, x86-64-sse41, x86-64, arm-64
    int head_dim = 0;     // 0 = generic ("any")
    std::string bucket;   // prefill | long | decode | group
    bool rotary = false;
    std::string halide;   // Halide version, e.g. 14.0.0

    // attngen_<variant>_<dtype>_d<D|any>_<bucket>[_rot] (cmake/AttngenKernels.cmake).
    std::string kernel_name() const;
    bool operator==(const Key &o) const;
    bool operator<(const Key &o) const;
};

// "x86-64-linux-avx512_skylake-avx2-...-user_context" -> "x86-64-avx512".
std::string target_level(const std::string &halide_target);
bool known_variant(const std::string &v);
bool known_dtype(const std::string &d);
bool known_bucket(const std::string &b);
// Checks the variant, dtype and bucket names of a key: false with "unknown
// variant 'x' (the known ones)" (or dtype, bucket) in *err.
bool check_key_names(const Key &k, std::string *err);
// Parses a kernel name back into variant, dtype, head dim, bucket, rotary.
bool parse_kernel_name(const std::string &name, Key *k, std::string *err);

// ---- Knob points -------------------------------------------------------------------
// "tq=32 kc=64 ..." -> Knobs (unknown names or bad numbers are an error).
bool parse_params(const std::string &s, Knobs *k, std::string *err);
// Knobs -> the PARAMS string of the variant (kci only for the DALL-E sparse
// variants, which always have an image phase).
std::string params_of(const std::string &variant, const Knobs &k);

// ---- Search space ------------------------------------------------------------------
// Candidate values per knob, for a variant, bucket, head dim and target
// family; a point is in the space iff every knob takes one of its values
// and valid() accepts it.
struct Space {
    std::string variant, bucket;
    int head_dim = 0;
    std::string family;  // "x86-avx512", "x86-avx2", "arm-neon"
    std::vector<int> tq, kc, kci, vec, rq, rk, qvec, threads_split;
    std::vector<int> lanes{0};  // GPU: 1 = the lane family (schedules/gpu_schedule.h)

    // Empty when legal, else why not (check_cpu_knobs plus the variant's own
    // rules: block-sparse tq == kc dividing the 16-token layout block; the
    // DALL-E sparse and block-sparse kernels have qvec=1; decode has tq=1,
    // qvec=0; group is qvec=1).
    std::string valid(const Knobs &k) const;
    // Every legal point, in a fixed order (the order of the value lists).
    std::vector<Knobs> enumerate() const;
};
bool make_space(const Key &key, Space *out, std::string *err);

// Deterministic PRNG (splitmix64): the same seed gives the same candidate
// sequence on every platform and standard library.
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next();
    uint64_t below(uint64_t n) { return n ? next() % n : 0; }
};
// Up to n distinct legal points drawn from the space (without replacement),
// in draw order; all of them when n >= the space's size. `exclude` points
// (e.g. the hand default) are not drawn.
std::vector<Knobs> sample(const Space &sp, size_t n, uint64_t seed, const std::vector<Knobs> &exclude = {});
bool same_knobs(const Knobs &a, const Knobs &b);

// ---- Records (the JSON-lines log) --------------------------------------------------
struct Record {
    std::string id;        // unique: <session>-<n>
    std::string session;   // one `attngen_tune` run
    std::string time;      // UTC, ISO 8601
    Key key;
    std::string workload;  // name or shape: "dalle" or "B1 H8 Nq1280 Nk1280 D64 causal"
    std::string role;      // default | candidate | autosched:<name>
    std::string params;    // knob PARAMS string (empty for autoscheduler baselines)
    std::string status;    // ok | build_error | run_error | crash | timeout | wrong_answer
    std::string error;     // why, when status != ok
    std::string runner;    // local | remote:<template>
    double median_s = 0, min_s = 0;  // per call
    int repeats = 0;
    double max_err = 0;    // against the reference
    double flops = 0;      // useful flops per call (sparse: kept pairs, approximate)
    uint64_t seed = 0;
    int rung = 0;          // successive-halving rung (0 = first measurement)
};

std::string record_to_json(const Record &r);
// One line; errors name the field.
bool record_from_json(const std::string &line, Record *r, std::string *err);
// Reads a whole log. A malformed line is an error naming the line number
// (the log is append-only: a torn last line is reported the same way).
bool read_log(const std::string &path, std::vector<Record> *out, std::string *err);
bool parse_log(const std::string &text, std::vector<Record> *out, std::string *err);
bool append_log(const std::string &path, const Record &r, std::string *err);

// ---- Best-points table (tuning/db/best.txt) ---------------------------------------
// One line per key, '|'-separated so CMake can read it without a JSON
// parser:  kernel_name|target|halide|params|source
// '#' lines are comments. params and source cannot contain '|' or newlines.
struct BestEntry {
    Key key;
    std::string params;
    std::string source;  // "tuned <date> <record id> ..."
};
bool parse_best(const std::string &text, std::vector<BestEntry> *out, std::string *err);
bool read_best(const std::string &path, std::vector<BestEntry> *out, std::string *err);
std::string format_best(const std::vector<BestEntry> &entries);
// The entry of exactly this key, or nullptr (any field differing: no record).
const BestEntry *find_best(const std::vector<BestEntry> &entries, const Key &key);
// The points of one session of one key at their deepest rung: per params,
// the median of the ok measurements on that rung (a confirmation rung
// measures the finalists several times, interleaved) and the record of that
// median (the upper one for an even count).
struct RungPoint {
    int rung = -1;
    double median_s = 0;
    const Record *rec = nullptr;
    std::string role;
};
std::map<std::string, RungPoint> deepest_points(const std::vector<Record> &log, const Key &key,
                                                const std::string &session);

// What one session of one key found: its default point and the fastest
// point of the deepest rung any point reached (the default when it wins);
// rung -1 where there is none. best_from_log and `attngen_tune report` read it.
struct SessionResult {
    RungPoint def, best;
};
SessionResult session_result(const std::vector<Record> &log, const Key &key, const std::string &session);

// The best ok record per key of the log (from the latest session that
// measured the key, against that session's default), as table entries: the
// fastest point of the session's deepest rung.
std::vector<BestEntry> best_from_log(const std::vector<Record> &log);

// ---- Search -----------------------------------------------------------------------
// Successive halving: rung r measures the survivors (ranked by the previous
// rung; failures never survive) and keeps the best ceil(n / eta), until at
// most `final_keep` are left or `rungs` rungs ran. Returns the final ranking
// (indices into the candidate list, fastest first; failed ones left out).
struct Measurement {
    bool ok = false;
    double median_s = 0;
};
std::vector<size_t> successive_halving(size_t n, int rungs, size_t eta, size_t final_keep,
                                       const std::function<Measurement(size_t index, int rung)> &measure);

}  // namespace attngen::tune
