// The schedule family of a target: the GPU family (gpu_schedule.h) when the
// target has a GPU feature, the CPU family (cpu_schedule.h) otherwise. What
// generators call after defining their algorithm.
#pragma once

#include "cpu_schedule.h"
#include "gpu_schedule.h"

namespace attngen {

// The head dim of the lane formulation a generator builds (AttnFuncs::
// lane_dim; before build_qkv): GPU kernels with lanes=1 and a fixed head
// dim, 0 otherwise.
inline int lane_dim_for(const Target &target, int lanes, int head_dim) {
    return target.has_gpu_feature() && lanes && head_dim > 0 ? head_dim : 0;
}

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
