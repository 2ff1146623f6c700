#!/usr/bin/env python3
# serve_badinput.py - what the network throws at `flashlm serve`: malformed
# requests (broken JSON, deep nesting, invalid UTF-8, huge numbers, wrong
# types, oversize bodies, header floods, slow clients, disconnects mid-prompt
# and mid-stream) interleaved with good ones.
#
# Passes when every bad request is answered 4xx or closed (never 5xx, never
# a hang), every good one gets 200 and the same greedy text as before, and
# afterwards the server is alive, no slot is left busy and its RSS is steady.
#
# usage: bench/serve_badinput.py   (FLM_BIN / FLM_MODEL override the defaults)
import json
import socket
import sys
import threading
import time

from serve_common import Server, default_paths

GOOD = json.dumps({"prompt": "The capital of France is", "max_tokens": 6, "temperature": 0}).encode()


def raw(port, data, read=True, timeout=30, delay=None, close_early=False):
    """Sends bytes (a list: pieces sent with delay between); returns the status or 'closed'."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        for piece in (data if isinstance(data, list) else [data]):
            try:
                s.sendall(piece)
            except OSError:
                return "closed"
            if delay:
                time.sleep(delay)
        if close_early:
            return "closed"
        if not read:
            return "sent"
        buf = b""
        while b"\r\n" not in buf:
            try:
                k = s.recv(65536)
            except ConnectionResetError:
                return "closed"
            except socket.timeout:
                return "TIMEOUT"
            if not k:
                return "closed"
            buf += k
        return int(buf.split(b" ", 2)[1])
    finally:
        s.close()


def post(path, body, extra=b"", ctype=b"application/json"):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: " + ctype + b"\r\nContent-Length: " +
            str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


def chat(body):
    return post(b"/v1/chat/completions", body)


def comp(body):
    return post(b"/v1/completions", body)


def good_request(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(comp(GOOD)[:-len(GOOD)].replace(b"HTTP/1.1", b"HTTP/1.0") + GOOD)
    buf = b""
    while True:
        k = s.recv(65536)
        if not k:
            break
        buf += k
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)["choices"][0]["text"] if body.startswith(b"{") else None


def stream_then_drop(port, after_events):
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 2000, "stream": True}).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(comp(body))
    seen = b""
    while seen.count(b"data: ") < after_events:
        k = s.recv(4096)
        if not k:
            return "closed"
        seen += k
    s.close()
    return int(seen.split(b" ", 2)[1])


def cases():
    msg = lambda extra: ('{"messages":[{"role":"user","content":"hi"}]' + extra + "}").encode()
    big = b"x" * (2 << 20)
    c = [
        # broken JSON
        ("json: truncated", chat(b'{"messages": [')),
        ("json: empty body", chat(b"")),
        ("json: trailing comma", chat(b'{"messages": [],}')),
        ("json: single quotes", chat(b"{'messages': []}")),
        ("json: bare word", chat(b"null")),
        ("json: two objects", chat(msg("") + b"{}")),
        ("json: random bytes", chat(bytes(range(256)))),
        ("json: unterminated string", chat(b'{"messages": "abc')),
        ("json: duplicate keys", chat(b'{"messages": [], "messages": []}')),
        ("json: NUL escape", chat(b'{"messages":[{"role":"user","content":"a\\u0000b"}]}')),
        # deep nesting
        ("nesting: 100k arrays", chat(b"[" * 100000 + b"]" * 100000)),
        ("nesting: 50k objects", chat(b'{"a":' * 50000 + b"1" + b"}" * 50000)),
        ("nesting: deep content", chat(b'{"messages":[{"role":"user","content":' + b"[" * 3000 + b"]" * 3000 + b"}]}")),
        # invalid UTF-8
        ("utf8: 0xff in string", chat(b'{"messages":[{"role":"user","content":"\xff\xfe"}]}')),
        ("utf8: overlong", chat(b'{"messages":[{"role":"user","content":"\xc0\xaf"}]}')),
        ("utf8: lone surrogate escape", chat(b'{"messages":[{"role":"user","content":"\\ud800"}]}')),
        ("utf8: bad key", chat(b'{"\xe2\x82":1}')),
        # huge numbers
        ("number: 1e999 temperature", chat(msg(',"temperature":1e999'))),
        ("number: 30-digit max_tokens", chat(msg(',"max_tokens":123456789012345678901234567890'))),
        ("number: max_tokens 2^40", chat(msg(',"max_tokens":1099511627776'))),
        ("number: -1e308 top_p", chat(msg(',"top_p":-1e308'))),
        ("number: huge seed", chat(msg(',"seed":1e300'))),
        # wrong types
        ("type: messages number", chat(b'{"messages": 5}')),
        ("type: content object", chat(b'{"messages":[{"role":"user","content":{}}]}')),
        ("type: stop number", chat(msg(',"stop":5'))),
        ("type: stream string", chat(msg(',"stream":"yes"'))),
        ("type: model array", chat(msg(',"model":[]'))),
        ("type: prompt null", comp(b'{"prompt":null}')),
        ("type: tokens strings", post(b"/detokenize", b'{"tokens":["a"]}')),
        # oversize bodies
        ("size: 2 MiB body", comp(b'{"prompt":"' + big + b'"}')),
        ("size: Content-Length 10 GB", b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n{"),
        ("size: chunked 2 MiB", b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
         b"".join(b"%x\r\n" % 65536 + b"a" * 65536 + b"\r\n" for _ in range(33)) + b"0\r\n\r\n"),
        ("size: prompt over context", comp(json.dumps({"prompt": "word " * 3000}).encode())),
        # header floods
        ("headers: 5000 headers", b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n"),
        ("headers: 200 KB header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n"),
        ("headers: 100 KB URL", b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("headers: garbage request line", b"GARBAGE\r\n\r\n"),
        ("headers: bad header line", b"GET /health HTTP/1.1\r\nno colon here\r\n\r\n"),
        ("headers: unknown method", b"BREW /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("headers: path traversal", b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("headers: Content-Length not a number", b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
    ]
    return c


def main():
    binary, model = default_paths()
    srv = Server(binary, model, "--parallel", "2", "-c", "256", "-t", "2")
    bad_fail, good_fail, n_bad = [], [], 0
    try:
        st, ref = good_request(srv.port)
        assert st == 200 and ref, "the good request failed before any bad input"
        good_request(srv.port)
        rss0 = srv.rss_kib()

        def check_good(after):
            st, text = good_request(srv.port)
            if st != 200 or text != ref:
                good_fail.append(f"after {after}: {st} {text!r}")

        def check_bad(name, result):
            nonlocal n_bad
            n_bad += 1
            ok = result == "closed" or (isinstance(result, int) and 400 <= result < 500)
            print(f"  {'ok ' if ok else 'BAD'} {name}: {result}")
            if not ok:
                bad_fail.append(f"{name}: {result}")

        rounds = []
        for _ in range(2):  # twice: memory after the second round shows whether it is steady
            for name, data in cases():
                check_bad(name, raw(srv.port, data))
                check_good(name)
            rounds.append(srv.rss_kib())
        # slow clients: a request trickled a byte at a time while good ones are served
        slow = {}
        t = threading.Thread(target=lambda: slow.update(r=raw(srv.port, [bytes([b]) for b in chat(msg_hi())],
                                                               delay=0.02)))
        t.start()
        for _ in range(3):
            check_good("slow client (during)")
        t.join()
        check_bad("slow: byte-by-byte body (ends in a 400?)", slow["r"] if slow["r"] != 200 else "200")
        check_bad("slow: headers never finished", raw(srv.port, [b"GET /health HTTP/1.1\r\nHost: x\r\n"], timeout=40))
        check_good("slowloris")
        # disconnects
        body = json.dumps({"prompt": "Once upon a time " * 20, "max_tokens": 50}).encode()
        check_bad("disconnect: half the body", raw(srv.port, comp(body)[:-len(body) // 2], close_early=True))
        check_bad("disconnect: after the request, before the answer", raw(srv.port, comp(body), close_early=True))
        check_good("disconnects mid-prompt")
        for k in (1, 3, 10):
            check_bad(f"disconnect: mid-stream after {k} events", "closed" if stream_then_drop(srv.port, k) else "?")
            check_good("disconnect mid-stream")
        for _ in range(50):
            if srv.metrics()["flashlm_slots_busy"] == 0:
                break
            time.sleep(0.1)
        busy = srv.metrics()["flashlm_slots_busy"]
        for _ in range(3):
            check_good("the end")
        rss1 = srv.rss_kib()
        m = srv.metrics()
    finally:
        rc = srv.stop()
    print(f"{n_bad} bad requests: {n_bad - len(bad_fail)} answered 4xx or closed, {len(bad_fail)} not")
    print(f"good requests failing: {len(good_fail)}; slots busy afterwards: {busy:.0f}; 5xx answers: "
          f"{m['flashlm_http_responses_5xx_total']:.0f}; exit status after SIGTERM: {rc}")
    print(f"server RSS before {rss0 / 1024:.1f} MiB, after round 1 of the cases {rounds[0] / 1024:.1f} MiB, after round 2 "
          f"{rounds[1] / 1024:.1f} MiB, at the end {rss1 / 1024:.1f} MiB ({100.0 * (rss1 - rss0) / rss0:+.2f}% overall)")
    for f in bad_fail + good_fail:
        print("  FAIL", f)
    sys.exit(1 if bad_fail or good_fail or busy or m["flashlm_http_responses_5xx_total"] or rc else 0)


def msg_hi():
    return b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":2,"temperature":"x"}'


if __name__ == "__main__":
    main()
