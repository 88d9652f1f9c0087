#!/usr/bin/env bash
# Checks that the ARM64 kernels of a cross build use NEON fused multiply-add
# on fp32 vectors (fmla vN.4s) in their inner loops.
#
#   scripts/check-arm-asm.sh [BUILD_DIR]      (default: build-arm)
#
# Every kernel of BUILD_DIR/generated/kernels.inc (the dispatch table, one
# entry per variant x head dim x bucket x rotary) is disassembled from its
# library with aarch64-linux-gnu-objdump. Loops are found from the machine
# code: a branch back to an earlier address of the same function closes a
# loop; innermost loops hold no other loop. A kernel passes when
#   - at least two of its innermost loops contain fmla on .4s vectors (the
#     Q@K^T and P@V register tiles), and
#   - every innermost loop doing 8 or more fp32 multiplies (fmul/fmla/fmadd,
#     vector or scalar) contains fmla .4s (no hot loop left scalar or
#     unfused).
# Prints one line per kernel and exits nonzero if any kernel fails.
set -euo pipefail
build=${1:-build-arm}
objdump=${OBJDUMP:-aarch64-linux-gnu-objdump}
table=$build/generated/kernels.inc
[[ -f $table ]] || { echo "check-arm-asm: no $table (configure and build $build first)" >&2; exit 2; }
command -v "$objdump" >/dev/null || { echo "check-arm-asm: $objdump not found (binutils-aarch64-linux-gnu)" >&2; exit 2; }
mapfile -t names < <(sed -n 's/^ATTNGEN_KERNEL([^,]*, *\([A-Za-z0-9_]*\),.*/\1/p' "$table")
[[ ${#names[@]} -gt 0 ]] || { echo "check-arm-asm: no kernel in $table" >&2; exit 2; }
libs=()
for n in "${names[@]}"; do
    lib=$(find "$build" -name "lib$n.a" -print -quit)
    [[ -n $lib ]] || { echo "check-arm-asm: no library lib$n.a under $build" >&2; exit 2; }
    libs+=("$n=$lib")
done

python3 - "$objdump" "${libs[@]}" <<'EOF'
import re, subprocess, sys

objdump = sys.argv[1]
BRANCH = re.compile(r'^(b|b\.\w+|cbz|cbnz|tbz|tbnz)$')
V4S = re.compile(r'\bv\d+\.4s\b')
SREG = re.compile(r'^\s*s\d+\s*,')


def innermost_loops(path):
    out = subprocess.run([objdump, '-d', '--no-show-raw-insn', path], capture_output=True, text=True,
                         check=True).stdout
    if 'elf64-littleaarch64' not in out:
        raise SystemExit(f'check-arm-asm: {path} is not an aarch64 object')
    funcs, cur = {}, None
    for line in out.splitlines():
        m = re.match(r'^([0-9a-f]+) <(.+)>:$', line)
        if m:
            cur = funcs.setdefault(m.group(2), [])
            continue
        m = re.match(r'^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$', line)
        if m and cur is not None:
            cur.append((int(m.group(1), 16), m.group(2), m.group(3)))
    loops = []
    for fn, ins in funcs.items():
        if not ins:
            continue
        first = ins[0][0]
        edges = set()
        for a, mn, ops in ins:
            t = re.search(r'\b([0-9a-f]+) <', ops)
            if BRANCH.match(mn) and t and first <= int(t.group(1), 16) <= a:
                edges.add((int(t.group(1), 16), a))
        for lo, hi in edges:
            if any(o != (lo, hi) and lo <= o[0] and o[1] <= hi for o in edges):
                continue
            body = [(mn, ops) for a, mn, ops in ins if lo <= a <= hi]
            fmla4 = sum(1 for mn, ops in body if mn == 'fmla' and V4S.search(ops))
            muls = sum(1 for mn, ops in body
                       if (mn in ('fmul', 'fmla', 'fmls') and (V4S.search(ops) or SREG.match(ops)))
                       or (mn in ('fmadd', 'fmsub', 'fnmadd', 'fnmsub') and SREG.match(ops)))
            loops.append((fn, lo, hi, len(body), fmla4, muls))
    return loops


failed = 0
total_fmla = 0
for arg in sys.argv[2:]:
    name, path = arg.split('=', 1)
    loops = innermost_loops(path)
    with_fmla = [l for l in loops if l[4] > 0]
    hot_without = [l for l in loops if l[5] >= 8 and l[4] == 0]
    nfmla = sum(l[4] for l in loops)
    total_fmla += nfmla
    ok = len(with_fmla) >= 2 and not hot_without
    failed += not ok
    print(f'{"PASS" if ok else "FAIL"} {name}: {len(with_fmla)}/{len(loops)} innermost loops use fmla .4s '
          f'({nfmla} fmla .4s in them; hot loops without: {len(hot_without)})')
    for fn, lo, hi, n, f4, m in hot_without:
        print(f'     no fmla .4s: {fn} [{lo:#x}, {hi:#x}] {n} instructions, {m} fp32 multiplies')
n = len(sys.argv) - 2
print(f'check-arm-asm: {n - failed} of {n} kernels use NEON fmla .4s in their inner loops '
      f'({total_fmla} fmla .4s in innermost loops in all)')
sys.exit(1 if failed else 0)
EOF
