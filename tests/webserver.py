"""Start `scratchcnn serve` as a real process on a free loopback port, for integration tests."""

import contextlib
import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

from webui.server import wait_until_up

REPO = Path(__file__).resolve().parent.parent


class Server:
    """A running `scratchcnn serve`: its process, base URL and the lines it printed."""

    def __init__(self, weights, *extra: str, timeout: float = 60.0):
        cmd = [sys.executable, "-m", "scratchcnn", "serve", "--port", "0", *extra]
        if weights is not None:
            cmd += ["--weights", str(weights)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors: list[str] = []  # stderr, drained so a chatty server never blocks on it
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        threading.Thread(target=lambda: self.errors.extend(self.proc.stderr), daemon=True).start()
        self.url = self._wait_for_address(timeout)
        parts = urllib.parse.urlsplit(self.url)
        self.host, self.port = parts.hostname, parts.port
        # waitress and wsgiref print once listening; other servers just before they bind
        wait_until_up(self.url, timeout=timeout, proc=self.proc)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)

    def _wait_for_address(self, timeout: float) -> str:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    time.sleep(0.2)
                    raise RuntimeError(
                        f"server exited ({self.proc.returncode}): {''.join(self.errors)}"
                    ) from None
                continue
            if "http://" in line:
                return line[line.index("http://") :].split()[0]
        self.stop()
        raise RuntimeError("server did not print its address in time")

    def output(self) -> str:
        """What the server printed after its address line (call after stop)."""
        self._reader.join(timeout=5)
        lines = []
        while not self.lines.empty():
            lines.append(self.lines.get())
        return "".join(lines)

    def request(self, method: str, path: str, body=None, headers=None, timeout: float = 30.0):
        """One request on a fresh connection; returns (status, headers, parsed JSON or text)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body, headers or {})
            res = conn.getresponse()
            raw = res.read()
            ctype = res.getheader("Content-Type", "")
            data = json.loads(raw) if ctype.startswith("application/json") else raw.decode()
            return res.status, res, data
        finally:
            conn.close()

    def post_json(self, path: str, payload, ctype: str = "application/json"):
        text = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
        return self.request("POST", path, text, {"Content-Type": ctype})

    def stop(self, sig=signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextlib.contextmanager
def running_server(weights, *extra: str):
    server = Server(weights, *extra)
    try:
        yield server
    finally:
        server.stop()
        for stream in (server.proc.stdout, server.proc.stderr):
            stream.close()
