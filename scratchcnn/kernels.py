"""Numba kernels for the fast path (fast.py): im2col / col2im, max-pooling, batch norm, and
speed helpers.

The im2col layout, defined here once for the whole package: one column per receptive field,

    x_cols[(c * KH + kh) * KW + kw, (n * OH + oh) * OW + ow] = x_pad[n, c, oh*SH + kh, ow*SW + kw]

Rows are ordered (c, kh, kw), so a conv weight of shape (F, C, KH, KW) flattens straight onto
them, and columns (n, oh, ow), so image n's block x_cols[:, n*OH*OW:(n+1)*OH*OW] times
W.reshape(F, -1) is y[n] in NCHW order: y[n] = W_mat @ x_cols[:, block n], with BLAS reading
each block where it lies (fast.conv_forward says when one product for the whole batch is used).
Zero padding is fused into the loops (`_inside` finds the in-bounds range once per row), so no
padded copy of x is ever made.

Each kernel either makes the same assignments as its namesake in reference.py (im2col, col2im,
maxpool_forward, maxpool_backward), with the loops in the output's memory order so the innermost
loop runs over contiguous memory, or says in its docstring that it is a speed helper with no
twin in reference.py (its math is then written in the docstring). Two habits make them fast:
- Array indices computed from a subtraction are cast to unsigned (`_u`) once the bounds are
  settled: for a signed index Numba adds a negative-index wraparound test to every access.
- The kernels run serially and release the GIL (`nogil`): parallel.DataParallel runs the pieces
  of a batch through the whole network on two Python threads. Numba's own parallel loops would
  compete with those threads and with BLAS for the same two cores.
"""

import numpy as np
from numba import njit, uint64


@njit(cache=True, nogil=True, inline="always")
def _u(i):
    """An index known to be >= 0, as unsigned: Numba then skips its wraparound test."""
    return uint64(i)


@njit(cache=True, nogil=True)
def _inside(offset, stride, size, count):
    """The range lo..hi-1 of i in 0..count-1 with 0 <= i*stride + offset < size (lo == hi: none)."""
    lo = 0 if offset >= 0 else min(count, (-offset + stride - 1) // stride)
    hi = 0 if offset >= size else min(count, (size - 1 - offset) // stride + 1)
    return lo, max(lo, hi)


@njit(cache=True, nogil=True)
def im2col(x, KH, KW, SH, SW, PH, PW, OH, OW):
    """Unfold every receptive field of x into one column; padding reads as 0.

    Shapes: x (N, C, H, W) -> x_cols (C*KH*KW, N*OH*OW)
    """
    N, C, H, W = x.shape
    x_cols = np.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    for c in range(C):
        for kh in range(KH):
            oh_lo, oh_hi = _inside(kh - PH, SH, H, OH)  # window rows inside the image
            for kw in range(KW):
                ow_lo, ow_hi = _inside(kw - PW, SW, W, OW)
                row = _u((c * KH + kh) * KW + kw)
                for n in range(N):
                    for oh in range(OH):
                        col = (n * OH + oh) * OW
                        if oh < oh_lo or oh >= oh_hi:
                            for ow in range(OW):
                                x_cols[row, _u(col + ow)] = 0
                            continue
                        ih = _u(oh * SH + kh - PH)
                        for ow in range(ow_lo):
                            x_cols[row, _u(col + ow)] = 0
                        for ow in range(ow_lo, ow_hi):
                            x_cols[row, _u(col + ow)] = x[n, c, ih, _u(ow * SW + kw - PW)]
                        for ow in range(ow_hi, OW):
                            x_cols[row, _u(col + ow)] = 0
    return x_cols


@njit(cache=True, nogil=True)
def col2im(dx_cols, N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW):
    """Adjoint of im2col: add every column's entries back onto the pixels they were read from.

    Shapes: dx_cols (C*KH*KW, N*OH*OW) -> dx (N, C, H, W)
    """
    dx = np.zeros((N, C, H, W), dtype=dx_cols.dtype)
    for n in range(N):
        for c in range(C):
            for kh in range(KH):
                oh_lo, oh_hi = _inside(kh - PH, SH, H, OH)
                for kw in range(KW):
                    ow_lo, ow_hi = _inside(kw - PW, SW, W, OW)
                    row = _u((c * KH + kh) * KW + kw)
                    for oh in range(oh_lo, oh_hi):
                        col = (n * OH + oh) * OW
                        ih = _u(oh * SH + kh - PH)
                        for ow in range(ow_lo, ow_hi):
                            dx[n, c, ih, _u(ow * SW + kw - PW)] += dx_cols[row, _u(col + ow)]
    return dx


@njit(cache=True, nogil=True)
def add_bias(y, b):
    """y[n, f, p] += b[f], in place on the caller's fresh product y, which is returned.

    Speed helper with no twin in reference.py: the same as NumPy's `y += b[:, None]`, in one
    pass in memory order.
    Shapes: y (N, F, P) C-contiguous, b (F,) -> y
    """
    N, F, P = y.shape
    for n in range(N):
        for f in range(F):
            bf = b[f]
            for p in range(P):
                y[n, f, p] += bf
    return y


@njit(cache=True, nogil=True)
def transpose_add_bias(y_t, b):
    """y[n, f, p] = y_t[n, p, f] + b[f]: a product computed as (N, P, F) put into NCHW order.

    Speed helper with no twin in reference.py: the same as NumPy's
    `np.add(y_t.transpose(0, 2, 1), b[:, None], out=y)`, written in y's memory order (strided
    reads, contiguous writes).
    Shapes: y_t (N, P, F), b (F,) -> y (N, F, P)
    """
    N, P, F = y_t.shape
    y = np.empty((N, F, P), dtype=y_t.dtype)
    for n in range(N):
        for f in range(F):
            bf = b[f]
            for p in range(P):
                y[n, f, p] = y_t[n, p, f] + bf
    return y


@njit(cache=True, nogil=True)
def relu_forward(x):
    """y = x where x > 0, else 0, in one pass (np.where builds a mask and a broadcast 0 first).

    Speed helper with no twin in reference.py: ReLU's math is its docstring's, max(x, 0).

    Shapes: x (any, C-contiguous) -> y (same)
    """
    y = np.empty_like(x)
    x_flat, y_flat = x.reshape(-1), y.reshape(-1)
    for i in range(x_flat.size):
        v = x_flat[i]
        y_flat[i] = v if v > 0 else 0
    return y


@njit(cache=True, nogil=True)
def relu_backward(dy, x):
    """dx = dy where x > 0, else 0, reading the cached input instead of a stored mask.

    Speed helper with no twin in reference.py (see relu_forward).

    Shapes: dy, x (any, same, C-contiguous) -> dx (same)
    """
    dx = np.empty_like(dy)
    dx_flat, x_flat, dy_flat = dx.reshape(-1), x.reshape(-1), dy.reshape(-1)
    for i in range(x_flat.size):
        dx_flat[i] = dy_flat[i] if x_flat[i] > 0 else 0
    return dx


@njit(cache=True, nogil=True)
def maxpool_forward(x, KH, KW, SH, SW, OH, OW, record=True):
    """Max over each window; with `record`, also where it was, as a flat index into the (H, W) plane.

    reference.maxpool_forward's maxima, plus the positions reference.maxpool_backward finds again.
    Ties go to the first maximum in row-major window order (strict `>`). Each window is walked as
    one loop over its KH*KW element offsets in the plane, in row-major order, which Numba compiles
    tighter than two nested loops. Without `record` (inference) the argmax returned is empty and
    never written: Numba takes the test out of the loop.
    Shapes: x (N, C, H, W) -> y (N, C, OH, OW), argmax (N, C, OH, OW) int32, or (0, 0, 0, 0)
    """
    N, C, H, W = x.shape
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = np.empty((N, C, OH, OW) if record else (0, 0, 0, 0), dtype=np.int32)
    offsets = np.empty(KH * KW, dtype=np.int64)  # window element (kh, kw) -> kh*W + kw
    for kh in range(KH):
        for kw in range(KW):
            offsets[kh * KW + kw] = kh * W + kw
    for n in range(N):
        for c in range(C):
            plane = x[n, c].reshape(-1)  # (H*W,), the argmax's index space
            for oh in range(OH):
                for ow in range(OW):
                    first = oh * SH * W + ow * SW  # the window's top-left element
                    best, best_idx = plane[_u(first)], first
                    for k in range(1, KH * KW):
                        i = first + offsets[k]
                        if plane[_u(i)] > best:
                            best, best_idx = plane[_u(i)], i
                    y[n, c, oh, ow] = best
                    if record:
                        argmax[n, c, oh, ow] = best_idx
    return y, argmax


@njit(cache=True, nogil=True)
def maxpool2x2_forward(x, OH, OW, record=True):
    """maxpool_forward for 2x2 windows moved by 2, the pooling nearly every CNN uses (ours too).

    Speed helper with no twin in reference.py: maxpool_forward's assignments with the window
    written out. Each row's pair is decided first (the right one only if strictly greater), then
    the lower pair's winner only if strictly greater than the upper one's, which is the first
    maximum in row-major order. No loop over window offsets, no branches.
    Shapes: x (N, C, H, W) -> y (N, C, OH, OW), argmax (N, C, OH, OW) int32, or (0, 0, 0, 0)
    """
    N, C, H, W = x.shape
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = np.empty((N, C, OH, OW) if record else (0, 0, 0, 0), dtype=np.int32)
    for n in range(N):
        for c in range(C):
            plane = x[n, c].reshape(-1)
            for oh in range(OH):
                for ow in range(OW):
                    i = oh * 2 * W + ow * 2  # the window's top-left element
                    a, b = plane[_u(i)], plane[_u(i + 1)]
                    upper, upper_idx = (b, i + 1) if b > a else (a, i)
                    a, b = plane[_u(i + W)], plane[_u(i + W + 1)]
                    lower, lower_idx = (b, i + W + 1) if b > a else (a, i + W)
                    lower_wins = lower > upper
                    y[n, c, oh, ow] = lower if lower_wins else upper
                    if record:
                        argmax[n, c, oh, ow] = lower_idx if lower_wins else upper_idx
    return y, argmax


@njit(cache=True, nogil=True)
def maxpool_backward(dy, argmax, H, W):
    """Send each output gradient to the input pixel that won its window (overlaps add up).

    reference.maxpool_backward's assignments, reading the positions maxpool_forward recorded.

    Shapes: dy (N, C, OH, OW), argmax (N, C, OH, OW) -> dx (N, C, H, W)
    """
    N, C, OH, OW = dy.shape
    dx = np.zeros((N, C, H, W), dtype=dy.dtype)
    for n in range(N):
        for c in range(C):
            plane = dx[n, c].reshape(-1)  # (H*W,), the argmax's index space
            for oh in range(OH):
                for ow in range(OW):
                    plane[_u(argmax[n, c, oh, ow])] += dy[n, c, oh, ow]
    return dx


@njit(cache=True, nogil=True)
def affine_sources(ty, tx, angle, scale, H, W):
    """The source point of every output pixel under data.augment's affine map, in one pass:
    src = c + R(-angle) (p - c - t) / scale, c the image centre, p = (oh, ow); per image n,
    from ty[n], tx[n] (pixels), angle[n] (radians) and scale[n]. A speed helper with no twin
    in reference.py: the same as the NumPy broadcasting in tests/test_data.py, without its
    (N, H, W) temporaries.
    Shapes: ty, tx, angle, scale (N,) float64 -> src_y, src_x (N, H, W) float32
    """
    N = ty.shape[0]
    src_y = np.empty((N, H, W), dtype=np.float32)
    src_x = np.empty((N, H, W), dtype=np.float32)
    cy, cx = (H - 1) / 2, (W - 1) / 2
    for n in range(N):
        cos, sin, inv = np.cos(angle[n]), np.sin(angle[n]), 1 / scale[n]
        for oh in range(H):
            dy = oh - cy - ty[n]
            for ow in range(W):
                dx = ow - cx - tx[n]
                src_y[n, oh, ow] = cy + (cos * dy - sin * dx) * inv
                src_x[n, oh, ow] = cx + (sin * dy + cos * dx) * inv
    return src_y, src_x


@njit(cache=True, nogil=True)
def warp_bilinear(x, src_y, src_x):
    """Resample every image at its own source points, bilinearly, reading 0 outside the image.

    y[n, c, oh, ow] = sum over the 4 pixels (ih, iw) around (src_y, src_x)[n, oh, ow] of
    (1 - |src_y - ih|) * (1 - |src_x - iw|) * x[n, c, ih, iw]. Used by data.augment; a speed
    helper with no twin in reference.py (data augmentation is not part of the network).
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


@njit(cache=True)
def render_polylines(points, stroke_ends, height, width, brush):
    """Rasterise pen strokes with a round brush: the loops of preprocess.render_strokes, visiting
    only each segment's bounding box (a speed helper for shapes.py; render_strokes is its spec).

    A pixel is ink when its centre lies within brush / 2 of a segment. Stroke s is
    points[stroke_ends[s-1]:stroke_ends[s]] (from 0 for s = 0); a one-point stroke is a dot.
    Shapes: points (P, 2) float32 (x, y) in pixels, stroke_ends (S,) int64 -> (H, W) uint8
    """
    ink = np.zeros((height, width), dtype=np.uint8)
    r = np.float32(brush / 2.0)
    r2 = r * r
    half = np.float32(0.5)
    start = 0
    for s in range(stroke_ends.shape[0]):
        end = stroke_ends[s]
        n = end - start
        for k in range(max(n - 1, 1)):  # a single point is one zero-length segment: a dot
            i = start + k
            j = i + 1 if n > 1 else i
            x0, y0 = points[i, 0], points[i, 1]
            dx, dy = points[j, 0] - x0, points[j, 1] - y0
            seg2 = dx * dx + dy * dy
            # pixel rows/columns whose centres can lie within r of the segment
            r_lo = max(0, int(np.floor(min(y0, y0 + dy) - r - half)))
            r_hi = min(height - 1, int(np.ceil(max(y0, y0 + dy) + r)))
            c_lo = max(0, int(np.floor(min(x0, x0 + dx) - r - half)))
            c_hi = min(width - 1, int(np.ceil(max(x0, x0 + dx) + r)))
            for row in range(r_lo, r_hi + 1):
                yy = np.float32(row) + half
                for col in range(c_lo, c_hi + 1):
                    xx = np.float32(col) + half
                    t = np.float32(0.0)
                    if seg2 != 0:
                        t = ((xx - x0) * dx + (yy - y0) * dy) / seg2
                        t = min(max(t, np.float32(0.0)), np.float32(1.0))
                    ex, ey = xx - x0 - t * dx, yy - y0 - t * dy
                    if ex * ex + ey * ey <= r2:
                        ink[row, col] = 255
        start = end
    return ink


@njit(cache=True, nogil=True)
def _channel_sums(acc):
    """sum over p of acc[c, p], per channel: the last step of the sums below. (C, P) -> (C,)"""
    C, P = acc.shape
    out = np.zeros(C, dtype=np.float64)
    for c in range(C):
        for p in range(P):
            out[c] += acc[c, p]
    return out


@njit(cache=True, nogil=True)
def batch_moments(x):
    """Per-channel mean and biased variance, as reference.batch_moments: two passes (the mean,
    then squared deviations from it: no cancellation as in sum(x^2) - M * mean^2).

    Sums run in float64, first into one slot per (c, p) over the batch, then over p: adding
    into a row of slots vectorises, where one running total per channel would be a chain of
    dependent additions (the compiler may not reorder float sums).
    Shapes: x (N, C, P) C-contiguous -> mean (C,), var (C,) in x's dtype
    """
    N, C, P = x.shape
    acc = np.zeros((C, P), dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for p in range(P):
                acc[c, p] += x[n, c, p]
    M = N * P
    mean = _channel_sums(acc) / M
    acc[:] = 0
    for n in range(N):
        for c in range(C):
            m = mean[c]
            for p in range(P):
                d = x[n, c, p] - m
                acc[c, p] += d * d
    return mean.astype(x.dtype), (_channel_sums(acc) / M).astype(x.dtype)


@njit(cache=True, nogil=True)
def batchnorm_forward(x, gamma, beta, mean, inv_std):
    """y = gamma * (x - mean) * inv_std + beta per channel, as reference.batchnorm_forward,
    without keeping x_hat (the backward recomputes it from x: one array less to write).

    Shapes: x (N, C, P) C-contiguous; gamma, beta, mean, inv_std (C,) -> y (N, C, P)
    """
    N, C, P = x.shape
    y = np.empty_like(x)
    for n in range(N):
        for c in range(C):
            m, s, g, b = mean[c], inv_std[c], gamma[c], beta[c]
            for p in range(P):
                y[n, c, p] = g * ((x[n, c, p] - m) * s) + b
    return y


@njit(cache=True, nogil=True)
def batchnorm_backward(dy, x, gamma, mean, inv_std, training):
    """dx, dgamma, dbeta as reference.batchnorm_backward, x_hat recomputed from x; the sums in
    float64 slots per (c, p), as in batch_moments.

    Shapes: dy, x (N, C, P) C-contiguous; gamma, mean, inv_std (C,) -> dx (N, C, P), (C,), (C,)
    """
    N, C, P = dy.shape
    acc_b = np.zeros((C, P), dtype=np.float64)
    acc_g = np.zeros((C, P), dtype=np.float64)
    for n in range(N):
        for c in range(C):
            m, s = mean[c], inv_std[c]
            for p in range(P):
                g = dy[n, c, p]
                acc_b[c, p] += g
                acc_g[c, p] += g * ((x[n, c, p] - m) * s)
    dbeta, dgamma = _channel_sums(acc_b), _channel_sums(acc_g)
    M = N * P
    mean_b, mean_g = (dbeta / M).astype(dy.dtype), (dgamma / M).astype(dy.dtype)
    dx = np.empty_like(dy)
    for n in range(N):
        for c in range(C):
            m, s = mean[c], inv_std[c]
            k = gamma[c] * s
            if training:
                b, g = mean_b[c], mean_g[c]
                for p in range(P):
                    dx[n, c, p] = k * (dy[n, c, p] - b - (x[n, c, p] - m) * s * g)
            else:
                for p in range(P):
                    dx[n, c, p] = k * dy[n, c, p]
    return dx, dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
