// Algorithm pieces shared by every attention generator: rotary tables, the
// rotation itself, and the fused "masked scores -> online softmax -> values"
// core. Generators build the masked score predicate for their variant and
// hand it to build_online_softmax(); schedules (schedules/) then operate on
// the returned AttnFuncs. Nothing here schedules anything.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "Halide.h"

namespace attngen {

using namespace Halide;

// Masked scores are set to this value; p = 0 for anything at or below
// kMaskedThreshold, so fully masked rows give l = 0 and a zero output.
// Finite inputs cannot produce scores that low (|q.k|/sqrt(D) would need
// features around 1e15).
constexpr float kMaskedScore = -1e30f;
constexpr float kMaskedThreshold = -1e29f;

// One pass of the online softmax over a set of keys, walked in chunks of kc
// keys. A variant has one phase (dense: all keys) or several (DALL-E sparse:
// the text keys, then the image keys near the query); the running state is
// carried from phase to phase. Within a phase, key slot j (chunk j / kc)
// maps to a key position through the phase's key_pos, which may depend on
// the query (query_dependent): then the keys are also kept key-major
// (kstage) so that consecutive queries load consecutive keys as vectors.
struct KeyPhase {
    std::string name;
    int kc = 64;
    bool query_dependent = false;
    bool keys_in_place = false;  // slot j is key j (key_pos is the identity)
    RDom rd;    // over the head dim (scores)
    RDom rj;    // over the key slots of one chunk
    RDom rc;    // over chunks, predicated by the phase's chunk filter
    Func kstage;  // (d, kpos, h, b) keys, stored key-major; query-dependent phases only
    Func s;     // (j, ii, it, h, b) raw scores, pure 0 + update over rd
    Func ms;    // (j, ii, it, h, b) masked scores
    Func cmax;  // (ii, c, it, h, b) max of one chunk's masked scores
    Func p;     // (j, ii, it, h, b) exp(ms - cmax(chunk of j)), 0 where masked
    Func psum;  // (ii, c, it, h, b) sum of p over one chunk
    Func pv;    // (d, ii, c, it, h, b) p @ v over one chunk
    // (d, ii, it, h, b) Tuple(m, l, acc) after this phase: the previous
    // phase's state (or the empty state) plus one update merging the chunks.
    // A Func per phase, so each phase's loops belong to a stage of its own.
    Func st;
    // Runtime flags worth a specialised score loop (e.g. "a mask is used"),
    // cheapest first: schedules specialise ms on them, so unused masks cost
    // nothing.
    std::vector<Expr> score_flags;

    // The lane formulation (AttnFuncs::lane_dim > 0), over the same query
    // tiles as above: sg4 (l, j, ii, it, h, b) four partial dot products per
    // slot (the head dim in steps of 4 over rd4), sg their sum, msg the
    // masked score, cmaxg (ii, c, it, h, b) a chunk's max over rjg, vg
    // (d, j, h, b) the values with the rows no query can see zeroed (only
    // where that does not depend on the query: keep is a condition on the
    // key, and keys are in place), stg (e, ii, it, h, b) the packed state
    // after this phase, updated over ru = (e, key of the chunk, chunk) where
    // the tile's chunk filter holds (a condition on the chunk and the tile,
    // so the schedule's chunk loop skips dead chunks whole). Unused (not
    // part of the pipeline) otherwise.
    Func sg4, sg, msg, cmaxg, vg, stg;
    RDom rd4, rjg, ru;
    std::function<Expr(Expr, Expr, Expr, Expr, Expr)> key_pos;
};

// All funcs and loop variables a schedule family needs. Queries are tiled in
// the algorithm itself: query i = it * tq + ii. Pruning decisions (which key
// chunks a tile visits) depend on the tile `it` (and h, b) only, never on
// ii, so every per-chunk scratch spans exactly tq rows. Schedules pick loop
// and storage order.
struct AttnFuncs {
    Var d{"d"}, ii{"ii"}, it{"it"}, j{"j"}, h{"h"}, b{"b"}, c{"c"};
    Func cosT, sinT;  // rotary tables (r, pos), may be unused
    Func qs;    // (d, ii, it, h, b) rotated and scaled queries
    Func qraw;  // (d, ii, it, h, b) queries as stored (fp32), read by qs
    Func kr;    // (d, j, h, b) keys as seen by query head h (rotated, reads clamped)
    Func vr;    // (d, j, h, b) values as seen by query head h (rotated, reads clamped)
    std::vector<KeyPhase> phases;
    Func st;    // (d, ii, it, h, b) Tuple(m, l, acc): running max, sum, numerator (the last phase's st)
    Func out;   // (d, i, h, b), i = it * tq + ii
    std::vector<Func> kv_rot;  // root-level rotated K/V, when rotary is fused
    // K/V converted from a half storage type to fp32 (no rotary); the
    // schedule computes them once per call or reads through (inline).
    std::vector<Func> kv_conv;
    std::vector<Func> lookups; // small 1-D tables (x) the masks read, computed once per call
    int tq = 32;  // query tile
    int kc = 64;  // default key chunk
    Expr head_dim, num_keys, num_queries;
    // > 0: also build the lane formulation for this (fixed) head dim, which
    // the GPU lane schedule uses instead of the tiled one: one query of a
    // tile per warp lane, its state packed in one Func over e, so that it
    // can live in the lane's registers: e < D the numerator, e == D the
    // sum, e == D + 1 the running max (one copy per query, not per
    // feature), e up to a multiple of 4 padding. Set before build_qkv.
    int lane_dim = 0;
    Var e{"e"};
    Func qg;  // (d, ii, it, h, b) f.qs, the copy a lane keeps in registers
    int lane_extent() const { return (lane_dim + 2 + 3) / 4 * 4; }
    // True when every value is finite (a runtime input): P@V then skips the
    // masking of invisible value rows (schedules specialise on it).
    Expr values_finite;

    Expr query_index() const { return it * tq + ii; }
};

// How a phase finds and filters its keys (see add_phase).
struct PhaseSpec {
    std::string name;
    int kc = 64;
    Expr num_chunks;
    // Key position of slot j for query (ii, it) of head h, batch b. For a
    // query-independent phase it must not use ii. Query-dependent phases
    // must return an unclamped position linear in ii (e.g. query - delta):
    // kr clamps its reads.
    std::function<Expr(Expr j, Expr ii, Expr it, Expr h, Expr b)> key_pos;
    bool query_dependent = false;
    // Slot j is key j: key_pos is the identity (schedules may then stage a
    // chunk's keys as one contiguous block).
    bool keys_in_place = false;
    // Element mask in (f.j, f.ii, f.it, f.h, f.b), j being the slot.
    Expr keep;
    // A necessary condition, in terms of the chunk index and f.it, f.h, f.b
    // (never f.ii), for chunk c to hold a kept key of any query of the tile.
    // It becomes the chunk loop's bounds, so pruned chunks cost nothing.
    std::function<Expr(Expr c)> chunk_live;
    std::vector<Expr> score_flags;
};

// Storage types. fp32 and fp16 buffers hold their own Halide type; bf16
// buffers are declared uint16 (Halide 14 generators cannot be given a
// bfloat16 input type) and hold the upper half of the fp32 bit pattern.
inline Expr load_storage(Expr x) {
    if (x.type() == UInt(16)) return reinterpret(Float(32), cast(UInt(32), x) << 16);
    return cast<float>(x);
}
// fp32 -> storage type t, rounding to nearest even (bf16 in integer
// arithmetic; NaN stays NaN, tested on the bits: float compares are
// compiled under fast-math).
inline Expr store_storage(Type t, Expr value) {
    if (t == UInt(16)) {
        Expr bits = reinterpret(UInt(32), value);
        Expr rounded = (bits + (((bits >> 16) & 1) + 0x7fff)) >> 16;
        Expr nan = (bits & 0x7fffffff) > 0x7f800000;
        return cast(UInt(16), select(nan, (bits >> 16) | 0x40, rounded));
    }
    return cast(t, value);
}

// Rotary: cos/sin of the angle table, computed once per call.
inline void build_rotary_tables(AttnFuncs &f, Func freqs_clamped) {
    Var r("r"), pos("pos");
    f.cosT = Func("cosT");
    f.sinT = Func("sinT");
    f.cosT(r, pos) = cos(freqs_clamped(r, pos));
    f.sinT(r, pos) = sin(freqs_clamped(r, pos));
}

// Interleaved-pair rotation of feature d at position pos on the first R
// features. `t_at(dd)` reads feature dd (the caller clamps). R == 0 leaves t
// unchanged.
template<typename Reader>
Expr rotate_feature(const AttnFuncs &f, Expr d, Expr R, Expr pos, Expr D, Reader t_at) {
    Expr even = (d % 2) == 0;
    Expr partner = select(even, -t_at(min(d + 1, D - 1)), t_at(max(d - 1, 0)));
    Expr rd_ = clamp(d, 0, max(R - 1, 0));
    Expr rotated = t_at(d) * f.cosT(rd_, pos) + partner * f.sinT(rd_, pos);
    return select(d < R, rotated, t_at(d));
}

// Queries, keys and values as the core reads them: q, k, v are [d, h, n, b]
// buffers of one storage type (read as fp32, see load_storage); freqs is only read
// when rotary (pass ImageParam() otherwise), k and v with Hkv heads
// shared by H / Hkv query heads each. Every read is clamped, so schedules
// may compute whole tiles past the edges. With rotary, q is rotated at
// absolute position offset + i; k and v rows j >= offset at position j
// (rows below offset, a KV cache, are taken as already rotated), once per
// call and K/V head (O(N) scratch). Sets f.qs (scaled by 1/sqrt(D)), f.kr,
// f.vr, f.cosT/sinT and f.kv_rot; f.tq must be set.
inline void build_qkv(AttnFuncs &f, ImageParam q, ImageParam k, ImageParam v, ImageParam freqs, bool rotary,
                      Expr rotary_dim, Expr offset) {
    Var d = f.d, ii = f.ii, it = f.it, j = f.j, h = f.h, b = f.b;
    Expr D = q.dim(0).extent();
    Expr Dv = v.dim(0).extent();
    Expr H = q.dim(1).extent();
    Expr Nq = q.dim(2).extent();
    Expr Nk = k.dim(2).extent();
    Expr Hkv = k.dim(1).extent();
    Expr group = max(H / max(Hkv, 1), 1);
    Expr i = f.query_index();
    f.head_dim = D;
    f.num_keys = Nk;
    f.num_queries = Nq;

    auto rd = [](ImageParam t, Expr dd, Expr hh, Expr nn, Expr bb, Expr dmax, Expr nmax) {
        return load_storage(t(clamp(dd, 0, dmax - 1), hh, clamp(nn, 0, nmax - 1), bb));
    };

    if (rotary) {
        Func fr("freqs_clamped");
        Var r("r"), pos("pos");
        fr(r, pos) = freqs(clamp(r, 0, freqs.dim(0).extent() - 1), clamp(pos, 0, freqs.dim(1).extent() - 1));
        build_rotary_tables(f, fr);
    }
    Expr R = rotary ? rotary_dim : Expr(0);

    Expr scale = 1.0f / sqrt(cast<float>(D));
    f.qs = Func("qs");
    f.qraw = Func("qraw");
    f.qraw(d, ii, it, h, b) = rd(q, d, h, i, b, D, Nq);
    auto q_at = [&](Expr dd) { return f.qraw(dd, ii, it, h, b); };
    f.qs(d, ii, it, h, b) = (rotary ? rotate_feature(f, d, R, offset + i, D, q_at) : q_at(d)) * scale;
    f.kr = Func("kr");
    f.vr = Func("vr");
    if (rotary) {
        // Rotated per K/V head, so grouped heads share one rotation.
        Var hk("hk");
        Func krot("krot"), vrot("vrot");
        Expr Rj = select(j >= offset, R, 0);
        krot(d, j, hk, b) = rotate_feature(f, d, Rj, j, D, [&](Expr dd) { return rd(k, dd, hk, j, b, D, Nk); });
        vrot(d, j, hk, b) = rotate_feature(f, d, Rj, j, Dv, [&](Expr dd) { return rd(v, dd, hk, j, b, Dv, Nk); });
        f.kr(d, j, h, b) = krot(d, clamp(j, 0, Nk - 1), h / group, b);
        f.vr(d, j, h, b) = vrot(d, clamp(j, 0, Nk - 1), h / group, b);
        f.kv_rot = {krot, vrot};
    } else if (k.type() != Float(32) || f.lane_dim > 0) {
        // Half storage, and every lane kernel (AttnFuncs::lane_dim): K and
        // V through an fp32 copy per call, whose rows Halide knows to be
        // float4-aligned (the caller's tensors have run-time strides: scalar
        // loads, twice as slow on the H100 for the DALL-E image slots).
        Var hk("hk");
        Func kconv("kconv"), vconv("vconv");
        kconv(d, j, hk, b) = rd(k, d, hk, j, b, D, Nk);
        vconv(d, j, hk, b) = rd(v, d, hk, j, b, Dv, Nk);
        f.kr(d, j, h, b) = kconv(d, clamp(j, 0, Nk - 1), h / group, b);
        f.vr(d, j, h, b) = vconv(d, clamp(j, 0, Nk - 1), h / group, b);
        f.kv_conv = {kconv, vconv};
    } else {
        f.kr(d, j, h, b) = rd(k, d, h / group, j, b, D, Nk);
        f.vr(d, j, h, b) = rd(v, d, h / group, j, b, Dv, Nk);
    }
}

// Unit stride on the feature dim of every activation; a specialised head
// dim fixes the feature extent of q, k, v and out (so Dv == D there).
template<typename In, typename Out>
void constrain_activations(const std::vector<In *> &inputs, Out &out, int head_dim) {
    for (In *buf : inputs) {
        buf->dim(0).set_stride(1);
        if (head_dim > 0) buf->dim(0).set_bounds(0, head_dim);
    }
    out.dim(0).set_stride(1);
    out.dim(2).set_min(0);  // query tiles are aligned to 0
    if (head_dim > 0) out.dim(0).set_bounds(0, head_dim);
}

// Probability of a masked score m against the running max mx: 0 when
// masked, NaN (on the bits) when m is NaN or +inf (Halide compiles float
// code under fast-math, and its exp is a polynomial that turns NaN into a
// finite value), exp(m - mx) otherwise.
inline Expr probability(Expr m, Expr mx) {
    Expr mbits = reinterpret(UInt(32), m);
    Expr nan_or_inf = (mbits & 0x7fffffff) > 0x7f800000 || mbits == 0x7f800000;
    Expr p_finite = select(m <= kMaskedThreshold, 0.0f, exp(m - mx));
    return reinterpret(Float(32), select(nan_or_inf, Expr(0x7fc00000u), reinterpret(UInt(32), p_finite)));
}

// A value row as a query with probability p sees it: unless every value
// is finite, rows it cannot see (p == 0 exactly) are zeroed on their bits,
// so a NaN/inf there does not reach it (0 * NaN = NaN; a float select
// would be folded away under fast-math).
inline Expr visible_value(const AttnFuncs &f, Expr p, Expr v_raw) {
    Expr keep_bits = select(reinterpret(UInt(32), p) == 0, Expr(0u), Expr(0xffffffffu));
    Expr v_masked = reinterpret(Float(32), reinterpret(UInt(32), v_raw) & keep_bits);
    return f.values_finite.defined() ? select(f.values_finite, v_raw, v_masked) : v_masked;
}

// The lane formulation of one phase (see AttnFuncs::lane_dim).
inline void add_lane_phase(AttnFuncs &f, KeyPhase &ph, const PhaseSpec &spec) {
    Var d = f.d, j = f.j, h = f.h, b = f.b, c = f.c, ii = f.ii, it = f.it;
    const int D = f.lane_dim, KC = spec.kc;
    const std::string sfx = "_" + spec.name;
    if (!f.qg.defined()) {
        f.qg = Func("qg");
        f.qg(d, ii, it, h, b) = f.qs(d, ii, it, h, b);
    }
    // Four partial dot products per slot (a float4 over l): the k row is
    // read in float4 loads (one accumulator per slot read it in scalars,
    // 25-75% slower on the H100).
    Var l("l");
    ph.rd4 = RDom(0, D / 4, "rd4" + sfx);
    Expr dd = ph.rd4 * 4 + l;
    ph.sg4 = Func("sg4" + sfx);
    ph.sg4(l, j, ii, it, h, b) = 0.0f;
    ph.sg4(l, j, ii, it, h, b) += f.qg(dd, ii, it, h, b) * f.kr(dd, spec.key_pos(j, ii, it, h, b), h, b);
    ph.sg = Func("sg" + sfx);
    ph.sg(j, ii, it, h, b) = ph.sg4(0, j, ii, it, h, b) + ph.sg4(1, j, ii, it, h, b) +
                             ph.sg4(2, j, ii, it, h, b) + ph.sg4(3, j, ii, it, h, b);
    ph.msg = Func("msg" + sfx);
    ph.msg(j, ii, it, h, b) = select(spec.keep, ph.sg(j, ii, it, h, b), kMaskedScore);
    ph.rjg = RDom(0, KC, "rjg" + sfx);
    ph.cmaxg = Func("cmaxg" + sfx);
    ph.cmaxg(ii, c, it, h, b) = kMaskedScore;
    ph.cmaxg(ii, c, it, h, b) = max(ph.cmaxg(ii, c, it, h, b), ph.msg(c * KC + ph.rjg, ii, it, h, b));
    // Rows no query sees zeroed once, as the chunk is staged, rather than per
    // lane and value (chunked d40 on the H100: 2.42 -> 2.09 ms).
    if (spec.keys_in_place && !Internal::expr_uses_var(spec.keep, ii.name()) &&
        !Internal::expr_uses_var(spec.keep, it.name())) {
        ph.vg = Func("vg" + sfx);
        ph.vg(d, j, h, b) = select(spec.keep, f.vr(d, j, h, b), 0.0f);
    }
    ph.ru = RDom(0, f.lane_extent(), 0, KC, 0, spec.num_chunks, "ru" + sfx);
    // The tile's chunk filter, opaque to Halide's solver: solved for the
    // tile index it would narrow that index's bounds inside the chunk loop,
    // and the lanes' register arrays would be indexed at run time (local
    // memory).
    // (A reinterpret hides it; the simplifier folds a promise_clamped away.)
    Expr live = select(spec.chunk_live(ph.ru.z), Expr(int8_t(1)), Expr(int8_t(0)));
    ph.ru.where(reinterpret(UInt(8), live) == Expr(uint8_t(1)));
}

// Adds one phase: scores, masked scores, per-chunk max, probabilities,
// their sum and p @ v. On entry f.qs, f.kr, f.vr, f.tq and f.head_dim are
// set. A pruned chunk must be fully masked for every query of the tile, so
// the running max stays put across it.
inline void add_phase(AttnFuncs &f, const PhaseSpec &spec) {
    Var d = f.d, ii = f.ii, it = f.it, j = f.j, h = f.h, b = f.b, c = f.c;
    KeyPhase ph;
    ph.name = spec.name;
    ph.kc = spec.kc;
    ph.query_dependent = spec.query_dependent;
    ph.keys_in_place = spec.keys_in_place;
    ph.score_flags = spec.score_flags;
    const int KC = spec.kc;
    const std::string sfx = "_" + spec.name;
    auto key_pos = spec.key_pos;

    Func keys = f.kr;
    if (spec.query_dependent) {
        Var kpos("kpos");
        ph.kstage = Func("kstage" + sfx);
        ph.kstage(d, kpos, h, b) = f.kr(d, kpos, h, b);
        keys = ph.kstage;
    }
    ph.rd = RDom(0, f.head_dim, "rd" + sfx);
    ph.s = Func("s" + sfx);
    ph.s(j, ii, it, h, b) = 0.0f;
    ph.s(j, ii, it, h, b) += f.qs(ph.rd, ii, it, h, b) * keys(ph.rd, key_pos(j, ii, it, h, b), h, b);

    ph.ms = Func("ms" + sfx);
    ph.ms(j, ii, it, h, b) = select(spec.keep, ph.s(j, ii, it, h, b), kMaskedScore);

    ph.rj = RDom(0, KC, "rj" + sfx);
    Expr slot = c * KC + ph.rj;
    ph.cmax = Func("cmax" + sfx);
    ph.cmax(ii, c, it, h, b) = kMaskedScore;
    ph.cmax(ii, c, it, h, b) = max(ph.cmax(ii, c, it, h, b), ph.ms(slot, ii, it, h, b));

    // Probabilities relative to their own chunk's max (Rabe & Staats);
    // merging rescales old and new by the difference of the maxima.
    ph.p = Func("p" + sfx);
    // Non-finite scores (a NaN/inf in q or k) give p = NaN, which the sums
    // carry to the row's output; -inf scores (and masked ones) give 0, as in
    // a float64 softmax.
    ph.p(j, ii, it, h, b) = probability(ph.ms(j, ii, it, h, b), ph.cmax(ii, j / KC, it, h, b));

    ph.psum = Func("psum" + sfx);
    ph.psum(ii, c, it, h, b) = 0.0f;
    ph.psum(ii, c, it, h, b) += ph.p(slot, ii, it, h, b);

    ph.pv = Func("pv" + sfx);
    ph.pv(d, ii, c, it, h, b) = 0.0f;
    Expr p_slot = ph.p(slot, ii, it, h, b);
    ph.pv(d, ii, c, it, h, b) += p_slot * visible_value(f, p_slot, f.vr(d, key_pos(slot, ii, it, h, b), h, b));

    ph.rc = RDom(0, spec.num_chunks, "rc" + sfx);
    ph.rc.where(spec.chunk_live(Expr(ph.rc.x)));
    ph.key_pos = key_pos;
    if (f.lane_dim > 0) add_lane_phase(f, ph, spec);
    f.phases.push_back(ph);
}

// The packed state of the lane formulation (AttnFuncs::lane_dim), phase by
// phase. Each key of a chunk updates it in turn, relative to the running
// max taken with the chunk's max (so every key's p is final when it is
// added); the first key of a chunk also rescales the old sums. The update
// of entry e reads the running max at D + 1, which the last entries write
// (in e order, so every other entry sees the old max).
inline void finish_lane_state(AttnFuncs &f) {
    Var ii = f.ii, it = f.it, h = f.h, b = f.b, e = f.e;
    const int D = f.lane_dim;
    Func prev;
    for (KeyPhase &ph : f.phases) {
        Func st("stg_" + ph.name);
        if (prev.defined()) {
            st(e, ii, it, h, b) = prev(e, ii, it, h, b);
        } else {
            st(e, ii, it, h, b) = select(e == D + 1, kMaskedScore, 0.0f);
        }
        RVar re = ph.ru.x, rk = ph.ru.y, rc = ph.ru.z;
        Expr m_old = st(D + 1, ii, it, h, b);
        Expr m_new = max(m_old, ph.cmaxg(ii, rc, it, h, b));
        Expr slot = rc * ph.kc + rk;
        Expr p = probability(ph.msg(slot, ii, it, h, b), m_new);
        Expr old = st(re, ii, it, h, b);
        Expr scaled = select(rk == 0, old * exp(m_old - m_new), old);
        Expr dv = clamp(re, 0, D - 1);
        Expr v = ph.vg.defined() ? ph.vg(dv, slot, h, b)
                                 : visible_value(f, p, f.vr(dv, ph.key_pos(slot, ii, it, h, b), h, b));
        st(re, ii, it, h, b) = select(re == D + 1, m_new, re == D, scaled + p, scaled + p * v);
        ph.stg = st;
        prev = st;
    }
}

// The running state over all phases, then the normalised output.
inline void finish_online_softmax(AttnFuncs &f) {
    Var d = f.d, ii = f.ii, it = f.it, h = f.h, b = f.b;
    Func prev;
    for (KeyPhase &ph : f.phases) {
        Func st("st_" + ph.name);
        if (prev.defined()) {
            st(d, ii, it, h, b) = prev(d, ii, it, h, b);
        } else {
            st(d, ii, it, h, b) = Tuple(kMaskedScore, 0.0f, 0.0f);
        }
        // The running max is kept per feature lane (the state is vectorised
        // over d); one exp per merge gives both factors, as max(m0, m1)
        // makes one of them 1.
        Expr m_old = st(d, ii, it, h, b)[0];
        Expr m_chunk = ph.cmax(ii, ph.rc, it, h, b);
        Expr e = exp(-abs(m_old - m_chunk));
        Expr old_wins = m_old >= m_chunk;
        Expr a_old = select(old_wins, 1.0f, e), a_new = select(old_wins, e, 1.0f);
        st(d, ii, it, h, b) = Tuple(max(m_old, m_chunk),
                                    st(d, ii, it, h, b)[1] * a_old + ph.psum(ii, ph.rc, it, h, b) * a_new,
                                    st(d, ii, it, h, b)[2] * a_old + ph.pv(d, ii, ph.rc, it, h, b) * a_new);
        ph.st = st;
        prev = st;
    }
    f.st = prev;

    Var i("i");
    f.out = Func("attn_out");
    if (f.lane_dim > 0) {
        finish_lane_state(f);
        Func st = f.phases.back().stg;
        Expr l = st(f.lane_dim, i % f.tq, i / f.tq, h, b);
        f.out(d, i, h, b) = select(l == 0.0f, 0.0f, st(d, i % f.tq, i / f.tq, h, b) / l);
        return;
    }
    Expr l = f.st(d, i % f.tq, i / f.tq, h, b)[1];
    Expr acc = f.st(d, i % f.tq, i / f.tq, h, b)[2];
    // l == 0 only for rows with no visible key.
    f.out(d, i, h, b) = select(l == 0.0f, 0.0f, acc / l);
}

// Single-phase shorthand: keys 0..num_chunks*kc-1 in place (slot == key).
template<typename ChunkLive>
void build_online_softmax(AttnFuncs &f, Expr keep, Expr num_chunks, ChunkLive chunk_live,
                          std::vector<Expr> score_flags = {}) {
    PhaseSpec spec;
    spec.name = "all";
    spec.kc = f.kc;
    spec.num_chunks = num_chunks;
    spec.key_pos = [](Expr j, Expr, Expr, Expr, Expr) { return j; };
    spec.keys_in_place = true;
    spec.keep = keep;
    spec.chunk_live = chunk_live;
    spec.score_flags = std::move(score_flags);
    add_phase(f, spec);
    finish_online_softmax(f);
}

}  // namespace attngen
