"""Hand-drawn digits as strokes, for preprocessing, API and browser tests.

Each digit is a list of strokes; a stroke is a list of (x, y) points in a unit box (x to the
right, y down), drawn the way a person would with a mouse. `place` maps them into a canvas.
"""

import math

import numpy as np

from scratchcnn.preprocess import render_strokes


def _arc(cx, cy, rx, ry, start_deg, end_deg, n=24):
    """Points on an ellipse from start to end angle (degrees, 0 = right, 90 = down)."""
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in np.linspace(start_deg, end_deg, n)
    ]


DIGITS = {
    0: [_arc(0.5, 0.5, 0.32, 0.45, -90, 275, 40)],
    1: [[(0.5, 0.04), (0.47, 0.5), (0.44, 0.96)]],
    2: [_arc(0.5, 0.3, 0.3, 0.25, 190, 380, 20) + [(0.2, 0.95), (0.85, 0.95)]],
    3: [_arc(0.48, 0.27, 0.3, 0.22, 200, 450, 20) + _arc(0.48, 0.72, 0.33, 0.24, 270, 520, 20)[1:]],
    4: [[(0.6, 0.04), (0.14, 0.64), (0.86, 0.64)], [(0.64, 0.3), (0.64, 0.96)]],
    5: [[(0.8, 0.05), (0.3, 0.05), (0.25, 0.45)] + _arc(0.5, 0.68, 0.32, 0.27, 230, 485, 20)],
    6: [[(0.72, 0.05), (0.45, 0.2), (0.28, 0.45)] + _arc(0.5, 0.7, 0.25, 0.24, 180, 540, 28)],
    7: [[(0.12, 0.06), (0.88, 0.06), (0.38, 0.96)]],
    8: [_arc(0.5, 0.27, 0.25, 0.22, 90, 450, 24)[::-1] + _arc(0.5, 0.72, 0.3, 0.25, -90, 270, 28)],
    9: [_arc(0.5, 0.3, 0.28, 0.24, 0, 360, 28), [(0.78, 0.3), (0.72, 0.96)]],
}


def place(strokes, left: float, top: float, size: float):
    """Map unit-box strokes into a size x size box at (left, top), in pixel coordinates."""
    return [[(left + x * size, top + y * size) for x, y in stroke] for stroke in strokes]


def drawing(
    digit: int, canvas: int = 280, left: float = 40, top: float = 40, size: float = 200, brush: float = 18
) -> np.ndarray:
    """A canvas x canvas uint8 drawing of `digit`. Shapes: -> (canvas, canvas)"""
    return render_strokes(place(DIGITS[digit], left, top, size), canvas, canvas, brush)
