// Chunked memory-efficient attention (Rabe & Staats; SPEC.md section 5):
// plain softmax attention, Nq and Nk independent (self- and cross-
// attention), value dim Dv that may differ from D, K/V heads that may be
// grouped. Query chunks are the tiles of tq queries; key/value chunks of kc
// keys are merged into a running (max, sum, numerator) state by rescaling.
// Scratch per worker is O(tq * kc); nothing O(Nq * Nk) exists.
#include "attention_common.h"
#include "schedule.h"

namespace attngen {

class ChunkedAttention : public Generator<ChunkedAttention> {
public:
    // Specialised head dim (then D == Dv == head_dim), or 0 for any D, Dv.
    GeneratorParam<int> head_dim{"head_dim", 0, 0, 1024};
    GeneratorParam<int> tq{"tq", 32, 1, 512};   // query_chunk_size of one task
    GeneratorParam<int> kc{"kc", 128, 1, 4096}; // kv_chunk_size
    GeneratorParam<int> vec{"vec", 16, 1, 64};
    GeneratorParam<int> rq{"rq", 4, 1, 32};
    GeneratorParam<int> rk{"rk", 8, 1, 64};
    GeneratorParam<int> qvec{"qvec", 1, 0, 1};
    GeneratorParam<int> threads_split{"threads_split", 1, 0, 1};
    GeneratorParam<int> lanes{"lanes", 0, 0, 1};
    GeneratorParam<bool> rotary{"rotary", false};

    Input<Buffer<void, 4>> q{"q"};  // [d, h, nq, b]
    Input<Buffer<void, 4>> k{"k"};  // [d, hkv, nk, b]
    Input<Buffer<void, 4>> v{"v"};  // [dv, hkv, nk, b]
    // Every value of v is finite (the runtime checks once per call): then
    // P@V needs no masking of value rows a query cannot see.
    Input<bool> values_finite{"values_finite"};
    Output<Buffer<void, 4>> out{"out"};  // [dv, h, nq, b]

    void generate() {
        AttnFuncs f;
        f.tq = tq;
        f.kc = kc;
        f.lane_dim = lane_dim_for(get_target(), lanes, head_dim);
        build_qkv(f, q, k, v, ImageParam(), false, Expr(0), Expr(0));
        f.values_finite = values_finite;
        Expr Nk = f.num_keys;
        build_online_softmax(f, f.j < Nk, (Nk + f.kc - 1) / f.kc, [](Expr) { return Internal::const_true(); });

        Var d = f.d, h = f.h, b = f.b, io("i");
        out(d, h, io, b) = store_storage(q.type(), f.out(d, io, h, b));  // storage type of q, k, v

        // Estimates: the `sd_self` workload (B2 H8 N4096 D40).
        const int De = head_dim > 0 ? (int)head_dim : 40;
        for (auto *t : {&q, &k, &v}) t->set_estimates({{0, De}, {0, 8}, {0, 4096}, {0, 2}});
        values_finite.set_estimate(true);
        out.set_estimates({{0, De}, {0, 8}, {0, 4096}, {0, 2}});
        constrain_activations<Input<Buffer<void, 4>>>({&q, &k, &v}, out, head_dim);

        if (get_auto_schedule()) return;
        Knobs kn = knobs_from_params(*this);
        schedule_for_target(f, out, get_target(), kn, head_dim);
    }
};

}  // namespace attngen

HALIDE_REGISTER_GENERATOR(attngen::ChunkedAttention, attngen_chunked)
