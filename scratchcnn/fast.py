"""The fast versions of reference.py's convolution, pooling and batch-norm ops: same names and
signatures.

Read the two files side by side (as CS231n's layers.py beside fast_layers.py): each function
here returns what its namesake there returns, and tests/test_fast.py checks that they agree.
What differs is how the work is done:

- Convolution is one matrix product. With x_cols = im2col(x) of shape (C*KH*KW, N*OH*OW) (the
  layout is defined in kernels.py) and W_mat = W.reshape(F, -1):
      y[n] = W_mat @ x_cols[:, block n] + b,
  and backward, with dY = dy laid out like x_cols, (F, N*OH*OW):
      dW = dY @ x_cols.T,   db = sum of dY over its columns,   dx = col2im(W_mat.T @ dY).
  The products run on BLAS (NumPy's matmul); im2col and col2im are Numba kernels.
- Max-pooling records where each window's maximum was (when training) so backward only routes
  dy there; a 2x2 window moved by 2 has a kernel of its own.
- Batch norm runs per channel in Numba loops over an (N, C, P) view, summing in float64; the
  backward recomputes x_hat from x instead of keeping it.

Everything in this file exists to be fast: the choices between equivalent orders of the same
products are special cases with one comment each, measured by `scratchcnn bench`.
"""

import numpy as np

from . import kernels
from .reference import output_size


def conv_forward(x, W, b, stride, pad):
    """y = W_mat @ im2col(x) + b, put in NCHW order; the cache is what backward reads.

    Shapes: x (N, C, H, W), W (F, C, KH, KW), b (F,) -> y (N, F, OH, OW),
    OH = (H + 2*PH - KH) // SH + 1, OW = (W + 2*PW - KW) // SW + 1
    """
    (SH, SW), (PH, PW) = stride, pad
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    OH, OW = output_size(H, KH, SH, PH), output_size(Wd, KW, SW, PW)
    P, K = OH * OW, C * KH * KW
    x = np.ascontiguousarray(x)
    W_mat = W.reshape(F, K)
    x_cols = kernels.im2col(x, KH, KW, SH, SW, PH, PW, OH, OW)  # (K, N*P)
    # Small windows (a first layer's K = 9): one product per image, y[n] = W_mat @ block n, each
    # block read in place and landing straight in NCHW. Large ones (a second layer's 288): one
    # product for the batch, (N*P, F), which BLAS runs faster than N small ones even after the
    # reorder to (N, F, P) that transpose_add_bias does as it adds the bias.
    if K < 128:
        y = kernels.add_bias(np.matmul(W_mat, x_cols.reshape(K, N, P).transpose(1, 0, 2)), b)
    else:
        y = kernels.transpose_add_bias((x_cols.T @ W_mat.T).reshape(N, P, F), b)
    return y.reshape(N, F, OH, OW), (x.shape, x_cols, W, stride, pad)


def conv_backward(dy, cache, need_dx=True):
    """dW = dY @ x_cols.T, db = sum of dY, dx = col2im(W_mat.T @ dY); dx is skipped (None)
    when need_dx is False, as for a network's first layer.

    Shapes: dy (N, F, OH, OW), cache from conv_forward -> dx (N, C, H, W) or None,
    dW (F, C, KH, KW), db (F,)
    """
    (N, C, H, Wd), x_cols, W, (SH, SW), (PH, PW) = cache
    F, _, KH, KW = W.shape
    OH, OW = dy.shape[2:]
    P, K = OH * OW, C * KH * KW
    dy3 = dy.reshape(N, F, P)
    W_mat = W.reshape(F, K)
    db = dy3.sum(axis=0).sum(axis=1)  # two one-axis sums: faster than one over axes (0, 2)
    if K < 128:  # per image, as in forward: dW = sum_n dy[n] @ block_n.T
        blocks = x_cols.reshape(K, N, P).transpose(1, 0, 2)  # (N, K, P)
        dW = np.matmul(dy3, blocks.transpose(0, 2, 1)).sum(axis=0).reshape(W.shape)
        if not need_dx:
            return None, dW, db
        dx_cols = np.empty_like(x_cols)
        np.matmul(W_mat.T, dy3, out=dx_cols.reshape(K, N, P).transpose(1, 0, 2))
    else:
        dY = np.ascontiguousarray(dy3.transpose(1, 0, 2)).reshape(F, N * P)  # like x_cols
        dW = (x_cols @ dY.T).T.reshape(W.shape)  # (K, F) then transposed: BLAS's fastest orientation
        if not need_dx:
            return None, dW, db
        dx_cols = W_mat.T @ dY  # (K, N*P)
    dx = kernels.col2im(dx_cols, N, C, H, Wd, KH, KW, SH, SW, PH, PW, OH, OW)
    return dx, dW, db


def _pool(x, kernel, stride, record: bool):
    """(y, argmax) from the pooling kernel; argmax is empty unless `record`."""
    (KH, KW), (SH, SW) = kernel, stride
    OH, OW = output_size(x.shape[2], KH, SH, 0), output_size(x.shape[3], KW, SW, 0)
    if (KH, KW, SH, SW) == (2, 2, 2, 2):  # the common window, written out: no loop over offsets
        return kernels.maxpool2x2_forward(x, OH, OW, record)
    return kernels.maxpool_forward(x, KH, KW, SH, SW, OH, OW, record)


def maxpool_forward(x, kernel, stride, training=False):
    """y[n, c, oh, ow] = max of the window starting at (oh*SH, ow*SW).

    Training records each maximum's position (what backward needs); inference keeps x instead
    (no copy), and a backward that follows anyway (a gradient check) finds the maxima again.
    Shapes: x (N, C, H, W) -> y (N, C, OH, OW), OH = (H - KH) // SH + 1, OW = (W - KW) // SW + 1
    """
    x = np.ascontiguousarray(x)
    y, argmax = _pool(x, kernel, stride, record=training)
    return y, (x.shape, kernel, stride, argmax if training else None, None if training else x)


def maxpool_backward(dy, cache):
    """Each window's gradient goes to its first maximum (row-major order); overlaps add up.

    Shapes: dy (N, C, OH, OW), cache from maxpool_forward -> dx (N, C, H, W)
    """
    x_shape, kernel, stride, argmax, x = cache
    if argmax is None:
        argmax = _pool(x, kernel, stride, record=True)[1]
    return kernels.maxpool_backward(np.ascontiguousarray(dy), argmax, *x_shape[2:])


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
