"""Numba kernels for the fast path: im2col / col2im and max-pooling.

The im2col layout, defined here once for the whole package:

    x_cols[(n * OH + oh) * OW + ow, (c * KH + kh) * KW + kw] = x_pad[n, c, oh*SH + kh, ow*SW + kw]

Rows are ordered (n, oh, ow) and columns (c, kh, kw), so a conv weight of shape (F, C, KH, KW)
flattens straight onto the columns: y_rows = x_cols @ W.reshape(F, -1).T has shape (N*OH*OW, F).
Zero padding is fused into the index test, so no padded copy of x is ever made.

Every loop nest mirrors the matching function in reference.py. The kernels run serially: on the
shared 2-core machine, Numba's parallel loops (OpenMP layer, 2 threads) made a training step 2-5x
slower than serial ones (threads spin and wait on each other and on BLAS); `scratchcnn bench`
measures it. A `prange` over the batch would be race-free (each image writes its own slice),
even in col2im where overlapping windows add into the same input pixel of one image. They are
`nogil` instead, so Conv2D runs the two halves of a batch on two Python threads (layers._halves).
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def im2col(x, KH, KW, SH, SW, PH, PW, OH, OW):
    """Unfold every receptive field of x into one row; out-of-bounds (padding) reads are 0.

    Shapes: x (N, C, H, W) -> x_cols (N*OH*OW, C*KH*KW)
    """
    N, C, H, W = x.shape
    x_cols = np.empty((N * OH * OW, C * KH * KW), dtype=x.dtype)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                row = (n * OH + oh) * OW + ow
                for c in range(C):
                    for kh in range(KH):
                        ih = oh * SH - PH + kh
                        for kw in range(KW):
                            iw = ow * SW - PW + kw
                            col = (c * KH + kh) * KW + kw
                            if 0 <= ih < H and 0 <= iw < W:
                                x_cols[row, col] = x[n, c, ih, iw]
                            else:
                                x_cols[row, col] = 0
    return x_cols


@njit(cache=True, nogil=True)
def col2im(dx_cols, N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW):
    """Adjoint of im2col: add every row's entries back onto the pixels they were read from.

    Shapes: dx_cols (N*OH*OW, C*KH*KW) -> dx (N, C, H, W)
    """
    dx = np.zeros((N, C, H, W), dtype=dx_cols.dtype)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                row = (n * OH + oh) * OW + ow
                for c in range(C):
                    for kh in range(KH):
                        ih = oh * SH - PH + kh
                        if ih < 0 or ih >= H:
                            continue
                        for kw in range(KW):
                            iw = ow * SW - PW + kw
                            if 0 <= iw < W:
                                dx[n, c, ih, iw] += dx_cols[row, (c * KH + kh) * KW + kw]
    return dx


@njit(cache=True, nogil=True)
def relu_forward(x):
    """y = x where x > 0, else 0, in one pass (np.where builds a mask and a broadcast 0 first).

    Shapes: x (any, C-contiguous) -> y (same)
    """
    x_flat = x.reshape(-1)
    y = np.empty_like(x_flat)
    for i in range(x_flat.size):
        v = x_flat[i]
        y[i] = v if v > 0 else 0
    return y.reshape(x.shape)


@njit(cache=True, nogil=True)
def relu_backward(dy, x):
    """dx = dy where x > 0, else 0, reading the cached input instead of a stored mask.

    Shapes: dy, x (any, same, C-contiguous) -> dx (same)
    """
    x_flat, dy_flat = x.reshape(-1), dy.reshape(-1)
    dx = np.empty_like(dy_flat)
    for i in range(x_flat.size):
        dx[i] = dy_flat[i] if x_flat[i] > 0 else 0
    return dx.reshape(dy.shape)


@njit(cache=True, nogil=True)
def maxpool_forward(x, KH, KW, SH, SW, OH, OW):
    """Max over each window; also return where it was, as a flat index into the (H, W) plane.

    Ties go to the first maximum in row-major window order (strict `>`).
    Shapes: x (N, C, H, W) -> y (N, C, OH, OW), argmax (N, C, OH, OW) int64
    """
    N, C, H, W = x.shape
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = np.empty((N, C, OH, OW), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    h0 = oh * SH
                    w0 = ow * SW
                    best = x[n, c, h0, w0]
                    best_idx = h0 * W + w0
                    for kh in range(KH):
                        for kw in range(KW):
                            v = x[n, c, h0 + kh, w0 + kw]
                            if v > best:
                                best = v
                                best_idx = (h0 + kh) * W + (w0 + kw)
                    y[n, c, oh, ow] = best
                    argmax[n, c, oh, ow] = best_idx
    return y, argmax


@njit(cache=True, nogil=True)
def maxpool_backward(dy, argmax, H, W):
    """Send each output gradient to the input pixel that won its window (overlaps add up).

    Shapes: dy (N, C, OH, OW), argmax (N, C, OH, OW) -> dx (N, C, H, W)
    """
    N, C, OH, OW = dy.shape
    dx = np.zeros((N, C, H, W), dtype=dy.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    idx = argmax[n, c, oh, ow]
                    dx[n, c, idx // W, idx % W] += dy[n, c, oh, ow]
    return dx


@njit(cache=True)
def warp_bilinear(x, src_y, src_x):
    """Resample every image at its own source points, bilinearly, reading 0 outside the image.

    y[n, c, oh, ow] = sum over the 4 pixels (ih, iw) around (src_y, src_x)[n, oh, ow] of
    (1 - |src_y - ih|) * (1 - |src_x - iw|) * x[n, c, ih, iw]. Used by data.augment.
    Shapes: x (N, C, H, W), src_y and src_x (N, OH, OW) -> y (N, C, OH, OW)
    """
    N, C, H, W = x.shape
    OH, OW = src_y.shape[1], src_y.shape[2]
    y = np.zeros((N, C, OH, OW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    sy = src_y[n, oh, ow]
                    sx = src_x[n, oh, ow]
                    ih0 = int(np.floor(sy))
                    iw0 = int(np.floor(sx))
                    fy = sy - ih0
                    fx = sx - iw0
                    acc = y[n, c, oh, ow]
                    for dh in range(2):
                        ih = ih0 + dh
                        if ih < 0 or ih >= H:
                            continue
                        wy = fy if dh == 1 else 1 - fy
                        for dw in range(2):
                            iw = iw0 + dw
                            if 0 <= iw < W:
                                wx = fx if dw == 1 else 1 - fx
                                acc += wy * wx * x[n, c, ih, iw]
                    y[n, c, oh, ow] = acc
    return y
