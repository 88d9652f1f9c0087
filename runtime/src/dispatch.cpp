#include "dispatch.h"

#include <cstdlib>
#include <cstring>

#include "kernel_headers.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace attngen {

const char *bucket_name(Bucket b) {
    switch (b) {
        case Bucket::Long: return "long";
        case Bucket::Decode: return "decode";
        case Bucket::Group: return "group";
        case Bucket::Prefill: break;
    }
    return "prefill";
}

namespace {

Bucket bucket_of(const char *s) {
    if (std::strcmp(s, "decode") == 0) return Bucket::Decode;
    if (std::strcmp(s, "group") == 0) return Bucket::Group;
    if (std::strcmp(s, "long") == 0) return Bucket::Long;
    return Bucket::Prefill;
}
attngen_device device_of(const char *s) {
    return std::strcmp(s, "cuda") == 0 ? ATTNGEN_DEVICE_CUDA : ATTNGEN_DEVICE_CPU;
}
attngen_dtype dtype_of(const char *s) {
    if (std::strcmp(s, "f16") == 0) return ATTNGEN_F16;
    if (std::strcmp(s, "bf16") == 0) return ATTNGEN_BF16;
    return ATTNGEN_F32;
}

std::vector<KernelEntry> build_table() {
    std::vector<KernelEntry> t;
#define ATTNGEN_KERNEL(variant, name, dtype, head_dim, bucket, rotary, knobs, source, device) \
    t.push_back(KernelEntry{#variant, #name, dtype_of(#dtype), head_dim, bucket_of(#bucket), rotary != 0, knobs, \
                            source, device_of(#device), (void *)&name});
#include "kernels.inc"
#undef ATTNGEN_KERNEL
    return t;
}

}  // namespace

const std::vector<KernelEntry> &kernel_table() {
    static const std::vector<KernelEntry> table = build_table();
    return table;
}

namespace {
thread_local const KernelEntry *t_pinned = nullptr;

const KernelEntry *pinned_for(const std::string &variant, attngen_dtype dtype, attngen_device device) {
    const KernelEntry *p = t_pinned;
    return p && p->variant == variant && p->dtype == dtype && p->device == device ? p : nullptr;
}

// The entry of a variant, storage type, bucket and rotary flag: exact head
// dim first, then generic; optionally any other bucket when none was built.
const KernelEntry *select_exact(const std::string &variant, attngen_dtype dtype, int head_dim, Bucket want,
                                bool rotary, bool other_bucket_ok, attngen_device device) {
    const KernelEntry *p = pinned_for(variant, dtype, device);
    if (p && p->rotary == rotary) return p;
    const KernelEntry *generic = nullptr;
    const KernelEntry *other_bucket = nullptr;
    for (const KernelEntry &e : kernel_table()) {
        if (e.variant != variant || e.dtype != dtype || e.rotary != rotary || e.device != device) continue;
        if (e.head_dim != head_dim && e.head_dim != 0) continue;
        if (e.bucket != want) {
            if (!other_bucket || e.head_dim == head_dim) other_bucket = &e;
            continue;
        }
        if (e.head_dim == head_dim) return &e;
        generic = &e;
    }
    return generic ? generic : (other_bucket_ok ? other_bucket : nullptr);
}
}  // namespace

Bucket wanted_bucket(int64_t num_queries, int64_t num_keys) {
    if (num_queries < kDecodeMaxQueries) return Bucket::Decode;
    return num_keys >= kLongMinKeys ? Bucket::Long : Bucket::Prefill;
}

const KernelEntry *select_kernel(const std::string &variant, attngen_dtype dtype, int head_dim, int64_t num_queries,
                                 int64_t num_keys, bool rotary, attngen_device device) {
    Bucket want = wanted_bucket(num_queries, num_keys);
    // Long key sets: the Long kernel of this head dim (exact or generic)
    // when one was built, never another bucket's; else Prefill.
    if (want == Bucket::Long) {
        if (const KernelEntry *e = select_exact(variant, dtype, head_dim, Bucket::Long, rotary, false, device)) return e;
        want = Bucket::Prefill;
    }
    if (const KernelEntry *e = select_exact(variant, dtype, head_dim, want, rotary, true, device)) return e;
    // A fused-rotary kernel with rotary_dim = 0 computes the plain variant.
    if (!rotary) return select_exact(variant, dtype, head_dim, want, true, true, device);
    return nullptr;
}

int KernelEntry::knob(const char *key, int def) const {
    const std::string k = std::string(key) + "=";
    size_t pos = 0;
    while ((pos = knobs.find(k, pos)) != std::string::npos) {
        if (pos == 0 || knobs[pos - 1] == ' ') return std::atoi(knobs.c_str() + pos + k.size());
        pos += k.size();
    }
    return def;
}

const KernelEntry *select_group_kernel(attngen_dtype dtype, int head_dim, attngen_device device) {
    return select_exact("dense", dtype, head_dim, Bucket::Group, false, false, device);
}

std::vector<const KernelEntry *> kernels_for(const std::string &variant, attngen_dtype dtype, int head_dim,
                                             attngen_device device) {
    if (const KernelEntry *p = pinned_for(variant, dtype, device)) return {p};
    std::vector<const KernelEntry *> exact, generic;
    for (const KernelEntry &e : kernel_table()) {
        if (e.variant != variant || e.dtype != dtype || e.device != device) continue;
        if (e.head_dim == head_dim) exact.push_back(&e);
        else if (e.head_dim == 0) generic.push_back(&e);
    }
    exact.insert(exact.end(), generic.begin(), generic.end());
    return exact;
}

PinnedKernel::PinnedKernel(const KernelEntry *e) : previous_(t_pinned) { t_pinned = e; }
PinnedKernel::~PinnedKernel() { t_pinned = previous_; }

#if defined(__x86_64__)
// F16C from CPUID leaf 1 (clang's __builtin_cpu_supports does not know "f16c").
bool has_f16c() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}
#endif

const char *cpu_level() {
#if defined(__x86_64__)
    static const char *level = [] {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            return "avx512";
        }
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c()) {
            return "avx2";
        }
        if (__builtin_cpu_supports("sse4.1")) return "sse41";
        return "baseline";
    }();
    return level;
#elif defined(__aarch64__)
    return "arm64";
#else
    return "baseline";
#endif
}

bool verbose() {
    static const bool v = [] {
        const char *e = std::getenv("ATTNGEN_VERBOSE");
        return e && *e && std::strcmp(e, "0") != 0;
    }();
    return v;
}

}  // namespace attngen
