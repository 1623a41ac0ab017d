"""Measurements in fresh processes: memory of a training loop, and the time to a first prediction
with a warm and with an empty Numba cache."""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from .timing import batch
from .twins import Ours

_CHILD = """
import json, time, sys
t0 = time.perf_counter()
from scratchcnn.bench.probes import rss_probe
from scratchcnn.parallel import configure_process
configure_process()  # as `scratchcnn train` and `bench` run
print(json.dumps(rss_probe(int(sys.argv[1]), t0)))
"""


def _in_child(script: str, *args: str, env=None) -> dict:
    """Run script in a fresh interpreter: its last stdout line as JSON, or {"error": [last stderr line]}."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=600, env=env
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, not getrusage: ru_maxrss survives exec, so a child
    started from a big parent (one holding PyTorch) would report the parent's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_probe(steps: int, t0: float) -> dict:
    """In a fresh process: first prediction time, then a batch-128 training loop's memory."""
    ours = Ours()
    x, y = batch(128)
    ours.predict(x[:1])
    first = time.perf_counter() - t0
    rss = []
    for _ in range(steps):
        ours.train_step(x, y)
        rss.append(_rss_mib())
    return {"first_prediction_s": first, "rss_mib_after_steps": rss, "peak_rss_mib": _peak_rss_mib()}


def bench_memory(steps: int) -> dict:
    """Peak RSS of a batch-128 training loop, and its growth (the highest RSS of the second half
    of the steps minus that of the first half: RSS moves by tens of MiB from step to step as
    malloc's per-thread arenas fill and empty, so only a trend between halves means a leak), measured
    in a fresh process (which also times import + build + first prediction)."""
    r = _in_child(_CHILD, str(steps))
    if "error" in r:
        return r
    rss = r.pop("rss_mib_after_steps")
    half = len(rss) // 2
    r["growth_mib"] = max(rss[half:]) - max(rss[:half]) if half else 0.0
    r["steps"] = steps
    return r


_CHILD_SHIPPED = """
import json, time
t0 = time.perf_counter()
import numpy as np
from scratchcnn import load_model
from scratchcnn.zoo import find_weights
try:
    path = find_weights()
except FileNotFoundError as e:
    print(json.dumps({"error": str(e)}))
    raise SystemExit(0)
load_model(path).predict(np.zeros((1, 1, 28, 28), np.float32))
print(json.dumps({"weights": str(path), "first_prediction_s": time.perf_counter() - t0}))
"""


def bench_warm_start() -> dict:
    """A fresh process imports scratchcnn, loads the shipped model and predicts one image (warm
    Numba cache): seconds from its first line, and wall seconds including interpreter start."""
    t = time.perf_counter()
    r = _in_child(_CHILD_SHIPPED)
    wall = time.perf_counter() - t
    if "error" not in r:
        r["process_wall_s"] = wall
    return r


def bench_cold_start() -> dict:
    """Import + build + first prediction in a fresh process with an empty Numba cache, so the
    kernels on the prediction path compile first (the warm figure is in bench_memory)."""
    with tempfile.TemporaryDirectory() as cache:
        r = _in_child(_CHILD, "0", env={**os.environ, "NUMBA_CACHE_DIR": cache})
    return r if "error" in r else {"first_prediction_s": r["first_prediction_s"]}
