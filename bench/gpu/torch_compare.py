#!/usr/bin/env python3
"""PyTorch baselines for the GPU benchmarks, timed on the same GPU and in
the same run as attngen_bench's attngen_cuda impls (bench/gpu/run.sh).

  SDPA, efficient (memory-efficient) backend, fp32: dense causal on the
  dalle workload at B8 H8 (the GPU shape), non-causal on sd_self.
  FlexAttention, fp32, compiled, with block masks for the causal, DALL-E
  convolutional (k5) and axial (row, column) patterns of SPEC.md.

Prints one line per case and writes them as JSON (--json FILE)."""
import argparse
import json
import statistics
import sys

import torch
import torch.nn.functional as F


def time_ms(fn, iters, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times), min(times)


def dalle_mask_mods(text_len, image_size, kernel_size=5):
    T, S = text_len, image_size

    def causal(b, h, q, k):
        return k <= q

    def split(q, k):
        qt, kt = q < T, k < T
        qr, qc = (q - T) // S, (q - T) % S
        kr, kc = (k - T) // S, (k - T) % S
        text_part = torch.where(qt, kt & (k <= q), kt)  # image queries see every text key
        return qt, kt, qr, qc, kr, kc, text_part

    def conv(b, h, q, k):
        qt, kt, qr, qc, kr, kc, text_part = split(q, k)
        dr, dc = qr - kr, qc - kc
        img = (~qt) & (~kt) & (dr >= 0) & (dr < kernel_size) & (dc >= 0) & (dc < kernel_size)
        return text_part | img

    def axial_row(b, h, q, k):
        qt, kt, qr, qc, kr, kc, text_part = split(q, k)
        return text_part | ((~qt) & (~kt) & (kr == qr) & (kc <= qc))

    def axial_col(b, h, q, k):
        qt, kt, qr, qc, kr, kc, text_part = split(q, k)
        return text_part | ((~qt) & (~kt) & (kc == qc) & (kr <= qr))

    return {"dense_causal": causal, "sparse_conv_k5": conv, "sparse_axial_row": axial_row,
            "sparse_axial_col": axial_col}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default="")
    ap.add_argument("--iters", type=int, default=50)
    args = ap.parse_args()
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    results = []

    def report(name, workload, impl, shape, ms_med, ms_min, gflop):
        r = {"name": f"{name}/{workload}/{impl}", "shape": shape, "ms": ms_med, "ms_min": ms_min,
             "gflops": gflop / (ms_med * 1e-3) / 1e9}
        results.append(r)
        print(f"{r['name']:<45} {shape:<22} median {ms_med:8.3f} ms  min {ms_min:8.3f} ms  {r['gflops']:8.1f} GFLOP/s",
              flush=True)

    from torch.nn.attention import SDPBackend, sdpa_kernel
    g = torch.Generator(device=dev).manual_seed(0)

    def qkv(B, H, N, D):
        return [torch.randn(B, H, N, D, device=dev, dtype=torch.float32, generator=g) for _ in range(3)]

    # dalle at the GPU shape: B8 H8 N1280 D64.
    B, H, N, D = 8, 8, 1280, 64
    q, k, v = qkv(B, H, N, D)
    with sdpa_kernel(SDPBackend.EFFICIENT_ATTENTION):
        ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), args.iters)
    report("dense_causal", "dalle", "sdpa_efficient_fp32", f"B{B} H{H} N{N} D{D}", *ms, 2.0 * B * H * N * N * D)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), args.iters)
        report("dense_causal", "dalle", "sdpa_math_fp32", f"B{B} H{H} N{N} D{D}", *ms, 2.0 * B * H * N * N * D)
    except Exception as e:  # noqa: BLE001
        print("sdpa math:", e, file=sys.stderr)

    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        flex = torch.compile(flex_attention, dynamic=False)
        mods = dalle_mask_mods(N + 1 - 32 * 32, 32)
        for name, mod in mods.items():
            bm = create_block_mask(mod, None, None, N, N, device="cuda")
            # Visible (query, key) pairs: the FLOP count of the pattern.
            qi = torch.arange(N, device=dev)[:, None]
            kj = torch.arange(N, device=dev)[None, :]
            pairs = int(mod(0, 0, qi, kj).sum().item())
            ms = time_ms(lambda: flex(q, k, v, block_mask=bm), args.iters)
            report(name, "dalle", "flex_fp32", f"B{B} H{H} N{N} D{D}", *ms, 4.0 * B * H * pairs * D)
    except Exception as e:  # noqa: BLE001
        print("flex_attention unavailable:", repr(e), file=sys.stderr)

    # sd_self: B2 H8 N4096 D40, no mask.
    B, H, N, D = 2, 8, 4096, 40
    q, k, v = qkv(B, H, N, D)
    with sdpa_kernel(SDPBackend.EFFICIENT_ATTENTION):
        ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v), args.iters)
    report("chunked", "sd_self", "sdpa_efficient_fp32", f"B{B} H{H} N{N} D{D}", *ms, 4.0 * B * H * N * N * D)

    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "results": results}, f,
                      indent=1)


if __name__ == "__main__":
    main()
