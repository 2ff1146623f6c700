#!/usr/bin/env python3
"""llama_side.py - one llama.cpp measurement (run by bench/compare.py in its
own process so that its peak RSS is its own): a fresh context evaluates P
prompt tokens in one pass, then generates N tokens one at a time (greedy),
REPS times after one warm-up. Prints one JSON object."""
import json
import resource
import sys
import time

import numpy as np

import llama_cpp
from llama_cpp import Llama


def main():
    path, threads, p, n, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    llm = Llama(model_path=path, n_ctx=p + n + 8, n_batch=max(p, 1), n_ubatch=max(p, 1), n_threads=threads,
                n_threads_batch=threads, verbose=False)
    n_vocab = llm.n_vocab()
    prompt = [(i * 2654435761) % n_vocab for i in range(p)]
    tok0 = llm.token_bos() if llm.token_bos() >= 0 else 1
    pp, tg = [], []
    ctx = llm.ctx
    mem = llama_cpp.llama_get_memory(ctx)
    parr = (llama_cpp.llama_token * max(p, 1))(*prompt)
    one = (llama_cpp.llama_token * 1)()

    def decode(arr, count):  # straight to llama_decode, as llama-bench does
        if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, count)) != 0:
            raise RuntimeError("llama_decode failed")

    for r in range(reps + 1):
        llama_cpp.llama_memory_clear(mem, True)
        t0 = time.perf_counter()
        if p:
            decode(parr, p)
        t1 = time.perf_counter()
        one[0] = tok0
        for _ in range(n):
            decode(one, 1)
            logits = llama_cpp.llama_get_logits_ith(ctx, -1)
            one[0] = int(np.ctypeslib.as_array(logits, shape=(n_vocab,)).argmax())
        t2 = time.perf_counter()
        if r:  # the first run is a warm-up
            pp.append(p / (t1 - t0) if p else 0.0)
            tg.append(n / (t2 - t1) if n else 0.0)
    info = llama_cpp.llama_print_system_info()
    print(json.dumps({"pp": pp, "tg": tg, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "system_info": info.decode() if isinstance(info, bytes) else info,
                      "version": llama_cpp.__version__}))


if __name__ == "__main__":
    main()
