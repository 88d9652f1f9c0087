// DALL-E sparse attention (SPEC.md sections 2 and 3): a text prefix of
// text_len tokens, then an image_size x image_size grid in raster order.
// Text queries attend causally to text keys; image queries attend to the
// (key-masked) text keys plus a few image keys near themselves:
//   sparse_conv          the kernel_size x kernel_size box above-left of the
//                        query, dilated by `dilation`;
//   sparse_axial (axis 0) the keys of the query's row up to the query;
//   sparse_axial (axis 1) the keys of the query's column up to the query.
// Two online-softmax phases share one running state: the text phase walks
// the text keys in chunks (causal chunks skipped for text tiles); the image
// phase walks "slots": for the box and the column, offsets from the query's
// own position (box cells, column steps), so only the kept pattern is
// computed; for the row, on the CPU, the window of keys that holds the rows
// of the query tile (GPU kernels: steps along the query's row). No unfolded keys and no dense score matrix. With rotary=true,
// rotary (q, k, v at positions 0..n-1) is fused.
//
// The run-time loop extents (text_chunks, image_chunks, first_image_tile)
// follow generators/dalle_extents.h.
#include "attention_common.h"
#include "schedule.h"

namespace attngen {

enum class DallePattern { Conv, Axial };

template<DallePattern Pattern>
class DalleSparse : public Generator<DalleSparse<Pattern>> {
public:
    template<typename T> using GP = GeneratorParam<T>;
    template<typename T> using In = GeneratorInput<T>;

    GP<int> head_dim{"head_dim", 0, 0, 1024};
    // Axial only: 0 = rows, 1 = columns (a build-time choice: the two
    // patterns stage different key windows).
    GP<int> axis{"axis", 0, 0, 1};
    GP<int> tq{"tq", 32, 1, 512};
    GP<int> kc{"kc", 32, 1, 4096};   // text keys per chunk
    GP<int> kci{"kci", 32, 1, 4096}; // image slots per chunk
    GP<int> vec{"vec", 16, 1, 64};
    GP<int> rq{"rq", 4, 1, 32};
    GP<int> rk{"rk", 8, 1, 64};
    GP<int> qvec{"qvec", 1, 1, 1};
    GP<int> threads_split{"threads_split", 1, 0, 1};
    GP<int> lanes{"lanes", 0, 0, 1};
    GP<bool> rotary{"rotary", false};

    In<Buffer<void, 4>> q{"q"};  // [d, h, n, b]
    In<Buffer<void, 4>> k{"k"};
    In<Buffer<void, 4>> v{"v"};
    In<Buffer<uint8_t, 2>> key_mask{"key_mask"};  // [>= text_len, b]; read iff use_key_mask
    In<Buffer<float, 2>> freqs{"freqs"};          // [R, Nf]; read iff rotary_dim > 0
    In<int32_t> text_len{"text_len", 1, 1, 1 << 30};
    In<int32_t> image_size{"image_size", 1, 1, 1 << 15};
    In<int32_t> kernel_size{"kernel_size", 1, 1, 1 << 15};  // conv only
    In<int32_t> dilation{"dilation", 1, 1, 1 << 15};        // conv only
    // Loop extents, computed by the runtime (see the text phase below):
    In<int32_t> text_chunks{"text_chunks", 1, 0, 1 << 30};       // ceil(min(text_len, n) / kc)
    In<int32_t> image_chunks{"image_chunks", 1, 0, 1 << 30};     // ceil(slots / kci), 0 if n <= text_len
    In<int32_t> first_image_tile{"first_image_tile", 0, 0, 1 << 30};  // text_len / tq (GPU schedules)
    In<bool> use_key_mask{"use_key_mask"};
    In<int32_t> rotary_dim{"rotary_dim", 0, 0, 1024};
    // Every value of v is finite (the runtime checks once per call): then
    // P@V needs no masking of value rows a query cannot see.
    In<bool> values_finite{"values_finite"};
    GeneratorOutput<Buffer<void, 4>> out{"out"};

    void generate() {
        AttnFuncs f;
        Var ii = f.ii, it = f.it, j = f.j, b = f.b;
        f.tq = tq;
        f.kc = kc;
        f.lane_dim = lane_dim_for(this->get_target(), lanes, head_dim);
        build_qkv(f, q, k, v, freqs, rotary, rotary_dim, Expr(0));
        f.values_finite = values_finite;
        Expr n = f.num_queries;
        Expr T = text_len, G = image_size;
        Expr qpos = f.query_index();
        Expr tile_last = it * f.tq + (f.tq - 1);
        const int KCT = kc, KCI = kci;

        // Text phase: text query i sees text keys 0..i; image queries see
        // every text key the key mask keeps.
        Expr text_keys = min(T, n);
        PhaseSpec text;
        text.name = "text";
        text.kc = KCT;
        // Chunk counts and the first image tile come in as inputs computed
        // by the runtime: derived here from text_len / kernel_size, Halide
        // 14's no-op trimming combines them with the same compares in
        // `keep` and wrongly drops the score computation of the phase.
        text.num_chunks = text_chunks;
        text.key_pos = [](Expr jj, Expr, Expr, Expr, Expr) { return jj; };
        text.keys_in_place = true;
        Expr masked_in = !use_key_mask ||
                         key_mask(clamp(j, 0, key_mask.dim(0).extent() - 1),
                                  clamp(b, 0, key_mask.dim(1).extent() - 1)) != 0;
        // (Written without a select of booleans: Halide 14 miscompiles a
        // vectorised select between two boolean vectors here.)
        text.keep = j < text_keys && ((qpos < T && j <= qpos) || (qpos >= T && masked_in));
        text.chunk_live = [&](Expr c) { return c * KCT <= tile_last; };
        text.score_flags = {use_key_mask};
        add_phase(f, text);

        // Image phase: the keys of each image query's pattern. Grid row and
        // column of each position and box cell of each slot come from small
        // tables computed once per call: vector integer division by a
        // run-time divisor is scalar code.
        Var x("x");
        Func grid_row("grid_row"), grid_col("grid_col");
        grid_row(x) = (x - T) / G;
        grid_col(x) = (x - T) % G;
        Expr r = grid_row(qpos), col = grid_col(qpos);
        f.lookups = {grid_row, grid_col};
        PhaseSpec image;
        image.name = "image";
        image.kc = KCI;
        image.num_chunks = image_chunks;  // dalle_extents.h: image_slots / kci, rounded up
        // Rows on the CPU: every key a tile's image queries see in their
        // grid rows lies in the window of tq + G - 1 keys that ends at the
        // tile's last query. Slot j is key it * tq - (G - 1) + j for the
        // whole tile, so this phase reads its keys in place and broadcasts
        // each to the tile's queries, as the text phase does: about twice
        // the slots of a walk along each query's own row, each much cheaper
        // (no per-query key and value loads, no key-major copy of K; 5%
        // faster on dalle). Kept: keys of the query's row up to the query.
        // GPU kernels walk each query's row (the window was 8% slower on
        // the H100, dalle B8 H8: 1.36 against 1.26 ms).
        const bool row_window = Pattern == DallePattern::Axial && axis == 0 && !this->get_target().has_gpu_feature();
        if (row_window) {
            Expr key = it * f.tq - (G - 1) + j;
            image.key_pos = [&](Expr jj, Expr, Expr t2, Expr, Expr) { return t2 * f.tq - (G - 1) + jj; };
            image.keep = qpos >= T && qpos < n && key >= T && key <= qpos && grid_row(key) == r;
        } else {
            // Box, columns and GPU rows: slot j of image query (r, c) is the
            // key qpos - delta(j), kept when that key lies in the pattern.
            Expr slots, delta, valid;
            if (Pattern == DallePattern::Conv) {
                Expr K = kernel_size, dil = dilation;
                Func cell_a("cell_a"), cell_e("cell_e"), cell_delta("cell_delta");
                cell_a(x) = x / K;
                cell_e(x) = x % K;
                // The key offset of each cell, one table read per slot where a
                // key row is addressed (P@V addresses one per query and slot).
                cell_delta(x) = (x / K) * dil * G + (x % K) * dil;
                f.lookups.push_back(cell_a);
                f.lookups.push_back(cell_e);
                f.lookups.push_back(cell_delta);
                // Clamped: table values are unbounded to bounds inference.
                Expr a = clamp(cell_a(j), 0, K - 1), e = clamp(cell_e(j), 0, K - 1);
                slots = K * K;
                delta = clamp(cell_delta(j), 0, (K - 1) * dil * (G + 1));
                valid = r >= a * dil && col >= e * dil;
            } else if (axis == 0) {
                // Offsets clamped to the grid: the padding slots of the last
                // chunk (j >= G, masked) then read keys inside the key-major
                // copy instead of widening it.
                slots = G;
                delta = min(j, G - 1);
                valid = j <= col;
            } else {
                slots = G;
                delta = min(j, G - 1) * G;
                valid = j <= r;
            }
            image.query_dependent = true;
            image.key_pos = [&, delta](Expr jj, Expr i2, Expr t2, Expr, Expr) {
                Expr d2 = substitute(j.name(), jj, delta);
                return t2 * f.tq + i2 - d2;
            };
            image.keep = qpos >= T && qpos < n && j < slots && valid;
        }
        // On the CPU every tile walks the image chunks; a text tile's are
        // fully masked (qpos >= T in keep), a chunk of kci slots per text
        // tile. Pruning them by the tile (it >= text_len / tq) makes Halide
        // 14 narrow the tile's bounds by that condition: every per-chunk
        // scratch of the CPU schedule got a run-time size (heap allocations
        // per tile, P@V accumulators in memory), which cost more than these
        // chunks. GPU scratch is sized per block regardless, and there the
        // pruning is worth 7-18% (H100, dalle B8 H8: row, conv, column).
        if (this->get_target().has_gpu_feature()) {
            image.chunk_live = [&](Expr) { return it >= first_image_tile; };
        } else {
            image.chunk_live = [](Expr) { return Internal::const_true(); };
        }
        add_phase(f, image);
        finish_online_softmax(f);

        Var d = f.d, h = f.h, io("i");
        out(d, h, io, b) = store_storage(q.type(), f.out(d, io, h, b));  // storage type of q, k, v

        // Estimates: the `dalle` workload (B1 H8, text 257 + 32x32, D64).
        const int De = head_dim > 0 ? (int)head_dim : 64;
        for (auto *t : {&q, &k, &v}) t->set_estimates({{0, De}, {0, 8}, {0, 1280}, {0, 1}});
        key_mask.set_estimates({{0, 257}, {0, 1}});
        freqs.set_estimates({{0, De}, {0, 1280}});
        text_len.set_estimate(257);
        image_size.set_estimate(32);
        kernel_size.set_estimate(5);
        dilation.set_estimate(1);
        text_chunks.set_estimate(9);
        image_chunks.set_estimate(1);
        first_image_tile.set_estimate(8);
        use_key_mask.set_estimate(false);
        rotary_dim.set_estimate(0);
        values_finite.set_estimate(true);
        out.set_estimates({{0, De}, {0, 8}, {0, 1280}, {0, 1}});
        constrain_activations<In<Buffer<void, 4>>>({&q, &k, &v}, out, head_dim);

        if (this->get_auto_schedule()) return;
        Knobs kn = knobs_from_params(*this);
        kn.kci = kci;
        schedule_for_target(f, out, this->get_target(), kn, head_dim);
    }
};

using SparseConv = DalleSparse<DallePattern::Conv>;
using SparseAxial = DalleSparse<DallePattern::Axial>;

}  // namespace attngen

HALIDE_REGISTER_GENERATOR(attngen::SparseConv, attngen_sparse_conv)
HALIDE_REGISTER_GENERATOR(attngen::SparseAxial, attngen_sparse_axial)
