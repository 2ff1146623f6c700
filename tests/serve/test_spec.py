# test_spec.py - the server with --spec lookup: greedy output equal to the
# same server's without speculation, drafts accepted on a code-editing
# prompt, streamed and non-streamed in agreement, and the /metrics figures.
import json
import threading

import httpx
import pytest

from conftest import Server

CODE = """def area(width, height):
    result = width * height
    print("area:", result)
    return result


def perimeter(width, height):
    result = 2 * (width + height)
    print("perimeter:", result)
    return result
"""
EDIT = [{"role": "user", "content": "Repeat this Python code exactly, but rename the variable result to value:\n\n"
         "```python\n" + CODE + "```"}]


@pytest.fixture(scope="module")
def pair():
    """A fresh server with --spec lookup and one without, given the same requests in the same order."""
    plain = Server("--parallel", "2", "-c", "512")
    spec = Server("--parallel", "2", "-c", "512", "--spec", "lookup")
    yield plain, spec
    assert spec.stop() == 0
    assert plain.stop() == 0


def chat(server, stream):
    body = {"model": "x", "messages": EDIT, "max_tokens": 96, "temperature": 0, "stream": stream}
    if not stream:
        r = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=120)
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["message"]["content"]
    text = ""
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=120) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                for ch in json.loads(line[6:])["choices"]:
                    text += ch["delta"].get("content") or ""
    return text


def test_spec_greedy_matches_plain(pair):
    plain, spec = pair
    want = chat(plain, stream=False)
    got = chat(spec, stream=False)
    assert got == want
    assert spec.metric("flashlm_spec_drafted_tokens_total") > 0
    accepted = spec.metric("flashlm_spec_accepted_tokens_total")
    assert accepted > 0
    assert 0 < spec.metric("flashlm_spec_acceptance_rate") <= 1
    assert spec.metric("flashlm_spec_mean_accepted_length") > 0
    assert plain.metric("flashlm_spec_drafted_tokens_total") == 0
    # streamed: the same text on both, and token counts stay those of plain decoding
    assert chat(plain, stream=True) == want
    assert chat(spec, stream=True) == want
    assert spec.metric("flashlm_spec_accepted_tokens_total") > accepted
    assert spec.metric("flashlm_generated_tokens_total") == plain.metric("flashlm_generated_tokens_total")
    print("spec metrics:", {m: spec.metric("flashlm_spec_" + m) for m in
                            ("verify_steps_total", "drafted_tokens_total", "accepted_tokens_total",
                             "acceptance_rate", "mean_accepted_length")})


@pytest.mark.parametrize("extra", [{"max_tokens": 37}, {"max_tokens": 96, "stop": ["math_with_math"]}])
def test_spec_stops_midway_like_plain(pair, extra):
    """max_tokens and stop sequences end a run of accepted drafts where plain decoding would end."""
    body = {"model": "x", "prompt": "Copy this code:\n" + CODE + "\nCopy:\ndef area(width, height):\n",
            "temperature": 0, **extra}
    before = pair[1].metric("flashlm_spec_accepted_tokens_total")
    got = [httpx.post(s.url + "/v1/completions", json=body, timeout=120).json() for s in pair]
    assert got[0]["choices"][0]["text"] == got[1]["choices"][0]["text"]
    assert got[0]["choices"][0]["finish_reason"] == got[1]["choices"][0]["finish_reason"]
    assert got[0]["usage"] == got[1]["usage"]
    assert pair[1].metric("flashlm_spec_accepted_tokens_total") > before
    assert "speculation" not in got[0]
    sp = got[1]["speculation"]  # this request's own figures
    assert pair[1].metric("flashlm_spec_accepted_tokens_total") - before == sp["accepted_tokens"] > 0
    assert 0 < sp["accepted_tokens"] <= sp["drafted_tokens"] and sp["verify_steps"] > 0
    assert sp["acceptance_rate"] == pytest.approx(sp["accepted_tokens"] / sp["drafted_tokens"])
    print(extra, repr(got[1]["choices"][0]["text"]), got[1]["choices"][0]["finish_reason"])


def test_spec_concurrent_slots(pair):
    """Two requests drafting in the same steps both finish; their usage adds up in /metrics."""
    spec = pair[1]
    gen0 = spec.metric("flashlm_generated_tokens_total")
    prompts = ["Copy this code:\n" + CODE + "\nCopy:\ndef area(width, height):\n",
               "Repeat this list twice: red, green, blue, red, green, blue,"]
    out = [None, None]

    def run(i):
        body = {"model": "x", "prompt": prompts[i], "max_tokens": 40, "temperature": 0.7, "seed": i}
        out[i] = httpx.post(spec.url + "/v1/completions", json=body, timeout=120).json()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for o in out:
        assert o["choices"][0]["finish_reason"] in ("stop", "length")
        assert o["choices"][0]["text"]
    assert spec.metric("flashlm_generated_tokens_total") - gen0 == sum(o["usage"]["completion_tokens"] for o in out)
