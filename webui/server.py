"""Running the web app (`scratchcnn serve`) and timing it (`scratchcnn bench-web`).

`serve` loads the weights once, warms the Numba kernels with one prediction, and runs the app on
waitress with limits (a request timeout, a connection limit, a few threads, JSON errors for what
waitress refuses itself), on Python's wsgiref (`--server wsgiref`, for development) or on any
other server Bottle supports. SIGTERM is turned into the same clean stop as Ctrl+C.
`bench_web` posts a 280x280 drawing from a few concurrent clients and reports latency percentiles,
throughput and errors; a benchmark, not a test.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import importlib.util
import json
import logging
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

import bottle
import numpy as np

from scratchcnn.preprocess import render_strokes

from scratchcnn.zoo import find_weights, load_model_card, shipped_weights

from .app import DRAIN_LIMIT, JSON_TYPE, MAX_BODY, create_app, predict_drawing
from .wire import MAX_SIDE

# a "7" with a crossbar, in a 280x280 canvas: the page's default drawing size
SEVEN = [[(70, 60), (210, 60), (130, 230)], [(105, 145), (185, 145)]]


def sample_drawing(size: int = 280) -> np.ndarray:
    """A hand-like test drawing of a 7 scaled to a size x size canvas. Shapes: -> (size, size)"""
    k = size / 280
    strokes = [[(x * k, y * k) for x, y in s] for s in SEVEN]
    return render_strokes(strokes, size, size, brush=18 * k)


class _ServerHandler(ServerHandler):
    server_software = "scratchcnn"  # instead of "WSGIServer/0.2 CPython/3.x.y"


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _one_blas_thread() -> None:
    """Run BLAS single-threaded: a request is one image, whose small matrix products gain nothing
    from BLAS's threads (README, Speed). Each request still has its own server thread (JSON,
    base64 and preprocessing overlap); the model itself runs one forward at a time (app.py).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


# Limits of the default server (waitress). A stalled or idle client is dropped after TIMEOUT
# seconds; at most CONNECTIONS sockets are open at once (more wait in the listen queue) and
# THREADS threads run the app, so a flood of idle sockets costs neither threads nor memory.
TIMEOUT = 30
THREADS = 4
CONNECTIONS = 100
MAX_HEADERS = 64 << 10  # bytes of request line and headers


def check_server(server: str) -> None:
    """ValueError unless `server` is one Bottle knows and its package is installed."""
    if server not in bottle.server_names:
        raise ValueError(f"unknown server {server!r}; choose one of {sorted(bottle.server_names)}")
    module = {"cherrypy": "cheroot", "paste": "paste", "gunicorn": "gunicorn",
              "fapws3": "fapws"}.get(server, server)
    if server not in ("wsgiref", "auto") and importlib.util.find_spec(module) is None:
        raise ValueError(f"server {server!r} is not installed: pip install {module}")


def _waitress_server(app, host: str, port: int, timeout: float):
    """A waitress server bound to host:port with the limits above, answering the errors it
    finds itself (a bad Content-Length, headers over MAX_HEADERS, a body over the app's limit,
    chunked or not) as JSON {"error": ...} like the app does."""
    from waitress.channel import HTTPChannel
    from waitress.server import create_server
    from waitress.task import ErrorTask

    messages = {413: f"request body too large: the limit is {MAX_BODY} bytes",
                431: f"request headers too large: the limit is {MAX_HEADERS} bytes"}

    class JsonErrorTask(ErrorTask):
        def execute(self):
            e = self.request.error
            text = messages.get(e.code) or f"{e.reason.lower()}: {e.body}"
            body = json.dumps({"error": text}).encode()
            self.status = f"{e.code} {e.reason}"
            self.response_headers.append(("Content-Type", "application/json"))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)
            self.channel.drain_left = DRAIN_LIMIT

    class JsonErrorChannel(HTTPChannel):
        """After an error answer, read away (never store) up to DRAIN_LIMIT more bytes before
        closing: closing on unread bytes resets the connection, and a client still sending its
        body would lose the answer. The channel timeout still ends a drain that stalls."""

        error_task_class = JsonErrorTask
        drain_left, draining = 0, False

        def handle_close(self):
            if self.drain_left > 0 and not self.draining and self.connected:
                self.draining, self.will_close = True, False
                with contextlib.suppress(OSError):
                    self.socket.shutdown(socket.SHUT_WR)  # the answer is complete
                return
            super().handle_close()

        def readable(self):
            return True if self.draining else super().readable()

        def writable(self):  # while draining, only to let the timeout close the channel
            return self.will_close if self.draining else super().writable()

        def handle_read(self):
            if not self.draining:
                return super().handle_read()
            self.drain_left -= len(self.recv(1 << 16))  # recv closes the channel on EOF
            if self.drain_left <= 0:
                super().handle_close()

    srv = create_server(app, host=host, port=port, threads=THREADS, channel_timeout=timeout,
                        cleanup_interval=min(5, timeout), connection_limit=CONNECTIONS,
                        # waitress refuses sizes >= its limits; ours are the largest allowed
                        max_request_body_size=MAX_BODY + 1,
                        max_request_header_size=MAX_HEADERS + 1,
                        asyncore_use_poll=True, ident="scratchcnn", expose_tracebacks=False)
    srv.channel_class = JsonErrorChannel
    return srv


def load_served(weights=None) -> dict:
    """{name: (model, card, path)} to serve: each file in `weights` (a path or a list of them),
    named by what its model reads, else every shipped model (weights/digits/, weights/shapes/),
    $SCRATCHCNN_WEIGHTS in place of the shipped digits."""
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


def _load_app(weights):
    """(what is served, app): the weights loaded once and the Numba kernels warmed up."""
    _one_blas_thread()
    served = load_served(weights)
    for model, _, _ in served.values():
        predict_drawing(model, sample_drawing(), with_maps=True)  # compile or load the Numba cache
    path = ", ".join(f"{name} {p}" for name, (_, _, p) in served.items())
    return path, create_app({name: (model, card) for name, (model, card, _) in served.items()})


def wsgi_app(weights=None) -> bottle.Bottle:
    """The app for another WSGI server, e.g. several gunicorn workers behind one port (README):
    `gunicorn ... 'webui.server:wsgi_app()'`. weights: a path, else $SCRATCHCNN_WEIGHTS, else
    the shipped ones; each worker process loads them once, like `scratchcnn serve`."""
    from scratchcnn.parallel import configure_process

    configure_process()
    return _load_app(weights)[1]


def serve(weights=None, host: str = "127.0.0.1", port: int = 8000, server: str = "waitress",
          timeout: float = TIMEOUT) -> int:
    """Load the weights, warm up, serve until SIGINT or SIGTERM; returns the exit status.

    Everything that can be wrong (the server's name or package, the port, the weights, the
    address) raises ValueError before "serving" is printed."""
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535, got {port}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    check_server(server)
    path, app = _load_app(weights)

    def announce(bound_port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        print(
            f"scratchcnn: serving {path} at http://{shown}:{bound_port}/ ({server}; Ctrl+C to stop)",
            flush=True,
        )

    timeout_s = timeout

    class QuietHandler(WSGIRequestHandler):
        """wsgiref's handler, quiet, with a socket timeout (a stalled client's thread ends),
        JSON error pages and a Server header that names no Python version."""

        server_version, sys_version = "scratchcnn", ""
        error_content_type, error_message_format = JSON_TYPE, '{"error": "%(message)s"}'
        timeout = timeout_s

        def handle(self):  # wsgiref's own, but with the ServerHandler below
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.send_error(414, "request line too long")
                return
            if not self.parse_request():
                return
            handler = _ServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(),
                                     multithread=False)
            handler.request_handler = self
            handler.run(self.server.get_app())

        def log_message(self, *args):
            pass

    class ThreadedWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True  # a stuck client never blocks shutdown
        block_on_close = False
        request_queue_size = 128  # socketserver's 5 refused bursts of 16 clients (1 s retries)

        def server_activate(self):
            super().server_activate()
            announce(self.server_address[1])  # the bound port, also when 0 was asked for

        def handle_error(self, request, client_address):
            if not isinstance(sys.exc_info()[1], (TimeoutError, ConnectionError)):
                super().handle_error(request, client_address)  # a dropped client is routine

    signal.signal(signal.SIGTERM, _raise_interrupt)
    # waitress logs a line whenever requests wait for a thread: routine under a burst
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    try:
        if server == "waitress":
            srv = _waitress_server(app, host, port, timeout)
            announce(srv.effective_port)
            try:
                srv.run()
            finally:
                srv.close()
        elif server == "wsgiref":
            if ":" in host:
                ThreadedWSGIServer.address_family = socket.AF_INET6
            bottle.run(app, server=server, host=host, port=port, quiet=True,
                       server_class=ThreadedWSGIServer, handler_class=QuietHandler)
        else:
            # other servers bind inside bottle.run and do not report the port: choose it here,
            # and make sure it can be bound before saying so
            port = port or free_port(host)
            with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, port))
            announce(port)
            bottle.run(app, server=server, host=host, port=port, quiet=True)
    except OSError as e:
        raise ValueError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    except KeyboardInterrupt:
        pass
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
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=1)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return time.perf_counter() - start
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)
        finally:
            conn.close()
    raise RuntimeError(f"no answer from {base}healthz within {timeout:.0f} s")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _time_posts(target, body: bytes, clients: int, requests: int) -> dict:
    """`requests` POSTs of `body` from `clients` threads after 10 untimed ones: latency and rate."""
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
    ms = np.array(times) * 1e3
    return {"requests": len(times), "median_ms": float(np.median(ms)),
            "p90_ms": float(np.percentile(ms, 90)), "max_ms": float(ms.max()),
            "slow": int((ms > 1000).sum()), "req_per_s": len(times) / wall,
            "errors": sum(s != 200 for s in statuses)}


def bench_web(
    url: str | None = None,
    clients: int = 4,
    requests: int = 400,
    size: int = 280,
    activations: bool = False,
    weights=None,
    server: str = "waitress",
    explain: bool = False,
) -> dict:
    """Time POST /api/predict from `clients` threads; starts a local server unless `url` is given.

    Returns {"median_ms", "p90_ms", "max_ms", "slow", "req_per_s", "errors", "requests",
    "clients", "body_bytes", "ready_s"} (slow: requests over 1 s; ready_s: seconds from starting
    the server to its first answer, None for `url`). Bad arguments, and a `url` where nothing
    answers, raise ValueError before any request is timed. explain=True then times
    `?explain=1` (the saliency) on the same server right after, under "explain" with the same
    keys, so both rates come from one run.
    """
    if clients < 1 or requests < 1:
        raise ValueError(f"clients and requests must be >= 1, got {clients} and {requests}")
    if not 1 <= size <= MAX_SIDE:
        raise ValueError(f"size must be in 1..{MAX_SIDE} pixels (the API's limit), got {size}")
    if url is not None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"url must look like http://HOST:PORT/, got {url!r}")
        try:
            _ = parts.port  # reading it validates the port
        except ValueError as e:
            raise ValueError(f"url {url!r}: {e}") from None
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        try:  # one try, not a wait: a server given by URL is meant to be up already
            conn.request("GET", urllib.parse.urljoin(parts.path or "/", "healthz"))
            status = conn.getresponse().status
        except (OSError, http.client.HTTPException) as e:
            raise ValueError(f"no answer from {url} ({e}): is `scratchcnn serve` running "
                             "there?") from None
        finally:
            conn.close()
        if status != 200:
            raise ValueError(f"{url}healthz answered {status}: not a scratchcnn server?")
    else:
        check_server(server)
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
        query = "?activations=1" if activations else ""
        target = urllib.parse.urlsplit(urllib.parse.urljoin(url, "api/predict" + query))
        pixels = sample_drawing(size)
        body = json.dumps(
            {"width": size, "height": size, "pixels": base64.b64encode(pixels.tobytes()).decode("ascii")}
        ).encode()
        result = _time_posts(target, body, clients, requests)
        if explain:
            query = query + ("&" if query else "?") + "explain=1"
            target = urllib.parse.urlsplit(urllib.parse.urljoin(url, "api/predict" + query))
            result["explain"] = _time_posts(target, body, clients, requests)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
    return {**result, "clients": clients, "body_bytes": len(body), "ready_s": ready_s}
