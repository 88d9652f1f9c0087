#include "cpu_schedule.h"

namespace attngen {

namespace {
// How the feature dim d is vectorised: the widest width that divides a
// specialised head dim (D=40: 8 lanes, 5 vectors), so there is no scalar
// tail; guarded vectors for the generic head dim.
struct FeatureVec {
    int width;
    bool exact;
    FeatureVec(int vec, int head_dim) : width(vec), exact(false) {
        if (head_dim > 0 && head_dim % vec != 0) {
            for (int w = vec / 2; w >= 4; w /= 2) {
                if (head_dim % w == 0) {
                    width = w;
                    break;
                }
            }
        }
        exact = head_dim > 0 && head_dim % width == 0;
    }
    TailStrategy tail() const { return exact ? TailStrategy::Auto : TailStrategy::GuardWithIf; }
    template<typename S>
    void apply(S stage, Var dv) const {
        stage.vectorize(dv, width, tail());
    }
};
void schedule_phase(AttnFuncs &f, KeyPhase &ph, const Knobs &k, int head_dim, const FeatureVec &fv);
}

std::string check_cpu_knobs(const Knobs &k, int head_dim) {
    if (k.lanes) return "lanes is a GPU knob";
    if (k.vec != 4 && k.vec != 8 && k.vec != 16) return "vec must be 4, 8 or 16";
    if (k.tq < 1 || k.kc < 1 || k.rq < 1 || k.rk < 1) return "tile sizes must be positive";
    if (k.qvec && k.tq % k.vec != 0) return "qvec=1 needs tq to be a multiple of vec";
    if (k.tq % k.rq != 0) return "tq must be a multiple of rq";
    if (k.qvec && k.kc % k.rk != 0) return "kc must be a multiple of rk";
    if (!k.qvec && k.kc % (k.vec * k.rk) != 0) return "qvec=0 needs kc to be a multiple of vec*rk";
    // Register budget (32 vector registers on AVX-512 and NEON, 16 on AVX2):
    // accumulators plus the operands of one step must fit.
    const int regs = k.vec == 8 ? 16 : 32;
    const int dv = head_dim > 0 ? (head_dim + k.vec - 1) / k.vec : 4;
    if (k.rq * dv + dv + 1 > regs) return "P@V register tile rq*ceil(D/vec) too large";
    const int qk_acc = k.qvec ? k.rk * (k.tq / k.vec) : k.rk;
    if (qk_acc + (k.qvec ? k.tq / k.vec : 1) + 1 > regs) return "Q@K register tile too large";
    return "";
}

void schedule_cpu(AttnFuncs &f, Func output, const Target &target, const Knobs &k, int head_dim) {
    (void)target;
    Var d = f.d, ii = f.ii, j = f.j, h = f.h, b = f.b;
    Var od = output.args()[0], oh = output.args()[1], oi = output.args()[2], ob = output.args()[3];
    Var io("io"), il("il"), t("t");
    const int V = k.vec;
    const FeatureVec fv(V, head_dim);
    auto vec_d = [&](auto stage, Var dv) { fv.apply(stage, dv); };

    // One task = one query tile (the algorithm's tile `it`) of one (batch,
    // head). Tiles are aligned to 0, so the output split matches them; the
    // last tile's rows past Nq are computed from clamped inputs and not
    // written.
    // When Nq is a multiple of tq every task is exactly one algorithmic
    // tile (RoundUp keeps bounds exact, so all scratch has constant size).
    // Otherwise guarded tiles; their producer bounds are looser.
    auto tile_output = [&](Stage st, TailStrategy tail) {
        st.split(oi, io, il, k.tq, tail).reorder(od, il, io, oh, ob);
        vec_d(st, od);
        if (k.threads_split) {
            st.fuse(io, oh, t).fuse(t, ob, t).parallel(t);
        } else {
            st.fuse(oh, ob, t).parallel(t);
        }
    };
    tile_output(output.specialize(f.num_queries % k.tq == 0), TailStrategy::RoundUp);
    tile_output(output, TailStrategy::GuardWithIf);
    LoopLevel tile = k.threads_split ? LoopLevel(output, t) : LoopLevel(output, io);

    // Per tile: rotated, scaled queries, query-major for vector loads over
    // queries (qvec) or feature-major for broadcasts (decode).
    f.qs.compute_at(tile);
    if (k.qvec) {
        f.qs.reorder_storage(ii, d, f.it, h, b).reorder(ii, d).vectorize(ii, V);
        // The tile's query rows copied as rows first (vector loads): the
        // transposition into qs then reads a small local buffer instead of
        // gathering lanes H x D floats apart in the caller's tensor. Only
        // for a specialised head dim: a run-time-sized copy would be one
        // more heap allocation per tile.
        if (head_dim > 0) {
            f.qraw.compute_at(tile);
            vec_d(f.qraw, d);
        }
    } else {
        vec_d(f.qs, d);
    }
    for (Func l : f.lookups) l.compute_root();
    if (f.cosT.defined()) {
        f.cosT.compute_root();
        f.sinT.compute_root();
    }

    // K and V are read in place (Q@K^T broadcasts single key features, P@V
    // loads contiguous value rows). Fused rotary rotates them once per call;
    // half-precision K/V are converted to fp32 once per call when many
    // queries read each key (prefill), in the loads otherwise (decode: one
    // pass over K/V, where half storage halves the bytes read).
    std::vector<Func> kv_root = f.kv_rot;
    if (k.qvec) kv_root.insert(kv_root.end(), f.kv_conv.begin(), f.kv_conv.end());
    for (Func r : kv_root) {
        Var rd_ = r.args()[0], rh_ = r.args()[2], rb_ = r.args()[3];
        Var rt("rt");
        r.compute_root().fuse(rh_, rb_, rt).parallel(rt);
        vec_d(r, rd_);
    }

    // The online-softmax state lives per tile; each phase's update walks
    // its chunks, and inside a chunk, blocks of rq queries.
    for (KeyPhase &ph : f.phases) {
        ph.st.compute_at(tile);
        vec_d(ph.st, d);
        schedule_phase(f, ph, k, head_dim, fv);
    }
}

namespace {

// One phase of the online softmax: its state update, scores, chunk
// statistics and P@V.
void schedule_phase(AttnFuncs &f, KeyPhase &ph, const Knobs &k, int head_dim, const FeatureVec &fv) {
    Var d = f.d, ii = f.ii, j = f.j, h = f.h, b = f.b;
    // Loop names unique per phase: LoopLevel resolves a var by name.
    Var jo("jo"), jl("jl"), iq("iq_" + ph.name), ir("ir_" + ph.name);
    const int V = k.vec;
    const bool fixed_d = head_dim > 0;
    auto vec_d = [&](auto st, Var dv) { fv.apply(st, dv); };
    // Keys per Q@K^T register tile: rk, or else the largest divisor of the
    // phase's chunk below rk (a DALL-E image chunk of 25 slots, one 5x5 box
    // without padding, takes tiles of 5 slots). Text and dense chunks are
    // multiples of rk (check_cpu_knobs).
    int rk = k.rk;
    while (ph.kc % rk != 0) rk--;

    auto stu = ph.st.update();
    stu.split(ii, iq, ir, k.rq).reorder(d, ir, iq, ph.rc.x);
    vec_d(stu, d);
    stu.unroll(ir);
    LoopLevel chunk(ph.st, ph.rc.x);
    LoopLevel qblock(ph.st, iq);

    if (ph.query_dependent) {
        // All keys, transposed once per call (key-major per feature):
        // consecutive queries read consecutive keys, so Q@K^T loads them as
        // vectors. O(N * D) per head, against O(N * slots * D) of scores.
        // Blocks of V keys, all their features, then the next block: the
        // strided reads of one block stay in L1 (a sweep over all keys per
        // feature would miss on every load).
        Var kpos = ph.kstage.args()[1], kh = ph.kstage.args()[2], kb = ph.kstage.args()[3], kt("kt");
        Var ko("ko"), ki("ki");
        ph.kstage.compute_root()
            .reorder_storage(kpos, d, kh, kb)
            .split(kpos, ko, ki, V)
            .reorder(ki, d, ko, kh, kb)
            .fuse(kh, kb, kt)
            .parallel(kt)
            .vectorize(ki);
    } else if (!k.qvec) {
        // Keys vectorised: stage the chunk's keys key-major.
        f.kr.in(ph.s).compute_at(chunk).reorder_storage(j, d, h, b).reorder(j, d).vectorize(j, V);
    }

    // Scores: register-tiled Q@K^T. ms holds one tq x kc chunk of scores.
    ph.ms.compute_at(chunk);
    // The ms schedule below is copied into one specialisation per flag
    // combination (specialisations take the schedule set before them).
    auto specialise_flags = [](Func ms, const std::vector<Expr> &flags) {
        // All flags off (the common case), then all but the first off (the
        // flags come cheapest first); the generic path takes the rest. Each
        // specialisation is a copy of the hot loop, so keep their number
        // small.
        if (flags.empty()) return;
        Expr none = Internal::const_true();
        for (const Expr &e : flags) none = none && !e;
        ms.specialize(none);
        if (flags.size() > 1) {
            Expr rest_off = Internal::const_true();
            for (size_t n = 1; n < flags.size(); n++) rest_off = rest_off && !flags[n];
            ms.specialize(rest_off);
        }
    };
    if (k.qvec) {
        // rk keys x tq queries of accumulators; per feature: tq/V query
        // vector loads and rk broadcast key features (or, for a
        // query-dependent phase, rk vector loads of staged keys).
        ph.ms.reorder_storage(ii, j, f.it, h, b)
            .split(j, jo, jl, rk)
            .reorder(ii, jl, jo)
            .vectorize(ii, V)
            .unroll(jl);
        ph.s.compute_at(ph.ms, jo).reorder_storage(ii, j, f.it, h, b);
        ph.s.vectorize(ii, V).unroll(j);
        Var iv("iv"), io2("io2");
        ph.s.update()
            .split(ii, io2, iv, V)
            .reorder(iv, j, io2, ph.rd.x)
            .vectorize(iv)
            .unroll(io2)
            .unroll(j);
    } else {
        // Decode: V*rk keys of one query at a time, vectorised over keys.
        ph.ms.split(j, jo, jl, V * k.rk).reorder(jl, ii, jo).vectorize(jl, V);
        ph.s.compute_at(ph.ms, ii);
        Var jv("jv"), jo2("jo2");
        ph.s.vectorize(j, V);
        ph.s.update().split(j, jo2, jv, V).reorder(jv, jo2, ph.rd.x).vectorize(jv).unroll(jo2);
    }
    specialise_flags(ph.ms, ph.score_flags);

    // Chunk max, probabilities and their sum, per chunk.
    ph.cmax.compute_at(chunk);
    ph.p.compute_at(chunk);
    ph.psum.compute_at(chunk);
    if (k.qvec) {
        ph.cmax.vectorize(ii, V);
        ph.cmax.update().reorder(ii, ph.rj.x).vectorize(ii, V);
        ph.p.reorder_storage(ii, j, f.it, h, b).reorder(ii, j).vectorize(ii, V);
        ph.psum.vectorize(ii, V);
        ph.psum.update().reorder(ii, ph.rj.x).vectorize(ii, V);
    } else {
        ph.p.vectorize(j, V);
    }

    // P@V: a register tile of rq queries x D features accumulated over the
    // chunk's keys (rq * D/V accumulators), then folded into the state.
    ph.pv.compute_at(qblock);
    vec_d(ph.pv, d);
    if (fixed_d) ph.pv.unroll(ii);
    Var dvo("dvo"), dvi("dvi");
    auto pvu = ph.pv.update();
    pvu.reorder(d, ii, ph.rj.x).split(d, dvo, dvi, fv.width, fv.tail())
        .reorder(dvi, dvo, ii, ph.rj.x)
        .vectorize(dvi);
    if (fixed_d) pvu.unroll(dvo).unroll(ii);
    // All values finite (the common case): the plain P@V loop, without the
    // masking of invisible value rows.
    if (f.values_finite.defined()) pvu.specialize(f.values_finite);
}

}  // namespace

}  // namespace attngen
