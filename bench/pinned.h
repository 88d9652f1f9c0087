// The benchmark's extra builds of each pipeline (bench/CMakeLists.txt): the
// hand-default knobs (`untuned`) and the autoschedulers' schedules
// (`autosched_<name>`), AVX-512 only. They run through the C API with the
// kernel pinned (runtime/src/dispatch.h PinnedKernel), so they get the
// same checks and arguments as the `attngen` impl: only the schedule
// differs.
#pragma once

#include <string>
#include <vector>

#include "dispatch.h"

namespace attngen::bench {

// One row of the generated table (pinned_table.inc).
struct PinnedBuild {
  const char* impl;        // "untuned", "autosched_li2018", ...
  const char* scheduler;   // "Li2018", ...; "" for untuned
  const char* variant;     // runtime variant: "dense", "sparse_conv", ... "chunked"
  const char* name;        // library name
  int head_dim;            // specialised head dim
  const char* bucket;      // "prefill", "long" or "decode" (autoschedules: prefill)
  const char* knobs;       // hand-default knobs (the chunk sizes the runtime's arguments follow)
  void* fn;                // null when left out of the build
  const char* why_missing; // why, when fn is null
};

// The build of `impl` for a runtime variant, head dim, query and key
// counts (the bucket the runtime would pick), or null if none is listed.
const PinnedBuild* pinned_build(const std::string& impl, const std::string& variant, int head_dim, int64_t num_queries,
                                int64_t num_keys);

// Every impl name in the table ("untuned", "autosched_li2018", ...), in order.
std::vector<std::string> pinned_impls();

// The Halide target of the builds, and whether this CPU can run it.
const char* pinned_target();
bool cpu_supports_pinned_target();

// A kernel table entry for a build (the runtime's view of it).
KernelEntry pinned_entry(const PinnedBuild& b);

}  // namespace attngen::bench
