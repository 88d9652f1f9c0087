#include "tuning.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "cpu_schedule.h"
#include "gpu_schedule.h"
#include "io/json.h"

namespace attngen::tune {

using io::Json;

// ---- Keys --------------------------------------------------------------------------

std::string Key::kernel_name() const {
    std::string n = "attngen_" + variant + "_" + dtype + "_d" + (head_dim > 0 ? std::to_string(head_dim) : "any") +
                    "_" + bucket;
    if (rotary) n += "_rot";
    return n;
}

static auto key_tuple(const Key &k) {
    return std::tie(k.variant, k.dtype, k.target, k.head_dim, k.bucket, k.rotary, k.halide);
}
bool Key::operator==(const Key &o) const { return key_tuple(*this) == key_tuple(o); }
bool Key::operator<(const Key &o) const { return key_tuple(*this) < key_tuple(o); }

std::string target_level(const std::string &t) {
    std::vector<std::string> parts;
    std::stringstream ss(t);
    for (std::string p; std::getline(ss, p, '-');) parts.push_back(p);
    if (parts.size() < 2) return "";
    // GPU kernels are keyed by the GPU capability (tuning/tuned.cmake does the same).
    for (const auto &p : parts)
        if (p == "cuda") {
            for (const auto &q : parts)
                if (q.rfind("cuda_capability_", 0) == 0) return "cuda-sm" + q.substr(16);
            return "cuda";
        }
    const std::string arch = parts[0] + "-" + parts[1];
    auto has = [&](const std::string &prefix) {
        for (const auto &p : parts)
            if (p.rfind(prefix, 0) == 0) return true;
        return false;
    };
    if (parts[0] == "x86") {
        if (has("avx512")) return arch + "-avx512";
        if (has("avx2")) return arch + "-avx2";
        if (has("sse41")) return arch + "-sse41";
        return arch;
    }
    return arch;  // arm-64 (NEON is the baseline)
}

bool known_variant(const std::string &v) {
    static const std::set<std::string> k = {"dense", "sparse_conv", "sparse_axial_row", "sparse_axial_col",
                                            "block_sparse", "chunked"};
    return k.count(v) > 0;
}
bool known_dtype(const std::string &d) { return d == "f32" || d == "f16" || d == "bf16"; }
bool known_bucket(const std::string &b) { return b == "prefill" || b == "long" || b == "decode" || b == "group"; }

bool check_key_names(const Key &k, std::string *err) {
    if (!known_variant(k.variant)) {
        *err = k.variant.empty() ? "--variant is required"
                                 : "unknown variant '" + k.variant +
                                       "' (dense, sparse_conv, sparse_axial_row, sparse_axial_col, block_sparse, chunked)";
        return false;
    }
    if (!known_dtype(k.dtype)) {
        *err = "unknown dtype '" + k.dtype + "' (f32, f16, bf16)";
        return false;
    }
    if (!known_bucket(k.bucket)) {
        *err = "unknown bucket '" + k.bucket + "' (prefill, long, decode, group)";
        return false;
    }
    return true;
}

bool parse_kernel_name(const std::string &name, Key *k, std::string *err) {
    const std::string pre = "attngen_";
    if (name.rfind(pre, 0) != 0) {
        *err = "kernel name '" + name + "' does not start with attngen_";
        return false;
    }
    std::string rest = name.substr(pre.size());
    Key out;
    if (rest.size() > 4 && rest.compare(rest.size() - 4, 4, "_rot") == 0) {
        out.rotary = true;
        rest.resize(rest.size() - 4);
    }
    // variant may contain '_': split from the right: <variant>_<dtype>_d<D>_<bucket>
    size_t b = rest.rfind('_');
    if (b == std::string::npos) goto bad;
    out.bucket = rest.substr(b + 1);
    rest.resize(b);
    b = rest.rfind('_');
    if (b == std::string::npos) goto bad;
    {
        std::string d = rest.substr(b + 1);
        rest.resize(b);
        if (d == "dany") {
            out.head_dim = 0;
        } else if (d.size() > 1 && d[0] == 'd' && d.size() <= 5 &&
                   d.find_first_not_of("0123456789", 1) == std::string::npos) {
            out.head_dim = std::stoi(d.substr(1));
            if (out.head_dim <= 0) goto bad;
        } else {
            goto bad;
        }
    }
    b = rest.rfind('_');
    if (b == std::string::npos) goto bad;
    out.dtype = rest.substr(b + 1);
    out.variant = rest.substr(0, b);
    if (!known_variant(out.variant)) {
        *err = "kernel name '" + name + "': unknown variant '" + out.variant + "'";
        return false;
    }
    if (!known_dtype(out.dtype)) {
        *err = "kernel name '" + name + "': unknown dtype '" + out.dtype + "'";
        return false;
    }
    if (!known_bucket(out.bucket)) {
        *err = "kernel name '" + name + "': unknown bucket '" + out.bucket + "'";
        return false;
    }
    out.target = k->target;
    out.halide = k->halide;
    *k = out;
    return true;
bad:
    *err = "kernel name '" + name + "' does not follow attngen_<variant>_<dtype>_d<D|any>_<bucket>[_rot]";
    return false;
}

// ---- Knob points ----------------------------------------------------------------------

bool parse_params(const std::string &s, Knobs *k, std::string *err) {
    Knobs out;
    out.kci = 0;
    std::stringstream ss(s);
    std::set<std::string> seen;
    for (std::string tok; ss >> tok;) {
        size_t eq = tok.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == tok.size()) {
            *err = "params: '" + tok + "' is not name=value";
            return false;
        }
        std::string name = tok.substr(0, eq), val = tok.substr(eq + 1);
        if (val.size() > 6 || val.find_first_not_of("0123456789") != std::string::npos) {
            *err = "params: " + name + "=" + val + " is not a small non-negative integer";
            return false;
        }
        if (!seen.insert(name).second) {
            *err = "params: " + name + " given twice";
            return false;
        }
        int v = std::stoi(val);
        if (name == "tq") out.tq = v;
        else if (name == "kc") out.kc = v;
        else if (name == "vec") out.vec = v;
        else if (name == "rq") out.rq = v;
        else if (name == "rk") out.rk = v;
        else if (name == "qvec") out.qvec = v;
        else if (name == "threads_split") out.threads_split = v;
        else if (name == "kci") out.kci = v;
        else if (name == "lanes") out.lanes = v;
        else {
            *err = "params: unknown knob '" + name + "'";
            return false;
        }
    }
    *k = out;
    return true;
}

std::string params_of(const std::string &variant, const Knobs &k) {
    Knobs c = k;
    if (variant.rfind("sparse_", 0) != 0) c.kci = 0;
    return c.params_string();
}

bool same_knobs(const Knobs &a, const Knobs &b) {
    return a.tq == b.tq && a.kc == b.kc && a.vec == b.vec && a.rq == b.rq && a.rk == b.rk && a.qvec == b.qvec &&
           a.threads_split == b.threads_split && a.kci == b.kci && a.lanes == b.lanes;
}

// ---- Search space ----------------------------------------------------------------------

static bool in(const std::vector<int> &vals, int v) { return std::find(vals.begin(), vals.end(), v) != vals.end(); }

std::string Space::valid(const Knobs &k) const {
    if (!in(tq, k.tq) || !in(kc, k.kc) || !in(vec, k.vec) || !in(rq, k.rq) || !in(rk, k.rk) || !in(qvec, k.qvec) ||
        !in(threads_split, k.threads_split) || !in(kci, k.kci) || !in(lanes, k.lanes))
        return "a knob is outside the space's values";
    const bool sparse = variant.rfind("sparse_", 0) == 0;
    if (sparse) {
        // (Any kci on the CPU: its schedule tiles an image chunk by the
        // largest divisor of kci up to rk; check_gpu_knobs wants multiples.)
        if (k.kci < 1) return "DALL-E sparse kernels need kci >= 1";
    }
    if (variant == "block_sparse") {
        if (k.tq != k.kc) return "block-sparse needs tq == kc (one block row per tile)";
        if (16 % k.kc != 0) return "block-sparse kc must divide the 16-token layout block";
    }
    if (family == "cuda") {
        // GPU family (schedules/gpu_schedule.h): threads per block, registers
        // and shared memory follow from the knobs (check_gpu_knobs).
        if (bucket == "decode" && k.tq != 1) return "decode has one query per block";
        return check_gpu_knobs(k, head_dim, sparse ? 2 : 1);
    }
    if (bucket == "decode" && (k.tq != 1 || k.qvec != 0)) return "decode has one query per tile, keys vectorised";
    if (bucket != "decode" && k.qvec != 1) return "qvec=0 with tq > 1 crashes Halide 14's lowering";
    return check_cpu_knobs(k, head_dim);
}

std::vector<Knobs> Space::enumerate() const {
    std::vector<Knobs> out;
    for (int a : tq)
        for (int b : kc)
            for (int c : kci)
                for (int d : vec)
                    for (int e : rq)
                        for (int f : rk)
                            for (int g : qvec)
                                for (int h : threads_split)
                                    for (int ln : lanes) {
                                        Knobs k;
                                        k.tq = a, k.kc = b, k.kci = c, k.vec = d, k.rq = e, k.rk = f, k.qvec = g,
                                        k.threads_split = h, k.lanes = ln;
                                        if (valid(k).empty()) out.push_back(k);
                                    }
    return out;
}

namespace {
// The GPU family's knobs (schedules/gpu_schedule.h): tq queries per block,
// kc (kci) keys per text (image) chunk, rq x rk score tile and rq x vec
// P@V tile per thread, vec the float/float2/float4 width of feature
// loads. Threads per block = tq / rq x max(kc / rk, D / vec, 16), so the
// space covers 32 to 1024 threads; check_gpu_knobs drops what does not
// fit a block (threads, 48 KiB of shared memory, 64 accumulators).
bool make_gpu_space(const Key &key, Space *sp) {
    Space s;
    s.variant = key.variant;
    s.bucket = key.bucket;
    s.head_dim = key.head_dim;
    s.family = "cuda";
    s.vec = {1, 2, 4};
    s.threads_split = {1};
    s.qvec = {1};
    s.kci = {0};
    // The lane family at the head dims it serves (check_gpu_knobs).
    const bool lanes = key.head_dim > 0 && key.head_dim <= 64 && key.head_dim % 4 == 0;
    if (key.variant.rfind("sparse_", 0) == 0) {
        s.tq = {8, 16, 32};
        s.kc = {4, 8, 16, 32, 64};
        s.kci = {4, 8, 16, 32, 64};
        s.rq = {1, 2, 4};
        s.rk = {1, 2, 4};
        if (lanes) s.lanes = {0, 1};
    } else if (key.variant == "block_sparse") {
        s.tq = {8, 16};
        s.kc = {8, 16};
        s.rq = {1, 2, 4};
        s.rk = {1, 2, 4};
    } else if (key.bucket == "decode") {
        s.tq = {1};
        s.kc = {32, 64, 128};
        s.rq = {1};
        s.rk = {1, 2, 4};
    } else if (key.bucket == "group") {
        s.tq = {8, 16, 32};
        s.kc = {32, 64, 128};
        s.rq = {1, 2};
        s.rk = {2, 4};
    } else {  // dense / chunked prefill
        s.tq = {8, 16, 32, 64};
        s.kc = {4, 8, 16, 32, 64, 128};
        s.rq = {1, 2, 4};
        s.rk = {1, 2, 4, 8};
        if (lanes) s.lanes = {0, 1};
    }
    *sp = s;
    return true;
}
}  // namespace

bool make_space(const Key &key, Space *sp, std::string *err) {
    if (!known_variant(key.variant)) {
        *err = "unknown variant '" + key.variant + "' (dense, sparse_conv, sparse_axial_row, sparse_axial_col, "
               "block_sparse, chunked)";
        return false;
    }
    if (!known_bucket(key.bucket)) {
        *err = "unknown bucket '" + key.bucket + "' (prefill, long, decode, group)";
        return false;
    }
    if (key.bucket != "prefill" && key.variant != "dense") {
        *err = "variant " + key.variant + " has only the prefill bucket";
        return false;
    }
    Space s;
    s.variant = key.variant;
    s.bucket = key.bucket;
    s.head_dim = key.head_dim;
    // Vector widths of the target family (check_cpu_knobs' register files:
    // 32 registers at 16 and 4 lanes, 16 at 8 lanes).
    if (key.target == "x86-64-avx512") {
        s.family = "x86-avx512";
        s.vec = {16, 8};
    } else if (key.target == "x86-64-avx2") {
        s.family = "x86-avx2";
        s.vec = {8};
    } else if (key.target == "arm-64") {
        s.family = "arm-neon";
        s.vec = {4};
    } else if (key.target.rfind("cuda", 0) == 0) {
        return make_gpu_space(key, sp);
    } else {
        *err = "no search space for target '" + key.target + "' (x86-64-avx512, x86-64-avx2, arm-64, cuda-sm<NN>)";
        return false;
    }
    s.threads_split = {1, 0};
    s.kci = {0};
    if (key.variant.rfind("sparse_", 0) == 0) {
        s.tq = {16, 32, 64};
        // 88: DALL-E's 257 text tokens in three chunks (7 padding slots, against 31 at 96).
        s.kc = {32, 64, 88, 96, 128};
        // 25: one 5x5 convolution box per chunk, no padding slots.
        s.kci = {16, 25, 32, 64};
        s.rq = {2, 4, 8};
        s.rk = {4, 8};
        s.qvec = {1};
    } else if (key.variant == "block_sparse") {
        s.tq = {4, 8, 16};
        s.kc = {4, 8, 16};
        s.rq = {1, 2, 4, 8};
        s.rk = {2, 4, 8, 16};
        s.qvec = {1};
    } else if (key.bucket == "decode") {
        s.tq = {1};
        s.kc = {32, 64, 128, 256, 512};
        s.rq = {1};
        s.rk = {1, 2, 4, 8};
        s.qvec = {0};
    } else if (key.bucket == "group") {
        s.tq = {4, 8, 16, 32};
        s.kc = {64, 128, 256};
        s.rq = {1, 2, 4};
        s.rk = {4, 8};
        s.qvec = {1};
    } else {  // dense / chunked prefill, dense long
        s.tq = {16, 32, 64, 128};
        s.kc = {32, 64, 128, 256};
        s.rq = {1, 2, 4, 8};
        s.rk = {2, 4, 8, 12, 16};
        s.qvec = {1};
    }
    *sp = s;
    return true;
}

uint64_t Rng::next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

std::vector<Knobs> sample(const Space &sp, size_t n, uint64_t seed, const std::vector<Knobs> &exclude) {
    std::vector<Knobs> all = sp.enumerate();
    all.erase(std::remove_if(all.begin(), all.end(),
                             [&](const Knobs &k) {
                                 for (const Knobs &e : exclude)
                                     if (same_knobs(k, e)) return true;
                                 return false;
                             }),
              all.end());
    // Partial Fisher-Yates with the portable PRNG.
    Rng r(seed);
    const size_t m = std::min(n, all.size());
    for (size_t i = 0; i < m; i++) std::swap(all[i], all[i + r.below(all.size() - i)]);
    all.resize(m);
    return all;
}

// ---- Records ---------------------------------------------------------------------------

static Json key_json(const Key &k) {
    return Json::object({{"variant", Json::string(k.variant)},
                         {"dtype", Json::string(k.dtype)},
                         {"target", Json::string(k.target)},
                         {"head_dim", Json::number(k.head_dim)},
                         {"bucket", Json::string(k.bucket)},
                         {"rotary", Json::boolean(k.rotary)},
                         {"halide", Json::string(k.halide)}});
}

std::string record_to_json(const Record &r) {
    Json j = Json::object({{"id", Json::string(r.id)},
                           {"session", Json::string(r.session)},
                           {"time", Json::string(r.time)},
                           {"kernel", Json::string(r.key.kernel_name())},
                           {"key", key_json(r.key)},
                           {"workload", Json::string(r.workload)},
                           {"role", Json::string(r.role)},
                           {"params", Json::string(r.params)},
                           {"status", Json::string(r.status)},
                           {"error", Json::string(r.error)},
                           {"runner", Json::string(r.runner)},
                           {"median_s", Json::number(r.median_s)},
                           {"min_s", Json::number(r.min_s)},
                           {"repeats", Json::number(r.repeats)},
                           {"max_err", Json::number(r.max_err)},
                           {"flops", Json::number(r.flops)},
                           {"seed", Json::number(double(r.seed))},
                           {"rung", Json::number(r.rung)}});
    return j.dump();
}

namespace {
struct Fields {
    const Json &o;
    std::string *err;
    bool str(const char *name, std::string *out, bool required = true) {
        const Json *v = o.find(name);
        if (!v) {
            if (!required) return true;
            *err = std::string("missing field '") + name + "'";
            return false;
        }
        if (!v->is_string()) {
            *err = std::string("field '") + name + "' is not a string";
            return false;
        }
        *out = v->as_string();
        return true;
    }
    bool num(const char *name, double *out, double lo, double hi, bool required = true) {
        const Json *v = o.find(name);
        if (!v) {
            if (!required) return true;
            *err = std::string("missing field '") + name + "'";
            return false;
        }
        if (!v->is_number() || !(v->as_number() >= lo && v->as_number() <= hi)) {
            *err = std::string("field '") + name + "' is not a number in range";
            return false;
        }
        *out = v->as_number();
        return true;
    }
};

bool key_from_json(const Json &j, Key *k, std::string *err) {
    if (!j.is_object()) {
        *err = "field 'key' is not an object";
        return false;
    }
    Fields f{j, err};
    double hd = 0;
    if (!f.str("variant", &k->variant) || !f.str("dtype", &k->dtype) || !f.str("target", &k->target) ||
        !f.num("head_dim", &hd, 0, 65536) || !f.str("bucket", &k->bucket) || !f.str("halide", &k->halide))
        return false;
    if (hd != std::floor(hd)) {
        *err = "field 'head_dim' is not an integer";
        return false;
    }
    k->head_dim = int(hd);
    const Json *rot = j.find("rotary");
    if (!rot || !rot->is_bool()) {
        *err = "field 'rotary' missing or not a boolean";
        return false;
    }
    k->rotary = rot->as_bool();
    return check_key_names(*k, err);
}
}  // namespace

bool record_from_json(const std::string &line, Record *r, std::string *err) {
    Json j;
    if (!io::json_parse(line, &j, err)) return false;
    if (!j.is_object()) {
        *err = "record is not a JSON object";
        return false;
    }
    Record out;
    Fields f{j, err};
    double repeats = 0, seed = 0, rung = 0;
    if (!f.str("id", &out.id) || !f.str("session", &out.session) || !f.str("time", &out.time) ||
        !f.str("workload", &out.workload) || !f.str("role", &out.role) || !f.str("params", &out.params) ||
        !f.str("status", &out.status) || !f.str("error", &out.error, false) || !f.str("runner", &out.runner, false) ||
        !f.num("median_s", &out.median_s, 0, 1e9) || !f.num("min_s", &out.min_s, 0, 1e9) ||
        !f.num("repeats", &repeats, 0, 1e9, false) || !f.num("max_err", &out.max_err, 0, 1e300, false) ||
        !f.num("flops", &out.flops, 0, 1e30, false) || !f.num("seed", &seed, 0, 9007199254740992.0, false) ||
        !f.num("rung", &rung, 0, 64, false))
        return false;
    const Json *key = j.find("key");
    if (!key) {
        *err = "missing field 'key'";
        return false;
    }
    if (!key_from_json(*key, &out.key, err)) return false;
    static const std::set<std::string> statuses = {"ok",    "build_error", "run_error",
                                                   "crash", "timeout",     "wrong_answer"};
    if (!statuses.count(out.status)) {
        *err = "unknown status '" + out.status + "'";
        return false;
    }
    if (out.status == "ok" && !(out.median_s > 0)) {
        *err = "an ok record needs median_s > 0";
        return false;
    }
    if (!out.params.empty()) {
        Knobs k;
        if (!parse_params(out.params, &k, err)) return false;
    }
    if (out.id.empty()) {
        *err = "empty id";
        return false;
    }
    out.repeats = int(repeats);
    out.seed = uint64_t(seed);
    out.rung = int(rung);
    *r = out;
    return true;
}

bool parse_log(const std::string &text, std::vector<Record> *out, std::string *err) {
    std::vector<Record> recs;
    std::stringstream ss(text);
    int n = 0;
    for (std::string line; std::getline(ss, line);) {
        n++;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        Record r;
        std::string e;
        if (!record_from_json(line, &r, &e)) {
            *err = "line " + std::to_string(n) + ": " + e;
            return false;
        }
        recs.push_back(std::move(r));
    }
    *out = std::move(recs);
    return true;
}

static bool slurp(const std::string &path, std::string *text, std::string *err) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        *err = "cannot open '" + path + "'";
        return false;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    if (f.bad()) {
        *err = "cannot read '" + path + "'";
        return false;
    }
    *text = ss.str();
    return true;
}

bool read_log(const std::string &path, std::vector<Record> *out, std::string *err) {
    std::string text;
    if (!slurp(path, &text, err)) return false;
    if (!parse_log(text, out, err)) {
        *err = path + ": " + *err;
        return false;
    }
    return true;
}

bool append_log(const std::string &path, const Record &r, std::string *err) {
    FILE *f = std::fopen(path.c_str(), "a");
    if (!f) {
        *err = "cannot open '" + path + "' for appending";
        return false;
    }
    const std::string line = record_to_json(r) + "\n";
    const bool ok = std::fwrite(line.data(), 1, line.size(), f) == line.size();
    if (std::fclose(f) != 0 || !ok) {
        *err = "cannot write '" + path + "'";
        return false;
    }
    return true;
}

// ---- Best table ------------------------------------------------------------------------------

bool parse_best(const std::string &text, std::vector<BestEntry> *out, std::string *err) {
    std::vector<BestEntry> es;
    std::stringstream ss(text);
    int n = 0;
    for (std::string line; std::getline(ss, line);) {
        n++;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> f;
        size_t start = 0;
        for (;;) {
            size_t bar = line.find('|', start);
            f.push_back(line.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
            if (bar == std::string::npos) break;
            start = bar + 1;
        }
        auto fail = [&](const std::string &why) {
            *err = "line " + std::to_string(n) + ": " + why;
            return false;
        };
        if (f.size() != 5) return fail("expected 5 '|'-separated fields (kernel|target|halide|params|source), got " +
                                       std::to_string(f.size()));
        BestEntry e;
        e.key.target = f[1];
        e.key.halide = f[2];
        std::string e2;
        if (!parse_kernel_name(f[0], &e.key, &e2)) return fail(e2);
        if (e.key.target.empty() || e.key.halide.empty()) return fail("empty target or Halide version");
        Knobs k;
        if (!parse_params(f[3], &k, &e2)) return fail(e2);
        Space sp;
        if (make_space(e.key, &sp, &e2)) {
            // A point outside the declared space is refused (it would never
            // have been built by the tuner).
            std::string why = sp.valid(k);
            if (!why.empty()) return fail("params '" + f[3] + "' invalid for " + f[0] + ": " + why);
        }
        // Canonical params only (the build matches them with a regular
        // expression), and nothing CMake's list handling would split.
        if (f[3] != params_of(e.key.variant, k)) return fail("params '" + f[3] + "' are not canonical ('" + params_of(e.key.variant, k) + "')");
        for (const std::string *x : {&f[1], &f[2]})
            if (x->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos)
                return fail("target and Halide version may only hold letters, digits, '.', '_' and '-'");
        for (char c : f[4])
            if (c == ';' || c == '[' || c == ']' || c == '\\' || c == '"' || c == '$' || static_cast<unsigned char>(c) < 0x20)
                return fail("source may not contain ; [ ] \\ \" $ or control characters");
        e.params = f[3];
        e.source = f[4];
        if (find_best(es, e.key)) return fail("duplicate key " + f[0] + " " + f[1] + " " + f[2]);
        es.push_back(std::move(e));
    }
    *out = std::move(es);
    return true;
}

bool read_best(const std::string &path, std::vector<BestEntry> *out, std::string *err) {
    std::string text;
    if (!slurp(path, &text, err)) return false;
    if (!parse_best(text, out, err)) {
        *err = path + ": " + *err;
        return false;
    }
    return true;
}

std::string format_best(const std::vector<BestEntry> &entries) {
    std::string s =
        "# attngen tuning database: best points (issue 5). Generated by `attngen_tune best`; do not edit.\n"
        "# kernel|target|halide|params|source  (read by tuning/tuned.cmake; a record is used only for\n"
        "# exactly this kernel name, target feature level and Halide version)\n";
    std::vector<BestEntry> sorted = entries;
    std::sort(sorted.begin(), sorted.end(), [](const BestEntry &a, const BestEntry &b) { return a.key < b.key; });
    for (const auto &e : sorted) {
        std::string src = e.source;
        for (char &c : src)
            if (c == '|') c = '/';
            else if (c == ';' || c == '[' || c == ']' || c == '\\' || c == '"' || c == '$' ||
                     static_cast<unsigned char>(c) < 0x20)
                c = ' ';
        s += e.key.kernel_name() + "|" + e.key.target + "|" + e.key.halide + "|" + e.params + "|" + src + "\n";
    }
    return s;
}

const BestEntry *find_best(const std::vector<BestEntry> &entries, const Key &key) {
    for (const auto &e : entries)
        if (e.key == key) return &e;
    return nullptr;
}

std::map<std::string, RungPoint> deepest_points(const std::vector<Record> &log, const Key &key,
                                                const std::string &session) {
    std::map<std::string, std::vector<const Record *>> at;  // params -> ok records of its deepest rung
    for (const auto &r : log) {
        if (!(r.key == key) || r.session != session || r.status != "ok" || r.params.empty()) continue;
        auto &v = at[r.params];
        if (!v.empty() && r.rung < v.front()->rung) continue;
        if (!v.empty() && r.rung > v.front()->rung) v.clear();
        v.push_back(&r);
    }
    std::map<std::string, RungPoint> out;
    for (auto &[params, v] : at) {
        std::stable_sort(v.begin(), v.end(), [](const Record *a, const Record *b) { return a->median_s < b->median_s; });
        RungPoint p;
        p.rec = v[v.size() / 2];
        p.rung = p.rec->rung;
        p.median_s = p.rec->median_s;
        p.role = p.rec->role;
        out[params] = p;
    }
    return out;
}

SessionResult session_result(const std::vector<Record> &log, const Key &key, const std::string &session) {
    // Compare on the deepest rung any point reached within the session.
    const std::map<std::string, RungPoint> pts = deepest_points(log, key, session);
    SessionResult sr;
    int top = -1;
    for (const auto &[p, pt] : pts) top = std::max(top, pt.rung);
    for (const auto &[p, pt] : pts) {
        if (pt.role == "default") sr.def = pt;
        if (pt.rung == top && (sr.best.rung < 0 || pt.median_s < sr.best.median_s)) sr.best = pt;
    }
    return sr;
}

std::vector<BestEntry> best_from_log(const std::vector<Record> &log) {
    // Latest session per key (sessions are time-stamped ids: later sorts later).
    std::map<Key, std::string> latest;
    for (const auto &r : log) {
        auto it = latest.find(r.key);
        if (it == latest.end() || r.session > it->second) latest[r.key] = r.session;
    }
    std::vector<BestEntry> out;
    for (const auto &[key, session] : latest) {
        const SessionResult sr = session_result(log, key, session);
        const RungPoint &best = sr.best, &def = sr.def;
        if (best.rung < 0) continue;
        BestEntry e;
        e.key = key;
        e.params = best.rec->params;
        char buf[256];
        const double speedup = def.rung >= 0 ? def.median_s / best.median_s : 0;
        std::snprintf(buf, sizeof buf, "tuned %s %s on %s: %.3f ms, %.2fx vs hand default%s",
                      best.rec->time.substr(0, 10).c_str(), best.rec->id.c_str(), best.rec->workload.c_str(),
                      best.median_s * 1e3, speedup, best.role == "default" ? " (the hand default won)" : "");
        e.source = buf;
        out.push_back(e);
    }
    return out;
}

// ---- Search ----------------------------------------------------------------------------------

std::vector<size_t> successive_halving(size_t n, int rungs, size_t eta, size_t final_keep,
                                       const std::function<Measurement(size_t, int)> &measure) {
    std::vector<size_t> alive(n);
    for (size_t i = 0; i < n; i++) alive[i] = i;
    if (eta < 2) eta = 2;
    if (final_keep < 1) final_keep = 1;
    std::vector<size_t> ranked;
    for (int rung = 0; rung < std::max(rungs, 1) && !alive.empty(); rung++) {
        std::vector<std::pair<double, size_t>> timed;
        for (size_t i : alive) {
            Measurement m = measure(i, rung);
            if (m.ok) timed.push_back({m.median_s, i});
        }
        std::stable_sort(timed.begin(), timed.end(),
                         [](const auto &a, const auto &b) { return a.first < b.first; });
        ranked.clear();
        for (auto &t : timed) ranked.push_back(t.second);
        if (ranked.size() <= final_keep) break;
        size_t keep = std::max(final_keep, (ranked.size() + eta - 1) / eta);
        alive.assign(ranked.begin(), ranked.begin() + keep);
        if (rung + 1 >= std::max(rungs, 1)) break;
    }
    return ranked;
}

}  // namespace attngen::tune
