"""Layers: each a forward pass and its hand-written backward pass, side by side.

Contract (see DEVELOPERS.md): `forward(x, training=False) -> y` keeps what backward needs in
`self._cache`; `backward(dy) -> dx` reads it, overwrites `self.grads[k]` and returns dL/dx
(`backward(dy, need_dx=False)` may skip dL/dx and return None: a network's first layer needs
only its parameter gradients).
`params` and `grads` are dicts with the same keys, shapes and dtypes. `buffers` holds arrays a
layer keeps that are not learned by gradient (BatchNorm's running statistics): saved with the
model, never seen by the optimiser or weight decay. Conv2D, MaxPool2D and the BatchNorm layers
take `impl="fast"` (fast.py: im2col + BLAS + Numba kernels) or `impl="naive"` (reference.py's
loops): the layer keeps the bookkeeping (parameters, cache, validation) and picks the module of
functions in one line, `ops = fast if self.impl == "fast" else reference`.
"""

import copy
import inspect

import numpy as np

from . import fast, kernels, reference
from .reference import output_size

IMPLS = ("fast", "naive")
DTYPES = (np.float32, np.float64)


def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    """Accept an int or a pair of ints, each >= minimum."""
    try:
        pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    except TypeError:  # neither an int nor a sequence: 2.5, None, ...
        pair = ()
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= minimum for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _as_rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _arguments(cls, config: dict) -> dict:
    """The constructor's arguments for `config`, defaults filled in; TypeError on unknown keys."""
    bound = inspect.signature(cls).bind(**config)
    bound.apply_defaults()
    return bound.arguments


def _check_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _check_input(layer, x, expected, ndim: int | None, channels: int | None = None,
                 dtype=None):
    """Raise ValueError naming the expected and the received shape or dtype (ndim None: any).

    `expected` is the shape as text, or a function giving it: the message is built only when the
    check fails (a one-image prediction passes ten of these checks)."""
    is_array = isinstance(x, np.ndarray)
    shape_ok = is_array and x.ndim != 0 and (ndim is None or x.ndim == ndim) and (
        channels is None or x.shape[1] == channels)
    allowed = DTYPES if dtype is None else (dtype,)
    if shape_ok and x.dtype in allowed:
        return
    name = type(layer).__name__
    expected = expected() if callable(expected) else expected
    if not is_array:
        raise ValueError(f"{name} expected a NumPy array of shape {expected}, got {type(x).__name__}")
    if not shape_ok:
        raise ValueError(f"{name} expected input of shape {expected}, got {x.shape}")
    want = " or ".join(np.dtype(d).name for d in allowed)
    raise ValueError(f"{name} expected {want} input of shape {expected}, got {x.dtype} {x.shape}")


class Layer:
    """Base class: no parameters, identity config; subclasses fill params/grads."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}  # state not trained by gradient, e.g. running means
        self._cache = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        raise NotImplementedError

    def config(self) -> dict:
        return {}

    @classmethod
    def param_shapes(cls, config: dict) -> dict[str, tuple[int, ...]]:
        """The shapes of the arrays a layer built from `config` saves (parameters and buffers),
        without building it: the model loader checks a file against them before it allocates
        anything. Layers with arrays override this; the default builds the layer (cheap when it
        has none)."""
        layer = cls(**config)
        return {k: v.shape for k, v in {**layer.params, **layer.buffers}.items()}

    def twin(self, training: bool = True) -> "Layer":
        """The split hook: a copy that shares this layer's parameters (the same `params` dict) but
        keeps its own cache and gradients. parallel.DataParallel runs the pieces of a batch after
        the first through twins, half of them on a second thread, then adds their gradients to
        the layer's. `training` says which kind of forward the twin will run; a layer whose
        forward draws randomness or keeps running statistics overrides this (see Dropout,
        BatchNorm)."""
        other = copy.copy(self)
        other.grads, other._cache = {}, None
        return other

    def merge_twins(self, twins: list["Layer"]) -> None:
        """Called after a split forward with the twins that ran the other pieces, in piece order,
        once both threads are done: fold in what the twins computed besides gradients (which
        DataParallel adds itself). Most layers have nothing to fold; BatchNorm merges its pieces'
        batch statistics into one update of its running statistics."""

    def astype(self, dtype) -> "Layer":
        """Cast parameters, gradients and buffers in place (float64 for gradient checks)."""
        dtype = _check_dtype(dtype)
        for k in self.params:
            self.params[k] = self.params[k].astype(dtype)
            self.grads[k] = np.zeros_like(self.params[k])
        for k in self.buffers:
            self.buffers[k] = self.buffers[k].astype(dtype)
        if hasattr(self, "dtype"):
            self.dtype = dtype
        return self

    def _cached(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._cache

    def _check_dy(self, dy: np.ndarray, shape: tuple) -> None:
        if not isinstance(dy, np.ndarray) or dy.shape != shape:
            got = dy.shape if isinstance(dy, np.ndarray) else type(dy).__name__
            raise ValueError(f"{type(self).__name__}.backward expected dy of shape {shape}, got {got}")

    def describe(self) -> str:
        """A short label for summaries, e.g. "Conv2D(1->32, 3x3, s1, p0)"."""
        return f"{type(self).__name__}()"

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class Conv2D(Layer):
    """2-D cross-correlation: y[n, f] = b[f] + sum_c x_pad[n, c] (*) W[f, c], with x_pad the
    input zero-padded by PH rows and PW columns on each side, windows moved by the stride.

    Backward: dW[f] = sum over windows of dy * window, db[f] = sum of dy[:, f],
    dx = the windows' dy * W[f] added back where they were read. impl="naive" runs
    reference.conv_forward's loops, impl="fast" fast.conv_forward's im2col + BLAS.
    Shapes: x (N, C, H, W) -> y (N, F, OH, OW); W (F, C, KH, KW), b (F,);
    OH = (H + 2*PH - KH) // SH + 1, OW = (W + 2*PW - KW) // SW + 1
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 impl: str = "fast", dtype="float32", rng=None):
        super().__init__()
        self.in_channels = _pair(in_channels, "in_channels", 1)[0]
        self.out_channels = _pair(out_channels, "out_channels", 1)[0]
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        self.impl = impl
        self.dtype = _check_dtype(dtype)
        C, F, (KH, KW) = self.in_channels, self.out_channels, self.kernel_size
        std = np.sqrt(2.0 / (C * KH * KW))  # He-normal: keeps ReLU activations' variance
        self.params = {
            "W": (_as_rng(rng).standard_normal((F, C, KH, KW)) * std).astype(self.dtype),
            "b": np.zeros(F, dtype=self.dtype),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    @classmethod
    def param_shapes(cls, config: dict) -> dict[str, tuple[int, ...]]:
        args = _arguments(cls, config)
        C = _pair(args["in_channels"], "in_channels", 1)[0]
        F = _pair(args["out_channels"], "out_channels", 1)[0]
        return {"W": (F, C, *_pair(args["kernel_size"], "kernel_size", 1)), "b": (F,)}

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "impl": self.impl, "dtype": self.dtype.name}

    def describe(self) -> str:
        (KH, KW), (SH, SW), (PH, PW) = self.kernel_size, self.stride, self.padding
        return (f"Conv2D({self.in_channels}->{self.out_channels}, {KH}x{KW}, "
                f"s{SH if SH == SW else (SH, SW)}, p{PH if PH == PW else (PH, PW)})")

    def output_hw(self, H: int, W: int) -> tuple[int, int]:
        (KH, KW), (SH, SW), (PH, PW) = self.kernel_size, self.stride, self.padding
        return output_size(H, KH, SH, PH), output_size(W, KW, SW, PW)

    def _expected(self) -> str:
        (KH, KW), (PH, PW) = self.kernel_size, self.padding
        return f"(N, {self.in_channels}, H, W) with H + 2*{PH} >= {KH} and W + 2*{PW} >= {KW}"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        (KH, KW), (PH, PW) = self.kernel_size, self.padding
        _check_input(self, x, self._expected, 4, self.in_channels, self.dtype)
        N, C, H, W = x.shape
        if N == 0 or H + 2 * PH < KH or W + 2 * PW < KW:
            raise ValueError(f"Conv2D expected input of shape {self._expected()}, got {x.shape}")
        ops = fast if self.impl == "fast" else reference
        y, cache = ops.conv_forward(x, self.params["W"], self.params["b"], self.stride, self.padding)
        self._cache = (x.shape, cache)
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        (N, C, H, W), cache = self._cached()
        self._check_dy(dy, (N, self.out_channels, *self.output_hw(H, W)))
        ops = fast if self.impl == "fast" else reference
        dx, self.grads["W"], self.grads["b"] = ops.conv_backward(dy, cache, need_dx)
        return dx


class MaxPool2D(Layer):
    """Max over each KH x KW window, moved by the stride (default: the kernel size).

    Backward routes dy to the window's first maximum only (row-major order). impl="naive" runs
    reference.maxpool_forward's loops, impl="fast" fast.maxpool_forward's kernels.
    Shapes: x (N, C, H, W) -> y (N, C, OH, OW), OH = (H - KH) // SH + 1, OW = (W - KW) // SW + 1
    """

    def __init__(self, kernel_size=2, stride=None, impl: str = "fast"):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", 1)
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        self.impl = impl

    def config(self) -> dict:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "impl": self.impl}

    def describe(self) -> str:
        (KH, KW), (SH, SW) = self.kernel_size, self.stride
        return f"MaxPool2D({KH}x{KW}, s{SH if SH == SW else (SH, SW)})"

    def output_hw(self, H: int, W: int) -> tuple[int, int]:
        (KH, KW), (SH, SW) = self.kernel_size, self.stride
        return output_size(H, KH, SH, 0), output_size(W, KW, SW, 0)

    def _expected(self) -> str:
        return f"(N, C, H, W) with H >= {self.kernel_size[0]} and W >= {self.kernel_size[1]}"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        KH, KW = self.kernel_size
        _check_input(self, x, self._expected, 4)
        if x.shape[0] == 0 or x.shape[2] < KH or x.shape[3] < KW:
            raise ValueError(f"MaxPool2D expected input of shape {self._expected()}, got {x.shape}")
        ops = fast if self.impl == "fast" else reference
        y, cache = ops.maxpool_forward(x, self.kernel_size, self.stride, training)
        self._cache = (x.shape, cache)
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray:
        x_shape, cache = self._cached()
        self._check_dy(dy, (*x_shape[:2], *self.output_hw(*x_shape[2:])))
        ops = fast if self.impl == "fast" else reference
        return ops.maxpool_backward(dy, cache)


class ReLU(Layer):
    """y = max(x, 0); dx = dy where x > 0, else 0. Shapes: any -> same"""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        _check_input(self, x, "(N, ...)", None)
        x = np.ascontiguousarray(x)
        self._cache = (x,)  # the sign of x is the mask; no separate bool array
        return kernels.relu_forward(x)

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray:
        (x,) = self._cached()
        self._check_dy(dy, x.shape)
        return kernels.relu_backward(np.ascontiguousarray(dy), x)


class Flatten(Layer):
    """Keep the batch axis, join the rest. Shapes: (N, C, H, W) -> (N, C*H*W)"""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        _check_input(self, x, "(N, ...)", None)
        if x.ndim < 2:
            raise ValueError(f"Flatten expected input of shape (N, ...), got {x.shape}")
        self._cache = (x.shape,)
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray:
        (x_shape,) = self._cached()
        self._check_dy(dy, (x_shape[0], int(np.prod(x_shape[1:]))))
        return dy.reshape(x_shape)


class Dense(Layer):
    """Fully connected: y = x @ W + b; dW = x.T @ dy, db = sum_n dy, dx = dy @ W.T.

    Shapes: x (N, D) -> y (N, M); W (D, M), b (M,)
    """

    def __init__(self, in_features: int, out_features: int, dtype="float32", rng=None):
        super().__init__()
        self.in_features = _pair(in_features, "in_features", 1)[0]
        self.out_features = _pair(out_features, "out_features", 1)[0]
        self.dtype = _check_dtype(dtype)
        D, M = self.in_features, self.out_features
        std = np.sqrt(2.0 / D)
        self.params = {
            "W": (_as_rng(rng).standard_normal((D, M)) * std).astype(self.dtype),
            "b": np.zeros(M, dtype=self.dtype),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    @classmethod
    def param_shapes(cls, config: dict) -> dict[str, tuple[int, ...]]:
        args = _arguments(cls, config)
        D = _pair(args["in_features"], "in_features", 1)[0]
        M = _pair(args["out_features"], "out_features", 1)[0]
        return {"W": (D, M), "b": (M,)}

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "dtype": self.dtype.name}

    def describe(self) -> str:
        return f"Dense({self.in_features}->{self.out_features})"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        _check_input(self, x, lambda: f"(N, {self.in_features})", 2, self.in_features, self.dtype)
        self._cache = (x,)
        y = x @ self.params["W"]
        y += self.params["b"]
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        (x,) = self._cached()
        self._check_dy(dy, (x.shape[0], self.out_features))
        self.grads["W"] = x.T @ dy
        self.grads["b"] = dy.sum(axis=0)
        return dy @ self.params["W"].T if need_dx else None


class Dropout(Layer):
    """Inverted dropout: in training, y = x * mask / (1 - p) with mask ~ Bernoulli(1 - p);
    at inference y = x. The layer owns its Generator, whose state checkpoints save.

    Shapes: any -> same
    """

    def __init__(self, p: float = 0.5, seed: int | None = 0):
        super().__init__()
        if not (isinstance(p, (int, float)) and 0.0 <= p < 1.0):
            raise ValueError(f"Dropout p must be a float in [0, 1), got {p!r}")
        self.p = float(p)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def config(self) -> dict:
        return {"p": self.p, "seed": self.seed}

    def twin(self, training: bool = True) -> "Dropout":
        """The split hook (Layer.twin) for dropout: a training twin draws its masks from a
        generator seeded by this one, so this layer's generator state alone replays every piece
        of every batch (a checkpoint stores only that).
        An inference twin draws nothing, so predictions between training steps change no mask."""
        other = super().twin(training)
        if training:
            other.rng = np.random.default_rng(self.rng.integers(2**63))
        return other

    def describe(self) -> str:
        return f"Dropout(p={self.p:g})"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        _check_input(self, x, "(N, ...)", None)
        if not training or self.p == 0.0:
            self._cache = (None, x.shape)
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.p
        mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        self._cache = (mask, x.shape)
        return x * mask

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray:
        mask, x_shape = self._cached()
        self._check_dy(dy, x_shape)
        return dy if mask is None else dy * mask


class Normalize(Layer):
    """Standardise pixels inside the model: y = (x - mean) / std, so every caller feeds [0, 1].

    Shapes: any -> same
    """

    def __init__(self, mean: float = 0.1307, std: float = 0.3081):
        super().__init__()
        if not std > 0:
            raise ValueError(f"Normalize std must be > 0, got {std!r}")
        self.mean, self.std = float(mean), float(std)

    def config(self) -> dict:
        return {"mean": self.mean, "std": self.std}

    def describe(self) -> str:
        return f"Normalize(mean={self.mean:g}, std={self.std:g})"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        _check_input(self, x, "(N, ...)", None)
        self._cache = (x.shape,)
        t = x.dtype.type
        return (x - t(self.mean)) * t(1.0 / self.std)

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray:
        (x_shape,) = self._cached()
        self._check_dy(dy, x_shape)
        return dy * dy.dtype.type(1.0 / self.std)


class _BatchNorm(Layer):
    """Batch normalisation (Ioffe & Szegedy 2015), per channel c over every other axis:
    y = gamma[c] * (x - mean[c]) / sqrt(var[c] + eps) + beta[c].

    Training normalises with the batch's own mean and biased variance and moves the running
    statistics towards them: running = (1 - momentum) * running + momentum * batch, with the
    unbiased variance (M / (M - 1), M values per channel), as PyTorch does. Inference normalises
    with the running statistics. gamma and beta are parameters; running_mean and running_var are
    buffers. The math and the backward's derivation: reference.batchnorm_forward / _backward.

    A batch split into pieces on two threads (parallel.DataParallel, through twins) is normalised
    piece by piece: each piece with its own statistics ("ghost batch norm", Hoffer et al. 2017),
    the same as calling the layer on each piece in turn. The running statistics are updated once per batch
    from the pieces' statistics pooled (merge_twins), equal to an unsplit forward's update; twins
    never write them, so the threads cannot race.
    """

    ndim = 4
    expected = "(N, {C}, H, W)"

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5,
                 impl: str = "fast", dtype="float32"):
        super().__init__()
        self.num_features = _pair(num_features, "num_features", 1)[0]
        if not (isinstance(momentum, (int, float)) and 0.0 <= momentum <= 1.0):
            raise ValueError(f"momentum must be a float in [0, 1], got {momentum!r}")
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise ValueError(f"eps must be a float > 0, got {eps!r}")
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        self.momentum, self.eps, self.impl = float(momentum), float(eps), impl
        self.dtype = _check_dtype(dtype)
        C = self.num_features
        self.params = {"gamma": np.ones(C, dtype=self.dtype), "beta": np.zeros(C, dtype=self.dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {"running_mean": np.zeros(C, dtype=self.dtype),
                        "running_var": np.ones(C, dtype=self.dtype)}
        self._is_twin = False
        # frozen: normalise with the running statistics in training too and leave them as they
        # are (fine-tuning on batches unlike the data they came from: train --freeze-norm)
        self.frozen = False
        self._moments = None  # (M, mean, var) of the last training forward, for merge_twins
        self._before = None  # the running statistics before that forward's update

    @classmethod
    def param_shapes(cls, config: dict) -> dict[str, tuple[int, ...]]:
        C = _pair(_arguments(cls, config)["num_features"], "num_features", 1)[0]
        return {"gamma": (C,), "beta": (C,), "running_mean": (C,), "running_var": (C,)}

    def config(self) -> dict:
        return {"num_features": self.num_features, "momentum": self.momentum, "eps": self.eps,
                "impl": self.impl, "dtype": self.dtype.name}

    def describe(self) -> str:
        return f"{type(self).__name__}({self.num_features})"

    def twin(self, training: bool = True) -> "_BatchNorm":
        """A twin reads the running statistics (the same buffers dict) but never writes them: in
        training it only records its piece's statistics for merge_twins."""
        other = super().twin(training)
        other._is_twin, other._moments, other._before = True, None, None
        self._moments = self._before = None
        return other

    def merge_twins(self, twins: list[Layer]) -> None:
        """Replace this layer's own update by one from every piece's statistics pooled:
        mean = sum M_i mean_i / M, var = sum M_i (var_i + (mean_i - mean)^2) / M."""
        pieces = [m for m in [self._moments, *(t._moments for t in twins)] if m is not None]
        if not pieces:
            return  # an inference forward: nothing was updated
        if self._before is not None:
            self.buffers["running_mean"][...], self.buffers["running_var"][...] = self._before
        counts = np.array([p[0] for p in pieces], dtype=np.float64)[:, None]
        means = np.array([p[1] for p in pieces], dtype=np.float64)  # (pieces, C)
        variances = np.array([p[2] for p in pieces], dtype=np.float64)
        M = counts.sum()
        mean = (counts * means).sum(axis=0) / M
        var = (counts * (variances + (means - mean) ** 2)).sum(axis=0) / M
        self._update_running(int(M), mean, var)
        self._moments = self._before = None

    def _update_running(self, M: int, mean, var) -> None:
        m = self.momentum
        rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
        rm[...] = (1 - m) * rm + m * mean
        rv[...] = (1 - m) * rv + m * var * (M / (M - 1))  # the unbiased variance, as PyTorch

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        C = self.num_features
        _check_input(self, x, lambda: self.expected.format(C=C), self.ndim, C, self.dtype)
        ops = fast if self.impl == "fast" else reference
        gamma, beta = self.params["gamma"], self.params["beta"]
        training = training and not self.frozen
        if training:
            M = x.size // C
            if M < 2:
                raise ValueError(f"{type(self).__name__} in training needs more than one value "
                                 f"per channel, got input of shape {x.shape}")
            mean, var = ops.batch_moments(x)
            self._moments = (M, mean, var)
            if not self._is_twin:
                self._before = (self.buffers["running_mean"].copy(),
                                self.buffers["running_var"].copy())
                self._update_running(M, mean, var)
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        y, cache = ops.batchnorm_forward(x, gamma, beta, mean, var, self.eps, training)
        self._cache = (x.shape, cache)
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray:
        x_shape, cache = self._cached()
        self._check_dy(dy, x_shape)
        ops = fast if self.impl == "fast" else reference
        dx, self.grads["gamma"], self.grads["beta"] = ops.batchnorm_backward(dy, cache)
        return dx


class BatchNorm2D(_BatchNorm):
    """Batch norm per channel over N, H and W (after a convolution).

    Shapes: x (N, C, H, W) -> y (N, C, H, W); gamma, beta, running_mean, running_var (C,)
    """


class BatchNorm1D(_BatchNorm):
    """Batch norm per feature over N (after a Dense layer).

    Shapes: x (N, C) -> y (N, C); gamma, beta, running_mean, running_var (C,)
    """

    ndim = 2
    expected = "(N, {C})"


LAYERS = {cls.__name__: cls for cls in (Conv2D, MaxPool2D, ReLU, Flatten, Dense, Dropout, Normalize,
                                        BatchNorm2D, BatchNorm1D)}
