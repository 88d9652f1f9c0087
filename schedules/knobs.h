// The knob struct of the CPU attention schedule family. It is the only thing
// the tuner and the tuning database know about a schedule: every field is a
// GeneratorParam of the same name (see KnobParams), so a tuned point is just
// a PARAMS string such as "tq=32 kc=64 vec=16 rq=6 rk=12 qvec=1".
#pragma once

#include <string>

namespace attngen {

struct Knobs {
    int tq = 32;    // queries per tile (the unit of parallel work and of K/V reuse)
    int kc = 64;    // keys per chunk (one online-softmax step)
    int vec = 16;   // vector lanes (16 = AVX-512 fp32, 8 = AVX2, 4 = SSE/NEON)
    int rq = 4;     // queries per register tile in P@V (accumulators = rq * D/vec)
    int rk = 8;     // keys per register tile in Q@K^T (accumulators = rk * qvec lanes groups)
    int qvec = 1;   // 1: vectorise scores over queries (prefill); 0: over keys (decode)
    int threads_split = 1; // 1: parallel over (batch, head, query tile); 0: (batch, head) only
    int kci = 0;    // DALL-E sparse only: slots per chunk of the image phase (0 = no such phase)
    // GPU only: 1 = one query per warp lane, its online-softmax state in the
    // lane's registers (gpu_schedule.h); 0 = the tiled shared-memory family.
    int lanes = 0;

    std::string params_string() const {
        return "tq=" + std::to_string(tq) + " kc=" + std::to_string(kc) + " vec=" + std::to_string(vec) +
               " rq=" + std::to_string(rq) + " rk=" + std::to_string(rk) + " qvec=" + std::to_string(qvec) +
               " threads_split=" + std::to_string(threads_split) +
               (kci > 0 ? " kci=" + std::to_string(kci) : std::string()) +
               (lanes > 0 ? " lanes=" + std::to_string(lanes) : std::string());
    }
};

}  // namespace attngen
