# aarch64-linux-gnu.cmake - cross-compile flashlm for 64-bit ARM Linux with
# Debian's gcc-aarch64-linux-gnu, and run the tests under qemu-user.
#
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#   cmake --build build-arm64 -j2
#   cd build-arm64 && QEMU_CPU=cortex-a53 ctest -L 'kernels|quant'   # ARMv8.0: NEON only
#   cd build-arm64 && QEMU_CPU=max ctest -L 'kernels|quant'          # + dotprod
#
# Libraries (cmocka for the tests) come from Debian multiarch: with
# `dpkg --add-architecture arm64` and libcmocka-dev:arm64 installed (see
# scripts/install_deps.sh --test) they live in /usr/lib/aarch64-linux-gnu,
# and libc6:arm64 puts the dynamic loader where qemu-aarch64 finds it.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)

# Find the target's libraries and headers, the host's programs.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config: the arm64 .pc files only.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# ctest runs each test program through this (the CPU model: QEMU_CPU).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
