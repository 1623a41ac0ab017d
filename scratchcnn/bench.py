"""`scratchcnn bench`: how fast the reference network trains and predicts, beside PyTorch.

Everything is measured in one process, and when PyTorch is installed (an optional extra, never a
dependency) the same network in PyTorch (2 threads) is timed interleaved with ours, block by
block, so both see the same machine load; only those same-run ratios mean anything on a shared
CPU. Every figure is a median over repetitions after a warm-up, with the min-max beside it.
"""

import contextlib
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import __version__
from .layers import Conv2D, MaxPool2D
from .losses import softmax_cross_entropy
from .optim import SGD
from .parallel import DataParallel, blas_limit, configure_process
from .zoo import build_model

MODEL = "convnet"
EPOCH = 60_000
EPOCH_TARGET = 1.3  # issue 5: the trainer's epoch within 1.3x of the bare steps' time
TORCH_THREADS = 2
SETTLE_S = 0.02  # untimed work before each timed block (_interleaved)
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
            "SCRATCHCNN_KEEP_FREED_MEMORY")
BLAS_KEYS = ("internal_api", "version", "architecture", "num_threads", "threading_layer", "prefix")


def _stats(values: list[float]) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {
        "median": float(np.median(v)),
        "min": float(v.min()),
        "max": float(v.max()),
        "p90": float(np.percentile(v, 90)),
        "n": int(v.size),
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def system_info() -> dict:
    """Versions, CPU, BLAS library and threads, and the OpenBLAS variables that were set."""
    import numba

    from . import parallel

    info = {
        "scratchcnn": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "machine": platform.node(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "load_average": list(os.getloadavg()),
        "scratchcnn_blas_threads": parallel.BLAS_THREADS,
        "numba_kernels": "serial",
        "env": {k: os.environ.get(k) for k in BLAS_ENV},
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: lib.get(k) for k in BLAS_KEYS} for lib in threadpool_info() if lib.get("user_api") == "blas"
        ]
        info["blas_source"] = "threadpoolctl"
    except ImportError:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        info["blas"] = [
            {"internal_api": blas.get("name"), "version": blas.get("version"), "num_threads": None}
        ]
        info["blas_source"] = "numpy config"
    return info


# ---- the two implementations, behind the same small interface ----------------------------------


class _Ours:
    name = "scratchcnn"

    def __init__(self, seed: int = 0):
        self.model = build_model(MODEL, seed=seed)
        self.net = DataParallel(self.model)  # as train.fit runs it
        self.opt = SGD(self.model, lr=0.01, momentum=0.9)

    def train_step(self, x, y):
        loss, dlogits = softmax_cross_entropy(self.net.forward(x, training=True), y)
        self.net.backward(dlogits, input_grad=False)
        self.opt.step()

    def predict(self, x):
        # the public inference call: it runs big inputs in batches of 64 images, which keeps
        # each layer's arrays near the cache instead of streaming 100+ MB ones through RAM;
        # one image goes straight to the model
        return self.net.predict_proba(x)


class _Torch:
    name = "pytorch"

    def __init__(self, ours: _Ours):
        import torch

        self.torch = torch
        torch.set_num_threads(TORCH_THREADS)
        nn = torch.nn
        self.model = nn.Sequential(
            nn.Conv2d(1, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(1600, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )
        with torch.no_grad():  # same starting weights as ours (Dense W is (D, M), Linear's (M, D))
            for i, layer in enumerate(self.model):
                if hasattr(layer, "weight"):
                    W = ours.model.layers[i].params["W"]
                    layer.weight.copy_(torch.from_numpy(W if W.ndim == 4 else W.T.copy()))
                    layer.bias.copy_(torch.from_numpy(ours.model.layers[i].params["b"]))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)

    def train_step(self, x, y):
        torch = self.torch
        self.opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(self.model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        self.opt.step()

    def predict(self, x):
        with self.torch.inference_mode():
            return self.torch.softmax(self.model(self.torch.from_numpy(x)), dim=1).numpy()


def _load_torch(ours):
    try:
        import torch  # noqa: F401
    except ImportError:
        return None, "not installed (optional: pip install torch==2.13.0)"
    return _Torch(ours), f"torch {torch.__version__}, {TORCH_THREADS} threads"


# ---- measurements ----------------------------------------------------------------------------


def _batch(N: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((N, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, N).astype(np.int64)


def _interleaved(impls, fn, reps: int, warmup: int = 1, settle=None) -> dict:
    """Time fn(impl) for every impl in turn, reps rounds, after warm-up; seconds per call.

    Before each timed call, settle(impl) (a short call of the same kind) runs untimed for
    SETTLE_S: after PyTorch's work ends its OpenMP threads keep spinning for milliseconds
    (libgomp's wait policy) and would slow whatever is timed next, which measurably lowered
    scratchcnn's training figure with 5-step blocks; our helper thread sleeps at once."""
    for impl in impls:
        for _ in range(warmup):
            fn(impl)
    times = {impl.name: [] for impl in impls}
    for _ in range(reps):
        for impl in impls:
            t_end = time.perf_counter() + SETTLE_S
            while time.perf_counter() < t_end:
                (settle or fn)(impl)
            t = time.perf_counter()
            fn(impl)
            times[impl.name].append(time.perf_counter() - t)
    return times


def bench_training(impls, N: int, steps: int, reps: int) -> dict:
    """Images/s of forward + backward + SGD step at batch N (blocks of `steps` steps)."""
    x, y = _batch(N)

    def block(impl):
        for _ in range(steps):
            impl.train_step(x, y)

    times = _interleaved(impls, block, reps, settle=lambda impl: impl.train_step(x, y))
    out = {}
    for name, ts in times.items():
        rate = [N * steps / t for t in ts]
        s = _stats(rate)
        out[name] = {"images_per_s": s, "epoch_s": EPOCH / s["median"]}
    return out


def bench_trainer_epoch(quick: bool, N: int = 128) -> dict:
    """Seconds of one epoch of the real trainer (train.fit: batches gathered from the shuffled
    uint8 images, augmentation as `scratchcnn train` applies it by default, lr schedule, progress
    bar) on MNIST training images, then of the bare steps (as _Ours.train_step) on as many
    batches of pre-made float32 inputs, in the same process: ratio = trainer / bare."""
    from . import data, train  # here, not at the top: the fresh-process probes import this module
    from .cli import build_parser

    try:
        images, labels = data.load_mnist("train")
    except (OSError, ValueError) as e:
        return {"skipped": f"MNIST not available: {e}"}
    n = 2560 if quick else len(images)
    images, labels = images[:n], labels[:n]
    defaults = build_parser().parse_args(["train"])  # `scratchcnn train` with no options
    augment = {"elastic": defaults.elastic} if defaults.augment else None
    ours = _Ours()
    pool = min(n, 8 * N)  # the bare steps cycle through the first `pool` images
    xs, ys = data.to_input(images[:pool]), labels[:pool].astype(np.int64)
    ours.train_step(xs[:N], ys[:N])  # warm-up: the kernels load from Numba's cache
    if augment is not None:
        data.augment(xs[:N], np.random.default_rng(0), **augment)
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        history = train.fit(
            ours.model, ours.opt, (images, labels), epochs=1, batch_size=N, lr=0.01, augment=augment
        )
    trainer = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, n, N):  # the same batch sizes as the trainer's, the last one short
        j = i % pool
        ours.train_step(xs[j : j + min(N, n - i)], ys[j : j + min(N, n - i)])
    bare = time.perf_counter() - t
    return {
        "images": n,
        "batch": N,
        "augment": augment,
        "trainer_epoch_s": trainer,
        "augment_s": history["epochs"][0]["augment_seconds"],
        "bare_steps_s": bare,
        "ratio": trainer / bare,
        "target": EPOCH_TARGET,
    }


def bench_latency(impls, calls: int, rounds: int) -> dict:
    """Batch-1 prediction latency in microseconds (median and p90 over every call)."""
    x, _ = _batch(1, seed=1)
    lat = {impl.name: [] for impl in impls}

    def block(impl):
        for _ in range(calls):
            t = time.perf_counter()
            impl.predict(x)
            lat[impl.name].append((time.perf_counter() - t) * 1e6)

    _interleaved(impls, block, rounds, settle=lambda impl: impl.predict(x))
    return {name: _stats(v[calls:]) for name, v in lat.items()}  # drop the warm-up block


def bench_throughput(impls, N: int, reps: int) -> dict:
    """Inference images/s at batch N."""
    x, _ = _batch(N, seed=2)
    times = _interleaved(impls, lambda impl: impl.predict(x), reps,
                         settle=lambda impl: impl.predict(x[:64]))
    return {name: _stats([N / t for t in ts]) for name, ts in times.items()}


def bench_layers(N: int, reps: int, b1_calls: int) -> list[dict]:
    """Per-layer forward and backward milliseconds of our network at batch N (training mode), the
    whole batch on one thread (a training step runs pieces on two threads, see parallel.SPLIT_MIN) and
    without the first layer's dx, as in training; and each layer's median microseconds within a
    one-image prediction (inference mode, BLAS left alone, as DataParallel.forward runs it)."""
    model = build_model(MODEL)
    one = [[] for _ in model.layers]
    x1 = _batch(1, seed=1)[0]
    for _ in range(b1_calls):
        a = x1
        for i, layer in enumerate(model.layers):
            t = time.perf_counter()
            a = layer.forward(a)
            one[i].append(time.perf_counter() - t)
    x, y = _batch(N)
    fw = [[] for _ in model.layers]
    bw = [[] for _ in model.layers]
    with blas_limit():  # as DataParallel.forward/backward run them
        for _ in range(reps + 1):  # the first round warms up
            a = x
            for i, layer in enumerate(model.layers):
                t = time.perf_counter()
                a = layer.forward(a, training=True)
                fw[i].append(time.perf_counter() - t)
            _, d = softmax_cross_entropy(a, y)
            for i in reversed(range(len(model.layers))):
                t = time.perf_counter()
                d = model.layers[i].backward(d, need_dx=i > 0)
                bw[i].append(time.perf_counter() - t)
    return [
        {
            "layer": f"{i} {layer.describe()}",
            "forward_ms": float(np.median(fw[i][1:])) * 1e3,
            "backward_ms": float(np.median(bw[i][1:])) * 1e3,
            "forward_b1_us": float(np.median(one[i][b1_calls // 10 :])) * 1e6,
        }
        for i, layer in enumerate(model.layers)
    ]


def _fwd_bwd(layer, x) -> float:
    t = time.perf_counter()
    y = layer.forward(x, training=True)
    layer.backward(np.ones_like(y))
    return time.perf_counter() - t


def bench_fast_vs_naive(N: int, naive_reps: int, fast_reps: int) -> dict:
    """naive / fast time of forward + backward: Conv2D(1->32, 3x3) on (N, 1, 28, 28) inputs and
    MaxPool2D(2) on its (N, 32, 26, 26) output."""
    rng = np.random.default_rng(3)
    x_conv = rng.random((N, 1, 28, 28), dtype=np.float32)
    x_pool = rng.standard_normal((N, 32, 26, 26), dtype=np.float32)
    out = {}
    for name, make, x in (
        ("Conv2D(1->32, 3x3)", lambda impl: Conv2D(1, 32, 3, impl=impl, rng=0), x_conv),
        ("MaxPool2D(2x2)", lambda impl: MaxPool2D(2, impl=impl), x_pool),
    ):
        times = {}
        for impl, reps in (("fast", fast_reps), ("naive", naive_reps)):
            layer = make(impl)
            with blas_limit():
                _fwd_bwd(layer, x[:1])  # warm-up (compiles the kernels on a cold cache)
                times[impl] = _stats([_fwd_bwd(layer, x) for _ in range(reps)])["median"]
        out[name] = {
            "input": list(x.shape),
            "fast_ms": times["fast"] * 1e3,
            "naive_ms": times["naive"] * 1e3,
            "ratio": times["naive"] / times["fast"],
        }
    return out


_CHILD = """
import json, time, sys
t0 = time.perf_counter()
from scratchcnn.bench import _rss_probe
from scratchcnn.parallel import configure_process
configure_process()  # as `scratchcnn train` and `bench` run
print(json.dumps(_rss_probe(int(sys.argv[1]), t0)))
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


def _rss_probe(steps: int, t0: float) -> dict:
    """In a fresh process: first prediction time, then a batch-128 training loop's memory."""
    ours = _Ours()
    x, y = _batch(128)
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


def run(quick: bool = False, use_torch: bool = True, progress=None) -> dict:
    """Every figure of the benchmark as one JSON-safe dict."""
    say = progress or (lambda msg: None)
    reps = 3 if quick else 7
    result = {"quick": quick, "model": MODEL, "system": system_info()}
    ours = _Ours()
    other, torch_note = _load_torch(ours) if use_torch else (None, "skipped (--no-torch)")
    result["system"]["torch"] = torch_note
    impls = [ours] + ([other] if other else [])
    result["training"] = {}
    for N in (64, 128):
        say(f"training at batch {N}")
        result["training"][str(N)] = bench_training(impls, N, steps=2 if quick else 5, reps=reps)
    say(f"one epoch of the trainer with augmentation{' (2,560 images)' if quick else ''}, then bare steps")
    result["trainer_epoch"] = bench_trainer_epoch(quick)
    say("batch-1 latency")
    result["latency_b1_us"] = bench_latency(impls, calls=20 if quick else 100, rounds=reps)
    say("batch-1000 throughput")
    result["inference_b1000"] = bench_throughput(impls, 1000, reps=2 if quick else 5)
    say("per-layer breakdown")
    result["layers_b128"] = bench_layers(128, reps=2 if quick else 7, b1_calls=50 if quick else 2000)
    say("fast vs naive (the naive conv takes a while)")
    result["fast_vs_naive"] = bench_fast_vs_naive(
        2 if quick else 64, naive_reps=1, fast_reps=3 if quick else 7
    )
    say("memory (fresh process)")
    result["memory_b128"] = bench_memory(6 if quick else 30)
    say("warm start with the shipped model (fresh process)")
    result["warm_start"] = bench_warm_start()
    if not quick:
        say("cold start (empty Numba cache)")
        result["cold_start"] = bench_cold_start()
    if other:
        r = result["ratios_vs_pytorch"] = {}
        for N in ("64", "128"):
            t = result["training"][N]
            r[f"training_b{N}_throughput"] = (
                t["scratchcnn"]["images_per_s"]["median"] / t["pytorch"]["images_per_s"]["median"]
            )
        lat = result["latency_b1_us"]
        r["latency_b1"] = lat["scratchcnn"]["median"] / lat["pytorch"]["median"]
        inf = result["inference_b1000"]
        r["inference_b1000_throughput"] = inf["scratchcnn"]["median"] / inf["pytorch"]["median"]
    result["system"]["load_average_end"] = list(os.getloadavg())
    return result


def _mm(s: dict, fmt: str = ",.0f") -> str:
    return f"{s['median']:{fmt}} ({s['min']:{fmt}}-{s['max']:{fmt}})"


def format_table(r: dict) -> str:
    """The human-readable report of run()'s result."""
    s = r["system"]
    names = list(r["training"]["64"])
    lines = [
        f"scratchcnn {s['scratchcnn']} bench{' --quick' if r['quick'] else ''}: "
        f"{r['model']}, float32, SGD momentum 0.9 - {s['date_utc']} UTC",
        f"machine: {s['cpu']}, {s['cpu_count']} CPUs, load average "
        f"{s['load_average'][0]:.1f} -> {s['load_average_end'][0]:.1f}",
        f"numpy {s['numpy']}, numba {s['numba']} (kernels {s['numba_kernels']}), python "
        f"{s['python']}; PyTorch: {s['torch']}",
    ]
    for lib in s["blas"]:
        lines.append(
            f"BLAS ({s['blas_source']}): {lib.get('internal_api')} {lib.get('version')} "
            f"{lib.get('architecture') or ''}, {lib.get('num_threads')} threads by default,"
            f" {s['scratchcnn_blas_threads']} while a scratchcnn model runs a batch on two threads"
        )
    env = ", ".join(f"{k}={v}" for k, v in s["env"].items() if v is not None)
    unset = "no OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE / thread / memory variables set"
    lines.append(f"environment: {env or unset}")
    lines.append("")
    lines.append(
        "median (min-max)              "
        + "".join(f"{n:>26}" for n in names)
        + ("   ratio" if len(names) > 1 else "")
    )
    ratios = r.get("ratios_vs_pytorch", {})

    def row(label, cells, ratio=None):
        lines.append(
            f"{label:<30}"
            + "".join(f"{c:>26}" for c in cells)
            + (f"   {ratio:.2f}x" if ratio is not None else "")
        )

    for N in ("64", "128"):
        t = r["training"][N]
        row(
            f"training b{N}, images/s",
            [_mm(t[n]["images_per_s"]) for n in names],
            ratios.get(f"training_b{N}_throughput"),
        )
        row("  seconds per 60k epoch", [f"{t[n]['epoch_s']:.1f}" for n in names])
    lat = r["latency_b1_us"]
    row("batch-1 latency, us", [_mm(lat[n]) for n in names], ratios.get("latency_b1"))
    row("  p90, us", [f"{lat[n]['p90']:,.0f}" for n in names])
    row(
        "inference b1000, images/s",
        [_mm(r["inference_b1000"][n]) for n in names],
        ratios.get("inference_b1000_throughput"),
    )
    if ratios:
        lines.append(
            "ratio = scratchcnn / PyTorch, same run (throughput: higher is better; latency: lower is better)"
        )
    e = r["trainer_epoch"]
    lines.append(
        f"trainer epoch: skipped ({e['skipped']})"
        if "skipped" in e
        else f"trainer epoch ({e['images']:,} images, augmentation) {e['trainer_epoch_s']:.1f} s vs bare "
        f"steps {e['bare_steps_s']:.1f} s -> {e['ratio']:.2f}x (target <= {e['target']}x); "
        f"augmenting took {e['augment_s']:.2f} s of it"
    )
    lines.append("")
    lines.append("per layer                     batch 128 on one thread, ms   batch 1, us")
    lines.append("                                         forward  backward       forward")
    total_f = total_b = total_1 = 0.0
    for L in r["layers_b128"]:
        lines.append(f"  {L['layer']:<37}{L['forward_ms']:>7.2f}  {L['backward_ms']:>8.2f}"
                     f"  {L['forward_b1_us']:>12.1f}")
        total_f, total_b = total_f + L["forward_ms"], total_b + L["backward_ms"]
        total_1 += L["forward_b1_us"]
    lines.append(f"  {'total':<37}{total_f:>7.2f}  {total_b:>8.2f}  {total_1:>12.1f}")
    lines.append("")
    lines.append("fast vs naive, forward + backward")
    for name, v in r["fast_vs_naive"].items():
        lines.append(
            f"  {name:<20} input {tuple(v['input'])}: fast {v['fast_ms']:.2f} ms, "
            f"naive {v['naive_ms']:,.0f} ms -> fast is {v['ratio']:,.0f}x faster"
        )
    m = r["memory_b128"]
    lines.append("")
    if "error" in m:
        lines.append(f"memory: probe failed: {m['error']}")
    else:
        lines.append(
            f"memory, fresh process, batch-128 training loop ({m['steps']} steps): peak RSS "
            f"{m['peak_rss_mib']:.0f} MiB, growth (peak of the 2nd half of the steps vs the 1st) "
            f"{m['growth_mib']:+.1f} MiB; import + build + first prediction "
            f"{m['first_prediction_s']:.2f} s"
        )
    warm = r.get("warm_start", {})
    lines.append(
        f"warm start, fresh process, shipped model {os.path.basename(warm['weights'])}: first "
        f"prediction {warm['first_prediction_s']:.2f} s after the first line "
        f"({warm['process_wall_s']:.2f} s with interpreter start and exit)"
        if "weights" in warm
        else f"warm start with the shipped model: {warm.get('error', 'not measured')}"
    )
    cold = r.get("cold_start")
    if cold:
        lines.append(
            f"cold start (empty Numba cache, kernels compile): {cold['first_prediction_s']:.2f} s"
            if "error" not in cold
            else f"cold start: probe failed: {cold['error']}"
        )
    return "\n".join(lines)


def main(quick: bool = False, as_json: bool = False, use_torch: bool = True) -> int:
    configure_process()
    progress = None if as_json else (lambda msg: print(f"... {msg}", file=sys.stderr, flush=True))
    result = run(quick=quick, use_torch=use_torch, progress=progress)
    print(json.dumps(result, indent=2) if as_json else format_table(result))
    return 0
