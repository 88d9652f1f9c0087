// Algorithm pieces shared by every attention generator: rotary tables, the
// rotation itself, and the fused "masked scores -> online softmax -> values"
// core. Generators build the masked score predicate for their variant and
// hand it to build_online_softmax(); schedules (schedules/) then operate on
// the returned AttnFuncs. Nothing here schedules anything.
#pragma once

#include "Halide.h"

namespace attngen {

using namespace Halide;

// Masked scores are set to this value; p = 0 for anything at or below
// kMaskedThreshold, so fully masked rows give l = 0 and a zero output.
// Finite inputs cannot produce scores that low (|q.k|/sqrt(D) would need
// features around 1e15).
constexpr float kMaskedScore = -1e30f;
constexpr float kMaskedThreshold = -1e29f;

// All funcs and loop variables a schedule family needs. Queries are tiled in
// the algorithm itself: query i = it * tq + ii. Pruning decisions (which key
// chunks a tile visits) depend on the tile `it` only, so every per-chunk
// scratch spans exactly tq rows. Schedules pick loop and storage order.
struct AttnFuncs {
    Var d{"d"}, ii{"ii"}, it{"it"}, j{"j"}, h{"h"}, b{"b"}, c{"c"};
    RDom rd;  // over the head dim (scores)
    RDom rj;  // over the keys of one chunk
    RDom rc;  // over chunks, predicated by the variant's chunk filter
    Func cosT, sinT;  // rotary tables (r, pos), may be unused
    Func qs;    // (d, ii, it, h, b) rotated and scaled queries
    Func kr;    // (d, j, h, b) keys as seen by query head h (rotated)
    Func vr;    // (d, j, h, b) values as seen by query head h (rotated)
    Func s;     // (j, ii, it, h, b) raw scores, pure 0 + update over rd
    Func ms;    // (j, ii, it, h, b) masked scores
    Func cmax;  // (ii, c, it, h, b) max of one chunk's masked scores
    Func p;     // (j, ii, it, h, b) exp(ms - cmax(chunk of j)), 0 where masked
    Func psum;  // (ii, c, it, h, b) sum of p over one chunk
    Func pv;    // (d, ii, c, it, h, b) p @ v over one chunk
    Func st;    // (d, ii, it, h, b) Tuple(m, l, acc): running max, sum, numerator
    Func out;   // (d, i, h, b), i = it * tq + ii
    std::vector<Func> kv_rot;  // root-level rotated K/V, when rotary is fused
    // Runtime flags worth a specialised score loop (e.g. "a mask is used"),
    // cheapest first: schedules specialise ms on them, so unused masks cost
    // nothing.
    std::vector<Expr> score_flags;
    int tq = 32;  // query tile
    int kc = 64;  // key chunk
    Expr head_dim, num_keys, num_queries;

    Expr query_index() const { return it * tq + ii; }
};

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

// The fused core. On entry f.qs, f.kr, f.vr, f.tq, f.kc, f.num_keys,
// f.num_queries and f.head_dim are set. keep (in f.j, f.ii, f.it, f.h, f.b)
// is the element mask. chunk_live(c) is a necessary condition, in terms of
// the chunk index and the tile f.it (never f.ii), for chunk c to hold any
// kept key of any query of the tile: it becomes the chunk loop's bounds, so
// pruned chunks are never computed. A pruned chunk must be fully masked for
// every query of the tile, so the running max stays put across it.
template<typename ChunkLive>
void build_online_softmax(AttnFuncs &f, Expr keep, Expr num_chunks, ChunkLive chunk_live) {
    Var d = f.d, ii = f.ii, it = f.it, j = f.j, h = f.h, b = f.b, c = f.c;
    const int KC = f.kc;

    f.rd = RDom(0, f.head_dim, "rd");
    f.s = Func("s");
    f.s(j, ii, it, h, b) = 0.0f;
    f.s(j, ii, it, h, b) += f.qs(f.rd, ii, it, h, b) * f.kr(f.rd, j, h, b);

    f.ms = Func("ms");
    f.ms(j, ii, it, h, b) = select(keep, f.s(j, ii, it, h, b), kMaskedScore);

    f.rj = RDom(0, KC, "rj");
    f.cmax = Func("cmax");
    f.cmax(ii, c, it, h, b) = kMaskedScore;
    f.cmax(ii, c, it, h, b) = max(f.cmax(ii, c, it, h, b), f.ms(c * KC + f.rj, ii, it, h, b));

    // Probabilities relative to their own chunk's max (Rabe & Staats);
    // merging rescales old and new by the difference of the maxima.
    f.p = Func("p");
    Expr m = f.ms(j, ii, it, h, b);
    // Note: NaN inputs are not guaranteed to propagate (issue 8): Halide
    // compiles float compares under fast-math and its exp is polynomial, and
    // an explicit is_nan select here did not bring the NaN through.
    f.p(j, ii, it, h, b) = select(m <= kMaskedThreshold, 0.0f, exp(m - f.cmax(ii, j / KC, it, h, b)));

    f.psum = Func("psum");
    f.psum(ii, c, it, h, b) = 0.0f;
    f.psum(ii, c, it, h, b) += f.p(c * KC + f.rj, ii, it, h, b);

    f.pv = Func("pv");
    f.pv(d, ii, c, it, h, b) = 0.0f;
    f.pv(d, ii, c, it, h, b) += f.p(c * KC + f.rj, ii, it, h, b) * f.vr(d, c * KC + f.rj, h, b);

    f.rc = RDom(0, num_chunks, "rc");
    f.rc.where(chunk_live(Expr(f.rc.x)));
    f.st = Func("st");
    f.st(d, ii, it, h, b) = Tuple(kMaskedScore, 0.0f, 0.0f);
    // The running max is kept per feature lane (the state is vectorised
    // over d); one exp per merge gives both factors, as max(m0, m1) makes
    // one of them 1.
    Expr m_old = f.st(d, ii, it, h, b)[0];
    Expr m_chunk = f.cmax(ii, f.rc, it, h, b);
    Expr e = exp(-abs(m_old - m_chunk));
    Expr old_wins = m_old >= m_chunk;
    Expr a_old = select(old_wins, 1.0f, e), a_new = select(old_wins, e, 1.0f);
    f.st(d, ii, it, h, b) = Tuple(max(m_old, m_chunk),
                                  f.st(d, ii, it, h, b)[1] * a_old + f.psum(ii, f.rc, it, h, b) * a_new,
                                  f.st(d, ii, it, h, b)[2] * a_old + f.pv(d, ii, f.rc, it, h, b) * a_new);

    Var i("i");
    f.out = Func("attn_out");
    Expr l = f.st(d, i % f.tq, i / f.tq, h, b)[1];
    Expr acc = f.st(d, i % f.tq, i / f.tq, h, b)[2];
    // l == 0 only for rows with no visible key.
    f.out(d, i, h, b) = select(l == 0.0f, 0.0f, acc / l);
}

}  // namespace attngen
