"""Check cells for the notebooks' exercises: a learner's function against the library's.

Each `check_*` runs the learner's function on a few small float64 cases (several channels, strides,
padding, overlapping windows: the cases where the usual mistakes show), compares it with what the
library's layers compute, and returns a `Check`: truthy when every case agrees, and shown as one
line saying PASS or what went wrong, with a hint recognised from common mistakes (a flipped
kernel, one channel only, a missing transpose, dropout without its scale, an exp that
overflows...). A function that still raises NotImplementedError is reported as not written yet,
so a notebook with blank exercises runs top to bottom.

Exercises after CS231n assignment 2 (layers.py's forward/backward pairs, checked with
`eval_numerical_gradient_array`); the library's own layers are checked against central
differences in tests/ and in notebook 02, so agreeing with them to rounding is the standard.
"""

from __future__ import annotations

import copy

import numpy as np

from .layers import Conv2D, Dense, Dropout, MaxPool2D
from .model import Sequential
from .optim import SGD

RTOL, ATOL = 1e-7, 1e-9  # float64 cases: agreement to rounding, not to a loose tolerance


class Check:
    """The outcome of one check cell: truthy on PASS; its text says what was found."""

    def __init__(self, name: str, passed: bool, message: str):
        self.name, self.passed, self.message = name, bool(passed), message

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"{'PASS' if self.passed else 'NOT YET'} {self.name}: {self.message}"


def _close(a, b) -> bool:
    a = np.asarray(a)
    return a.shape == np.shape(b) and bool(np.allclose(a, b, rtol=RTOL, atol=ATOL))


def _max_error(a, b) -> float:
    """max |a - b| / max(max |a|, max |b|), the library's relative error (see gradcheck.py)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(float(np.abs(a).max(initial=0)), float(np.abs(b).max(initial=0)), 1e-12)
    return float(np.abs(a - b).max(initial=0)) / scale


def _run(name: str, fn, cases, hints):
    """Call fn on every case: cases yields (label, args, expected, wrong_variants).

    wrong_variants maps a hint to the answer that mistake would give; the first one the learner's
    answer matches is named. Returns a Check."""
    for label, args, expected, wrong in cases:
        try:
            got = fn(*copy.deepcopy(args))
        except NotImplementedError:
            return Check(name, False, f"not written yet (the function raises NotImplementedError). "
                                      f"{hints}")
        except Exception as e:  # the learner's bug, reported as a hint rather than a traceback
            return Check(name, False, f"on {label} it raised {type(e).__name__}: {e}. {hints}")
        ok, detail = _compare(got, expected)
        if ok:
            continue
        for hint, answer in wrong.items():
            if _compare(got, answer)[0]:
                return Check(name, False, f"on {label}: {hint}")
        return Check(name, False, f"on {label}: {detail}. {hints}")
    return Check(name, True, f"agrees with the library on {len(cases)} cases "
                             f"(rtol {RTOL:g}, atol {ATOL:g})")


def _compare(got, expected) -> tuple[bool, str]:
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return False, f"expected a tuple of {len(expected)} arrays"
        for k, (g, e) in enumerate(zip(got, expected)):
            ok, detail = _compare(g, e)
            if not ok:
                return False, f"item {k}: {detail}"
        return True, ""
    if np.isscalar(expected):
        ok = np.isscalar(got) and bool(np.isclose(got, expected))
        return ok, f"expected {expected}, got {got!r}"
    got = np.asarray(got)
    if got.shape != expected.shape:
        return False, f"expected shape {expected.shape}, got {got.shape}"
    if _close(got, expected):
        return True, ""
    return False, f"wrong values (relative error {_max_error(got, expected):.1e})"


# ------------------------------------------------------------------ notebook 01


def _conv(x, W, b, stride, pad):
    F, C, KH, KW = W.shape
    layer = Conv2D(C, F, (KH, KW), stride=stride, padding=pad, dtype="float64")
    layer.params["W"][...], layer.params["b"][...] = W, b
    return layer.forward(x)


def check_conv_forward(fn) -> Check:
    """fn(x, W, b, stride, pad) -> y, a convolution over every input channel.

    Shapes: x (N, C, H, W), W (F, C, KH, KW), b (F,), stride (SH, SW), pad (PH, PW) -> y (N, F, OH, OW)
    """
    rng = np.random.default_rng(0)
    cases = []
    for N, C, H, Wd, F, (KH, KW), stride, pad in [
        (2, 3, 5, 6, 2, (3, 3), (1, 1), (0, 0)),
        (1, 2, 6, 5, 3, (3, 3), (2, 2), (1, 1)),
        (2, 3, 5, 7, 2, (2, 3), (1, 2), (1, 0)),
    ]:
        x = rng.standard_normal((N, C, H, Wd))
        W, b = rng.standard_normal((F, C, KH, KW)), rng.standard_normal(F)
        wrong = {
            "only channel 0 is used: sum the products over every input channel c too":
                _conv(x[:, :1], W[:, :1], b, stride, pad),
            "the kernel is flipped: deep-learning 'convolution' is cross-correlation, "
            "x_pad[n, c, oh*SH + kh, ow*SW + kw] * W[f, c, kh, kw] with no flip":
                _conv(x, W[:, :, ::-1, ::-1].copy(), b, stride, pad),
            "the bias b[f] is missing": _conv(x, W, np.zeros_like(b), stride, pad),
        }
        label = f"x {x.shape}, W {W.shape}, stride {stride}, pad {pad}"
        cases.append((label, (x, W, b, stride, pad), _conv(x, W, b, stride, pad), wrong))
    return _run("conv forward", fn, cases,
                "Hint: pad x with np.pad, then for every (n, f, oh, ow) take the window "
                "x_pad[n, :, oh*SH:oh*SH+KH, ow*SW:ow*SW+KW] (all C channels) and sum window * W[f].")


def measured_receptive_field(kernels, strides) -> int:
    """How many input rows one output pixel of a stack of windows reads, measured by backprop.

    Builds Conv2D(1, 1, k, stride=s) layers with all-ones weights (a pooling window reads the same
    pixels as a convolution of its size), sends dL/dy = 1 at one output pixel back through them
    and counts the input rows whose gradient is not zero: exactly the pixels that can change it.
    """
    if len(kernels) != len(strides) or not kernels:
        raise ValueError(f"expected as many strides as kernel sizes (>= 1), got {kernels}, {strides}")
    layers = []
    for k, s in zip(kernels, strides):
        conv = Conv2D(1, 1, (k, 1), stride=(s, 1), dtype="float64")
        conv.params["W"][...] = 1.0
        layers.append(conv)
    H = 1
    for k, s in zip(reversed(kernels), reversed(strides)):  # the smallest input giving 1 output row
        H = (H - 1) * s + k
    H += 2 * int(np.prod(strides))  # slack, so the measured field never touches the border
    model = Sequential(layers, input_shape=(1, H, 1))
    y = model.forward(np.ones((1, 1, H, 1)))
    dy = np.zeros_like(y)
    dy[0, 0, 0, 0] = 1.0
    dx = model.backward(dy)
    return int(np.count_nonzero(dx[0, 0, :, 0]))


def check_receptive_field(fn) -> Check:
    """fn(kernels, strides) -> the side of the input square one output pixel of the stack reads."""
    cases = []
    for kernels, strides in [([3], [1]), ([3, 3], [1, 1]), ([3, 2, 3, 2], [1, 2, 1, 2]),
                             ([5, 2, 5, 2], [1, 2, 1, 2]), ([3, 3, 3], [2, 2, 2])]:
        r = measured_receptive_field(kernels, strides)
        grow = 1 + sum(k - 1 for k in kernels)  # the field if the strides were ignored
        wrong = {}
        if grow != r:
            wrong["the strides are ignored: a window after a stride-2 layer steps 2 input pixels "
                  "per output pixel, so its (k - 1) counts twice"] = grow
        cases.append((f"kernels {kernels}, strides {strides}", (kernels, strides), r, wrong))
    return _run("receptive field", fn, cases,
                "Hint: r starts at 1; each layer adds (k - 1) times the product of the strides of "
                "the layers before it (its 'jump' in input pixels).")


def check_conv1x1(fn) -> Check:
    """fn(x, W) -> y, a 1x1 convolution written as one matrix product per pixel.

    Shapes: x (N, C, H, W), W (F, C) -> y (N, F, H, W)
    """
    rng = np.random.default_rng(1)
    cases = []
    for N, C, H, Wd, F in [(2, 3, 4, 5, 2), (1, 8, 3, 3, 4)]:
        x, W = rng.standard_normal((N, C, H, Wd)), rng.standard_normal((F, C))
        expected = _conv(x, W[:, :, None, None], np.zeros(F), (1, 1), (0, 0))
        wrong = {"W is used transposed: y[n, f] = sum_c W[f, c] x[n, c]":
                 _conv(x, W.T[:, :, None, None], np.zeros(C), (1, 1), (0, 0)) if F == C else None}
        wrong = {k: v for k, v in wrong.items() if v is not None}
        cases.append((f"x {x.shape}, W {W.shape}", (x, W), expected, wrong))
    return _run("1x1 convolution", fn, cases,
                "Hint: every pixel's C channel values form a vector; y at that pixel is W @ vector. "
                "np.einsum('fc,nchw->nfhw', W, x) or a reshape to (C, N*H*W) does it in one product.")


# ------------------------------------------------------------------ notebook 02


def _dense_grads(dy, x, W):
    layer = Dense(*W.shape, dtype="float64")
    layer.params["W"][...] = W
    layer.forward(x)
    dx = layer.backward(dy)
    return dx, layer.grads["W"], layer.grads["b"]


def check_dense_backward(fn) -> Check:
    """fn(dy, x, W) -> (dx, dW, db) for y = x @ W + b.

    Shapes: dy (N, M), x (N, D), W (D, M) -> dx (N, D), dW (D, M), db (M,)
    """
    rng = np.random.default_rng(2)
    cases = []
    for N, D, M in [(4, 5, 3), (3, 6, 6)]:
        x, W, dy = rng.standard_normal((N, D)), rng.standard_normal((D, M)), rng.standard_normal((N, M))
        dx, dW, db = _dense_grads(dy, x, W)
        wrong = {
            "db is the mean over the batch: the bias is added to every row, so its gradient is "
            "the sum dy.sum(axis=0)": (dx, dW, dy.mean(axis=0)),
            "dW is divided by N: the loss already averaged over the batch (see section 7)":
                (dx, dW / N, db),
        }
        if D == M:
            wrong["dx uses W instead of W.T: dx = dy @ W.T"] = (dy @ W, dW, db)
            wrong["dW is transposed: dW = x.T @ dy has the shape of W, (D, M)"] = (dx, dW.T, db)
        cases.append((f"x {x.shape}, W {W.shape}", (dy, x, W), (dx, dW, db), wrong))
    return _run("dense backward", fn, cases,
                "Hint: check the shapes: x.T @ dy is (D, M) like W, dy @ W.T is (N, D) like x.")


def _pool_dx(dy, x, kernel, stride):
    layer = MaxPool2D(kernel, stride)
    layer.forward(x, training=True)
    return layer.backward(dy)


def _avg_dx(dy, x, kernel, stride):
    """The gradient of average pooling: dy spread evenly over each window."""
    (KH, KW), (SH, SW) = kernel, stride
    dx = np.zeros_like(x)
    for oh in range(dy.shape[2]):
        for ow in range(dy.shape[3]):
            dx[:, :, oh * SH : oh * SH + KH, ow * SW : ow * SW + KW] += (
                dy[:, :, oh, ow, None, None] / (KH * KW))
    return dx


def _assigned_dx(dy, x, kernel, stride):
    """Max-pool backward with `=` instead of `+=`: a pixel that wins two windows keeps one."""
    (KH, KW), (SH, SW) = kernel, stride
    dx = np.zeros_like(x)
    N, C, OH, OW = dy.shape
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    win = x[n, c, oh * SH : oh * SH + KH, ow * SW : ow * SW + KW]
                    kh, kw = np.unravel_index(np.argmax(win), win.shape)
                    dx[n, c, oh * SH + kh, ow * SW + kw] = dy[n, c, oh, ow]
    return dx


def check_maxpool_backward(fn) -> Check:
    """fn(dy, x, kernel, stride) -> dx for max-pooling (kernel, stride: pairs).

    Shapes: dy (N, C, OH, OW), x (N, C, H, W) -> dx (N, C, H, W)
    """
    rng = np.random.default_rng(3)
    cases = []
    for N, C, H, Wd, kernel, stride in [(2, 2, 4, 6, (2, 2), (2, 2)), (1, 3, 7, 7, (3, 3), (2, 2))]:
        x = rng.permutation(N * C * H * Wd).reshape(N, C, H, Wd) / 10.0  # distinct: no ties
        OH, OW = (H - kernel[0]) // stride[0] + 1, (Wd - kernel[1]) // stride[1] + 1
        dy = rng.standard_normal((N, C, OH, OW))
        wrong = {"dy is spread over the whole window (that is average pooling): only the "
                 "window's maximum moved the output, so it alone receives dy":
                 _avg_dx(dy, x, kernel, stride)}
        if kernel != stride:
            wrong["windows overlap here (3x3, stride 2): a pixel that wins two windows receives "
                  "both gradients, so add with += rather than assign"] = _assigned_dx(dy, x, kernel, stride)
        cases.append((f"x {x.shape}, kernel {kernel}, stride {stride}", (dy, x, kernel, stride),
                      _pool_dx(dy, x, kernel, stride), wrong))
    return _run("max-pool backward", fn, cases,
                "Hint: for every window find (kh, kw) = np.unravel_index(np.argmax(window), window.shape) "
                "and add dy[n, c, oh, ow] to dx at that pixel.")


def check_dropout(fn) -> Check:
    """fn(x, keep, p) -> y, inverted dropout in training, given the mask keep (bool, True = kept).

    The case's mask is the one the library's Dropout drew, so y must equal its output.
    Shapes: x, keep: any, same -> y: same
    """
    cases = []
    for p, shape, seed in [(0.5, (4, 6), 0), (0.2, (2, 3, 4, 4), 1)]:
        layer = Dropout(p, seed=seed)
        x = np.random.default_rng(seed + 10).standard_normal(shape) + 2.0  # no zeros
        y = layer.forward(x, training=True)
        keep = y != 0
        wrong = {
            "the kept values are not scaled: divide by (1 - p), so that the expected value of y "
            "equals x and nothing needs rescaling at inference": x * keep,
            "the scale is 1/p: the kept fraction is 1 - p, so divide by (1 - p)": x * keep / p,
            "dropped and kept are swapped: keep is True where the value stays":
                x * ~keep / (1 - p),
        }
        cases.append((f"p = {p}, x {shape}", (x, keep, p), y, wrong))
    return _run("dropout", fn, cases, "Hint: y = x * keep / (1 - p).")


def check_batchnorm_forward(fn) -> Check:
    """fn(x, gamma, beta, eps) -> y, one batch-norm step in training over a batch of vectors:
    every feature standardised with the batch's own mean and (biased) variance, then scaled by
    gamma and shifted by beta. Compared with the library's BatchNorm1D in training mode.

    Shapes: x (N, D), gamma, beta (D,) -> y (N, D)
    """
    from .layers import BatchNorm1D

    rng = np.random.default_rng(5)
    cases = []
    for N, D, eps in [(8, 3, 1e-5), (5, 4, 1e-2)]:
        x = rng.standard_normal((N, D)) * 3 + 1
        gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
        layer = BatchNorm1D(D, eps=eps, dtype="float64")
        layer.params["gamma"][...], layer.params["beta"][...] = gamma, beta
        y = layer.forward(x, training=True)
        mean = x.mean(axis=0)
        wrong = {
            "the variance is the unbiased one (divided by N - 1): batch norm normalises with the "
            "batch's biased variance, divided by N":
                gamma * (x - mean) / np.sqrt(x.var(axis=0, ddof=1) + eps) + beta,
            "the statistics are taken per row (over the features, axis 1): batch norm takes them per "
            "feature, over the batch (axis 0)": gamma * (x - x.mean(axis=1, keepdims=True))
            / np.sqrt(x.var(axis=1, keepdims=True) + eps) + beta,
            "gamma and beta are not applied: y = gamma * x_hat + beta":
                (x - mean) / np.sqrt(x.var(axis=0) + eps),
            "eps is missing: divide by sqrt(var + eps)": gamma * (x - mean) / np.sqrt(x.var(axis=0)) + beta,
        }
        cases.append((f"x {x.shape}, eps {eps}", (x, gamma, beta, eps), y, wrong))
    return _run("batch-norm step", fn, cases,
                "Hint: mean and var over axis 0, x_hat = (x - mean) / sqrt(var + eps), "
                "y = gamma * x_hat + beta.")


# ------------------------------------------------------------------ notebook 03


def check_sgd_momentum(fn) -> Check:
    """fn(param, grad, v, lr, mu) -> (new_param, new_v), one step of SGD with momentum.

    Three steps on a tiny model's parameter with fixed gradients must end where the library's
    SGD(momentum=mu) ends (its velocity convention is PyTorch's; CS231n's v = mu*v - lr*g gives
    the same parameters at a constant lr, and passes too).
    """
    rng = np.random.default_rng(4)
    cases = []
    for lr, mu in [(0.1, 0.9), (0.05, 0.5)]:
        model = Sequential([Dense(3, 2, dtype="float64", rng=rng)], input_shape=(3,))
        opt = SGD(model, lr=lr, momentum=mu)
        p0 = model.layers[0].params["W"].copy()
        grads = [rng.standard_normal(p0.shape) for _ in range(3)]
        for g in grads:
            model.layers[0].grads["W"] = g.copy()
            model.layers[0].grads["b"] = np.zeros(2)
            opt.step()
        expected = model.layers[0].params["W"].copy()
        no_momentum = p0 - lr * sum(grads)
        wrong = {"the velocity is not kept between steps (this is plain SGD): return the new v "
                 "and feed it to the next step": no_momentum}
        cases.append((f"lr {lr}, momentum {mu}, 3 steps", (p0, grads, lr, mu), expected, wrong))

    def three_steps(p, grads, lr, mu):
        v = np.zeros_like(p)
        for g in grads:
            p, v = fn(p, g, v, lr, mu)
        return p

    return _run("SGD with momentum", three_steps, cases,
                "Hint: v = mu * v + grad, then param = param - lr * v; return both.")


def activation_variances(std_fn, depth: int = 20, width: int = 256, seed: int = 0) -> np.ndarray:
    """Var of the activations after each of `depth` Dense+ReLU layers, weights ~ N(0, std_fn(D)^2).

    The input is 512 standard-normal rows of `width` features; returns `depth` variances.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((512, width))
    out = []
    for _ in range(depth):
        layer = Dense(width, width, dtype="float64", rng=rng)
        layer.params["W"][...] = rng.standard_normal((width, width)) * std_fn(width)
        x = np.maximum(layer.forward(x), 0)
        out.append(float(x.var()))
    return np.array(out)


def check_he_std(fn) -> Check:
    """fn(fan_in) -> the standard deviation of He-normal weights for that fan-in.

    Compared with the spread of the library's own Dense and Conv2D draws (both He-normal),
    measured on draws of 600,000 and 74,000 weights: the learner's std must be within 2% of it
    (the sampling error is under 0.5%).
    """
    name = "He initialisation"
    for layer, fan_in in [(Dense(300, 2000, dtype="float64", rng=0), 300),
                          (Conv2D(32, 256, 3, dtype="float64", rng=0), 32 * 9)]:
        measured = float(layer.params["W"].std())
        try:
            std = float(fn(fan_in))
        except NotImplementedError:
            return Check(name, False, "not written yet (the function raises NotImplementedError). "
                                      "Hint: the weights' variance times fan_in should be 2.")
        except Exception as e:
            return Check(name, False, f"fan_in {fan_in}: it raised {type(e).__name__}: {e}")
        if abs(std / measured - 1) < 0.02:
            continue
        if abs(std / np.sqrt(1 / fan_in) - 1) < 0.02:
            return Check(name, False, "that is Xavier/Glorot's sqrt(1 / fan_in): right for tanh, "
                         "but a ReLU zeroes about half of its inputs and so halves the variance at "
                         "every layer; He's factor 2 puts it back")
        return Check(name, False, f"{layer.describe()} (fan_in {fan_in}): the library's weights "
                     f"have std {measured:.4f}, yours {std:.4f}. Hint: the weights' variance times "
                     "fan_in should be 2.")
    return Check(name, True, "matches the spread of the library's Dense and Conv2D weights")


# ------------------------------------------------------------------ notebook 04


def check_batchnorm_backward(fn) -> Check:
    """fn(dy, x, gamma, eps) -> (dx, dgamma, dbeta), batch norm's backward in training over a
    batch of vectors (the statistics are the batch's own, so they depend on every x).
    Compared with the library's BatchNorm1D backward in training mode.

    Shapes: dy, x (N, D), gamma (D,) -> dx (N, D), dgamma (D,), dbeta (D,)
    """
    from .layers import BatchNorm1D

    rng = np.random.default_rng(7)
    cases = []
    for N, D, eps in [(6, 3, 1e-5), (4, 5, 1e-1)]:
        x = rng.standard_normal((N, D)) * 2 + 1
        dy, gamma = rng.standard_normal((N, D)), rng.uniform(0.5, 2.0, D)
        layer = BatchNorm1D(D, eps=eps, dtype="float64")
        layer.params["gamma"][...] = gamma
        layer.forward(x, training=True)
        dx = layer.backward(dy)
        expected = (dx, layer.grads["gamma"], layer.grads["beta"])
        s = 1 / np.sqrt(x.var(axis=0) + eps)
        x_hat = (x - x.mean(axis=0)) * s
        dgamma, dbeta = (dy * x_hat).sum(axis=0), dy.sum(axis=0)
        wrong = {
            "dx treats the mean and variance as constants (that is the inference gradient): in "
            "training they depend on every x, which subtracts dbeta / N and x_hat * dgamma / N "
            "from dy": (gamma * s * dy, dgamma, dbeta),
            "dx keeps the variance's term but not the mean's (subtract dbeta / N as well)":
                (gamma * s * (dy - x_hat * dgamma / N), dgamma, dbeta),
            "dx keeps the mean's term but not the variance's (subtract x_hat * dgamma / N)":
                (gamma * s * (dy - dbeta / N), dgamma, dbeta),
            "dgamma multiplies dy by x instead of x_hat": (dx, (dy * x).sum(axis=0), dbeta),
        }
        cases.append((f"x {x.shape}, eps {eps}", (dy, x, gamma, eps), expected, wrong))
    return _run("batch-norm backward", fn, cases,
                "Hint: dbeta = sum dy, dgamma = sum dy * x_hat, dx = gamma * s / N * "
                "(N * dy - dbeta - x_hat * dgamma), s = 1 / sqrt(var + eps), sums over axis 0.")


def check_pooled_moments(fn) -> Check:
    """fn(counts, means, variances) -> (mean, var): the mean and biased variance of a whole batch
    from its pieces' sizes, means and biased variances (what BatchNorm.merge_twins computes for
    the running statistics of a split batch). Compared with the moments of the whole batch.

    Shapes: counts (P,), means, variances (P, C) -> mean (C,), var (C,)
    """
    rng = np.random.default_rng(8)
    cases = []
    for sizes in [(3, 5, 4), (10, 2)]:
        pieces = [rng.standard_normal((n, 3)) * (1 + k) + k for k, n in enumerate(sizes)]
        whole = np.concatenate(pieces)
        counts = np.array(sizes, dtype=np.float64)
        means = np.array([p.mean(axis=0) for p in pieces])
        variances = np.array([p.var(axis=0) for p in pieces])
        expected = (whole.mean(axis=0), whole.var(axis=0))
        weighted = (counts[:, None] * means).sum(axis=0) / counts.sum()
        wrong = {
            "the variance averages the pieces' variances only: add each piece's spread of its mean "
            "around the whole mean, (mean_i - mean)^2, weighted like the variances":
                (weighted, (counts[:, None] * variances).sum(axis=0) / counts.sum()),
            "the pieces are averaged without their sizes: weight each by its count":
                (means.mean(axis=0), variances.mean(axis=0) + means.var(axis=0)),
        }
        cases.append((f"pieces of {sizes}", (counts, means, variances), expected, wrong))
    return _run("pooled moments", fn, cases,
                "Hint: mean = sum n_i mean_i / n, var = sum n_i (var_i + (mean_i - mean)^2) / n.")


# ------------------------------------------------------------------ notebook 05


def check_energy_score(fn) -> Check:
    """fn(logits, T) -> the energy score of every row, -E(x) = T log sum_k exp(z_k / T) (Liu et al.
    2020), computed so that exp cannot overflow. Higher means more familiar. Compared with
    explain.unknown_score(logits, "energy", temperature=T); the last case has logits near 1000,
    where exp(1000) is inf in float64 (its largest value is about exp(709)).

    Shapes: logits (N, K), T: float -> (N,)
    """
    from .explain import unknown_score

    rng = np.random.default_rng(9)
    cases = []
    for label, z, T in [("logits (5, 10), T = 1", rng.standard_normal((5, 10)) * 3, 1.0),
                        ("logits (4, 6), T = 2.5", rng.standard_normal((4, 6)) * 4, 2.5),
                        ("logits near 1000, T = 1", rng.standard_normal((3, 10)) * 5 + 1000, 1.0)]:
        expected = unknown_score(z, "energy", temperature=T)
        with np.errstate(over="ignore"):
            naive = T * np.log(np.exp(z / T).sum(axis=1))
        wrong = {}
        if not np.isfinite(naive).all():
            wrong["exp(z / T) overflowed to inf: subtract each row's maximum m before exp and add it "
                  "back after the log, T * (m + log sum exp(z / T - m))"] = naive
        wrong.update({
            "the sign is flipped: that is the energy E(x); the score is -E(x) = +T log sum exp(z / T), "
            "higher for familiar inputs": -expected,
            "the row maximum is taken out but not added back: log sum exp(a) = m + log sum exp(a - m)":
                expected - z.max(axis=1),
            "that is the largest logit alone: the score adds exp(z_k / T) over every class k":
                z.max(axis=1),
            "the temperature is ignored: divide the logits by T, and multiply the log by T":
                unknown_score(z, "energy"),
            "the factor T in front of the log is missing": expected / T,
        })
        cases.append((label, (z, T), expected, wrong))

    def quiet(z, T):
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is named by a hint instead
            return fn(z, T)

    return _run("energy score", quiet, cases,
                "Hint: with a = z / T and m the maximum of each row of a, the score is "
                "T * (m + log sum_k exp(a_k - m)), one number per row: every exponent is <= 0.")


def check_auroc(fn) -> Check:
    """fn(inside, outside) -> the AUROC: the probability that a random inside score is higher than
    a random outside score, a tie counting one half. Compared with explain.auroc (which counts
    with a sort) on cases with and without ties.

    Shapes: inside (N_in,), outside (N_out,) -> float
    """
    from .explain import auroc

    rng = np.random.default_rng(10)
    cases = []
    for label, inside, outside in [
        ("7 inside, 5 outside, no ties", rng.standard_normal(7) + 1, rng.standard_normal(5)),
        ("scores in {0, 1, 2, 3}: many ties", rng.integers(0, 4, 12).astype(float),
         rng.integers(0, 3, 9).astype(float)),
        ("max-softmax-like scores, many exactly 1.0", np.minimum(1, rng.uniform(0.5, 1.3, 10)),
         np.minimum(1, rng.uniform(0.2, 1.1, 8))),
    ]:
        expected = np.asarray(auroc(inside, outside))
        greater = np.mean(inside[:, None] > outside[None, :])  # (N_in, N_out) pairs
        equal = np.mean(inside[:, None] == outside[None, :])
        wrong = {
            "ties count as 0: a pair with equal scores counts one half (no threshold separates "
            "them, so the score can only guess)": np.asarray(greater),
            "ties count as 1: a pair with equal scores counts one half": np.asarray(greater + equal),
            "the direction is reversed: count the pairs where the inside score is the higher one":
                1 - expected,
        }
        cases.append((label, (inside, outside), expected, wrong))
    return _run("AUROC", fn, cases,
                "Hint: compare every pair at once, inside[:, None] > outside[None, :] is (N_in, N_out); "
                "the AUROC is the mean of (a > b) + 0.5 * (a == b) over all pairs.")


def check_uniform_cross_entropy(fn) -> Check:
    """fn(logits) -> (loss, dlogits), the outlier-exposure loss: cross-entropy against the uniform
    answer, L = -1/N sum_n 1/K sum_k log p[n, k] with p = softmax(z), and its gradient
    dL/dz[n, k] = (p[n, k] - 1/K) / N. Compared with losses.uniform_cross_entropy.

    Shapes: logits (N, K) -> (float, (N, K))
    """
    from .losses import softmax, uniform_cross_entropy

    rng = np.random.default_rng(11)
    cases = []
    for N, K, scale in [(4, 10, 2.0), (3, 5, 10.0)]:
        z = rng.standard_normal((N, K)) * scale
        loss, dz = uniform_cross_entropy(z)
        loss, p = np.asarray(loss), softmax(z)
        wrong = {
            "dlogits is not divided by N: the loss is a mean over the batch, so each row's share of "
            "the gradient is 1/N": (loss, dz * N),
            "the loss is a sum over the batch: it is the mean over the N rows": (loss * N, dz),
            "dlogits has the wrong sign: it is (p - 1/K) / N, the answer minus the target": (loss, -dz),
            "the target puts 1 on every class: the uniform answer puts 1/K on each, so the loss is "
            "the mean of -log p over k as well": (loss * K, (K * p - 1) / N),
            "dlogits treats the target as 1 on every class: it is (p - 1/K) / N": (loss, (K * p - 1) / N),
        }
        cases.append((f"logits {z.shape}", (z,), (loss, dz), wrong))
    return _run("uniform cross-entropy", fn, cases,
                "Hint: log p = z - m - log sum exp(z - m) with m the row maximum; the loss is the mean "
                "of -log p over all N*K entries, the gradient (exp(log p) - 1/K) / N.")
