"""Generated scribbles: drawings that are no digit and no shape, for the unknown answer.

A person testing a digit reader draws, sooner or later, something that is none of its classes:
a scribble, a zig-zag, some hatching, a spiral, a few taps, a dash. These are the outliers
outlier exposure trains against (Hendrycks, Mazeika & Dietterich, ICLR 2019) and the ones the
unknown answer is measured on. Each style is a pen path made of a few random choices, then a
hand's tremor (a little smooth noise along the path), drawn with a round brush on the page's
280x280 canvas (shapes.render, the pixels of preprocess.render_strokes) and normalised by the same
`preprocess.to_mnist` the server applies to the page.

Two families of styles, so that a measurement never uses what training saw:

- TRAIN_STYLES: walk (a wandering line), zigzag, hatch (parallel strokes), spiral, taps (a
  few dots far apart), dash (a short line, never near-vertical: a vertical dash is a 1);
- HELD_OUT_STYLES: crosshatch, loops (a row of cursive loops), wave (sine lines), scrawl
  (back-and-forth colouring-in), burst (lines from a centre), and the training styles drawn
  from other seeds are held out too.

Everything is seeded: sample i of a set is drawn from default_rng([seed, i]).
Shapes: strokes are lists of (n, 2) float arrays of canvas pixels (x right, y down); a set is
uint8 (N, 28, 28), as MNIST stores its images.
"""

from __future__ import annotations

import math

import numpy as np

from . import preprocess
from .shapes import render

CANVAS = 280  # the page's canvas side

__all__ = ["TRAIN_STYLES", "HELD_OUT_STYLES", "STYLES", "draw", "sample", "make_set"]


def _turn(a: float) -> np.ndarray:
    return np.array([math.cos(a), math.sin(a)])


def _walk(rng):
    """One or two wandering lines: a heading that turns by a smooth random amount per step."""
    strokes = []
    for _ in range(int(rng.integers(1, 3))):
        n = int(rng.integers(60, 140))
        turn = np.cumsum(rng.normal(0, 0.35, n)) * rng.uniform(0.3, 1.0)
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(turn) * 0.25
        steps = np.stack([np.cos(heading), np.sin(heading)], axis=1) * rng.uniform(0.02, 0.05)
        strokes.append(np.cumsum(steps, axis=0))
    return strokes


def _zigzag(rng):
    """A line of sharp teeth: points alternately above and below a straight axis."""
    teeth = int(rng.integers(3, 10))
    along = np.linspace(-1, 1, teeth + 1) + rng.normal(0, 0.03, teeth + 1)
    side = np.where(np.arange(teeth + 1) % 2 == 0, -1.0, 1.0) * rng.uniform(0.15, 0.6)
    side = side * rng.uniform(0.7, 1.3, teeth + 1)
    return [_rotate(np.stack([along, side], axis=1), rng.uniform(0, np.pi))]


def _hatch(rng, angle=None):
    """Parallel strokes across a box, each drawn on its own, some back and forth in one stroke."""
    count = int(rng.integers(3, 9))
    angle = rng.uniform(0, np.pi) if angle is None else angle
    offsets = np.linspace(-0.8, 0.8, count) + rng.normal(0, 0.04, count)
    half = rng.uniform(0.5, 1.0, count)
    lines = [np.array([[-h, o], [h, o + rng.normal(0, 0.05)]]) for o, h in zip(offsets, half)]
    if rng.random() < 0.4:  # one stroke, back and forth
        path = [line if k % 2 == 0 else line[::-1] for k, line in enumerate(lines)]
        return [_rotate(np.concatenate(path), angle)]
    return [_rotate(line, angle) for line in lines]


def _spiral(rng):
    """An Archimedean spiral: r grows linearly with the angle, 1.5 to 4 turns."""
    turns = rng.uniform(1.5, 4.0)
    t = np.linspace(0, 2 * np.pi * turns, int(40 * turns))
    r = (t / t[-1]) * rng.uniform(0.6, 1.0)
    direction = rng.choice([-1.0, 1.0])
    pts = np.stack([r * np.cos(direction * t), r * np.sin(direction * t)], axis=1)
    return [_rotate(pts * [1, rng.uniform(0.6, 1.0)], rng.uniform(0, 2 * np.pi))]


def _taps(rng):
    """A few taps far apart: one-point strokes, dots where the pen touched."""
    count = int(rng.integers(2, 7))
    return [rng.uniform(-1, 1, (1, 2)) for _ in range(count)]


def _dash(rng):
    """A short straight line, at least 30 degrees away from vertical (a vertical one is a 1)."""
    angle = rng.uniform(-np.pi / 3, np.pi / 3)
    length = rng.uniform(0.3, 1.0)
    return [np.array([[-length, 0.0], [length, 0.0]]) @ _rotation(angle).T]


def _crosshatch(rng):
    a = rng.uniform(0, np.pi)
    return _hatch(rng, a) + _hatch(rng, a + rng.uniform(np.pi / 4, 3 * np.pi / 4))


def _loops(rng):
    """A row of cursive loops, like a child's "eeee": a circle travelling sideways."""
    loops = rng.uniform(2.5, 6)
    t = np.linspace(0, 2 * np.pi * loops, int(36 * loops))
    r = rng.uniform(0.15, 0.35)
    pts = np.stack([np.linspace(-1, 1, t.size) + r * np.sin(t), -r * np.cos(t)], axis=1)
    return [_rotate(pts, rng.uniform(-0.4, 0.4))]


def _wave(rng):
    """One to three sine lines, one above the other."""
    count = int(rng.integers(1, 4))
    freq, amp = rng.uniform(1.5, 4), rng.uniform(0.1, 0.35)
    x = np.linspace(-1, 1, 80)
    phase = rng.uniform(0, 2 * np.pi)
    return [_rotate(np.stack([x, amp * np.sin(2 * np.pi * freq * x / 2 + phase) + o], axis=1),
                    rng.uniform(-0.5, 0.5)) for o in np.linspace(-0.5, 0.5, count)]


def _scrawl(rng):
    """Colouring-in: fast back-and-forth strokes that drift across a blob."""
    n = int(rng.integers(8, 25))
    drift = np.linspace(-0.8, 0.8, n)
    swing = np.where(np.arange(n) % 2 == 0, -1.0, 1.0) * rng.uniform(0.4, 0.9, n)
    pts = np.stack([swing, drift + rng.normal(0, 0.05, n)], axis=1)
    return [_smooth_path(_rotate(pts, rng.uniform(0, np.pi)), 6)]


def _burst(rng):
    """Lines from near one centre outwards, each its own stroke."""
    count = int(rng.integers(5, 10))  # four would be a plus
    angles = np.sort(rng.uniform(0, 2 * np.pi, count))
    centre = rng.normal(0, 0.1, 2)
    return [np.stack([centre + _turn(a) * rng.uniform(0, 0.15), centre + _turn(a) * rng.uniform(0.5, 1)])
            for a in angles]


TRAIN_STYLES = {"walk": _walk, "zigzag": _zigzag, "hatch": _hatch, "spiral": _spiral,
                "taps": _taps, "dash": _dash}
HELD_OUT_STYLES = {"crosshatch": _crosshatch, "loops": _loops, "wave": _wave, "scrawl": _scrawl,
                   "burst": _burst}
STYLES = {**TRAIN_STYLES, **HELD_OUT_STYLES}


def _rotation(a: float) -> np.ndarray:
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def _rotate(pts: np.ndarray, a: float) -> np.ndarray:
    return pts @ _rotation(a).T


def _smooth_path(pts: np.ndarray, per_segment: int) -> np.ndarray:
    """Round the corners of a polyline: resample it, then average each point with its neighbours."""
    t = np.linspace(0, len(pts) - 1, (len(pts) - 1) * per_segment + 1)
    fine = np.stack([np.interp(t, np.arange(len(pts)), pts[:, d]) for d in (0, 1)], axis=1)
    kernel = np.ones(per_segment) / per_segment
    padded = np.pad(fine, ((per_segment // 2, per_segment - 1 - per_segment // 2), (0, 0)), mode="edge")
    return np.stack([np.convolve(padded[:, d], kernel, mode="valid") for d in (0, 1)], axis=1)


def _densify(pts: np.ndarray, step: float) -> np.ndarray:
    """Points every `step` canvas pixels along the path (so a tremor bends straight lines too)."""
    if len(pts) < 2:
        return pts
    seg = np.hypot(*np.diff(pts, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(2, int(s[-1] / step) + 1)
    u = np.linspace(0, s[-1], n)
    return np.stack([np.interp(u, s, pts[:, d]) for d in (0, 1)], axis=1)


def draw(style: str, rng: np.random.Generator, canvas: int = CANVAS):
    """One scribble of `style` as pen strokes on the canvas: (strokes, brush).

    The path is made in a box of about [-1, 1]^2, then scaled to 30-90% of the canvas, placed at
    random, given a hand's tremor (smooth noise of about 1% of its size) and a brush of 8-32 px.
    """
    if style not in STYLES:
        raise ValueError(f"unknown scribble style {style!r}; expected one of {sorted(STYLES)}")
    strokes = STYLES[style](rng)
    size = rng.uniform(0.3, 0.9) * canvas
    brush = float(rng.uniform(8, 32))
    lo = np.min([s.min(axis=0) for s in strokes], axis=0)
    hi = np.max([s.max(axis=0) for s in strokes], axis=0)
    scale = size / max(float((hi - lo).max()), 1e-6)
    room = np.maximum(canvas - brush - (hi - lo) * scale, 0)
    origin = brush / 2 + rng.uniform(0, 1, 2) * room - lo * scale
    out = []
    for s in strokes:
        pts = _densify(s * scale + origin, 4.0)
        if len(pts) > 3:
            wobble = np.cumsum(rng.normal(0, 1, pts.shape), axis=0)
            wobble -= np.linspace(wobble[0], wobble[-1], len(pts))  # keep the ends in place
            pts = pts + wobble * (0.01 * size / math.sqrt(len(pts)))
        out.append(np.clip(pts, 0, canvas - 1))
    return out, brush


def sample(style: str, rng: np.random.Generator) -> np.ndarray:
    """One scribble rendered on the canvas and normalised: uint8 (28, 28) like an MNIST image."""
    strokes, brush = draw(style, rng)
    pixels = render(strokes, brush)  # shapes.render: render_strokes' pixels, by a kernel
    return np.rint(preprocess.to_mnist(pixels) * 255).astype(np.uint8)


def make_set(n: int, seed: int, styles=tuple(TRAIN_STYLES)) -> tuple[np.ndarray, list[str]]:
    """n scribbles, the styles in turn, sample i drawn from default_rng([seed, i]).

    Returns images uint8 (n, 28, 28) and the style of each.
    """
    styles = tuple(styles)
    unknown = [s for s in styles if s not in STYLES]
    if unknown or not styles or n < 1:
        raise ValueError(f"expected n >= 1 and styles among {sorted(STYLES)}, got n={n}, "
                         f"styles {list(styles)}")
    from .parallel import draw_in_chunks

    names = [styles[i % len(styles)] for i in range(n)]
    return np.concatenate(draw_in_chunks(_make_chunk, n, seed, styles)), names


def _make_chunk(lo: int, hi: int, seed: int, styles: tuple) -> np.ndarray:
    """make_set's samples lo..hi-1. Shapes: -> uint8 (hi - lo, 28, 28)"""
    return np.stack([sample(styles[i % len(styles)], np.random.default_rng([seed, i]))
                     for i in range(lo, hi)])
