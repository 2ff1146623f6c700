#!/usr/bin/env python3
"""Reference token ids from llama.cpp (through llama-cpp-python) for the tokenizer tests.

Run with the llama-cpp-python venv:
    /opt/llamaenv/bin/python scripts/refs/tokens.py            # writes tests/fixtures/tokens/
    /opt/llamaenv/bin/python scripts/refs/tokens.py --unicode  # regenerates src/text/unicode_data.c

Fixture files (all plain text, '#' lines are comments):

  cases_<model>.txt   one case per line, fields separated by single spaces:
        <add_special 0|1> <parse_special 0|1> <hex(text)|-> <n_ids> <id>... \
        <hex(pieces, special=false)|-> <hex(pieces, special=true)|->
      The two detokenizations are the concatenation of llama_token_to_piece(tok,
      lstrip=0) over the ids, i.e. what flm_vocab_piece must produce.
      Also cases_<variant>.txt for the VARIANTS below (same format).
  random_<model>.txt  300 random strings (seeded) in the same format.
  attrs_<model>.txt   "eog <ids>": every id llama_vocab_is_eog accepts; then
      "attr <value> <first> <last>" for each run of ids whose llama_token_attr is
      not plain NORMAL (4): the token types after llama.cpp's by-name overrides.
  gpl3_<model>.txt    the ids of /usr/share/common-licenses/GPL-3 tokenized the way
      llama.cpp's perplexity tool does it (common_tokenize: add_special=true,
      parse_special=false), 32 ids per line.

The --unicode mode writes the code point flag table the BPE pre-tokenizers use.
llama.cpp's unicode tables follow Unicode 15.1; Python 3.11's unicodedata is
Unicode 14.0, so the code points assigned in 15.0/15.1 are listed below.
"""
import argparse
import ctypes
import hashlib
import os
import struct
import sys
import tempfile
import unicodedata

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = {
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": "gemma-3-270m-q4_k_m.gguf",
}
GPL3 = "/usr/share/common-licenses/GPL-3"
# Variants: a model's vocabulary with other tokenizer settings, to check the
# pre-tokenizers and options no default model uses. llama.cpp reads a copy of
# the GGUF metadata with the override (and no tensors).
VARIANTS = {
    "smollm2-llama-bpe": ("smollm2", "tokenizer.ggml.pre", "llama-bpe"),
    "smollm2-qwen2": ("smollm2", "tokenizer.ggml.pre", "qwen2"),
    "smollm2-default": ("smollm2", "tokenizer.ggml.pre", "default"),
    "smollm2-gpt-2": ("smollm2", "tokenizer.ggml.pre", "gpt-2"),
    "gemma3-space-prefix": ("gemma3", "tokenizer.ggml.add_space_prefix", True),
}

C_FUNC = b"""static int add(int a, int b) {
    if (a > 0 && b > INT_MAX - a) return -1;  // overflow
    return a + b;
}
"""
PY_FUNC = b"""def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


class Foo:
\tdef bar(self):
\t\treturn [x**2 for x in range(10) if x % 2 == 0]
"""

TEXTS = [
    b"",
    b" ",
    b"Hello",
    b"Hello world",
    b" Hello world",
    b"Hello world ",
    b"  leading two spaces",
    b"trailing two spaces  ",
    b"multiple   spaces   between    words",
    b"tabs\tand\t\ttabs",
    b"twenty spaces:" + b" " * 20 + b"end",
    b" " * 20,
    b"new\nline\n\nand\n\n\nmore\n",
    b"\n\n\n\n",
    b"\r\n windows \r\n line \r\n",
    b"\t\t\t  \n  \t mixed whitespace \t\n",
    b"1234567890",
    b"3.14159 and 2,718 and -42 and 1e10",
    b"Call 555-0123 at 10:30pm on 2024-01-15.",
    b"don't can't won't I'm you're we've they'll she'd it's",
    b"I'LL DON'T WE'VE YOU'RE SHE'D IT'S",
    b"''' quotes '' \"double\" `back`",
    b"Hello!!! What??? Wait... (really) [yes] {no} <maybe>",
    b"---===+++***###@@@$$$%%%^^^&&&",
    C_FUNC,
    PY_FUNC,
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber stra\u00dfe \u00e5ngstr\u00f6m".encode(),
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u0430\u043a \u0434\u0435\u043b\u0430?".encode(),
    "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u03ba\u03cc\u03c3\u03bc\u03b5 \u03b1\u03b2\u03b3".encode(),
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 \u0661\u0662\u0663".encode(),
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e \u0967\u0968\u0969".encode(),
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u6211\u7231\u7f16\u7a0b\u3002".encode(),
    "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c\u3001\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a".encode(),
    "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4".encode(),
    "emoji \U0001F600\U0001F389 \u2764\ufe0f thumbs \U0001F44D\U0001F3FD".encode(),
    "family \U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 flags \U0001F1FA\U0001F1F8\U0001F1EF\U0001F1F5".encode(),
    "combining e\u0301 a\u0300 n\u0303 o\u0308 Z\u0351\u036b\u0343\u036a".encode(),
    "full\u3000width\u00a0nbsp\u2009thin\u2028sep\u0085nel".encode(),
    "roman \u2167 fractions \u00bd\u00be superscript \u00b2\u00b3 circled \u2460\u2461".encode(),
    "math \u2211 \u222b \u221a \u2264 \u2265 \u00b1 \u00d7 \u00f7 \u03c0 \u221e".encode(),
    "new Unicode \U0001FAE8 \U00031350 \U0002EBF0 \u0CF3".encode(),
    "private \ue000 unassigned \U000E0080 noncharacter \ufdd0".encode(),
    b"<|im_start|>user\nhi<|im_end|>",
    b"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    b"<|endoftext|>text after eot",
    b"<start_of_turn>user\nhello<end_of_turn>\n<start_of_turn>model\n",
    b"<bos>",
    b"<bos>Hello<eos>",
    b"<pad><unk><mask>[multimodal]<unused0>",
    b"<table><tr><td>cell</td></tr></table> <b>bold</b>",
    b"<s>strike</s> and </s> alone",
    b"<|im_start|<|im_end|>|>",
    b"\x80\x81 invalid continuation",
    b"truncated \xe2\x82",
    b"lone lead \xc3 then ascii",
    b"\xff\xfe bytes \xfd",
    b"overlong \xc0\x80 \xc1\xbf surrogate \xed\xa0\x80",
    b"mixed \xe4\xbd\xa0\xe5 broken CJK \xe5\xa5\xbd",
    "\u2581 literal lower one eighth block \u2581\u2581".encode(),
    b"\x00 nul \x01\x02\x1b[0m ctrl",
    b"a" * 50 + b" " + b"ab" * 30,
    b"supercalifragilisticexpialidocious antidisestablishmentarianism",
    b"https://example.com/path?query=1&x=y#frag user@example.org",
    b"The quick brown fox jumps over the lazy dog. " * 3,
]

# Code points llama.cpp's tables treat as valid that raise in its BPE path (beyond
# U+10FFFF after its lenient decoding) make llama.cpp abort; they are only run for
# the SPM model.
SPM_ONLY_TEXTS = [
    b"beyond max \xf4\x90\x80\x80 and \xf7\xbf\xbf\xbf end",
]


def random_texts(seed, count, spm):
    """Deterministic random strings mixing the classes the tokenizers care about."""
    import random

    rng = random.Random(seed)
    words = ["the", "The", "don't", "I'LL", "hello", "world", "x", "ab", "tokenizer", "caf\u00e9", "na\u00efve"]
    specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>",
                "<pad>", "</s>", "<s>", "<b>", "<unused3>", "[multimodal]", "<table>", "<|im_start|", "<repo_name>"]
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
              (0x900, 0x97F), (0xE00, 0xE7F), (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2150, 0x218F),
              (0x2460, 0x24FF), (0x3000, 0x30FF), (0x4E00, 0x4F00), (0xAC00, 0xAD00), (0xFF00, 0xFFEF),
              (0x1F300, 0x1F6FF), (0x1F900, 0x1FAFF), (0x10000, 0x1007F), (0xE000, 0xE00F), (0xE0000, 0xE007F)]
    spaces = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2028", "\u0085", " " * 9]
    invalid = [b"\x80", b"\xbf", b"\xc0", b"\xc1\x81", b"\xc3", b"\xe2\x82", b"\xf0\x9f", b"\xff", b"\xfe\xfd",
               b"\xed\xa0\x80", b"\xe0\x80\x80"]
    if spm:
        invalid += [b"\xf5\x80\x80\x80", b"\xf4\x90\x80\x80"]
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.25:
                parts.append(rng.choice(words).encode())
            elif r < 0.45:
                lo, hi = rng.choice(ranges)
                parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 4))).encode("utf-8", "surrogatepass"))
            elif r < 0.65:
                parts.append(rng.choice(spaces).encode())
            elif r < 0.75:
                parts.append(str(rng.randint(0, 10 ** rng.randint(1, 12))).encode())
            elif r < 0.82:
                parts.append(rng.choice(specials).encode())
            elif r < 0.9:
                parts.append(rng.choice(invalid))
            else:
                parts.append(bytes(rng.choice(b"!\"#$%&'()*+,-./:;<=>?@[]^_`{|}~") for _ in range(rng.randint(1, 4))))
        out.append(b"".join(parts))
    return out


def write_random(llama_cpp, llm, name, out_dir, what):
    vocab = llm._model.vocab
    lines = [
        "# random strings (seed 1234) tokenized by llama.cpp (llama-cpp-python %s) for %s" % (llama_cpp.__version__, what),
        "# add_special parse_special hex(text) n_ids ids... hex(pieces special=0) hex(pieces special=1)",
    ]
    for i, text in enumerate(random_texts(1234, 300, name.startswith("gemma3"))):
        add_special, parse_special = i % 2, (i // 2) % 2
        ids = llm.tokenize(text, add_bos=bool(add_special), special=bool(parse_special))
        d0 = b"".join(piece(llama_cpp, vocab, t, False) for t in ids)
        d1 = b"".join(piece(llama_cpp, vocab, t, True) for t in ids)
        fields = [str(add_special), str(parse_special), hexs(text), str(len(ids))] + [str(t) for t in ids]
        lines.append(" ".join(fields + [hexs(d0), hexs(d1)]))
    path = os.path.join(out_dir, "random_%s.txt" % name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", path, len(lines) - 2, "cases")


def piece(llama_cpp, vocab, tok, special):
    buf = ctypes.create_string_buffer(512)
    n = llama_cpp.llama_token_to_piece(vocab, tok, buf, len(buf), 0, special)
    assert 0 <= n <= len(buf), (tok, n)
    return buf.raw[:n]


def hexs(b):
    return b.hex() if b else "-"


def write_cases(llama_cpp, llm, name, out_dir, what):
    vocab = llm._model.vocab
    texts = TEXTS + (SPM_ONLY_TEXTS if name.startswith("gemma3") else [])
    lines = [
        "# reference tokenizations from llama.cpp (llama-cpp-python %s) for %s" % (llama_cpp.__version__, what),
        "# add_special parse_special hex(text) n_ids ids... hex(pieces special=0) hex(pieces special=1)",
    ]
    for text in texts:
        for add_special in (0, 1):
            for parse_special in (0, 1):
                ids = llm.tokenize(text, add_bos=bool(add_special), special=bool(parse_special))
                d0 = b"".join(piece(llama_cpp, vocab, t, False) for t in ids)
                d1 = b"".join(piece(llama_cpp, vocab, t, True) for t in ids)
                fields = [str(add_special), str(parse_special), hexs(text), str(len(ids))]
                fields += [str(t) for t in ids]
                fields += [hexs(d0), hexs(d1)]
                lines.append(" ".join(fields))
    path = os.path.join(out_dir, "cases_%s.txt" % name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", path, len(lines) - 2, "cases")


def write_gpl3(llama_cpp, llm, name, out_dir):
    with open(GPL3, "rb") as f:
        text = f.read()
    ids = llm.tokenize(text, add_bos=True, special=False)
    lines = [
        "# %s tokenized by llama.cpp (llama-cpp-python %s), add_special=1 parse_special=0" % (GPL3, llama_cpp.__version__),
        "# model %s" % MODELS[name],
        "# text_bytes %d md5 %s" % (len(text), hashlib.md5(text).hexdigest()),
        "# n_ids %d" % len(ids),
    ]
    for i in range(0, len(ids), 32):
        lines.append(" ".join(str(t) for t in ids[i:i + 32]))
    path = os.path.join(out_dir, "gpl3_%s.txt" % name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", path, len(ids), "ids")


def write_attrs(llama_cpp, llm, name, out_dir):
    vocab = llm._model.vocab
    n = llama_cpp.llama_vocab_n_tokens(vocab)
    eog = [t for t in range(n) if llama_cpp.llama_vocab_is_eog(vocab, t)]
    lines = [
        "# token attributes from llama.cpp (llama-cpp-python %s) for %s" % (llama_cpp.__version__, MODELS[name]),
        "eog " + " ".join(str(t) for t in eog),
    ]
    runs = []
    for t in range(n):
        a = int(llama_cpp.llama_vocab_get_attr(vocab, t))
        if a == 4:
            continue
        if runs and runs[-1][0] == a and runs[-1][2] == t - 1:
            runs[-1][2] = t
        else:
            runs.append([a, t, t])
    lines += ["attr %d %d %d" % tuple(r) for r in runs]
    path = os.path.join(out_dir, "attrs_%s.txt" % name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", path, len(eog), "eog,", len(runs), "attr runs")


def fixtures():
    import llama_cpp

    out_dir = os.path.join(ROOT, "tests", "fixtures", "tokens")
    os.makedirs(out_dir, exist_ok=True)
    for name, file in MODELS.items():
        path = os.path.join(ROOT, "models", file)
        llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
        write_cases(llama_cpp, llm, name, out_dir, file)
        write_random(llama_cpp, llm, name, out_dir, file)
        write_attrs(llama_cpp, llm, name, out_dir)
        write_gpl3(llama_cpp, llm, name, out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (base, key, value) in VARIANTS.items():
            version, kvs = gguf_read_kvs(os.path.join(ROOT, "models", MODELS[base]))
            kvs = [kv for kv in kvs if kv[0] != key.encode()] + [(key.encode(), gguf_value(value))]
            path = os.path.join(tmp, name + ".gguf")
            gguf_write_kvs(path, version, kvs)
            llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
            write_cases(llama_cpp, llm, name, out_dir, "%s with %s = %r" % (MODELS[base], key, value))


# ---------------------------------------------------------------- GGUF metadata copy

GGUF_SCALAR_SIZE = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
GGUF_STRING, GGUF_ARRAY, GGUF_BOOL = 8, 9, 7


def gguf_read_kvs(path):
    """The metadata of a GGUF file as (key, type+value bytes) pairs."""
    with open(path, "rb") as f:
        data = f.read(64 << 20)  # the metadata of the default models is far smaller
    assert data[:4] == b"GGUF"
    version, _, n_kv = struct.unpack_from("<IQQ", data, 4)

    def skip_string(p):
        (n,) = struct.unpack_from("<Q", data, p)
        return p + 8 + n

    def skip_value(t, p):
        if t == GGUF_STRING:
            return skip_string(p)
        if t == GGUF_ARRAY:
            et, n = struct.unpack_from("<IQ", data, p)
            p += 12
            if et == GGUF_STRING:
                for _ in range(n):
                    p = skip_string(p)
                return p
            return p + GGUF_SCALAR_SIZE[et] * n
        return p + GGUF_SCALAR_SIZE[t]

    kvs, pos = [], 24
    for _ in range(n_kv):
        end = skip_string(pos)
        key = data[pos + 8:end]
        (t,) = struct.unpack_from("<I", data, end)
        value_end = skip_value(t, end + 4)
        kvs.append((key, data[end:value_end]))
        pos = value_end
    return version, kvs


def gguf_value(value):
    if isinstance(value, bool):
        return struct.pack("<IB", GGUF_BOOL, int(value))
    raw = value.encode()
    return struct.pack("<IQ", GGUF_STRING, len(raw)) + raw


def gguf_write_kvs(path, version, kvs):
    out = [b"GGUF", struct.pack("<IQQ", version, 0, len(kvs))]
    for key, value in kvs:
        out += [struct.pack("<Q", len(key)), key, value]
    with open(path, "wb") as f:
        f.write(b"".join(out))


# ---------------------------------------------------------------- unicode table

FLAG_UNDEFINED, FLAG_NUMBER, FLAG_LETTER, FLAG_SEPARATOR = 0x01, 0x02, 0x04, 0x08
FLAG_MARK, FLAG_PUNCTUATION, FLAG_SYMBOL, FLAG_CONTROL = 0x10, 0x20, 0x40, 0x80
FLAG_WHITESPACE = 0x100
CATEGORY_FLAG = {"C": FLAG_CONTROL, "L": FLAG_LETTER, "M": FLAG_MARK, "N": FLAG_NUMBER,
                 "P": FLAG_PUNCTUATION, "S": FLAG_SYMBOL, "Z": FLAG_SEPARATOR}
# The Unicode White_Space property.
WHITESPACE = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680] + list(range(0x2000, 0x200B)) + \
    [0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
# Code points assigned in Unicode 15.0 and 15.1 (first, last, major category).
UNICODE_15 = [
    (0x0CF3, 0x0CF3, "M"), (0x0ECE, 0x0ECE, "M"), (0x2FFC, 0x2FFF, "S"), (0x31EF, 0x31EF, "S"),
    (0x10EFD, 0x10EFF, "M"), (0x1123F, 0x11240, "L"), (0x11241, 0x11241, "M"), (0x11B00, 0x11B09, "P"),
    (0x11F00, 0x11F01, "M"), (0x11F02, 0x11F02, "L"), (0x11F03, 0x11F03, "M"), (0x11F04, 0x11F10, "L"),
    (0x11F12, 0x11F33, "L"), (0x11F34, 0x11F3A, "M"), (0x11F3E, 0x11F42, "M"), (0x11F43, 0x11F4F, "P"),
    (0x11F50, 0x11F59, "N"), (0x1342F, 0x1342F, "L"), (0x13439, 0x1343F, "C"), (0x13440, 0x13440, "M"),
    (0x13441, 0x13446, "L"), (0x13447, 0x13455, "M"), (0x1B132, 0x1B132, "L"), (0x1B155, 0x1B155, "L"),
    (0x1D2C0, 0x1D2D3, "N"), (0x1DF25, 0x1DF2A, "L"), (0x1E030, 0x1E06D, "L"), (0x1E08F, 0x1E08F, "M"),
    (0x1E4D0, 0x1E4EB, "L"), (0x1E4EC, 0x1E4EF, "M"), (0x1E4F0, 0x1E4F9, "N"), (0x1F6DC, 0x1F6DC, "S"),
    (0x1F774, 0x1F776, "S"), (0x1F77B, 0x1F77F, "S"), (0x1F7D9, 0x1F7D9, "S"), (0x1FA75, 0x1FA77, "S"),
    (0x1FA87, 0x1FA88, "S"), (0x1FAAD, 0x1FAAF, "S"), (0x1FABB, 0x1FABD, "S"), (0x1FABF, 0x1FABF, "S"),
    (0x1FACE, 0x1FACF, "S"), (0x1FADA, 0x1FADB, "S"), (0x1FAE8, 0x1FAE8, "S"), (0x1FAF7, 0x1FAF8, "S"),
    (0x2B739, 0x2B739, "L"), (0x2EBF0, 0x2EE5D, "L"), (0x31350, 0x323AF, "L"),
]


def unicode_table():
    assert unicodedata.unidata_version == "14.0.0", unicodedata.unidata_version
    flags = [0] * 0x110000
    for cp in range(0x110000):
        cat = unicodedata.category(chr(cp))
        flags[cp] = FLAG_UNDEFINED if cat == "Cn" else CATEGORY_FLAG[cat[0]]
    for first, last, cat in UNICODE_15:
        for cp in range(first, last + 1):
            assert flags[cp] == FLAG_UNDEFINED
            flags[cp] = CATEGORY_FLAG[cat]
    for cp in WHITESPACE:
        flags[cp] |= FLAG_WHITESPACE
    ranges = []
    for cp in range(0x110000):
        if not ranges or ranges[-1][1] != flags[cp]:
            ranges.append((cp, flags[cp]))
    out = [
        "// unicode_data.c - code point flags for the BPE pre-tokenizers (generated).",
        "//",
        "// Generated by scripts/refs/tokens.py --unicode from Python's unicodedata",
        "// (Unicode 14.0) plus the code points assigned in Unicode 15.0/15.1, which",
        "// is the Unicode version llama.cpp's tables follow. Do not edit by hand.",
        '#include "text/unicode.h"',
        "",
        "#include <stddef.h>",
        "",
        "// First code point of each run of equal flags, and the run's flags.",
        "static const uint32_t range_start[%d] = {" % len(ranges),
    ]
    for i in range(0, len(ranges), 8):
        out.append("    " + " ".join("0x%05X," % r[0] for r in ranges[i:i + 8]))
    out.append("};")
    out.append("static const uint16_t range_flags[%d] = {" % len(ranges))
    for i in range(0, len(ranges), 12):
        out.append("    " + " ".join("0x%03X," % r[1] for r in ranges[i:i + 12]))
    out.append("};")
    out += [
        "",
        "uint16_t flm_unicode_flags(uint32_t cp) {",
        "    if (cp >= 0x110000) return FLM_UNICODE_UNDEFINED;",
        "    size_t lo = 0, hi = sizeof range_start / sizeof range_start[0];  // range_start[lo] <= cp",
        "    while (hi - lo > 1) {",
        "        size_t mid = lo + (hi - lo) / 2;",
        "        if (range_start[mid] <= cp) lo = mid;",
        "        else hi = mid;",
        "    }",
        "    return range_flags[lo];",
        "}",
        "",
    ]
    path = os.path.join(ROOT, "src", "text", "unicode_data.c")
    with open(path, "w") as f:
        f.write("\n".join(out))
    print("wrote", path, len(ranges), "ranges")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--unicode", action="store_true", help="regenerate src/text/unicode_data.c instead")
    args = ap.parse_args()
    if args.unicode:
        unicode_table()
    else:
        fixtures()


if __name__ == "__main__":
    sys.exit(main())
