#!/usr/bin/env python3
"""requantize_model.py - a copy of a GGUF with its block-quantized matrices in
another type, for testing kernels of that type on a real model.

Every tensor of type --from (default q4_1) is dequantized to float32 and
quantized again as --to (default q4_0) with gguf-py's reference quantizer;
all other tensors and every metadata key are copied verbatim (the file type
key is left as it was: it only describes the source). The result is
deterministic: the same input and gguf/numpy versions give the same bytes
(scripts/fetch_models.sh checks its SHA-256).

    python3 scripts/requantize_model.py models/SmolLM2-135M-Instruct.Q4_1.gguf \\
        -o models/SmolLM2-135M-Instruct.Q4_0.gguf

Needs: pip install gguf numpy
"""
import argparse
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize, quantize

TYPES = {"q4_0": T.Q4_0, "q4_1": T.Q4_1, "q5_0": T.Q5_0, "q5_1": T.Q5_1, "q8_0": T.Q8_0}


def copy_kv(r, w):
    for key, field in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        vtype = field.types[0]
        if vtype == GGUFValueType.ARRAY:
            sub = field.types[-1]
            w.add_key_value(key, field.contents(), vtype, sub_type=sub)
        else:
            w.add_key_value(key, field.contents(), vtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--from", dest="src", choices=sorted(TYPES), default="q4_1")
    ap.add_argument("--to", dest="dst", choices=sorted(TYPES), default="q4_0")
    a = ap.parse_args()
    r = GGUFReader(a.input)
    arch = r.fields["general.architecture"].contents()
    tmp = a.output + ".tmp"
    w = GGUFWriter(tmp, arch)
    copy_kv(r, w)
    n = 0
    for t in r.tensors:
        shape = [int(x) for x in reversed(t.shape)]  # rows first, as numpy holds it
        if t.tensor_type == TYPES[a.src]:
            f = dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32)
            w.add_tensor(t.name, quantize(f, TYPES[a.dst]), raw_dtype=TYPES[a.dst])
            n += 1
        else:
            w.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)  # rows of raw blocks
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, a.output)
    print("%s: %d tensors %s -> %s, %.1f MiB" % (a.output, n, a.src, a.dst, os.path.getsize(a.output) / 2**20),
          file=sys.stderr)


if __name__ == "__main__":
    main()
