"""A drawing of any size -> the 28x28 input the network was trained on.

MNIST digits were normalised in a fixed way (LeCun et al., "Gradient-based learning applied to
document recognition", 1998, and the MNIST page): each digit was scaled so its longer side is
20 px, keeping the aspect ratio, with anti-aliasing; then it was placed in a 28x28 field so
that its centre of mass sits at the centre. On the real test set the centre of mass, in pixel
index coordinates, is (14.0, 14.0) with a spread of 0.3 px, and in 99% of the digits the
brightest pixel is 254 or 255.
A drawing from a canvas goes through the same steps in `to_mnist`:

1. crop to the bounding box of the ink (pixels > 0);
2. resize so the longer side is 20 px by area averaging: each output pixel is the mean of the
   input area it covers, which is exact anti-aliasing for downscaling;
3. paste into a 28x28 zero field so that the centre of mass lands on (14, 14): a whole-pixel
   offset plus a bilinear shift by the remaining fraction (MNIST rounded to whole pixels; the
   fraction makes the result independent of where on the canvas the digit was drawn);
4. scale intensities into [0, 1] with the brightest pixel at 1, as in the training data.

The web app's JSON wire format (base64 pixels in, base64 feature maps out) is webui/wire.py.

Shapes: a drawing is (H, W) uint8, 0 = background, 255 = ink; the result is (28, 28) float32.
"""

from __future__ import annotations

import numpy as np

FIELD = 28  # MNIST side
BOX = 20  # the longer side of the digit inside the field

__all__ = [
    "FIELD",
    "BOX",
    "has_ink",
    "ink_measure",
    "too_little_ink",
    "to_mnist",
    "area_resize",
    "render_strokes",
]


def has_ink(pixels: np.ndarray) -> bool:
    """True when any pixel of the drawing is non-zero."""
    return bool(np.any(pixels))


# Too little ink to read: a drawing whose ink spans less than this share of the canvas's shorter
# side, or less than this many stroke widths, is a tap, a dot or a tiny dash. to_mnist would
# blow it up into a 20-pixel blob the network reads as some digit with confidence; the honest
# answer is that there is nothing to read yet (see `too_little_ink`).
MIN_EXTENT_SHARE = 1 / 12  # 23 px of a 280 px canvas
MIN_EXTENT_WIDTHS = 2.5  # a round dot spans 2 of these widths (see ink_measure)


def ink_measure(pixels: np.ndarray) -> dict:
    """The size of the ink, in canvas pixels: its extent and its stroke width.

    extent = the longer side of the ink's bounding box; width = 2 * area / perimeter, where the
    area counts ink pixels and the perimeter counts ink pixels next to background (4-neighbours,
    the canvas edge counting as background). For a stroke of length L and width w, area = L w
    and perimeter = 2 L, so width = w; a round dot of diameter w gives w / 2, so its extent is
    2 widths. Shapes: pixels (H, W) uint8 -> {"extent", "width", "area", "canvas"} floats.
    """
    ink = np.asarray(pixels) > 0
    area = int(ink.sum())
    if area == 0:
        return {"extent": 0.0, "width": 0.0, "area": 0.0, "canvas": float(min(ink.shape))}
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    extent = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    padded = np.pad(ink, 1)
    inner = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    perimeter = int((ink & ~inner).sum())
    return {"extent": float(extent), "width": 2.0 * area / perimeter, "area": float(area),
            "canvas": float(min(ink.shape))}


def too_little_ink(pixels: np.ndarray) -> str | None:
    """Why a drawing has too little ink to read (None when it has enough, or none at all).

    Too little: the ink spans less than MIN_EXTENT_SHARE of the canvas's shorter side (a tap or
    a speck), or less than MIN_EXTENT_WIDTHS stroke widths (a dot or a dash barely longer than
    the brush is wide, whatever the brush).
    """
    m = ink_measure(pixels)
    if m["area"] == 0:
        return None
    if m["extent"] < MIN_EXTENT_SHARE * m["canvas"]:
        return (f"the ink spans {m['extent']:.0f} px, less than 1/{round(1 / MIN_EXTENT_SHARE)} "
                f"of the canvas")
    if m["extent"] < MIN_EXTENT_WIDTHS * m["width"]:
        return (f"the ink spans {m['extent'] / m['width']:.1f} stroke widths: a dot or a dash, "
                "not a drawing")
    return None


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """Matrix A of shape (n_out, n_in): A[i, j] = share of output cell i covered by input pixel j.

    Output cell i spans [i * s, (i + 1) * s) in input coordinates, s = n_in / n_out; each row sums
    to 1, so A @ v averages v over the cell (area averaging in one dimension).
    """
    s = n_in / n_out
    lo = np.arange(n_out, dtype=np.float64)[:, None] * s  # (n_out, 1)
    j = np.arange(n_in, dtype=np.float64)[None, :]  # (1, n_in)
    overlap = np.clip(np.minimum(lo + s, j + 1) - np.maximum(lo, j), 0.0, None)
    return overlap / s


def area_resize(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Resize a 2-D float image by area averaging (separable: rows, then columns).

    y = A_h @ img @ A_w.T, where A are the one-dimensional area-weight matrices.

    Shapes: img (H, W) -> (out_h, out_w), same dtype as img.
    """
    h, w = img.shape
    a_h = _area_weights(h, out_h).astype(img.dtype)
    a_w = _area_weights(w, out_w).astype(img.dtype)
    return a_h @ img @ a_w.T


def to_mnist(pixels: np.ndarray) -> np.ndarray:
    """Normalise a drawing the way MNIST was: bbox crop, 20 px fit, centre of mass at the centre.

    A drawing without ink gives an all-zero field (check `has_ink` first to avoid a guess).

    Shapes: pixels (H, W) uint8 -> (28, 28) float32 in [0, 1].
    """
    pixels = np.asarray(pixels)
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 drawing, got shape {pixels.shape} and dtype {pixels.dtype}")
    rows = np.flatnonzero(pixels.any(axis=1))
    cols = np.flatnonzero(pixels.any(axis=0))
    if rows.size == 0:
        return np.zeros((FIELD, FIELD), dtype=np.float32)
    crop = pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32) / 255.0
    h, w = crop.shape
    scale = BOX / max(h, w)
    # the longer side becomes exactly 20; the shorter keeps the aspect ratio (at least 1 px)
    box_h = BOX if h >= w else max(1, round(h * scale))
    box_w = BOX if w >= h else max(1, round(w * scale))
    box = area_resize(crop, box_h, box_w)

    # shift so the centre of mass lands on (14, 14): a whole-pixel offset plus a linear
    # interpolation for the fraction; clipped so the digit stays inside the field
    mass = box.sum()
    cy = (box.sum(axis=1) @ np.arange(box_h, dtype=np.float32)) / mass
    cx = (box.sum(axis=0) @ np.arange(box_w, dtype=np.float32)) / mass
    ty = float(np.clip(FIELD / 2 - cy, 0, FIELD - box_h))
    tx = float(np.clip(FIELD / 2 - cx, 0, FIELD - box_w))
    top, left = int(np.floor(ty)), int(np.floor(tx))
    fy, fx = ty - top, tx - left
    moved = np.zeros((box_h + 1, box_w + 1), dtype=np.float32)  # one spare row and column
    moved[:-1, :-1] += (1 - fy) * (1 - fx) * box
    moved[1:, :-1] += fy * (1 - fx) * box
    moved[:-1, 1:] += (1 - fy) * fx * box
    moved[1:, 1:] += fy * fx * box
    field = np.zeros((FIELD + 1, FIELD + 1), dtype=np.float32)
    field[top : top + box_h + 1, left : left + box_w + 1] = moved
    out = field[:FIELD, :FIELD]  # the spare row/column is empty whenever it falls outside
    # like the training data: the brightest pixel is full ink
    return np.clip(out / out.max(), 0.0, 1.0)


def render_strokes(
    strokes: list[list[tuple[float, float]]], height: int, width: int, brush: float
) -> np.ndarray:
    """Rasterise polylines with a round brush, as the page's canvas does (without anti-aliasing).

    Each stroke is a list of (x, y) points in pixel coordinates; a pixel is ink when its centre
    lies within brush / 2 of a segment. Used by tests, the web benchmark and notebooks to make
    drawings without a browser.

    Shapes: -> (height, width) uint8, 0 = background, 255 = ink.
    """
    ink = np.zeros((height, width), dtype=bool)
    r = brush / 2.0
    r2 = r * r
    for stroke in strokes:
        pts = np.asarray(stroke, dtype=np.float32).reshape(-1, 2)
        if len(pts) == 1:
            pts = np.vstack([pts, pts])
        for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
            # only the pixels whose centres can lie within r of the segment: its box, grown by r
            i0, i1 = max(0, int(np.floor(min(y0, y1) - r))), min(height, int(np.ceil(max(y0, y1) + r)) + 1)
            j0, j1 = max(0, int(np.floor(min(x0, x1) - r))), min(width, int(np.ceil(max(x0, x1) + r)) + 1)
            if i0 >= i1 or j0 >= j1:
                continue
            yy = np.arange(i0, i1, dtype=np.float32)[:, None] + np.float32(0.5)  # pixel centres
            xx = np.arange(j0, j1, dtype=np.float32)[None, :] + np.float32(0.5)
            dx, dy = x1 - x0, y1 - y0
            seg2 = dx * dx + dy * dy
            # projection of each pixel centre onto the segment, clamped to its ends
            t = np.zeros((i1 - i0, j1 - j0), np.float32) if seg2 == 0 else (
                ((xx - x0) * dx + (yy - y0) * dy) / seg2)
            t = np.clip(t, 0.0, 1.0)
            ink[i0:i1, j0:j1] |= (xx - x0 - t * dx) ** 2 + (yy - y0 - t * dy) ** 2 <= r2
    return ink.astype(np.uint8) * np.uint8(255)
