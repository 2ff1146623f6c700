#!/usr/bin/env python3
"""llama_side.py - one llama.cpp measurement (run by bench/compare.py in its
own process so that its peak RSS is its own): a fresh context evaluates P
prompt tokens in one pass, then generates N tokens one at a time (greedy),
REPS times after one warm-up. Prints one JSON object."""
import json
import resource
import sys
import time

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
    for r in range(reps + 1):
        llm.reset()
        t0 = time.perf_counter()
        if p:
            llm.eval(prompt)
        t1 = time.perf_counter()
        tok = tok0
        for _ in range(n):
            llm.eval([tok])
            tok = int(llm.scores[llm.n_tokens - 1].argmax())
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
