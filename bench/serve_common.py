# serve_common.py - what the server benchmarks share: starting a server on a
# free port, its resident memory, its Prometheus metrics.
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]


class Server:
    def __init__(self, binary, model, *args):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([binary, "serve", "-m", model, "--port", str(self.port), *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(600):
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read().decode())
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def metrics(self):
        out = {}
        for line in urllib.request.urlopen(self.url + "/metrics", timeout=10).read().decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.split()
                out[k] = float(v)
        return out

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        return rc


def default_paths():
    return (os.environ.get("FLM_BIN", str(ROOT / "build" / "flashlm")),
            os.environ.get("FLM_MODEL", str(ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")))
