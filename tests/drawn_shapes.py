"""Shapes drawn as point lists, the way a person draws them with a mouse: a held-out set.

Written apart from scratchcnn/shapes.py and on purpose differently: a few key points per
stroke as one would click them, curves through Catmull-Rom splines, a smooth warp of the whole
plane instead of a tremor along the path, and the reference renderer (preprocess.render_strokes).
The shapes model never trains on these; tests and the closing measurement read them through
/api/predict. Points are in a unit box (x right, y down); `place` maps them into a canvas.
"""

import math

import numpy as np

from scratchcnn.preprocess import render_strokes


def arc(cx, cy, rx, ry, a0, a1, n=20):
    """Points on an ellipse from angle a0 to a1 in degrees (0 = right, 90 = down)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(a0, a1, n)]


def _star(inner, top=-90.0):
    pts = [(0.5 + (0.5 if k % 2 == 0 else 0.5 * inner) * math.cos(math.radians(top + 36 * k)),
            0.5 + (0.5 if k % 2 == 0 else 0.5 * inner) * math.sin(math.radians(top + 36 * k)))
           for k in range(11)]
    return [pts]


def _hexagon(phase):
    return [[(0.5 + 0.5 * math.cos(math.radians(phase + 60 * k)),
              0.5 + 0.5 * math.sin(math.radians(phase + 60 * k))) for k in range(7)]]


# Each class: a few ways a person draws it (a list of strokes per way).
DRAWN = {
    "circle": [
        [arc(0.5, 0.5, 0.5, 0.5, -90, 280, 14)],  # clicked round from the top
        [arc(0.5, 0.5, 0.5, 0.42, 0, 370, 24)],  # wide, past the start
        [arc(0.5, 0.5, 0.45, 0.5, 100, 280, 10), arc(0.5, 0.5, 0.45, 0.5, 265, 455, 10)],
    ],
    "triangle": [
        [[(0.05, 0.95), (0.5, 0.05), (0.95, 0.95), (0.03, 0.93)]],
        [[(0.5, 0.0), (0.0, 0.9)], [(0.0, 0.92), (1.0, 0.92)], [(1.0, 0.95), (0.48, 0.02)]],
        [[(0.35, 0.05), (1.0, 0.85), (0.0, 0.95), (0.33, 0.1)]],
    ],
    "square": [
        [[(0.0, 0.0), (1.0, 0.02), (0.98, 1.0), (0.02, 0.98), (0.0, -0.03)]],
        [[(0.0, 0.0), (1.0, 0.0)], [(1.0, 0.0), (1.0, 1.0)], [(1.0, 1.0), (0.0, 1.0)],
         [(0.0, 1.0), (0.0, 0.0)]],
        [[(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0)], [(-0.03, 0.02), (1.04, 0.0)]],
        [[(0.1, 0.0), (0.9, 0.0), (1.0, 0.1), (1.0, 0.9), (0.9, 1.0), (0.1, 1.0), (0.0, 0.9),
          (0.0, 0.1), (0.12, 0.0)]],
    ],
    "diamond": [
        [[(0.5, 0.0), (1.0, 0.5), (0.5, 1.0), (0.0, 0.5), (0.52, -0.02)]],
        [[(0.5, 0.0), (0.85, 0.5), (0.5, 1.0), (0.15, 0.5), (0.5, 0.0)]],  # taller than wide
        [[(0.5, 0.0), (0.0, 0.5), (0.5, 1.0)], [(0.5, 0.0), (1.0, 0.5), (0.5, 1.0)]],
        [[(0.25, 0.1), (0.75, 0.1), (1.0, 0.35), (0.5, 1.0), (0.0, 0.35), (0.25, 0.1)],
         [(0.0, 0.35), (1.0, 0.35)]],  # a gem
    ],
    "hexagon": [
        _hexagon(0.0),
        _hexagon(-90.0),
        [[p, q] for p, q in zip(_hexagon(30.0)[0][:-1], _hexagon(30.0)[0][1:])],
    ],
    "star": [
        [[(0.2, 1.0), (0.5, 0.0), (0.8, 1.0), (0.0, 0.38), (1.0, 0.38), (0.2, 1.0)]],
        _star(0.4),
        _star(0.55, -95.0),
    ],
    "heart": [
        [[(0.5, 0.3)] + arc(0.27, 0.28, 0.25, 0.22, -20, -200, 10)[1:] + [(0.5, 1.0)],
         [(0.5, 0.3)] + arc(0.73, 0.28, 0.25, 0.22, 200, 380, 10)[1:] + [(0.5, 1.0)]],
        [arc(0.27, 0.3, 0.25, 0.25, 0, -180, 10) + [(0.5, 1.0)]
         + arc(0.73, 0.3, 0.25, 0.25, 0, -180, 10)],
        [[(0.5, 0.25), (0.3, 0.0), (0.05, 0.1), (0.0, 0.4), (0.5, 1.0), (1.0, 0.4), (0.95, 0.1),
          (0.7, 0.0), (0.5, 0.25)]],
    ],
    "arrow": [
        [[(0.0, 0.5), (1.0, 0.5)], [(0.7, 0.25), (1.0, 0.5), (0.7, 0.75)]],
        [[(0.5, 1.0), (0.5, 0.0)], [(0.2, 0.3), (0.5, 0.0), (0.8, 0.3)]],
        [[(0.0, 1.0), (1.0, 0.0), (0.55, 0.05), (1.0, 0.0), (0.95, 0.45)]],
        [[(1.0, 0.5), (0.0, 0.52)], [(0.3, 0.2), (0.0, 0.52)], [(0.0, 0.52), (0.28, 0.8)]],
    ],
    "plus": [
        [[(0.5, 0.0), (0.5, 1.0)], [(0.0, 0.5), (1.0, 0.5)]],
        [[(0.05, 0.45), (0.95, 0.5)], [(0.55, 0.05), (0.5, 0.95)]],
        [[(0.35, 0.0), (0.65, 0.0), (0.65, 0.35), (1.0, 0.35), (1.0, 0.65), (0.65, 0.65),
          (0.65, 1.0), (0.35, 1.0), (0.35, 0.65), (0.0, 0.65), (0.0, 0.35), (0.35, 0.35),
          (0.35, 0.0)]],
    ],
    "moon": [
        [arc(0.5, 0.5, 0.5, 0.5, -60, -300, 16) + arc(0.75, 0.5, 0.42, 0.45, 235, 125, 10)[1:]],
        [arc(0.5, 0.5, 0.5, 0.5, 240, 480, 16) + arc(0.22, 0.5, 0.42, 0.45, 55, -55, 10)[1:]],
        [arc(0.5, 0.5, 0.5, 0.5, -80, -280, 14), arc(0.62, 0.5, 0.4, 0.5, 260, 100, 10)],
    ],
    "lightning": [
        [[(0.7, 0.0), (0.25, 0.45), (0.75, 0.55), (0.3, 1.0)]],
        [[(0.55, 0.0), (0.1, 0.55), (0.5, 0.55), (0.3, 1.0), (0.9, 0.4), (0.5, 0.4), (0.8, 0.0),
          (0.55, 0.0)]],
        [[(0.8, 0.0), (0.2, 0.35), (0.8, 0.6), (0.3, 1.0)], [(0.3, 0.8), (0.3, 1.0), (0.5, 0.95)]],
    ],
    "smiley face": [
        [arc(0.5, 0.5, 0.5, 0.5, -90, 270, 20), [(0.33, 0.35)], [(0.67, 0.35)],
         arc(0.5, 0.5, 0.3, 0.28, 20, 160, 8)],
        [arc(0.5, 0.5, 0.48, 0.5, 180, 545, 20), [(0.35, 0.28), (0.35, 0.42)],
         [(0.65, 0.28), (0.65, 0.42)], [(0.2, 0.6), (0.5, 0.78), (0.8, 0.6)]],
        [arc(0.5, 0.6, 0.3, 0.2, 10, 170, 8), arc(0.5, 0.5, 0.5, 0.5, 0, 360, 20),
         arc(0.33, 0.33, 0.06, 0.07, 0, 360, 8), arc(0.67, 0.33, 0.06, 0.07, 0, 360, 8)],
    ],
}
CLASSES = tuple(DRAWN)


def _spline(points, step=4.0):
    """Catmull-Rom through the clicked points, sampled about every `step` pixels."""
    p = np.asarray(points, dtype=np.float64)
    if len(p) < 3:
        n = max(2, int(np.hypot(*(p[-1] - p[0])) / step) + 1)
        t = np.linspace(0, 1, n)[:, None]
        return p[0] * (1 - t) + p[-1] * t
    ext = np.vstack([p[:1], p, p[-1:]])
    out = []
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        n = max(2, int(np.hypot(*(p2 - p1)) / step) + 1)
        t = np.linspace(0, 1, n, endpoint=False)[:, None]
        # a low tension (0.2) keeps clicked corners nearly sharp
        m1, m2 = 0.2 * (p2 - p0), 0.2 * (p3 - p1)
        out.append((2 * t**3 - 3 * t**2 + 1) * p1 + (t**3 - 2 * t**2 + t) * m1
                   + (-2 * t**3 + 3 * t**2) * p2 + (t**3 - t**2) * m2)
    out.append(p[-1:])
    return np.vstack(out)


def place(strokes, left, top, width, height):
    return [[(left + x * width, top + y * height) for x, y in s] for s in strokes]


def person_drawing(label: str, way: int, rng: np.random.Generator, canvas: int = 280,
                   strokes=None):
    """(strokes in canvas pixels, brush): way `way` of DRAWN[label] (or the unit-box `strokes`
    given), placed and warped at random."""
    strokes = DRAWN[label][way] if strokes is None else strokes
    brush = float(rng.choice([6, 10, 14, 18, 24, 30]))
    side = rng.uniform(110, canvas - 2 * brush - 4)
    aspect = math.exp(rng.normal(0, 0.1))
    w, h = side * min(1, aspect), side * min(1, 1 / aspect)
    brush = min(brush, 0.12 * side)
    left = rng.uniform(brush, canvas - w - brush)
    top = rng.uniform(brush, canvas - h - brush)
    a = math.radians(rng.normal(0, 5))
    c, s = math.cos(a), math.sin(a)
    waves = [(rng.normal(0, 0.02, 2), rng.uniform(0, 2 * np.pi), rng.uniform(2, 6)) for _ in range(3)]
    out = []
    for stroke in place(strokes, left, top, w, h):
        pts = _spline(stroke)
        centre = np.array([left + w / 2, top + h / 2])
        pts = (pts - centre) @ np.array([[c, -s], [s, c]]).T + centre
        for amp, phase, freq in waves:  # a smooth warp of the plane: the hand is not a ruler
            arg = freq * (pts[:, ::-1] - centre[::-1]) / side + phase
            pts = pts + amp * side * np.sin(arg)
        out.append(np.clip(pts, brush / 2, canvas - brush / 2).tolist())
    return out, brush


def held_out_set(per_way: int = 10, seed: int = 12345, canvas: int = 280):
    """Every way of every class `per_way` times: (drawings (N, canvas, canvas) uint8, labels, ways)."""
    rng = np.random.default_rng(seed)
    drawings, labels, ways = [], [], []
    for label in CLASSES:
        for way in range(len(DRAWN[label])):
            for _ in range(per_way):
                strokes, brush = person_drawing(label, way, rng, canvas)
                drawings.append(render_strokes(strokes, canvas, canvas, brush))
                labels.append(label)
                ways.append(way)
    return np.stack(drawings), labels, ways
