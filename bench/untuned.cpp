#include "untuned.h"

#include "untuned_table.inc"

namespace attngen::bench {

const UntunedKernel* untuned_kernel(int head_dim, int num_queries) {
  const bool decode = num_queries < 8;  // runtime/src/dispatch.h kDecodeMaxQueries
  for (const UntunedKernel* k = kUntunedKernels; k->fn; ++k)
    if (k->head_dim == head_dim && k->decode == decode) return k;
  return nullptr;
}

}  // namespace attngen::bench
