"""What each model must answer "unknown" to, for training and for held-out measurement; and
drawn digits, the in-distribution drawings the unknown answer must still read.

The outliers of a model are the drawings that are none of its classes:

- the digits model: generated shapes (scratchcnn.shapes, all but the circle, which is a 0) and
  scribbles (scratchcnn.scribbles);
- the shapes model: digits 1-9 (a 0 is a circle; half from MNIST, half drawn) and scribbles.

Training (outlier exposure) and measurement never share a drawing: training uses the shapes'
training split and the scribbles' TRAIN_STYLES with seed 100; measurement uses the shapes' test
split, the scribbles' HELD_OUT_STYLES (seed 200) and, for the shapes model, digits drawn by a
generator (drawn_digits) instead of MNIST's. Fashion-MNIST (data.load_fashion_mnist) is the
real outlier set no one here made.

Drawn digits: a pen path per digit with the variants people write (a 1 with or without its
flag and base, a 7 with or without the crossbar, a 4 open or closed, ...), then a hand: size,
position, slant, rotation, aspect, a tremor along the path and a brush of 8-32 px, rendered on
the page's 280x280 canvas and normalised by preprocess.to_mnist.
Shapes: every set is uint8 (N, 28, 28), as MNIST stores its images, with labels or names.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from . import preprocess, scribbles
from .shapes import render

TRAIN_SEED, HELD_OUT_SEED, DRAWN_TRAIN_SEED = 100, 200, 500
DRAWN_VAL_SEED = 400  # drawn digits for calibration
SET_VERSION = 1  # part of a cached set's name: raise it when outlier_set or drawn_digits change
NOT_DIGIT_LIKE = ("circle",)  # shapes a digit draws the same way: not outliers of the digits model

__all__ = ["DIGIT_VARIANTS", "digit_strokes", "drawn_digits", "outlier_set", "cached_outlier_set"]


def _arc(cx, cy, rx, ry, a0, a1, n=24):
    """Points on an ellipse from angle a0 to a1 (degrees, 0 = right, 90 = down)."""
    a = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], axis=1)


def _line(*pts):
    return np.array(pts, dtype=np.float64)


# Each variant: a list of strokes in a unit box (x right, y down), as a person writes the digit.
DIGIT_VARIANTS = {
    0: [[_arc(0.5, 0.5, 0.32, 0.46, -90, 275, 40)], [_arc(0.5, 0.5, 0.3, 0.46, -100, 250, 40)]],
    1: [[_line((0.5, 0.04), (0.47, 0.96))],
        [_line((0.3, 0.25), (0.55, 0.04), (0.5, 0.96))],
        [_line((0.3, 0.25), (0.55, 0.04), (0.5, 0.96)), _line((0.3, 0.96), (0.72, 0.96))]],
    2: [[np.concatenate([_arc(0.5, 0.3, 0.3, 0.25, 190, 380, 20), _line((0.2, 0.95), (0.85, 0.95))])],
        [np.concatenate([_arc(0.5, 0.3, 0.3, 0.25, 180, 400, 20), _line((0.25, 0.9)),
                         _arc(0.3, 0.85, 0.1, 0.08, 270, 90, 8)[::-1], _line((0.85, 0.95))])]],
    3: [[np.concatenate([_arc(0.48, 0.27, 0.3, 0.22, 200, 450, 20),
                         _arc(0.48, 0.72, 0.33, 0.24, 270, 520, 20)[1:]])],
        [np.concatenate([_line((0.2, 0.05), (0.8, 0.05), (0.45, 0.42)),
                         _arc(0.5, 0.7, 0.32, 0.27, 270, 520, 20)])]],
    4: [[_line((0.6, 0.04), (0.14, 0.64), (0.86, 0.64)), _line((0.64, 0.3), (0.64, 0.96))],
        [_line((0.25, 0.04), (0.2, 0.55), (0.85, 0.55)), _line((0.7, 0.1), (0.68, 0.96))]],
    5: [[np.concatenate([_line((0.8, 0.05), (0.3, 0.05), (0.25, 0.45)),
                         _arc(0.5, 0.68, 0.32, 0.27, 230, 485, 20)])],
        [np.concatenate([_line((0.3, 0.05), (0.25, 0.45)), _arc(0.5, 0.68, 0.32, 0.27, 230, 485, 20)]),
         _line((0.3, 0.05), (0.8, 0.06))]],
    6: [[np.concatenate([_line((0.72, 0.05), (0.45, 0.2), (0.28, 0.45)),
                         _arc(0.5, 0.7, 0.25, 0.24, 180, 540, 28)])],
        [np.concatenate([_arc(0.7, 0.55, 0.45, 0.5, 250, 180, 12),
                         _arc(0.5, 0.72, 0.25, 0.22, 180, 530, 24)])]],
    7: [[_line((0.12, 0.06), (0.88, 0.06), (0.38, 0.96))],
        [_line((0.12, 0.06), (0.88, 0.06), (0.4, 0.96)), _line((0.35, 0.5), (0.8, 0.5))],
        [_line((0.12, 0.15), (0.15, 0.06), (0.88, 0.06), (0.5, 0.96))]],
    8: [[np.concatenate([_arc(0.5, 0.27, 0.25, 0.22, 90, 450, 24)[::-1],
                         _arc(0.5, 0.72, 0.3, 0.25, -90, 270, 28)])],
        [_arc(0.5, 0.27, 0.24, 0.22, 0, 360, 24), _arc(0.5, 0.72, 0.3, 0.25, 0, 360, 28)]],
    9: [[_arc(0.5, 0.3, 0.28, 0.24, 0, 360, 28), _line((0.78, 0.3), (0.72, 0.96))],
        [np.concatenate([_arc(0.5, 0.3, 0.28, 0.24, 0, 360, 28), _arc(0.2, 0.3, 0.58, 0.66, 0, 80, 12)])]],
}


def _densify(pts: np.ndarray, step: float) -> np.ndarray:
    """Points every `step` units along a polyline."""
    if len(pts) < 2:
        return pts
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    u = np.linspace(0, s[-1], max(2, int(s[-1] / step) + 1))
    return np.stack([np.interp(u, s, pts[:, d]) for d in (0, 1)], axis=1)


def digit_strokes(digit: int, rng: np.random.Generator, canvas: int = scribbles.CANVAS):
    """One hand-drawn `digit` as pen strokes on the canvas: (strokes, brush).

    A variant at random, then slant (shear up to 0.3), rotation (up to 12 degrees), aspect
    (width 0.6-1.2 of the height), a smooth tremor of about 1% of the size, a height of 35-85%
    of the canvas at a random place, and a brush of 8-32 px.
    """
    variants = DIGIT_VARIANTS[int(digit)]
    strokes = [s - 0.5 for s in variants[int(rng.integers(len(variants)))]]
    a = math.radians(rng.uniform(-12, 12))
    shear, aspect = rng.uniform(-0.3, 0.1), rng.uniform(0.6, 1.2)
    m = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ np.array(
        [[aspect, shear], [0.0, 1.0]])
    size, brush = rng.uniform(0.35, 0.85) * canvas, float(rng.uniform(8, 32))
    strokes = [_densify(s @ m.T * size, 4.0) for s in strokes]
    lo = np.min([s.min(axis=0) for s in strokes], axis=0)
    hi = np.max([s.max(axis=0) for s in strokes], axis=0)
    origin = brush / 2 + rng.uniform(0, 1, 2) * np.maximum(canvas - brush - (hi - lo), 0) - lo
    out = []
    for s in strokes:
        wobble = np.cumsum(rng.normal(0, 1, s.shape), axis=0)
        wobble -= np.linspace(wobble[0], wobble[-1], len(s))
        out.append(np.clip(s + origin + wobble * (0.01 * size / math.sqrt(len(s))), 0, canvas - 1))
    return out, brush


def drawn_digits(n: int, seed: int = HELD_OUT_SEED, digits=range(10)) -> tuple[np.ndarray, np.ndarray]:
    """n drawn digits, the digits in turn, sample i from default_rng([seed, i]).

    Returns images uint8 (n, 28, 28) and labels uint8 (n,).
    """
    from .parallel import draw_in_chunks

    digits = tuple(int(d) for d in digits)
    labels = np.array([digits[i % len(digits)] for i in range(n)], dtype=np.uint8)
    return np.concatenate(draw_in_chunks(_drawn_chunk, n, seed, digits)), labels


def _drawn_chunk(lo: int, hi: int, seed: int, digits: tuple) -> np.ndarray:
    """drawn_digits' samples lo..hi-1. Shapes: -> uint8 (hi - lo, 28, 28)"""
    images = np.empty((hi - lo, 28, 28), dtype=np.uint8)
    for i in range(lo, hi):
        strokes, brush = digit_strokes(digits[i % len(digits)], np.random.default_rng([seed, i]))
        images[i - lo] = np.rint(preprocess.to_mnist(render(strokes, brush)) * 255)
    return images


def outlier_set(reads: str, kinds, n: int, held_out: bool = False, data_dir=None,
                seed: int | None = None):
    """n outliers of the model that reads `reads` ("digits" or "shapes"), kinds in equal parts.

    kinds: some of "scribbles", "shapes" (digits model), "digits" (shapes model). Training sets
    (held_out=False) and held-out sets never share a drawing (module docstring); `seed`
    replaces the set's usual seed.
    Returns images uint8 (n, 28, 28) and the kind of each ("scribbles:<style>", "shapes:<class>",
    "digits:<d>").
    """
    allowed = {"digits": ("scribbles", "shapes"), "shapes": ("scribbles", "digits")}
    if reads not in allowed:
        raise ValueError(f"reads must be 'digits' or 'shapes', got {reads!r}")
    kinds = [k.strip() for k in (kinds.split(",") if isinstance(kinds, str) else kinds)]
    bad = [k for k in kinds if k not in allowed[reads]]
    if bad or not kinds:
        raise ValueError(f"outliers of the {reads} model are some of {list(allowed[reads])}, "
                         f"got {kinds}")
    if seed is None:
        seed = HELD_OUT_SEED if held_out else TRAIN_SEED
    parts = [n // len(kinds) + (i < n % len(kinds)) for i in range(len(kinds))]
    images, names = [], []
    for kind, m in zip(kinds, parts):
        if kind == "scribbles":
            styles = scribbles.HELD_OUT_STYLES if held_out else scribbles.TRAIN_STYLES
            imgs, styles_of = scribbles.make_set(m, seed, styles)
            names += [f"scribbles:{s}" for s in styles_of]
        elif kind == "shapes":
            from . import shapes

            classes = [c for c in shapes.CLASSES if c not in NOT_DIGIT_LIKE]
            imgs, labels = shapes.make_set(m, seed + 1, classes)
            names += [f"shapes:{classes[k]}" for k in labels]
        else:  # digits 1-9: a 0 is a circle
            if held_out:
                imgs, labels = drawn_digits(m, seed + 2, range(1, 10))
            else:  # half MNIST, half drawn: how a digit was made must not be the cue
                from .data import load_mnist

                mnist, mnist_labels = load_mnist("train", data_dir)
                pick = np.flatnonzero(mnist_labels != 0)
                pick = np.random.default_rng(seed + 2).choice(pick, size=m // 2, replace=False)
                drawn, drawn_labels = drawn_digits(m - m // 2, seed + 3, range(1, 10))
                imgs = np.concatenate([mnist[pick], drawn])
                labels = np.concatenate([mnist_labels[pick], drawn_labels])
            names += [f"digits:{d}" for d in labels]
        images.append(imgs)
    return np.concatenate(images), names


def cached_outlier_set(reads: str, kinds, n: int, held_out: bool = False, data_dir=None):
    """outlier_set, kept on disk in data.cache_dir("outliers") (e.g. ~/.cache/scratchcnn/outliers)
    under a name that hashes the generators' source (scribbles, shapes, their rendering) and
    SET_VERSION, so an edited generator never serves a stale set."""
    import json

    from .data import cache_dir
    from .fileio import save_npz

    kinds = ",".join(k.strip() for k in (kinds.split(",") if isinstance(kinds, str) else kinds))
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(json.dumps([reads, kinds, n, held_out, SET_VERSION]).encode())
    for name in ("scribbles.py", "shapes.py", "preprocess.py", "kernels.py"):
        if (here / name).is_file():
            digest.update((here / name).read_bytes())
    path = cache_dir("outliers") / f"{reads}-{digest.hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            return npz["images"], [str(s) for s in npz["names"]]
    images, names = outlier_set(reads, kinds, n, held_out, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npz(path, {"images": images, "names": np.array(names)})
    return images, names


# ----------------------------------------------------------------------------- measuring

VAL_SEED = 300  # outliers for choosing the score: training styles, a seed neither set uses


def in_distribution(reads: str, split: str, val: tuple[int, int] = (5000, 0), data_dir=None):
    """A model's own kind of drawing: ("val" or "test") images uint8 (N, 28, 28) and labels.

    digits: "val" is the validation part of MNIST's training set as `scratchcnn train` held it
    out (val = (val_size, seed) from train.json), "test" MNIST's test set; shapes: the
    generated set's "val" and "test" splits.
    """
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    if reads == "shapes":
        from .shapes import load_shapes

        return load_shapes(split)
    from .data import load_mnist

    if split == "test":
        return load_mnist("test", data_dir)
    from .train import split_validation

    val_size, seed = val
    if val_size < 1:
        raise ValueError("calibration needs held-out validation images: this model was trained "
                         "with --val-size 0")
    images, labels = load_mnist("train", data_dir)
    _, idx = split_validation(len(images), val_size, seed)
    return images[idx], labels[idx]


def _logits(model, images: np.ndarray) -> np.ndarray:
    """The model's logits for uint8 images, batches in pieces on both cores (parallel.py)."""
    from .data import to_input
    from .explain import logits_of
    from .parallel import DataParallel

    return logits_of(DataParallel(model), to_input(images, model.dtype))


def choose_and_calibrate(model, reads: str, val_sets: dict, method: str = "auto",
                         refuse: float = 0.01, data_dir=None) -> dict:
    """The model's "unknown" entry: the score chosen by measurement, its threshold calibrated.

    val_sets: {description: uint8 images (N, 28, 28)} of held-out in-distribution drawings (for
    digits, MNIST validation images and drawn digits: the page sends canvas drawings). The
    threshold is the lowest of each set's calibrate_threshold, so it refuses at most `refuse`
    of every set. method "auto" takes the score (max-softmax or energy) with the larger AUROC
    between all validation images and outliers in the training styles drawn from VAL_SEED
    (never the held-out sets the model card reports).
    """
    from . import explain

    logits = {name: _logits(model, images) for name, images in val_sets.items()}
    kinds = "scribbles,shapes" if reads == "digits" else "scribbles,digits"
    chosen, aurocs = method, {}
    if method == "auto":
        out, _ = outlier_set(reads, kinds, 1000, held_out=False, data_dir=data_dir, seed=VAL_SEED)
        out_logits = _logits(model, out)
        every = np.concatenate(list(logits.values()))
        aurocs = {m: explain.auroc(explain.unknown_score(every, m),
                                   explain.unknown_score(out_logits, m)) for m in explain.METHODS}
        chosen = max(aurocs, key=aurocs.get)
    elif method not in explain.METHODS:
        raise ValueError(f"method must be 'auto' or one of {explain.METHODS}, got {method!r}")
    scores = {name: explain.unknown_score(z, chosen) for name, z in logits.items()}
    threshold = min(explain.calibrate_threshold(s, refuse) for s in scores.values())
    every = np.concatenate(list(scores.values()))
    entry = {"method": chosen, "threshold": threshold, "refuse_target": float(refuse),
             "refused": float(np.mean(every < threshold)), "n": int(len(every)),
             "source": "; ".join(val_sets),
             "refused_by_source": {name: float(np.mean(s < threshold)) for name, s in scores.items()}}
    if aurocs:
        entry["chosen_by"] = {"auroc_val_outliers": aurocs, "outliers": f"{kinds} (1,000, training "
                              f"styles, seed {VAL_SEED})"}
    return entry


def measure(model, reads: str, data_dir=None, n_outliers: int = 3000) -> dict:
    """What the model card reports about the unknown answer, on held-out sets only.

    digits: share of MNIST test digits refused; drawn digits read right (and not refused);
    held-out outliers (shapes' test styles but circles, held-out scribble styles) answered
    unknown; AUROC against them and against Fashion-MNIST's test set, for both scores.
    shapes: the same with the shapes test split as in-distribution and drawn digits 1-9 plus
    held-out scribbles as outliers.
    """
    from . import explain
    from .data import load_fashion_mnist

    unknown = model.unknown
    test, test_labels = in_distribution(reads, "test", data_dir=data_dir)
    test_logits = _logits(model, test)
    kinds = "scribbles,shapes" if reads == "digits" else "scribbles,digits"
    out, names = cached_outlier_set(reads, kinds, n_outliers, held_out=True, data_dir=data_dir)
    out_logits = _logits(model, out)
    try:
        fashion = _logits(model, load_fashion_mnist("test")[0])
    except FileNotFoundError as e:
        fashion, fashion_note = None, str(e)
    result = {"unknown": unknown, "n_test": int(len(test)), "n_outliers": int(len(out)),
              "outliers": f"held out: {kinds} ({n_outliers:,}, held-out styles, seed {HELD_OUT_SEED})",
              "fashion_n": None if fashion is None else int(len(fashion))}
    if fashion is None:
        result["fashion_note"] = fashion_note
    result["auroc"] = {}
    for m in explain.METHODS:
        s_test = explain.unknown_score(test_logits, m)
        result["auroc"][m] = {
            "held_out": explain.auroc(s_test, explain.unknown_score(out_logits, m)),
            "fashion": None if fashion is None else explain.auroc(s_test, explain.unknown_score(fashion, m))}
    refused = explain.is_unknown(test_logits, unknown)
    right = test_logits.argmax(axis=1) == test_labels
    result.update(test_refused=float(refused.mean()), test_accuracy=float(right.mean()),
                  test_read_right=float((right & ~refused).mean()))
    said_unknown = explain.is_unknown(out_logits, unknown)
    result["outliers_unknown"] = float(said_unknown.mean())
    groups = sorted({n.split(":")[0] for n in names})
    result["outliers_unknown_by_kind"] = {
        g: float(said_unknown[[n.startswith(g + ":") for n in names]].mean()) for g in groups}
    result["outliers_unknown_by_name"] = {
        n: float(said_unknown[[m == n for m in names]].mean()) for n in sorted(set(names))}
    if fashion is not None:
        result["fashion_unknown"] = float(explain.is_unknown(fashion, unknown).mean())
    if reads == "digits":
        drawn, drawn_labels = drawn_digits(1000, HELD_OUT_SEED + 3)
        d_logits = _logits(model, drawn)
        d_right = d_logits.argmax(axis=1) == drawn_labels
        d_refused = explain.is_unknown(d_logits, unknown)
        result["drawn_digits"] = {"n": 1000, "accuracy": float(d_right.mean()),
                                  "refused": float(d_refused.mean()),
                                  "read_right": float((d_right & ~d_refused).mean())}
    return result


def cached_drawn_digits(n: int, seed: int = DRAWN_TRAIN_SEED):
    """drawn_digits(n, seed), kept on disk like cached_outlier_set."""
    import json

    from .data import cache_dir
    from .fileio import save_npz

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(json.dumps(["drawn", n, seed, SET_VERSION]).encode())
    for name in ("shapes.py", "preprocess.py", "kernels.py"):
        digest.update((here / name).read_bytes())
    path = cache_dir("outliers") / f"drawn-{digest.hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            return npz["images"], npz["labels"]
    images, labels = drawn_digits(n, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npz(path, {"images": images, "labels": labels})
    return images, labels


def compare_methods(models: dict, reads: str, val_sets: dict, data_dir=None,
                    n_outliers: int = 3000, refuse: float = 0.01) -> list[dict]:
    """Every (model, score) pair calibrated the same way and measured on the same held-out sets:
    the measurement a method is chosen by (the model card's table).

    models: {description: model}, e.g. the shipped model (trained with outlier exposure) and the
    same recipe without it. Returns one row per pair: {"model", "method", "threshold",
    "test_refused", "outliers_unknown", "fashion_unknown", "auroc_held_out", "auroc_fashion",
    "drawn_read_right" (digits)}.
    """
    from . import explain
    from .data import load_fashion_mnist

    test, test_labels = in_distribution(reads, "test", data_dir=data_dir)
    kinds = "scribbles,shapes" if reads == "digits" else "scribbles,digits"
    out, _ = cached_outlier_set(reads, kinds, n_outliers, held_out=True, data_dir=data_dir)
    try:
        fashion = load_fashion_mnist("test")[0]
    except FileNotFoundError:
        fashion = None
    drawn, drawn_labels = drawn_digits(1000, HELD_OUT_SEED + 3) if reads == "digits" else (None, None)
    rows = []
    for name, model in models.items():
        z = {"test": _logits(model, test), "out": _logits(model, out)}
        if fashion is not None:
            z["fashion"] = _logits(model, fashion)
        if drawn is not None:
            z["drawn"] = _logits(model, drawn)
        for method in explain.METHODS:
            entry = choose_and_calibrate(model, reads, val_sets, method, refuse, data_dir)
            s = {k: explain.unknown_score(v, method) for k, v in z.items()}
            refused = {k: v < entry["threshold"] for k, v in s.items()}
            row = {"model": name, "method": method, "threshold": entry["threshold"],
                   "test_refused": float(refused["test"].mean()),
                   "outliers_unknown": float(refused["out"].mean()),
                   "auroc_held_out": explain.auroc(s["test"], s["out"]),
                   "fashion_unknown": float(refused["fashion"].mean()) if fashion is not None else None,
                   "auroc_fashion": explain.auroc(s["test"], s["fashion"]) if fashion is not None else None,
                   "test_accuracy": float(np.mean(z["test"].argmax(1) == test_labels))}
            if drawn is not None:
                right = z["drawn"].argmax(1) == drawn_labels
                row["drawn_read_right"] = float((right & ~refused["drawn"]).mean())
            rows.append(row)
    return rows


def class_means(reads: str, classes, per_class: int = 20, seed: int = 600) -> np.ndarray:
    """The mean of `per_class` generated drawings of each class (drawn digits, or shapes): a
    start for explain.class_model that needs no training data at hand.
    Shapes: -> (K, 28, 28) float32 in [0, 1]"""
    classes = list(classes)
    if reads == "digits":
        images, labels = drawn_digits(per_class * len(classes), seed, [int(c) for c in classes])
        labels = [classes.index(str(d)) for d in labels]
    else:
        from .shapes import make_set

        images, labels = make_set(per_class * len(classes), seed, classes)
    labels = np.asarray(labels)
    return np.stack([images[labels == k].mean(axis=0) for k in range(len(classes))]).astype(
        np.float32) / np.float32(255)
