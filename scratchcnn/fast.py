"""The fast ops, with the signatures of their namesakes in reference.py: Numba kernels + BLAS.

A layer picks `ops = fast if impl == "fast" else reference` and calls the same function names;
tests hold every function here to its reference twin.
"""

import numpy as np

from . import kernels


def _as_npc(a: np.ndarray) -> np.ndarray:
    """(N, C) or (N, C, H, W) viewed as (N, C, P), C-contiguous, P = 1 or H*W."""
    return np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def batch_moments(x):
    """Per-channel mean and biased variance over every axis but axis 1 (kernels.batch_moments).

    Shapes: x (N, C) or (N, C, H, W) -> mean (C,), var (C,)
    """
    return kernels.batch_moments(_as_npc(x))


def batchnorm_forward(x, gamma, beta, mean, var, eps, training):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta; see reference.batchnorm_forward.

    The cache keeps x itself (no copy) instead of x_hat: the backward recomputes x_hat.
    Shapes: x (N, C) or (N, C, H, W), gamma, beta, mean, var (C,) -> y like x
    """
    x3 = _as_npc(x)  # (N, C, P)
    inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype)
    y = kernels.batchnorm_forward(x3, gamma, beta, mean, inv_std)
    return y.reshape(x.shape), (x3, gamma, mean, inv_std, training)


def batchnorm_backward(dy, cache):
    """dx, dgamma, dbeta; the derivation is in reference.batchnorm_backward.

    Shapes: dy like x -> dx like x, dgamma (C,), dbeta (C,)
    """
    x3, gamma, mean, inv_std, training = cache
    dx, dgamma, dbeta = kernels.batchnorm_backward(_as_npc(dy), x3, gamma, mean, inv_std, training)
    return dx.reshape(dy.shape), dgamma, dbeta
