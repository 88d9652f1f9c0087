// CPU schedule family (x86 today; ARM reuses it with 4-lane vectors).
// A pure function of the pipeline's funcs, the target and the knobs.
#pragma once

#include "../generators/attention_common.h"
#include "knobs.h"

namespace attngen {

// Validates knob combinations that would not compile or would spill badly;
// returns an empty string when the point is legal.
std::string check_cpu_knobs(const Knobs &k, int head_dim);

// The knobs of a generator whose GeneratorParams carry the Knobs' field
// names (tq, kc, vec, rq, rk, qvec, threads_split, lanes).
template<typename Gen>
Knobs knobs_from_params(const Gen &g) {
    Knobs k;
    k.tq = g.tq;
    k.kc = g.kc;
    k.vec = g.vec;
    k.rq = g.rq;
    k.rk = g.rk;
    k.qvec = g.qvec;
    k.threads_split = g.threads_split;
    k.lanes = g.lanes;
    return k;
}

// Schedules the fused online-softmax pipeline in f for a CPU target.
// `output` is the generator's output (dims [d, h, i, b]); head_dim is the
// specialised head dim or 0 for the generic path.
void schedule_cpu(AttnFuncs &f, Func output, const Target &target, const Knobs &k, int head_dim);

}  // namespace attngen
