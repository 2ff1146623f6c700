#!/usr/bin/env python3
"""Writes tests/fixtures/chat/*.txt: reference renderings of chat templates.

Run with a python that has jinja2 (and, optionally, llama_cpp):

    /opt/llamaenv/bin/python scripts/refs/chat.py

Two sources of truth:

* Jinja (jinja2, set up the way Hugging Face's apply_chat_template sets it up:
  sandboxed, trim_blocks, lstrip_blocks, raise_exception) rendering
  - SmolLM2's template, read from models/SmolLM2-135M-Instruct.Q4_1.gguf
    (tokenizer.chat_template), and
  - the official Gemma 3 instruct template (GEMMA3_TEMPLATE below, the
    chat_template of google/gemma-3-*-it's tokenizer_config.json). Our Gemma 3
    GGUF carries no template, so flashlm picks it by architecture. The template
    opens with {{ bos_token }}; flashlm leaves BOS to the tokenizer, so the
    reference is rendered with bos_token "<bos>" and that prefix is cut off.
* llama.cpp's llama_chat_apply_template (through llama_cpp), for the other
  families flashlm renders the way llama.cpp does (llama3, llama2*, phi3, ...).
  Skipped with a note when llama_cpp is not importable.

Fixture format, one case per file (lengths in bytes, payloads raw):

    # comment lines at the top
    template -                  (NULL)  | file:<fixture file> | name:<source text>
    arch <arch>
    add_assistant 0|1
    messages <n>
    role <role>                 (n times: role, content <len>, bytes, newline)
    content <len>
    <bytes>
    expected <len>
    <bytes>
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "fixtures", "chat")
SMOLLM2 = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")

# google/gemma-3-270m-it (and the other Gemma 3 -it models): tokenizer_config.json "chat_template".
GEMMA3_TEMPLATE = (
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n"
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\n'}}\n"
    "{%- endif -%}\n"
)

# Variants that exercise the parts of the source flashlm reads: a default
# system prompt in a double-quoted literal with escapes (as Qwen2.5 writes
# them), and a Gemma 3 template whose system separator is an escaped '\n'.
CHATML_ESCAPED_TEMPLATE = (
    r"""{%- for message in messages %}{%- if loop.first and messages[0]['role'] != 'system' %}"""
    r"""{{- "<|im_start|>system\nYou are \"Q\", a helpful\tassistant \u00e9\x41.<|im_end|>\n" }}{%- endif %}"""
    r"""{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{%- endfor %}"""
    r"""{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"""
)
GEMMA3_NL_TEMPLATE = GEMMA3_TEMPLATE.replace("+ '\n\n'", r"+ '\n'")

S, U, A = "system", "user", "assistant"
CONVERSATIONS = {
    "one_turn": [(U, "Hello!")],
    "system_user": [(S, "You are a pirate. Answer in pirate speak."), (U, "What is 2+2?")],
    "multi_turn": [(S, "Be brief."), (U, "Hi"), (A, "Hello! How can I help?"), (U, "Tell me a joke.")],
    "multi_no_system": [(U, "Hi there"), (A, "Hi!"), (U, "Bye")],
    "whitespace_unicode": [
        (S, "  Syst\u00e8me: r\u00e9ponds en fran\u00e7ais.\n\n"),
        (U, "\u3000 H\u00e9llo \u4e16\u754c \U0001F680 {{ not_a_tag }}\nsecond line\t \u00a0"),
        (A, "\n \u00c7a va? \u2713 \n"),
        (U, "Line1\r\nLine2\u2028\n\n"),
    ],
    "ascii_whitespace": [(S, " Be kind. \n"), (U, "\t two\nlines  \n"), (A, "  ok  "), (U, "\nend\n")],
    "ends_with_assistant": [(U, "Q"), (A, "A")],
    "system_only": [(S, "Only a system prompt.")],
}

# Which conversations go to which reference.
JINJA_CONVS = ["one_turn", "system_user", "multi_turn", "multi_no_system", "whitespace_unicode",
               "ascii_whitespace", "ends_with_assistant", "system_only"]
LLAMACPP_FAMILIES = ["chatml", "llama3", "llama2", "llama2-sys", "llama2-sys-bos", "llama2-sys-strip",
                     "mistral-v7", "phi3", "zephyr"]
# llama.cpp trims with C isspace (ASCII); keep Unicode whitespace out of these.
LLAMACPP_CONVS = ["one_turn", "system_user", "multi_turn", "multi_no_system", "ascii_whitespace"]


def read_gguf_string(path, key):
    """The string value of one GGUF metadata key (a small reader, so the gguf package is not needed)."""
    import struct
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    with open(path, "rb") as f:
        data = f.read(64 << 20)  # metadata sits at the front
    assert data[:4] == b"GGUF", path
    n_kv = struct.unpack_from("<Q", data, 16)[0]
    pos = 24

    def string(p):
        n = struct.unpack_from("<Q", data, p)[0]
        return data[p + 8:p + 8 + n], p + 8 + n

    def skip(t, p):
        if t == 8:
            return string(p)[1]
        if t == 9:
            et, n = struct.unpack_from("<IQ", data, p)
            p += 12
            if et in sizes:
                return p + n * sizes[et]
            for _ in range(n):
                p = skip(et, p)
            return p
        return p + sizes[t]

    for _ in range(n_kv):
        k, pos = string(pos)
        t = struct.unpack_from("<I", data, pos)[0]
        pos += 4
        if k.decode() == key and t == 8:
            return string(pos)[0].decode("utf-8")
        pos = skip(t, pos)
    raise KeyError(key)


def read_smollm2_template():
    return read_gguf_string(SMOLLM2, "tokenizer.chat_template")


def jinja_render(src, msgs, add_gen, bos="", eos=""):
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = raise_exception
    t = env.from_string(src)
    return t.render(messages=[{"role": r, "content": c} for r, c in msgs], add_generation_prompt=add_gen,
                    bos_token=bos, eos_token=eos)


def llamacpp_render(name, msgs, add_gen):
    import ctypes
    import llama_cpp
    arr = (llama_cpp.llama_chat_message * len(msgs))()
    keep = []
    for i, (r, c) in enumerate(msgs):
        rb, cb = r.encode(), c.encode()
        keep += [rb, cb]
        arr[i].role, arr[i].content = rb, cb
    n = 1 << 16
    buf = ctypes.create_string_buffer(n)
    got = llama_cpp.llama_chat_apply_template(name.encode(), arr, len(msgs), add_gen, buf, n)
    if got < 0:
        raise RuntimeError(f"llama.cpp does not know template {name}")
    return buf.raw[:got]


def write_case(name, template_spec, arch, add_gen, msgs, expected, source):
    out = bytearray()
    out += f"# generated by scripts/refs/chat.py from {source}; do not edit\n".encode()
    out += f"template {template_spec}\narch {arch}\nadd_assistant {int(add_gen)}\nmessages {len(msgs)}\n".encode()
    for r, c in msgs:
        cb = c.encode("utf-8")
        out += f"role {r}\ncontent {len(cb)}\n".encode() + cb + b"\n"
    eb = expected if isinstance(expected, bytes) else expected.encode("utf-8")
    out += f"expected {len(eb)}\n".encode() + eb + b"\n"
    with open(os.path.join(OUT, name + ".txt"), "wb") as f:
        f.write(out)


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith(".txt"):
            os.remove(os.path.join(OUT, old))
    smol = read_smollm2_template()
    with open(os.path.join(OUT, "template_smollm2.txt"), "wb") as f:
        f.write(smol.encode("utf-8"))
    with open(os.path.join(OUT, "template_gemma3.txt"), "wb") as f:
        f.write(GEMMA3_TEMPLATE.encode("utf-8"))
    with open(os.path.join(OUT, "template_chatml_escaped.txt"), "wb") as f:
        f.write(CHATML_ESCAPED_TEMPLATE.encode("utf-8"))
    with open(os.path.join(OUT, "template_gemma3_nl.txt"), "wb") as f:
        f.write(GEMMA3_NL_TEMPLATE.encode("utf-8"))
    assert GEMMA3_NL_TEMPLATE != GEMMA3_TEMPLATE
    count = 0
    for conv in ["one_turn", "system_user", "multi_turn"]:
        msgs = CONVERSATIONS[conv]
        for gen in (True, False):
            suffix = "gen" if gen else "nogen"
            write_case(f"chatmlesc_{conv}_{suffix}", "file:template_chatml_escaped.txt", "qwen2", gen, msgs,
                       jinja_render(CHATML_ESCAPED_TEMPLATE, msgs, gen), "jinja2 + escaped chatml template")
            g = jinja_render(GEMMA3_NL_TEMPLATE, msgs, gen, bos="<bos>")[len("<bos>"):]
            write_case(f"gemma3nl_{conv}_{suffix}", "file:template_gemma3_nl.txt", "gemma3", gen, msgs, g,
                       "jinja2 + Gemma 3 template with a '\\n' separator, leading <bos> removed")
            count += 2
    for conv in JINJA_CONVS:
        msgs = CONVERSATIONS[conv]
        for gen in (True, False):
            suffix = "gen" if gen else "nogen"
            write_case(f"smollm2_{conv}_{suffix}", "file:template_smollm2.txt", "llama", gen, msgs,
                       jinja_render(smol, msgs, gen), "jinja2 + SmolLM2 GGUF template")
            g = jinja_render(GEMMA3_TEMPLATE, msgs, gen, bos="<bos>", eos="<eos>")
            assert g.startswith("<bos>"), g
            g = g[len("<bos>"):]
            # the real file has no template: by architecture; plus once through the official source
            write_case(f"gemma3_{conv}_{suffix}", "-", "gemma3", gen, msgs, g,
                       "jinja2 + official Gemma 3 template, leading <bos> removed")
            write_case(f"gemma3src_{conv}_{suffix}", "file:template_gemma3.txt", "gemma3", gen, msgs, g,
                       "jinja2 + official Gemma 3 template, leading <bos> removed")
            count += 3
    try:
        import llama_cpp  # noqa: F401
        have_llamacpp = True
    except ImportError:
        have_llamacpp = False
        print("chat.py: llama_cpp not importable, llama.cpp fixtures skipped", file=sys.stderr)
    if have_llamacpp:
        for fam in LLAMACPP_FAMILIES:
            for conv in LLAMACPP_CONVS:
                msgs = CONVERSATIONS[conv]
                for gen in (True, False):
                    suffix = "gen" if gen else "nogen"
                    write_case(f"llamacpp_{fam}_{conv}_{suffix}", f"name:{fam}", "llama", gen, msgs,
                               llamacpp_render(fam, msgs, gen), "llama.cpp llama_chat_apply_template")
                    count += 1
    print(f"chat.py: wrote {count} cases to {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
