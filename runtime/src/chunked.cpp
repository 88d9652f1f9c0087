// C API: chunked memory-efficient attention (SPEC.md section 5).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "internal.h"

namespace {

using namespace attngen::detail;
using attngen::KernelEntry;

constexpr int64_t kDefaultQueryChunk = 1024;

attngen_status chunked_impl(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                            attngen_tensor *out, const attngen_chunked_options *opts) {
    attngen_chunked_options o;
    attngen_chunked_options_init(&o);
    if (opts) o = *opts;
    View vq, vk, vv, vo;
    attngen_status s;
    if ((s = check_qkv(q, k, v, out, true, &vq, &vk, &vv, &vo))) return s;
    const attngen_device device = call_device(vq);
    if (o.query_chunk_size < 0) {
        return set_error(ATTNGEN_ERR_OPTION, "query_chunk_size: %lld is negative", (long long)o.query_chunk_size);
    }
    if (o.kv_chunk_size < 0 || o.kv_chunk_size_min < 0) {
        return set_error(ATTNGEN_ERR_OPTION, "%s: %lld is negative",
                         o.kv_chunk_size < 0 ? "kv_chunk_size" : "kv_chunk_size_min",
                         (long long)(o.kv_chunk_size < 0 ? o.kv_chunk_size : o.kv_chunk_size_min));
    }
    if ((s = check_no_alias(vo, {&vq, &vk, &vv}))) return s;
    const int64_t Nq = vq.shape[1], D = vq.shape[3], Dv = vv.shape[3];

    // The tuned kernel for (D, Dv), or the one whose kv chunk is nearest to
    // the pinned size.
    const int spec_dim = D == Dv ? static_cast<int>(D) : -1;
    const KernelEntry *e = nullptr;
    const int64_t want = std::max(o.kv_chunk_size, o.kv_chunk_size_min);
    for (const KernelEntry *c : attngen::kernels_for("chunked", vq.dtype, spec_dim, device)) {
        if (c->head_dim != 0 && c->head_dim != spec_dim) continue;
        if (!e) {
            e = c;
            if (want == 0) break;
            continue;
        }
        if (c->head_dim != e->head_dim) break;  // exact head dims first
        if (std::llabs(c->knob("kc", 0) - want) < std::llabs(e->knob("kc", 0) - want)) e = c;
    }
    if (!e) {
        return set_error(ATTNGEN_ERR_UNSUPPORTED, "no chunked %s %skernel was built for head dim %lld",
                         dtype_str(vq.dtype), kernel_kind(device), (long long)D);
    }
    if ((s = check_device_limits(e, D, Dv))) return s;

    // Query chunks: one kernel call each, on views of q and out. A CUDA
    // call's scratch does not grow with its queries (the kernels keep each
    // query's state in registers or a block's shared memory), so by default
    // all queries go in one launch there: chunks of 1024 left most of an
    // H100 idle (2.5x slower on sd_self).
    const int64_t qc = o.query_chunk_size > 0             ? o.query_chunk_size
                       : device == ATTNGEN_DEVICE_CUDA ? std::max<int64_t>(Nq, 1)
                                                        : kDefaultQueryChunk;
    const bool finite = values_finite(vv, Nq);
    CallContext ctx;
    for (int64_t q0 = 0; q0 < Nq; q0 += qc) {
        View cq = vq, co = vo;
        const int64_t len = std::min(qc, Nq - q0);
        const int64_t elem = static_cast<int64_t>(dtype_bytes(vq.dtype));
        cq.data = static_cast<char *>(vq.data) + q0 * vq.strides[1] * elem;
        co.data = static_cast<char *>(vo.data) + q0 * vo.strides[1] * elem;
        cq.shape[1] = co.shape[1] = len;
        HBuf bq, bk, bv, bo;
        bq.init(cq);
        bk.init(vk);
        bv.init(vv);
        bo.init(co);
        DeviceScope dev(device, &ctx, e);
        if ((s = dev.bind({&bq, &bk, &bv}, &bo))) return s;
        int rc = reinterpret_cast<attngen::ChunkedFn>(e->fn)(&ctx, &bq.buf, &bk.buf, &bv.buf, finite, &bo.buf);
        if ((s = finish_kernel(e, rc, &ctx))) return s;
        if ((s = dev.finish())) return s;
    }
    publish_stats(ctx);
    return ATTNGEN_OK;
}

}  // namespace

extern "C" {

void attngen_chunked_options_init(attngen_chunked_options *opts) {
    if (opts) std::memset(opts, 0, sizeof *opts);
}

attngen_status attngen_chunked(const attngen_tensor *q, const attngen_tensor *k, const attngen_tensor *v,
                               attngen_tensor *out, const attngen_chunked_options *opts) {
    return guarded([&] { return chunked_impl(q, k, v, out, opts); });
}

}  // extern "C"
