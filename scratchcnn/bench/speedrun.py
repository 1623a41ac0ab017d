"""`scratchcnn bench --speedrun`: our speedrun beside the fastest PyTorch CPU recipe, same run.

Each seed runs `scratchcnn speedrun --seed S` and then the PyTorch recipe, each in a fresh
process, one after the other, so both see the same machine load; the wall time of each is
measured here from spawning the process to its exit (interpreter start, imports, loading MNIST,
training and testing are all in it) and the ratio is ours / PyTorch's (lower is better).

The PyTorch recipe (TORCH_RECIPE) is the fastest plain one we found for these 2 cores: the
12/24-filter 5x5 net with batch norm, one-cycle SGD with Nesterov momentum (torch's OneCycleLR,
with its momentum cycling), 1.5 epochs of batches of 128, the data in memory as tensors, 2
threads. It imports only torch and NumPy (not scratchcnn, whose Numba import it would pay for).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .. import data

TORCH_EPOCHS, TORCH_BATCH, TORCH_LR = 1.5, 128, 0.1

TORCH_RECIPE = r"""
import gzip, json, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

def idx(path):
    raw = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)

seed, epochs, batch, lr = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
torch.set_num_threads(int(sys.argv[5]))
torch.manual_seed(seed)
t0 = time.perf_counter()
x, y, x_test, y_test = (torch.from_numpy(idx(p).copy()) for p in sys.argv[6:10])
x, x_test = (a.float().div_(255).unsqueeze(1) for a in (x, x_test))
y, y_test = y.long(), y_test.long()
net = nn.Sequential(
    nn.Conv2d(1, 12, 5), nn.BatchNorm2d(12), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(12, 24, 5), nn.BatchNorm2d(24), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(384, 10))
steps = round(epochs * -(-len(x) // batch))
opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
t1 = time.perf_counter()
step = 0
while step < steps:
    for idx_ in torch.randperm(len(x)).split(batch):
        if step == steps:
            break
        loss = F.cross_entropy(net(x[idx_]), y[idx_])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step += 1
t2 = time.perf_counter()
net.eval()
with torch.no_grad():
    correct = sum(int((net(a).argmax(1) == b).sum()) for a, b in zip(x_test.split(1000), y_test.split(1000)))
print(json.dumps({"test_accuracy": correct / len(x_test), "load_seconds": t1 - t0,
                  "train_seconds": t2 - t1, "evaluate_seconds": time.perf_counter() - t2}))
"""


def _mnist_paths(data_dir=None) -> list[str]:
    folder = data.default_data_dir() if data_dir is None else Path(data_dir)
    names = [data.SPLITS[s][i] for s in ("train", "test") for i in (0, 1)]
    paths = [data._find(folder, name) for name in names]
    if None in paths:
        raise FileNotFoundError(f"MNIST files not found in {folder}: run `scratchcnn fetch-mnist`")
    return [str(paths[0]), str(paths[1]), str(paths[2]), str(paths[3])]


def _child(argv: list[str], timeout: float | None = None) -> dict:
    """Run argv, wall-timed from spawn to exit; its last stdout line is its JSON result.
    A run still going after `timeout` seconds is stopped and recorded as timed out."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timed_out": True, "test_accuracy": None, "process_wall_seconds": timeout}
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise RuntimeError(f"{argv[2:5]} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "process_wall_seconds": wall}


def run(seeds=(0, 1, 2), use_torch: bool = True, data_dir=None, progress=None,
        torch_threads: int = 2, timeout: float | None = 600) -> dict:
    """Ours and (when installed) PyTorch's speedrun for each seed, alternating; every figure.
    A run over `timeout` seconds is stopped and shown as such (on a saturated machine PyTorch's
    two OpenMP threads can take many times their unloaded 10-17 s)."""
    say = progress or (lambda msg: None)
    have_torch = False
    if use_torch:
        try:
            import torch  # noqa: F401  (only to know it is there; the child imports it)

            have_torch = True
        except ImportError:
            pass
    paths = _mnist_paths(data_dir)
    extra = [] if data_dir is None else ["--data-dir", str(data_dir)]
    rows = []
    for seed in seeds:
        say(f"seed {seed}: scratchcnn speedrun")
        row = {"seed": seed, "load_before": os.getloadavg()[0],
               "ours": _child([sys.executable, "-m", "scratchcnn", "speedrun", "--seed", str(seed),
                               "--json", "--target", "0", *extra], timeout)}
        if have_torch:
            say(f"seed {seed}: PyTorch recipe")
            row["torch"] = _child([sys.executable, "-c", TORCH_RECIPE, str(seed), str(TORCH_EPOCHS),
                                   str(TORCH_BATCH), str(TORCH_LR), str(torch_threads), *paths],
                                  timeout)
        row["load_after"] = os.getloadavg()[0]
        rows.append(row)
    return {"rows": rows, "torch": have_torch, "timeout": timeout,
            "torch_recipe": {"epochs": TORCH_EPOCHS, "batch_size": TORCH_BATCH, "lr": TORCH_LR,
                             "threads": torch_threads}}


def format_table(result: dict) -> str:
    lines = [f"{'seed':>4}  {'scratchcnn acc':>14}  {'wall s':>6}  {'PyTorch acc':>11}  "
             f"{'wall s':>6}  {'ratio':>5}  load"]
    ours_walls, torch_walls = [], []
    for r in result["rows"]:
        o = r["ours"]
        ours_walls.append(o["process_wall_seconds"])
        cells = [f"{r['seed']:>4}", f"{100 * o['test_accuracy']:13.2f}%",
                 f"{o['process_wall_seconds']:6.1f}"]
        if "torch" in r and r["torch"].get("timed_out"):
            t = r["torch"]
            torch_walls.append(t["process_wall_seconds"])
            cells += [f"{'timed out':>11}", f">{t['process_wall_seconds']:5.0f}",
                      f"<{o['process_wall_seconds'] / t['process_wall_seconds']:4.2f}x"]
        elif "torch" in r:
            t = r["torch"]
            torch_walls.append(t["process_wall_seconds"])
            cells += [f"{100 * t['test_accuracy']:10.2f}%", f"{t['process_wall_seconds']:6.1f}",
                      f"{o['process_wall_seconds'] / t['process_wall_seconds']:4.2f}x"]
        else:
            cells += [f"{'-':>11}", f"{'-':>6}", f"{'-':>5}"]
        cells.append(f"{r['load_before']:.1f} -> {r['load_after']:.1f}")
        lines.append("  ".join(cells))
    med = sorted(ours_walls)[len(ours_walls) // 2]
    summary = f"median wall: scratchcnn {med:.1f} s"
    if torch_walls:
        tmed = sorted(torch_walls)[len(torch_walls) // 2]
        over = any(r.get("torch", {}).get("timed_out") for r in result["rows"])
        summary += (f", PyTorch {'>' if over else ''}{tmed:.1f} s -> ratio {'<' if over else ''}"
                    f"{med / tmed:.2f}x (lower is better)")
    t = result["torch_recipe"]
    lines += [summary, "wall = spawn to exit of a fresh process: start, imports, loading, "
              "training, testing", f"PyTorch recipe: {t['epochs']} epochs, batch {t['batch_size']}, "
              f"one-cycle SGD Nesterov peak lr {t['lr']}, {t['threads']} threads; runs over "
              f"{result['timeout']} s stopped"]
    return "\n".join(lines)


def main(seeds=(0, 1, 2), use_torch: bool = True, as_json: bool = False, data_dir=None,
         torch_threads: int = 2, timeout: float | None = 600) -> int:
    result = run(seeds, use_torch, data_dir,
                 progress=lambda m: print("...", m, file=sys.stderr), torch_threads=torch_threads,
                 timeout=timeout)
    print(json.dumps(result, indent=1) if as_json else format_table(result))
    return 0
