#!/usr/bin/env python3
"""Generate the quantization test fixtures under tests/fixtures/quant/.

The truth comes from the python `gguf` package (gguf-py, maintained with
llama.cpp): its numpy dequantizers and quantizers are an implementation of the
block formats independent of flashlm's C code.

Outputs:
  synthetic.txt  random blocks of every format gguf-py can decode, with their
                 decoded values, and random float rows with the bytes gguf-py's
                 quantizers produce for them (legacy formats);
  smollm2.txt    rows of real tensors of SmolLM2-135M-Instruct.Q4_1.gguf;
  gemma3.txt     rows of real tensors of gemma-3-270m-q4_k_m.gguf
                 (the first 64 values of each row; 256 for K-quants).

Line format (whitespace separated; '#' starts a comment line):
  dequant <type> <n_elems> <hex bytes>            then: values <n_elems floats>
  quant   <type> <n_elems> <floats...>            then: bytes <hex bytes>
  tensor  <name> <type> <ne0> <row> <file offset of the row> <n_values>
                                                  then: values <n_values floats>
Floats are printed with 9 significant digits, which round-trips float32.

Usage: python3 scripts/refs/quant_refs.py [models_dir] [out_dir]
"""
import os
import sys

import numpy as np
from gguf import GGUFReader, GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fmt_floats(v):
    return " ".join(f"{float(x):.9g}" for x in np.asarray(v, dtype=np.float32).ravel())


def f16_bytes(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8)


# Byte offsets of the f16 fields of each block type, so random blocks get
# finite, moderate scales instead of random (possibly NaN) bit patterns.
F16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def random_blocks(rng, qtype, n_blocks):
    _, type_size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for off in F16_FIELDS[qtype]:
        # signed scales in [-2, 2] (negative ones happen in real files too)
        raw[:, off:off + 2] = f16_bytes(rng.uniform(-2, 2, size=n_blocks)).reshape(n_blocks, 2)
    return raw


def synthetic(out):
    rng = np.random.default_rng(20240607)
    out.write("# synthetic blocks decoded by gguf-py, and gguf-py quantizations\n")
    for qtype in F16_FIELDS:
        block_size, _ = GGML_QUANT_SIZES[qtype]
        n_blocks = 3 if block_size == 32 else 2
        raw = random_blocks(rng, qtype, n_blocks)
        vals = dequantize(raw.reshape(-1), qtype)
        out.write(f"dequant {qtype.name} {n_blocks * block_size} {raw.tobytes().hex()}\n")
        out.write(f"values {fmt_floats(vals)}\n")
    for qtype in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0):
        x = rng.standard_normal(96).astype(np.float32) * np.float32(0.1)
        x[64:80] *= np.float32(30)  # a block with a wider range
        x[80:96] = 0  # half a block of zeros
        q = quantize(x.reshape(1, -1), qtype)
        out.write(f"quant {qtype.name} {x.size} {fmt_floats(x)}\n")
        out.write(f"bytes {q.tobytes().hex()}\n")


def model_rows(out, path, picks):
    reader = GGUFReader(path)
    tensors = {t.name: t for t in reader.tensors}
    out.write(f"# rows of {os.path.basename(path)} decoded by gguf-py\n")
    out.write(f"model {os.path.basename(path)}\n")
    for name, rows in picks:
        t = tensors[name]
        ne0 = int(t.shape[0])
        data = np.asarray(t.data)
        row_bytes = data.shape[-1] if data.ndim > 1 else data.nbytes
        for row in rows:
            row = row if row >= 0 else data.shape[0] + row
            # one whole super-block for K-quants (every scale/bit field), else 64
            n_vals = 256 if GGML_QUANT_SIZES[t.tensor_type][0] == 256 else 64
            vals = dequantize(data[row].reshape(-1), t.tensor_type)[:n_vals]
            off = int(t.data_offset) + row * row_bytes
            out.write(f"tensor {name} {t.tensor_type.name} {ne0} {row} {off} {len(vals)}\n")
            out.write(f"values {fmt_floats(vals)}\n")


def main():
    models = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models")
    outdir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "tests", "fixtures", "quant")
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "synthetic.txt"), "w") as out:
        synthetic(out)
    smollm = os.path.join(models, "SmolLM2-135M-Instruct.Q4_1.gguf")
    if os.path.exists(smollm):
        with open(os.path.join(outdir, "smollm2.txt"), "w") as out:
            model_rows(out, smollm, [
                ("token_embd.weight", [0, 1234, -1]),          # Q8_0
                ("blk.0.ffn_down.weight", [0, 300, -1]),       # Q4_1
                ("blk.29.attn_q.weight", [7]),                 # Q4_1
                ("blk.0.attn_norm.weight", [0]),               # F32
            ])
    gemma = os.path.join(models, "gemma-3-270m-q4_k_m.gguf")
    if os.path.exists(gemma):
        with open(os.path.join(outdir, "gemma3.txt"), "w") as out:
            model_rows(out, gemma, [
                ("token_embd.weight", [2, 100000, -1]),        # Q8_0
                ("blk.0.attn_q.weight", [0, 513, -1]),         # Q5_0
                ("blk.0.attn_output.weight", [0, 321, -1]),    # Q4_K
                ("blk.0.ffn_down.weight", [0, 77, -1]),        # Q6_K
                ("output_norm.weight", [0]),                   # F32
            ])


if __name__ == "__main__":
    main()
