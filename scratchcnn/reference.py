"""The executable spec: every convolution and pooling op as plain loops over NumPy arrays.

Read these beside the math; speed does not matter here. fast.py holds the same functions with
the same signatures (im2col + BLAS + the Numba kernels of kernels.py) and is tested against
these, never the other way round. As in CS231n's conv_forward_naive / conv_backward_naive and
max_pool_*_naive, each forward returns (y, cache) and its backward takes (dy, cache); stride and
zero padding are given separately for height and width.

Conventions pinned here:
- convolution is cross-correlation (no kernel flip):
  y[n, f, i, j] = b[f] + sum_{c,kh,kw} x_pad[n, c, i*SH+kh, j*SW+kw] * W[f, c, kh, kw]
- padding is symmetric zero padding of PH rows top and bottom, PW columns left and right
- the output size is floor((H + 2*PH - KH) / SH) + 1 (`output_size`, used by every path)
- max-pool ties send the gradient to the first maximum in row-major window order
- batch norm normalises over every axis but the channel axis 1, with the biased variance
"""

import numpy as np


def output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Floor output length of a sliding window: (size + 2*pad - kernel) // stride + 1."""
    return (size + 2 * pad - kernel) // stride + 1


def pad2d(x: np.ndarray, PH: int, PW: int) -> np.ndarray:
    """Zero-pad the last two axes. Shapes: (N, C, H, W) -> (N, C, H+2*PH, W+2*PW)"""
    return np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))


def im2col(x, KH, KW, SH, SW, PH, PW, OH, OW):
    """Unfold receptive fields into columns (n, oh, ow), one row per (c, kh, kw); see kernels.py.

    Shapes: x (N, C, H, W) -> x_cols (C*KH*KW, N*OH*OW)
    """
    N, C, H, W = x.shape
    x_pad = pad2d(x, PH, PW)
    x_cols = np.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                window = x_pad[n, :, oh * SH : oh * SH + KH, ow * SW : ow * SW + KW]
                x_cols[:, (n * OH + oh) * OW + ow] = window.reshape(-1)  # (C*KH*KW,)
    return x_cols


def col2im(dx_cols, N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW):
    """Adjoint of im2col: add each column back onto its window, then strip the padding.

    Shapes: dx_cols (C*KH*KW, N*OH*OW) -> dx (N, C, H, W)
    """
    dx_pad = np.zeros((N, C, H + 2 * PH, W + 2 * PW), dtype=dx_cols.dtype)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                window = dx_cols[:, (n * OH + oh) * OW + ow].reshape(C, KH, KW)
                dx_pad[n, :, oh * SH : oh * SH + KH, ow * SW : ow * SW + KW] += window
    return dx_pad[:, :, PH : PH + H, PW : PW + W]


def conv_forward(x, W, b, stride, pad):
    """y[n, f, oh, ow] = b[f] + sum(x_pad[n, :, window] * W[f]); the cache is what backward reads.

    Shapes: x (N, C, H, W), W (F, C, KH, KW), b (F,) -> y (N, F, OH, OW),
    OH = (H + 2*PH - KH) // SH + 1, OW = (W + 2*PW - KW) // SW + 1
    """
    (SH, SW), (PH, PW) = stride, pad
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    OH, OW = output_size(H, KH, SH, PH), output_size(Wd, KW, SW, PW)
    x_pad = pad2d(x, PH, PW)
    y = np.empty((N, F, OH, OW), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for oh in range(OH):
                for ow in range(OW):
                    window = x_pad[n, :, oh * SH : oh * SH + KH, ow * SW : ow * SW + KW]
                    y[n, f, oh, ow] = b[f] + np.sum(window * W[f])
    return y, (x, W, stride, pad)


def conv_backward(dy, cache, need_dx=True):
    """Each output y[n, f, oh, ow] touched one window, so its gradient flows back to it:
    dW[f] += dy * window, dx_pad[window] += dy * W[f], db[f] += dy.

    need_dx=False returns None for dx (the loops compute it anyway; fast.py skips it).
    Shapes: dy (N, F, OH, OW), cache from conv_forward -> dx (N, C, H, W) or None,
    dW (F, C, KH, KW), db (F,)
    """
    x, W, (SH, SW), (PH, PW) = cache
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    _, _, OH, OW = dy.shape
    x_pad = pad2d(x, PH, PW)
    dx_pad = np.zeros_like(x_pad)
    dW = np.zeros_like(W)
    db = np.zeros_like(W, shape=(F,))
    for n in range(N):
        for f in range(F):
            for oh in range(OH):
                for ow in range(OW):
                    hs, ws = oh * SH, ow * SW
                    g = dy[n, f, oh, ow]
                    dW[f] += g * x_pad[n, :, hs : hs + KH, ws : ws + KW]
                    dx_pad[n, :, hs : hs + KH, ws : ws + KW] += g * W[f]
                    db[f] += g
    dx = dx_pad[:, :, PH : PH + H, PW : PW + Wd]
    return (dx if need_dx else None), dW, db


def maxpool_forward(x, kernel, stride, training=False):
    """y[n, c, oh, ow] = max of the window starting at (oh*SH, ow*SW); the cache keeps x.

    `training` is accepted for fast.py's signature and ignored: backward finds the maxima again
    in x (fast.py records where they were when training).
    Shapes: x (N, C, H, W) -> y (N, C, OH, OW), OH = (H - KH) // SH + 1, OW = (W - KW) // SW + 1
    """
    (KH, KW), (SH, SW) = kernel, stride
    N, C, H, W = x.shape
    OH, OW = output_size(H, KH, SH, 0), output_size(W, KW, SW, 0)
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    y[n, c, oh, ow] = x[n, c, oh * SH : oh * SH + KH, ow * SW : ow * SW + KW].max()
    return y, (x, kernel, stride)


def maxpool_backward(dy, cache):
    """Only the window's maximum moved the output, so it alone receives dy.
    np.argmax returns the first maximum in row-major order, which settles ties.

    Shapes: dy (N, C, OH, OW), cache from maxpool_forward -> dx (N, C, H, W)
    """
    x, (KH, KW), (SH, SW) = cache
    N, C, OH, OW = dy.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    window = x[n, c, oh * SH : oh * SH + KH, ow * SW : ow * SW + KW]
                    kh, kw = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, oh * SH + kh, ow * SW + kw] += dy[n, c, oh, ow]
    return dx


def batch_moments(x):
    """Per-channel mean and biased variance over every axis but axis 1 (N; or N, H, W).

    mean[c] = sum(x[:, c]) / M, var[c] = sum((x[:, c] - mean[c])**2) / M, M = x.size / C
    Shapes: x (N, C) or (N, C, H, W) -> mean (C,), var (C,)
    """
    C = x.shape[1]
    mean = np.empty(C, dtype=x.dtype)
    var = np.empty(C, dtype=x.dtype)
    for c in range(C):
        xc = x[:, c]  # (N,) or (N, H, W): every value of channel c
        mean[c] = np.sum(xc) / xc.size
        var[c] = np.sum((xc - mean[c]) ** 2) / xc.size
    return mean, var


def batchnorm_forward(x, gamma, beta, mean, var, eps, training):
    """y = gamma * x_hat + beta with x_hat = (x - mean) / sqrt(var + eps), per channel c.

    training=True: mean and var are this batch's own moments (batch_moments(x)), so they depend
    on x and the backward differentiates through them; training=False: they are fixed numbers
    (the running statistics), and the layer is an affine map per channel.
    Shapes: x (N, C) or (N, C, H, W), gamma, beta, mean, var (C,) -> y like x
    """
    x_hat = np.empty_like(x)
    y = np.empty_like(x)
    inv_std = np.empty_like(gamma)
    for c in range(x.shape[1]):
        inv_std[c] = 1 / np.sqrt(var[c] + eps)
        x_hat[:, c] = (x[:, c] - mean[c]) * inv_std[c]
        y[:, c] = gamma[c] * x_hat[:, c] + beta[c]
    return y, (x_hat, gamma, inv_std, training)


def batchnorm_backward(dy, cache):
    """dx, dgamma, dbeta of y = gamma * x_hat + beta, x_hat = (x - mu) * s, s = (var + eps)^-1/2.

    Per channel, with M values x_i and sums over them:
      dbeta = sum dy_i,  dgamma = sum dy_i * x_hat_i,  dx_hat_i = gamma * dy_i.
    Inference (mu, var fixed): dx_i = gamma * s * dy_i.
    Training (mu = sum x_j / M, var = sum (x_j - mu)^2 / M depend on every x_j):
      dx_hat_i/dx_j = s * (delta_ij - 1/M) - s * x_hat_i * x_hat_j / M, because
      dmu/dx_j = 1/M and ds/dx_j = -s^3 (x_j - mu) / M = -s^2 x_hat_j / M (the mean term of
      dvar/dx_j vanishes as sum (x_i - mu) = 0). Summing dx_hat_i over i:
      dx_j = s / M * (M * dx_hat_j - sum_i dx_hat_i - x_hat_j * sum_i dx_hat_i * x_hat_i)
           = gamma * s / M * (M * dy_j - dbeta - x_hat_j * dgamma).
    Shapes: dy like x -> dx like x, dgamma (C,), dbeta (C,)
    """
    x_hat, gamma, inv_std, training = cache
    dx = np.empty_like(dy)
    dgamma = np.empty_like(gamma)
    dbeta = np.empty_like(gamma)
    for c in range(dy.shape[1]):
        dyc, xc = dy[:, c], x_hat[:, c]  # every value of channel c
        M = dyc.size
        dbeta[c] = np.sum(dyc)
        dgamma[c] = np.sum(dyc * xc)
        if training:
            dx[:, c] = gamma[c] * inv_std[c] / M * (M * dyc - dbeta[c] - xc * dgamma[c])
        else:
            dx[:, c] = gamma[c] * inv_std[c] * dyc
    return dx, dgamma, dbeta
