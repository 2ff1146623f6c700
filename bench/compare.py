#!/usr/bin/env python3
"""compare.py - flashlm against llama.cpp, side by side.

For each model: the same GGUF file, the same thread count, the same prompt
length and generation length; the two engines run alternately for several
rounds (each round a fresh process per engine, several repetitions inside),
and the medians over all repetitions and their ratio are printed as a
Markdown table (paste into BENCHMARKS.md).

llama.cpp is llama-cpp-python (built from source with GGML_NATIVE: see
scripts/refs/README.md), run through bench/llama_side.py with the Python of
--llama-python (default /opt/llamaenv/bin/python).

Usage: bench/compare.py [--threads 1,2] [-p 128] [-n 64] [--rounds 3] [--reps 3] MODEL.gguf ...
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def run_flashlm(binary, model, threads, p, n, reps):
    out = subprocess.run([binary, "bench", "-m", model, "-t", str(threads), "-p", str(p), "-n", str(n),
                          "-r", str(reps), "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def run_llama(python, model, threads, p, n, reps):
    out = subprocess.run([python, os.path.join(ROOT, "bench", "llama_side.py"), model, str(threads), str(p), str(n),
                          str(reps)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("-p", type=int, default=128)
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--flashlm", default=os.path.join(ROOT, "build", "flashlm"))
    ap.add_argument("--llama-python", default="/opt/llamaenv/bin/python")
    a = ap.parse_args()
    rows, sysinfo = [], None
    for model in a.models:
        size = os.path.getsize(model) / 2**20
        for t in [int(x) for x in a.threads.split(",")]:
            f_pp, f_tg, l_pp, l_tg, f_rss, l_rss, f_bw = [], [], [], [], [], [], []
            for _ in range(a.rounds):
                f = run_flashlm(a.flashlm, model, t, a.p, a.n, a.reps)
                l = run_llama(a.llama_python, model, t, a.p, a.n, a.reps)
                sysinfo = l["system_info"]
                f_pp.append(f["pp"]["tok_s_median"])
                f_tg.append(f["tg"]["tok_s_median"])
                f_bw.append(f["tg_bandwidth_gb_s"])
                f_rss.append(f["peak_rss_bytes"])
                l_pp += l["pp"]
                l_tg += l["tg"]
                l_rss.append(l["peak_rss_bytes"])
            m = statistics.median
            rows.append((os.path.basename(model), size, t, m(f_pp), m(l_pp), m(f_tg), m(l_tg), m(f_bw),
                         max(f_rss) / 2**20, max(l_rss) / 2**20))
            print("done %s t=%d" % (os.path.basename(model), t), file=sys.stderr)
    print("llama.cpp system info: %s\n" % sysinfo)
    print("| model | MiB | threads | pp%d flashlm | pp%d llama.cpp | ratio | tg%d flashlm | tg%d llama.cpp | ratio "
          "| flashlm GB/s | peak RSS flashlm / llama.cpp (MiB) |" % (a.p, a.p, a.n, a.n))
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %.0f | %d | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %.2f | %.0f / %.0f |" % (
            r[0], r[1], r[2], r[3], r[4], r[3] / r[4], r[5], r[6], r[5] / r[6], r[7], r[8], r[9]))


if __name__ == "__main__":
    main()
