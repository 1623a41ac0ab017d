"""`scratchcnn speedrun`: MNIST from scratch to 99% test accuracy, as fast as this machine allows.

The recipe follows the fastest known ones (tuomaso/train_mnist_fast: 0.76 s to 99% on a GPU;
the fastest plain PyTorch CPU recipe we found, which `scratchcnn bench --speedrun` runs beside
ours): a small net with batch norm, a one-cycle schedule, SGD with Nesterov momentum, about one
pass over the data, all of it in memory. What each ingredient buys is measured by
`scratchcnn speedrun --ablate` (README, Speed), not claimed here:

- batch norm after both convolutions (zoo.speedrun, 16 and 32 filters, each 5x5 convolution
  pooled first so batch norm and ReLU see a quarter of the values): keeps a high learning rate
  (peak 0.4) stable;
- one-cycle learning rate (train.lr_at): warm up, then anneal to almost 0 within the run;
- Nesterov momentum 0.9;
- the training set converted to float32 once, batches gathered from memory;
- two threads: each batch in pieces through parallel.DataParallel.

The wall time printed is the whole process's, from its start (Linux: /proc/self/stat; elsewhere
from this module's import) to the test accuracy, so interpreter start, imports, loading MNIST,
training and evaluating are all in it.
"""

import os
import time

import numpy as np

_IMPORTED = time.perf_counter()

# The recipe. `run(**changes)` replaces any entry; the ablation rows are such changes.
RECIPE = {"epochs": 1.0, "batch_size": 128, "lr": 0.4, "momentum": 0.9, "nesterov": True,
          "weight_decay": 5e-4, "schedule": "onecycle", "batchnorm": True, "threads": 2,
          "widths": (16, 32), "hidden": 0, "pool_first": True, "optimizer": "sgd",
          "betas": (0.9, 0.999)}

ABLATIONS = [
    ("the recipe", {}),
    ("without batch norm", {"batchnorm": False}),
    ("without batch norm, lr 0.05", {"batchnorm": False, "lr": 0.05}),
    ("constant learning rate", {"schedule": "constant"}),
    ("no momentum", {"momentum": 0.0, "nesterov": False}),
    ("momentum without Nesterov", {"nesterov": False}),
    ("12/24 filters (PyTorch's net)", {"widths": (12, 24)}),
    ("pool after ReLU", {"pool_first": False}),
    ("half an epoch", {"epochs": 0.5}),
    ("one thread", {"threads": 1}),
]


def process_seconds() -> float:
    """Wall seconds since this process started: /proc/self/stat's start time against the
    uptime on Linux, else the time since scratchcnn.speedrun was imported."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def train(x: np.ndarray, labels: np.ndarray, seed: int = 0, **changes):
    """Train zoo.speedrun on float32 images x (N, 1, 28, 28) with the recipe (plus changes).

    Returns (model, seconds of training)."""
    from .optim import SGD, Adam
    from .parallel import DataParallel, blas_limit
    from .losses import softmax_cross_entropy
    from .train import lr_at
    from .zoo import speedrun

    unknown = sorted(changes.keys() - RECIPE.keys())
    if unknown:
        raise ValueError(f"unknown recipe entries {unknown}; known: {sorted(RECIPE)}")
    r = {**RECIPE, **changes}
    if not r["epochs"] > 0 or r["batch_size"] < 1 or r["threads"] not in (1, 2):
        raise ValueError(f"epochs must be > 0, batch_size >= 1 and threads 1 or 2, got "
                         f"{r['epochs']}, {r['batch_size']}, {r['threads']}")
    t0 = time.perf_counter()
    model = speedrun(seed, batchnorm=r["batchnorm"], widths=tuple(r["widths"]), hidden=r["hidden"],
                     pool_first=r["pool_first"])
    if r["optimizer"] == "adam":
        opt = Adam(model, r["lr"], betas=tuple(r["betas"]), weight_decay=r["weight_decay"])
    else:
        opt = SGD(model, r["lr"], momentum=r["momentum"], weight_decay=r["weight_decay"],
                  nesterov=r["nesterov"])
    net = DataParallel(model) if r["threads"] == 2 else model
    n, B = len(x), r["batch_size"]
    per_epoch = -(-n // B)
    total = max(1, round(r["epochs"] * per_epoch))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    y = labels.astype(np.int64)
    with blas_limit():  # one BLAS thread: ours are the two (for threads=1 too, to compare)
        for step in range(total):
            b = step % per_epoch
            if b == 0:
                perm = rng.permutation(n)
            idx = perm[b * B : (b + 1) * B]
            opt.lr = lr_at(r["schedule"], r["lr"], step, total)
            logits = net.forward(x[idx], training=True)
            loss, dlogits = softmax_cross_entropy(logits, y[idx])
            if not np.isfinite(loss):
                raise ValueError(f"speedrun diverged: loss {loss} at step {step + 1} of {total}")
            net.backward(dlogits, input_grad=False)
            opt.step()
    return model, time.perf_counter() - t0


def accuracy(model, x: np.ndarray, labels: np.ndarray) -> float:
    from .parallel import DataParallel

    return float((DataParallel(model).predict(x, batch_size=500) == labels).mean())


def load(data_dir=None, limit: int | None = None):
    """MNIST as float32 in memory: (x_train, y_train, x_test, y_test); limit trims the training
    set (for quick runs)."""
    from . import data

    images, labels = data.load_mnist("train", data_dir)
    test_images, test_labels = data.load_mnist("test", data_dir)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return data.to_input(images), labels, data.to_input(test_images), test_labels


def run(seed: int = 0, out=None, data_dir=None, limit: int | None = None, **changes) -> dict:
    """The whole speedrun: load, train, evaluate (and save to out/speedrun.npz if out is given).

    Returns the test accuracy and the seconds of each phase, plus the process's wall time."""
    t0 = time.perf_counter()
    x, y, x_test, y_test = load(data_dir, limit)
    t1 = time.perf_counter()
    model, train_s = train(x, y, seed, **changes)
    t2 = time.perf_counter()
    acc = accuracy(model, x_test, y_test)
    t3 = time.perf_counter()
    result = {"seed": seed, "test_accuracy": acc, "load_seconds": t1 - t0,
              "train_seconds": train_s, "evaluate_seconds": t3 - t2,
              "wall_seconds": process_seconds(), "load_average": load_average(),
              "recipe": {**RECIPE, **changes}, "n_train": int(len(x))}
    if out is not None:
        from pathlib import Path

        Path(out).mkdir(parents=True, exist_ok=True)
        model.save(Path(out) / "speedrun.npz")
        result["weights"] = str(Path(out) / "speedrun.npz")
    return result


def ablate(seed: int = 0, data_dir=None, limit: int | None = None, rows=ABLATIONS,
           progress=None) -> list[dict]:
    """Each ablation row trained and tested in this process (data loaded once): test accuracy
    and training seconds per row, to read against the recipe's first row."""
    x, y, x_test, y_test = load(data_dir, limit)
    results = []
    for label, changes in rows:
        model, seconds = train(x, y, seed, **changes)
        results.append({"label": label, "changes": changes, "train_seconds": seconds,
                        "test_accuracy": accuracy(model, x_test, y_test),
                        "load_average": load_average()})
        if progress is not None:
            progress(results[-1])
    return results


def format_ablation(rows: list[dict]) -> str:
    base = rows[0]
    lines = [f"{'ingredient removed or changed':<32}  {'test acc':>8}  {'train s':>7}  "
             f"{'vs recipe':>9}  load"]
    for r in rows:
        ratio = r["train_seconds"] / base["train_seconds"]
        lines.append(f"{r['label']:<32}  {100 * r['test_accuracy']:7.2f}%  "
                     f"{r['train_seconds']:7.1f}  {ratio:8.2f}x  {r['load_average']:.1f}")
    return "\n".join(lines)
