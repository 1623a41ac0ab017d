"""`scratchcnn bench`: how fast the reference network trains and predicts, beside PyTorch.

Everything is measured in one process, and when PyTorch is installed (an optional extra, never a
dependency) the same network in PyTorch (2 threads) is timed interleaved with ours, block by
block, so both see the same machine load; only those same-run ratios mean anything on a shared
CPU. Every figure is a median over repetitions after a warm-up, with the min-max beside it.

The package: timing.py (statistics, interleaved blocks), twins.py (our network and its PyTorch
twin), measure.py (the in-process figures), probes.py (the fresh-process ones), report.py (the
table); this module gathers them into one result dict (`run`) and prints it (`main`).
"""

import json
import os
import platform
import sys
import time

from .. import env, parallel
from .measure import (bench_fast_vs_naive, bench_latency, bench_layers, bench_throughput,
                      bench_trainer_epoch, bench_training)
from .probes import bench_cold_start, bench_memory, bench_warm_start
from .report import format_table
from .twins import MODEL, Ours, load_torch

__all__ = ["format_table", "main", "run", "system_info"]


def system_info() -> dict:
    """Versions, CPU, BLAS library and threads, and the thread/memory variables that were set."""
    return {
        **env.versions(),
        "cpu": env.cpu_name(),
        "cpu_count": os.cpu_count(),
        "machine": platform.node(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "load_average": list(os.getloadavg()),
        "scratchcnn_blas_threads": parallel.BLAS_THREADS,
        "numba_kernels": "serial",
        "env": env.env_vars(include_unset=True),
        "blas": env.blas(),
        "blas_source": "threadpoolctl",
    }


def run(quick: bool = False, use_torch: bool = True, progress=None) -> dict:
    """Every figure of the benchmark as one JSON-safe dict."""
    say = progress or (lambda msg: None)
    reps = 3 if quick else 7
    result = {"quick": quick, "model": MODEL, "system": system_info()}
    ours = Ours()
    other, torch_note = load_torch(ours) if use_torch else (None, "skipped (--no-torch)")
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


def main(quick: bool = False, as_json: bool = False, use_torch: bool = True) -> int:
    progress = None if as_json else (lambda msg: print(f"... {msg}", file=sys.stderr, flush=True))
    result = run(quick=quick, use_torch=use_torch, progress=progress)
    print(json.dumps(result, indent=2) if as_json else format_table(result))
    return 0
