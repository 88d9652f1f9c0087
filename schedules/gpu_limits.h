// Resource arithmetic of the GPU schedule family (gpu_schedule.cpp), shared
// with the runtime, which refuses a call whose head dim would make a
// generic-head-dim kernel exceed a block's limits. No Halide here.
#pragma once

#include <algorithm>
#include <cstdint>

namespace attngen::gpu {

constexpr int64_t kSharedBytes = 48 * 1024;  // static shared memory per block
constexpr int64_t kMaxThreads = 1024;
constexpr int kBudgetHeadDim = 128;  // head dim the generic kernels are budgeted for

// Floats of shared memory per block: the state of every phase (3 x D x tq),
// scores and probabilities of the largest chunk (kc_max x tq each), chunk
// max and sum.
inline int64_t shared_floats(int64_t tq, int64_t kc_max, int64_t D, int64_t phases) {
    return phases * 3 * D * tq + 2 * kc_max * tq + 2 * tq;
}
// A key chunk staged in shared memory (padded to kc + 1 keys per feature).
inline int64_t kstage_floats(int64_t kc, int64_t D) { return D * (kc + 1); }
// Whether the schedule stages the first phase's key chunks (decided when
// the kernel is generated, for its head dim or kBudgetHeadDim).
inline bool stages_keys(int64_t tq, int64_t kc, int64_t kc_max, int64_t build_D, int64_t phases) {
    return (shared_floats(tq, kc_max, build_D, phases) + kstage_floats(kc, build_D)) * 4 <= kSharedBytes;
}
// Threads per block: query rows (tq / rq) x the widest of keys (kc / rk),
// features (D / vec) and the 16 rows of the chunk statistics.
inline int64_t threads(int64_t tq, int64_t rq, int64_t kc_max, int64_t rk, int64_t D, int64_t vec) {
    const int64_t x = std::max({kc_max / std::max<int64_t>(rk, 1), (D + vec - 1) / std::max<int64_t>(vec, 1),
                                std::min<int64_t>(tq, 16)});
    return std::max<int64_t>(tq / std::max<int64_t>(rq, 1), 1) * x;
}
// Shared bytes a kernel built with these knobs (for build_D) needs at head
// dim D.
inline int64_t shared_bytes(int64_t tq, int64_t kc, int64_t kci, int64_t build_D, int64_t D) {
    const int64_t phases = kci > 0 ? 2 : 1, kc_max = std::max(kc, kci);
    int64_t f = shared_floats(tq, kc_max, D, phases);
    if (stages_keys(tq, kc, kc_max, build_D, phases)) f += kstage_floats(kc, D);
    return f * 4;
}

}  // namespace attngen::gpu
