"""Running the web app (`scratchcnn serve`) and timing it (`scratchcnn bench-web`).

`serve` loads the weights once, warms the Numba kernels with one prediction, and runs the app on
Bottle's built-in server (wsgiref, one thread per request) or any server Bottle supports
(`--server waitress`, `cheroot`, ...). SIGTERM is turned into the same clean stop as Ctrl+C.
`bench_web` posts a 280x280 drawing from a few concurrent clients and reports latency percentiles,
throughput and errors; a benchmark, not a test.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse
from wsgiref.simple_server import WSGIServer

import bottle
import numpy as np

from scratchcnn.preprocess import render_strokes

from scratchcnn.zoo import find_weights, load_model_card, shipped_weights

from .app import create_app, predict_drawing

# a "7" with a crossbar, in a 280x280 canvas: the page's default drawing size
SEVEN = [[(70, 60), (210, 60), (130, 230)], [(105, 145), (185, 145)]]


def sample_drawing(size: int = 280) -> np.ndarray:
    """A hand-like test drawing of a 7 scaled to a size x size canvas. Shapes: -> (size, size)"""
    k = size / 280
    strokes = [[(x * k, y * k) for x, y in s] for s in SEVEN]
    return render_strokes(strokes, size, size, brush=18 * k)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _one_blas_thread() -> None:
    """Run BLAS single-threaded: a request is one image, whose small matrix products gain nothing
    from BLAS's threads (README, Speed). Each request still has its own server thread (JSON,
    base64 and preprocessing overlap); the model itself runs one forward at a time (app.py).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def load_served(weights=None) -> dict:
    """{name: (model, card)} to serve: each file in `weights` (a path or a list of them), named
    by what its model reads, else every shipped model (weights/digits/, weights/shapes/) and
    $SCRATCHCNN_WEIGHTS in place of the shipped digits. Values are (model, card, path)."""
    from scratchcnn.model import load_model

    if weights is None or weights == []:
        paths = shipped_weights()
        if os.environ.get("SCRATCHCNN_WEIGHTS"):
            paths["digits"] = find_weights()
        if not paths:
            find_weights()  # raises the FileNotFoundError that names --weights
        paths = list(paths.values())
    else:
        paths = [find_weights(w) for w in ([weights] if isinstance(weights, (str, os.PathLike))
                                           else weights)]
    served = {}
    for path in paths:
        model = load_model(path)
        if model.reads in served:
            raise ValueError(f"two models that read {model.reads}: {served[model.reads][2]} and "
                             f"{path}; pass one --weights per kind (digits, shapes)")
        served[model.reads] = (model, load_model_card(path), path)
    return served


def serve(weights=None, host: str = "127.0.0.1", port: int = 8000, server: str = "wsgiref") -> int:
    """Load the weights (every shipped model unless given), warm up, serve until SIGINT or
    SIGTERM; returns the exit status."""

    if server not in bottle.server_names:
        raise ValueError(f"unknown server {server!r}; Bottle knows {sorted(bottle.server_names)}")
    _one_blas_thread()
    served = load_served(weights)
    for model, _, _ in served.values():
        predict_drawing(model, sample_drawing(), with_maps=True)  # compile or load the Numba cache
    app = create_app({name: (model, card) for name, (model, card, _) in served.items()})
    path = ", ".join(f"{name} {p}" for name, (_, _, p) in served.items())

    def announce(bound_port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        print(
            f"scratchcnn: serving {path} at http://{shown}:{bound_port}/ ({server}; Ctrl+C to stop)",
            flush=True,
        )

    class ThreadedWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True  # a stuck client never blocks shutdown
        block_on_close = False

        def server_activate(self):
            super().server_activate()
            announce(self.server_address[1])  # the bound port, also when 0 was asked for

    signal.signal(signal.SIGTERM, _raise_interrupt)
    options = {}
    if server == "wsgiref":
        if ":" in host:
            ThreadedWSGIServer.address_family = socket.AF_INET6
        options["server_class"] = ThreadedWSGIServer
    else:
        # other servers bind inside bottle.run and do not report the port: choose it here
        port = port or free_port(host)
        announce(port)
    try:
        bottle.run(app, server=server, host=host, port=port, quiet=True, **options)
    except ImportError as e:
        raise ValueError(f"server {server!r} is not installed ({e}); pip install {server}") from e
    except OSError as e:
        raise ValueError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    print("scratchcnn: server stopped", flush=True)
    return 0


def _post(url: urllib.parse.SplitResult, body: bytes, timeout: float) -> tuple[int, float]:
    """One POST; returns (status, seconds). Status 0 means the connection failed."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request(
            "POST",
            url.path + ("?" + url.query if url.query else ""),
            body,
            {"Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        resp.read()
        status = resp.status
    except OSError:
        status = 0
    finally:
        conn.close()
    return status, time.perf_counter() - start


def wait_until_up(base: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> float:
    """Poll GET /healthz until it answers 200; returns the seconds waited."""
    url = urllib.parse.urlsplit(base)
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before answering")
        try:
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
        finally:
            conn.close()
    raise RuntimeError(f"no answer from {base}healthz within {timeout:.0f} s")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def bench_web(
    url: str | None = None,
    clients: int = 4,
    requests: int = 400,
    size: int = 280,
    activations: bool = False,
    weights=None,
    server: str = "wsgiref",
) -> dict:
    """Time POST /api/predict from `clients` threads; starts a local server unless `url` is given.

    Returns {"median_ms", "p90_ms", "req_per_s", "errors", "requests", "clients", "body_bytes",
    "ready_s"} (ready_s: seconds from starting the server to its first answer, None for `url`).
    """
    proc, started = None, time.perf_counter()
    if url is None:
        port = free_port()
        cmd = [sys.executable, "-m", "scratchcnn", "serve", "--port", str(port), "--server", server]
        if weights:
            cmd += ["--weights", str(weights)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, proc=proc)
        ready_s = time.perf_counter() - started if proc is not None else None
        target = urllib.parse.urlsplit(
            urllib.parse.urljoin(url, "api/predict" + ("?activations=1" if activations else ""))
        )
        pixels = sample_drawing(size)
        body = json.dumps(
            {"width": size, "height": size, "pixels": base64.b64encode(pixels.tobytes()).decode("ascii")}
        ).encode()
        for _ in range(10):  # warm-up, not timed
            _post(target, body, 10.0)
        times, statuses = [], []
        lock = threading.Lock()
        per_client = [requests // clients + (i < requests % clients) for i in range(clients)]

        def client(n: int) -> None:
            for _ in range(n):
                status, seconds = _post(target, body, 10.0)
                with lock:
                    times.append(seconds)
                    statuses.append(status)

        threads = [threading.Thread(target=client, args=(n,)) for n in per_client]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
    ms = np.array(times) * 1e3
    return {
        "requests": len(times),
        "clients": clients,
        "body_bytes": len(body),
        "ready_s": ready_s,
        "median_ms": float(np.median(ms)),
        "p90_ms": float(np.percentile(ms, 90)),
        "req_per_s": len(times) / wall,
        "errors": sum(s != 200 for s in statuses),
    }
