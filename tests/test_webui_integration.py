"""`scratchcnn serve` as a real process on a loopback port, with the shipped weights.

Good drawings, every bad input of the API (plus hypothesis-generated junk), then a check that
the server still answers; clean shutdown on SIGTERM and SIGINT.
"""

import base64
import json
import signal
import socket
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digits import DIGITS, drawing
from test_webui import BAD_JSON
from webserver import running_server
from scratchcnn.zoo import find_weights
from webui.server import bench_web

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def weights():
    return find_weights()  # the shipped weights (or $SCRATCHCNN_WEIGHTS); missing is an error


@pytest.fixture(scope="module")
def server(weights):
    with running_server(weights) as srv:
        yield srv


def body(pixels: np.ndarray) -> dict:
    h, w = pixels.shape
    return {"width": w, "height": h, "pixels": base64.b64encode(pixels.tobytes()).decode()}


def test_serve_prints_its_address_and_answers_healthz(server):
    status, _, data = server.request("GET", "/healthz")
    assert (status, data) == (200, {"status": "ok"})
    assert server.url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("digit", sorted(DIGITS))
@pytest.mark.parametrize(
    "canvas, left, top, size, brush",
    [
        (280, 40, 40, 200, 18),  # the page's default: large, centred
        (280, 190, 10, 70, 6),  # small, top-right corner
        (600, 50, 300, 250, 40),  # another canvas size, bottom-left, thick brush
    ],
)
def test_drawn_digits_are_recognised(server, digit, canvas, left, top, size, brush):
    pixels = drawing(digit, canvas=canvas, left=left, top=top, size=size, brush=brush)
    status, _, data = server.post_json("/api/predict", body(pixels))
    assert status == 200
    assert data["digit"] == digit, f"probabilities {np.round(data['probabilities'], 3)}"
    assert sum(data["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    assert np.array(data["input"]).shape == (28, 28)


def test_activations_are_compact_and_named(server):
    status, res, data = server.post_json("/api/predict?activations=1", body(drawing(4)))
    assert status == 200 and data["digit"] == 4
    from scratchcnn import load_model
    from scratchcnn.zoo import find_weights

    shipped = [type(layer).__name__ for layer in load_model(find_weights()).layers]
    want = [t for t in shipped if t in ("Conv2D", "BatchNorm2D", "MaxPool2D")]
    assert [m["name"].split(":")[1] for m in data["maps"]] == want and "Conv2D" in want
    for m in data["maps"]:
        assert len(base64.b64decode(m["data"])) == np.prod(m["shape"])  # one byte per value
    assert int(res.getheader("Content-Length")) < 100_000


def test_empty_drawing_is_not_a_guess(server):
    status, _, data = server.post_json("/api/predict", body(np.zeros((280, 280), np.uint8)))
    assert status == 200 and data["digit"] is None and data["message"]


def assert_error(status, res, data, expected_status, fragment):
    assert status == expected_status
    assert res.getheader("Content-Type").startswith("application/json")
    assert fragment in data["error"] and "Traceback" not in json.dumps(data)


@pytest.mark.parametrize("text, status, fragment", BAD_JSON)
def test_bad_json_is_400(server, text, status, fragment):
    assert_error(*server.post_json("/api/predict", text), status, fragment)


def test_wrong_content_type_is_415(server):
    result = server.post_json("/api/predict", json.dumps(body(drawing(1))), ctype="text/plain")
    assert_error(*result, 415, "Content-Type")


def test_unknown_route_is_404_and_wrong_method_405(server):
    assert_error(*server.request("GET", "/api/nothing"), 404, "not found")
    assert_error(*server.request("PUT", "/api/predict", "{}"), 405, "not allowed")


def test_body_over_one_mebibyte_is_413(server):
    big = json.dumps({"width": 1, "height": 1, "pixels": "A" * (1 << 20)})
    assert_error(*server.post_json("/api/predict", big), 413, "too large")


def test_body_of_exactly_the_limit_is_served_and_one_byte_more_is_413(server):
    from test_webui import body_of_size

    headers = {"Content-Type": "application/json"}
    status, _, data = server.request("POST", "/api/predict", body_of_size(1 << 20), headers)
    assert status == 200 and isinstance(data["digit"], int)
    assert_error(*server.request("POST", "/api/predict", body_of_size((1 << 20) + 1), headers),
                 413, "too large")


def test_lying_content_length_is_answered_not_hung(server):
    # declares 2 MiB, sends a few bytes: refused on the header alone
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(
            b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2097152\r\n\r\n{}"
        )
        head = s.recv(4096)
    assert b" 413 " in head.split(b"\r\n")[0]


def _raw(server, data: bytes) -> tuple[int, dict, bytes]:
    """Send bytes as they are; (status, headers, body) of the answer.

    A server refusing a request before reading all of it closes on unread bytes, which resets
    the connection and may destroy its answer before we read it: then try again (5 times)."""
    for _ in range(5):
        answer = b""
        with socket.create_connection((server.host, server.port), timeout=10) as s:
            try:
                s.sendall(data)
                while chunk := s.recv(65536):
                    answer += chunk
            except ConnectionResetError:
                pass
        if answer:
            break
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def assert_raw_json_error(answer, expected_status, fragment):
    status, headers, body = answer
    assert status == expected_status, (status, body[:200])
    assert headers["content-type"].startswith("application/json")
    assert fragment in json.loads(body)["error"]


@pytest.mark.parametrize("header, status, fragment", [
    (b"Content-Length: abc", 400, "Content-Length"),
    (b"X-Big: " + b"a" * 70_000, 431, "headers too large"),
], ids=["bad Content-Length", "70 KB header"])
def test_malformed_headers_get_a_json_error(server, header, status, fragment):
    request = (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               + header + b"\r\nConnection: close\r\n\r\n{}")
    assert_raw_json_error(_raw(server, request), status, fragment)


def test_small_chunked_body_is_served(server):
    payload = json.dumps(body(drawing(7))).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(payload[i:i + 4096]), payload[i:i + 4096])
                      for i in range(0, len(payload), 4096))
    status, _, answer = _raw(server, b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             b"application/json\r\nTransfer-Encoding: chunked\r\nConnection: "
                             b"close\r\n\r\n" + chunks + b"0\r\n\r\n")
    assert status == 200 and json.loads(answer)["digit"] == 7


def test_chunked_body_over_the_limit_is_refused_before_it_is_all_read(server):
    # 64 MiB offered in 64 KiB chunks: the server answers 413 once it has seen more than the
    # limit, reads away at most 16 MiB more without keeping it, then hangs up, so the client
    # cannot send it all (socket buffers hold a few MiB at most)
    chunk = b"10000\r\n" + b"A" * 0x10000 + b"\r\n"
    sent = 0
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            while sent < 64 << 20:
                s.sendall(chunk)
                sent += 0x10000
        except OSError:  # reset or broken pipe: the server closed the connection
            pass
        try:
            answer = s.recv(65536)
        except OSError:
            answer = b""
    assert sent < 32 << 20, f"the server read {sent >> 20} MiB of a body over the 1 MiB limit"
    assert b" 413 " in answer.split(b"\r\n")[0] and b"application/json" in answer


def test_server_header_names_no_python_version(server):
    _, res, _ = server.request("GET", "/healthz")
    assert res.getheader("Server") == "scratchcnn"


def _threads(pid: int) -> int:
    status = open(f"/proc/{pid}/status").read()
    return int(status.split("Threads:")[1].split()[0])


def test_stalled_and_idle_clients_are_dropped_and_cost_no_threads(weights):
    with running_server(weights, "--timeout", "2") as srv:
        stalled = socket.create_connection((srv.host, srv.port), timeout=30)
        stalled.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        b"application/json\r\nContent-Length: 1000\r\n\r\n{")
        idle = [socket.create_connection((srv.host, srv.port), timeout=30) for _ in range(80)]
        time.sleep(0.5)
        assert _threads(srv.proc.pid) < 30  # one per connection would be over 80
        assert srv.request("GET", "/healthz", timeout=5)[0] == 200
        start = time.monotonic()
        assert stalled.recv(65536) == b""  # closed by the server, not by our 30 s timeout
        assert time.monotonic() - start < 20
        for s in idle:
            assert s.recv(1) == b""
            s.close()
        stalled.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
near_payloads = st.fixed_dictionaries(
    {},
    optional={
        "width": st.integers(-5, 3000) | json_values,
        "height": st.integers(-5, 3000) | json_values,
        "pixels": st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()) | json_values,
    },
)
junk_bodies = st.one_of(
    st.binary(max_size=512),
    st.text(max_size=256).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    near_payloads.map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=junk_bodies)
def test_junk_bodies_get_a_json_answer_never_a_500(server, raw):
    status, res, data = server.request("POST", "/api/predict", raw, {"Content-Type": "application/json"})
    assert status in (200, 400), (status, data)
    assert isinstance(data, dict)
    assert ("digit" in data) if status == 200 else ("error" in data)


def test_bench_web_reports_latency_and_no_errors(server):
    # the benchmark's plumbing only: numbers are printed by `scratchcnn bench-web`, not asserted
    r = bench_web(server.url, clients=2, requests=6)
    assert r["requests"] == 6 and r["errors"] == 0 and r["ready_s"] is None
    assert 0 < r["median_ms"] <= r["p90_ms"] and r["req_per_s"] > 0


def test_server_still_answers_after_the_bad_inputs(server):
    # runs after the tests above, on the same server process
    assert server.proc.poll() is None
    assert server.request("GET", "/healthz")[0] == 200
    status, _, data = server.post_json("/api/predict", body(drawing(2)))
    assert status == 200 and data["digit"] == 2
    status, _, info = server.request("GET", "/api/model")
    assert status == 200 and info["num_params"] > 0 and info["layers"]


@pytest.mark.parametrize("name", ["wsgiref"])  # the one verified here; cheroot etc. untested
def test_serve_on_another_installed_server(weights, name):
    with running_server(weights, "--server", name) as srv:
        status, _, data = srv.post_json("/api/predict", body(drawing(7)))
        assert status == 200 and data["digit"] == 7
        assert_error(*srv.post_json("/api/predict", "{"), 400, "Invalid JSON")
        assert_error(*srv.request("GET", "/nope"), 404, "not found")
        assert_raw_json_error(_raw(srv, b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                   b"abc\r\nConnection: close\r\n\r\n"), 400, "Content-Length")
        assert "Python" not in srv.request("GET", "/healthz")[1].getheader("Server")
        assert srv.stop(signal.SIGTERM) == 0
    assert "stopped" in srv.output()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_on_signal(weights, sig):
    with running_server(weights) as srv:
        assert srv.request("GET", "/healthz")[0] == 200
        assert srv.stop(sig) == 0
        out = srv.output()
    assert "stopped" in out
    assert "Traceback" not in "".join(srv.errors)


def test_serve_with_missing_weights_names_the_option(tmp_path):
    with pytest.raises(RuntimeError, match="--weights"):
        with running_server(tmp_path / "nope.npz"):
            pass
