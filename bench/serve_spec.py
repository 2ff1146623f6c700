#!/usr/bin/env python3
# serve_spec.py - `flashlm serve --spec lookup` against the same server
# without it: one client, greedy chat requests on bench/spec_prompts.py's
# prompts (default code_edit), alternating between the two servers.
#
# Reports per server the client-side generated tokens/s (median over rounds,
# wall time of the whole request), the server-side rate (generated tokens
# per second spent in forward passes, from /metrics), the acceptance rate and
# mean accepted length (from /metrics), and whether every answer was the same
# text on both servers.
#
# usage: bench/serve_spec.py [--prompt code_edit] [--rounds 3] [--max-tokens 128] [--threads 2]
#                            [--draft-max 8]
#   (FLM_BIN / FLM_MODEL override the defaults)
import argparse
import json
import statistics
import time
import urllib.request

from serve_common import Server, default_paths
from spec_prompts import PROMPTS


def ask(url, content, max_tokens):
    body = {"model": "x", "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
            "temperature": 0}
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t0 = time.time()
    r = json.load(urllib.request.urlopen(req, timeout=600))
    return r["choices"][0]["message"]["content"], r["usage"]["completion_tokens"], time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompt", default="code_edit")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--draft-max", type=int, default=8)
    a = ap.parse_args()
    content = dict(PROMPTS)[a.prompt]
    binary, model = default_paths()
    common = ["--parallel", "1", "-c", "1024", "-t", str(a.threads)]
    servers = {"plain": Server(binary, model, *common),
               "spec": Server(binary, model, *common, "--spec", "lookup", "--draft-max", str(a.draft_max))}
    rates = {k: [] for k in servers}
    same = True
    try:
        for r in range(a.rounds):
            # a different first line each round defeats prefix reuse, so every request reads its whole prompt
            got = []
            for k, s in servers.items():
                text, n, dt = ask(s.url, f"(request {r})\n" + content, a.max_tokens)
                rates[k].append(n / dt)
                got.append(text)
            same &= got[0] == got[1]
        m = {k: s.metrics() for k, s in servers.items()}
    finally:
        for s in servers.values():
            s.stop()
    srv = {k: m[k]["flashlm_generated_tokens_total"] / m[k]["flashlm_busy_seconds_total"] for k in servers}
    print(f"prompt {a.prompt}, {a.rounds} rounds, max_tokens {a.max_tokens}, {a.threads} threads")
    print("| server | client tok/s (median) | server tok/s (busy) | acceptance | mean accepted length |")
    print("|---|---|---|---|---|")
    for k in servers:
        print(f"| {k} | {statistics.median(rates[k]):.1f} | {srv[k]:.1f} | "
              f"{m[k]['flashlm_spec_acceptance_rate']:.2f} | {m[k]['flashlm_spec_mean_accepted_length']:.2f} |")
    print(f"ratio spec/plain: client {statistics.median(rates['spec']) / statistics.median(rates['plain']):.2f}x, "
          f"server {srv['spec'] / srv['plain']:.2f}x")
    print("outputs identical in every round:", same)


if __name__ == "__main__":
    main()
