// Dense attention (SPEC.md section 1): causal or not, key-padding mask,
// static mask, KV-cache decode (offset), fused rotary on q, k and v, grouped
// K/V heads. Algorithm only; the schedule comes from schedules/.
#include "attention_common.h"
#include "schedule.h"

namespace attngen {

class DenseAttention : public Generator<DenseAttention> {
public:
    // 0 = generic head dim; otherwise the kernel is specialised for it.
    GeneratorParam<int> head_dim{"head_dim", 0, 0, 1024};
    // Schedule knobs (schedules/knobs.h).
    GeneratorParam<int> tq{"tq", 32, 1, 512};
    GeneratorParam<int> kc{"kc", 64, 1, 4096};
    GeneratorParam<int> vec{"vec", 16, 1, 64};
    GeneratorParam<int> rq{"rq", 4, 1, 32};
    GeneratorParam<int> rk{"rk", 8, 1, 64};
    GeneratorParam<int> qvec{"qvec", 1, 0, 1};
    GeneratorParam<int> threads_split{"threads_split", 1, 0, 1};
    GeneratorParam<int> lanes{"lanes", 0, 0, 1};
    // Fused rotary is a build-time variant: without it K and V are read in
    // place; with it they are rotated once per call (O(N) scratch).
    GeneratorParam<bool> rotary{"rotary", false};

    // Activations in Halide order [d, h, n, b] == row-major (B, N, H, D).
    Input<Buffer<void, 4>> q{"q"};
    Input<Buffer<void, 4>> k{"k"};  // [d, hkv, nk, b]
    Input<Buffer<void, 4>> v{"v"};  // [d, hkv, nk, b]
    Input<Buffer<uint8_t, 2>> key_mask{"key_mask"};        // [nk, b]; read iff use_key_mask
    Input<Buffer<uint8_t, 2>> static_mask{"static_mask"};  // [S, S] (col, row); read iff use_static_mask
    Input<Buffer<float, 2>> freqs{"freqs"};                // [R, Nf]; read iff rotary_dim > 0
    // Key j is visible to query i iff j <= offset + i + diag_shift: 0 for
    // causal, >= Nk for none. One linear bound (not a flag) so the chunk loop
    // bound follows it and chunks above the diagonal are never computed.
    Input<int32_t> diag_shift{"diag_shift", 0, 0, 1 << 30};
    Input<int32_t> offset{"offset", 0, 0, 1 << 30};
    Input<bool> use_key_mask{"use_key_mask"};
    Input<bool> use_static_mask{"use_static_mask"};
    Input<int32_t> rotary_dim{"rotary_dim", 0, 0, 1024};  // used iff rotary
    // Every value of v is finite (the runtime checks once per call): then
    // P@V needs no masking of value rows a query cannot see.
    Input<bool> values_finite{"values_finite"};
    Output<Buffer<void, 4>> out{"out"};

    void generate() {
        AttnFuncs f;
        Var d = f.d, ii = f.ii, it = f.it, j = f.j, h = f.h, b = f.b;
        f.tq = tq;
        f.kc = kc;
        f.lane_dim = lane_dim_for(get_target(), lanes, head_dim);
        Expr i = f.query_index();

        build_qkv(f, q, k, v, freqs, rotary, rotary_dim, offset);
        f.values_finite = values_finite;
        Expr Nk = f.num_keys;

        Expr qpos = offset + i;
        // Mask reads are clamped to the mask buffers' own extents, so a 1x1
        // placeholder can be passed for an absent mask.
        Expr keep = j < Nk;
        keep = keep && (j <= qpos + diag_shift);
        keep = keep && (!use_key_mask ||
                        key_mask(clamp(j, 0, key_mask.dim(0).extent() - 1),
                                 clamp(b, 0, key_mask.dim(1).extent() - 1)) != 0);
        Expr S = static_mask.dim(0).extent();
        keep = keep && (!use_static_mask ||
                        static_mask(clamp(j, 0, S - 1), clamp(qpos, 0, static_mask.dim(1).extent() - 1)) != 0);

        Expr num_chunks = (Nk + f.kc - 1) / f.kc;
        Expr tile_last_pos = offset + it * f.tq + (f.tq - 1);
        build_online_softmax(
            f, keep, num_chunks, [&](Expr cc) { return cc * f.kc <= tile_last_pos + diag_shift; },
            {use_key_mask, use_static_mask});

        Var io("i");
        out(d, h, io, b) = store_storage(q.type(), f.out(d, io, h, b));  // storage type of q, k, v

        // Estimates: the `dalle` workload (B1 H8 N1280 D64).
        const int De = head_dim > 0 ? (int)head_dim : 64;
        q.set_estimates({{0, De}, {0, 8}, {0, 1280}, {0, 1}});
        k.set_estimates({{0, De}, {0, 8}, {0, 1280}, {0, 1}});
        v.set_estimates({{0, De}, {0, 8}, {0, 1280}, {0, 1}});
        key_mask.set_estimates({{0, 1280}, {0, 1}});
        static_mask.set_estimates({{0, 1280}, {0, 1280}});
        freqs.set_estimates({{0, De}, {0, 1280}});
        diag_shift.set_estimate(0);
        offset.set_estimate(0);
        use_key_mask.set_estimate(false);
        use_static_mask.set_estimate(false);
        rotary_dim.set_estimate(0);
        values_finite.set_estimate(true);
        out.set_estimates({{0, De}, {0, 8}, {0, 1280}, {0, 1}});

        constrain_activations<Input<Buffer<void, 4>>>({&q, &k, &v}, out, head_dim);

        if (get_auto_schedule()) {
            return;
        }
        Knobs kn = knobs_from_params(*this);
        schedule_for_target(f, out, get_target(), kn, head_dim);
    }
};

}  // namespace attngen

HALIDE_REGISTER_GENERATOR(attngen::DenseAttention, attngen_dense)
