#!/usr/bin/env bash
# Runs every libFuzzer target of a build made with -DATTNGEN_BUILD_FUZZERS=ON
# (scripts/test-sanitizers.sh makes one: build-asan) for a bounded time,
# starting from the checked-in seeds (fuzz/corpus/<target>/, never written
# to: new inputs go to a temporary folder). Exits nonzero on the first
# finding, leaving the reproducer in the artifacts folder and printing the
# command to replay it.
#
#   scripts/fuzz.sh [BUILD_DIR] [SECONDS_PER_FUZZER] [TARGET...]
#
# Defaults: build-asan, 60 s, every target (fuzz_npy fuzz_manifest
# fuzz_tuning_db fuzz_api). ATTNGEN_FUZZ_ARTIFACTS: where findings go
# (default BUILD_DIR/fuzz-artifacts).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-asan}
seconds=${2:-60}
shift $(($# < 2 ? $# : 2))
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then targets=(fuzz_npy fuzz_manifest fuzz_tuning_db fuzz_api); fi
artifacts=${ATTNGEN_FUZZ_ARTIFACTS:-$build/fuzz-artifacts}
mkdir -p "$artifacts"
artifacts=$(cd "$artifacts" && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=87}
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)}

for t in "${targets[@]}"; do
    bin=$build/bin/$t
    [[ -x $bin ]] || { echo "fuzz: $bin missing (configure with -DATTNGEN_BUILD_FUZZERS=ON and build)" >&2; exit 2; }
    seeds=fuzz/corpus/$t
    [[ -d $seeds ]] || { echo "fuzz: no seed corpus $seeds" >&2; exit 2; }
    work=$(mktemp -d "${TMPDIR:-/tmp}/attngen-fuzz-$t.XXXXXX")
    log=$artifacts/$t.log
    printf '\n== %s: %s s from %s (%d seeds)\n' "$t" "$seconds" "$seeds" "$(find "$seeds" -type f | wc -l)"
    set +e
    "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$t-" "$work" "$seeds" >"$log" 2>&1
    rc=$?
    set -e
    grep -E '^#[0-9]+.*(DONE|pulse)' "$log" | tail -n 1 || true
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
    rm -rf "$work"
    if [[ $rc -ne 0 ]]; then
        tail -n 60 "$log"
        echo "fuzz: $t FOUND A PROBLEM (exit $rc); reproducer(s):" >&2
        ls -1 "$artifacts/$t-"* 2>/dev/null | grep -v '\.log$' >&2 || true
        echo "replay: $bin <reproducer>" >&2
        exit 1
    fi
done
echo "fuzz: every target ran ${seconds} s clean"
