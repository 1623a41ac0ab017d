"""The measurements in this process: training and inference speed beside PyTorch, the trainer's
epoch against its bare steps, a per-layer breakdown, and fast against naive."""

import contextlib
import io
import time

import numpy as np

from ..layers import Conv2D, MaxPool2D
from ..losses import softmax_cross_entropy
from ..parallel import blas_limit
from ..zoo import build_model
from .timing import batch, interleaved, stats
from .twins import MODEL, Ours

EPOCH = 60_000
EPOCH_TARGET = 1.3  # issue 5: the trainer's epoch within 1.3x of the bare steps' time


def bench_training(impls, N: int, steps: int, reps: int) -> dict:
    """Images/s of forward + backward + SGD step at batch N (blocks of `steps` steps)."""
    x, y = batch(N)

    def block(impl):
        for _ in range(steps):
            impl.train_step(x, y)

    times = interleaved(impls, block, reps, settle=lambda impl: impl.train_step(x, y))
    out = {}
    for name, ts in times.items():
        rate = [N * steps / t for t in ts]
        s = stats(rate)
        out[name] = {"images_per_s": s, "epoch_s": EPOCH / s["median"]}
    return out


def bench_trainer_epoch(quick: bool, N: int = 128) -> dict:
    """Seconds of one epoch of the real trainer (train.fit: batches gathered from the shuffled
    uint8 images, augmentation as `scratchcnn train` applies it by default, lr schedule, progress
    bar) on MNIST training images, then of the bare steps (as Ours.train_step) on as many
    batches of pre-made float32 inputs, in the same process: ratio = trainer / bare."""
    from .. import data, train  # here, not at the top: the fresh-process probes import the package

    try:
        images, labels = data.load_mnist("train")
    except (OSError, ValueError) as e:
        return {"skipped": f"MNIST not available: {e}"}
    n = 2560 if quick else len(images)
    images, labels = images[:n], labels[:n]
    # as `scratchcnn train` with no options
    augment = train.augment_settings(train.DEFAULTS["augment"], train.DEFAULTS["elastic"])
    ours = Ours()
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
    x, _ = batch(1, seed=1)
    lat = {impl.name: [] for impl in impls}

    def block(impl):
        for _ in range(calls):
            t = time.perf_counter()
            impl.predict(x)
            lat[impl.name].append((time.perf_counter() - t) * 1e6)

    interleaved(impls, block, rounds, settle=lambda impl: impl.predict(x))
    return {name: stats(v[calls:]) for name, v in lat.items()}  # drop the warm-up block


def bench_throughput(impls, N: int, reps: int) -> dict:
    """Inference images/s at batch N."""
    x, _ = batch(N, seed=2)
    times = interleaved(impls, lambda impl: impl.predict(x), reps,
                         settle=lambda impl: impl.predict(x[:64]))
    return {name: stats([N / t for t in ts]) for name, ts in times.items()}


def bench_layers(N: int, reps: int, b1_calls: int) -> list[dict]:
    """Per-layer forward and backward milliseconds of our network at batch N (training mode), the
    whole batch on one thread (a training step runs pieces on two threads, see parallel.SPLIT_MIN) and
    without the first layer's dx, as in training; and each layer's median microseconds within a
    one-image prediction (inference mode, BLAS left alone, as DataParallel.forward runs it)."""
    model = build_model(MODEL)
    one = [[] for _ in model.layers]
    x1 = batch(1, seed=1)[0]
    for _ in range(b1_calls):
        a = x1
        for i, layer in enumerate(model.layers):
            t = time.perf_counter()
            a = layer.forward(a)
            one[i].append(time.perf_counter() - t)
    x, y = batch(N)
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
                times[impl] = stats([_fwd_bwd(layer, x) for _ in range(reps)])["median"]
        out[name] = {
            "input": list(x.shape),
            "fast_ms": times["fast"] * 1e3,
            "naive_ms": times["naive"] * 1e3,
            "ratio": times["naive"] / times["fast"],
        }
    return out
