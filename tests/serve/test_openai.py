# test_openai.py - the server through the official openai client, and every
# error case of issue 4 through raw HTTP.
import json
import signal
import threading
import time

import httpx
import openai
import pytest

from conftest import KEY, Server

CHAT = [{"role": "user", "content": "Name three colors."}]


def client(server, key="none", retries=0):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=retries, timeout=60)


# ---------------------------------------------------------------- happy paths

def test_models(server):
    models = client(server).models.list().data
    assert [m.id for m in models] == ["SmolLM2-135M-Instruct.Q4_1"]


def test_chat(server):
    r = client(server).chat.completions.create(model="x", messages=CHAT, max_tokens=16, temperature=0)
    assert r.id.startswith("chatcmpl-") and r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.completion_tokens <= 16 and r.usage.prompt_tokens > 5
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_stream_matches_non_stream(server):
    c = client(server)
    full = c.chat.completions.create(model="x", messages=CHAT, max_completion_tokens=12, temperature=0)
    chunks = list(c.chat.completions.create(model="x", messages=CHAT, max_completion_tokens=12, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == full.choices[0].message.content
    finals = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finals == [full.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == full.usage.completion_tokens


def test_completions_length_and_stop(server):
    c = client(server)
    r = c.completions.create(model="x", prompt="The capital of France is", max_tokens=5, temperature=0)
    assert r.object == "text_completion" and r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 5 and r.choices[0].text
    r = c.completions.create(model="x", prompt="One, two, three, four,", max_tokens=40, temperature=0, stop=[" six"])
    assert " six" not in r.choices[0].text and r.choices[0].finish_reason == "stop"
    s = c.completions.create(model="x", prompt="One, two, three, four,", max_tokens=40, temperature=0, stop=[" six"],
                             stream=True)
    assert "".join(ch.choices[0].text for ch in s) == r.choices[0].text


def test_seed_and_penalties(server):
    c = client(server)
    kw = dict(model="x", messages=CHAT, max_tokens=12, temperature=1.0, top_p=0.9, seed=1234,
              presence_penalty=0.5, frequency_penalty=0.5)
    a = c.chat.completions.create(**kw).choices[0].message.content
    b = c.chat.completions.create(**kw).choices[0].message.content
    assert a == b


def test_utf8_never_split(server):
    # Byte-level BPE splits CJK and emoji over tokens: every streamed event must
    # still be whole UTF-8 and carry no replacement characters.
    body = {"prompt": "日本語で自己紹介をしてください。🙂 こんにちは、私は", "max_tokens": 40, "temperature": 0,
            "stream": True}
    with httpx.stream("POST", server.url + "/v1/completions", json=body, timeout=60) as r:
        raw = b"".join(r.iter_bytes())
    events = [e for e in raw.split(b"\n\n") if e.startswith(b"data: {")]
    text = ""
    for e in events:
        piece = json.loads(e[6:].decode("utf-8", errors="strict"))["choices"][0]["text"]
        assert "\ufffd" not in piece
        text += piece
    assert any(ord(ch) > 0x2000 for ch in text), text


def test_tokenize_roundtrip(server):
    t = httpx.post(server.url + "/tokenize", json={"content": "Hello world"}).json()["tokens"]
    assert len(t) == 2
    assert httpx.post(server.url + "/detokenize", json={"tokens": t}).json()["content"] == "Hello world"


def test_health_and_metrics(server):
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}
    text = httpx.get(server.url + "/metrics").text
    for name in ("flashlm_requests_total", "flashlm_prompt_tokens_total", "flashlm_generated_tokens_total",
                 "flashlm_tokens_per_second", "flashlm_queue_length", "flashlm_slots_busy"):
        assert f"\n{name} " in text


def test_prefix_reuse(server):
    # the next turn of a chat shares the rendered prefix of the previous one:
    # its slot keeps those tokens and evaluates only the rest
    c = client(server)
    r = c.chat.completions.create(model="x", messages=CHAT, max_tokens=8, temperature=0)
    before = server.metric("flashlm_prompt_tokens_cached_total")
    turn2 = CHAT + [{"role": "assistant", "content": r.choices[0].message.content},
                    {"role": "user", "content": "And three more?"}]
    c.chat.completions.create(model="x", messages=turn2, max_tokens=4, temperature=0)
    assert server.metric("flashlm_prompt_tokens_cached_total") - before >= r.usage.prompt_tokens


def test_parallel_requests(server):
    # more requests than slots: all answered, the same greedy text each time
    out = [None] * 5

    def run(i):
        out[i] = client(server).chat.completions.create(model="x", messages=CHAT, max_tokens=10,
                                                        temperature=0).choices[0].message.content
    ts = [threading.Thread(target=run, args=(i,)) for i in range(5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(set(out)) == 1 and out[0]


# ---------------------------------------------------------------- errors

def post(server, path, body, headers=None):
    h = {"Content-Type": "application/json", **(headers or {})}
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(server.url + path, content=data, headers=h, timeout=60)


def check_error(r, status, param=None, code=None):
    assert r.status_code == status, r.text
    e = r.json()["error"]
    assert set(e) == {"message", "type", "param", "code"} and e["message"]
    if param is not None:
        assert e["param"] == param, e
    if code is not None:
        assert e["code"] == code, e
    return e


@pytest.mark.parametrize("body,param", [
    (b"{not json", None),
    (b"", None),
    (b"[1, 2]", None),
    (b'{"messages": "hi"}', "messages"),
    (b'{"messages": []}', "messages"),
    (b'{"model": "x"}', "messages"),
    (b'{"messages": [{"role": "user"}]}', "messages[0].content"),
    (b'{"messages": [{"role": "wizard", "content": "x"}]}', "messages[0].role"),
    (b'{"messages": [{"content": "x"}]}', "messages[0].role"),
    (b'{"messages": ["hi"]}', "messages[0]"),
    (b'{"messages": [{"role": "user", "content": 5}]}', "messages[0].content"),
    (b'{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}', "messages[0].content"),
    (b'{"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', "temperature"),
    (b'{"messages": [{"role": "user", "content": "x"}], "temperature": 5}', "temperature"),
    (b'{"messages": [{"role": "user", "content": "x"}], "top_p": 1.5}', "top_p"),
    (b'{"messages": [{"role": "user", "content": "x"}], "presence_penalty": -3}', "presence_penalty"),
    (b'{"messages": [{"role": "user", "content": "x"}], "frequency_penalty": 9}', "frequency_penalty"),
    (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', "max_tokens"),
    (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5}', "max_tokens"),
    (b'{"messages": [{"role": "user", "content": "x"}], "seed": "abc"}', "seed"),
    (b'{"messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "stream"),
    (b'{"messages": [{"role": "user", "content": "x"}], "stop": [1]}', "stop"),
    (b'{"messages": [{"role": "user", "content": "x"}], "stop": ["a","b","c","d","e"]}', "stop"),
    (b'{"messages": [{"role": "user", "content": "x"}], "n": 3}', "n"),
    (b'{"messages": [{"role": "user", "content": "x"}], "temperature": 1e999}', None),
    (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 99999999999999999999999}', None),
    (b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}', None),
    (b'{"messages": [{"role": "user", "content": "a\\u0000b"}]}', None),
    (b'{"messages": [{"role": "user", "content": "x"}], "messages": []}', None),
    (b"[" * 5000 + b"]" * 5000, None),
])
def test_bad_chat_requests(server, body, param):
    check_error(post(server, "/v1/chat/completions", body), 400, param)


@pytest.mark.parametrize("body,param", [
    ({"prompt": 7}, "prompt"),
    ({"prompt": ""}, "prompt"),
    ({}, "prompt"),
    ({"prompt": "x", "top_p": -1}, "top_p"),
])
def test_bad_completion_requests(server, body, param):
    check_error(post(server, "/v1/completions", body), 400, param)


def test_client_raises_bad_request(server):
    with pytest.raises(openai.BadRequestError) as e:
        client(server).chat.completions.create(model="x", messages=[], max_tokens=4)
    assert e.value.status_code == 400
    with pytest.raises(openai.BadRequestError):
        client(server).chat.completions.create(model="x", messages=CHAT, temperature=-1)


def test_bad_tokenize(server):
    check_error(post(server, "/tokenize", {"content": 3}), 400, "content")
    check_error(post(server, "/detokenize", {"tokens": [1, -5]}), 400, "tokens")
    check_error(post(server, "/detokenize", {"tokens": [10 ** 9]}), 400, "tokens")


def test_prompt_longer_than_context(small_server):
    long = "word " * 200
    r = post(small_server, "/v1/chat/completions", {"messages": [{"role": "user", "content": long}]},
             {"Authorization": "Bearer " + KEY})
    check_error(r, 400, "messages", "context_length_exceeded")
    with pytest.raises(openai.BadRequestError):
        client(small_server, KEY).completions.create(model="x", prompt=long)


def test_api_key(small_server):
    check_error(httpx.get(small_server.url + "/v1/models"), 401)
    check_error(httpx.get(small_server.url + "/v1/models", headers={"Authorization": "Bearer wrong"}), 401)
    with pytest.raises(openai.AuthenticationError):
        client(small_server, "wrong").models.list()
    assert client(small_server, KEY).models.list().data
    assert httpx.get(small_server.url + "/health").status_code == 200


def test_unknown_path_and_method(server):
    check_error(httpx.get(server.url + "/v1/nothing"), 404)
    check_error(httpx.get(server.url + "/v1/chat/completions"), 405)
    check_error(post(server, "/v1/models", {}), 405)


def test_body_too_large(server):
    big = b'{"prompt": "' + b"a" * (2 << 20) + b'"}'
    try:
        r = post(server, "/v1/completions", big)
        check_error(r, 413)
    except httpx.HTTPError:
        pass  # the server may close before reading the body; never a 5xx
    assert httpx.get(server.url + "/health").status_code == 200


def stream_lines(server, body, headers):
    return httpx.stream("POST", server.url + "/v1/completions", json=body, headers=headers, timeout=60)


def test_queue_full_then_disconnect_frees_slot(small_server):
    h = {"Authorization": "Bearer " + KEY}
    body = {"prompt": "Once upon a time", "max_tokens": 5000, "stream": True, "temperature": 0.8}
    with stream_lines(small_server, body, h) as r:
        it = r.iter_lines()
        while not next(it).startswith("data: {"):
            pass
        # the one slot is busy and the queue holds nothing: 503 with Retry-After
        busy = post(small_server, "/v1/completions", {"prompt": "hi", "max_tokens": 2}, h)
        check_error(busy, 503)
        assert busy.headers["retry-after"] == "1"
        assert small_server.metric("flashlm_slots_busy", h) == 1
    # the client went away mid-stream: its generation stops and the slot frees
    deadline = time.time() + 10
    while small_server.metric("flashlm_slots_busy", h) != 0:
        assert time.time() < deadline, "slot not freed after the client disconnected"
        time.sleep(0.05)
    r = client(small_server, KEY).completions.create(model="x", prompt="Hello", max_tokens=3)
    assert r.choices[0].text is not None


def test_sigterm_ends_streams_and_exits_cleanly():
    s = Server("--parallel", "1", "-c", "256")
    try:
        with stream_lines(s, {"prompt": "Once upon a time", "max_tokens": 100000, "stream": True}, {}) as r:
            it = r.iter_lines()
            assert next(l for l in it if l.startswith("data: {"))
            s.proc.send_signal(signal.SIGTERM)
            rest = list(it)
        assert "data: [DONE]" in rest
        assert s.proc.wait(timeout=20) == 0
    finally:
        s.stop()


# ---------------------------------------------------------------- memory budget

def test_mem_budget_same_answer(server):
    """Under --mem-budget (60 MiB of a 94 MiB model: weights stream from the file) the greedy answer is the one
    the unbudgeted server gives; a budget too small to run is refused at start with the minimum it needs."""
    want = client(server).chat.completions.create(model="x", messages=CHAT, max_tokens=16, temperature=0)
    s = Server("--parallel", "2", "-c", "256", "-b", "16", "--mem-budget", "60M")
    try:
        got = client(s).chat.completions.create(model="x", messages=CHAT, max_tokens=16, temperature=0)
        assert got.choices[0].message.content == want.choices[0].message.content
    finally:
        assert s.stop() == 0
    import subprocess
    from conftest import BIN, MODEL
    r = subprocess.run([BIN, "serve", "-m", MODEL, "--port", "0", "--mem-budget", "10M"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1
    assert "below the" in r.stderr and "needs at minimum" in r.stderr, r.stderr
