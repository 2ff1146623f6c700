#!/usr/bin/env bash
# install_deps.sh - the Debian packages flashlm builds and tests with.
#
# Usage: scripts/install_deps.sh [--test]
#   (no flag)  what building and running needs: a C compiler, CMake and
#              liburing (io_uring reads of streamed weights; pread without it)
#   --test     also what the tests need: cmocka, clang (libFuzzer), the
#              aarch64 cross compiler and qemu-user for the ARM kernel tests
set -euo pipefail
pkgs=(build-essential cmake pkg-config python3-pip unzip ca-certificates liburing-dev)
if [[ "${1:-}" == "--test" ]]; then
    pkgs+=(libcmocka-dev clang libclang-rt-14-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
