// Block-sparse attention over a DeepSpeed-style layout (SPEC.md section 4).
// The layout arrives as a compact per-row list of kept key blocks (built
// once by the runtime, attngen_block_layout): query tile `it` is one block
// row of kc queries and walks only the listed key blocks, so absent blocks
// cost nothing; with causal, the runtime leaves blocks above the diagonal
// out of the list and the diagonal block is masked per element. An optional
// element mask (a dense static mask whose layout was derived from it)
// applies inside kept blocks. K/V heads may be grouped.
#include "attention_common.h"
#include "schedule.h"

namespace attngen {

class BlockSparseAttention : public Generator<BlockSparseAttention> {
public:
    GeneratorParam<int> head_dim{"head_dim", 0, 0, 1024};
    // kc is the layout granule: block rows and key blocks of kc tokens
    // (the query tile tq must equal it). Layouts with a block size that is
    // a multiple of kc are expanded to it by the runtime.
    GeneratorParam<int> tq{"tq", 16, 1, 512};
    GeneratorParam<int> kc{"kc", 16, 1, 512};
    GeneratorParam<int> vec{"vec", 16, 1, 64};
    GeneratorParam<int> rq{"rq", 4, 1, 32};
    GeneratorParam<int> rk{"rk", 8, 1, 64};
    GeneratorParam<int> qvec{"qvec", 1, 1, 1};
    GeneratorParam<int> threads_split{"threads_split", 1, 0, 1};
    GeneratorParam<int> lanes{"lanes", 0, 0, 1};
    GeneratorParam<bool> rotary{"rotary", false};

    Input<Buffer<void, 4>> q{"q"};  // [d, h, n, b]
    Input<Buffer<void, 4>> k{"k"};  // [d, hkv, n, b]
    Input<Buffer<void, 4>> v{"v"};
    Input<Buffer<uint8_t, 2>> key_mask{"key_mask"};    // [n, b]; read iff use_key_mask
    Input<Buffer<uint8_t, 2>> elem_mask{"elem_mask"};  // [S, S] (key, query); read iff use_elem_mask
    Input<Buffer<int32_t, 3>> cols{"cols"};            // [max_count, rows, Hl] key block of each slot
    Input<Buffer<int32_t, 2>> counts{"counts"};        // [rows, Hl] listed blocks per row
    // Key j visible to query i iff j <= i + diag_shift (0 = causal).
    Input<int32_t> diag_shift{"diag_shift", 0, 0, 1 << 30};
    Input<bool> use_key_mask{"use_key_mask"};
    Input<bool> use_elem_mask{"use_elem_mask"};
    // Every value of v is finite (the runtime checks once per call): then
    // P@V needs no masking of value rows a query cannot see.
    Input<bool> values_finite{"values_finite"};
    Output<Buffer<void, 4>> out{"out"};

    void generate() {
        AttnFuncs f;
        Var ii = f.ii, it = f.it, j = f.j, h = f.h, b = f.b;
        f.tq = tq;
        f.kc = kc;
        f.lane_dim = lane_dim_for(get_target(), lanes, head_dim);
        build_qkv(f, q, k, v, ImageParam(), false, Expr(0), Expr(0));
        f.values_finite = values_finite;
        Expr Nk = f.num_keys;
        const int KC = kc;

        Expr max_count = cols.dim(0).extent();
        Expr rows = cols.dim(1).extent(), Hl = cols.dim(2).extent();
        auto lh = [&](Expr hh) { return clamp(hh, 0, Hl - 1); };
        auto lr = [&](Expr tt) { return clamp(tt, 0, rows - 1); };
        PhaseSpec ph;
        ph.name = "blocks";
        ph.kc = KC;
        ph.num_chunks = max_count;
        // The runtime's block lists hold blocks 0 .. ceil(Nk / KC) - 1; the
        // clamp says so to Halide, so every key read is bounded (the
        // autoschedulers refuse unbounded accesses; also a guard).
        const Expr last_block = max(Nk - 1, 0) / KC;
        ph.key_pos = [&](Expr jj, Expr, Expr tt, Expr hh, Expr) {
            return clamp(cols(clamp(jj / KC, 0, max_count - 1), lr(tt), lh(hh)), 0, last_block) * KC + jj % KC;
        };
        Expr kp = ph.key_pos(j, ii, it, h, b);
        Expr qpos = f.query_index();
        Expr keep = kp < Nk && kp <= qpos + diag_shift;
        keep = keep && (!use_key_mask || key_mask(clamp(kp, 0, key_mask.dim(0).extent() - 1),
                                                  clamp(b, 0, key_mask.dim(1).extent() - 1)) != 0);
        Expr S = elem_mask.dim(0).extent();
        keep = keep && (!use_elem_mask ||
                        elem_mask(clamp(kp, 0, S - 1), clamp(qpos, 0, elem_mask.dim(1).extent() - 1)) != 0);
        ph.keep = keep;
        ph.chunk_live = [&](Expr c) { return c < counts(lr(it), lh(h)); };
        ph.score_flags = {use_key_mask, use_elem_mask};
        add_phase(f, ph);
        finish_online_softmax(f);

        Var d = f.d, io("i");
        out(d, h, io, b) = store_storage(q.type(), f.out(d, io, h, b));  // storage type of q, k, v

        const int De = head_dim > 0 ? (int)head_dim : 64;
        for (auto *t : {&q, &k, &v}) t->set_estimates({{0, De}, {0, 8}, {0, 1280}, {0, 1}});
        key_mask.set_estimates({{0, 1280}, {0, 1}});
        elem_mask.set_estimates({{0, 1280}, {0, 1280}});
        cols.set_estimates({{0, 40}, {0, 80}, {0, 1}});
        counts.set_estimates({{0, 80}, {0, 1}});
        diag_shift.set_estimate(0);
        use_key_mask.set_estimate(false);
        use_elem_mask.set_estimate(false);
        values_finite.set_estimate(true);
        out.set_estimates({{0, De}, {0, 8}, {0, 1280}, {0, 1}});
        constrain_activations<Input<Buffer<void, 4>>>({&q, &k, &v}, out, head_dim);

        if (get_auto_schedule()) return;
        Knobs kn = knobs_from_params(*this);
        schedule_for_target(f, out, get_target(), kn, head_dim);
    }
};

}  // namespace attngen

HALIDE_REGISTER_GENERATOR(attngen::BlockSparseAttention, attngen_block_sparse)
