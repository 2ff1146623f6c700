#!/usr/bin/env python3
"""llama_refs.py - regenerate the llama.cpp reference fixtures for flashlm's
end-to-end tests.

llama.cpp (through llama-cpp-python) is the correctness oracle. For each of
the two default models this writes three plain-text files into
tests/fixtures/e2e/ (formats documented in scripts/refs/README.md):

  <tag>.greedy.txt   prompts, their token ids and 128 greedy token ids
  <tag>.logits.txt   per evaluated position: max|logit|, top-32, 64 probe ids
  <tag>.ppl.txt      llama-perplexity style perplexity of the GPL-3 text

Run with the llama-cpp-python venv:

    /opt/llamaenv/bin/python scripts/refs/llama_refs.py [--only smollm2|smollm2_q4_0|gemma3]

Everything is deterministic: greedy decoding, a seeded RNG for the probe ids,
a fixed thread count.
"""

import argparse
import hashlib
import os
import sys
import time

# ggml is built with OpenMP; its default spin-waiting makes every decode
# ~15x slower when the 2 cores are shared with other work (builds, fuzzers).
# Passive waiting changes only the scheduling, never the numbers.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import llama_cpp  # noqa: E402
from llama_cpp import Llama  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS_DIR = os.environ.get("FLM_MODELS_DIR", os.path.join(REPO, "models"))
OUT_DIR = os.path.join(REPO, "tests", "fixtures", "e2e")

N_THREADS = 2
N_GEN = 128
TOP_K = 32
N_PROBE = 64
PROBE_SEED = 20240611
GEN_N_CTX = 512
PPL_N_CTX = 512
PPL_TEXT = "/usr/share/common-licenses/GPL-3"
IDS_PER_LINE = 64
MAX_LINE = 4096  # promise to the C parsers: no line is longer than this

MODELS = {
    "smollm2": {
        "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "chat": "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n",
    },
    # SmolLM2 with its Q4_1 matrices requantized to Q4_0 by
    # scripts/requantize_model.py (scripts/fetch_models.sh makes it): llama.cpp
    # repacks Q4_0 and runs its q4_0_8x8 kernels on it.
    "smollm2_q4_0": {
        "file": "SmolLM2-135M-Instruct.Q4_0.gguf",
        "sha256": "390e4d6adc0b16a10f52e4cd230299e06f3ad55feedfa4d1f8baea2c38811717",
        "chat": "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n",
    },
    "gemma3": {
        "file": "gemma-3-270m-q4_k_m.gguf",
        "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "chat": "<start_of_turn>user\n{}<end_of_turn>\n<start_of_turn>model\n",
    },
}

LONG_PARAGRAPH = (
    "The history of computing is a story of steadily shrinking machines. "
    "The first electronic computers filled entire rooms, consumed as much "
    "power as a small town and were programmed by rewiring panels of cables. "
    "Transistors replaced vacuum tubes in the late 1950s, integrated circuits "
    "followed a decade later, and by the 1970s a complete processor fit on a "
    "single chip of silicon no larger than a fingernail. Each step made "
    "computers cheaper, faster and more reliable, and each step put them in "
    "the hands of more people: first universities and governments, then "
    "businesses, then families, and finally almost everyone, in the form of "
    "the telephone in their pocket. Today the most interesting question is "
    "no longer how small a computer can be, but"
)

# (name, text, use the chat template?)
PROMPTS = [
    ("story", "Once upon a time, in a small village at the edge of a dark "
              "forest, there lived", False),
    ("chat_fact", "What is the capital of France, and which river flows "
                  "through it?", True),
    ("code", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci "
             "number.\"\"\"\n", False),
    ("list", "Here is a list of five fruits:\n1. Apple\n2.", False),
    ("french", "La tour Eiffel est un monument emblématique de Paris. "
               "Elle a été construite", False),
    ("chinese", "北京是中国的首都，也是一座历史悠久的城市。", False),
    ("numbers", "In 2024 there were 366 days; 3.14159 * 2 = 6.28318 and "
                "17 + 25 =", False),
    ("long", LONG_PARAGRAPH, False),
]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def escape_text(s):
    """One-line human-readable rendering (comments only; hex is the truth)."""
    return s.encode("unicode_escape").decode("ascii")


def fmt(x):
    return "%.6g" % float(x)


class Writer:
    """Collects lines, checks the line-length promise, writes atomically."""

    def __init__(self, path):
        self.path = path
        self.lines = []

    def line(self, *parts):
        s = " ".join(str(p) for p in parts)
        if len(s) >= MAX_LINE:
            raise RuntimeError("%s: line too long (%d)" % (self.path, len(s)))
        if "\n" in s:
            raise RuntimeError("%s: newline inside a record" % self.path)
        self.lines.append(s)

    def ids(self, key, ids):
        """key N, then lines 'key_at OFFSET id id ...' of IDS_PER_LINE ids."""
        self.line(key, len(ids))
        for off in range(0, len(ids), IDS_PER_LINE):
            chunk = ids[off:off + IDS_PER_LINE]
            self.line(key + "_at", off, *[int(t) for t in chunk])

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="ascii", newline="\n") as f:
            f.write("\n".join(self.lines) + "\n")
        os.replace(tmp, self.path)
        return os.path.getsize(self.path)


def header(w, kind, tag, spec, llm, extra=()):
    w.line("# flashlm e2e fixture:", kind, "- reference values computed by llama.cpp")
    w.line("# regenerate with: /opt/llamaenv/bin/python scripts/refs/llama_refs.py")
    w.line("# format: see scripts/refs/README.md; '#' lines are comments")
    w.line("fixture", kind)
    w.line("llama_cpp_python", llama_cpp.__version__)
    w.line("model", spec["file"])
    w.line("model_tag", tag)
    w.line("model_sha256", spec["sha256"])
    w.line("n_vocab", llm.n_vocab())
    w.line("add_bos", int(vocab_add_bos(llm)))
    w.line("bos", llm.token_bos())
    w.line("eos", llm.token_eos())
    w.line("n_threads", N_THREADS)
    for k, v in extra:
        w.line(k, v)


def vocab_add_bos(llm):
    return bool(llama_cpp.llama_vocab_get_add_bos(llm._model.vocab))


def is_eog(llm, tok):
    return bool(llama_cpp.llama_vocab_is_eog(llm._model.vocab, int(tok)))


def load(path, n_ctx, n_batch):
    return Llama(
        model_path=path,
        n_ctx=n_ctx,
        n_batch=n_batch,
        n_ubatch=n_batch,
        n_threads=N_THREADS,
        n_threads_batch=N_THREADS,
        seed=1234,
        logits_all=True,
        verbose=False,
    )


def tokenize_prompt(llm, text):
    toks = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
    # add_bos=True only asks llama.cpp to add BOS when the vocab wants it
    # (tokenizer.ggml.add_bos_token); check that on a plain word, because a
    # chat prompt may legitimately start with the BOS id (SmolLM2's BOS is
    # <|im_start|>).
    probe = llm.tokenize(b"Hello", add_bos=True, special=True)
    bare = llm.tokenize(b"Hello", add_bos=False, special=True)
    if vocab_add_bos(llm):
        assert probe == [llm.token_bos()] + bare, "model wants BOS but none was added"
        assert toks[0] == llm.token_bos()
    else:
        assert probe == bare, "BOS added although add_bos is false"
    return toks


def argmax_lowest(logits):
    # np.argmax returns the first (lowest) index among equal maxima
    return int(np.argmax(logits))


def top_k_lowest(logits, k):
    """Ids of the k largest logits, descending; equal logits in increasing
    id order (the same order a stable sort on -logit gives)."""
    kth = np.partition(logits, len(logits) - k)[len(logits) - k]
    cand = np.nonzero(logits >= kth)[0]  # increasing ids, ties included
    order = cand[np.argsort(-logits[cand], kind="stable")]
    return order[:k]


def greedy_case(llm, prompt_ids):
    """Evaluate the prompt, then N_GEN greedy steps one token at a time.
    Returns (generated ids, list of per-position logit rows)."""
    llm.reset()
    llm.eval(prompt_ids)
    n_prompt = len(prompt_ids)
    rows = [np.array(llm.scores[i], dtype=np.float32, copy=True)
            for i in range(n_prompt)]
    gen = []
    for step in range(N_GEN):
        tok = argmax_lowest(rows[-1])
        gen.append(tok)
        if step + 1 < N_GEN:
            llm.eval([tok])
            rows.append(np.array(llm.scores[llm.n_tokens - 1],
                                 dtype=np.float32, copy=True))
    assert len(rows) == n_prompt + N_GEN - 1
    return gen, rows


def single_vs_batch(llm, prompt_ids, batch_rows):
    """Re-evaluate the prompt one token at a time; per position, the largest
    |difference| over the batch row's top-32 ids, and how often top-1 agrees."""
    llm.reset()
    diffs, agree = [], 0
    for pos, tok in enumerate(prompt_ids):
        llm.eval([tok])
        one = np.asarray(llm.scores[pos], dtype=np.float32)
        ref = batch_rows[pos]
        top = top_k_lowest(ref, TOP_K)
        diffs.append(float(np.max(np.abs(one[top] - ref[top]))))
        agree += int(argmax_lowest(one) == int(top[0]))
    return np.array(diffs), agree


def first_index(seq, pred):
    for i, t in enumerate(seq):
        if pred(t):
            return i
    return -1


def write_generation(tag, spec, path):
    llm = load(path, GEN_N_CTX, GEN_N_CTX)
    n_vocab = llm.n_vocab()
    rng = np.random.default_rng(PROBE_SEED)
    probe = np.sort(rng.choice(n_vocab, size=N_PROBE, replace=False))

    g = Writer(os.path.join(OUT_DIR, tag + ".greedy.txt"))
    lg = Writer(os.path.join(OUT_DIR, tag + ".logits.txt"))
    header(g, "greedy", tag, spec, llm,
           [("n_ctx", GEN_N_CTX), ("n_batch", GEN_N_CTX), ("n_gen", N_GEN),
            ("n_cases", len(PROMPTS))])
    header(lg, "logits", tag, spec, llm,
           [("n_ctx", GEN_N_CTX), ("n_batch", GEN_N_CTX), ("n_gen", N_GEN),
            ("n_cases", len(PROMPTS)), ("top_k", TOP_K),
            ("n_probe", N_PROBE), ("probe_seed", PROBE_SEED)])
    lg.line("probe_ids", N_PROBE, *[int(p) for p in probe])

    report = []
    noise = []
    for name, body, chat in PROMPTS:
        text = spec["chat"].format(body) if chat else body
        ids = tokenize_prompt(llm, text)
        assert len(ids) + N_GEN <= GEN_N_CTX, (tag, name, len(ids))
        gen, rows = greedy_case(llm, ids)
        eos_at = first_index(gen, lambda t: t == llm.token_eos())
        eog_at = first_index(gen, lambda t: is_eog(llm, t))
        continuation = llm.detokenize(gen, special=True).decode("utf-8", "replace")

        g.line("case", name)
        g.line("# prompt:", escape_text(text))
        g.line("chat", int(chat))
        g.line("prompt_hex", text.encode("utf-8").hex())
        g.ids("prompt_ids", ids)
        g.ids("gen_ids", gen)
        g.line("eos_at", eos_at)
        g.line("eog_at", eog_at)
        g.line("# continuation:", escape_text(continuation))
        g.line("end")

        all_ids = list(ids) + gen
        lg.line("case", name, len(rows), len(ids))
        for pos, row in enumerate(rows):
            top = top_k_lowest(row, TOP_K)
            parts = ["pos", pos, all_ids[pos], fmt(np.max(np.abs(row)))]
            for t in top:
                parts += [int(t), fmt(row[t])]
            parts += [fmt(row[p]) for p in probe]
            lg.line(*parts)
            # the greedy choice must be the reported top-1
            if pos >= len(ids) - 1:
                assert int(top[0]) == all_ids[pos + 1]
        lg.line("end")
        report.append((name, text, len(ids), eos_at, eog_at, continuation))
        noise.append(single_vs_batch(llm, ids, rows[:len(ids)]))

    # llama.cpp's own noise floor: the same prompt positions evaluated one
    # token at a time instead of in one batch (different kernels / F16
    # rounding paths). Tests cannot expect to be closer to llama.cpp than
    # llama.cpp is to itself.
    d = np.concatenate([n[0] for n in noise])
    agree = sum(n[1] for n in noise)
    lg.line("noise_single_vs_batch", "positions", len(d),
            "top32_maxdiff_p50", fmt(np.percentile(d, 50)),
            "top32_maxdiff_p99", fmt(np.percentile(d, 99)),
            "top32_maxdiff_max", fmt(d.max()),
            "top1_agree", agree)
    sizes = (g.save(), lg.save())
    del llm
    return report, sizes


def decode_chunk(llm, batch, chunk, first):
    """One llama_decode of a whole chunk on a cleared KV cache, requesting
    outputs only for positions >= first (as llama-perplexity does). Returns
    the (len(chunk) - first) x n_vocab logits, row r = position first + r."""
    ctx = llm._ctx.ctx
    n = len(chunk)
    for k, tok in enumerate(chunk):
        batch.token[k] = int(tok)
        batch.pos[k] = k
        batch.n_seq_id[k] = 1
        batch.seq_id[k][0] = 0
        batch.logits[k] = 1 if k >= first else 0
    batch.n_tokens = n
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
    if llama_cpp.llama_decode(ctx, batch) != 0:
        raise RuntimeError("llama_decode failed")
    n_vocab = llm.n_vocab()
    ptr = llama_cpp.llama_get_logits(ctx)
    out = np.ctypeslib.as_array(ptr, shape=((n - first) * n_vocab,))
    return out.reshape(n - first, n_vocab).copy()


def write_perplexity(tag, spec, path):
    """Mirror of llama.cpp's llama-perplexity (tools/perplexity, default,
    non-strided mode): tokenize with add_special=true, parse_special=false;
    n_chunk = n_tokens / n_ctx; per chunk clear the KV cache, put BOS in the
    first slot when the vocab adds BOS, decode the n_ctx tokens in one batch,
    and score positions j = n_ctx/2 .. n_ctx-2 (predicting token j+1): nll
    += max + log(sum exp(l - max)) - l[tok], sums in double precision."""
    llm = Llama(model_path=path, n_ctx=PPL_N_CTX, n_batch=PPL_N_CTX,
                n_ubatch=PPL_N_CTX, n_threads=N_THREADS,
                n_threads_batch=N_THREADS, seed=1234, logits_all=False,
                verbose=False)
    with open(PPL_TEXT, "rb") as f:
        raw = f.read()
    tokens = llm.tokenize(raw, add_bos=True, special=False)
    add_bos = vocab_add_bos(llm)
    n_ctx = PPL_N_CTX
    n_chunk = len(tokens) // n_ctx
    first = n_ctx // 2
    assert len(tokens) >= 2 * n_ctx

    w = Writer(os.path.join(OUT_DIR, tag + ".ppl.txt"))
    header(w, "perplexity", tag, spec, llm,
           [("text_file", PPL_TEXT), ("text_sha256", sha256_file(PPL_TEXT)),
            ("text_bytes", len(raw)), ("n_ctx", n_ctx), ("n_batch", n_ctx),
            ("parse_special", 0), ("first", first),
            ("scored_per_chunk", n_ctx - first - 1),
            ("n_tokens", len(tokens)), ("n_chunks", n_chunk)])

    batch = llama_cpp.llama_batch_init(n_ctx, 0, 1)
    nll = 0.0
    count = 0
    running = []
    try:
        for i in range(n_chunk):
            chunk = list(tokens[i * n_ctx:(i + 1) * n_ctx])
            if add_bos:
                chunk[0] = llm.token_bos()
            rows = decode_chunk(llm, batch, chunk, first)
            chunk_nll = 0.0
            for j in range(first, n_ctx - 1):
                row = rows[j - first]
                m = row.max()
                sum_exp = np.sum(np.exp(row - m), dtype=np.float64)
                chunk_nll += float(m) + float(np.log(sum_exp)) - float(row[chunk[j + 1]])
            nll += chunk_nll
            count += n_ctx - first - 1
            ppl_i = float(np.exp(nll / count))
            running.append(ppl_i)
            w.line("chunk", i + 1, "%.17g" % chunk_nll, "%.6f" % ppl_i)
    finally:
        llama_cpp.llama_batch_free(batch)
    ppl = float(np.exp(nll / count))
    w.line("nll_sum", "%.17g" % nll)
    w.line("count", count)
    w.line("ppl", "%.6f" % ppl)
    w.ids("tokens", [int(t) for t in tokens])
    w.line("end")
    size = w.save()
    del llm
    return ppl, running, len(tokens), size


def records(path):
    """Yield the whitespace-split records of a fixture, comments skipped."""
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                yield line.split()


def read_ids(it, key, n):
    out = []
    while len(out) < n:
        r = next(it)
        assert r[0] == key + "_at" and int(r[1]) == len(out), (key, r[:2])
        out += [int(x) for x in r[2:]]
    assert len(out) == n, key
    return out


def verify_fixtures(tag):
    """Re-read the three files the way a C parser would and check that the
    records are complete and consistent with each other."""
    cases, hdr = {}, {}
    it = records(os.path.join(OUT_DIR, tag + ".greedy.txt"))
    for r in it:
        if r[0] != "case":
            hdr[r[0]] = r[1:]
            continue
        c = {}
        for r2 in it:
            if r2[0] == "end":
                break
            if r2[0] in ("prompt_ids", "gen_ids"):
                c[r2[0]] = read_ids(it, r2[0], int(r2[1]))
            else:
                c[r2[0]] = r2[1]
        assert len(c["gen_ids"]) == N_GEN
        assert bytes.fromhex(c["prompt_hex"])
        cases[r[1]] = c
    assert int(hdr["n_cases"][0]) == len(cases)

    it = records(os.path.join(OUT_DIR, tag + ".logits.txt"))
    n_vals = 1 + 2 * TOP_K + N_PROBE
    for r in it:
        if r[0] == "probe_ids":
            assert int(r[1]) == N_PROBE and len(r) == 2 + N_PROBE
        if r[0] == "noise_single_vs_batch":
            assert len(r) == 11 and r[1] == "positions"
        if r[0] != "case":
            continue
        c = cases[r[1]]
        all_ids = c["prompt_ids"] + c["gen_ids"]
        n_rows, n_prompt = int(r[2]), int(r[3])
        assert n_prompt == len(c["prompt_ids"]) and n_rows == len(all_ids) - 1
        for p in range(n_rows):
            r2 = next(it)
            assert r2[0] == "pos" and int(r2[1]) == p and int(r2[2]) == all_ids[p]
            vals = r2[3:]
            assert len(vals) == n_vals, (tag, p, len(vals))
            top = [float(vals[2 + 2 * i]) for i in range(TOP_K)]
            assert all(top[i] >= top[i + 1] for i in range(TOP_K - 1))
            if p >= n_prompt - 1:
                assert int(vals[1]) == all_ids[p + 1], (tag, r[1], p)
        assert next(it)[0] == "end"

    ph, chunks, toks = {}, [], []
    it = records(os.path.join(OUT_DIR, tag + ".ppl.txt"))
    for r in it:
        if r[0] == "chunk":
            chunks.append(float(r[2]))
        elif r[0] == "tokens":
            toks = read_ids(it, "tokens", int(r[1]))
        else:
            ph[r[0]] = r[1:]
    n_ctx = int(ph["n_ctx"][0])
    assert len(toks) == int(ph["n_tokens"][0])
    assert len(chunks) == len(toks) // n_ctx == int(ph["n_chunks"][0])
    count = int(ph["scored_per_chunk"][0]) * len(chunks)
    assert count == int(ph["count"][0])
    assert abs(np.exp(sum(chunks) / count) - float(ph["ppl"][0])) < 1e-5


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=sorted(MODELS), help="one model only")
    ap.add_argument("--quiet", action="store_true", help="no report")
    args = ap.parse_args()

    os.makedirs(OUT_DIR, exist_ok=True)
    info = llama_cpp.llama_print_system_info()
    if isinstance(info, bytes):
        info = info.decode()
    print("llama-cpp-python", llama_cpp.__version__)
    print("system_info:", info.strip())

    total = 0
    for tag, spec in MODELS.items():
        if args.only and tag != args.only:
            continue
        path = os.path.join(MODELS_DIR, spec["file"])
        if not os.path.exists(path):
            sys.exit("llama_refs: missing %s (run scripts/fetch_models.sh)" % path)
        got = sha256_file(path)
        if got != spec["sha256"]:
            sys.exit("llama_refs: %s has sha256 %s, want %s" % (path, got, spec["sha256"]))

        t0 = time.time()
        report, sizes = write_generation(tag, spec, path)
        t1 = time.time()
        ppl, running, n_tok, psize = write_perplexity(tag, spec, path)
        t2 = time.time()
        verify_fixtures(tag)
        total += sum(sizes) + psize
        print("== %s: generation %.1fs, perplexity %.1fs, files %d + %d + %d bytes"
              % (tag, t1 - t0, t2 - t1, sizes[0], sizes[1], psize))
        if not args.quiet:
            for name, text, n_prompt, eos_at, eog_at, cont in report:
                print("-- %s/%s (%d prompt tokens, eos_at %d, eog_at %d)"
                      % (tag, name, n_prompt, eos_at, eog_at))
                print("   prompt:", escape_text(text))
                print("   output:", escape_text(cont))
        print("   perplexity: %d tokens, %d chunks, running %s, final %.4f"
              % (n_tok, len(running), " ".join("%.4f" % r for r in running), ppl))
    print("total fixture bytes: %d (fixtures re-read and verified)" % total)


if __name__ == "__main__":
    main()
