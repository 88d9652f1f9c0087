// The schedule family of a target: the GPU family (gpu_schedule.h) when the
// target has a GPU feature, the CPU family (cpu_schedule.h) otherwise. What
// generators call after defining their algorithm.
#pragma once

#include "cpu_schedule.h"
#include "gpu_schedule.h"

namespace attngen {

inline void schedule_for_target(AttnFuncs &f, Func output, const Target &target, const Knobs &k, int head_dim) {
    if (target.has_gpu_feature()) {
        const std::string why = check_gpu_knobs(k, head_dim, (int)f.phases.size());
        if (!why.empty()) {
            throw CompileError("attngen: GPU knobs " + k.params_string() + ": " + why);
        }
        schedule_gpu(f, output, target, k, head_dim);
    } else {
        schedule_cpu(f, output, target, k, head_dim);
    }
}

}  // namespace attngen
