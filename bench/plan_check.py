#!/usr/bin/env python3
"""plan_check.py - `flashlm plan`'s predictions against measured runs.

For each MODEL, without a budget (in memory, warm: the sanity row) and at
each budget (percent of the file size): runs `flashlm plan --json` with the
context the measured run uses, then the measured run itself with
budget_compare.py's machinery (`flashlm bench --mem-budget B -t 2 -p 8 -n N`,
in a memory cgroup of B, page cache dropped before it: cold), and prints
predicted and measured tokens/s, the error, and the bytes read, I/O wait and
compute per token of both. The goal: every error within +-25%. Needs root
for the budget rows.

Usage: sudo python3 bench/plan_check.py [-n 16] MODEL... [--pct 50 25] [--reps R]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import budget_compare  # noqa: E402  (the cgroup, drop-cache and bench runner)

PROMPT = 8  # budget_compare.flashlm_run's -p


def plan(model, budget, n, timeout):
    argv = [budget_compare.FLASHLM, "plan", "-m", model, "-t", "2", "-c", str(PROMPT + n + 1), "-b", str(PROMPT),
            "--json"]
    if budget:
        argv += ["--mem-budget", str(budget)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        return {"rc": p.returncode, "error": p.stderr.strip()}
    j = json.loads(p.stdout)
    pr = j["predicted"]
    return {"rc": 0, "tok_s": pr["tok_s"], "read_per_token": pr["read_bytes_per_token"],
            "io_wait_s": pr["io_wait_s"], "compute_s": pr["compute_s"], "read_bps": j["read_bytes_per_s"],
            "mem_bps": j["mem_bytes_per_s"], "pinned": j["pinned_bytes"], "slots": j["pool_slots"]}


def median_run(runs, key):
    """The run with the median value of key (the first failure if any failed)."""
    bad = [r for r in runs if r.get("rc") != 0]
    if bad:
        return bad[0]
    runs = sorted(runs, key=lambda r: r[key])
    return runs[(len(runs) - 1) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("--pct", type=int, nargs="+", default=[50, 25])
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--reps", type=int, default=1,
                    help="plan and measured run alternate this many times; the medians are compared")
    a = ap.parse_args()
    cg = budget_compare.Cgroup("flm_plan_check_%d" % os.getpid())
    rows = []
    try:
        for m in a.models:
            size = os.path.getsize(m)
            for pct in [0] + a.pct:
                b = size * pct // 100
                preds, meass = [], []
                for _ in range(a.reps):
                    preds.append(plan(m, b, a.n, a.timeout))
                    meass.append(budget_compare.flashlm_run(cg if b else None, m, b, a.n, a.timeout))
                pred, meas = median_run(preds, "tok_s"), median_run(meass, "tg_tok_s")
                r = {"model": os.path.basename(m), "pct": pct, "budget": b, "predicted": pred, "measured": meas}
                if pred.get("rc") == 0 and meas.get("rc") == 0:
                    r["error"] = pred["tok_s"] / meas["tg_tok_s"] - 1
                print(json.dumps(r), flush=True)
                rows.append(r)
    finally:
        cg.remove()
    print("\n| model | budget | predicted tok/s | measured tok/s | error | MiB read/token (pred / meas) | "
          "I/O wait ms (pred / meas) | compute ms (pred / meas) | pinned MiB, slots |")
    print("|---|---|---|---|---|---|---|---|---|")
    n_ok = 0
    for r in rows:
        p, m = r["predicted"], r["measured"]
        bud = "in memory" if not r["pct"] else "%d%% (%.0f MiB)" % (r["pct"], r["budget"] / 2**20)
        if p.get("rc") != 0 or m.get("rc") != 0:
            print("| %s | %s | %s | %s | - | - | - | - | - |" % (
                r["model"], bud, p.get("error", "-") if p.get("rc") else "%.2f" % p["tok_s"],
                m.get("error", "failed") if m.get("rc") else "%.2f" % m["tg_tok_s"]))
            continue
        n_ok += abs(r["error"]) <= 0.25
        print("| %s | %s | %.2f | %.2f | %+.0f%% | %.1f / %.1f | %.0f / %.0f | %.0f / %.0f | %.1f, %d |" % (
            r["model"], bud, p["tok_s"], m["tg_tok_s"], 100 * r["error"], p["read_per_token"] / 2**20,
            m.get("read_per_token", 0) / 2**20, p["io_wait_s"] * 1e3, m.get("io_wait_s", 0) * 1e3,
            p["compute_s"] * 1e3, m.get("compute_s", 0) * 1e3, p["pinned"] / 2**20, p["slots"]))
    print("\n%d of %d rows within +-25%%" % (n_ok, len(rows)))


if __name__ == "__main__":
    sys.exit(main())
