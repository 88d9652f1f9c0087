// The measurement side of a tuning artifact. attngen_tune links this with
// one candidate kernel (compiled under the symbol attngen_candidate) into a
// stand-alone executable, so the same artifact runs locally (a child
// process: a crash or a hang is a recorded failure, not the end of the
// search) or on another machine through the user's command template.
//
//   <artifact> --variant dense --B 1 --H 8 --Nq 1280 --Nk 1280 --D 64
//              [--causal 1] [--offset 0] [--rotary 1] [--image 32]
//              [--params "tq=32 kc=128 ..."] [--warmup 1] [--repeats 5]
//              [--min-time 0.05] [--seed 1] [--ref FILE | --write-ref FILE]
//
// A candidate compiled for a CUDA target runs on the first GPU (Halide's
// runtime loads libcuda and copies the host buffers over); each timed call
// waits for the device.
// Arguments are bound by name from the kernel's metadata, with the values
// the runtime would pass (runtime/src/*.cpp): masks off, all values finite,
// the DALL-E loop extents computed from the knobs, a block-sparse layout of
// 16-token blocks (a local window plus the text blocks) expanded to the
// kernel's granule.
// Prints one JSON line on stdout: {"ok":true,"median_s":..,"min_s":..,
// "repeats":..,"max_err":..,"checked":..,"flops":..} or {"ok":false,
// "status":"run_error|wrong_answer","error":".."}; exit status 0 / 1.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "HalideBuffer.h"
#include "HalideRuntime.h"
#include "dalle_extents.h"
#include "gpu_jit.h"

extern "C" int attngen_candidate_argv(void **args);
extern "C" const struct halide_filter_metadata_t *attngen_candidate_metadata();

namespace {

using Halide::Runtime::Buffer;
namespace dalle = attngen::dalle;

std::string json_escape(const std::string &s) {
    std::string o;
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\', o += c;
        else if (static_cast<unsigned char>(c) < 0x20) o += ' ';
        else o += c;
    }
    return o;
}

[[noreturn]] void fail(const std::string &status, const std::string &msg) {
    std::printf("{\"ok\":false,\"status\":\"%s\",\"error\":\"%s\"}\n", status.c_str(), json_escape(msg).c_str());
    std::fflush(stdout);
    std::exit(1);
}

std::string g_halide_error;
void on_halide_error(void *, const char *msg) { g_halide_error = msg; }

uint64_t mix(uint64_t &s) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
float uniform(uint64_t &s) { return float(double(mix(s) >> 11) / double(1ull << 53)) * 2.f - 1.f; }

// Storage conversions (round to nearest even), as the runtime's kernels do.
uint16_t to_f16(float f) {
    _Float16 h = static_cast<_Float16>(f);
    uint16_t b;
    std::memcpy(&b, &h, 2);
    return b;
}
float from_f16(uint16_t b) {
    _Float16 h;
    std::memcpy(&h, &b, 2);
    return static_cast<float>(h);
}
uint16_t to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    u += 0x7FFF + ((u >> 16) & 1);
    return uint16_t(u >> 16);
}
float from_bf16(uint16_t b) {
    uint32_t u = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

struct Opts {
    std::string variant = "dense", params;
    int B = 1, H = 8, Hkv = 0, Nq = 1280, Nk = 1280, D = 64, offset = 0, image = 32, R = 0;
    bool causal = true, rotary = false;
    int warmup = 1, repeats = 5;
    double min_time = 0.05;
    uint64_t seed = 1;
    std::string ref, write_ref;
    bool naive = false;  // also check against a float64 naive reference (dense, chunked; no rotary)
};

std::map<std::string, int> knobs_of(const std::string &p) {
    std::map<std::string, int> m;
    size_t i = 0;
    while (i < p.size()) {
        size_t j = p.find(' ', i);
        if (j == std::string::npos) j = p.size();
        std::string tok = p.substr(i, j - i);
        size_t eq = tok.find('=');
        if (eq != std::string::npos) m[tok.substr(0, eq)] = std::atoi(tok.c_str() + eq + 1);
        i = j + 1;
    }
    return m;
}

// One activation tensor [d, h, n, b] of the kernel's storage type.
Buffer<> make_act(halide_type_t t, int d, int h, int n, int b) { return Buffer<>(t, d, h, n, b); }

// Activations are dense (allocated here), so they are walked as flat arrays.
void fill(Buffer<> &buf, uint64_t seed) {
    uint64_t s = seed;
    const halide_type_t t = buf.type();
    const size_t n = buf.number_of_elements();
    if (t.bits == 32) {
        float *p = static_cast<float *>(buf.data());
        for (size_t i = 0; i < n; i++) p[i] = uniform(s);
    } else {
        uint16_t *p = static_cast<uint16_t *>(buf.data());
        const bool f16 = t.code == halide_type_float;
        for (size_t i = 0; i < n; i++) p[i] = f16 ? to_f16(uniform(s)) : to_bf16(uniform(s));
    }
}

std::vector<float> values(const Buffer<> &buf) {
    const halide_type_t t = buf.type();
    const size_t n = buf.number_of_elements();
    std::vector<float> out(n);
    if (t.bits == 32) {
        const float *p = static_cast<const float *>(buf.data());
        std::copy(p, p + n, out.begin());
    } else {
        const uint16_t *p = static_cast<const uint16_t *>(buf.data());
        const bool f16 = t.code == halide_type_float;
        for (size_t i = 0; i < n; i++) out[i] = f16 ? from_f16(p[i]) : from_bf16(p[i]);
    }
    return out;
}

}  // namespace

int main(int argc, char **argv) {
    Opts o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (i + 1 >= argc) fail("run_error", "missing value after " + a);
        std::string v = argv[++i];
        if (a == "--variant") o.variant = v;
        else if (a == "--params") o.params = v;
        else if (a == "--B") o.B = std::atoi(v.c_str());
        else if (a == "--H") o.H = std::atoi(v.c_str());
        else if (a == "--Hkv") o.Hkv = std::atoi(v.c_str());
        else if (a == "--Nq") o.Nq = std::atoi(v.c_str());
        else if (a == "--Nk") o.Nk = std::atoi(v.c_str());
        else if (a == "--D") o.D = std::atoi(v.c_str());
        else if (a == "--offset") o.offset = std::atoi(v.c_str());
        else if (a == "--image") o.image = std::atoi(v.c_str());
        else if (a == "--causal") o.causal = std::atoi(v.c_str()) != 0;
        else if (a == "--rotary") o.rotary = std::atoi(v.c_str()) != 0;
        else if (a == "--warmup") o.warmup = std::atoi(v.c_str());
        else if (a == "--repeats") o.repeats = std::atoi(v.c_str());
        else if (a == "--min-time") o.min_time = std::atof(v.c_str());
        else if (a == "--seed") o.seed = std::strtoull(v.c_str(), nullptr, 10);
        else if (a == "--ref") o.ref = v;
        else if (a == "--write-ref") o.write_ref = v;
        else if (a == "--naive") o.naive = std::atoi(v.c_str()) != 0;
        else fail("run_error", "unknown option " + a);
    }
    if (o.Hkv <= 0) o.Hkv = o.H;
    if (o.B < 1 || o.H < 1 || o.Nq < 1 || o.Nk < 1 || o.D < 1 || o.H % o.Hkv != 0 || o.repeats < 1 ||
        o.warmup < 0 || !(o.min_time >= 0))
        fail("run_error", "bad shape or measurement options");
    halide_set_error_handler(on_halide_error);
    const auto kn = knobs_of(o.params);
    auto knob = [&](const char *n, int def) {
        auto it = kn.find(n);
        return it == kn.end() ? def : it->second;
    };

    const halide_filter_metadata_t *md = attngen_candidate_metadata();
    halide_type_t st = halide_type_t(halide_type_float, 32);
    for (int i = 0; i < md->num_arguments; i++)
        if (std::string(md->arguments[i].name) == "q") st = md->arguments[i].type;

    const bool sparse = o.variant.rfind("sparse_", 0) == 0;
    const int Nq = o.Nq, Nk = sparse || o.variant == "block_sparse" ? o.Nq : o.Nk;
    Buffer<> q = make_act(st, o.D, o.H, Nq, o.B), k = make_act(st, o.D, o.Hkv, Nk, o.B),
             v = make_act(st, o.D, o.Hkv, Nk, o.B), out = make_act(st, o.D, o.H, Nq, o.B);
    fill(q, o.seed * 3 + 1);
    fill(k, o.seed * 3 + 2);
    fill(v, o.seed * 3 + 3);
    Buffer<uint8_t> mask1(1, 1);
    mask1.fill(1);
    const int R = o.rotary ? o.D - o.D % 2 : 0;
    const int Nf = std::max(Nq, Nk) + o.offset;
    Buffer<float> freqs(std::max(R, 1), Nf);
    {
        uint64_t s = o.seed * 7 + 5;
        freqs.for_each_value([&](float &x) { x = 3.f * uniform(s); });
    }

    // DALL-E geometry: text_len = n + 1 - image^2 (the last image token is
    // not an input); loop extents as in runtime/src/sparse.cpp.
    const int G = o.image, T = Nq + 1 - G * G;
    if (sparse && T < 1) fail("run_error", "DALL-E workload needs Nq + 1 - image^2 >= 1");
    const int ksz = std::min(5, G), tq = knob("tq", 32), kc = knob("kc", 32), kci = knob("kci", 32);
    const bool gpu = std::strstr(md->target, "cuda") != nullptr;  // a CUDA target
    // The JIT register cap of the candidate's family, before its first call
    // loads it (as the runtime does); a cap already in the environment wins.
    if (gpu) setenv("HL_CUDA_JIT_MAX_REGISTERS", attngen::gpu::jit_register_cap(knob("lanes", 0) != 0), 0);
    const dalle::Pattern dp = o.variant == "sparse_conv"        ? dalle::Pattern::Conv
                              : o.variant == "sparse_axial_row" ? dalle::Pattern::AxialRow
                                                                : dalle::Pattern::AxialCol;
    double pairs = 0;  // kept (query, key) pairs: flops = 4 * D * pairs
    if (sparse) {
        pairs = double(T) * (T + 1) / 2 + double(Nq - T) * (T + (o.variant == "sparse_conv" ? ksz * ksz / 2.0 : G / 2.0));
    } else if (o.variant == "dense") {
        for (int i = 0; i < Nq; i++) pairs += o.causal ? std::min(Nk, o.offset + i + 1) : Nk;
    } else {
        pairs = double(Nq) * Nk;
    }

    // Block-sparse layout: 16-token blocks; block row r keeps r-3..r and
    // the first two blocks (causal), expanded to the kernel's granule kc.
    Buffer<int32_t> cols, counts;
    if (o.variant == "block_sparse") {
        const int g = knob("kc", 16);
        if (g < 1 || 16 % g != 0) fail("run_error", "block-sparse kc must divide 16");
        const int rows16 = (Nq + 15) / 16, rows = (Nq + g - 1) / g, per = 16 / g;
        std::vector<std::vector<int>> lists(rows);
        size_t maxc = 1;
        pairs = 0;
        for (int r = 0; r < rows; r++) {
            const int r16 = r / per;
            for (int c16 = 0; c16 < rows16; c16++) {
                if (!(c16 <= r16 && (r16 - c16 < 4 || c16 < 2))) continue;
                for (int s = 0; s < per; s++) {
                    const int cg = c16 * per + s;
                    if (cg * g < Nq && (!o.causal || cg <= r)) lists[r].push_back(cg);
                }
            }
            maxc = std::max(maxc, lists[r].size());
            pairs += double(lists[r].size()) * g * g * 1.0;
        }
        cols = Buffer<int32_t>(int(maxc), rows, 1);
        counts = Buffer<int32_t>(rows, 1);
        cols.fill(0);
        for (int r = 0; r < rows; r++) {
            counts(r, 0) = int(lists[r].size());
            for (size_t c = 0; c < lists[r].size(); c++) cols(int(c), r, 0) = lists[r][c];
        }
    }
    const double flops = 4.0 * o.D * pairs * o.B * o.H;

    // Bind every argument by name.
    std::vector<void *> args(md->num_arguments);
    std::vector<halide_scalar_value_t> scalars(md->num_arguments);
    for (int i = 0; i < md->num_arguments; i++) {
        const halide_filter_argument_t &a = md->arguments[i];
        const std::string n = a.name;
        if (a.kind != halide_argument_kind_input_scalar) {
            Buffer<> *b = nullptr;
            if (n == "q") b = &q;
            else if (n == "k") b = &k;
            else if (n == "v") b = &v;
            else if (n == "out") b = &out;
            else if (n == "key_mask" || n == "static_mask" || n == "elem_mask") args[i] = mask1.raw_buffer();
            else if (n == "freqs") args[i] = freqs.raw_buffer();
            else if (n == "cols" && cols.data()) args[i] = cols.raw_buffer();
            else if (n == "counts" && counts.data()) args[i] = counts.raw_buffer();
            else fail("run_error", "no value for buffer argument '" + n + "'");
            if (b) args[i] = b->raw_buffer();
            continue;
        }
        int64_t val;
        if (n == "diag_shift") val = o.causal ? 0 : (1 << 30);
        else if (n == "offset") val = o.offset;
        else if (n == "use_key_mask" || n == "use_static_mask" || n == "use_elem_mask") val = 0;
        else if (n == "values_finite") val = 1;
        else if (n == "rotary_dim") val = R;
        else if (n == "text_len") val = T;
        else if (n == "image_size") val = G;
        else if (n == "kernel_size") val = ksz;
        else if (n == "dilation") val = 1;
        else if (n == "text_chunks") val = dalle::text_chunks(T, Nq, kc);
        else if (n == "image_chunks") val = dalle::image_chunks(dp, T, Nq, G, ksz, tq, kci, gpu);
        else if (n == "first_image_tile") val = dalle::first_image_tile(T, tq);
        else fail("run_error", "no value for scalar argument '" + n + "'");
        halide_scalar_value_t &s = scalars[i];
        s = halide_scalar_value_t();
        if (a.type.code == halide_type_uint && a.type.bits == 1) s.u.b = val != 0;
        else if (a.type.code == halide_type_int && a.type.bits == 32) s.u.i32 = int32_t(val);
        else fail("run_error", "unexpected scalar type of '" + n + "'");
        args[i] = &s;
    }

    // A GPU candidate (a CUDA target) copies its inputs to the device on the
    // first call: only buffers marked host-dirty are uploaded (filling them
    // through data() does not mark them). No-op for CPU candidates.
    for (Buffer<> *b : {&q, &k, &v}) b->set_host_dirty();
    mask1.set_host_dirty();
    freqs.set_host_dirty();
    if (cols.data()) cols.set_host_dirty(), counts.set_host_dirty();
    auto call = [&]() {
        int rc = attngen_candidate_argv(args.data());
        // GPU launches are asynchronous: a call ends when the device is done.
        if (rc == 0) rc = out.device_sync();
        if (rc != 0) fail("run_error", "kernel returned " + std::to_string(rc) + ": " + g_halide_error);
    };
    using clk = std::chrono::steady_clock;
    for (int i = 0; i < o.warmup; i++) call();
    if (o.warmup == 0) call();  // the output is checked below either way

    // Check the output before its time counts.
    if (int rc = out.copy_to_host()) fail("run_error", "copy of the output to the host failed: " + std::to_string(rc) + ": " + g_halide_error);
    std::vector<float> got = values(out);
    for (float x : got)
        if (!std::isfinite(x)) fail("wrong_answer", "non-finite output");
    double max_err = 0;
    bool checked = false;
    if (!o.write_ref.empty()) {
        FILE *f = std::fopen(o.write_ref.c_str(), "wb");
        if (!f || std::fwrite(got.data(), sizeof(float), got.size(), f) != got.size() || std::fclose(f) != 0)
            fail("run_error", "cannot write reference " + o.write_ref);
    }
    if (!o.ref.empty()) {
        FILE *f = std::fopen(o.ref.c_str(), "rb");
        std::vector<float> want(got.size());
        if (!f) fail("run_error", "cannot open reference " + o.ref);
        size_t n = std::fread(want.data(), sizeof(float), want.size() + 1, f);
        std::fclose(f);
        if (n != want.size()) fail("run_error", "reference " + o.ref + " has the wrong size");
        // Two fp32 results within SPEC's 1e-4/1e-5 of the exact value differ
        // by at most twice that; 16-bit storage adds one rounding of the
        // output (2^-11 fp16, 2^-8 bf16) on each side.
        double rtol = 2e-4, atol = 2e-5;
        if (st.bits == 16) {
            rtol = st.code == halide_type_float ? 2.0 / 2048 : 2.0 / 256;
            atol = rtol * 0.1;
        }
        for (size_t i = 0; i < got.size(); i++) {
            const double e = std::fabs(double(got[i]) - want[i]);
            max_err = std::max(max_err, e);
            if (e > atol + rtol * std::fabs(want[i]))
                fail("wrong_answer", "element " + std::to_string(i) + ": got " + std::to_string(got[i]) + ", want " +
                                         std::to_string(want[i]));
        }
        checked = true;
    }

    // Float64 naive attention (SPEC.md: scores (q.k)/sqrt(D), key j visible
    // to query i iff j <= offset + i when causal, K/V head h / (H / Hkv)),
    // for the hand default's first run: the reference every candidate is
    // compared with is itself checked. Skipped for large shapes.
    if (o.naive && !o.rotary && (o.variant == "dense" || o.variant == "chunked") &&
        double(o.B) * o.H * Nq * Nk * o.D < 4e9) {
        const std::vector<float> qv = values(q), kv = values(k), vv = values(v);
        const int g = o.H / o.Hkv;
        std::vector<double> p(Nk);
        double worst = 0;
        for (int b = 0; b < o.B; b++)
            for (int i = 0; i < Nq; i++)
                for (int h = 0; h < o.H; h++) {
                    const int hk = h / g;
                    const float *qr = &qv[((size_t(b) * Nq + i) * o.H + h) * o.D];
                    double mx = -1e300;
                    const int last = o.causal && o.variant == "dense" ? std::min(Nk - 1, o.offset + i) : Nk - 1;
                    for (int j = 0; j <= last; j++) {
                        const float *kr = &kv[((size_t(b) * Nk + j) * o.Hkv + hk) * o.D];
                        double dot = 0;
                        for (int d = 0; d < o.D; d++) dot += double(qr[d]) * kr[d];
                        p[j] = dot / std::sqrt(double(o.D));
                        mx = std::max(mx, p[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= last; j++) sum += (p[j] = std::exp(p[j] - mx));
                    const float *orow = &got[((size_t(b) * Nq + i) * o.H + h) * o.D];
                    for (int d = 0; d < o.D; d++) {
                        double want = 0;
                        for (int j = 0; j <= last; j++) want += p[j] * vv[((size_t(b) * Nk + j) * o.Hkv + hk) * o.D + d];
                        want /= sum;
                        double rtol = 1e-4, atol = 1e-5;
                        if (st.bits == 16) rtol = st.code == halide_type_float ? 1.0 / 1024 : 1.0 / 128, atol = rtol * 0.1;
                        const double e = std::fabs(orow[d] - want);
                        worst = std::max(worst, e);
                        if (e > atol + rtol * std::fabs(want))
                            fail("wrong_answer", "float64 reference: b" + std::to_string(b) + " i" + std::to_string(i) +
                                                     " h" + std::to_string(h) + " d" + std::to_string(d) + ": got " +
                                                     std::to_string(orow[d]) + ", want " + std::to_string(want));
                    }
                }
        max_err = std::max(max_err, worst);
        checked = true;
    }

    std::vector<double> per_call;
    for (int r = 0; r < o.repeats; r++) {
        int iters = 0;
        auto t0 = clk::now();
        double el = 0;
        do {
            call();
            iters++;
            el = std::chrono::duration<double>(clk::now() - t0).count();
        } while (el < o.min_time);
        per_call.push_back(el / iters);
    }
    std::sort(per_call.begin(), per_call.end());
    const double median = per_call[per_call.size() / 2], mn = per_call[0];
    std::printf("{\"ok\":true,\"median_s\":%.9g,\"min_s\":%.9g,\"repeats\":%d,\"max_err\":%.6g,\"checked\":%s,"
                "\"flops\":%.6g}\n",
                median, mn, o.repeats, max_err, checked ? "true" : "false", flops);
    return 0;
}
