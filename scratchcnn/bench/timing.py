"""Timing helpers of the bench: statistics over repetitions, random batches, interleaved blocks."""

import time

import numpy as np

SETTLE_S = 0.02  # untimed work before each timed block (interleaved)


def stats(values: list[float]) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {
        "median": float(np.median(v)),
        "min": float(v.min()),
        "max": float(v.max()),
        "p90": float(np.percentile(v, 90)),
        "n": int(v.size),
    }


def batch(N: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((N, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, N).astype(np.int64)


def interleaved(impls, fn, reps: int, warmup: int = 1, settle=None) -> dict:
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
