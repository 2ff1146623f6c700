#!/usr/bin/env python3
"""budget_compare.py - flashlm under --mem-budget against llama.cpp under the
same memory limit, each in a real memory cgroup (v1 or v2) limited to the
budget, with the page cache dropped before every run (cold), 2 threads.

For each MODEL and each budget (percent of the file size):
  * flashlm bench --mem-budget B (generation tokens/s, bytes read from the
    file per token, I/O wait vs compute, read rate) in a cgroup of B;
  * llama.cpp (llama-cpp-python, default mmap) in a cgroup of B: its default
    load, which copies weights into repacked buffers, and with repacking off
    (use_extra_bufts = false, as --no-repack);
  * the cgroup's recorded peak and OOM kills for every run;
and, once per model, flashlm without a budget (in memory, warm) for the
ratio. Needs root. Prints a JSON line per run and a Markdown table.

--flashlm-args "FLAGS" (may be repeated) adds flags to every flashlm run of
a variant (each variant runs in memory and under each budget), e.g.
"--sparsity 50" and "--sparsity 50 --sparse-window 4" on a calibrated,
bundled file; its rows also give the neuron cache's hit rate and reads.
--no-llama leaves out the llama.cpp runs. --reps R runs each engine R times
per budget, alternating, and the table shows the median run (all figures in
brackets): llama.cpp's thrashing under a limit varies several-fold between
runs.

Usage: sudo python3 bench/budget_compare.py [-n TOKENS] [--pct 50 25] [--flashlm-args FLAGS]... [--no-llama] MODEL...
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FLASHLM = os.path.join(ROOT, "build", "flashlm")
LLAMA_PY = "/opt/llamaenv/bin/python"


class Cgroup:
    def __init__(self, name):
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            self.v = 2
            try:
                self._w("/sys/fs/cgroup/cgroup.subtree_control", "+memory")
            except OSError:
                pass
            self.path = "/sys/fs/cgroup/" + name
        else:
            self.v = 1
            self.path = "/sys/fs/cgroup/memory/" + name
        os.makedirs(self.path, exist_ok=True)

    @staticmethod
    def _w(path, value):
        with open(path, "w") as f:
            f.write(value)

    def _r(self, name, key=None):
        try:
            with open(os.path.join(self.path, name)) as f:
                for line in f:
                    if key is None:
                        return int(line.split()[0])
                    k, v = line.split()[:2]
                    if k == key:
                        return int(v)
        except OSError:
            return None
        return None

    def limit(self, nbytes):
        if self.v == 1:
            self._w(self.path + "/memory.limit_in_bytes", str(nbytes))
            self._w(self.path + "/memory.max_usage_in_bytes", "0")
        else:
            self._w(self.path + "/memory.max", str(nbytes))
            try:
                self._w(self.path + "/memory.swap.max", "0")
                self._w(self.path + "/memory.peak", "0")  # resets on kernels that allow it
            except OSError:
                pass

    def peak(self):
        return self._r("memory.max_usage_in_bytes") if self.v == 1 else self._r("memory.peak")

    def ooms(self):
        return (self._r("memory.oom_control", "oom_kill") if self.v == 1 else self._r("memory.events", "oom_kill")) or 0

    def run(self, argv, timeout):
        """Runs argv inside the cgroup; returns (rc, stdout, stderr, seconds)."""
        cmd = ["sh", "-c", 'echo $$ > "$0"/cgroup.procs && exec "$@"', self.path] + argv
        t0 = time.perf_counter()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0
        except subprocess.TimeoutExpired as e:
            return "timeout", e.stdout or "", e.stderr or "", time.perf_counter() - t0

    def remove(self):
        try:
            os.rmdir(self.path)
        except OSError:
            pass


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")


def flashlm_run(cg, model, budget, n, timeout, extra=""):
    argv = [FLASHLM, "bench", "-m", model, "-t", "2", "-p", "8", "-n", str(n), "-r", "1", "--json"] + shlex.split(extra)
    if budget:
        argv += ["--mem-budget", str(budget)]
    ooms0 = cg.ooms() if cg else 0
    if cg:
        cg.limit(budget)
        drop_caches()
        rc, out, err, secs = cg.run(argv, timeout)
    else:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    r = {"engine": "flashlm", "model": os.path.basename(model), "flags": extra, "budget": budget, "rc": rc}
    if cg:
        r.update(peak=cg.peak(), oom_kills=cg.ooms() - ooms0)
    if rc == 0:
        j = json.loads(out)
        r.update(tg_tok_s=j["tg"]["tok_s_median"], read_per_token=j["tg_read_bytes_per_token"],
                 io_wait_s=j["tg_io_wait_s_per_token"], compute_s=j["tg_compute_s_per_token"],
                 read_gb_s=j["tg_read_gb_s"], pinned=j["pinned_bytes"], stream=j["stream_bytes"], io=j["io"],
                 hit_rate=j.get("cache_hit_rate"), neuron_read_per_token=j.get("tg_neuron_read_bytes_per_token", 0),
                 neuron_layers=j.get("neuron_layers", 0), neuron_capacity=j.get("neuron_capacity", 0))
    else:
        r["error"] = err.strip().splitlines()[-1] if err.strip() else ""
    return r


def llama_run(cg, model, budget, n, no_repack, timeout):
    argv = [LLAMA_PY, os.path.join(HERE, "llama_budget.py"), model, "2", str(n)] + (["--no-repack"] if no_repack else [])
    ooms0 = cg.ooms()
    cg.limit(budget)
    drop_caches()
    rc, out, err, secs = cg.run(argv, timeout)
    r = {"engine": "llama.cpp" + (" no-repack" if no_repack else ""), "model": os.path.basename(model),
         "budget": budget, "rc": rc, "peak": cg.peak(), "oom_kills": cg.ooms() - ooms0,
         "loaded": "loaded" in err}
    if rc == 0:
        r.update(json.loads(out.strip().splitlines()[-1]))
    return r


def median_run(rs):
    """The median of the runs that finished (the mean of the middle two for an even count; every figure is
    listed in the table), or the first failed run when none finished."""
    ok = sorted((r for r in rs if r.get("rc") == 0), key=lambda r: r["tg_tok_s"])
    if not ok:
        return rs[0]
    med = dict(ok[(len(ok) - 1) // 2])
    med["tg_tok_s"] = (ok[(len(ok) - 1) // 2]["tg_tok_s"] + ok[len(ok) // 2]["tg_tok_s"]) / 2
    if len(rs) > 1:
        med["all_tok_s"] = [round(r["tg_tok_s"], 2) if r.get("rc") == 0 else None for r in rs]
    return med


def fmt(r):
    if r.get("rc") != 0:
        if r.get("oom_kills"):
            return "OOM-killed " + ("while generating" if r.get("loaded") else "at load")
        return "failed (%s)" % (r.get("error") or r.get("rc"))
    if r.get("all_tok_s"):
        return "%.2f (%s)" % (r["tg_tok_s"], ", ".join("%.2f" % v if v is not None else "failed" for v in r["all_tok_s"]))
    return "%.2f" % r["tg_tok_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--pct", type=int, nargs="+", default=[50, 25])
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--flashlm-args", action="append", default=None,
                    help="flags for every flashlm run of a variant (repeat for more variants)")
    ap.add_argument("--no-llama", action="store_true", help="leave out the llama.cpp runs")
    ap.add_argument("--reps", type=int, default=1,
                    help="runs of each engine per budget, alternating; the table shows the median (default 1)")
    a = ap.parse_args()
    if a.no_llama or a.flashlm_args:
        return flashlm_variants(a)
    cg = Cgroup("flm_budget_compare_%d" % os.getpid())
    rows = []
    try:
        for m in a.models:
            size = os.path.getsize(m)
            mem = flashlm_run(None, m, 0, a.n, a.timeout)
            print(json.dumps(mem), flush=True)
            for pct in a.pct:
                b = size * pct // 100
                runs = [[], [], []]  # flashlm, llama.cpp default, no-repack; alternating, --reps times
                for rep in range(a.reps):
                    for k, run in enumerate((lambda: flashlm_run(cg, m, b, a.n, a.timeout),
                                             lambda: llama_run(cg, m, b, a.n, False, a.timeout),
                                             lambda: llama_run(cg, m, b, a.n, True, a.timeout))):
                        if rep and runs[k][0].get("rc") != 0:
                            continue  # failed (OOM-killed) once: it fails again
                        r = run()
                        r["rep"] = rep
                        print(json.dumps(r), flush=True)
                        runs[k].append(r)
                rows.append((m, pct, b, mem, [median_run(rs) for rs in runs]))
    finally:
        cg.remove()
    print("\n| model | budget | flashlm tok/s | in-memory tok/s | of in-memory | MiB read/token | I/O wait / compute ms per token | "
          "read GB/s | peak MiB | llama.cpp default | llama.cpp no-repack (peak MiB) | flashlm / no-repack |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for m, pct, b, mem, (f, ld, ln) in rows:
        ok = f.get("rc") == 0
        ratio = "%.1fx" % (f["tg_tok_s"] / ln["tg_tok_s"]) if ok and ln.get("rc") == 0 else "-"
        print("| %s | %d%% (%.0f MiB) | %s | %.2f | %s | %s | %s | %s | %s | %s | %s (%s) | %s |" % (
            os.path.basename(m), pct, b / 2**20, fmt(f), mem["tg_tok_s"],
            "%.0f%%" % (100 * f["tg_tok_s"] / mem["tg_tok_s"]) if ok else "-",
            "%.1f" % (f["read_per_token"] / 2**20) if ok else "-",
            "%.0f / %.0f" % (f["io_wait_s"] * 1e3, f["compute_s"] * 1e3) if ok else "-",
            "%.2f" % f["read_gb_s"] if ok else "-",
            "%.1f" % (f["peak"] / 2**20) if f.get("peak") else "-",
            fmt(ld), fmt(ln), "%.1f" % (ln["peak"] / 2**20) if ln.get("peak") else "-", ratio))


def flashlm_variants(a):
    """flashlm alone, one row per model, variant and budget (the neuron cache columns)."""
    cg = Cgroup("flm_budget_compare_%d" % os.getpid())
    rows = []
    try:
        for m in a.models:
            size = os.path.getsize(m)
            for extra in a.flashlm_args or [""]:
                mems, fs = [], {pct: [] for pct in a.pct}
                for rep in range(a.reps):  # in memory, then each budget, alternating
                    mems.append(flashlm_run(None, m, 0, a.n, a.timeout, extra))
                    print(json.dumps(mems[-1]), flush=True)
                    for pct in a.pct:
                        fs[pct].append(flashlm_run(cg, m, size * pct // 100, a.n, a.timeout, extra))
                        print(json.dumps(fs[pct][-1]), flush=True)
                for pct in a.pct:
                    rows.append((m, extra, pct, size * pct // 100, median_run(mems), median_run(fs[pct])))
    finally:
        cg.remove()
    print("\n| model | flags | budget | tok/s | in-memory tok/s (same flags) | of in-memory | MiB read/token | "
          "of which neuron reads | neuron cache (layers x neurons) | hit rate | I/O wait / compute ms per token | "
          "peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for m, extra, pct, b, mem, f in rows:
        ok = f.get("rc") == 0
        print("| %s | %s | %d%% (%.0f MiB) | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            os.path.basename(m), extra or "(dense)", pct, b / 2**20, fmt(f),
            "%.2f" % mem["tg_tok_s"] if mem.get("rc") == 0 else fmt(mem),
            "%.0f%%" % (100 * f["tg_tok_s"] / mem["tg_tok_s"]) if ok and mem.get("rc") == 0 else "-",
            "%.1f" % (f["read_per_token"] / 2**20) if ok else "-",
            "%.1f" % (f["neuron_read_per_token"] / 2**20) if ok and f.get("neuron_layers") else "-",
            "%d x %d" % (f["neuron_layers"], f["neuron_capacity"]) if ok and f.get("neuron_layers") else "-",
            "%.3f" % f["hit_rate"] if ok and f.get("hit_rate") is not None else "-",
            "%.0f / %.0f" % (f["io_wait_s"] * 1e3, f["compute_s"] * 1e3) if ok else "-",
            "%.1f" % (f["peak"] / 2**20) if f.get("peak") else "-"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
