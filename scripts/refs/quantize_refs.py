#!/usr/bin/env python3
"""quantize_refs.py - what llama.cpp's llama_model_quantize writes, as
fixtures for tests/convert/quantize_test.c (tests/fixtures/quantize/).

It builds small deterministic llama-shaped GGUF models (tiny SentencePiece
vocabulary of 259 tokens), quantizes each with llama.cpp to every file type
flashlm offers, and records the SHA-256 of the whole output file and of each
output tensor's bytes with its type. The C test writes the same inputs with
flashlm's GGUF writer (it checks their SHA-256 first), quantizes them with
flashlm and compares every hash.

The models (weights uniform in [-1, 1) from xorshift64, scaled by a power of
two per row, every 37th row zero; the same generator as tests/test_util.h):

  smol  tied embeddings (no output.weight), 8 layers, width 256, 4 heads and
        1 KV head (GQA 4), FFN 160: ffn_down rows (160) are not a multiple of
        256, so K-quant mixes fall back there. Written as F16 and as BF16.
  wide  separate output.weight, 4 layers, width 288 (not a multiple of 256),
        4 heads and 2 KV heads, FFN 256. Written as F32.
  smol_q8  llama.cpp's own Q8_0 of smol F16: requantized (dequantized first)
        to the K-quant mixes (allow_requantize, as flashlm always does).

It also requantizes the two real default models (models/, or
$FLM_MODELS_DIR) as llama.cpp does with allow_requantize and writes their
output files' SHA-256 to real.txt, checked by tests/e2e/quantize_e2e_test.c.

Usage: /opt/llamaenv/bin/python scripts/refs/quantize_refs.py [out_dir]
       (default tests/fixtures/quantize; needs llama-cpp-python, numpy, gguf)
Run time on the 2-core dev machine: about 30 s.
"""
import ctypes
import hashlib
import os
import sys
import tempfile

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFWriter

M64 = (1 << 64) - 1

MODELS = {
    "smol": dict(n_layer=8, n_embd=256, n_head=4, n_head_kv=1, n_ff=160, tied=True),
    "wide": dict(n_layer=4, n_embd=288, n_head=4, n_head_kv=2, n_ff=256, tied=False),
}
N_VOCAB = 259

# llama.cpp's llama_ftype values for the names flashlm accepts
FTYPES = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10,
    "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16,
    "Q5_K_M": 17, "Q6_K": 18, "BF16": 32,
}
REQUANT = ["Q4_K_M", "Q5_K_S", "Q6_K", "Q4_0", "F16"]

# ---------------------------------------------------------------- generator


def fnv1a(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def randf(name, n):
    """n floats uniform in [-1, 1): xorshift64 seeded with fnv1a(name) | 1,
    (x >> 40) * 2^-23 - 1 (exact in float32), as flm_test_randf."""
    s = fnv1a(name) | 1
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        s ^= (s << 13) & M64
        s ^= s >> 7
        s ^= (s << 17) & M64
        out[i] = (s >> 40) * (1.0 / (1 << 23)) - 1.0
    return out.astype(np.float32)


def weight(name, rows, cols):
    """rows x cols: row r scaled by 2^-(3 + r % 4); rows r % 37 == 11 zero."""
    x = randf(name, rows * cols).reshape(rows, cols)
    r = np.arange(rows)
    scale = np.ldexp(np.float32(1), -(3 + r % 4)).astype(np.float32)
    scale[r % 37 == 11] = 0
    return (x * scale[:, None]).astype(np.float32)


def norm(name, n):
    return (np.float32(1) + randf(name, n) * np.float32(0.25)).astype(np.float32)


def to_bf16_bytes(x):
    """Truncated to bfloat16 (exact: the top 16 bits of each float)."""
    u = x.astype(np.float32).view(np.uint32) >> 16
    return u.astype(np.uint16).view(np.uint8).reshape(x.shape[0], -1)


def tensors(p):
    """(name, rows, cols, kind) in file order; kind 'w' weight, 'n' norm."""
    e, hd = p["n_embd"], p["n_embd"] // p["n_head"]
    out = [("token_embd.weight", N_VOCAB, e, "w")]
    for il in range(p["n_layer"]):
        b = "blk.%d." % il
        out += [
            (b + "attn_norm.weight", 1, e, "n"),
            (b + "attn_q.weight", p["n_head"] * hd, e, "w"),
            (b + "attn_k.weight", p["n_head_kv"] * hd, e, "w"),
            (b + "attn_v.weight", p["n_head_kv"] * hd, e, "w"),
            (b + "attn_output.weight", e, p["n_head"] * hd, "w"),
            (b + "ffn_norm.weight", 1, e, "n"),
            (b + "ffn_gate.weight", p["n_ff"], e, "w"),
            (b + "ffn_up.weight", p["n_ff"], e, "w"),
            (b + "ffn_down.weight", e, p["n_ff"], "w"),
        ]
    out.append(("output_norm.weight", 1, e, "n"))
    if not p["tied"]:
        out.append(("output.weight", N_VOCAB, e, "w"))
    return out


def write_model(path, tag, p, dtype):
    w = GGUFWriter(path, "llama")
    w.add_name("flashlm quantize test %s" % tag)
    w.add_block_count(p["n_layer"])
    w.add_context_length(256)
    w.add_embedding_length(p["n_embd"])
    w.add_feed_forward_length(p["n_ff"])
    w.add_head_count(p["n_head"])
    w.add_head_count_kv(p["n_head_kv"])
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_uint32("general.file_type", {"f32": 0, "f16": 1, "bf16": 32}[dtype])
    names = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)]
    w.add_string("tokenizer.ggml.model", "llama")
    w.add_array("tokenizer.ggml.tokens", names)
    w.add_array("tokenizer.ggml.scores", [0.0] * N_VOCAB)
    w.add_array("tokenizer.ggml.token_type", [2, 3, 3] + [6] * 256)
    w.add_uint32("tokenizer.ggml.bos_token_id", 1)
    w.add_uint32("tokenizer.ggml.eos_token_id", 2)
    for name, rows, cols, kind in tensors(p):
        if kind == "n":
            w.add_tensor(name, norm(name, cols))
            continue
        x = weight(name, rows, cols)
        if dtype == "f32":
            w.add_tensor(name, x)
        elif dtype == "f16":
            w.add_tensor(name, x.astype(np.float16))
        else:
            w.add_tensor(name, to_bf16_bytes(x), raw_dtype=T.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---------------------------------------------------------------- llama.cpp


def llama_quantize(src, dst, ftype, requant=False):
    import llama_cpp
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = ftype
    p.nthread = 2
    p.allow_requantize = requant
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p))
    if rc != 0:
        raise RuntimeError("llama_model_quantize(%s, %d) failed" % (src, ftype))


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def describe(path):
    """[(name, type name, sha256 of the tensor's bytes)] in file order."""
    r = GGUFReader(path)
    out = []
    for t in r.tensors:
        out.append((t.name, T(t.tensor_type).name, hashlib.sha256(bytes(t.data.view(np.uint8))).hexdigest()))
    return out


# ---------------------------------------------------------------- fixtures


def write_fixture(path, tag, src, cases, requant):
    lines = ["fixture quantize", "llama_cpp_python 0.3.36", "input %s" % tag,
             "input_sha256 %s" % sha256_file(src), "n_cases %d" % len(cases)]
    with tempfile.TemporaryDirectory() as tmp:
        for name in cases:
            dst = os.path.join(tmp, "%s.%s.gguf" % (tag, name))
            llama_quantize(src, dst, FTYPES[name], requant)
            ts = describe(dst)
            lines.append("case %s %d %s %d" % (name, FTYPES[name], sha256_file(dst), len(ts)))
            lines += ["t %s %s %s" % t for t in ts]
            lines.append("end")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)
    print("%s: %d cases" % (path, len(cases)), file=sys.stderr)


REAL = [("SmolLM2-135M-Instruct.Q4_1.gguf", "Q8_0"), ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_K_M"),
        ("gemma-3-270m-q4_k_m.gguf", "Q8_0")]


def write_real(path):
    models = os.environ.get("FLM_MODELS_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "models"))
    lines = ["fixture quantize_real", "llama_cpp_python 0.3.36", "# model model_sha256 type output_sha256"]
    with tempfile.TemporaryDirectory() as tmp:
        for model, name in REAL:
            src = os.path.join(models, model)
            dst = os.path.join(tmp, "out.gguf")
            llama_quantize(src, dst, FTYPES[name], requant=True)
            lines.append("real %s %s %s %s" % (model, sha256_file(src), name, sha256_file(dst)))
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)
    print("%s: %d cases" % (path, len(REAL)), file=sys.stderr)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..",
                                                             "tests", "fixtures", "quantize")
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        inputs = [("smol_f16", "smol", "f16"), ("smol_bf16", "smol", "bf16"), ("wide_f32", "wide", "f32")]
        for tag, model, dtype in inputs:
            src = os.path.join(tmp, tag + ".gguf")
            write_model(src, tag.split("_")[0], MODELS[model], dtype)
            write_fixture(os.path.join(out, tag + ".txt"), tag, src, list(FTYPES), False)
        # requantizing: llama.cpp's Q8_0 of smol F16 as the input
        src = os.path.join(tmp, "smol_q8.gguf")
        llama_quantize(os.path.join(tmp, "smol_f16.gguf"), src, FTYPES["Q8_0"])
        write_fixture(os.path.join(out, "smol_q8.txt"), "smol_q8", src, REQUANT, True)
    write_real(os.path.join(out, "real.txt"))


if __name__ == "__main__":
    main()
