#!/usr/bin/env python3
"""Writes the checked-in seed corpora of the fuzzers (fuzz/corpus/<target>/).
Python 3 standard library only; rerun after changing the formats:
    python3 fuzz/make_corpus.py
Seeds are small on purpose (libFuzzer's default max_len follows them)."""
import json
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def lcg_bytes(n, seed):
    x = seed & 0xFFFFFFFF
    out = bytearray()
    for _ in range(n):
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        out.append((x >> 16) & 0xFF)
    return bytes(out)


def npy(descr, shape, data, fortran=False, version=1):
    sh = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    d = ("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, sh)).encode()
    pre = 10 if version == 1 else 12
    d += b" " * ((64 - (pre + len(d) + 1) % 64) % 64) + b"\n"
    ln = struct.pack("<H", len(d)) if version == 1 else struct.pack("<I", len(d))
    return b"\x93NUMPY" + bytes([version, 0]) + ln + d + data


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    # ---- fuzz_npy: one of every dtype and header version, and broken ones ----
    f4 = struct.pack("<8f", *[0.5 * i - 1 for i in range(8)])
    write("fuzz_npy", "f32_4d.npy", npy("<f4", (1, 2, 2, 2), f4))
    write("fuzz_npy", "f32_1d.npy", npy("<f4", (8,), f4))
    write("fuzz_npy", "f64.npy", npy("<f8", (2, 2), struct.pack("<4d", 1, -2, 3.5, 1e300)))
    write("fuzz_npy", "f16.npy", npy("<f2", (4,), struct.pack("<4H", 0x3C00, 0x7C00, 0x7E00, 0x0001)))
    write("fuzz_npy", "u8_mask.npy", npy("|u1", (2, 3), bytes([1, 0, 1, 1, 1, 0])))
    write("fuzz_npy", "bool.npy", npy("|b1", (3,), bytes([1, 0, 1])))
    write("fuzz_npy", "i4.npy", npy("<i4", (2,), struct.pack("<2i", 7, -1)))
    write("fuzz_npy", "i8.npy", npy("<i8", (1, 1), struct.pack("<q", 1 << 40)))
    write("fuzz_npy", "scalar.npy", npy("<f4", (), struct.pack("<f", 3.0)))
    write("fuzz_npy", "empty.npy", npy("<f4", (0, 4), b""))
    write("fuzz_npy", "v2.npy", npy("<f4", (2,), struct.pack("<2f", 1, 2), version=2))
    write("fuzz_npy", "v3.npy", npy("|u1", (2,), b"\x01\x00", version=3))
    write("fuzz_npy", "big_endian.npy", npy(">f4", (2,), struct.pack(">2f", 1, 2)))
    write("fuzz_npy", "fortran.npy", npy("<f4", (2, 2), f4[:16], fortran=True))
    write("fuzz_npy", "huge_shape.npy", npy("<f4", (1 << 40, 16), f4))
    write("fuzz_npy", "truncated.npy", npy("<f4", (8,), f4)[:-5])
    write("fuzz_npy", "bad_magic.npy", b"\x93NUMPZ\x01\x00" + npy("<f4", (8,), f4)[8:])
    # ---- fuzz_manifest: one-case manifests over tests/data (golden/, hostile/) ----
    for sub in ("golden", "hostile"):
        path = os.path.join(ROOT, "tests", "data", sub, "manifest.json")
        with open(path) as f:
            m = json.load(f)
        picked = 0
        for c in m["cases"]:
            if not isinstance(c, dict) or not isinstance(c.get("name"), str):
                continue
            if sub == "golden":
                # Small cases only (each fuzz input may run the library).
                q = os.path.join(ROOT, "tests", "data", sub, c["name"], c.get("files", {}).get("q") or "q.npy")
                if not os.path.exists(q) or os.path.getsize(q) > 40000:
                    continue
            elif picked >= 12:
                break
            c = dict(c)
            c["name"] = sub + "/" + c["name"]
            c.pop("description", None)
            write("fuzz_manifest", "%s_%s.json" % (sub, os.path.basename(c["name"]).replace("/", "_")[:40]),
                  json.dumps({"format": 1, "cases": [c]}, separators=(",", ":")))
            picked += 1
    write("fuzz_manifest", "empty_cases.json", '{"format":1,"cases":[]}')
    write("fuzz_manifest", "bad_format.json", '{"format":2,"cases":[]}')
    write("fuzz_manifest", "traversal.json",
          '{"format":1,"cases":[{"name":"golden/../hostile/x","variant":"dense","files":{"q":"/etc/passwd"}}]}')
    # ---- fuzz_tuning_db: JSON a tuning database may hold, and edge cases ----
    db = {"format": 1, "records": [
        {"key": "attngen_dense_f32_d64_prefill", "target": "x86-64-linux-avx512_skylake",
         "knobs": {"tq": 32, "kc": 128, "vec": 16, "rq": 4, "rk": 8, "qvec": 1, "threads_split": 1},
         "shape": [1, 1280, 8, 64], "ms": 23.1, "gflops": 72.0, "source": "tuner 2026-11-01"},
        {"key": "attngen_chunked_f32_dany_prefill", "target": "x86-64-linux-avx2", "knobs": {"kc": 256},
         "ms": 1e-3, "valid": True, "note": None}]}
    write("fuzz_tuning_db", "db.json", json.dumps(db))
    write("fuzz_tuning_db", "db_compact.json", json.dumps(db, separators=(",", ":")))
    write("fuzz_tuning_db", "unicode.json", '{"s":"\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\/","raw":"\u00e9"}')
    write("fuzz_tuning_db", "numbers.json", "[0,-0,1.5e300,-2E-300,123456789012345678901234567890,0.1,1e999]")
    write("fuzz_tuning_db", "nested.json", "[" * 60 + "]" * 60)
    write("fuzz_tuning_db", "literals.json", '{"a":true,"b":false,"c":null,"d":[],"e":{}}')
    write("fuzz_tuning_db", "bom.json", b"\xef\xbb\xbf{\"x\":1}")
    write("fuzz_tuning_db", "bad.json", '{"a":1,}')
    # The database files themselves (tuning/tuning.h): a log and a best table.
    write("fuzz_tuning_db", "log.jsonl", '{"id":"20261122T134212Z-12655-1","session":"20261122T134212Z-12655","time":"2026-11-22T13:42:19Z","kernel":"attngen_dense_f32_d64_prefill","key":{"variant":"dense","dtype":"f32","target":"x86-64-avx512","head_dim":64,"bucket":"prefill","rotary":false,"halide":"14.0.0"},"workload":"dalle: B1 H8 Hkv8 Nq1280 Nk1280 D64 offset0 causal","role":"default","params":"tq=32 kc=128 vec=16 rq=4 rk=8 qvec=1 threads_split=1","status":"ok","error":"","runner":"local","median_s":0.024795095,"min_s":0.024790669,"repeats":3,"max_err":0,"flops":1679030000,"seed":1,"rung":0}\n{"id":"20261122T134212Z-12655-2","session":"20261122T134212Z-12655","time":"2026-11-22T13:42:23Z","kernel":"attngen_dense_f32_d64_prefill","key":{"variant":"dense","dtype":"f32","target":"x86-64-avx512","head_dim":64,"bucket":"prefill","rotary":false,"halide":"14.0.0"},"workload":"dalle: B1 H8 Hkv8 Nq1280 Nk1280 D64 offset0 causal","role":"candidate","params":"tq=64 kc=64 vec=16 rq=4 rk=2 qvec=1 threads_split=0","status":"ok","error":"","runner":"local","median_s":0.02002503,"min_s":0.020013618,"repeats":3,"max_err":1.78814e-07,"flops":1679030000,"seed":1,"rung":0}\n{"id":"20261122T134212Z-12655-3","session":"20261122T134212Z-12655","time":"2026-11-22T13:42:27Z","kernel":"attngen_dense_f32_d64_prefill","key":{"variant":"dense","dtype":"f32","target":"x86-64-avx512","head_dim":64,"bucket":"prefill","rotary":false,"halide":"14.0.0"},"workload":"dalle: B1 H8 Hkv8 Nq1280 Nk1280 D64 offset0 causal","role":"candidate","params":"tq=32 kc=64 vec=16 rq=2 rk=2 qvec=1 threads_split=1","status":"ok","error":"","runner":"local","median_s":0.012591381,"min_s":0.0125904045,"repeats":3,"max_err":1.78814e-07,"flops":1679030000,"seed":1,"rung":0}\n')
    write("fuzz_tuning_db", "best.txt", '# best table\nattngen_dense_f32_d64_prefill|x86-64-avx512|14.0.0|tq=32 kc=64 vec=16 rq=2 rk=2 qvec=1 threads_split=1|tuned 2026-11-22 S-3 on dalle: 12.6 ms, 1.97x vs hand default\nattngen_sparse_conv_f32_d64_prefill_rot|x86-64-avx512|14.0.0|tq=32 kc=96 vec=16 rq=4 rk=8 qvec=1 threads_split=1 kci=32|tuned x\n')
    # ---- fuzz_api: byte strings; the first byte picks the entry point ----
    for sel in range(7):
        for i in range(3):
            write("fuzz_api", "sel%d_%d.bin" % (sel, i), bytes([sel]) + lcg_bytes(200 + 150 * i, 17 * sel + i))
    print("wrote", sum(len(fs) for _, _, fs in os.walk(OUT)), "seeds under", OUT)


if __name__ == "__main__":
    main()
