// attngen: command-line tool of the attngen kernel library.
//
//   attngen check DIR [--filter SUBSTR] [--verbose]
//   attngen run --variant dense --q Q.npy --k K.npy --v V.npy --out OUT.npy [...]
//   attngen info
//   attngen tune [--report] [...]   (runs attngen_tune, the autotuner)
//   attngen --help
//
// Exit codes: 0 success; 1 failure (a case failed, a run failed); 2 usage
// error or unusable manifest.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <new>
#include <string>
#include <vector>

#include <unistd.h>

#include "attngen/attngen.h"
#include "cli/golden.h"
#include "io/npy.h"

namespace {

using namespace attngen;

constexpr int kExitOk = 0;
constexpr int kExitFail = 1;
constexpr int kExitUsage = 2;

const char kUsage[] =
    "usage: attngen <command> [options]\n"
    "\n"
    "commands:\n"
    "  check DIR [--filter SUBSTR] [--verbose]\n"
    "      Run the golden cases listed in DIR/manifest.json (case files in\n"
    "      DIR/<case name>/) and compare with their expected.npy. Prints one line\n"
    "      per case, 'PASS <name> <max_abs_err>' or 'FAIL <name> <max_abs_err|-> <reason>',\n"
    "      then 'N passed, M failed'. --filter keeps the cases whose name contains\n"
    "      SUBSTR; --verbose also prints the kernel each case ran; --device cuda\n"
    "      runs the cases on the GPU (inputs copied to device memory first).\n"
    "      Exit 0 if every selected case passed (and at least one was selected),\n"
    "      1 otherwise, 2 on usage errors or an unreadable/invalid manifest.\n"
    "\n"
    "  run --variant V --q Q.npy --k K.npy --v V.npy --out OUT.npy [options]\n"
    "      Run one attention on .npy files: q (B, Nq, H, D), k (B, Nk, Hkv, D) and\n"
    "      v (B, Nk, Hkv, Dv) float32 (float16/float64 are converted); masks\n"
    "      uint8/bool, 1 = keep. Writes OUT.npy (float32, (B, Nq, H, Dv)) and prints\n"
    "      the kernel used and the wall time of the call (--repeat N: N calls,\n"
    "      median and min); --stats also prints the call's peak heap scratch;\n"
    "      --dtype fp16|bf16 runs the half-precision kernels (inputs rounded to\n"
    "      the type; OUT.npy stays float32); --device cuda runs the CUDA kernels\n"
    "      on device copies of the inputs (the time covers the kernel and a\n"
    "      synchronize, not the copies). Exit 1 on errors, 2 on usage errors.\n"
    "      V = dense:        [--causal] [--offset N] [--key-mask M.npy (B, Nk)]\n"
    "                        [--static-mask S.npy (S, S)] [--freqs F.npy (Nf, R)]\n"
    "                        --offset N: KV cache of N rows (Nk = N + Nq)\n"
    "      V = sparse_conv:  --seq-len L --image-size G [--kernel-size 5]\n"
    "                        [--dilation 1] [--key-mask M.npy] [--freqs F.npy]\n"
    "      V = sparse_axial: --seq-len L --image-size G [--axis 0|1] [--key-mask]\n"
    "                        [--freqs]\n"
    "      V = block_sparse: --layout L.npy (H, nb, nb) [--block 16] [--causal]\n"
    "                        [--key-mask M.npy (B, N)]\n"
    "      V = chunked:      [--query-chunk N] [--kv-chunk N] [--kv-chunk-min N]\n"
    "\n"
    "  info\n"
    "      Show the compiled kernels (variants, head dims, buckets, knobs), the\n"
    "      CPU feature level and the status of every attention variant.\n"
    "\n"
    "  tune --variant V [--workload W | --shape S] [--target T] [--budget N] [--seed S] [...]\n"
    "  tune --report [--log FILE] [--chart FILE.svg]\n"
    "  tune best|space|check ...\n"
    "      The autotuner (attngen_tune, built next to this binary): search\n"
    "      the knobs of one kernel key with a progress line and ETA, append every\n"
    "      measurement to the tuning log; --report prints tuned vs hand default vs\n"
    "      autoschedulers per key and writes a GFLOP/s chart. 'attngen tune --help'\n"
    "      lists the options.\n"
    "\n"
    "  help, --help, -h\n"
    "      Show this text.\n"
    "\n"
    "environment: ATTNGEN_VERBOSE=1 prints the kernel, CPU level and knobs of\n"
    "every library call to stderr.\n";

// Thrown for command-line mistakes; main prints it with the usage hint.
struct UsageError {
  std::string msg;
};

// Strict option parser: every option must be declared; value options need a
// value (next argument or --opt=value); flags take none; no repeats.
struct Args {
  std::map<std::string, std::string> values;  // option -> value ("" for flags)
  std::vector<std::string> positional;
  bool help = false;

  bool has(const std::string& opt) const { return values.count(opt) != 0; }
  std::string get(const std::string& opt) const {
    auto it = values.find(opt);
    return it == values.end() ? std::string() : it->second;
  }
};

Args parse_args(const std::string& command, int argc, char** argv, int first,
                const std::vector<std::string>& value_opts, const std::vector<std::string>& flag_opts) {
  auto is_in = [](const std::vector<std::string>& list, const std::string& s) {
    for (const std::string& x : list) {
      if (x == s) return true;
    }
    return false;
  };
  Args a;
  bool only_positional = false;
  for (int i = first; i < argc; ++i) {
    const std::string arg = argv[i];
    if (only_positional || arg.empty() || arg[0] != '-' || arg == "-") {
      a.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      a.help = true;
      continue;
    }
    std::string opt = arg, value;
    bool inline_value = false;
    const size_t eq = arg.find('=');
    if (arg.compare(0, 2, "--") == 0 && eq != std::string::npos) {
      opt = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inline_value = true;
    }
    if (a.has(opt)) throw UsageError{command + ": option " + opt + " given more than once"};
    if (is_in(value_opts, opt)) {
      if (!inline_value) {
        if (i + 1 >= argc) throw UsageError{command + ": option " + opt + " needs a value"};
        value = argv[++i];
        if (value.compare(0, 2, "--") == 0) {
          throw UsageError{command + ": option " + opt + " needs a value (got option '" + value + "')"};
        }
      }
      if (value.empty()) throw UsageError{command + ": option " + opt + " needs a non-empty value"};
      a.values[opt] = value;
    } else if (is_in(flag_opts, opt)) {
      if (inline_value) throw UsageError{command + ": option " + opt + " takes no value"};
      a.values[opt] = "";
    } else {
      throw UsageError{command + ": unknown option '" + cli::sanitize(arg, false) + "'"};
    }
  }
  return a;
}

int64_t parse_nonneg_int(const std::string& opt, const std::string& s) {
  if (s.empty() || s.size() > 18) throw UsageError{"run: " + opt + " expects a non-negative integer, got '" + s + "'"};
  int64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') throw UsageError{"run: " + opt + " expects a non-negative integer, got '" + s + "'"};
    v = v * 10 + (ch - '0');
  }
  return v;
}

// ---- check ---------------------------------------------------------------------

// --device cpu|cuda
attngen_device parse_device(const char* cmd, const std::string& s) {
  if (s == "cpu") return ATTNGEN_DEVICE_CPU;
  if (s == "cuda") return ATTNGEN_DEVICE_CUDA;
  throw UsageError{std::string(cmd) + ": --device must be cpu or cuda"};
}

int cmd_check(int argc, char** argv) {
  const Args a = parse_args("check", argc, argv, 2, {"--filter", "--device"}, {"--verbose"});
  if (a.help) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (a.positional.size() != 1) {
    throw UsageError{a.positional.empty() ? "check: missing DIR (the folder holding manifest.json)"
                                          : "check: expected one DIR, got " + std::to_string(a.positional.size()) +
                                                " arguments"};
  }
  const std::string dir = a.positional[0];
  const std::string filter = a.get("--filter");
  const bool verbose = a.has("--verbose");
  const attngen_device device = a.has("--device") ? parse_device("check", a.get("--device")) : ATTNGEN_DEVICE_CPU;
  cli::set_check_device(device);
  if (verbose) {
    std::printf("attngen check %s (%s)\n", dir.c_str(),
                device == ATTNGEN_DEVICE_CUDA ? "CUDA kernels" : (std::string("CPU feature level: ") + attngen_cpu_level()).c_str());
  }

  std::vector<cli::CaseResult> results;
  std::string err;
  const bool ok = cli::run_manifest(dir, filter, &results, &err, [&](const cli::CaseResult& r) {
    std::printf("%s\n", cli::format_result_line(r).c_str());
    if (verbose && !r.kernel.empty()) std::printf("    kernel: %s\n", cli::sanitize(r.kernel, false).c_str());
    std::fflush(stdout);
  });
  if (!ok) {
    std::fflush(stdout);
    std::fprintf(stderr, "attngen check: %s\n", cli::sanitize(err, false).c_str());
    return kExitUsage;
  }
  size_t passed = 0, failed = 0;
  for (const cli::CaseResult& r : results) (r.pass ? passed : failed)++;
  std::printf("%zu passed, %zu failed\n", passed, failed);
  std::fflush(stdout);
  if (results.empty()) {
    std::fprintf(stderr, "attngen check: no case selected%s\n",
                 filter.empty() ? " (the manifest lists none)" : (" by --filter '" + filter + "'").c_str());
    return kExitFail;
  }
  return failed == 0 ? kExitOk : kExitFail;
}

// ---- run -----------------------------------------------------------------------

int cmd_run(int argc, char** argv) {
  const Args a = parse_args("run", argc, argv, 2,
                            {"--variant", "--q", "--k", "--v", "--key-mask", "--static-mask", "--freqs",
                             "--offset", "--out", "--seq-len", "--image-size", "--kernel-size", "--dilation",
                             "--axis", "--layout", "--block", "--query-chunk", "--kv-chunk", "--kv-chunk-min",
                             "--repeat", "--dtype", "--device"},
                            {"--causal", "--verbose", "--stats"});
  if (a.help) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (!a.positional.empty()) throw UsageError{"run: unexpected argument '" + cli::sanitize(a.positional[0], false) + "'"};
  for (const char* req : {"--variant", "--q", "--k", "--v", "--out"}) {
    if (!a.has(req)) throw UsageError{std::string("run: missing required option ") + req};
  }
  const std::string variant = a.get("--variant");
  // Options each variant understands; anything else is a usage error.
  const std::vector<std::string> common = {"--variant", "--q", "--k", "--v", "--out", "--verbose", "--stats",
                                           "--repeat", "--dtype", "--device"};
  std::vector<std::string> allowed;
  if (variant == "dense") {
    allowed = {"--causal", "--offset", "--key-mask", "--static-mask", "--freqs"};
  } else if (variant == "sparse_conv") {
    allowed = {"--seq-len", "--image-size", "--kernel-size", "--dilation", "--key-mask", "--freqs"};
  } else if (variant == "sparse_axial") {
    allowed = {"--seq-len", "--image-size", "--axis", "--key-mask", "--freqs"};
  } else if (variant == "block_sparse") {
    allowed = {"--layout", "--block", "--causal", "--key-mask"};
  } else if (variant == "chunked") {
    allowed = {"--query-chunk", "--kv-chunk", "--kv-chunk-min"};
  } else {
    throw UsageError{"run: unknown variant '" + cli::sanitize(variant, false) +
                     "' (dense, sparse_conv, sparse_axial, block_sparse, chunked)"};
  }
  for (const auto& given : a.values) {
    const std::string& opt = given.first;
    if (std::find(common.begin(), common.end(), opt) == common.end() &&
        std::find(allowed.begin(), allowed.end(), opt) == allowed.end()) {
      throw UsageError{"run: option " + opt + " does not apply to variant " + variant};
    }
  }
  if (variant.rfind("sparse_", 0) == 0 && (!a.has("--seq-len") || !a.has("--image-size"))) {
    throw UsageError{"run: variant " + variant + " needs --seq-len and --image-size"};
  }
  if (variant == "block_sparse" && !a.has("--layout")) throw UsageError{"run: variant block_sparse needs --layout"};
  auto int_opt = [&](const char* opt, int64_t def) { return a.has(opt) ? parse_nonneg_int(opt, a.get(opt)) : def; };
  auto int32_opt = [&](const char* opt, int64_t def) {
    const int64_t x = int_opt(opt, def);
    if (x > 2147483647) throw UsageError{std::string("run: ") + opt + " is too large"};
    return static_cast<int32_t>(x);
  };
  const bool verbose = a.has("--verbose");

  std::string err;
  cli::F32Tensor q, k, v, freqs;
  cli::MaskTensor key_mask, static_mask, layout;
  const bool has_km = a.has("--key-mask"), has_sm = a.has("--static-mask"), has_fr = a.has("--freqs");
  const bool has_lay = a.has("--layout");
  if (!cli::load_f32(a.get("--q"), "q", &q, &err) || !cli::load_f32(a.get("--k"), "k", &k, &err) ||
      !cli::load_f32(a.get("--v"), "v", &v, &err) ||
      (has_km && !cli::load_mask(a.get("--key-mask"), "key_mask", &key_mask, &err)) ||
      (has_sm && !cli::load_mask(a.get("--static-mask"), "static_mask", &static_mask, &err)) ||
      (has_lay && !cli::load_mask(a.get("--layout"), "layout", &layout, &err)) ||
      (has_fr && !cli::load_f32(a.get("--freqs"), "freqs", &freqs, &err))) {
    std::fprintf(stderr, "attngen run: %s\n", cli::sanitize(err, false).c_str());
    return kExitFail;
  }
  struct Named {
    const char* name;
    const cli::F32Tensor* t;
  };
  for (const Named& n : {Named{"q", &q}, Named{"k", &k}, Named{"v", &v}, Named{"freqs", has_fr ? &freqs : nullptr}}) {
    if (n.t && n.t->file_dtype != io::DType::F32) {
      std::fprintf(stderr, "attngen run: note: %s converted from %s to float32\n", n.name,
                   io::dtype_name(n.t->file_dtype));
    }
  }

  cli::Call call;
  call.variant = variant;
  call.q = &q;
  call.k = &k;
  call.v = &v;
  call.key_mask = has_km ? &key_mask : nullptr;
  call.static_mask = has_sm ? &static_mask : nullptr;
  call.layout = has_lay ? &layout : nullptr;
  call.freqs = has_fr ? &freqs : nullptr;
  call.causal = a.has("--causal");
  call.offset = int_opt("--offset", 0);
  call.seq_len = int_opt("--seq-len", 0);
  call.image_size = int_opt("--image-size", 0);
  call.kernel_size = int32_opt("--kernel-size", 5);
  call.dilation = int32_opt("--dilation", 1);
  call.axis = int32_opt("--axis", 0);
  call.block = int32_opt("--block", 16);
  call.query_chunk_size = int_opt("--query-chunk", 0);
  call.kv_chunk_size = int_opt("--kv-chunk", 0);
  call.kv_chunk_size_min = int_opt("--kv-chunk-min", 0);
  if (a.has("--dtype") && !cli::parse_dtype(a.get("--dtype"), &call.dtype)) {
    throw UsageError{"run: --dtype must be fp32, fp16 or bf16"};
  }
  if (a.has("--device")) call.device = parse_device("run", a.get("--device"));
  if (verbose) {
    std::printf("%s: q %s  k %s  v %s", variant.c_str(), cli::shape_str(q.shape).c_str(),
                cli::shape_str(k.shape).c_str(), cli::shape_str(v.shape).c_str());
    if (has_km) std::printf("  key_mask %s", cli::shape_str(key_mask.shape).c_str());
    if (has_sm) std::printf("  static_mask %s", cli::shape_str(static_mask.shape).c_str());
    if (has_lay) std::printf("  layout %s", cli::shape_str(layout.shape).c_str());
    if (has_fr) std::printf("  freqs %s", cli::shape_str(freqs.shape).c_str());
    std::printf("\ncausal=%s rotary=%s  CPU feature level: %s\n", call.causal ? "yes" : "no", has_fr ? "qkv" : "no",
                attngen_cpu_level());
  }

  std::vector<float> out;
  std::vector<int64_t> out_shape;
  std::string kernel;
  double seconds = 0;
  attngen_call_stats stats{};
  const int64_t repeat = int_opt("--repeat", 1);
  if (repeat < 1 || repeat > 100000) throw UsageError{"run: --repeat must be in 1..100000"};
  std::vector<double> times;
  for (int64_t r = 0; r < repeat; r++) {
    if (!cli::run_call(call, &out, &out_shape, &kernel, &seconds, &err, &stats)) {
      std::fprintf(stderr, "attngen run: %s\n", cli::sanitize(err, false).c_str());
      return kExitFail;
    }
    times.push_back(seconds);
  }
  std::sort(times.begin(), times.end());
  const std::string out_path = a.get("--out");
  if (!io::npy_save(out_path, io::DType::F32, out_shape, out.data(), &err)) {
    std::fprintf(stderr, "attngen run: %s\n", cli::sanitize(err, false).c_str());
    return kExitFail;
  }
  std::printf("kernel: %s\n", kernel.c_str());
  if (repeat == 1) {
    std::printf("time: %.3f ms\n", times[0] * 1e3);
  } else {
    std::printf("time: %.3f ms (median of %lld calls, min %.3f ms)\n", times[times.size() / 2] * 1e3,
                static_cast<long long>(repeat), times[0] * 1e3);
  }
  if (a.has("--stats")) {
    std::printf("peak scratch: %lld bytes (heap, all worker threads; %lld allocated in all, %d kernel call%s)\n",
                static_cast<long long>(stats.peak_scratch_bytes), static_cast<long long>(stats.total_scratch_bytes),
                static_cast<int>(stats.kernel_calls), stats.kernel_calls == 1 ? "" : "s");
  }
  std::printf("wrote %s %s float32\n", out_path.c_str(), cli::shape_str(out_shape).c_str());
  return kExitOk;
}

// ---- info ----------------------------------------------------------------------

int cmd_info(int argc, char** argv) {
  const Args a = parse_args("info", argc, argv, 2, {}, {});
  if (a.help) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (!a.positional.empty()) throw UsageError{"info: unexpected argument '" + cli::sanitize(a.positional[0], false) + "'"};
  const std::string build = attngen_build_info();
  std::printf("attngen %s\n", attngen_version());
  std::fputs(build.c_str(), stdout);
  if (!build.empty() && build.back() != '\n') std::fputc('\n', stdout);
  std::printf("\nCPU feature level: %s\n", attngen_cpu_level());
  std::printf("\nvariants:\n");
  for (const char* var : {"dense", "sparse_conv", "sparse_axial", "block_sparse", "chunked"}) {
    const bool built = build.find(std::string("variant=") + var) != std::string::npos;
    std::printf("  %-13s %s\n", var, built ? "available" : "not built yet");
  }
  return kExitOk;
}

// `attngen tune ...` execs attngen_tune from this binary's directory:
// `tune --report ...` -> `attngen_tune report ...`, `tune best|space|check
// ...` as they are, anything else -> `attngen_tune run ...`.
int cmd_tune(int argc, char** argv) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  std::string dir = ".";
  if (n > 0) {
    self[n] = 0;
    dir = self;
    dir = dir.substr(0, dir.rfind('/'));
  }
  const std::string tuner = dir + "/attngen_tune";
  std::vector<std::string> args = {tuner};
  std::string sub = "run";
  int first = 2;
  if (argc > 2) {
    const std::string a = argv[2];
    if (a == "--report") sub = "report", first = 3;
    else if (a == "best" || a == "space" || a == "check" || a == "run" || a == "report") sub = a, first = 3;
    else if (a == "--help" || a == "-h") sub = "--help", first = 3;
  }
  args.push_back(sub);
  for (int i = first; i < argc; i++) args.push_back(argv[i]);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  execv(tuner.c_str(), cargs.data());
  std::fprintf(stderr, "attngen: cannot run %s (the tuner is built with -DATTNGEN_BUILD_TUNER=ON on the host)\n",
               tuner.c_str());
  return kExitFail;
}

int dispatch(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  const std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (cmd == "check") return cmd_check(argc, argv);
  if (cmd == "run") return cmd_run(argc, argv);
  if (cmd == "info") return cmd_info(argc, argv);
  if (cmd == "tune") return cmd_tune(argc, argv);
  std::fprintf(stderr, "attngen: unknown command '%s'\n\n", cli::sanitize(cmd, false).c_str());
  std::fputs(kUsage, stderr);
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return dispatch(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "attngen %s\n(run 'attngen --help' for usage)\n", e.msg.c_str());
    return kExitUsage;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "attngen: out of memory\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attngen: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "attngen: internal error\n");
  }
  return kExitFail;
}
