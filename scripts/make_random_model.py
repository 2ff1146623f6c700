#!/usr/bin/env python3
"""make_random_model.py - random-weight GGUF models of any shape, with a real
tokenizer, for benchmarks of models larger than the CPU caches.

The tokenizer (and vocabulary size) is copied from a real GGUF (default: the
SmolLM2 model fetched by scripts/fetch_models.sh); the body is llama-shaped
with the dimensions given, or a preset:

    llama1b   Llama-3.2-1B-shaped: 16 layers, 2048 wide, 32 heads (8 kv), FFN 8192
    smol      SmolLM2-135M-shaped: 30 layers, 576 wide, 9 heads (3 kv), FFN 1536

Weights are random blocks of the chosen type with scales that keep the
activations bounded (norm weights 1), so every kernel runs on realistic bit
patterns; the text it generates is noise. Types: q4_0, q8_0, q4_k_m
(Q4_K for attention/FFN with Q6_K ffn_down and output, as llama.cpp's Q4_K_M).

Usage: python3 scripts/make_random_model.py --preset llama1b --type q4_0 -o models/rand-1b-q4_0.gguf
Needs: pip install gguf numpy
"""
import argparse
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFWriter

PRESETS = {
    "llama1b": dict(n_layer=16, n_embd=2048, n_head=32, n_head_kv=8, n_ff=8192),
    "smol": dict(n_layer=30, n_embd=576, n_head=9, n_head_kv=3, n_ff=1536),
}
QK_K = 256


def f16_bytes(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8)


def random_blocks(rng, qtype, rows, cols):
    """Raw bytes of a rows x cols matrix of random blocks of qtype."""
    if qtype == T.Q8_0:
        nb = rows * cols // 32
        d = f16_bytes(np.full(nb, 0.02 / 127 * 4)).reshape(nb, 2)
        q = rng.integers(-127, 128, size=(nb, 32), dtype=np.int8).view(np.uint8)
        return np.concatenate([d, q], axis=1).reshape(rows, -1)
    if qtype == T.Q4_0:
        nb = rows * cols // 32
        d = f16_bytes(np.full(nb, 0.02 / 8 * 4)).reshape(nb, 2)
        q = rng.integers(0, 256, size=(nb, 16), dtype=np.uint8)
        return np.concatenate([d, q], axis=1).reshape(rows, -1)
    if qtype == T.Q4_K:
        nb = rows * cols // QK_K
        d = f16_bytes(np.full(nb, 0.02 / 64)).reshape(nb, 2)
        dmin = f16_bytes(np.full(nb, 0.02 / 64)).reshape(nb, 2)
        scales = rng.integers(0, 256, size=(nb, 12), dtype=np.uint8)
        q = rng.integers(0, 256, size=(nb, 128), dtype=np.uint8)
        return np.concatenate([d, dmin, scales, q], axis=1).reshape(rows, -1)
    if qtype == T.Q6_K:
        nb = rows * cols // QK_K
        ql = rng.integers(0, 256, size=(nb, 128), dtype=np.uint8)
        qh = rng.integers(0, 256, size=(nb, 64), dtype=np.uint8)
        sc = rng.integers(-20, 21, size=(nb, 16), dtype=np.int8).view(np.uint8)
        d = f16_bytes(np.full(nb, 0.02 / 32 / 20 * 4)).reshape(nb, 2)
        return np.concatenate([ql, qh, sc, d], axis=1).reshape(rows, -1)
    raise ValueError(qtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="llama1b")
    ap.add_argument("--type", choices=["q4_0", "q8_0", "q4_k_m"], default="q4_0")
    ap.add_argument("--tokenizer", default=os.path.join(os.path.dirname(__file__), "..", "models",
                                                         "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    p = PRESETS[a.preset]
    if a.type == "q4_k_m" and (p["n_embd"] % QK_K or p["n_ff"] % QK_K):
        sys.exit("make_random_model: q4_k_m needs widths that are multiples of 256 (%s has %d and %d)"
                 % (a.preset, p["n_embd"], p["n_ff"]))
    rng = np.random.default_rng(a.seed)
    tok = GGUFReader(a.tokenizer)
    n_vocab = len(tok.fields["tokenizer.ggml.tokens"].data)

    w = GGUFWriter(a.output, "llama")
    w.add_name("random %s %s" % (a.preset, a.type))
    w.add_block_count(p["n_layer"])
    w.add_context_length(8192)
    w.add_embedding_length(p["n_embd"])
    w.add_feed_forward_length(p["n_ff"])
    w.add_head_count(p["n_head"])
    w.add_head_count_kv(p["n_head_kv"])
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(p["n_embd"] // p["n_head"])
    for key, field in tok.fields.items():  # the tokenizer, verbatim
        if not key.startswith("tokenizer."):
            continue
        if key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges"):
            w.add_array(key, [bytes(field.parts[i]).decode("utf-8", "surrogateescape") for i in field.data])
        elif key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
            w.add_array(key, [field.parts[i][0].item() for i in field.data])
        elif key == "tokenizer.ggml.model" or key == "tokenizer.ggml.pre" or key == "tokenizer.chat_template":
            w.add_string(key, bytes(field.parts[field.data[0]]).decode())
        elif field.types and field.types[0].name == "BOOL":
            w.add_bool(key, bool(field.parts[field.data[0]][0]))
        else:
            w.add_uint32(key, int(field.parts[field.data[0]][0]))

    e, ff, hd = p["n_embd"], p["n_ff"], p["n_embd"] // p["n_head"]

    kv = p["n_head_kv"] * hd
    main_t = {"q4_0": T.Q4_0, "q8_0": T.Q8_0, "q4_k_m": T.Q4_K}[a.type]
    down_t = T.Q6_K if a.type == "q4_k_m" else main_t
    out_t = T.Q6_K if a.type == "q4_k_m" else main_t
    ones = np.ones(e, dtype=np.float32)

    def add(name, qtype, rows, cols):
        w.add_tensor(name, random_blocks(rng, qtype, rows, cols), raw_dtype=qtype)

    add("token_embd.weight", main_t, n_vocab, e)
    w.add_tensor("output_norm.weight", ones)
    add("output.weight", out_t, n_vocab, e)
    for il in range(p["n_layer"]):
        b = "blk.%d." % il
        w.add_tensor(b + "attn_norm.weight", ones)
        w.add_tensor(b + "ffn_norm.weight", ones)
        add(b + "attn_q.weight", main_t, e, e)
        add(b + "attn_k.weight", main_t, kv, e)
        add(b + "attn_v.weight", main_t, kv, e)
        add(b + "attn_output.weight", main_t, e, e)
        add(b + "ffn_gate.weight", main_t, ff, e)
        add(b + "ffn_up.weight", main_t, ff, e)
        add(b + "ffn_down.weight", down_t, e, ff)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("%s: %.1f MiB" % (a.output, os.path.getsize(a.output) / 2**20), file=sys.stderr)


if __name__ == "__main__":
    main()
