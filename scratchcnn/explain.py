"""Honest answers: when to say "I don't know", and why the network says what it says.

Three tools, each the network's own forward or backward pass turned to a new question.

**Unknown scores.** A softmax classifier answers one of its K classes for every input, also for a
drawing that is none of them. A score s(x) says how much x looks like the training data
(higher = more familiar); below a threshold t the answer is "unknown".

- max-softmax (Hendrycks & Gimpel, "A baseline for detecting misclassified and out-of-distribution
  examples", ICLR 2017): s(x) = max_k p_k(x), p = softmax(z) of the logits z.
- energy (Liu, Wang, Owens & Li, "Energy-based out-of-distribution detection", NeurIPS 2020):
  s(x) = -E(x) = T log sum_k exp(z_k / T). Unlike max-softmax it keeps the logits' scale, which
  softmax divides away: a drawing that excites no class strongly has small logits everywhere.
- outlier exposure (Hendrycks, Mazeika & Dietterich, "Deep anomaly detection with outlier
  exposure", ICLR 2019) is not a score but a way of training: outlier images are pushed toward
  the uniform answer (losses.uniform_cross_entropy), so that either score separates them better.

How well a score separates two sets is its AUROC: the probability that a random in-distribution
input scores higher than a random outlier (1 = perfect, 0.5 = chance), computed from ranks
(the Mann-Whitney U statistic). The threshold is calibrated on held-out in-distribution data:
t is chosen so that at most a share `refuse` (e.g. 1%) of them score below it. It is stored in
the model file (`model.unknown`, saved in the architecture JSON) and read by the web app.

**Saliency** (Simonyan, Vedaldi & Zisserman, "Deep inside convolutional networks: visualising
image classification models and saliency maps", 2013): S = dz_k / dx, the gradient of the
predicted class's logit with respect to the input pixels. It is one backward pass started from
dz = e_k (a one-hot upstream gradient) with input_grad=True. Positive pixels: more ink there
would raise class k's logit; negative: ink there speaks against k.

**Class model** (same paper, section 2): the input that class k's logit likes best, found by
gradient ascent from a blank (or mean-like) image on  z_k(x) - lam * ||x||^2 :
x <- clip(x + lr * g / rms(g), 0, 1) with g = dz_k/dx - 2 lam x, then a slight blur. The step
is normalised by the gradient's root mean square so one learning rate suits every model; the
clip keeps x a valid drawing (ink in [0, 1]); the blur (Yosinski et al. 2015) keeps out the
pixel noise a plain ascent grows, which raises the logit as well but shows nothing to a person.
All K classes run as one batch: the logit of image k depends on image k only, so one backward
pass from the identity matrix gives every class's gradient at once.

Shapes: x (N, 1, 28, 28); logits (N, K); saliency (N, 28, 28); class model (K, 28, 28).
"""

from __future__ import annotations

import math

import numpy as np

from .losses import softmax

METHODS = ("msp", "energy")

__all__ = ["METHODS", "logsumexp", "unknown_score", "auroc", "calibrate_threshold",
           "calibrate", "check_unknown", "is_unknown", "saliency", "blob", "class_model", "verdict"]


def logsumexp(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """T log sum_k exp(z_k / T), stably (the row maximum taken out). Shapes: (N, K) -> (N,)"""
    z = logits / temperature
    top = z.max(axis=1)
    return temperature * (top + np.log(np.exp(z - top[:, None]).sum(axis=1)))


def unknown_score(logits: np.ndarray, method: str = "msp", temperature: float = 1.0) -> np.ndarray:
    """How familiar each input looks (higher = more like the training data).

    msp: max_k softmax(z)_k;  energy: -E(x) = T log sum_k exp(z_k / T).
    Shapes: logits (N, K) -> (N,) float64
    """
    if not isinstance(logits, np.ndarray) or logits.ndim != 2 or logits.shape[1] < 2:
        got = logits.shape if isinstance(logits, np.ndarray) else type(logits).__name__
        raise ValueError(f"logits must have shape (N, K) with K >= 2, got {got}")
    if method not in METHODS:
        raise ValueError(f"unknown-score method must be one of {METHODS}, got {method!r}")
    logits = logits.astype(np.float64)
    if method == "msp":
        return softmax(logits).max(axis=1)
    return logsumexp(logits, temperature)


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(s_in > s_out) + P(s_in = s_out) / 2 over all pairs: the area under the ROC curve.

    Counted with a sort instead of all pairs: for each inside score, the outside scores below it
    and equal to it (the Mann-Whitney U statistic divided by n_in * n_out).
    Shapes: inside (N_in,), outside (N_out,) -> float in [0, 1]
    """
    inside, outside = np.asarray(inside, np.float64).ravel(), np.asarray(outside, np.float64).ravel()
    if inside.size == 0 or outside.size == 0:
        raise ValueError(f"auroc needs scores on both sides, got {inside.size} and {outside.size}")
    out_sorted = np.sort(outside)
    below = np.searchsorted(out_sorted, inside, side="left")
    equal = np.searchsorted(out_sorted, inside, side="right") - below
    return float((below.sum() + 0.5 * equal.sum()) / (inside.size * outside.size))


def calibrate_threshold(scores: np.ndarray, refuse: float = 0.01) -> float:
    """The largest threshold t with at most floor(refuse * N) of the scores strictly below it.

    Inputs scoring below t are refused, so on this (held-out, in-distribution) data at most a
    share `refuse` is refused. Shapes: scores (N,) -> float
    """
    scores = np.sort(np.asarray(scores, np.float64).ravel())
    if scores.size == 0 or not np.all(np.isfinite(scores)):
        raise ValueError(f"calibration needs N >= 1 finite scores, got {scores.size}")
    if not 0.0 <= refuse < 1.0:
        raise ValueError(f"refuse must be a share in [0, 1), got {refuse}")
    return float(scores[int(math.floor(refuse * scores.size))])


def logits_of(model, x: np.ndarray, batch_size: int = 250) -> np.ndarray:
    """The model's logits in inference mode, batch by batch. Shapes: (N, 1, 28, 28) -> (N, K)"""
    return np.concatenate([model.forward(x[i : i + batch_size])
                           for i in range(0, len(x), batch_size)])


def calibrate(model, x_val: np.ndarray, method: str = "msp", refuse: float = 0.01,
              source: str = "") -> dict:
    """The "unknown" entry of a model file, from held-out in-distribution inputs x_val.

    Returns {"method", "threshold", "refuse_target", "refused", "n", "source"}: `refused` is the
    share of x_val below the threshold (at most refuse_target), `source` says what x_val was.
    Shapes: x_val (N, 1, 28, 28) float in [0, 1]
    """
    scores = unknown_score(logits_of(model, x_val), method)
    threshold = calibrate_threshold(scores, refuse)
    return {"method": method, "threshold": threshold, "refuse_target": float(refuse),
            "refused": float(np.mean(scores < threshold)), "n": int(len(scores)),
            "source": source}


def check_unknown(unknown: object) -> dict:
    """Validate a model file's "unknown" entry; returns it, or raises ValueError saying what is wrong."""
    if not isinstance(unknown, dict):
        raise ValueError(f"'unknown' must be an object {{method, threshold, ...}}, got "
                         f"{type(unknown).__name__}")
    if unknown.get("method") not in METHODS:
        raise ValueError(f"'unknown' method must be one of {METHODS}, got {unknown.get('method')!r}")
    t = unknown.get("threshold")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise ValueError(f"'unknown' threshold must be a finite number, got {t!r}")
    return unknown


def is_unknown(logits: np.ndarray, unknown: dict | None) -> np.ndarray:
    """True where the score falls below the calibrated threshold (all False without one).

    Shapes: logits (N, K) -> (N,) bool
    """
    if unknown is None:
        return np.zeros(len(logits), dtype=bool)
    check_unknown(unknown)
    return unknown_score(logits, unknown["method"]) < unknown["threshold"]


def _input_gradient(model, x: np.ndarray, classes: np.ndarray, logits=None) -> np.ndarray:
    """d z[n, classes[n]] / d x[n] for every n: one forward (unless `logits` is the forward of x
    just run), one backward from one-hot rows."""
    if logits is None:
        logits = model.forward(x)
    dz = np.zeros_like(logits)
    dz[np.arange(len(x)), classes] = 1
    return model.backward(dz, input_grad=True)


def saliency(model, x: np.ndarray, classes=None) -> tuple[np.ndarray, np.ndarray]:
    """The gradient of one class's logit with respect to each input pixel, and that class.

    S[n] = dz_k / dx[n] with k = classes[n], by default the predicted class argmax_k z_k(x[n]).
    Computed by the model's own backward pass (inference mode: Dropout passes everything).
    Shapes: x (N, 1, H, W) -> (S (N, H, W), classes (N,) int64)
    """
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape[1] != 1:
        got = x.shape if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"saliency expected input of shape (N, 1, H, W), got {got}")
    logits = model.forward(x)  # one forward: for the default class and for the backward
    if classes is None:
        classes = logits.argmax(axis=1)
    classes = np.broadcast_to(np.asarray(classes, dtype=np.int64), (len(x),))
    return _input_gradient(model, x, classes, logits)[:, 0], classes


def blob(H: int = 28, W: int = 28, sigma: float = 4.0, peak: float = 0.3, dtype=np.float32):
    """A faint Gaussian spot in the middle: a stand-in for the mean training image (MNIST's mean
    digit is a blurred blob of this size), used when the training data is not at hand.
    Shapes: -> (H, W)"""
    yy, xx = np.mgrid[0:H, 0:W]
    r2 = (yy - (H - 1) / 2) ** 2 + (xx - (W - 1) / 2) ** 2
    return (peak * np.exp(-0.5 * r2 / sigma**2)).astype(dtype)


def _blur_matrix(n: int, sigma: float, dtype) -> np.ndarray:
    """G with G @ f = f blurred by a Gaussian of width sigma along axis 0. Shapes: (n, n)"""
    d = np.arange(n)[:, None] - np.arange(n)[None, :]
    g = np.exp(-0.5 * (d / sigma) ** 2)
    return (g / g.sum(axis=1, keepdims=True)).astype(dtype)


def class_model(model, classes=None, *, steps: int = 100, lr: float = 0.05, l2: float = 0.01,
                blur: float = 0.5, start: np.ndarray | None = None) -> np.ndarray:
    """For each class k, an input that raises z_k: gradient ascent on z_k(x) - l2 * ||x||^2.

    From `start` (default `blob()`, a stand-in for the mean image; zeros is the blank start):
    x <- clip(x + lr * g / rms(g), 0, 1) with g = dz_k/dx - 2 * l2 * x, `steps` times, every
    class in one batch; after each step x is blurred by a Gaussian of width `blur` pixels (0:
    never), the regulariser of Yosinski et al. 2015 ("Understanding neural networks through deep
    visualization") that keeps the pixel-level noise out which a plain ascent grows.
    start may also hold one image per class asked (for example each class's mean drawing: a
    model trained with outlier exposure answers a blob uniformly, and an ascent from there
    stayed at the uniform answer for some classes).
    Shapes: start (H, W) or (K', H, W) -> (K', H, W) for the K' classes asked (default all K)
    """
    H, W = model.input_shape[1:]
    if classes is None:
        classes = np.arange(model.forward(np.zeros((1, 1, H, W), model.dtype)).shape[1])
    classes = np.asarray(classes, dtype=np.int64).ravel()
    if start is None:
        start = blob(H, W, dtype=model.dtype)
    if np.shape(start) not in ((H, W), (len(classes), H, W)):
        raise ValueError(f"class_model start must have shape ({H}, {W}) or ({len(classes)}, {H}, "
                         f"{W}), got {np.shape(start)}")
    start = np.asarray(start, model.dtype)
    x = (np.repeat(start[None, None], len(classes), axis=0) if start.ndim == 2
         else start[:, None].copy())
    t = model.dtype.type
    g_h, g_w = _blur_matrix(H, blur or 1, model.dtype), _blur_matrix(W, blur or 1, model.dtype)
    for _ in range(steps):
        g = _input_gradient(model, x, classes) - t(2 * l2) * x
        rms = np.sqrt((g * g).mean(axis=(1, 2, 3), keepdims=True)) + t(1e-12)
        x = np.clip(x + t(lr) * g / rms, 0, 1)
        if blur:
            x = g_h @ x @ g_w.T  # (K', 1, H, W): blur along H, then W
    return x[:, 0]


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%"


def verdict(logits: np.ndarray, unknown: dict | None, classes, reads: str = "digits",
            too_little: str | None = None) -> dict:
    """What to answer for one drawing: its label, or "unknown" with the closest class and why.

    Returns {"label": class name or None, "unknown": bool, "closest": class name,
    "closest_probability": float, "score": the unknown score or None, "reason": None,
    "unknown score" or "too little ink", "message": one sentence for a person}.
    too_little: preprocess.too_little_ink's reason, which answers unknown whatever the score.
    Shapes: logits (K,) or (1, K)
    """
    z = np.asarray(logits, np.float64).reshape(1, -1)
    p = softmax(z)[0]
    k = int(p.argmax())
    closest, what = str(classes[k]), "a digit" if reads == "digits" else "a shape I know"
    score = None if unknown is None else float(unknown_score(z, unknown["method"])[0])
    answer = {"label": closest, "unknown": False, "closest": closest,
              "closest_probability": float(p[k]), "score": score, "reason": None,
              "message": f"{_pct(p[k])} sure it is {closest}"}
    if too_little is not None:
        answer.update(label=None, unknown=True, reason="too little ink",
                      message=f"Too little ink to read ({too_little}): draw it bigger")
    elif unknown is not None and score < unknown["threshold"]:
        answer.update(label=None, unknown=True, reason="unknown score",
                      message=f"That does not look like {what}; closest: {closest} ({_pct(p[k])})")
    return answer
