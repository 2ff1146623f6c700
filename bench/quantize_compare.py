#!/usr/bin/env python3
"""quantize_compare.py - `flashlm quantize` against llama.cpp's
llama_model_quantize, side by side on the same file, type and thread count.

The two run alternately (fresh process each, output to a temporary folder),
--rounds times; the medians of wall-clock and CPU time (user + system, the
steadier figure on a shared machine) and the ratios llama.cpp / flashlm are
printed as a Markdown table, and each pair of outputs is checked to be the
same bytes. llama.cpp's figures include starting Python and loading its
libraries (`python -c "import llama_cpp"`: 0.3 s of CPU, measured; its wall
time varies with the machine's load).
llama.cpp is llama-cpp-python (--llama-python, default
/opt/llamaenv/bin/python) with allow_requantize, since the default models
are already quantized.

Usage: bench/quantize_compare.py [--threads 2] [--rounds 3] [--types Q8_0,Q4_K_M] MODEL.gguf ...
"""
import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "refs"))
FTYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_S": 11,
          "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18, "BF16": 32}

LLAMA = """
import ctypes, sys, llama_cpp
p = llama_cpp.llama_model_quantize_default_params()
p.ftype = int(sys.argv[3]); p.nthread = int(sys.argv[4]); p.allow_requantize = True
sys.exit(llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(p)))
"""


def timed(cmd):
    """(wall seconds, CPU seconds user + system) of one run."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--types", default="Q8_0,Q4_K_M")
    ap.add_argument("--flashlm", default=os.path.join(ROOT, "build", "flashlm"))
    ap.add_argument("--llama-python", default="/opt/llamaenv/bin/python")
    a = ap.parse_args()
    print("| model | type | flashlm wall s | llama.cpp wall s | ratio | flashlm CPU s | llama.cpp CPU s | ratio | same bytes |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        out_f, out_l = os.path.join(tmp, "f.gguf"), os.path.join(tmp, "l.gguf")
        for model in a.models:
            for ty in a.types.split(","):
                tf, tl = [], []
                for _ in range(a.rounds):
                    tf.append(timed([a.flashlm, "quantize", "-q", model, out_f, ty, "-t", str(a.threads)]))
                    tl.append(timed([a.llama_python, "-c", LLAMA, model, out_l, str(FTYPES[ty]), str(a.threads)]))
                mf, ml = (statistics.median(x[0] for x in v) for v in (tf, tl))
                cf, cl = (statistics.median(x[1] for x in v) for v in (tf, tl))
                print("| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %s |"
                      % (os.path.basename(model), ty, mf, ml, ml / mf, cf, cl, cl / cf,
                         "yes" if sha(out_f) == sha(out_l) else "NO"), flush=True)


if __name__ == "__main__":
    main()
