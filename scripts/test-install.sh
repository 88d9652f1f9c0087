#!/usr/bin/env bash
# Tests `cmake --install` of a configured and built attngen build tree:
# installs it into a temporary prefix, then builds and runs the standalone
# consumer (examples/consumer) against that prefix only, once with CMake
# (find_package(attngen)) and once with pkg-config, and checks that neither
# sees Halide. Exits nonzero on the first failure.
#
#   scripts/test-install.sh [BUILD_DIR] [--tarball OUT.tar.gz] [--keep]
#
#   BUILD_DIR   the build tree (default: build); it must have been built
#               (`cmake --build BUILD_DIR`: the attngen_bundle target makes
#               the combined libattngen.a that is installed).
#   --tarball   after every check passed, also pack the install tree as a
#               relocatable tarball (unpack anywhere; point CMAKE_PREFIX_PATH
#               or PKG_CONFIG_PATH=<dir>/lib/pkgconfig at it).
#   --keep      keep the temporary folder (its path is printed).
#
# Environment: CC / CXX (default cc / c++) for the pkg-config builds.
set -euo pipefail

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }

build=build
tarball=""
keep=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --tarball)
            [[ $# -ge 2 ]] || { echo "test-install: --tarball needs a file name" >&2; exit 2; }
            tarball=$2
            shift 2
            ;;
        --tarball=*) tarball=${1#--tarball=}; shift ;;
        --keep) keep=1; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "test-install: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) build=$1; shift ;;
    esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ -f "$build/CMakeCache.txt" ]] || { echo "test-install: $build is not a configured CMake build tree" >&2; exit 2; }
build=$(cd "$build" && pwd)
if [[ -n "$tarball" ]]; then
    mkdir -p "$(dirname "$tarball")"
    tarball="$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")"
fi
CC=${CC:-cc}
CXX=${CXX:-c++}

work=$(mktemp -d "${TMPDIR:-/tmp}/attngen-test-install.XXXXXX")
cleanup() {
    local rc=$?
    if [[ $keep == 1 ]]; then
        echo "test-install: kept $work"
    else
        rm -rf "$work"
    fi
    if [[ $rc != 0 ]]; then
        echo "test-install: FAILED (exit $rc)" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
fail() {
    echo "test-install: FAIL: $*" >&2
    exit 1
}
# Runs a program; fails with its name if it fails.
run() {
    "$@" || fail "'$*' exited with $?"
}

prefix=$work/prefix
consumer_src=$root/examples/consumer

# ---- Install ------------------------------------------------------------------------
step "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix"

step "DESTDIR staging (--prefix /opt/attngen)"
DESTDIR=$work/destdir cmake --install "$build" --prefix /opt/attngen >/dev/null
[[ -f $work/destdir/opt/attngen/include/attngen/attngen.h ]] || fail "DESTDIR install did not stage under DESTDIR"
echo "ok"

# ---- Layout of the install tree -----------------------------------------------------
step "install tree"
archive=$(find "$prefix" -name libattngen.a -type f | head -n 1)
[[ -n $archive ]] || fail "no libattngen.a installed"
libdir=$(dirname "$archive")
for f in include/attngen/attngen.h include/attngen/attngen.hpp include/attngen/layout.h \
    include/attngen/version.h bin/attngen; do
    [[ -f $prefix/$f ]] || fail "missing $f"
done
for f in cmake/attngen/attngenConfig.cmake cmake/attngen/attngenConfigVersion.cmake pkgconfig/attngen.pc; do
    [[ -f $libdir/$f ]] || fail "missing ${libdir#"$prefix"/}/$f"
done
[[ -x $prefix/bin/attngen ]] || fail "bin/attngen is not executable"
if [[ -n $(find "$prefix/include" -name '*.in') ]]; then fail "a template (*.in) was installed"; fi
if grep -rnE '#[[:space:]]*include[[:space:]]*[<"][^">]*[Hh]alide' "$prefix/include"; then
    fail "an installed header includes a Halide header"
fi
if find "$prefix" -iname '*halide*' | grep .; then fail "Halide files were installed"; fi
(cd "$prefix" && find . -type f | sort | sed 's|^\./|  |')
version=$(sed -n 's/^#define ATTNGEN_VERSION_STRING "\(.*\)"/\1/p' "$prefix/include/attngen/version.h")
[[ -n $version ]] || fail "version.h has no ATTNGEN_VERSION_STRING"
echo "version $version"

# ---- The combined archive ----------------------------------------------------------
step "libattngen.a symbols"
nm_out=$work/nm.txt
nm -g "$archive" 2>/dev/null >"$nm_out" || fail "nm $archive failed"
defined=$(awk 'NF >= 3 && $2 ~ /^[TDBRVWuiGS]$/ {print $3}' "$nm_out" | sort -u)
for sym in attngen_version attngen_dense attngen_sparse_conv attngen_sparse_axial attngen_block_sparse \
    attngen_block_layout_create attngen_chunked attngen_layout_dalle attngen_build_info \
    halide_do_par_for halide_malloc; do
    grep -qx "$sym" <<<"$defined" || fail "libattngen.a does not define $sym"
done
# Every kernel of the build's dispatch table is in the archive.
table=$build/generated/kernels.inc
[[ -f $table ]] || fail "no $table"
nkernels=0
while read -r name; do
    grep -qx "$name" <<<"$defined" || fail "kernel $name is not in libattngen.a"
    nkernels=$((nkernels + 1))
done < <(sed -n 's/^ATTNGEN_KERNEL([^,]*, *\([A-Za-z0-9_]*\),.*/\1/p' "$table")
[[ $nkernels -gt 0 ]] || fail "no kernel found in $table"
# Nothing of attngen or Halide is left undefined (it would need Halide at link time).
undef=$(awk '$1 == "U" {print $2}' "$nm_out" | grep -E '^(attngen_|halide_|_ZN6Halide)' | sort -u |
    comm -23 - <(echo "$defined") || true)
[[ -z $undef ]] || fail "libattngen.a leaves these undefined: $(tr '\n' ' ' <<<"$undef")"
echo "ok: $nkernels kernels, runtime and Halide runtime defined, nothing of Halide left undefined"

# ---- CMake consumer -------------------------------------------------------------------
# Halide's packages are disabled: a find_dependency(Halide) in the config
# would fail here, and nothing may come from Halide's include folders.
cmake_consumer() { # SRC BUILD PREFIX
    cmake -S "$1" -B "$2" --no-warn-unused-cli -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$3" \
        -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
        -DCMAKE_DISABLE_FIND_PACKAGE_Halide=ON -DCMAKE_DISABLE_FIND_PACKAGE_HalideHelpers=ON
    cmake --build "$2"
}
check_no_halide() { # BUILD
    local cc=$1/compile_commands.json
    [[ -f $cc ]] || fail "no $cc"
    if grep -n '/usr/include/halide14' "$cc"; then fail "the consumer's compile commands contain /usr/include/halide14"; fi
    if grep -in 'halide' "$cc"; then fail "the consumer's compile commands mention Halide"; fi
    local link
    link=$(find "$1" -name link.txt -path '*attngen_consumer.dir*' | head -n 1)
    [[ -n $link ]] || fail "no link.txt for attngen_consumer"
    if grep -in 'halide' "$link"; then fail "the consumer's link command mentions Halide"; fi
    if readelf -d "$1/attngen_consumer" | grep -i 'NEEDED.*halide'; then fail "the consumer needs a Halide shared library"; fi
}

step "CMake consumer: configure and build against $prefix"
cb=$work/consumer-cmake
cmake_consumer "$consumer_src" "$cb" "$prefix"
found_dir=$(sed -n 's/^attngen_DIR:[A-Z]*=//p' "$cb/CMakeCache.txt")
[[ $found_dir -ef $libdir/cmake/attngen ]] || fail "find_package(attngen) found $found_dir, not the test prefix"
check_no_halide "$cb"
grep -q -- "-I$prefix/include\|-isystem $prefix/include" "$cb/compile_commands.json" ||
    fail "the consumer does not compile against $prefix/include"
echo "ok: attngen_DIR=$found_dir; no Halide in compile commands, link command or NEEDED"

step "CMake consumer: run"
run "$cb/attngen_consumer"

step "find_package: components and version"
probe=$work/probe
mkdir -p "$probe"
cat >"$probe/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(attngen_probe LANGUAGES C CXX)
find_package(attngen ${PROBE_VERSION} ${PROBE_ARGS})
if (NOT attngen_FOUND)
    message(FATAL_ERROR "PROBE: attngen not found")
endif ()
message(STATUS "PROBE: version=${attngen_VERSION} cpu=${attngen_cpu_FOUND} cuda=${attngen_cuda_FOUND}")
if (NOT TARGET attngen::attngen)
    message(FATAL_ERROR "PROBE: no attngen::attngen")
endif ()
EOF
probe() { # NAME EXPECT(ok|fail) VERSION ARGS...
    local name=$1 expect=$2 ver=$3
    shift 3
    local args
    args=$(IFS=';'; echo "$*")
    local log=$work/probe-$name.log
    if cmake -S "$probe" -B "$work/probe-$name" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_DISABLE_FIND_PACKAGE_Halide=ON "-DPROBE_VERSION=$ver" "-DPROBE_ARGS=$args" >"$log" 2>&1; then
        got=ok
    else
        got=fail
    fi
    if [[ $got != "$expect" ]]; then
        cat "$log" >&2
        fail "find_package(attngen $ver $*): expected $expect, got $got"
    fi
    printf '  %-44s %s\n' "find_package(attngen $ver $*)" "$got"
}
probe plain ok "" REQUIRED
probe cpu ok "$version" REQUIRED COMPONENTS cpu
probe exact ok "$version" EXACT REQUIRED
probe optional ok "" OPTIONAL_COMPONENTS cuda
grep -q 'PROBE: .*cuda=FALSE' "$work/probe-optional.log" || fail "attngen_cuda_FOUND should be FALSE"
probe cuda fail "" REQUIRED COMPONENTS cpu cuda
grep -q 'no component cuda' "$work/probe-cuda.log" || { cat "$work/probe-cuda.log" >&2; fail "unknown component: no clean message"; }
major=${version%%.*}
probe nextmajor fail "$((major + 1)).0" REQUIRED
echo "ok"

step "C-only CMake project (project LANGUAGES C): links the C++ standard library itself"
conly=$work/c-only
mkdir -p "$conly"
cp "$consumer_src/main.c" "$conly/main.c"
cat >"$conly/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(attngen_c_only LANGUAGES C)
find_package(attngen REQUIRED)
add_executable(c_only main.c)
target_link_libraries(c_only PRIVATE attngen::attngen m)
EOF
cmake -S "$conly" -B "$conly/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_DISABLE_FIND_PACKAGE_Halide=ON \
    >"$work/c-only.log" 2>&1 || { cat "$work/c-only.log" >&2; fail "C-only project: configure failed"; }
cmake --build "$conly/build" >>"$work/c-only.log" 2>&1 || { cat "$work/c-only.log" >&2; fail "C-only project: build failed"; }
run "$conly/build/c_only" >/dev/null
echo "ok"

# ---- pkg-config consumer --------------------------------------------------------------
step "pkg-config"
export PKG_CONFIG_PATH=$libdir/pkgconfig
pkg-config --exists --print-errors attngen || fail "pkg-config does not find attngen"
pcver=$(pkg-config --modversion attngen)
[[ $pcver == "$version" ]] || fail "pkg-config version $pcver != $version"
cflags=$(pkg-config --cflags attngen)
libs=$(pkg-config --libs attngen)
slibs=$(pkg-config --libs --static attngen)
echo "cflags: $cflags"
echo "libs:   $libs"
echo "static: $slibs"
if grep -qi halide <<<"$cflags $libs $slibs"; then fail "pkg-config flags mention Halide"; fi

step "pkg-config consumer: $CC main.c \$(pkg-config --cflags --libs attngen) -lstdc++ -lm"
# shellcheck disable=SC2086  # word splitting of pkg-config output is intended
run "$CC" -std=c99 -O2 -Wall -o "$work/consumer-pc" "$consumer_src/main.c" $cflags $libs -lstdc++ -lm
run "$work/consumer-pc"

step "pkg-config consumer: $CC main.c \$(pkg-config --cflags --libs --static attngen)"
# shellcheck disable=SC2086
run "$CC" -std=c99 -O2 -o "$work/consumer-pc-static" "$consumer_src/main.c" $cflags $slibs
run "$work/consumer-pc-static" >/dev/null
echo "ok"

step "C++ headers compile on their own ($CXX)"
cat >"$work/headers.cpp" <<'EOF'
#include <attngen/attngen.hpp>
#include <attngen/layout.h>
#include <attngen/version.h>
#include <attngen/attngen.h>
static_assert(ATTNGEN_VERSION >= 0, "version macro");
int main() { return attngen_version() != nullptr ? 0 : 1; }
EOF
# shellcheck disable=SC2086
run "$CXX" -std=c++17 -Wall -Wextra -o "$work/headers" "$work/headers.cpp" $cflags $slibs
run "$work/headers"
echo "ok"

step "PIC: the whole archive links into a shared library"
# shellcheck disable=SC2086
run "$CXX" -shared -fPIC -o "$work/libattngen_all.so" -Wl,--whole-archive "$archive" -Wl,--no-whole-archive \
    -lpthread -ldl -Wl,--no-undefined
dynsyms=$(nm -D --defined-only "$work/libattngen_all.so") || fail "nm -D failed"
grep -qw attngen_dense <<<"$dynsyms" || fail "attngen_dense not exported by the shared library"
echo "ok"

# ---- CLI ------------------------------------------------------------------------------
step "$prefix/bin/attngen info"
if ldd "$prefix/bin/attngen" | grep 'not found'; then fail "bin/attngen has unresolved shared libraries"; fi
info=$("$prefix/bin/attngen" info) || fail "attngen info exited with $?"
echo "$info" | head -n 40
[[ -n $info ]] || fail "attngen info printed nothing"

# ---- Relocation ---------------------------------------------------------------------
step "relocated prefix (moved after install)"
moved=$work/moved/attngen-$version
mkdir -p "$(dirname "$moved")"
mv "$prefix" "$moved"
prefix=$moved
libdir=$moved/${libdir#"$work/prefix/"}
cb2=$work/consumer-cmake-moved
cmake_consumer "$consumer_src" "$cb2" "$moved" >/dev/null
check_no_halide "$cb2"
run "$cb2/attngen_consumer" >/dev/null
export PKG_CONFIG_PATH=$libdir/pkgconfig
# shellcheck disable=SC2046
run "$CC" -std=c99 -o "$work/consumer-pc-moved" "$consumer_src/main.c" \
    $(pkg-config --cflags --libs --static attngen)
run "$work/consumer-pc-moved" >/dev/null
echo "ok: CMake and pkg-config consumers build and run from $moved"

# ---- Tarball --------------------------------------------------------------------------
if [[ -n $tarball ]]; then
    step "tarball $tarball"
    tar -C "$(dirname "$moved")" --owner=0 --group=0 --numeric-owner --sort=name \
        -czf "$tarball" "$(basename "$moved")"
    listing=$(tar -tzf "$tarball") || fail "cannot list $tarball"
    grep -q "^attngen-$version/.*/libattngen.a$" <<<"$listing" || fail "tarball lacks libattngen.a"
    echo "ok: $(du -h "$tarball" | cut -f1) $tarball (top folder attngen-$version/)"
fi

printf '\ntest-install: all checks passed\n'
