#!/usr/bin/env bash
# install_deps.sh - the Debian packages flashlm builds and tests with.
#
# Usage: scripts/install_deps.sh [--test]
#   (no flag)  what building and running needs: a C compiler, CMake,
#              libmicrohttpd + jansson for the server, and liburing (io_uring
#              reads of streamed weights; pread without it)
#   --test     also what the tests need: cmocka, clang (libFuzzer), the
#              aarch64 cross compiler and qemu-user for the ARM kernel tests,
#              python3-venv for the server's pytest suite (openai client,
#              selenium; tests/serve/requirements.txt) and chromium with its
#              driver for the chat-page test
set -euo pipefail
pkgs=(build-essential cmake pkg-config python3-pip python3-venv unzip ca-certificates libmicrohttpd-dev libjansson-dev liburing-dev)
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
if [[ "${1:-}" == "--test" ]]; then
    pkgs+=(libcmocka-dev clang libclang-rt-14-dev python3-venv chromium chromium-driver)
    # ARM: cross compiler, qemu-user, and cmocka for arm64 from Debian
    # multiarch (which also brings libc6:arm64, the loader qemu-aarch64 uses),
    # and the server's libraries so the whole CLI cross-builds
    pkgs+=(gcc-aarch64-linux-gnu qemu-user libcmocka-dev:arm64 libmicrohttpd-dev:arm64 libjansson-dev:arm64)
    dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
