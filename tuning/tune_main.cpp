// attngen_tune: the autotuner (issue 5). Search space, builder, runner and
// database are separate steps exchanging plain data (tuning.h); every
// candidate that fails to build, crashes, hangs or gives a wrong answer is
// a recorded failure and the search goes on.
//
//   attngen_tune run     --variant V [--dtype f32] [--bucket prefill] [--head-dim D] [--rotary]
//                        [--workload dalle|sd_self|decode|long | --shape "B=1 H=8 Nq=.. Nk=.. D=.. ..."]
//                        [--target HALIDE_TARGET] [--budget N] [--seed S] [--strategy auto|exhaustive|random]
//                        [--rungs R] [--confirm N] [--min-time SEC] [--repeats N] [--timeout SEC]
//                        [--remote 'TEMPLATE with {artifact} and {args}'] [--autosched Li2018,...]
//                        [--log FILE] [--work DIR] [--default-params "tq=.."]
//                        [--cxx CXX --runner-lib LIB]  (artifacts for another machine, e.g. ARM:
//                                                       a cross g++ and runner_main.cpp built for it)
//                        [--stage DIR]  (build rung 0 for a machine reached by hand: DIR/run.sh runs there)
//   attngen_tune import  DIR [--log FILE] [--runner NAME]   records from a staged run's out/
//   attngen_tune best    [--log FILE] [--out FILE]    regenerate the best-points table
//   attngen_tune report  [--log FILE] [--chart FILE.svg] [--peak GFLOPS]
//   attngen_tune space   --variant V [--bucket B] [--head-dim D] [--target T]   list the legal points
//   attngen_tune check   FILE                          validate a log (.jsonl) or a best table
//
// Builder: the candidate's generator is created in a child process from
// Halide's GeneratorRegistry (the generators are linked in), compiled to an
// object (symbol attngen_candidate) and linked with runner_main.cpp into an
// executable artifact. Runner: local runs the artifact in a child process
// with a timeout; remote substitutes it into the user's command template.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "Halide.h"
#include "io/json.h"
#include "tuning.h"

#ifndef ATTNGEN_HALIDE_VERSION
#error "ATTNGEN_HALIDE_VERSION must be defined by the build"
#endif

using namespace attngen;
using namespace attngen::tune;

namespace {

const char *kDefaultTarget = "x86-64-linux-avx512_skylake-avx2-avx-f16c-fma-sse41";

std::string now_iso() {
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

std::string shell_quote(const std::string &s) {
    std::string o = "'";
    for (char c : s) {
        if (c == '\'') o += "'\\''";
        else o += c;
    }
    return o + "'";
}

std::string read_file(const std::string &p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::string tail(const std::string &s, size_t n = 600) {
    std::string t = s.size() > n ? "..." + s.substr(s.size() - n) : s;
    for (char &c : t)
        if (c == '\n' || c == '\r') c = ' ';
    return t;
}

// ---- Workloads (the benchmark's, bench/bench_main.cpp) ---------------------------
struct Workload {
    std::string name;
    int B = 1, H = 8, Hkv = 0, Nq = 1280, Nk = 1280, D = 64, offset = 0, image = 32;
    bool causal = true;
    std::string describe() const {
        char buf[200];
        std::snprintf(buf, sizeof buf, "B%d H%d Hkv%d Nq%d Nk%d D%d offset%d%s", B, H, Hkv ? Hkv : H, Nq, Nk, D,
                      offset, causal ? " causal" : "");
        return (name.empty() ? std::string() : name + ": ") + buf;
    }
};

bool named_workload(const std::string &n, const Key &key, Workload *w, std::string *err) {
    Workload x;
    x.name = n;
    if (n == "dalle") {
        x.B = 1, x.H = 8, x.Nq = x.Nk = 1280, x.D = 64;
    } else if (n == "sd_self") {
        x.B = 2, x.H = 8, x.Nq = x.Nk = 4096, x.D = 40;
    } else if (n == "long") {
        x.B = 1, x.H = 16, x.Nq = x.Nk = 16384, x.D = 64;
    } else if (n == "decode") {
        x.B = 8, x.H = 8, x.Nq = 1, x.Nk = 1280, x.D = 64, x.offset = 1279;
    } else {
        *err = "unknown workload '" + n + "' (dalle, sd_self, decode, long; or --shape)";
        return false;
    }
    if (key.variant == "chunked") x.causal = false;
    if (key.bucket == "group") {
        // One GQA decode step folded as the runtime does: the 4 query heads
        // of a group are 4 queries of one K/V head, all seeing every key.
        x.Hkv = x.H = x.H / 4 > 0 ? x.H / 4 : 1;
        x.Nq = 4;
        x.offset = 0;
        x.causal = false;
    }
    *w = x;
    return true;
}

bool parse_shape(const std::string &s, Workload *w, std::string *err) {
    Workload x;
    std::stringstream ss(s);
    for (std::string tok; ss >> tok;) {
        size_t eq = tok.find('=');
        if (eq == std::string::npos) {
            *err = "shape: '" + tok + "' is not name=value";
            return false;
        }
        std::string n = tok.substr(0, eq);
        char *end = nullptr;
        long v = std::strtol(tok.c_str() + eq + 1, &end, 10);
        if (*end || v < 0 || v > (1 << 24)) {
            *err = "shape: bad value in '" + tok + "'";
            return false;
        }
        if (n == "B") x.B = int(v);
        else if (n == "H") x.H = int(v);
        else if (n == "Hkv") x.Hkv = int(v);
        else if (n == "Nq") x.Nq = int(v);
        else if (n == "Nk") x.Nk = int(v);
        else if (n == "N") x.Nq = x.Nk = int(v);
        else if (n == "D") x.D = int(v);
        else if (n == "offset") x.offset = int(v);
        else if (n == "image") x.image = int(v);
        else if (n == "causal") x.causal = v != 0;
        else {
            *err = "shape: unknown field '" + n + "' (B H Hkv N Nq Nk D offset image causal)";
            return false;
        }
    }
    if (x.B < 1 || x.H < 1 || x.Nq < 1 || x.Nk < 1 || x.D < 1 || (x.Hkv && x.H % x.Hkv)) {
        *err = "shape: sizes must be positive and H a multiple of Hkv";
        return false;
    }
    *w = x;
    return true;
}

// ---- Child processes ------------------------------------------------------------------
struct ChildResult {
    bool timed_out = false;
    bool signaled = false;
    int sig = 0;
    int exit_code = 0;
    std::string out;  // stdout
};

// Runs fn() in a forked child (stdout to a pipe, stderr to err_path),
// killing its process group after timeout_s.
template<typename F>
ChildResult in_child(F fn, double timeout_s, const std::string &err_path) {
    ChildResult r;
    int fds[2];
    if (pipe(fds) != 0) {
        r.exit_code = 127;
        return r;
    }
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        r.exit_code = 127;
        close(fds[0]);
        close(fds[1]);
        return r;
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        int e = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (e >= 0) dup2(e, 2);
        _exit(fn());
    }
    setpgid(pid, pid);
    close(fds[1]);
    auto t0 = std::chrono::steady_clock::now();
    char buf[4096];
    bool open_ = true;
    while (open_) {
        double left = timeout_s - std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (left <= 0) {
            r.timed_out = true;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        int pr = poll(&p, 1, int(std::min(left, 1.0) * 1000) + 1);
        if (pr > 0) {
            ssize_t n = read(fds[0], buf, sizeof buf);
            if (n > 0) r.out.append(buf, size_t(n));
            else open_ = false;
        }
    }
    close(fds[0]);
    int status = 0;
    // The pipe closed: the child is exiting; a grandchild holding it is
    // killed with the group at the deadline.
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        double left = timeout_s - std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (left <= 0 && !r.timed_out) {
            r.timed_out = true;
            kill(-pid, SIGKILL);
        }
        usleep(2000);
    }
    kill(-pid, SIGKILL);  // stray grandchildren
    if (WIFSIGNALED(status)) {
        r.signaled = true;
        r.sig = WTERMSIG(status);
    } else if (WIFEXITED(status)) {
        r.exit_code = WEXITSTATUS(status);
    }
    return r;
}

ChildResult run_shell(const std::string &cmd, double timeout_s, const std::string &err_path) {
    return in_child(
        [&]() {
            execl("/bin/sh", "sh", "-c", cmd.c_str(), (char *)nullptr);
            return 127;
        },
        timeout_s, err_path);
}

// ---- Builder --------------------------------------------------------------------------
struct BuildInput {
    std::string generator;
    std::map<std::string, std::string> params;  // generator params
    std::string target;
    std::string autoscheduler;  // "" = the knobs' schedule
    std::string dir;            // artifact directory (created)
    std::string cxx = ATTNGEN_TUNE_CXX;                // linker driver (a cross compiler for remote ARM)
    std::string runner_lib = ATTNGEN_TUNE_RUNNER_LIB;  // runner_main.cpp built for the artifact's machine
};
struct BuildResult {
    std::string artifact;  // executable; empty on failure
    std::string error;
    bool timed_out = false;
};

std::string autosched_plugin(const std::string &name) {
    std::string lc = name;
    std::transform(lc.begin(), lc.end(), lc.begin(), ::tolower);
#ifdef ATTNGEN_AUTOSCHED_DIR
    return std::string(ATTNGEN_AUTOSCHED_DIR) + "/libautoschedule_" + lc + ".so";
#else
    return "libautoschedule_" + lc + ".so";
#endif
}

BuildResult build_candidate(const BuildInput &in, double timeout_s) {
    BuildResult br;
    mkdir(in.dir.c_str(), 0755);
    const std::string obj = in.dir + "/candidate.o", exe = in.dir + "/artifact", log = in.dir + "/build.log";
    ChildResult c = in_child(
        [&]() {
            // Bound the compiler's memory (an autoscheduler can take many GB).
            rlimit lim{size_t(8) << 30, size_t(8) << 30};
            setrlimit(RLIMIT_AS, &lim);
            try {
                Halide::Target t(in.target);
                if (!in.autoscheduler.empty()) {
                    Halide::load_plugin(autosched_plugin(in.autoscheduler));
                    Halide::Pipeline::set_default_autoscheduler_name(in.autoscheduler);
                }
                Halide::GeneratorContext ctx(t, !in.autoscheduler.empty(),
                                             Halide::MachineParams(int(std::thread::hardware_concurrency()),
                                                                   16 * 1024 * 1024, 40));
                auto gen = Halide::Internal::GeneratorRegistry::create(in.generator, ctx);
                Halide::Internal::GeneratorParamsMap pm;
                for (const auto &[k, v] : in.params) pm[k] = v;
                gen->set_generator_param_values(pm);
                Halide::Module m = gen->build_module("attngen_candidate");
                m.compile({{Halide::OutputFileType::object, obj}});
            } catch (const std::exception &e) {
                std::fprintf(stderr, "%s\n", e.what());
                return 1;
            }
            return 0;
        },
        timeout_s, log);
    if (c.timed_out) {
        br.timed_out = true;
        br.error = "build timed out after " + std::to_string(int(timeout_s)) + " s";
        return br;
    }
    if (c.signaled || c.exit_code != 0) {
        br.error = (c.signaled ? "compiler died with signal " + std::to_string(c.sig) : std::string("compile error")) +
                   ": " + tail(read_file(log));
        return br;
    }
    const std::string link = in.cxx + " " + shell_quote(obj) + " " + shell_quote(in.runner_lib) + " -o " +
                             shell_quote(exe) + " -ldl -lpthread";
    ChildResult l = run_shell(link, 120, in.dir + "/link.log");
    if (l.timed_out || l.signaled || l.exit_code != 0) {
        br.error = "link failed: " + tail(read_file(in.dir + "/link.log"));
        return br;
    }
    br.artifact = exe;
    return br;
}

// ---- Runner ---------------------------------------------------------------------------
struct RunResult {
    std::string status;  // ok | run_error | crash | timeout | wrong_answer
    std::string error;
    double median_s = 0, min_s = 0, max_err = 0, flops = 0;
    int repeats = 0;
};

std::string expand(std::string tmpl, const std::string &artifact, const std::string &args) {
    auto sub = [&](const std::string &what, const std::string &with) {
        for (size_t p = tmpl.find(what); p != std::string::npos; p = tmpl.find(what, p + with.size()))
            tmpl.replace(p, what.size(), with);
    };
    sub("{artifact}", shell_quote(artifact));
    sub("{args}", args);
    return tmpl;
}

// The outcome of one artifact run from its stdout and exit status (a
// child here, or a staged run elsewhere); stderr_text explains failures.
RunResult parse_run(const ChildResult &c, const std::string &stderr_text, double timeout_s) {
    RunResult rr;
    if (c.timed_out) {
        rr.status = "timeout";
        rr.error = "run timed out after " + std::to_string(int(timeout_s)) + " s";
        return rr;
    }
    // The last line that parses as a JSON object is the runner's report.
    io::Json rep;
    bool have = false;
    std::stringstream ss(c.out);
    for (std::string line; std::getline(ss, line);) {
        io::Json j;
        std::string e;
        if (!line.empty() && line[0] == '{' && io::json_parse(line, &j, &e) && j.is_object() && j.find("ok")) {
            rep = j;
            have = true;
        }
    }
    const bool crashed = c.signaled || c.exit_code >= 128;
    if (!have) {
        rr.status = crashed ? "crash" : "run_error";
        rr.error = (c.signaled ? "signal " + std::to_string(c.sig)
                               : "exit status " + std::to_string(c.exit_code)) +
                   ", no report: " + tail(stderr_text + c.out);
        return rr;
    }
    if (!rep.find("ok")->as_bool()) {
        const io::Json *st = rep.find("status"), *er = rep.find("error");
        rr.status = st && st->is_string() && st->as_string() == "wrong_answer" ? "wrong_answer" : "run_error";
        rr.error = er ? er->as_string() : "runner failed";
        return rr;
    }
    auto num = [&](const char *n) {
        const io::Json *v = rep.find(n);
        return v ? v->as_number() : 0.0;
    };
    rr.median_s = num("median_s");
    rr.min_s = num("min_s");
    rr.max_err = num("max_err");
    rr.flops = num("flops");
    rr.repeats = int(num("repeats"));
    if (!(rr.median_s > 0)) {
        rr.status = "run_error";
        rr.error = "report without a time";
        return rr;
    }
    rr.status = crashed ? "crash" : "ok";
    if (crashed) rr.error = "crashed after reporting";
    return rr;
}

RunResult run_artifact(const std::string &tmpl, const std::string &artifact, const std::string &args,
                       double timeout_s, const std::string &err_path) {
    ChildResult c = run_shell(expand(tmpl, artifact, args), timeout_s, err_path);
    return parse_run(c, read_file(err_path), timeout_s);
}

// One log record: the identity of a measurement and its outcome (the times
// only when rr is given; status and error as the caller says).
struct RecordOrigin {
    std::string session, workload, runner;
    Key key;
    uint64_t seed = 0;
};
Record make_record(const RecordOrigin &o, const std::string &id, const std::string &role, const std::string &params,
                   const std::string &status, const std::string &error, const RunResult *rr, int rung) {
    Record r;
    r.id = id;
    r.session = o.session;
    r.time = now_iso();
    r.key = o.key;
    r.workload = o.workload;
    r.role = role;
    r.params = params;
    r.status = status;
    r.error = error;
    r.runner = o.runner;
    r.seed = o.seed;
    r.rung = rung;
    if (rr) {
        r.median_s = rr->median_s;
        r.min_s = rr->min_s;
        r.repeats = rr->repeats;
        r.max_err = rr->max_err;
        r.flops = rr->flops;
    }
    return r;
}

// ---- Options --------------------------------------------------------------------------
struct Args {
    std::map<std::string, std::string> kv;
    std::vector<std::string> pos;
    std::string get(const std::string &k, const std::string &def = "") const {
        auto it = kv.find(k);
        return it == kv.end() ? def : it->second;
    }
    bool has(const std::string &k) const { return kv.count(k) > 0; }
};

bool parse_args(int argc, char **argv, int start, Args *a, std::string *err) {
    static const std::vector<std::string> flags = {"--rotary", "--help"};
    for (int i = start; i < argc; i++) {
        std::string s = argv[i];
        if (s.rfind("--", 0) == 0) {
            if (std::find(flags.begin(), flags.end(), s) != flags.end()) {
                a->kv[s] = "1";
                continue;
            }
            if (i + 1 >= argc) {
                *err = "missing value after " + s;
                return false;
            }
            a->kv[s] = argv[++i];
        } else {
            a->pos.push_back(s);
        }
    }
    return true;
}

bool to_int(const std::string &s, long lo, long hi, long *out) {
    char *end = nullptr;
    errno = 0;
    long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}
bool to_double(const std::string &s, double lo, double hi, double *out) {
    char *end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

bool key_from_args(const Args &a, Key *k, std::string *err) {
    k->variant = a.get("--variant");
    k->dtype = a.get("--dtype", "f32");
    k->bucket = a.get("--bucket", "prefill");
    k->rotary = a.has("--rotary");
    k->halide = ATTNGEN_HALIDE_VERSION;
    k->target = target_level(a.get("--target", kDefaultTarget));
    long hd = 0;
    if (a.has("--head-dim") && !to_int(a.get("--head-dim"), 0, 1024, &hd)) {
        *err = "--head-dim: expected 0..1024 (0 = any)";
        return false;
    }
    k->head_dim = int(hd);
    return check_key_names(*k, err);
}

// The hand default of the key, from tuning/cpu_defaults.cmake (GPU keys:
// gpu_defaults.cmake; one source of truth with the build), evaluated by
// CMake in script mode.
bool hand_default(const Key &k, std::string *params, std::string *err, const std::string &work) {
    const std::string script = work + "/print_default.cmake";
    // GPU keys: the GPU family's table (tuning/gpu_defaults.cmake).
    const bool gpu = k.target.rfind("cuda", 0) == 0;
    std::ofstream(script) << "include(\"" << ATTNGEN_SOURCE_DIR << "/tuning/"
                          << (gpu ? "gpu_defaults.cmake" : "cpu_defaults.cmake") << "\")\n"
                          << (gpu ? "attngen_gpu_default_knobs(k " : "attngen_default_knobs(k ") << k.variant << " "
                          << k.head_dim << " " << k.bucket << ")\n"
                          << "execute_process(COMMAND ${CMAKE_COMMAND} -E echo \"${k}\")\n";
    ChildResult c = run_shell(std::string(ATTNGEN_CMAKE_COMMAND) + " -P " + shell_quote(script), 60,
                              work + "/print_default.log");
    std::string p = c.out;
    while (!p.empty() && (p.back() == '\n' || p.back() == ' ')) p.pop_back();
    Knobs kn;
    if (c.exit_code != 0 || p.empty() || !parse_params(p, &kn, err)) {
        *err = std::string("cannot read the hand default from tuning/") + (gpu ? "gpu" : "cpu") + "_defaults.cmake: " + *err + tail(read_file(work + "/print_default.log"));
        return false;
    }
    *params = params_of(k.variant, kn);
    return true;
}

std::string generator_of(const std::string &variant) {
    if (variant.rfind("sparse_axial", 0) == 0) return "attngen_sparse_axial";
    return "attngen_" + variant;
}

std::map<std::string, std::string> gen_params(const Key &k, const std::string &params) {
    std::map<std::string, std::string> m;
    std::stringstream ss(params);
    for (std::string tok; ss >> tok;) {
        size_t eq = tok.find('=');
        m[tok.substr(0, eq)] = tok.substr(eq + 1);
    }
    m["head_dim"] = std::to_string(k.head_dim);
    if (k.variant == "sparse_axial_row") m["axis"] = "0";
    if (k.variant == "sparse_axial_col") m["axis"] = "1";
    // The DALL-E sparse kernels are built fused-rotary only at half storage
    // (CMakeLists.txt); the key says which.
    m["rotary"] = k.rotary ? "true" : "false";
    const std::string ht = k.dtype == "f32" ? "float32" : k.dtype == "f16" ? "float16" : "uint16";
    for (const char *b : {"q", "k", "v", "out"}) m[std::string(b) + ".type"] = ht;
    return m;
}

std::string fmt_time(double s) {
    char buf[32];
    if (s >= 60) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
    else std::snprintf(buf, sizeof buf, "%.0fs", s);
    return buf;
}

// ---- attngen_tune run -------------------------------------------------------------------
int cmd_run(const Args &a) {
    std::string err;
    Key key;
    if (!key_from_args(a, &key, &err)) {
        std::fprintf(stderr, "attngen_tune: %s\n", err.c_str());
        return 2;
    }
    const std::string target = a.get("--target", kDefaultTarget);
    {
        Halide::Target t;
        if (!Halide::Target::validate_target_string(target)) {
            std::fprintf(stderr, "attngen_tune: invalid Halide target '%s'\n", target.c_str());
            return 2;
        }
    }
    Space sp;
    if (!make_space(key, &sp, &err)) {
        std::fprintf(stderr, "attngen_tune: %s\n", err.c_str());
        return 2;
    }
    Workload w;
    if (a.has("--shape")) {
        if (!parse_shape(a.get("--shape"), &w, &err)) {
            std::fprintf(stderr, "attngen_tune: %s\n", err.c_str());
            return 2;
        }
    } else {
        const std::string def_wl = key.bucket == "prefill" ? (key.variant == "chunked" ? "sd_self" : "dalle")
                                   : key.bucket == "long"  ? "long"
                                                           : "decode";
        std::string wn = a.get("--workload", def_wl);
        if (!named_workload(wn, key, &w, &err)) {
            std::fprintf(stderr, "attngen_tune: %s\n", err.c_str());
            return 2;
        }
    }
    if (!a.has("--head-dim")) key.head_dim = w.D;
    if (key.head_dim != 0 && key.head_dim != w.D) {
        std::fprintf(stderr, "attngen_tune: the workload's head dim %d differs from --head-dim %d\n", w.D, key.head_dim);
        return 2;
    }
    sp.head_dim = key.head_dim;
    long budget = 16, seed = 1, rungs = 3, repeats = 5, confirm = 5;
    double min_time = 0.02, timeout = 120, build_timeout = 600;
    if ((a.has("--budget") && !to_int(a.get("--budget"), 0, 100000, &budget)) ||
        (a.has("--seed") && !to_int(a.get("--seed"), 0, (1L << 52), &seed)) ||
        (a.has("--rungs") && !to_int(a.get("--rungs"), 1, 10, &rungs)) ||
        (a.has("--confirm") && !to_int(a.get("--confirm"), 0, 100, &confirm)) ||
        (a.has("--repeats") && !to_int(a.get("--repeats"), 1, 1000, &repeats)) ||
        (a.has("--min-time") && !to_double(a.get("--min-time"), 0, 60, &min_time)) ||
        (a.has("--timeout") && !to_double(a.get("--timeout"), 0.1, 3600, &timeout)) ||
        (a.has("--build-timeout") && !to_double(a.get("--build-timeout"), 1, 36000, &build_timeout))) {
        std::fprintf(stderr, "attngen_tune: bad --budget/--seed/--rungs/--confirm/--repeats/--min-time/--timeout value\n");
        return 2;
    }
    const std::string strategy = a.get("--strategy", "auto");
    if (strategy != "auto" && strategy != "exhaustive" && strategy != "random") {
        std::fprintf(stderr, "attngen_tune: --strategy must be auto, exhaustive or random\n");
        return 2;
    }
    const std::string remote = a.get("--remote");
    if (!remote.empty() && remote.find("{artifact}") == std::string::npos) {
        std::fprintf(stderr, "attngen_tune: --remote template needs {artifact}\n");
        return 2;
    }
    const std::string tmpl = remote.empty() ? "exec {artifact} {args}" : remote;
    const std::string log_path = a.get("--log", std::string(ATTNGEN_SOURCE_DIR) + "/tuning/db/log.jsonl");
    char sess[64];
    {
        std::time_t t = std::time(nullptr);
        std::strftime(sess, sizeof sess, "%Y%m%dT%H%M%SZ", std::gmtime(&t));
        std::snprintf(sess + std::strlen(sess), sizeof sess - std::strlen(sess), "-%d", int(getpid()));
    }
    const std::string session = sess;
    const std::string work = a.get("--work", "/tmp/attngen-tune-" + session);
    if (mkdir(work.c_str(), 0755) != 0 && errno != EEXIST) {
        std::fprintf(stderr, "attngen_tune: cannot create %s\n", work.c_str());
        return 2;
    }
    std::string def_params = a.get("--default-params");
    if (def_params.empty() && !hand_default(key, &def_params, &err, work)) {
        std::fprintf(stderr, "attngen_tune: %s\n", err.c_str());
        return 2;
    }
    Knobs def_knobs;
    if (!parse_params(def_params, &def_knobs, &err)) {
        std::fprintf(stderr, "attngen_tune: default params: %s\n", err.c_str());
        return 2;
    }

    // Candidates: every legal point when the space fits the budget
    // (exhaustive), else a seeded random sample of `budget` points.
    const std::vector<Knobs> all = sp.enumerate();
    if (all.empty()) {
        std::fprintf(stderr, "attngen_tune: the %s space of %s has no legal point at head dim %d (check_cpu_knobs)\n",
                     sp.family.c_str(), key.kernel_name().c_str(), key.head_dim);
        return 2;
    }
    std::vector<Knobs> cands;
    std::string how;
    if (strategy == "exhaustive" || (strategy == "auto" && all.size() <= size_t(budget) + 1)) {
        for (const Knobs &k : all)
            if (!same_knobs(k, def_knobs)) cands.push_back(k);
        how = "exhaustive";
    } else {
        cands = sample(sp, size_t(budget), uint64_t(seed), {def_knobs});
        how = "random sample + successive halving";
    }
    std::vector<std::string> autos;
    {
        std::stringstream ss(a.get("--autosched", ""));
        for (std::string s; std::getline(ss, s, ',');)
            if (!s.empty()) autos.push_back(s);
    }
    std::fprintf(stderr, "attngen_tune: %s on %s (%s), Halide %s\n  workload %s\n  space %zu legal points; %s of %zu; seed %ld; log %s\n",
                 key.kernel_name().c_str(), key.target.c_str(), target.c_str(), key.halide.c_str(),
                 w.describe().c_str(), all.size(), how.c_str(), cands.size(), seed, log_path.c_str());

    const std::string wl = w.describe();
    int rec_n = 0;
    const RecordOrigin origin{session, wl, remote.empty() ? "local" : "remote:" + remote, key, uint64_t(seed)};
    auto record = [&](const std::string &role, const std::string &params, const std::string &status,
                      const std::string &error, const RunResult *rr, int rung) {
        const Record r =
            make_record(origin, session + "-" + std::to_string(++rec_n), role, params, status, error, rr, rung);
        std::string e;
        if (!append_log(log_path, r, &e)) std::fprintf(stderr, "\nattngen_tune: %s\n", e.c_str());
        return r;
    };
    auto args_for = [&](const std::string &params, double mt, int reps, const std::string &refopt) {
        std::string s = "--variant " + key.variant + " --B " + std::to_string(w.B) + " --H " + std::to_string(w.H) +
                        " --Hkv " + std::to_string(w.Hkv ? w.Hkv : w.H) + " --Nq " + std::to_string(w.Nq) +
                        " --Nk " + std::to_string(w.Nk) + " --D " + std::to_string(w.D) + " --offset " +
                        std::to_string(w.offset) + " --image " + std::to_string(w.image) + " --causal " +
                        (w.causal ? "1" : "0") + " --rotary " + (key.rotary ? "1" : "0") + " --params " +
                        shell_quote(params) + " --min-time " + std::to_string(mt) + " --repeats " +
                        std::to_string(reps) + " --seed " + std::to_string(seed) + " " + refopt;
        return s;
    };

    // Artifacts are built once and re-measured on later rungs.
    struct Cand {
        std::string role, params, autosched;
        std::string artifact, build_error;
        bool built = false, failed = false;
        double last = 0;
    };
    std::vector<Cand> cs;
    cs.push_back({"default", def_params, "", "", "", false, false, 0});
    for (const std::string &as : autos) cs.push_back({"autosched:" + as, "", as, "", "", false, false, 0});
    const size_t first_cand = cs.size();
    for (const Knobs &k : cands) cs.push_back({"candidate", params_of(key.variant, k), "", "", "", false, false, 0});
    // The builder's input for candidate c (the default's params when it
    // has none: autoscheduler baselines), artifacts in dir.
    auto build_input = [&](const Cand &c, const std::string &dir) {
        BuildInput bi;
        bi.generator = generator_of(key.variant);
        bi.params = gen_params(key, c.params.empty() ? def_params : c.params);
        bi.target = target;
        bi.autoscheduler = c.autosched;
        bi.dir = dir;
        if (a.has("--cxx")) bi.cxx = a.get("--cxx");
        if (a.has("--runner-lib")) bi.runner_lib = a.get("--runner-lib");
        return bi;
    };

    const std::string ref = work + "/reference.f32";
    // Planned measurements: every candidate on rung 0, then the survivors
    // of each halving (eta 3, at least 2), plus the default on every rung.
    size_t done = 0, planned = cs.size();
    for (size_t n = cands.size(), r = 1; r < size_t(rungs) && n > 2; r++) {
        n = std::max<size_t>(2, (n + 2) / 3);
        planned += n + 1;
    }
    auto t_start = std::chrono::steady_clock::now();
    double best = 0;
    std::string best_params;
    double def_time = 0;
    auto progress = [&](int rung, const Cand &c, const std::string &what) {
        done++;
        const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
        const double eta = done ? el / done * double(planned > done ? planned - done : 0) : 0;
        std::fprintf(stderr, "\r\033[K[%zu/%zu] rung %d %-9s %-58.58s %-22.22s best %.3f ms (%.2fx) ETA %s", done,
                     planned, rung, c.role.substr(0, 9).c_str(), (c.params.empty() ? c.autosched : c.params).c_str(),
                     what.c_str(), best * 1e3, best > 0 && def_time > 0 ? def_time / best : 0.0,
                     fmt_time(eta).c_str());
        if (!isatty(2)) std::fprintf(stderr, "\n");
    };
    // Staged remote run, for a machine the tuner cannot reach with a
    // command (the GPU machine of the device tool): rung 0 only. Every
    // artifact is built into --stage DIR next to run.sh; run.sh runs them
    // there (the default first: it writes the reference the others are
    // checked against) and leaves each report in out/; `attngen_tune import
    // DIR` turns the reports into records of this session.
    const std::string stage = a.get("--stage");
    if (!stage.empty()) {
        if (!autos.empty() || !remote.empty()) {
            std::fprintf(stderr, "attngen_tune: --stage takes neither --autosched nor --remote\n");
            return 2;
        }
        if (mkdir(stage.c_str(), 0755) != 0 && errno != EEXIST) {
            std::fprintf(stderr, "attngen_tune: cannot create %s\n", stage.c_str());
            return 2;
        }
        std::ofstream meta(stage + "/stage.tsv"), plan(stage + "/plan.tsv");
        meta << "session\t" << session << "\nkernel\t" << key.kernel_name() << "\ntarget\t" << key.target
             << "\nhalide\t" << key.halide << "\nworkload\t" << wl << "\nseed\t" << seed << "\ntimeout\t"
             << int(timeout) << "\n";
        std::string sh = "#!/bin/sh\n# Staged tuning run of " + key.kernel_name() + " (" + key.target + ", " + wl +
                         "), written by attngen_tune run --stage.\n# Run it on the target machine, bring out/ back, "
                         "then: attngen_tune import <this directory>\n"
                         "cd \"$(dirname \"$0\")\" || exit 2\nmkdir -p out\n"
                         "run() { i=$1; shift; timeout " + std::to_string(int(timeout)) +
                         " ./c$i/artifact \"$@\" > out/c$i.out 2> out/c$i.err; echo $? > out/c$i.rc; "
                         "echo \"c$i: $(tail -n 1 out/c$i.out)\"; }\n";
        size_t staged = 0;
        for (size_t i = 0; i < cs.size(); i++) {
            Cand &c = cs[i];
            const BuildInput bi = build_input(c, stage + "/c" + std::to_string(i));
            BuildResult br = build_candidate(bi, build_timeout);
            if (br.artifact.empty()) {
                if (i == 0) {
                    std::fprintf(stderr, "\nattngen_tune: the hand default failed to build: %s\n", br.error.c_str());
                    return 1;
                }
                record(c.role, c.params, br.timed_out ? "timeout" : "build_error", br.error, nullptr, 0);
                progress(0, c, br.timed_out ? "build timeout" : "build error");
                continue;
            }
            std::remove((bi.dir + "/candidate.o").c_str());
            const std::string refopt = i == 0 ? "--naive 1 --write-ref reference.f32" : "--ref reference.f32";
            sh += "run " + std::to_string(i) + " " + args_for(c.params, min_time, int(repeats), refopt) + "\n";
            plan << i << '\t' << c.role << '\t' << c.params << '\n';
            staged++;
            progress(0, c, "staged");
        }
        std::ofstream(stage + "/run.sh") << sh;
        chmod((stage + "/run.sh").c_str(), 0755);
        std::fprintf(stderr, "\n");
        std::printf("%s %s: %zu artifacts staged in %s (session %s): run %s/run.sh on the target machine, bring "
                    "its out/ back, then: attngen_tune import %s\n",
                    key.kernel_name().c_str(), key.target.c_str(), staged, stage.c_str(), session.c_str(),
                    stage.c_str(), stage.c_str());
        return 0;
    }

    auto measure = [&](size_t i, int rung) -> Measurement {
        Cand &c = cs[i];
        if (c.failed) return {};
        const std::string dir = work + "/c" + std::to_string(i);
        if (!c.built) {
            BuildResult br = build_candidate(build_input(c, dir), build_timeout);
            c.built = true;
            if (br.artifact.empty()) {
                c.failed = true;
                record(c.role, c.params, br.timed_out ? "timeout" : "build_error", br.error, nullptr, rung);
                progress(rung, c, br.timed_out ? "build timeout" : "build error");
                return {};
            }
            c.artifact = br.artifact;
        }
        const double mt = min_time * double(1 << rung);
        const int reps = rung == 0 ? std::max(3, int(repeats) / 2) : int(repeats);
        const bool is_ref = c.role == "default" && rung == 0;
        const std::string refopt = (is_ref ? "--naive 1 --write-ref " : "--ref ") + shell_quote(ref);
        RunResult rr = run_artifact(tmpl, c.artifact, args_for(c.params, mt, reps, refopt), timeout, dir + "/run.log");
        record(c.role, c.params, rr.status, rr.error, rr.status == "ok" ? &rr : nullptr, rung);
        if (rr.status != "ok") {
            c.failed = true;
            progress(rung, c, rr.status);
            return {};
        }
        c.last = rr.median_s;
        if (c.role == "default") def_time = rr.median_s;
        if (c.autosched.empty() && (best == 0 || rr.median_s < best)) {
            best = rr.median_s;
            best_params = c.params;
        }
        char what[64];
        std::snprintf(what, sizeof what, "%.3f ms %.1f GF/s", rr.median_s * 1e3, rr.flops / rr.median_s * 1e-9);
        progress(rung, c, what);
        return {true, rr.median_s};
    };

    // The default (reference + baseline) first; the search cannot start
    // without a reference.
    if (!measure(0, 0).ok) {
        std::fprintf(stderr, "\nattngen_tune: the hand default failed (see %s); no reference, stopping\n",
                     log_path.c_str());
        return 1;
    }
    for (size_t i = 1; i < first_cand; i++) measure(i, 0);
    // Successive halving over the candidates; the default is re-measured on
    // every rung so that speedups compare equal measurement lengths.
    int last_rung = 0;
    std::vector<size_t> ranking = successive_halving(
        cs.size() - first_cand, int(rungs), 3, 2, [&](size_t idx, int rung) {
            if (rung > last_rung) {
                last_rung = rung;
                best = 0;  // compare within a rung (equal measurement lengths)
                measure(0, rung);
            }
            return measure(first_cand + idx, rung);
        });
    std::fprintf(stderr, "\n");
    size_t failures = 0;
    for (const Cand &c : cs) failures += c.failed;
    if (ranking.empty()) {
        std::printf("%s: no candidate was measured successfully (%zu failures); default %.3f ms\n", key.kernel_name().c_str(),
                    failures, def_time * 1e3);
        return 0;
    }
    const Cand &top = cs[first_cand + ranking[0]];
    // A candidate that beat the default is confirmed against it on one more
    // rung: `confirm` rounds alternating the two, so a burst of load on a
    // shared machine hits both (one measurement each per rung let such a
    // burst crown a slower candidate). The table takes each point's median
    // over these rounds (deepest_points).
    double def_final = def_time, top_final = top.last;
    if (confirm > 0 && top.last < def_time && !cs[0].failed) {
        const int rung = last_rung + 1;
        planned += 2 * size_t(confirm);
        std::vector<double> td, tt;
        for (long r = 0; r < confirm; r++) {
            const Measurement a = measure(0, rung), b = measure(first_cand + ranking[0], rung);
            if (a.ok) td.push_back(a.median_s);
            if (b.ok) tt.push_back(b.median_s);
        }
        auto median = [](std::vector<double> v) {
            std::sort(v.begin(), v.end());
            return v.empty() ? 0.0 : v[v.size() / 2];
        };
        def_final = median(td);
        top_final = median(tt);
        std::fprintf(stderr, "\n");
    }
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::printf("%s %s: default %.3f ms [%s]; best %.3f ms [%s] = %.2fx; %zu measured candidates, %zu failures, %s\n",
                key.kernel_name().c_str(), key.target.c_str(), def_final * 1e3, def_params.c_str(), top_final * 1e3,
                top.params.c_str(), top_final > 0 ? def_final / top_final : 0.0, cs.size() - first_cand, failures,
                fmt_time(el).c_str());
    std::printf("session %s; regenerate the table with: attngen_tune best --log %s\n", session.c_str(),
                log_path.c_str());
    return 0;
}

// ---- attngen_tune import DIR: the reports of a staged run -------------------------------
int cmd_import(const Args &a) {
    if (a.pos.size() != 1) {
        std::fprintf(stderr, "attngen_tune: import takes the stage directory (attngen_tune run --stage DIR)\n");
        return 2;
    }
    const std::string dir = a.pos[0];
    const std::string log_path = a.get("--log", std::string(ATTNGEN_SOURCE_DIR) + "/tuning/db/log.jsonl");
    std::map<std::string, std::string> meta;
    {
        std::stringstream ss(read_file(dir + "/stage.tsv"));
        for (std::string line; std::getline(ss, line);) {
            const size_t t = line.find('\t');
            if (t != std::string::npos) meta[line.substr(0, t)] = line.substr(t + 1);
        }
    }
    for (const char *f : {"session", "kernel", "target", "halide", "workload", "seed", "timeout"}) {
        if (!meta.count(f)) {
            std::fprintf(stderr, "attngen_tune: %s/stage.tsv: no '%s' (not a stage directory?)\n", dir.c_str(), f);
            return 2;
        }
    }
    Key key;
    std::string err;
    if (!parse_kernel_name(meta["kernel"], &key, &err)) {
        std::fprintf(stderr, "attngen_tune: %s/stage.tsv: %s\n", dir.c_str(), err.c_str());
        return 2;
    }
    key.target = meta["target"];
    key.halide = meta["halide"];
    const double timeout = std::atof(meta["timeout"].c_str());
    const RecordOrigin origin{meta["session"], meta["workload"], "remote:stage " + a.get("--runner", "(run.sh)"), key,
                              std::strtoull(meta["seed"].c_str(), nullptr, 10)};
    std::stringstream plan(read_file(dir + "/plan.tsv"));
    size_t n = 0, ok = 0;
    double def_time = 0, best = 0;
    std::string best_params;
    for (std::string line; std::getline(plan, line);) {
        std::vector<std::string> f;
        std::stringstream ls(line);
        for (std::string x; std::getline(ls, x, '\t');) f.push_back(x);
        if (f.size() != 3) continue;
        const std::string base = dir + "/out/c" + f[0];
        ChildResult c;
        RunResult rr;
        std::ifstream rcf(base + ".rc");
        int rc = -1;
        if (!(rcf >> rc)) {
            rr.status = "run_error";
            rr.error = "no report: c" + f[0] + " was not run (no " + base + ".rc)";
        } else {
            c.out = read_file(base + ".out");
            c.exit_code = rc;
            c.timed_out = rc == 124;  // timeout(1)
            c.signaled = rc > 128;
            c.sig = rc - 128;
            rr = parse_run(c, read_file(base + ".err"), timeout);
        }
        const Record r = make_record(origin, meta["session"] + "-c" + f[0], f[1], f[2], rr.status, rr.error,
                                     rr.status == "ok" ? &rr : nullptr, 0);
        if (rr.status == "ok") {
            ok++;
            if (r.role == "default") def_time = rr.median_s;
            if (best == 0 || rr.median_s < best) best = rr.median_s, best_params = r.params;
        }
        if (!append_log(log_path, r, &err)) {
            std::fprintf(stderr, "attngen_tune: %s\n", err.c_str());
            return 1;
        }
        n++;
        std::printf("c%-4s %-9s %-58s %s\n", f[0].c_str(), f[1].c_str(), f[2].c_str(),
                    rr.status == "ok" ? (std::to_string(rr.median_s * 1e3) + " ms").c_str()
                                      : (rr.status + ": " + tail(rr.error, 120)).c_str());
    }
    if (n == 0) {
        std::fprintf(stderr, "attngen_tune: %s/plan.tsv lists no artifact\n", dir.c_str());
        return 2;
    }
    std::printf("%s %s: %zu records (%zu ok) appended to %s; default %.3f ms, best %.3f ms [%s] = %.2fx\n",
                key.kernel_name().c_str(), key.target.c_str(), n, ok, log_path.c_str(), def_time * 1e3, best * 1e3,
                best_params.c_str(), def_time > 0 && best > 0 ? def_time / best : 0.0);
    return def_time > 0 ? 0 : 1;
}

// ---- attngen_tune best / report / space / check -----------------------------------------
int cmd_best(const Args &a) {
    const std::string log = a.get("--log", std::string(ATTNGEN_SOURCE_DIR) + "/tuning/db/log.jsonl");
    const std::string out = a.get("--out", std::string(ATTNGEN_SOURCE_DIR) + "/tuning/db/best.txt");
    std::vector<Record> recs;
    std::string err;
    if (!read_log(log, &recs, &err)) {
        std::fprintf(stderr, "attngen_tune: %s\n", err.c_str());
        return 1;
    }
    std::vector<BestEntry> es = best_from_log(recs);
    const std::string text = format_best(es);
    std::vector<BestEntry> back;
    if (!parse_best(text, &back, &err)) {  // never write a table the build would refuse
        std::fprintf(stderr, "attngen_tune: internal error, generated table does not parse: %s\n", err.c_str());
        return 1;
    }
    std::ofstream f(out);
    f << text;
    if (!f) {
        std::fprintf(stderr, "attngen_tune: cannot write %s\n", out.c_str());
        return 1;
    }
    std::printf("%s: %zu keys from %zu records\n", out.c_str(), es.size(), recs.size());
    for (const auto &e : es) std::printf("  %s %s: %s (%s)\n", e.key.kernel_name().c_str(), e.key.target.c_str(), e.params.c_str(), e.source.c_str());
    return 0;
}

__attribute__((target("avx512f,fma"))) double fma_probe_avx512(long iters) {
    typedef float v16 __attribute__((vector_size(64)));
    v16 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = v16{} + float(i) * 1e-3f;
    const v16 m = v16{} + 0.999999f, ad = v16{} + 1e-7f;
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) acc[i] = acc[i] * m + ad;
    float s = 0;
    for (int i = 0; i < 12; i++) s += acc[i][0];
    return s;
}

// fp32 FMA peak (GFLOP/s) on all cores, AVX-512 (the tuned target).
double fma_peak() {
    if (!__builtin_cpu_supports("avx512f")) return 0;
    const int nt = int(std::max(1u, std::thread::hardware_concurrency()));
    const long iters = 20000000;
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    std::vector<double> sink(nt);
    for (int t = 0; t < nt; t++) ts.emplace_back([&, t] { sink[t] = fma_probe_avx512(iters); });
    for (auto &t : ts) t.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return double(nt) * iters * 12 * 16 * 2 / s * 1e-9;
}

int cmd_report(const Args &a) {
    const std::string log = a.get("--log", std::string(ATTNGEN_SOURCE_DIR) + "/tuning/db/log.jsonl");
    const std::string chart = a.get("--chart", "tuning_report.svg");
    std::vector<Record> recs;
    std::string err;
    if (!read_log(log, &recs, &err)) {
        std::fprintf(stderr, "attngen_tune: %s\n", err.c_str());
        return 1;
    }
    double peak = 0;
    if (a.has("--peak") && !to_double(a.get("--peak"), 0, 1e9, &peak)) {
        std::fprintf(stderr, "attngen_tune: bad --peak\n");
        return 2;
    }
    if (!a.has("--peak")) peak = fma_peak();
    // Latest session per key; per role the record of the deepest rung.
    std::map<Key, std::string> latest;
    for (const auto &r : recs)
        if (!latest.count(r.key) || r.session > latest[r.key]) latest[r.key] = r.session;
    struct Row {
        std::string name, workload;
        double def = 0, tuned = 0, flops = 0;
        std::map<std::string, double> autos;
        std::map<std::string, std::string> auto_fail;
        int ok = 0, failed = 0;
    };
    std::vector<Row> rows;
    for (const auto &[key, session] : latest) {
        Row row;
        row.name = key.kernel_name() + " " + key.target;
        for (const auto &r : recs) {
            if (!(r.key == key) || r.session != session) continue;
            row.workload = r.workload;
            if (r.status != "ok") {
                row.failed++;
                if (r.role.rfind("autosched:", 0) == 0) row.auto_fail[r.role.substr(10)] = r.status;
                continue;
            }
            row.ok++;
            row.flops = r.flops;
            if (r.role.rfind("autosched:", 0) == 0) row.autos[r.role.substr(10)] = r.median_s;
        }
        // Default and tuned as the table has them (best_from_log).
        const SessionResult sr = session_result(recs, key, session);
        row.def = sr.def.median_s;
        row.tuned = sr.best.median_s;
        rows.push_back(row);
    }
    std::printf("fp32 FMA peak %.1f GFLOP/s%s\n", peak, a.has("--peak") ? " (given)" : " (measured, AVX-512, all cores)");
    std::printf("%-44s %-14s %10s %10s %7s %9s %9s  %s\n", "key", "", "default", "tuned", "speedup", "tuned GF/s",
                "% peak", "autoschedulers");
    for (const Row &r : rows) {
        std::string as;
        for (const auto &[n, t] : r.autos) {
            char b[64];
            std::snprintf(b, sizeof b, "%s %.3f ms (tuned %.2fx) ", n.c_str(), t * 1e3, r.tuned > 0 ? t / r.tuned : 0.0);
            as += b;
        }
        for (const auto &[n, s] : r.auto_fail) as += n + " " + s + " ";
        if (as.empty()) as = "not measured";
        const double gf = r.tuned > 0 ? r.flops / r.tuned * 1e-9 : 0;
        // GPU keys: no GPU peak here ("-"), and left out of the CPU chart.
        const bool gpu = r.name.find(" cuda") != std::string::npos;
        char pct[32] = "       -";
        if (!gpu) std::snprintf(pct, sizeof pct, "%8.1f%%", peak > 0 ? 100 * gf / peak : 0);
        std::printf("%-58s %8.3f ms %8.3f ms %6.2fx %9.1f %s  %s\n", r.name.c_str(), r.def * 1e3, r.tuned * 1e3,
                    r.tuned > 0 ? r.def / r.tuned : 0, gf, pct, as.c_str());
        std::printf("    %s; %d ok, %d failed measurements\n", r.workload.c_str(), r.ok, r.failed);
    }
    // Chart: GFLOP/s per CPU key (default, tuned, autoschedulers) against
    // the FMA peak, as a plain SVG bar chart.
    rows.erase(std::remove_if(rows.begin(), rows.end(),
                              [](const Row &r) { return r.name.find(" cuda") != std::string::npos; }),
               rows.end());
    const int W = 900, rowh = 54, top = 50, left = 330, H = top + rowh * int(rows.size()) + 50;
    double xmax = peak;
    for (const Row &r : rows) {
        xmax = std::max(xmax, r.def > 0 ? r.flops / r.def * 1e-9 : 0);
        xmax = std::max(xmax, r.tuned > 0 ? r.flops / r.tuned * 1e-9 : 0);
    }
    if (xmax <= 0) xmax = 1;
    const double sx = (W - left - 40) / xmax;
    std::ofstream svg(chart);
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
        << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        << "<text x=\"10\" y=\"20\" font-size=\"15\">attngen tuning: GFLOP/s per kernel (grey default, blue tuned, "
           "orange autoscheduler)</text>\n";
    int y = top;
    for (const Row &r : rows) {
        svg << "<text x=\"5\" y=\"" << y + 20 << "\">" << r.name << "</text>\n";
        auto bar = [&](double t, int dy, const char *color) {
            if (t <= 0) return;
            const double gf = r.flops / t * 1e-9;
            svg << "<rect x=\"" << left << "\" y=\"" << y + dy << "\" width=\"" << gf * sx << "\" height=\"12\" fill=\""
                << color << "\"/><text x=\"" << left + gf * sx + 4 << "\" y=\"" << y + dy + 10 << "\">"
                << int(gf + 0.5) << "</text>\n";
        };
        bar(r.def, 2, "#999999");
        bar(r.tuned, 16, "#3366cc");
        double as = 0;
        for (const auto &[n, t] : r.autos) as = as == 0 ? t : std::min(as, t);
        bar(as, 30, "#ff9900");
        y += rowh;
    }
    if (peak > 0)
        svg << "<line x1=\"" << left + peak * sx << "\" y1=\"" << top - 10 << "\" x2=\"" << left + peak * sx
            << "\" y2=\"" << y << "\" stroke=\"red\" stroke-dasharray=\"4\"/><text x=\"" << left + peak * sx - 120
            << "\" y=\"" << y + 20 << "\" fill=\"red\">FMA peak " << int(peak) << " GFLOP/s</text>\n";
    svg << "</svg>\n";
    if (!svg) {
        std::fprintf(stderr, "attngen_tune: cannot write %s\n", chart.c_str());
        return 1;
    }
    std::printf("chart: %s\n", chart.c_str());
    return 0;
}

int cmd_space(const Args &a) {
    Key key;
    std::string err;
    Space sp;
    if (!key_from_args(a, &key, &err) || !make_space(key, &sp, &err)) {
        std::fprintf(stderr, "attngen_tune: %s\n", err.c_str());
        return 2;
    }
    auto pts = sp.enumerate();
    std::printf("%s %s family %s: %zu legal points\n", key.kernel_name().c_str(), key.target.c_str(),
                sp.family.c_str(), pts.size());
    if (a.has("--sample")) {
        long n = 0, seed = 1;
        if (!to_int(a.get("--sample"), 0, 1000000, &n) || (a.has("--seed") && !to_int(a.get("--seed"), 0, 1L << 52, &seed))) {
            std::fprintf(stderr, "attngen_tune: bad --sample/--seed\n");
            return 2;
        }
        pts = sample(sp, size_t(n), uint64_t(seed));
    }
    for (const Knobs &k : pts) std::printf("%s\n", params_of(key.variant, k).c_str());
    return 0;
}

int cmd_check(const Args &a) {
    if (a.pos.size() != 1) {
        std::fprintf(stderr, "usage: attngen_tune check FILE (.jsonl log or best table)\n");
        return 2;
    }
    const std::string p = a.pos[0];
    std::string err;
    if (p.size() > 6 && p.substr(p.size() - 6) == ".jsonl") {
        std::vector<Record> r;
        if (!read_log(p, &r, &err)) {
            std::fprintf(stderr, "attngen_tune: %s\n", err.c_str());
            return 1;
        }
        std::printf("%s: %zu records\n", p.c_str(), r.size());
    } else {
        std::vector<BestEntry> e;
        if (!read_best(p, &e, &err)) {
            std::fprintf(stderr, "attngen_tune: %s\n", err.c_str());
            return 1;
        }
        std::printf("%s: %zu entries\n", p.c_str(), e.size());
    }
    return 0;
}

void usage() {
    std::fprintf(stderr,
                 "usage: attngen_tune run --variant V [--dtype f32|f16|bf16] [--bucket prefill|long|decode|group]\n"
                 "                        [--head-dim D] [--rotary] [--workload dalle|sd_self|decode|long | --shape "
                 "'B=1 H=8 N=1280 D=64 causal=1']\n"
                 "                        [--target HALIDE_TARGET] [--budget N] [--seed S] [--strategy "
                 "auto|exhaustive|random] [--rungs R] [--confirm N]\n"
                 "                        [--min-time SEC] [--repeats N] [--timeout SEC] [--build-timeout SEC] [--remote 'CMD {artifact} "
                 "{args}']\n"
                 "                        [--autosched Li2018,Adams2019,Mullapudi2016] [--log FILE] [--work DIR]\n"
                 "                        [--cxx CXX --runner-lib LIB] [--default-params 'tq=..'] [--stage DIR]\n"
                 "       attngen_tune import DIR [--log FILE] [--runner NAME]\n"
                 "       attngen_tune best [--log FILE] [--out FILE]\n"
                 "       attngen_tune report [--log FILE] [--chart FILE.svg] [--peak GFLOPS]\n"
                 "       attngen_tune space --variant V [--bucket B] [--head-dim D] [--target T] [--sample N --seed S]\n"
                 "       attngen_tune check FILE\n");
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        usage();
        return 2;
    }
    const std::string cmd = argv[1];
    Args a;
    std::string err;
    if (!parse_args(argc, argv, 2, &a, &err)) {
        std::fprintf(stderr, "attngen_tune: %s\n", err.c_str());
        return 2;
    }
    if (cmd == "run") return cmd_run(a);
    if (cmd == "import") return cmd_import(a);
    if (cmd == "best") return cmd_best(a);
    if (cmd == "report") return cmd_report(a);
    if (cmd == "space") return cmd_space(a);
    if (cmd == "check") return cmd_check(a);
    usage();
    return 2;
}
