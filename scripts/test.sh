#!/usr/bin/env bash
# test.sh - the second command: installs what the tests need, fetches both
# default models, and runs every test twice: in a Release build and in an
# AddressSanitizer + UndefinedBehaviorSanitizer build (the C tests, then the
# server's pytest suite against a live `flashlm serve`: the official openai
# client, every error case, headless Chromium on the chat page); then a clang
# build (warning-free with -Werror), an aarch64 cross build whose unit tests
# run under qemu-user on two CPU models (ARMv8.0 NEON only, and one with the
# dot-product extension, so both kernel paths run), and a short fuzz run of
# the GGUF reader and the tokenizers (clang libFuzzer).
#
# Usage: scripts/test.sh [--quick]   (--quick: Release build only, no fuzzing)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install_deps.sh --test
scripts/fetch_models.sh
jobs=$(nproc)

echo "== Release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== server tests (pytest, openai client, headless Chromium)"
[[ -x .cache/venv/bin/python ]] || python3 -m venv .cache/venv
.cache/venv/bin/pip install -q -r tests/serve/requirements.txt
(cd tests/serve && FLM_BIN="$PWD/../../build/flashlm" ../../.cache/venv/bin/python -m pytest -q)
[[ "${1:-}" == "--quick" ]] && exit 0

echo "== ASan + UBSan build"
cmake -S . -B build-san -DCMAKE_BUILD_TYPE=Debug -DFLM_SANITIZE=ON -DCMAKE_C_FLAGS_DEBUG="-O1 -g" >/dev/null
cmake --build build-san -j"$jobs"
(cd build-san && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    FLM_SANITIZED=1 ctest --output-on-failure -j"$jobs")
(cd tests/serve && ASAN_OPTIONS=detect_leaks=1 FLM_BIN="$PWD/../../build-san/flashlm" \
    ../../.cache/venv/bin/python -m pytest -q -k "not page")

echo "== clang build (warnings are errors)"
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-clang -j"$jobs"

echo "== aarch64 cross build + kernel tests under qemu"
# Every unit test but the e2e ones and the two that quantize whole models
# (minutes each under emulation; the code they drive is portable C, and
# kernels/ and quant/ test what differs on ARM).
cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake >/dev/null
cmake --build build-arm64 -j"$jobs"
for cpu in cortex-a53:neon max:dotprod; do
    echo "-- qemu-aarch64 -cpu ${cpu%%:*} (expects ${cpu##*:})"
    (cd build-arm64 && QEMU_CPU=${cpu%%:*} FLM_EXPECT_ISA=${cpu##*:} \
        ctest --output-on-failure -j"$jobs" -LE e2e -E '^convert/quantize(_errors)?_test$')
done

echo "== fuzzing (libFuzzer, 20 s per target)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DFLM_FUZZ=ON -DFLM_SANITIZE=ON -DFLM_TESTS=OFF \
    -DCMAKE_C_FLAGS_DEBUG="-O1 -g" >/dev/null
cmake --build build-fuzz -j"$jobs" --target gguf_fuzz tokenizer_fuzz
for t in gguf tokenizer; do
    corpus=$(mktemp -d)
    [[ -d tests/fuzz/corpus/$t ]] && cp -r tests/fuzz/corpus/$t/. "$corpus"/
    ./build-fuzz/${t}_fuzz -max_total_time=20 -rss_limit_mb=2048 "$corpus" 2>&1 | tail -n 3
    rm -rf "$corpus"
done
echo "== all tests passed"
