# Cross builds (64-bit ARM Linux today): included by the top-level
# CMakeLists.txt in place of find_package(Halide) when CMAKE_CROSSCOMPILING.
#
#   host:  cmake -S . -B build && cmake --build build --target attngen_generators
#   cross: cmake -S . -B build-arm --toolchain cmake/toolchains/aarch64-linux-gnu.cmake \
#                -Dattngen-halide_generators_ROOT=build
#
# The generators are host programs linked to libHalide; a cross build does not
# build them but imports them from a host build (add_halide_generator wrote
# <host build>/cmake/attngen-halide_generators-config.cmake there; Halide's
# README_cmake.md, "cross-compiling"). The target side needs no libHalide,
# only Halide's CMake helpers (add_halide_library, Halide::Runtime's header),
# which are architecture-independent CMake code found in the host's folders.
#
# Kernel targets: ATTNGEN_CPU_TARGETS, when it still holds the x86-64
# defaults, becomes ATTNGEN_ARM_CPU_TARGETS (arm-64-linux-user_context).
# Why no arm_dot_prod / arm_fp16 variant by default:
#  - for the fp32 kernels they change nothing: the generated code of a kernel
#    for arm-64-linux-arm_dot_prod-arm_fp16 is the same, instruction for
#    instruction, as for arm-64-linux (they enable int8 dot products and fp16
#    arithmetic, neither of which an fp32 pipeline has); a second target only
#    doubles the generation time and the code size;
#  - Halide 14's aarch64 runtime detects no CPU feature (halide_get_cpu_features
#    returns empty masks), and halide_can_use_target_features then accepts every
#    target, so the wrapper of a multi-target library would pick the first
#    (feature) target on every ARM CPU, also on one without those features
#    (Cortex-A72, Graviton 1): SIGILL as soon as the code uses them.
# A build for known hardware may still list them (most capable first), e.g.
#   -DATTNGEN_CPU_TARGETS="arm-64-linux-arm_dot_prod-arm_fp16-user_context;arm-64-linux-user_context"
# (a warning says so). Every target must carry user_context.

if (NOT CMAKE_CROSSCOMPILING)
    message(FATAL_ERROR "AttngenCross.cmake is for cross builds (a toolchain file with CMAKE_SYSTEM_NAME)")
endif ()

# ---- Halide's CMake helpers (no libHalide on the target side) ----------------
# HalideHelpers lives in the host's lib/<host multiarch>/cmake, which a cross
# build does not search (its CMAKE_LIBRARY_ARCHITECTURE is the target's).
set(_attngen_host_multiarch "${CMAKE_HOST_SYSTEM_PROCESSOR}-linux-gnu")
find_package(HalideHelpers 14 REQUIRED
             HINTS /usr/lib/${_attngen_host_multiarch}/cmake /usr/local/lib/${_attngen_host_multiarch}/cmake
                   /usr/local/lib/cmake /usr/lib/cmake
             CMAKE_FIND_ROOT_PATH_BOTH)
find_package(Threads REQUIRED)

# ---- Generators of a host build ------------------------------------------------
find_package(attngen-halide_generators QUIET CMAKE_FIND_ROOT_PATH_BOTH)
if (NOT attngen-halide_generators_FOUND)
    message(FATAL_ERROR
            "attngen cross build: the host-built Halide generators were not found. Build them first "
            "(cmake -S . -B build && cmake --build build --target attngen_generators) and pass "
            "-Dattngen-halide_generators_ROOT=<that build dir> (it holds cmake/attngen-halide_generators-config.cmake).")
endif ()
get_target_property(_attngen_gen_exe attngen::halide_generators::attngen_generators IMPORTED_LOCATION_RELEASE)
if (NOT _attngen_gen_exe)
    get_target_property(_attngen_gen_exe attngen::halide_generators::attngen_generators IMPORTED_LOCATION)
endif ()
message(STATUS "attngen cross build: generators from ${_attngen_gen_exe}")

# ---- Kernel targets ----------------------------------------------------------------
if (Halide_CMAKE_TARGET STREQUAL "arm-64-linux")
    set(ATTNGEN_ARM_CPU_TARGETS arm-64-linux-user_context
        CACHE STRING "Halide targets of the CPU kernels of an ARM64 cross build (most capable first; user_context required)")
    if (ATTNGEN_CPU_TARGETS MATCHES "(^|;)x86-")
        set(ATTNGEN_CPU_TARGETS "${ATTNGEN_ARM_CPU_TARGETS}" CACHE STRING
            "Halide targets of the CPU kernels (most capable first; user_context required)" FORCE)
    endif ()
    if (ATTNGEN_CPU_TARGETS MATCHES "arm_dot_prod|arm_fp16")
        list(LENGTH ATTNGEN_CPU_TARGETS _attngen_ntargets)
        if (_attngen_ntargets GREATER 1)
            message(WARNING
                    "ATTNGEN_CPU_TARGETS lists arm_dot_prod/arm_fp16 targets: Halide 14's aarch64 runtime detects no "
                    "CPU features, so the kernels' run-time dispatch takes the first target on every ARM CPU. "
                    "Run this build only on CPUs that have every feature of its first target.")
        endif ()
    endif ()
endif ()
foreach (t IN LISTS ATTNGEN_CPU_TARGETS)
    string(REGEX REPLACE "^([^-]+-[^-]+-[^-]+).*$" "\\1" _attngen_triple "${t}")
    if (NOT _attngen_triple STREQUAL Halide_CMAKE_TARGET)
        message(FATAL_ERROR "ATTNGEN_CPU_TARGETS: ${t} is not a ${Halide_CMAKE_TARGET} target (this build's toolchain)")
    endif ()
    if (NOT t MATCHES "(^|-)user_context(-|$)")
        message(FATAL_ERROR "ATTNGEN_CPU_TARGETS: ${t} lacks user_context (the runtime passes its per-call context)")
    endif ()
endforeach ()
message(STATUS "attngen cross build: kernel targets ${ATTNGEN_CPU_TARGETS}")

# ---- Benchmark -----------------------------------------------------------------
# The benchmark's pinned kernels (untuned and autoscheduled builds of each
# pipeline, bench/CMakeLists.txt) are x86-64 AVX-512 builds; an x86 target
# in the ARM kernels' shared runtime would make Halide fail ("no compatible
# runtime target"), so a cross build leaves them out and the benchmark
# reports them as skipped with this reason.
set(ATTNGEN_BENCH_AUTOSCHEDULERS "" CACHE STRING "Halide autoschedulers of the benchmark (none in a cross build)")
foreach (_as IN ITEMS Li2018 Adams2019 Mullapudi2016)
    set(_attngen_autosched_reason_${_as}
        "not built in a cross build (the autoscheduled baseline is an x86-64 AVX-512 kernel)")
endforeach ()
option(ATTNGEN_BENCH_UNTUNED "Build the benchmark's untuned (hand default) kernels (not in a cross build)" OFF)

# ---- Tests ---------------------------------------------------------------------
# add_test() runs target programs through CMAKE_CROSSCOMPILING_EMULATOR, but a
# test that runs the CLI from a `cmake -P` script (hostile_check) gets its
# path only: it is given this wrapper instead (tests/CMakeLists.txt).
set(ATTNGEN_CLI_EMULATED "${CMAKE_BINARY_DIR}/bin/attngen-emulated")
string(JOIN " " _attngen_emulator ${CMAKE_CROSSCOMPILING_EMULATOR})
file(GENERATE OUTPUT "${ATTNGEN_CLI_EMULATED}"
     CONTENT "#!/bin/sh\n# Runs the aarch64 CLI under ${_attngen_emulator} (generated by cmake/AttngenCross.cmake)\nexec ${_attngen_emulator} \"$<TARGET_FILE:attngen_cli>\" \"$@\"\n"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
