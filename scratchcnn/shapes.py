"""A generated data set of hand-drawn shapes: pen strokes as people draw them, rendered like the page.

No sketch collection reaches this machine, so the shapes are made the way people make them: a
template per class with the variants people use (a star as an outline or a one-stroke
pentagram, an arrow pointing any way, a diamond on its corner, as a rhombus or a cut gem, ...),
then a human hand moves the pen along it:

- where the pen starts and which way it goes round; closed shapes end with a gap or an
  overshoot; sides drawn in one stroke, in two, or each on its own with crossing ends;
- corners rounded by smoothing along the path (more smoothing, rounder corners);
- straight lines bowed, and sometimes traced twice: Rough.js draws every line as a slightly
  bent curve through randomly moved end points, twice, for its "sketchy" look (P. Shihn, "How
  to emulate hand-drawn shapes / Algorithms behind RoughJS", 2020; after J. Wood et al.,
  "Sketchy rendering for information visualization", IEEE TVCG 2012);
- sub-paths stretched and shrunk: gesture path stochastic resampling (GPSR; E. Taranta et al.,
  "A Rapid Prototyping Approach to Synthetic Data Generation for Improved 2D Gesture
  Recognition", UIST 2016) resamples a stroke at random intervals and rebuilds it from equal
  steps, so some parts grow and others shrink; here a smooth random factor scales the length of
  each step of the path, with its direction kept;
- a tremor across the path (a few smooth waves plus a little jitter), slant, aspect, rotation,
  size, position on the canvas and brush width.

Quick, Draw!'s data (Google Creative Lab, 2017) shows how people draw these classes: circles
rarely close cleanly (a gap, or an overshoot past the start), squares and triangles come in one
stroke or one stroke per side, hearts often as two halves from the top notch to the point, and
drawings fill most of the canvas. Its strokes are resampled and simplified (Ramer-Douglas-
Peucker), which is why straight sides here are straight between a few points.

A drawing is rendered on a 280x280 canvas (the page's) with a round brush and normalised by the
same `preprocess.to_mnist` the server applies to the page's drawings. Everything is seeded:
sample i of a data set is drawn from default_rng([seed, i]), so a set is the same however it
is generated (in one piece or in chunks) and on every machine.

Shapes: strokes are lists of (n, 2) float arrays of canvas pixels (x right, y down); a set is
images uint8 (N, 28, 28) (as MNIST stores them) and labels uint8 (N,) indexing CLASSES.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from . import kernels, preprocess
from .fileio import save_npz

CLASSES = ("circle", "triangle", "square", "diamond", "hexagon", "star", "heart", "arrow",
           "plus", "moon", "lightning", "smiley face")
CANVAS = 280  # the page's canvas side in pixels
STEP = 2.5  # pen sample spacing in canvas pixels, like pointer events at a calm speed
SPLITS = {"train": 0, "val": 1, "test": 2}  # split name -> the seed of its random streams

__all__ = ["CLASSES", "CANVAS", "STYLES", "draw", "render", "sample", "make_set", "load_shapes",
           "grid"]


# ----------------------------------------------------------------------------- templates
# Each template returns (parts, style): parts are ("poly", vertices, closed) for straight-sided
# paths and ("curve", points, closed) for curves, in a box of about [-1, 1]^2 (y down).


def _ellipse(n=64, a0=0.0, turns=1.0, wobble=None, rng=None):
    t = a0 + np.linspace(0, 2 * np.pi * turns, int(n * turns) + 1)
    r = np.ones_like(t)
    if wobble is not None:  # egg and lemon shapes: a few low harmonics of the radius
        for k, amp in zip((2, 3), wobble):
            r = r + amp * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _regular(k, phase, radii=None):
    a = phase + 2 * np.pi * np.arange(k) / k
    r = np.ones(k) if radii is None else radii
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def _circle(rng):
    wobble = rng.uniform(-0.06, 0.06, 2)
    if rng.random() < 0.15:  # round twice, a little spiralling
        pts = _ellipse(64, rng.uniform(0, 2 * np.pi), rng.uniform(1.5, 2.0), wobble, rng)
        pts *= np.linspace(1.0, rng.uniform(0.85, 1.1), len(pts))[:, None]
        return [("curve", pts, False)], "double loop"
    return [("curve", _ellipse(64, 0.0, 1.0, wobble, rng), True)], "loop"


def _triangle(rng):
    u = rng.random()
    if u < 0.2:  # right-angled, the right angle bottom-left or bottom-right
        v = np.array([[-1, -1], [-1, 1], [1, 1]], float)
        style = "right"
        if rng.random() < 0.5:
            v[:, 0] *= -1
    elif u < 0.45:
        v = np.array([[rng.uniform(-0.7, 0.7), -1], [1, 1], [-1, 1]], float)
        style = "scalene"
    else:
        v = _regular(3, -np.pi / 2) * [1, rng.uniform(0.9, 1.3)]
        style = "equilateral"
    return [("poly", v, True)], style


def _square(rng):
    w = rng.uniform(0.75, 1.35)
    v = np.array([[-w, -1], [w, -1], [w, 1], [-w, 1]], float)
    return [("poly", v, True)], "square"


def _diamond(rng):
    u = rng.random()
    if u < 0.22:  # a cut gem: flat table on top, girdle, pointed culet
        t, g = rng.uniform(0.35, 0.6), rng.uniform(-0.65, -0.3)
        v = np.array([[-t, -1], [t, -1], [1, g], [0, 1], [-1, g]], float)
        parts = [("poly", v, True)]
        if rng.random() < 0.6:  # the girdle line, sometimes the facets down to the point
            parts.append(("poly", np.array([[-1, g], [1, g]]), False))
            if rng.random() < 0.5:
                parts.append(("poly", np.array([[-t, -1], [-0.3 * t, g], [0, 1]]), False))
                parts.append(("poly", np.array([[t, -1], [0.3 * t, g], [0, 1]]), False))
        return parts, "gem"
    w = rng.choice([rng.uniform(0.5, 0.8), rng.uniform(0.8, 1.2), rng.uniform(1.2, 1.6)])
    mid = rng.uniform(-0.25, 0.25)  # a kite when the side corners are not halfway down
    v = np.array([[0, -1], [w, mid], [0, 1], [-w, mid]], float)
    if u < 0.34:  # the card suit: each side bent in towards the centre
        t = np.linspace(0, 1, 12)[:, None]
        sides = []
        for a, b in zip(v, np.roll(v, -1, axis=0)):
            ctrl = (a + b) / 2 * rng.uniform(0.35, 0.7)
            sides.append((1 - t) ** 2 * a + 2 * (1 - t) * t * ctrl + t**2 * b)
        return [("curve", np.concatenate([sides[0]] + [q[1:] for q in sides[1:]]), True)], "suit"
    return [("poly", v, True)], "rhombus" if abs(w - 1) > 0.2 else "square on its corner"


def _hexagon(rng):
    on_corner = rng.random() < 0.5
    v = _regular(6, (-np.pi / 2 if on_corner else 0.0) + rng.uniform(-0.1, 0.1))
    v += rng.normal(0, 0.04, v.shape)
    return [("poly", v, True)], "on a corner" if on_corner else "on a side"


def _star(rng):
    u = rng.random()
    top = -np.pi / 2 + rng.uniform(-0.15, 0.15)
    if u < 0.35:  # one stroke through every other corner of a pentagon
        v = _regular(5, top)[[0, 2, 4, 1, 3]]
        return [("poly", v, True)], "pentagram"
    if u < 0.43:  # two triangles
        a, b = _regular(3, top), _regular(3, top + np.pi)
        return [("poly", a, True), ("poly", b, True)], "six points"
    if u < 0.5:  # an asterisk: three or four lines through the centre
        k = int(rng.integers(3, 5))
        ends = _regular(2 * k, top) * rng.uniform(0.85, 1.0, (2 * k, 1))
        return [("poly", np.array([ends[i], ends[i + k]]), False) for i in range(k)], "asterisk"
    k = int(rng.choice([4, 5, 5, 5, 6, 7, 8]))  # mostly five points
    inner = rng.uniform(0.3, 0.55) if k > 4 else rng.uniform(0.2, 0.4)
    radii = np.tile([1.0, inner], k) * rng.uniform(0.9, 1.1, 2 * k)
    return [("poly", _regular(2 * k, top, radii), True)], "outline"


def _heart(rng):
    t = np.linspace(0, 2 * np.pi, 90)
    p = rng.uniform(2.2, 3.2)  # lower: fuller lobes
    x = np.sign(np.sin(t)) * np.abs(np.sin(t)) ** p
    a = [13 + rng.uniform(-1.5, 1.5), 5 + rng.uniform(-1.5, 1.5), 2 + rng.uniform(-1, 1),
         1 + rng.uniform(-0.6, 0.6)]
    y = -(a[0] * np.cos(t) - a[1] * np.cos(2 * t) - a[2] * np.cos(3 * t) - a[3] * np.cos(4 * t)) / 16
    pts = np.stack([x * rng.uniform(0.9, 1.2), y], axis=1)  # t = 0 is the notch on top
    if rng.random() < 0.3:  # two round lobes and straight sides down to the point
        r, notch = rng.uniform(0.45, 0.55), rng.uniform(-0.55, -0.3)
        a = np.linspace(0, np.pi * rng.uniform(1.15, 1.3), 30)
        lobe = np.stack([r - r * np.cos(a), notch - r * np.sin(a) * rng.uniform(0.8, 1.1)], 1)
        right = np.concatenate([lobe, [[0.0, 1.0]]])
        pts = np.concatenate([right, (right * [-1, 1])[::-1][1:]])
    if rng.random() < 0.4:  # two halves, each from the notch down to the point
        half = len(pts) // 2
        left = pts[half:][::-1]
        return [("curve", pts[: half + 1], False), ("curve", left, False)], "two halves"
    return [("curve", pts, True)], "one stroke"


def _arrow(rng):
    h, w = rng.uniform(0.3, 0.8), rng.uniform(0.25, 0.6)
    tip, tail = np.array([1.0, 0.0]), np.array([-1.0, 0.0])
    barbs = np.array([[1 - h, -w], [1 - h, w]])
    u = rng.random()
    if u < 0.15:  # a block arrow's outline
        s = w * rng.uniform(0.3, 0.6)
        v = np.array([[-1, -s], [1 - h, -s], [1 - h, -w], [1, 0], [1 - h, w], [1 - h, s], [-1, s]])
        return [("poly", v, True)], "block"
    if u < 0.35:  # closed triangular head
        head = ("poly", np.array([tip, barbs[0], barbs[1]]), True)
        return [("poly", np.array([tail, [1 - h, 0]]), False), head], "closed head"
    shaft = ("poly", np.array([tail, tip]), False)
    if u < 0.45 and rng.random() < 0.5:  # a curved shaft, the head along its end
        bend = rng.uniform(0.25, 0.6) * rng.choice([-1, 1])
        t = np.linspace(0, 1, 24)[:, None]
        ctrl = np.array([0.0, bend * 2])
        curve = (1 - t) ** 2 * tail + 2 * (1 - t) * t * ctrl + t**2 * tip
        d = tip - ctrl
        d /= np.hypot(*d)
        n = np.array([-d[1], d[0]])
        head = np.array([tip - h * d - w * n, tip, tip - h * d + w * n])
        return [("curve", curve, False), ("poly", head, False)], "curved"
    if u < 0.55:  # one stroke: shaft, one barb, back to the tip, the other barb
        return [("poly", np.array([tail, tip, barbs[0], tip, barbs[1]]), False)], "one stroke"
    if u < 0.8:
        return [shaft, ("poly", np.array([barbs[0], tip, barbs[1]]), False)], "open head"
    parts = [shaft, ("poly", np.array([barbs[0], tip]), False),
             ("poly", np.array([barbs[1], tip]), False)]
    if rng.random() < 0.3:  # feathers at the tail
        f = rng.uniform(0.15, 0.3)
        parts += [("poly", np.array([[-1 + f, 0], [-1, -f]]), False),
                  ("poly", np.array([[-1 + f, 0], [-1, f]]), False)]
    return parts, "two barbs"


def _plus(rng):
    if rng.random() < 0.15:  # the outline of a cross
        s = rng.uniform(0.2, 0.4)
        v = np.array([[-s, -1], [s, -1], [s, -s], [1, -s], [1, s], [s, s], [s, 1], [-s, 1],
                      [-s, s], [-1, s], [-1, -s], [-s, -s]])
        return [("poly", v, True)], "outline"
    cx, cy = rng.uniform(-0.15, 0.15), rng.uniform(-0.3, 0.15)  # a cross's arm may sit high
    vert = np.array([[cx, -1], [cx, 1]])
    horiz = np.array([[-1 * rng.uniform(0.8, 1.1), cy], [rng.uniform(0.8, 1.1), cy]])
    parts = [("poly", vert, False), ("poly", horiz, False)]
    return parts[:: 1 if rng.random() < 0.6 else -1], "two lines"


def _moon(rng):
    d, r2 = rng.uniform(0.25, 0.85), rng.uniform(0.75, 1.05)
    # where the inner circle (centre (d, 0), radius r2) crosses the outer unit circle
    cx = (1 + d * d - r2 * r2) / (2 * d)
    cy = math.sqrt(max(1e-6, 1 - cx * cx))
    a = math.atan2(cy, cx)
    outer = np.linspace(a, 2 * np.pi - a, 48)
    b = math.atan2(cy, cx - d)
    inner = np.linspace(2 * np.pi - b, b, 32)
    pts = np.concatenate([np.stack([np.cos(outer), np.sin(outer)], 1),
                          np.stack([d + r2 * np.cos(inner), r2 * np.sin(inner)], 1)[1:]])
    pts = pts[::-1] if rng.random() < 0.5 else pts
    if rng.random() < 0.3:
        return [("curve", pts[:48], False), ("curve", pts[47:], False)], "two arcs"
    return [("curve", pts, True)], "crescent"


def _lightning(rng):
    j = lambda: rng.uniform(-0.12, 0.12)  # noqa: E731 - a small jitter, used many times
    if rng.random() < 0.5:  # the outline of a bolt
        v = np.array([[0.35 + j(), -1], [-0.55 + j(), 0.15 + j()], [-0.05 + j(), 0.1 + j()],
                      [-0.4 + j(), 1], [0.55 + j(), -0.2 + j()], [0.05 + j(), -0.15 + j()],
                      [0.45 + j(), -1]])
        return [("poly", v, True)], "outline"
    k = rng.integers(3, 6)  # a zigzag line of k segments going down
    y = np.linspace(-1, 1, k + 1) + np.r_[0, rng.uniform(-0.1, 0.1, k - 1), 0]
    x = np.where(np.arange(k + 1) % 2 == 0, 1, -1) * rng.uniform(0.25, 0.6) + rng.uniform(-0.15, 0.15, k + 1)
    x += np.linspace(0.3, -0.3, k + 1)  # leaning like a bolt
    return [("poly", np.stack([x, y], 1), False)], "zigzag"


def _smiley(rng):
    face = ("curve", _ellipse(64, 0.0, 1.0, rng.uniform(-0.04, 0.04, 2), rng), True)
    ex, ey = rng.uniform(0.25, 0.45), rng.uniform(-0.45, -0.2)
    eyes = []
    kind = rng.integers(3)
    for sx in (-ex, ex):
        c = np.array([sx, ey])
        if kind == 0:  # dots
            eyes.append(("curve", c[None] + rng.normal(0, 0.01, (2, 2)), False))
        elif kind == 1:  # short strokes down
            eyes.append(("poly", np.array([c - [0, 0.1], c + [0, 0.1]]), False))
        else:  # small circles
            eyes.append(("curve", c + 0.09 * _ellipse(16), True))
    r = rng.uniform(0.4, 0.65)
    lo, hi = np.deg2rad(rng.uniform(15, 40)), np.deg2rad(rng.uniform(140, 165))
    t = np.linspace(lo, hi, 24)
    mouth = np.stack([r * np.cos(t), r * np.sin(t) + rng.uniform(-0.15, 0.1)], 1)
    if rng.random() < 0.2:  # an open smile: the arc closed by a straight line
        mouth = np.concatenate([mouth, mouth[:1]])
    parts = [face, *eyes, ("curve", mouth, False)]
    if rng.random() < 0.15:  # a nose
        parts.insert(3, ("poly", np.array([[0, -0.1], [-0.05, 0.1], [0.03, 0.12]]), False))
    if rng.random() < 0.2:  # the mouth first
        parts = parts[1:] + parts[:1]
    return parts, "dots" if kind == 0 else "lines" if kind == 1 else "rings"


# class -> (template, rotation spread in degrees, chance of any rotation, aspect spread, widest
# brush as a share of the drawing's size: thicker, and the inside of a star or a face fills up)
TEMPLATES = {
    "circle": (_circle, 180, 0.0, 0.15, 0.15),
    "triangle": (_triangle, 10, 0.15, 0.15, 0.15),
    "square": (_square, 8, 0.0, 0.05, 0.15),
    "diamond": (_diamond, 8, 0.0, 0.1, 0.13),
    "hexagon": (_hexagon, 8, 0.0, 0.12, 0.13),
    "star": (_star, 10, 0.0, 0.1, 0.1),
    "heart": (_heart, 12, 0.0, 0.12, 0.13),
    "arrow": (_arrow, 180, 1.0, 0.15, 0.15),
    "plus": (_plus, 8, 0.0, 0.1, 0.15),
    "moon": (_moon, 40, 0.35, 0.12, 0.13),
    "lightning": (_lightning, 15, 0.0, 0.15, 0.12),
    "smiley face": (_smiley, 10, 0.0, 0.1, 0.08),
}
STYLES = {
    "circle": ("loop", "double loop"),
    "triangle": ("equilateral", "scalene", "right"),
    "square": ("square",),
    "diamond": ("square on its corner", "rhombus", "gem", "suit"),
    "hexagon": ("on a side", "on a corner"),
    "star": ("outline", "pentagram", "six points", "asterisk"),
    "heart": ("one stroke", "two halves"),
    "arrow": ("open head", "two barbs", "one stroke", "closed head", "block", "curved"),
    "plus": ("two lines", "outline"),
    "moon": ("crescent", "two arcs"),
    "lightning": ("outline", "zigzag"),
    "smiley face": ("dots", "lines", "rings"),
}


# ----------------------------------------------------------------------------- the hand


def _bowed(p0, p1, bow, rng):
    """A straight line as a slightly bent curve (Rough.js): a quadratic Bezier whose control
    point is the midpoint moved sideways by a random fraction of the length."""
    d = p1 - p0
    length = float(np.hypot(*d))
    n = max(2, int(length / 0.03) + 1)
    t = np.linspace(0, 1, n)[:, None]
    ctrl = (p0 + p1) / 2 + np.array([-d[1], d[0]]) * rng.normal(0, bow)
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * ctrl + t**2 * p1


def _polyline(v, bow, rng):
    pieces = [_bowed(v[i], v[i + 1], bow, rng) for i in range(len(v) - 1)]
    return np.concatenate([pieces[0]] + [p[1:] for p in pieces[1:]])


def _resample(pts, step):
    """Points every `step` along the path (its ends kept)."""
    seg = np.hypot(*np.diff(pts, axis=0).T)
    s = np.concatenate([[0], np.cumsum(seg)])
    if s[-1] < 1e-9:
        return pts[:1]
    q = np.linspace(0, s[-1], max(2, int(s[-1] / step) + 1))
    return np.stack([np.interp(q, s, pts[:, 0]), np.interp(q, s, pts[:, 1])], axis=1)


def _close(pts, rng, how=None):
    """End a closed loop as people do: short of the start, past it, or on it."""
    how = how or rng.choice(["gap", "over", "exact"], p=[0.4, 0.4, 0.2])
    seg = np.hypot(*np.diff(pts, axis=0).T)
    total = seg.sum()
    if how == "gap":
        keep = total * (1 - rng.uniform(0.01, 0.1))
        return pts[: max(2, int(np.searchsorted(np.cumsum(seg), keep)) + 1)]
    if how == "over":
        extra = total * rng.uniform(0.02, 0.15)
        more = pts[1 : 1 + max(1, int(np.searchsorted(np.cumsum(seg), extra)) + 1)]
        return np.concatenate([pts, more])
    return pts


def _loop_from(v, rng):
    """A closed vertex cycle from a random corner (or the middle of a side), either way round."""
    if rng.random() < 0.2:
        i = rng.integers(len(v))
        v = np.insert(v, i + 1, (v[i] + v[(i + 1) % len(v)]) / 2, axis=0)
    v = np.roll(v, -rng.integers(len(v)), axis=0)
    if rng.random() < 0.5:
        v = v[::-1]
    return np.concatenate([v, v[:1]])


def _smooth(pts, sigma_pts):
    """Gaussian smoothing along the path (ends pinned): rounds corners, calms the tremor."""
    if sigma_pts < 0.5 or len(pts) < 5:
        return pts
    k = int(3 * sigma_pts)
    g = np.exp(-0.5 * (np.arange(-k, k + 1) / sigma_pts) ** 2)
    g /= g.sum()
    padded = np.concatenate([np.repeat(pts[:1], k, 0), pts, np.repeat(pts[-1:], k, 0)])
    out = np.stack([np.convolve(padded[:, 0], g, "valid"), np.convolve(padded[:, 1], g, "valid")], 1)
    out[0], out[-1] = pts[0], pts[-1]
    return out


def _stretch(pts, amount, rng):
    """GPSR-like: scale each step of the path by a smooth random factor, keeping its direction."""
    steps = np.diff(pts, axis=0)
    s = np.linspace(0, 1, len(steps))
    f = np.exp(amount * np.sin(2 * np.pi * (rng.uniform(0.5, 2) * s + rng.uniform())))
    return np.concatenate([pts[:1], pts[0] + np.cumsum(steps * f[:, None], axis=0)])


def _tremor(pts, size, rng, amp):
    """Shift points across the path by a few smooth waves plus jitter (amp in box units)."""
    if len(pts) < 3:
        return pts
    d = np.gradient(pts, axis=0)
    normal = np.stack([-d[:, 1], d[:, 0]], 1) / (np.hypot(d[:, 0], d[:, 1])[:, None] + 1e-9)
    s = np.linspace(0, 1, len(pts)) * len(pts) * size
    wave = sum(rng.normal(0, amp) * np.sin(2 * np.pi * s / rng.uniform(0.3, 1.5) + rng.uniform(0, 6.3))
               for _ in range(2))
    return pts + normal * (wave + rng.normal(0, amp * 0.15, len(pts)))[:, None]


def _hand_part(kind, v, closed, rng, hand):
    """One template part -> a list of pen strokes (box units), drawn by `hand`'s habits."""
    strokes = []
    if kind == "curve":
        pts = v
        if closed:
            start = rng.integers(len(pts) - 1)
            pts = np.concatenate([pts[start:-1], pts[:start + 1]])
            if rng.random() < 0.5:
                pts = pts[::-1]
            pts = _close(pts, rng)
        elif rng.random() < 0.3:
            pts = pts[::-1]
        strokes.append(pts)
    elif closed:
        mode = rng.choice(["one", "sides", "two"], p=hand["modes"]) if len(v) <= 6 else "one"
        if mode == "one":
            strokes.append(_close(_polyline(_loop_from(v, rng), hand["bow"], rng), rng))
        elif mode == "two":
            loop = _loop_from(v, rng)[:-1]
            cut = rng.integers(1, len(loop))
            strokes += [_polyline(loop[: cut + 1], hand["bow"], rng),
                        _polyline(np.concatenate([loop[cut:], loop[:1]])[::-1], hand["bow"], rng)]
        else:  # each side its own stroke, ends crossing or short of the corners
            order = rng.permutation(len(v)) if rng.random() < 0.3 else np.arange(len(v))
            for i in order:
                a, b = v[i], v[(i + 1) % len(v)]
                if rng.random() < 0.5:
                    a, b = b, a
                e0, e1 = rng.uniform(-0.04, 0.15, 2)
                a, b = a + (a - b) * e0, b + (b - a) * e1
                strokes.append(_bowed(a, b, hand["bow"], rng))
                if rng.random() < hand["twice"]:  # Rough.js's second, slightly different pass
                    strokes.append(_bowed(a + rng.normal(0, 0.02, 2), b + rng.normal(0, 0.02, 2),
                                          hand["bow"], rng))
    else:
        pts = v[::-1] if rng.random() < 0.25 else v
        strokes.append(_polyline(pts, hand["bow"], rng))
    return strokes


def draw(label: str, rng: np.random.Generator, canvas: int = CANVAS,
         styles: dict | None = None) -> tuple[list[np.ndarray], float, str]:
    """One hand-drawn shape of class `label`: (strokes in canvas pixels, brush width, style).

    styles maps a class to the styles it may use (default: all of STYLES[label]); a draw whose
    style is not allowed is repeated.
    Shapes: each stroke (n, 2) float64, (x, y) inside [0, canvas]^2 with the brush.
    """
    if label not in TEMPLATES:
        raise ValueError(f"unknown shape class {label!r}; expected one of {list(CLASSES)}")
    template, spread, any_rotation, aspect, thickest = TEMPLATES[label]
    allowed = (styles or {}).get(label)
    for _ in range(200):
        parts, style = template(rng)
        if allowed is None or style in allowed:
            break
    else:
        raise ValueError(f"no {label!r} drawn in styles {allowed}; known: {STYLES[label]}")
    hand = {"bow": rng.uniform(0.0, 0.08), "twice": rng.choice([0.0, 0.6], p=[0.85, 0.15]),
            "modes": [0.6, 0.25, 0.15]}
    strokes = [s for kind, v, closed in parts
               for s in _hand_part(kind, np.asarray(v, float), closed, rng, hand)]

    # the whole drawing: rotation, slant, aspect, then into the canvas at a random size and place
    angle = rng.uniform(-180, 180) if rng.random() < any_rotation else rng.normal(0, spread / 2)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    shear = rng.normal(0, 0.1)
    ax = math.exp(rng.normal(0, aspect))
    m = np.array([[c, -s], [s, c]]) @ np.array([[ax, shear], [0, 1 / ax]])
    strokes = [st @ m.T for st in strokes]
    lo = np.min([st.min(0) for st in strokes], axis=0)
    hi = np.max([st.max(0) for st in strokes], axis=0)
    side = rng.uniform(0.3, 0.92) * canvas
    brush = float(min(rng.uniform(4, 36) * canvas / CANVAS, thickest * side))
    scale = (side - brush) / max(hi - lo)
    size = hi - lo
    free = canvas - size * scale - brush
    origin = brush / 2 + rng.uniform(0, 1, 2) * np.maximum(free, 0) - lo * scale

    smooth = rng.choice([0, rng.uniform(0.5, 6.0)], p=[0.3, 0.7])  # corner rounding, pixels
    stretch = rng.choice([0.0, rng.uniform(0.05, 0.25)], p=[0.6, 0.4])
    tremor = rng.uniform(0.0, 0.012)
    out = []
    for st in strokes:
        px = _resample(st * scale + origin, max(STEP, brush / 4))  # denser adds no ink
        if len(px) > 2:
            if stretch:
                px = _stretch(px, stretch, rng)
            px = _tremor(px, 1 / (scale + 1e-9), rng, tremor * scale)
            px = _smooth(px, smooth / STEP)
        out.append(px)
    # the stretch and tremor can push a stroke out a little: bring the drawing back inside
    lo = np.min([p.min(0) for p in out], axis=0) - brush / 2
    hi = np.max([p.max(0) for p in out], axis=0) + brush / 2
    k = min(1.0, canvas / max(hi - lo))
    shift = np.clip(-lo * k, 0, None) - np.clip(hi * k - canvas, 0, None)
    out = [np.clip(p * k + shift, brush / 2, canvas - brush / 2) for p in out]
    return out, brush, style


def render(strokes: list[np.ndarray], brush: float, canvas: int = CANVAS) -> np.ndarray:
    """Rasterise strokes like the page's canvas (round brush, no anti-aliasing).

    The same pixels as preprocess.render_strokes, computed by a kernel that visits only each
    segment's neighbourhood. Shapes: -> (canvas, canvas) uint8, 0 background, 255 ink.
    """
    pts = np.concatenate(strokes).astype(np.float32)
    ends = np.cumsum([len(s) for s in strokes]).astype(np.int64)
    return kernels.render_polylines(pts, ends, canvas, canvas, np.float32(brush))


def sample(label: str, rng: np.random.Generator, styles: dict | None = None) -> np.ndarray:
    """One drawing of `label`, rendered and normalised: uint8 (28, 28) like an MNIST image."""
    strokes, brush, _ = draw(label, rng, styles=styles)
    x = preprocess.to_mnist(render(strokes, brush))
    return np.rint(x * 255).astype(np.uint8)


def _make_chunk(lo, hi, seed, classes, styles):
    images = np.empty((hi - lo, 28, 28), dtype=np.uint8)
    for i in range(lo, hi):
        images[i - lo] = sample(classes[i % len(classes)], np.random.default_rng([seed, i]), styles)
    return images


def make_set(n: int, seed: int, classes=CLASSES, styles: dict | None = None,
             workers: int | None = None):
    """n drawings, the classes in turn (balanced), sample i drawn from default_rng([seed, i]).

    workers: processes to draw in (parallel.draw_in_chunks: up to 2 forked ones for n >= 2,000,
    else 1); the result does not depend on it. Returns images uint8 (n, 28, 28) and labels
    uint8 (n,) indexing `classes`.
    """
    classes = tuple(classes)
    unknown = [c for c in classes if c not in TEMPLATES]
    if unknown or not classes:
        raise ValueError(f"unknown shape classes {unknown}; expected some of {list(CLASSES)}")
    if n < 1:
        raise ValueError(f"expected n >= 1 drawings, got {n}")
    labels = (np.arange(n) % len(classes)).astype(np.uint8)
    from .parallel import draw_in_chunks

    return np.concatenate(draw_in_chunks(_make_chunk, n, seed, classes, styles,
                                         workers=workers)), labels


def cache_dir() -> Path:
    """Where generated sets are kept (data.cache_dir: e.g. ~/.cache/scratchcnn/shapes)."""
    from . import data

    return data.cache_dir("shapes")


def load_shapes(split: str, n: int | None = None, styles: dict | None = None, cache: bool = True):
    """A split of the generated set: "train" (60,000 by default), "val" or "test" (6,000 each).

    The splits come from different seeds, so no drawing is in two of them. With cache, a set is
    kept in cache_dir() under a name that hashes the generator's source (shapes.py, the
    renderer and preprocess.py), so an edited generator never serves a stale set.
    Shapes: -> images uint8 (N, 28, 28), labels uint8 (N,) indexing CLASSES.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    n = n if n is not None else (60000 if split == "train" else 6000)
    seed = 1000 + SPLITS[split]
    if not cache:
        return make_set(n, seed, CLASSES, styles)
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(json.dumps(styles, sort_keys=True).encode())
    for name in ("shapes.py", "kernels.py", "preprocess.py"):
        digest.update((here / name).read_bytes())
    path = cache_dir() / f"{split}-{n}-{digest.hexdigest()[:12]}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            return npz["images"], npz["labels"]
    images, labels = make_set(n, seed, CLASSES, styles)
    save_npz(path, {"images": images, "labels": labels})
    return images, labels


def grid(per_class: int = 8, seed: int = 0, canvas_view: bool = False) -> np.ndarray:
    """A figure: one row per class, `per_class` samples each, for a person to look at.

    canvas_view=False shows the 28x28 inputs (scaled 3x); True shows the 280x280 drawings at
    84 px. Shapes: -> uint8 (rows * cell, per_class * cell) with cell = 86, 1 px white lines.
    """
    cell = 84
    rows = []
    for k, label in enumerate(CLASSES):
        row = []
        for j in range(per_class):
            rng = np.random.default_rng([seed, k, j])
            if canvas_view:
                strokes, brush, _ = draw(label, rng)
                img = preprocess.area_resize(render(strokes, brush).astype(np.float32), cell, cell)
            else:
                img = np.kron(sample(label, rng).astype(np.float32), np.ones((3, 3), np.float32))
            row.append(np.pad(img.astype(np.uint8), 1, constant_values=255))
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)
