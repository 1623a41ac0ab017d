"""Gradient checking: compare hand-written backward passes with central differences.

For a layer, the scalar being differentiated is L = sum(y * g) with a fixed random upstream
gradient g, so backward(g) must return dL/dx (after CS231n's eval_numerical_gradient_array).
For a whole model, L is the softmax cross-entropy of its logits. Every check runs on float64
copies: with h = 1e-6 a float32 difference would drown in rounding error (float32 keeps only
about 7 significant digits, and (f(x+h) - f(x-h)) cancels most of them).
"""

import copy

import numpy as np

from .losses import softmax_cross_entropy


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(max |a|, max |b|): one number per array, robust to exact zeros."""
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return float(np.max(np.abs(a - b), initial=0.0)) / max(scale, 1e-12)


def numerical_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """df/dx[i] ~ (f(x + h e_i) - f(x - h e_i)) / 2h for every element, perturbing x in place."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        f_plus = f()
        x[idx] = old - h
        f_minus = f()
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def _frozen_randomness(layers):
    """Return a function that rewinds every layer's Generator, so each forward draws the same
    dropout mask and the loss is a deterministic function of the inputs."""
    states = [copy.deepcopy(layer.rng.bit_generator.state) for layer in layers if hasattr(layer, "rng")]
    gens = [layer.rng for layer in layers if hasattr(layer, "rng")]

    def rewind():
        for gen, state in zip(gens, states):
            gen.bit_generator.state = copy.deepcopy(state)

    return rewind


def _both(loss, backward, inputs: dict[str, np.ndarray], h: float):
    analytic = backward()
    numeric = {name: numerical_gradient(loss, arr, h) for name, arr in inputs.items()}
    return analytic, numeric


def layer_gradients(layer, x: np.ndarray, h: float = 1e-6, training: bool = False, seed: int = 0):
    """(analytic, numeric) gradient dicts with keys "x" and each parameter, on float64 copies."""
    layer = copy.deepcopy(layer).astype(np.float64)
    x = np.array(x, dtype=np.float64)
    rewind = _frozen_randomness([layer])
    rewind()
    g = np.random.default_rng(seed).standard_normal(layer.forward(x, training).shape)

    def loss():
        rewind()
        return float(np.sum(layer.forward(x, training) * g))

    def backward():
        loss()
        return {"x": layer.backward(g), **{k: v.copy() for k, v in layer.grads.items()}}

    return _both(loss, backward, {"x": x, **layer.params}, h)


def model_gradients(model, x: np.ndarray, labels: np.ndarray, h: float = 1e-6,
                    training: bool = False):
    """(analytic, numeric) gradients of the mean cross-entropy for "x" and every parameter."""
    model = copy.deepcopy(model).astype(np.float64)
    x = np.array(x, dtype=np.float64)
    rewind = _frozen_randomness(model.layers)

    def loss():
        rewind()
        return softmax_cross_entropy(model.forward(x, training), labels)[0]

    def backward():
        rewind()
        _, dlogits = softmax_cross_entropy(model.forward(x, training), labels)
        dx = model.backward(dlogits)
        return {"x": dx, **{name: grad.copy() for name, _, grad in model.parameters()}}

    params = {name: p for name, p, _ in model.parameters()}
    return _both(loss, backward, {"x": x, **params}, h)


def _errors(analytic, numeric) -> dict[str, float]:
    return {name: relative_error(analytic[name], numeric[name]) for name in numeric}


def check_layer(layer, x: np.ndarray, h: float = 1e-6, training: bool = False) -> dict[str, float]:
    """Max relative error of dL/dx and of every parameter gradient; max(result.values()) sums it up."""
    return _errors(*layer_gradients(layer, x, h, training))


def check_model(model, x: np.ndarray, labels: np.ndarray, h: float = 1e-6,
                training: bool = False) -> dict[str, float]:
    """Like check_layer, for a whole model through softmax cross-entropy."""
    return _errors(*model_gradients(model, x, labels, h, training))


def demo_cases(seed: int = 0) -> list[tuple[str, object, np.ndarray, bool]]:
    """One small (label, layer, x, training) case per layer and implementation, with inputs kept
    away from kinks: ReLU inputs at least 0.1 from zero, max-pool windows without near-ties."""
    from .layers import BatchNorm1D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Normalize, ReLU

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2, 7, 7))
    distinct = rng.permutation(2 * 2 * 7 * 7).reshape(2, 2, 7, 7) * 0.1  # gaps of 0.1 >> h
    away = np.sign(x) * (0.1 + np.abs(x))
    # batch norm gets its own input: with x itself (the numbers the upstream gradient is drawn
    # from, seed for seed), dL/dx would be about 0, as x_hat is nearly proportional to x
    shifted = rng.standard_normal((2, 2, 7, 7)) * 1.5 + 0.5
    cases = []
    for impl in ("naive", "fast"):
        cases.append((f"Conv2D 3x3 s2 p1 [{impl}]", Conv2D(2, 3, 3, 2, 1, impl, rng=rng), x, False))
        cases.append((f"MaxPool2D 3 s2 [{impl}]", MaxPool2D(3, 2, impl), distinct, False))
        for training in (True, False):
            mode = "training" if training else "inference"
            cases.append((f"BatchNorm2D {mode} [{impl}]", BatchNorm2D(2, impl=impl), shifted,
                          training))
            cases.append((f"BatchNorm1D {mode} [{impl}]", BatchNorm1D(14, impl=impl),
                          shifted.reshape(4, 49)[:, :14], training))
    cases += [
        ("ReLU", ReLU(), away, False),
        ("Flatten", Flatten(), x, False),
        ("Dense 98->5", Dense(98, 5, rng=rng), x.reshape(2, -1), False),
        ("Dropout p=0.5 (training)", Dropout(0.5, seed=seed), x, True),
        ("Normalize", Normalize(), x, False),
    ]
    return cases


def demo_model(seed: int = 0, impl: str = "fast"):
    """A tiny whole network (every layer type) with a 2-image batch, for check_model."""
    from .layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, Normalize, ReLU
    from .model import Sequential

    rng = np.random.default_rng(seed)
    model = Sequential([
        Normalize(), Conv2D(1, 2, 3, padding=1, impl=impl, rng=rng), ReLU(),
        MaxPool2D(2, impl=impl), Flatten(), Dense(18, 6, rng=rng), ReLU(), Dropout(0.25, seed),
        Dense(6, 3, rng=rng),
    ], input_shape=(1, 6, 6))
    x = rng.random((2, 1, 6, 6))
    return model, x, np.array([0, 2])


def fast_vs_naive(layer, x: np.ndarray, seed: int = 0, training: bool = False) -> dict[str, float]:
    """Relative differences between a layer's fast and naive paths: y, dx and every gradient."""
    fast, naive = copy.deepcopy(layer), copy.deepcopy(layer)
    fast.impl, naive.impl = "fast", "naive"
    y_fast, y_naive = fast.forward(x, training), naive.forward(x, training)
    dy = np.random.default_rng(seed).standard_normal(y_fast.shape).astype(x.dtype)
    out = {"y": relative_error(y_fast, y_naive), "x": relative_error(fast.backward(dy), naive.backward(dy))}
    return out | {k: relative_error(fast.grads[k], naive.grads[k]) for k in fast.grads}
