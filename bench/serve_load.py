#!/usr/bin/env python3
# serve_load.py - `flashlm serve` under load: C concurrent streaming clients
# x R requests each (default 16 x 8) through the official openai client.
#
# Reports failed requests, aggregate generated tokens/s against one client
# alone, the server's RSS before and after the run, and time to first token
# (p50, p99). Before measuring, a warm-up round touches every slot, so RSS
# growth afterwards would be a leak rather than first use of the KV cache.
#
# usage: bench/serve_load.py [--clients 16] [--requests 8] [--max-tokens 64]
#                            [--parallel 16] [--ctx 512] [--threads 2]
#   (needs: pip install openai; FLM_BIN / FLM_MODEL override the defaults)
import argparse
import statistics
import threading
import time

import openai

from serve_common import Server, default_paths

PROMPTS = ["Write a short story about a robot.", "Explain why the sky is blue.", "List five fruits and their colors.",
           "What is a prime number?", "Describe a cat to someone who has never seen one.", "Give me a recipe for soup.",
           "Why do leaves change color in autumn?", "Write a haiku about the sea."]


def one_request(url, i, max_tokens, rec):
    c = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=600)
    t0 = time.time()
    ttft, n = None, 0
    try:
        s = c.chat.completions.create(model="x", messages=[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                                      max_tokens=max_tokens, temperature=0.8, seed=i, stream=True,
                                      stream_options={"include_usage": True})
        for ch in s:
            if ch.choices and ch.choices[0].delta.content and ttft is None:
                ttft = time.time() - t0
            if ch.usage:
                n = ch.usage.completion_tokens
        rec.append((True, ttft if ttft is not None else time.time() - t0, n))
    except Exception as e:  # counted as a failure
        rec.append((False, str(e), 0))


def run(url, clients, requests, max_tokens, base):
    rec = []

    def client(k):
        for r in range(requests):
            one_request(url, base + k * requests + r, max_tokens, rec)
    ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.time() - t0
    ok = [r for r in rec if r[0]]
    toks = sum(r[2] for r in ok)
    ttfts = sorted(r[1] for r in ok)
    return {"requests": len(rec), "failed": len(rec) - len(ok), "tokens": toks, "wall_s": wall,
            "tok_s": toks / wall, "ttft_p50": statistics.median(ttfts) if ttfts else None,
            "ttft_p99": ttfts[min(len(ttfts) - 1, int(0.99 * len(ttfts)))] if ttfts else None,
            "errors": [r[1] for r in rec if not r[0]][:3]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--parallel", type=int, default=16)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--single-requests", type=int, default=3)
    a = ap.parse_args()
    binary, model = default_paths()
    srv = Server(binary, model, "--parallel", str(a.parallel), "-c", str(a.ctx), "--queue", "256",
                 *(["-t", str(a.threads)] if a.threads else []))
    try:
        # warm-up: a long prompt in every slot touches the KV cache pages the
        # measured requests will use, then one round like them, so RSS growth
        # afterwards is not first use of memory
        touch = [threading.Thread(target=lambda k=k: openai.OpenAI(base_url=srv.url + "/v1", api_key="none").completions
                                  .create(model="x", prompt=f"{k} " + "word " * (a.max_tokens + 96), max_tokens=1))
                 for k in range(a.parallel)]
        for t in touch:
            t.start()
        for t in touch:
            t.join()
        run(srv.url, a.parallel, 1, a.max_tokens, 10000)
        m0 = srv.metrics()
        single = run(srv.url, 1, a.single_requests, a.max_tokens, 20000)
        m1 = srv.metrics()
        rss0 = srv.rss_kib()
        load = run(srv.url, a.clients, a.requests, a.max_tokens, 0)
        rss1 = srv.rss_kib()
        m2 = srv.metrics()
        single2 = run(srv.url, 1, a.single_requests, a.max_tokens, 30000)  # again: the machine is shared
        m3 = srv.metrics()
    finally:
        rc = srv.stop()

    def busy_rate(x, y):  # generated tokens per second the server spent in forward passes
        g = y["flashlm_generated_tokens_total"] - x["flashlm_generated_tokens_total"]
        return g / max(1e-9, y["flashlm_busy_seconds_total"] - x["flashlm_busy_seconds_total"])
    one = (single["tok_s"] + single2["tok_s"]) / 2
    one_busy = (busy_rate(m0, m1) + busy_rate(m2, m3)) / 2
    for name, r in (("single client (before)", single), ("single client (after)", single2)):
        print(f"{name}: {r['requests']} requests, {r['failed']} failed, {r['tokens']} tokens in {r['wall_s']:.1f} s "
              f"= {r['tok_s']:.1f} tok/s, TTFT p50 {r['ttft_p50']:.3f} s")
    print(f"{a.clients} clients x {a.requests}: {load['requests']} requests, {load['failed']} failed, "
          f"{load['tokens']} tokens in {load['wall_s']:.1f} s = {load['tok_s']:.1f} tok/s "
          f"({load['tok_s'] / one:.2f}x one client's {one:.1f})")
    print(f"server-side (generated tokens per second of forward passes): one client {one_busy:.1f}, "
          f"{a.clients} clients {busy_rate(m1, m2):.1f} ({busy_rate(m1, m2) / one_busy:.2f}x)")
    print(f"TTFT p50 {load['ttft_p50']:.3f} s, p99 {load['ttft_p99']:.3f} s")
    print(f"server RSS before {rss0 / 1024:.1f} MiB, after {rss1 / 1024:.1f} MiB ({100.0 * (rss1 - rss0) / rss0:+.2f}%)")
    print(f"metrics: prompt tokens {m3['flashlm_prompt_tokens_total']:.0f} (+{m3['flashlm_prompt_tokens_cached_total']:.0f} "
          f"reused from cache), generated {m3['flashlm_generated_tokens_total']:.0f}, 5xx "
          f"{m3['flashlm_http_responses_5xx_total']:.0f}; exit status after SIGTERM {rc}")
    if load["errors"]:
        print("first errors:", load["errors"])


if __name__ == "__main__":
    main()
