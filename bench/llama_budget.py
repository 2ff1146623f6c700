#!/usr/bin/env python3
"""llama_budget.py - llama.cpp (llama-cpp-python) generating under whatever
memory limit the caller's cgroup sets: loads MODEL with its default mmap,
evaluates a short prompt, then times N greedy tokens one at a time.
With --no-repack the model is loaded with use_extra_bufts = false (llama.cpp's
--no-repack: weights stay in the mapping instead of being copied into
repacked anonymous buffers). Prints "loaded" on stderr once the model is in,
then one JSON object on stdout.

Usage: llama_budget.py MODEL THREADS N [--no-repack]"""
import json
import sys
import time

import numpy as np

import llama_cpp
import llama_cpp.llama_cpp as lc
from llama_cpp import Llama


def main():
    path, threads, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    no_repack = "--no-repack" in sys.argv[4:]
    if no_repack:
        orig = lc.llama_model_default_params

        def params():
            p = orig()
            p.use_extra_bufts = False
            return p
        lc.llama_model_default_params = params
    llm = Llama(model_path=path, n_ctx=64, n_batch=16, n_threads=threads, n_threads_batch=threads, verbose=False)
    print("loaded", file=sys.stderr, flush=True)
    n_vocab = llm.n_vocab()
    ctx = llm.ctx
    prompt = [(i * 2654435761) % n_vocab for i in range(8)]
    arr = (lc.llama_token * 8)(*prompt)
    one = (lc.llama_token * 1)()

    def decode(a, count):
        if lc.llama_decode(ctx, lc.llama_batch_get_one(a, count)) != 0:
            raise RuntimeError("llama_decode failed")

    decode(arr, 8)
    one[0] = int(np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, -1), shape=(n_vocab,)).argmax())
    t0 = time.perf_counter()
    for _ in range(n):
        decode(one, 1)
        one[0] = int(np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, -1), shape=(n_vocab,)).argmax())
    dt = time.perf_counter() - t0
    print(json.dumps({"tg_tok_s": n / dt, "tokens": n, "no_repack": no_repack, "version": llama_cpp.__version__}))


if __name__ == "__main__":
    main()
