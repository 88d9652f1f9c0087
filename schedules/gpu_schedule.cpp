#include "gpu_schedule.h"

#include "gpu_limits.h"

#include <map>

namespace attngen {

namespace {

// Per-call tables and K/V passes (rotary, half conversion, key-major
// staging) run as kernels of their own over (features, rows, heads).
void gpu_rows(Func r, int xsplit, int ysplit) {
    Var x = r.args()[0], y = r.args()[1];
    Var xo("xo"), xi("xi"), yo("yo"), yi("yi"), zz("zz");
    r.compute_root();
    if (r.dimensions() == 4) r.fuse(r.args()[2], r.args()[3], zz);
    r.split(x, xo, xi, xsplit, TailStrategy::GuardWithIf).split(y, yo, yi, ysplit, TailStrategy::GuardWithIf);
    if (r.dimensions() == 4) {
        r.reorder(xi, yi, xo, yo, zz).gpu_blocks(yo, zz).gpu_threads(xi, yi);
    } else {
        r.reorder(xi, yi, xo, yo).gpu_blocks(xo, yo).gpu_threads(xi, yi);
    }
}

void schedule_root_passes(AttnFuncs &f) {
    for (Func r : f.kv_rot) gpu_rows(r, 64, 8);
    for (Func r : f.kv_conv) gpu_rows(r, 64, 8);
    if (f.cosT.defined()) {
        gpu_rows(f.cosT, 32, 8);
        gpu_rows(f.sinT, 32, 8);
    }
    // The masks' small lookup tables stay inline (a few integer ops per
    // read): computed at root they would be per-call device buffers, empty
    // for some shapes, which Halide's CUDA runtime refuses to allocate.
}

void bound_to_one(Func fn, const std::vector<Var> &vars) {
    for (const Var &v : vars) fn.bound_extent(v, 1);
}

// The lane family (knob lanes=1, AttnFuncs::lane_dim): a block is one warp
// over a tile of 32 queries of one head, one query per lane. A lane keeps
// its query and its packed state (AttnFuncs::lane_extent() floats) in
// registers, striped across the warp by Halide (block-level register
// allocations over gpu_lanes), and walks every key of a chunk itself: kc
// scores (four partial dot products each, float4 loads), their max, then
// one state update per key (float4 loads of the value row). Chunks of
// in-place keys are staged in shared memory by the whole warp (float4 rows,
// coalesced); the tile's dead chunks are skipped whole. No barriers: a warp
// is the block.
void schedule_gpu_lanes(AttnFuncs &f, Func output, int head_dim) {
    constexpr int kLanes = 32;
    const int D = head_dim;
    Var od = output.args()[0], oh = output.args()[1], oi = output.args()[2], ob = output.args()[3];
    Var io("io"), il("il"), hb("hb"), odo("odo"), odi("odi");
    Var d = f.d, j = f.j, h = f.h, b = f.b, c = f.c, ii = f.ii, it = f.it, e = f.e;
    output.split(oi, io, il, kLanes, TailStrategy::GuardWithIf)
        .fuse(oh, ob, hb)
        .split(od, odo, odi, 4)
        .reorder(odi, odo, il, io, hb)
        .vectorize(odi)
        .unroll(odo)
        .gpu_blocks(io, hb)
        .gpu_lanes(il);
    schedule_root_passes(f);

    // Block-level register allocations over (.., ii): lane ii holds query ii.
    auto per_lane = [&](Func fn, Var inner, int inner_extent) {
        fn.compute_at(output, io).store_in(MemoryType::Register).bound_extent(inner, inner_extent)
            .bound_extent(ii, kLanes).unroll(inner).gpu_lanes(ii);
        bound_to_one(fn, {it, h, b});
    };
    per_lane(f.qg, d, D);
    for (KeyPhase &ph : f.phases) {
        per_lane(ph.stg, e, f.lane_extent());
        // Entries in fours (float4 value loads): the racing reads are of
        // the running max, which every entry of the last four reads before
        // it is written (finish_lane_state).
        RVar re = ph.ru.x, rk = ph.ru.y, rc = ph.ru.z, reo("reo"), rei("rei");
        Stage u = ph.stg.update();
        u.allow_race_conditions().split(re, reo, rei, 4).reorder(rei, reo, rk, ii, rc)
            .vectorize(rei).unroll(reo).unroll(rk).gpu_lanes(ii);

        // Per lane and chunk: the scores, masked scores and chunk max.
        Var l = ph.sg4.args()[0];
        ph.sg4.compute_at(ph.stg, ii).store_in(MemoryType::Register).bound_extent(l, 4).bound_extent(j, ph.kc)
            .vectorize(l).unroll(j);
        ph.sg4.update().reorder(l, j, ph.rd4.x).vectorize(l).unroll(j).unroll(ph.rd4.x);
        bound_to_one(ph.sg4, {ii, it, h, b});
        // Masked scores once per chunk (the max and the update both read
        // them), with the common case of no optional mask specialised.
        ph.msg.compute_at(ph.stg, ii).store_in(MemoryType::Register).bound_extent(j, ph.kc).unroll(j);
        bound_to_one(ph.msg, {ii, it, h, b});
        if (!ph.score_flags.empty()) {
            Expr none = Internal::const_true();
            for (const Expr &flag : ph.score_flags) none = none && !flag;
            ph.msg.specialize(none);
        }
        ph.cmaxg.compute_at(ph.stg, ii).store_in(MemoryType::Register);
        ph.cmaxg.update().unroll(ph.rjg.x);
        bound_to_one(ph.cmaxg, {ii, c, it, h, b});
        if (ph.keys_in_place) {
            for (Func fn : {f.kr.in(ph.sg4), ph.vg.defined() ? ph.vg : f.vr.in(ph.stg)}) {
                Var fd = fn.args()[0], fj = fn.args()[1], fdo("fdo"), fdi("fdi"), ft("ft"), fto("fto"), fti("fti");
                fn.compute_at(ph.stg, rc).bound_extent(fd, D).bound_extent(fj, ph.kc)
                    .split(fd, fdo, fdi, 4).vectorize(fdi).fuse(fdo, fj, ft)
                    .split(ft, fto, fti, kLanes, TailStrategy::GuardWithIf).gpu_lanes(fti).unroll(fto);
                bound_to_one(fn, {fn.args()[2], fn.args()[3]});
            }
        }
        // No values_finite specialisation: calls on device tensors never
        // have it (the runtime does not scan device memory), and the second
        // copy of the update cost registers (chunked d40: 204 -> 168).
    }
}

}  // namespace

std::string check_gpu_knobs(const Knobs &k, int head_dim, int phases) {
    if (k.tq < 1 || k.kc < 1 || k.rq < 1 || k.rk < 1 || k.vec < 1) return "tile sizes must be positive";
    if (k.lanes) {
        // schedule_gpu_lanes: one warp of 32 queries per block, kc (kci)
        // scores and a packed state of head_dim + 2 floats per lane in
        // registers (the tuned points keep within 255 without spills).
        if (head_dim <= 0 || head_dim % 4 != 0 || head_dim > 64) {
            return "lanes=1 needs a fixed head dim, a multiple of 4 up to 64";
        }
        if (k.tq != 32 || k.rq != 1) return "lanes=1 needs tq=32 (one warp) and rq=1";
        if (std::max(k.kc, k.kci) > 32) return "lanes=1 needs kc (and kci) <= 32 (scores in registers)";
        // (vec and rk have no meaning there: one canonical value, so the
        // tuner's space holds each lane point once.)
        if (k.vec != 4 || k.rk != 4) return "lanes=1 takes vec=4 rk=4";
        return "";
    }
    if (k.tq % k.rq != 0) return "tq must be a multiple of rq";
    if (k.kc % k.rk != 0) return "kc must be a multiple of rk";
    if (k.vec != 1 && k.vec != 2 && k.vec != 4) return "vec must be 1, 2 or 4 (float, float2, float4 loads)";
    // Generic kernels must at least serve D = 64 (larger head dims are
    // checked per call by the runtime, gpu_limits.h).
    const int D = head_dim > 0 ? head_dim : 64;
    if (head_dim > 0 && head_dim % k.vec != 0) return "head_dim must be a multiple of vec";
    const int kc_max = std::max(k.kc, k.kci);
    if (k.kci > 0 && k.kci % k.rk != 0) return "kci must be a multiple of rk";
    const int64_t threads = gpu::threads(k.tq, k.rq, kc_max, k.rk, D, k.vec);
    if (threads > gpu::kMaxThreads) return "more than 1024 threads per block";
    if (threads < 32) return "fewer than 32 threads per block";
    if (k.rq * k.rk > 64 || k.rq * k.vec > 64) return "register tile larger than 64 accumulators";
    if (gpu::shared_floats(k.tq, kc_max, D, phases) * 4 > gpu::kSharedBytes) {
        return "more than 48 KiB of shared memory per block";
    }
    return "";
}

void schedule_gpu(AttnFuncs &f, Func output, const Target &target, const Knobs &k, int head_dim) {
    (void)target;
    if (k.lanes) {
        schedule_gpu_lanes(f, output, head_dim);
        return;
    }
    Var d = f.d, ii = f.ii, j = f.j;
    Var od = output.args()[0], oh = output.args()[1], oi = output.args()[2], ob = output.args()[3];
    Var io("io"), il("il"), hb("hb");
    Var dt("dt"), dr("dr"), iy("iy"), ir("ir"), jt("jt"), jr("jr");
    const bool fixed_d = head_dim > 0;
    const int D = fixed_d ? head_dim : gpu::kBudgetHeadDim;  // for the shared-memory budget
    const int phases = (int)f.phases.size();
    const int kc_max = std::max(k.kc, k.kci);
    const int row_threads = std::max(1, std::min(k.tq, 16));
    // The block: x = the widest of keys per chunk / rk and features / vec,
    // y = query rows / rq (gpu_limits.h, threads()).
    const int block_y = std::max(1, k.tq / k.rq);
    const int block_x = std::max({kc_max / k.rk, (D + k.vec - 1) / k.vec, row_threads});
    const TailStrategy dtail = fixed_d ? TailStrategy::Auto : TailStrategy::GuardWithIf;

    // Features: thread dt holds features dt*vec .. dt*vec+vec-1 (one vector
    // load of a value row); queries: thread iy holds rows iy*rq .. +rq-1.
    auto thread_tile_d = [&](auto st, Var dv, Var iv) {
        st.split(dv, dt, dr, k.vec, dtail).split(iv, iy, ir, k.rq).reorder(dr, ir, dt, iy).gpu_threads(dt, iy);
        if (fixed_d) st.vectorize(dr);
        st.unroll(ir);
    };

    // One block per (query tile, head, batch); the output tile is written
    // from the final state by the same thread layout.
    output.split(oi, io, il, k.tq, TailStrategy::GuardWithIf)
        .fuse(oh, ob, hb)
        .reorder(od, il, io, hb)
        .gpu_blocks(io, hb);
    thread_tile_d(output, od, il);
    LoopLevel block(output, io);

    // Queries are read (rotated, scaled) inside Q@K^T from global memory
    // (L1-cached). Not staged in shared memory: Halide 14 pools shared
    // allocations by liveness and gives a block-level Func consumed inside
    // the chunk loop the same space as the per-chunk scratch (wrong results).

    schedule_root_passes(f);

    // Constant extents for everything a block allocates: per (query tile,
    // head, batch) one tile, head and batch, whatever the bounds Halide
    // infers through the chunk filter (they can span more, and then the
    // shared-memory size of a launch grows past the limit).
    auto fix_extents = [&](Func fn, std::map<std::string, int> extents) {
        for (const Var &a : fn.args()) {
            auto it = extents.find(a.name());
            const int e = it != extents.end() ? it->second : 1;
            if (e > 0) fn.bound_extent(a, e);
        }
    };
    for (KeyPhase &ph : f.phases) {
        if (ph.query_dependent) {
            gpu_rows(ph.kstage, 64, 8);
        }
        // The running state of the tile lives in shared memory; its update
        // walks the chunks serially, every step in parallel over the tile.
        ph.st.compute_at(block);
        fix_extents(ph.st, {{d.name(), fixed_d ? head_dim : 0}, {ii.name(), k.tq}});
        thread_tile_d(ph.st, d, ii);
        auto stu = ph.st.update();
        stu.split(d, dt, dr, k.vec, dtail).split(ii, iy, ir, k.rq).reorder(dr, ir, dt, iy, ph.rc.x).gpu_threads(dt, iy);
        if (fixed_d) stu.vectorize(dr);
        stu.unroll(ir);
        LoopLevel chunk(ph.st, ph.rc.x);

        // Scores of one chunk: thread (jt, iy) computes an rk x rq register
        // tile, accumulating over the head dim.
        fix_extents(ph.ms, {{j.name(), ph.kc}, {ii.name(), k.tq}});
        fix_extents(ph.p, {{j.name(), ph.kc}, {ii.name(), k.tq}});
        fix_extents(ph.cmax, {{ii.name(), k.tq}});
        fix_extents(ph.psum, {{ii.name(), k.tq}});
        // Scores and probabilities of a chunk: thread (jt, iy) owns rk keys
        // of rq rows.
        auto score_tile = [&](Func fn) {
            fn.compute_at(chunk)
                .split(j, jt, jr, k.rk)
                .split(ii, iy, ir, k.rq)
                .reorder(jr, ir, jt, iy)
                .gpu_threads(jt, iy)
                .unroll(jr)
                .unroll(ir);
        };
        score_tile(ph.ms);
        ph.s.compute_at(ph.ms, jt).store_in(MemoryType::Register).bound_extent(j, k.rk).bound_extent(ii, k.rq)
            .unroll(j).unroll(ii);
        // The chunk's keys, staged in shared memory when they fit: loaded
        // with consecutive threads on consecutive features (coalesced),
        // stored key-major with a padded feature stride (kc + 1), so both
        // the stores and Q@K^T's loads (consecutive threads, keys rk apart)
        // are free of bank conflicts.
        if (&ph == &f.phases.front() && ph.keys_in_place && gpu::stages_keys(k.tq, ph.kc, kc_max, D, phases)) {
            Func keys = f.kr.in(ph.s);
            Var kd = keys.args()[0], kj = keys.args()[1], kdo("kdo"), kdi("kdi"), kjo("kjo"), kji("kji");
            fix_extents(keys, {{kd.name(), fixed_d ? head_dim : 0}, {kj.name(), ph.kc}});
            keys.compute_at(chunk)
                .reorder_storage(kj, kd)
                .align_storage(kj, k.kc + 1)
                .split(kd, kdo, kdi, 16, TailStrategy::GuardWithIf)
                .split(kj, kjo, kji, block_y, TailStrategy::GuardWithIf)
                .reorder(kdi, kji, kdo, kjo)
                .gpu_threads(kdi, kji);
        }
        ph.s.update().reorder(j, ii, ph.rd.x).unroll(j).unroll(ii);

        // Chunk max and sum. A row's kc values are first reduced in P
        // partial results per row (rfactor: P x tq threads, kc / P steps
        // each), then the P partials by one thread per row, instead of one
        // thread per row walking all kc values while the others wait.
        auto rows = [&](auto st) {
            Var iyo("iyo"), iyi("iyi");
            st.split(ii, iyo, iyi, row_threads, TailStrategy::GuardWithIf).gpu_threads(iyi, iyo);
        };
        // Partials: as many as the block's x threads (keys or features per
        // thread), rows over its y threads, so no stage widens the block.
        int parts = 1;
        while (parts * 2 <= block_x && ph.kc % (parts * 2) == 0 && ph.kc / (parts * 2) >= 2) parts *= 2;
        auto chunk_reduce = [&](Func r) {
            r.compute_at(chunk);
            rows(r);
            if (parts > 1) {
                RVar rjo("rjo_" + r.name()), rji("rji_" + r.name());
                Var u("u");
                Func part = r.update().split(ph.rj.x, rjo, rji, ph.kc / parts).rfactor(rjo, u);
                fix_extents(part, {{u.name(), parts}, {ii.name(), k.tq}});
                Var po("po"), pi("pi");
                part.compute_at(chunk).split(ii, po, pi, block_y, TailStrategy::GuardWithIf).gpu_threads(u, pi);
                part.update().reorder(rji, u, ii).split(ii, po, pi, block_y, TailStrategy::GuardWithIf)
                    .gpu_threads(u, pi);
                rows(r.update());
            } else {
                rows(r.update().reorder(ph.rj.x, ii));
            }
        };
        chunk_reduce(ph.cmax);
        score_tile(ph.p);
        chunk_reduce(ph.psum);

        // P@V into registers of the thread that owns the state tile.
        ph.pv.compute_at(ph.st, dt).store_in(MemoryType::Register).bound_extent(d, k.vec).bound_extent(ii, k.rq)
            .unroll(ii);
        if (fixed_d) ph.pv.vectorize(d);
        auto pvu = ph.pv.update();
        pvu.reorder(d, ii, ph.rj.x).unroll(ii);
        if (fixed_d) pvu.vectorize(d);
        if (f.values_finite.defined()) pvu.specialize(f.values_finite);
    }
}

}  // namespace attngen
