#!/usr/bin/env python3
"""The issue-7 bars from one run: attngen_bench_cuda's JSON (median of the
repetitions) against torch_compare.py's JSON (median of its iterations).

  ratios.py bench_cuda.json torch.json"""
import json
import sys


def main():
    bench = json.load(open(sys.argv[1]))
    torch = json.load(open(sys.argv[2]))
    ms = {}
    for b in bench.get("benchmarks", []):
        if b.get("aggregate_name", "median") != "median" or b.get("error_occurred"):
            continue
        name = b.get("run_name", b["name"]).split("/min_time")[0].split("/manual_time")[0]
        unit = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b.get("time_unit", "ms")]
        ms[name] = b["real_time"] * unit
    for r in torch["results"]:
        ms[r["name"]] = r["ms"]
    print(f"device: {torch.get('device')}  torch {torch.get('torch')}")
    for k in sorted(ms):
        print(f"  {k:<45} {ms[k]:9.3f} ms")

    def bar(what, value, limit, ok):
        print(f"  {what:<70} {value:7.3f}  (bar {limit}) {'met' if ok else 'NOT met'}")

    def get(n):
        return ms.get(n)

    print("bars (one run, one GPU):")
    a, s = get("dense_causal/dalle/attngen_cuda"), get("dense_causal/dalle/sdpa_efficient_fp32")
    if a and s:
        bar("dense_causal/dalle attngen_cuda / SDPA efficient fp32", a / s, "<= 1.25", a / s <= 1.25)
    for v in ("sparse_conv_k5", "sparse_axial_row", "sparse_axial_col"):
        a, f = get(f"{v}/dalle/attngen_cuda"), get(f"{v}/dalle/flex_fp32")
        if a and f:
            bar(f"{v}/dalle FlexAttention fp32 / attngen_cuda (speed-up)", f / a, ">= 2", f / a >= 2)
        if a and s:
            bar(f"{v}/dalle attngen_cuda / SDPA dense causal fp32", a / s, "< 1", a / s < 1)
    a, s2 = get("chunked/sd_self/attngen_cuda"), get("chunked/sd_self/sdpa_efficient_fp32")
    if a and s2:
        bar("chunked/sd_self attngen_cuda / SDPA efficient fp32", a / s2, "<= 1", a / s2 <= 1)


if __name__ == "__main__":
    main()
