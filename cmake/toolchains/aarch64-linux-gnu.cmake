# Toolchain file: 64-bit ARM Linux (aarch64) on a Debian/Ubuntu x86-64 host.
#
#   cmake -S . -B build-arm --toolchain cmake/toolchains/aarch64-linux-gnu.cmake \
#         -Dattngen-halide_generators_ROOT=<host build dir>
#
# Needs g++-aarch64-linux-gnu (compilers, binutils, the cross libc/libstdc++
# in /usr/aarch64-linux-gnu) and qemu-user (qemu-aarch64) to run what it
# builds. Libraries of the target (GoogleTest, Google Benchmark, OpenBLAS)
# come from Debian's multiarch arm64 packages in /usr/lib/aarch64-linux-gnu,
# found through CMAKE_LIBRARY_ARCHITECTURE; scripts/test-arm.sh installs them.
# The Halide generators run on the host: see cmake/AttngenCross.cmake.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(ATTNGEN_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${ATTNGEN_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${ATTNGEN_CROSS_TRIPLE}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${ATTNGEN_CROSS_TRIPLE})

# ctest, gtest_discover_tests and every other "run a target program" step go
# through user-mode qemu. -L makes the guest's dynamic loader the cross one
# (/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1); LD_LIBRARY_PATH makes it
# load libc, libstdc++, libgcc_s and libgomp from the same folder. Without it
# the loader takes libc.so.6 from the host's ld.so.cache, which lists the
# multiarch libc6:arm64 (/lib/aarch64-linux-gnu) as soon as an arm64 package is
# installed: a loader and a libc of different builds (2.36-8cross1 against
# 2.36-9+deb12u14 on Debian 12) and the first pthread_create spins forever.
# Multiarch arm64 libraries (OpenBLAS, Google Benchmark) are still found in
# /usr/lib/aarch64-linux-gnu (qemu falls back to the host's paths).
# ATTNGEN_TEST_EMULATED=1 tells the few long tests to use smaller sizes.
set(CMAKE_CROSSCOMPILING_EMULATOR
    qemu-aarch64;-L;/usr/${ATTNGEN_CROSS_TRIPLE};-E;LD_LIBRARY_PATH=/usr/${ATTNGEN_CROSS_TRIPLE}/lib;-E;ATTNGEN_TEST_EMULATED=1)

# Programs (the compilers, ar, the host-built Halide generators) come from
# the host; libraries, headers and packages are searched in the normal
# prefixes, where CMAKE_LIBRARY_ARCHITECTURE selects the arm64 multiarch
# folders (lib/aarch64-linux-gnu), so no x86-64 library is picked up.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
