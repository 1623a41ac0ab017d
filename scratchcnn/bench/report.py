"""The human-readable report of a bench result (`scratchcnn bench` without --json)."""

import os


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
