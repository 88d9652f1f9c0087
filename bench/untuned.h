// The hand-default ("untuned") dense kernels of the benchmark (issue 5):
// the dense generator with tuning/cpu_defaults.cmake's knobs, never a
// tuning record, built by bench/CMakeLists.txt for one AVX-512 target and
// called like the autoscheduled kernels (autosched.h: same generator, same
// signature). `attngen` (tuned) against `untuned` measures what tuning gave.
#pragma once

#include "autosched.h"

namespace attngen::bench {

struct UntunedKernel {
  int head_dim;        // specialised head dim
  bool decode;         // decode bucket (Nq < 8, as the runtime's dispatch) or prefill
  AutoschedFn fn;
  const char* params;  // the hand-default knobs
};

// The kernel for a head dim and query count, or null if none was built.
const UntunedKernel* untuned_kernel(int head_dim, int num_queries);

}  // namespace attngen::bench
