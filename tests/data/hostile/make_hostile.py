#!/usr/bin/env python3
"""Writes tests/data/hostile: a manifest.json (format 1, like
tests/data/golden/manifest.json) whose every case must FAIL in
`attngen check` with a reason, never crash, hang or allocate absurd memory:
broken .npy files (truncated, bad magic, huge declared shapes, wrong dtypes,
big-endian, Fortran order, bad header dicts), mismatched shapes, NaN/Inf
inputs, absurd parameters, missing files and path traversal.

Python 3 standard library only (no numpy). The generated files are checked
in; rerun after editing:  python3 tests/data/hostile/make_hostile.py
"""
import json
import math
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

B, N, H, D = 1, 8, 2, 16


def lcg_floats(n, seed):
    """Deterministic floats in [-1, 1) (no dependence on random's algorithm)."""
    x = seed & 0xFFFFFFFF
    out = []
    for _ in range(n):
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        out.append(x / float(1 << 30) - 1.0)
    return out


def prod(shape):
    p = 1
    for s in shape:
        p *= s
    return p


def header(descr, shape, fortran=False, version=1, raw_dict=None, pad=True):
    if raw_dict is None:
        sh = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raw_dict = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", sh)
    d = raw_dict.encode("latin-1")
    pre = 10 if version == 1 else 12
    if pad:
        total = pre + len(d) + 1
        d += b" " * ((64 - total % 64) % 64) + b"\n"
    magic = b"\x93NUMPY" + bytes([version, 0])
    ln = struct.pack("<H", len(d)) if version == 1 else struct.pack("<I", len(d))
    return magic + ln + d


def npy_f32(shape, values):
    return header("<f4", shape) + struct.pack("<%df" % len(values), *values)


def npy_u8(shape, values):
    return header("|u1", shape) + bytes(values)


class Writer:
    def __init__(self):
        self.cases = []

    def case(self, name, variant, files, params=None, description="", folder=None, **extra):
        """files: {key: (filename, bytes) | (filename, None) for a missing file | raw JSON value}."""
        folder = folder if folder is not None else name
        entry = {"name": name, "variant": variant}
        if params is not None:
            entry["params"] = params
        fj = {}
        for key, val in files.items():
            if isinstance(val, tuple):
                fname, data = val
                fj[key] = fname
                if data is not None:
                    path = os.path.join(HERE, folder, fname)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        f.write(data)
            else:
                fj[key] = val
        entry["files"] = fj
        entry.update(extra)
        if description:
            entry["description"] = description
        self.cases.append(entry)

    def raw(self, entry):
        self.cases.append(entry)


def main():
    for entry in os.listdir(HERE):
        p = os.path.join(HERE, entry)
        if os.path.isdir(p):
            shutil.rmtree(p)
    qv = lcg_floats(B * N * H * D, 1)
    kv = lcg_floats(B * N * H * D, 2)
    vv = lcg_floats(B * N * H * D, 3)
    shape = (B, N, H, D)
    q = npy_f32(shape, qv)
    k = npy_f32(shape, kv)
    v = npy_f32(shape, vv)
    zeros = npy_f32(shape, [0.0] * (B * N * H * D))
    good = {"q": ("q.npy", q), "k": ("k.npy", k), "v": ("v.npy", v), "expected": ("expected.npy", zeros)}

    def with_(**repl):
        f = dict(good)
        f.update(repl)
        return f

    w = Writer()
    # ---- Broken .npy files ------------------------------------------------------
    w.case("npy_truncated_data", "dense", with_(q=("q.npy", q[: len(q) - 37])),
           description="q.npy loses its last 37 bytes")
    w.case("npy_truncated_header", "dense", with_(q=("q.npy", q[:40])),
           description="q.npy cut inside the header dict")
    w.case("npy_truncated_prelude", "dense", with_(q=("q.npy", q[:7])),
           description="q.npy is 7 bytes: magic and half a version")
    w.case("npy_empty_file", "dense", with_(q=("q.npy", b"")), description="q.npy is empty")
    w.case("npy_bad_magic", "dense", with_(q=("q.npy", b"\x93NUMPZ" + q[6:])), description="wrong magic")
    w.case("npy_text_file", "dense", with_(q=("q.npy", b"q,k,v\n1,2,3\n")), description="a CSV file named .npy")
    w.case("npy_bad_version", "dense", with_(q=("q.npy", q[:6] + b"\x09\x00" + q[8:])),
           description="format version 9.0")
    w.case("npy_huge_declared_shape", "dense",
           with_(q=("q.npy", header("<f4", (1 << 40, 1, 2, 16)) + struct.pack("<4f", 1, 2, 3, 4))),
           description="header declares 2^45 floats, the file holds 4: refused before allocating")
    w.case("npy_shape_overflows_int64", "dense",
           with_(q=("q.npy", header("<f4", (1 << 62, 1 << 62, 2, 16)) + b"\0" * 64)),
           description="element count overflows int64")
    w.case("npy_beyond_size_limit", "dense",
           with_(expected=("expected.npy", header("<f8", (1 << 33,)))),
           description="expected declares 64 GiB (beyond the reader's limit), holds nothing")
    w.case("npy_header_length_huge", "dense",
           with_(q=("q.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + b"{}")),
           description="v2 header length field of 4 GiB")
    w.case("npy_big_endian", "dense",
           with_(q=("q.npy", header(">f4", shape) + struct.pack(">%df" % len(qv), *qv))),
           description="big-endian float32")
    w.case("npy_fortran_order", "dense",
           with_(k=("k.npy", header("<f4", shape, fortran=True) + struct.pack("<%df" % len(kv), *kv))),
           description="column-major k")
    w.case("npy_unicode_dtype", "dense",
           with_(v=("v.npy", header("<U4", (2,)) + "abcdefgh".encode("utf-32-le"))),
           description="a string array")
    w.case("npy_object_dtype", "dense", with_(v=("v.npy", header("|O", (1,)) + b"\0" * 8)),
           description="pickled objects")
    w.case("npy_structured_dtype", "dense",
           with_(q=("q.npy", header(None, None, raw_dict="{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }") + b"\0" * 4)),
           description="structured dtype")
    w.case("npy_int_activations", "dense",
           with_(q=("q.npy", header("<i4", shape) + struct.pack("<%di" % len(qv), *[int(x * 100) for x in qv]))),
           description="q holds int32")
    w.case("npy_header_garbage", "dense",
           with_(q=("q.npy", header(None, None, raw_dict="{'descr': '<f4', 'fortran_order': False, 'shape': (8, }"))),
           description="unterminated shape tuple")
    w.case("npy_header_extra_key", "dense",
           with_(q=("q.npy", header(None, None, raw_dict="{'descr': '<f4', 'fortran_order': False, 'shape': (1, 8, 2, 16), 'evil': __import__('os'), }") + struct.pack("<%df" % len(qv), *qv))),
           description="header dict with an extra key (never evaluated)")
    w.case("npy_header_duplicate_key", "dense",
           with_(q=("q.npy", header(None, None, raw_dict="{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (1, 8, 2, 16), }") + struct.pack("<%df" % len(qv), *qv))),
           description="'descr' twice")
    w.case("npy_negative_dim", "dense",
           with_(q=("q.npy", header(None, None, raw_dict="{'descr': '<f4', 'fortran_order': False, 'shape': (1, -8, 2, 16), }") + struct.pack("<%df" % len(qv), *qv))),
           description="negative dimension")
    w.case("npy_nul_in_header", "dense",
           with_(q=("q.npy", header(None, None, raw_dict="{'descr': '<f4\x00', 'fortran_order': False, 'shape': (1, 8, 2, 16), }") + struct.pack("<%df" % len(qv), *qv))),
           description="NUL byte inside the descr string")
    w.case("npy_trailing_data", "dense", with_(k=("k.npy", k + b"\x00" * 12)), description="12 bytes after the data")
    w.case("npy_scalar", "dense", with_(q=("q.npy", header("<f4", ()) + struct.pack("<f", 1.0))),
           description="a 0-d array")
    w.case("npy_zero_size_dim", "dense", with_(q=("q.npy", header("<f4", (1, 0, 2, 16)))),
           description="q has 0 tokens")
    # ---- Shapes that disagree -----------------------------------------------------
    k8 = npy_f32((B, N, H, 8), lcg_floats(B * N * H * 8, 4))
    w.case("shape_head_dim_mismatch", "dense", with_(k=("k.npy", k8)), description="k has D=8, q D=16")
    k2 = npy_f32((2, N, H, D), lcg_floats(2 * N * H * D, 5))
    w.case("shape_batch_mismatch", "dense", with_(k=("k.npy", k2)), description="k has 2 batches")
    v3 = npy_f32((B, N, 3, D), lcg_floats(B * N * 3 * D, 6))
    w.case("shape_heads_mismatch", "dense", with_(v=("v.npy", v3)), description="v has 3 heads, k 2")
    w.case("shape_wrong_rank", "dense", with_(q=("q.npy", npy_f32((N, H, D), qv))), description="q is rank 3")
    w.case("shape_expected_mismatch", "dense",
           with_(expected=("expected.npy", npy_f32((B, N, H, 8), [0.0] * (B * N * H * 8)))),
           description="expected has D=8")
    w.case("shape_key_mask_wrong", "dense", with_(key_mask=("key_mask.npy", npy_u8((B, N - 1), [1] * (N - 1)))),
           description="key_mask (1, 7) for 8 keys")
    w.case("shape_key_mask_float", "dense", with_(key_mask=("key_mask.npy", npy_f32((B, N), [1.0] * N))),
           description="key_mask stored as float32")
    w.case("shape_static_mask_small", "dense", with_(static_mask=("static_mask.npy", npy_u8((4, 4), [1] * 16))),
           description="static_mask (4, 4) for 8 keys")
    w.case("shape_freqs_odd", "dense", with_(freqs=("freqs.npy", npy_f32((N, 3), lcg_floats(N * 3, 7)))),
           params={"rotary_targets": "qkv"}, description="rotary dim 3")
    w.case("shape_layout_wrong", "block_sparse", with_(layout=("layout.npy", npy_u8((1, 3, 3), [1] * 9))),
           params={"block": 16}, description="layout (1, 3, 3) where N=8, block 16 gives nb=1")
    w.case("shape_layout_not_square", "block_sparse", with_(layout=("layout.npy", npy_u8((1, 1, 2), [1] * 2))),
           description="layout (1, 1, 2)")
    w.case("shape_kv_rows_differ", "chunked",
           with_(v=("v.npy", npy_f32((B, N + 1, H, D), lcg_floats(B * (N + 1) * H * D, 8)))),
           description="v has 9 rows, k 8")
    # ---- Non-finite numbers -----------------------------------------------------------
    qn = list(qv)
    for d in range(D):
        qn[(0 * N + 3) * H * D + 1 * D + d] = float("nan")
    w.case("nan_in_q_row", "dense", with_(q=("q.npy", npy_f32(shape, qn))), params={"causal": True},
           description="NaN in query row (n=3, h=1); expected is all zeros, so the case fails on its values")
    kinf = list(kv)
    kinf[5] = float("inf")
    kinf[100] = float("-inf")
    w.case("inf_in_k", "dense", with_(k=("k.npy", npy_f32(shape, kinf))),
           description="+-Inf in k; expected is all zeros")
    vbig = [x * 3e38 for x in vv]
    w.case("huge_values_in_v", "chunked", with_(v=("v.npy", npy_f32(shape, vbig))),
           description="|v| up to 3e38 (sums overflow); expected is all zeros")
    en = [float("nan")] * (B * N * H * D)
    w.case("nan_expected", "dense", with_(expected=("expected.npy", npy_f32(shape, en))),
           description="expected is all NaN, the output is finite")
    # ---- Absurd parameters ----------------------------------------------------------
    w.case("param_offset_huge", "dense", good, params={"offset": 2147483647, "causal": True},
           description="KV-cache offset 2^31-1 with 8 keys")
    w.case("param_offset_beyond_int", "dense", good, params={"offset": 1e300}, description="offset 1e300")
    w.case("param_seq_len_huge", "sparse_conv", good, params={"seq_len": 2147483647, "image_size": 46341},
           description="image grid of 2^31 cells")
    w.case("param_image_size_too_big", "sparse_axial", good, params={"seq_len": 8, "image_size": 3},
           description="image_size^2 > seq_len + 1")
    w.case("param_kernel_size_huge", "sparse_conv", good,
           params={"seq_len": 8, "image_size": 2, "kernel_size": 2147483647, "dilation": 2147483647},
           description="kernel_size and dilation 2^31-1 (runs; expected is zeros)")
    w.case("param_block_huge", "block_sparse", with_(layout=("layout.npy", npy_u8((1, 1, 1), [1]))),
           params={"block": 1048576}, description="block 2^20 over 8 tokens: runs without 2^32-entry block lists; expected is zeros")
    w.case("param_block_not_multiple", "block_sparse", with_(layout=("layout.npy", npy_u8((1, 1, 1), [1]))),
           params={"block": 17}, description="block 17")
    w.case("param_query_chunk_zero", "chunked", good, params={"query_chunk_size": 0}, description="chunk 0")
    w.case("param_negative_tolerance", "dense", good, rtol=-1, description="negative rtol")
    w.case("param_unknown", "dense", good, params={"temperature": 2}, description="unknown param")
    w.case("param_wrong_type", "dense", good, params={"causal": "yes"}, description="causal is a string")
    w.case("param_dtype_unknown", "dense", good, params={"dtype": "int8"}, description="storage type int8")
    w.case("variant_unknown", "flash", good, description="no such variant")
    # ---- Files and paths ----------------------------------------------------------------
    w.case("missing_file", "dense", with_(q=("does_not_exist.npy", None)), description="q.npy is not there")
    w.case("missing_files_entry", "dense", {"k": ("k.npy", k), "v": ("v.npy", v), "expected": ("expected.npy", zeros)},
           description="files has no q")
    w.case("missing_case_folder", "dense", {"q": "q.npy", "k": "k.npy", "v": "v.npy", "expected": "expected.npy"},
           description="no folder for this case")
    w.case("path_traversal_dotdot", "dense", with_(q="../npy_truncated_data/q.npy"),
           description="files.q leaves the case folder")
    w.case("path_traversal_deep", "dense", with_(k="sub/../../../../../../etc/passwd"), description="'..' deep")
    w.case("path_absolute", "dense", with_(v="/etc/passwd"), description="absolute path")
    w.case("path_is_directory", "dense", with_(q="."), description="files.q names the case folder itself")
    w.case("path_dev_zero", "dense", with_(q="/dev/zero"), description="a device")
    w.case("file_not_string", "dense", with_(q=5), description="files.q is a number")
    w.raw({"name": "../golden/dense_causal", "variant": "dense",
           "files": {"q": "q.npy", "k": "k.npy", "v": "v.npy", "expected": "expected.npy"},
           "description": "case name leaves the folder"})
    w.raw({"name": "/tmp", "variant": "dense", "files": {"q": "q.npy", "k": "k.npy", "v": "v.npy", "expected": "expected.npy"},
           "description": "absolute case name"})
    w.raw({"name": "name with spaces\nand a newline", "variant": "dense", "files": {},
           "description": "printed escaped, on one line"})
    w.raw({"name": "npy_truncated_data", "variant": "dense", "files": {},
           "description": "duplicate case name"})
    w.raw({"name": "no_variant", "files": {}})
    w.raw({"name": "unknown_case_key", "variant": "dense", "files": {}, "shell": "rm -rf /"})
    w.raw(42)
    w.raw({"variant": "dense", "files": {}, "description": "no name"})

    manifest = {
        "format": 1,
        "layout": "hostile cases: every case must FAIL with a reason (see make_hostile.py)",
        "cases": w.cases,
    }
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("wrote %d cases to %s" % (len(w.cases), HERE))


if __name__ == "__main__":
    main()
