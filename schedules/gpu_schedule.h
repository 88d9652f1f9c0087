// GPU (CUDA) schedule family. A pure function of the pipeline's funcs, the
// target and the knobs; the knob fields keep their names, with GPU meanings:
//   tq   queries per thread block (one block = one query tile of one head)
//   kc   keys per chunk (one online-softmax step, staged in shared memory)
//   rq   queries per thread (register tile rows)
//   rk   keys per thread in Q@K^T (register tile columns)
//   vec  features per thread in P@V and the state (vectorised loads)
// Threads per block: (tq / rq) x max(kc / rk, ceil(D / vec)).
//   lanes=1: the lane family instead (fixed head dims up to 64): one warp of
//   tq = 32 queries per block, one query per lane, its state in registers,
//   every key of a kc-key (kci-slot) chunk walked by the lane.
#pragma once

#include "../generators/attention_common.h"
#include "knobs.h"

namespace attngen {

// Empty when the point is legal for a GPU with 48 KiB of shared memory per
// block and 1024 threads; otherwise why not.
std::string check_gpu_knobs(const Knobs &k, int head_dim, int phases);

void schedule_gpu(AttnFuncs &f, Func output, const Target &target, const Knobs &k, int head_dim);

}  // namespace attngen
