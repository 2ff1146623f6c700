#!/usr/bin/env python3
"""spec_prompts.py - speculative decoding against plain decoding on 10 prompts.

For each prompt (wrapped in the model's chat template: Gemma's for files
named *gemma*, ChatML otherwise) it runs `flashlm bench --spec MODE -f PROMPT
--json`, which generates -n tokens greedily from the prompt plainly and with
speculation, alternating, in one process, and prints a Markdown table: both
tokens/s (medians), their ratio, the acceptance rate, the mean accepted
length per verification pass, and whether the two outputs were identical.

Usage: bench/spec_prompts.py MODEL.gguf [--spec lookup] [-t 2] [-n 128] [-r 3]
                             [--only NAME] [-- extra flashlm bench options]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

CODE = '''def load_users(path):
    users = []
    with open(path) as f:
        for line in f:
            name, age, email = line.strip().split(",")
            users.append({"name": name, "age": int(age), "email": email})
    return users


def adults(users):
    result = []
    for user in users:
        if user["age"] >= 18:
            result.append(user)
    return result
'''

JSON_DOC = '''{"id": 17, "name": "Ada Lovelace", "role": "engineer", "team": "compilers",
 "skills": ["c", "python", "rust"], "manager": {"id": 3, "name": "Grace Hopper"}}'''

PARAGRAPH = ("The river rose for three days. On the first day the farmers moved their animals to the hills; "
             "on the second day they carried their seed grain to the church; on the third day the water reached "
             "the square, and the whole village watched from the bell tower as the market stalls floated away.")

# name -> user message; code_edit is the code-editing prompt of the goal.
PROMPTS = [
    ("code_edit", "Add type hints and docstrings to this code. Reply with the full code only.\n\n" + CODE),
    ("code_rename", "Rename the variable `users` to `people` everywhere in this code. Reply with the code only.\n\n"
     + CODE),
    ("json_edit", "Change the role to \"manager\" and add \"go\" to the skills. Reply with the JSON only.\n\n" + JSON_DOC),
    ("summarize", "Summarize in two sentences:\n\n" + PARAGRAPH),
    ("quote", "Repeat this paragraph word for word:\n\n" + PARAGRAPH),
    ("capital", "What is the capital of France? Answer in one paragraph."),
    ("story", "Write a short story about a lighthouse keeper and a cat."),
    ("math", "Explain step by step how to compute 17 times 23."),
    ("list", "List ten fruits, one per line, each with its usual colour."),
    ("haiku", "Write three haiku about autumn rain."),
]


def wrap(model, text):
    if "gemma" in os.path.basename(model).lower():
        return "<start_of_turn>user\n" + text + "<end_of_turn>\n<start_of_turn>model\n"
    return "<|im_start|>user\n" + text + "<|im_end|>\n<|im_start|>assistant\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--spec", default="lookup")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-n", "--n-gen", type=int, default=128)
    ap.add_argument("-r", "--reps", type=int, default=3)
    ap.add_argument("--only", action="append", help="run only these prompt names")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "flashlm"))
    ap.add_argument("extra", nargs="*", help="more flashlm bench options (after --)")
    a = ap.parse_args()
    print(f"model {os.path.basename(a.model)}, --spec {a.spec} {' '.join(a.extra)}, {a.threads} threads, "
          f"{a.n_gen} tokens, {a.reps} alternating repetitions")
    print("| prompt | prompt tokens | plain tok/s | spec tok/s | ratio | acceptance | mean accepted length | identical |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = []
    for name, text in PROMPTS:
        if a.only and name not in a.only:
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write(wrap(a.model, text))
            path = f.name
        try:
            cmd = [a.binary, "bench", "-m", a.model, "-t", str(a.threads), "--spec", a.spec, "-f", path, "-n",
                   str(a.n_gen), "-r", str(a.reps), "--json"] + a.extra
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        finally:
            os.unlink(path)
        ratios.append(r["ratio"])
        print(f"| {name} | {r['prompt_tokens']} | {r['plain_tok_s']:.1f} | {r['spec_tok_s']:.1f} | {r['ratio']:.2f} | "
              f"{100 * r['acceptance']:.0f}% of {r['drafted']} | {r['mean_accepted_length']:.2f} | "
              f"{'yes' if r['identical'] else 'NO'} |", flush=True)
    if ratios:
        print(f"\nworst ratio {min(ratios):.2f}, best {max(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
