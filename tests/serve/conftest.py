# conftest.py - live flashlm servers for the server tests.
#
# FLM_BIN (default build/flashlm) is the binary, FLM_MODEL (default
# models/SmolLM2-135M-Instruct.Q4_1.gguf) the model. Each server listens on
# a free loopback port and is stopped with SIGTERM after the session, which
# must end it cleanly (exit 0).
import os
import pathlib
import signal
import socket
import subprocess
import time

import httpx
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("FLM_BIN", str(ROOT / "build" / "flashlm"))
MODEL = os.environ.get("FLM_MODEL", str(ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"))
KEY = "sk-test-key"


class Server:
    def __init__(self, *args):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([BIN, "serve", "-m", MODEL, "--port", str(self.port), "-t", "2", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, self.proc.stdout.read().decode()
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not come up")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return rc

    def metric(self, name, headers=None):
        text = httpx.get(self.url + "/metrics", headers=headers or {}).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise KeyError(name)


@pytest.fixture(scope="session")
def server():
    """Open server: 2 slots, 512-token contexts."""
    s = Server("--parallel", "2", "-c", "512")
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="session")
def small_server():
    """An API key, one slot, no queue, 64-token context: auth, 503, context and disconnect cases."""
    s = Server("--parallel", "1", "--queue", "0", "-c", "64", "--api-key", KEY)
    yield s
    assert s.stop() == 0
