"""scratchcnn.preprocess: MNIST-style normalisation of drawings."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from digits import DIGITS, drawing
from scratchcnn.model import load_model
from scratchcnn.preprocess import (
    area_resize,
    has_ink,
    ink_measure,
    render_strokes,
    to_mnist,
    too_little_ink,
)
from scratchcnn.zoo import find_weights


@pytest.fixture(scope="module")
def shipped_model():
    return load_model(find_weights())  # the shipped weights (or $SCRATCHCNN_WEIGHTS)


def _predict(model, drawings) -> list[int]:
    x = np.stack([to_mnist(d) for d in drawings])[:, None]  # (N, 1, 28, 28)
    return model.predict(x).tolist()


def _com(x):
    """Centre of mass (row, col) in pixel index coordinates."""
    m = x.sum()
    return (x.sum(axis=1) @ np.arange(x.shape[0])) / m, (x.sum(axis=0) @ np.arange(x.shape[1])) / m


def _bbox(x):
    rows, cols = np.flatnonzero(x.any(axis=1)), np.flatnonzero(x.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_area_resize_known_answer_averages_blocks():
    img = np.arange(16, dtype=np.float64).reshape(4, 4)
    expected = np.array([[2.5, 4.5], [10.5, 12.5]])  # the mean of each 2x2 block
    np.testing.assert_allclose(area_resize(img, 2, 2), expected)


@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    oh=st.integers(1, 30),
    ow=st.integers(1, 30),
    seed=st.integers(0, 2**31 - 1),
)
def test_area_resize_preserves_mean_intensity(h, w, oh, ow, seed):
    img = np.random.default_rng(seed).random((h, w))
    out = area_resize(img, oh, ow)
    assert out.shape == (oh, ow) and out.dtype == img.dtype
    # each output pixel averages the area it covers, so the image mean is unchanged
    np.testing.assert_allclose(out.mean(), img.mean(), rtol=1e-10)
    assert out.min() >= img.min() - 1e-12 and out.max() <= img.max() + 1e-12


def test_render_strokes_known_answer_round_brush():
    dot = render_strokes([[(2.5, 2.5)]], 5, 5, brush=2.4)
    expected = np.zeros((5, 5), dtype=np.uint8)
    expected[1:4, 2] = expected[2, 1:4] = 255  # pixel centres within 1.2 of (2.5, 2.5)
    np.testing.assert_array_equal(dot, expected)


def test_to_mnist_blank_drawing_gives_zero_field():
    blank = np.zeros((280, 280), dtype=np.uint8)
    x = to_mnist(blank)
    assert not has_ink(blank)
    assert x.shape == (28, 28) and x.dtype == np.float32 and not x.any()


@pytest.mark.parametrize("digit", sorted(DIGITS))
def test_to_mnist_matches_mnist_statistics(digit):
    x = to_mnist(drawing(digit))
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == pytest.approx(1.0)
    # the longer side is 20 px, plus one when the sub-pixel shift spreads it over a 21st
    assert max(_bbox(x)) in (20, 21), "the longer side of the digit should be 20 px"
    cy, cx = _com(x)
    rows = np.flatnonzero(x.any(axis=1))
    assert abs(cx - 14) < 0.05
    # a lopsided digit (a 7 is heavy at the top) is kept inside the field instead
    assert abs(cy - 14) < 0.05 or rows[-1] == 27


def test_to_mnist_keeps_aspect_ratio():
    tall = np.zeros((300, 200), dtype=np.uint8)
    tall[50:250, 90:140] = 255  # 200 x 50 bar
    rows, cols = _bbox(to_mnist(tall))
    assert rows in (20, 21) and cols in (5, 6)  # 200 x 50 -> 20 x 5, plus a sub-pixel shift
    rows, cols = _bbox(to_mnist(np.ascontiguousarray(tall.T)))
    assert rows in (5, 6) and cols in (20, 21)


@given(cx=st.floats(40, 240), cy=st.floats(40, 240), r=st.floats(5, 38), brush=st.floats(2, 30))
def test_to_mnist_centres_symmetric_shapes(cx, cy, r, brush):
    ring = render_strokes(
        [[(cx + r * np.cos(t), cy + r * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 30)]], 280, 280, brush
    )
    x = to_mnist(ring)
    com = _com(x)
    assert abs(com[0] - 14) < 0.05 and abs(com[1] - 14) < 0.05, f"centre of mass {com}"


@pytest.mark.parametrize("digit", sorted(DIGITS))
def test_small_in_corner_and_large_in_middle_give_nearly_the_same_input(digit):
    # one canvas, the same digit as a scaled copy: 60 px in the top-left corner, 300 px centred
    small = drawing(digit, canvas=400, left=8, top=8, size=60, brush=6)
    large = drawing(digit, canvas=400, left=50, top=50, size=300, brush=30)
    a, b = to_mnist(small), to_mnist(large)
    assert np.abs(a - b).mean() < 0.03, f"mean abs difference {np.abs(a - b).mean():.3f}"
    assert np.abs(a - b).max() < 0.25


def test_small_in_corner_and_large_in_middle_get_the_same_prediction(shipped_model):
    digits = sorted(DIGITS)
    small = [drawing(d, canvas=400, left=8, top=8, size=60, brush=6) for d in digits]
    large = [drawing(d, canvas=400, left=50, top=50, size=300, brush=30) for d in digits]
    assert _predict(shipped_model, small) == digits
    assert _predict(shipped_model, large) == digits


@pytest.mark.parametrize("brush", [4, 10, 40])
def test_thin_and_thick_strokes_are_recognised(shipped_model, brush):
    digits = sorted(DIGITS)
    assert _predict(shipped_model, [drawing(d, size=200, brush=brush) for d in digits]) == digits


def test_thin_and_thick_strokes_fill_the_same_box():
    thin, thick = to_mnist(drawing(7, brush=3)), to_mnist(drawing(7, brush=40))
    assert max(_bbox(thin)) in (20, 21) and max(_bbox(thick)) in (20, 21)
    assert thin.max() == pytest.approx(1.0) and thick.max() == pytest.approx(1.0)
    assert thin.sum() < thick.sum()  # thickness survives: it is information, not noise


def test_to_mnist_rejects_wrong_dtype_and_rank():
    with pytest.raises(ValueError, match="2-D uint8"):
        to_mnist(np.zeros((28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="2-D uint8"):
        to_mnist(np.zeros((2, 28, 28), dtype=np.uint8))


def _render_slow(strokes, height, width, brush):
    """The rasterisation rule written plainly: every pixel against every segment (float32)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    ink = np.zeros((height, width), dtype=bool)
    for stroke in strokes:
        pts = np.asarray(stroke, dtype=np.float32).reshape(-1, 2)
        pts = np.vstack([pts, pts]) if len(pts) == 1 else pts
        for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
            dx, dy = x1 - x0, y1 - y0
            seg2 = dx * dx + dy * dy
            t = np.zeros_like(xx) if seg2 == 0 else ((xx - x0) * dx + (yy - y0) * dy) / seg2
            t = np.clip(t, 0.0, 1.0)
            ink |= (xx - x0 - t * dx) ** 2 + (yy - y0 - t * dy) ** 2 <= (brush / 2.0) ** 2
    return ink


@given(st.integers(0, 2**31 - 1))
def test_render_strokes_matches_every_pixel_against_every_segment(seed):
    """Drawing each segment only inside its box grown by the brush radius changes no pixel
    (strokes reaching outside the canvas included)."""
    rng = np.random.default_rng(seed)
    strokes = [rng.uniform(-30, 110, (int(rng.integers(1, 6)), 2)).tolist()
               for _ in range(int(rng.integers(1, 4)))]
    brush = float(rng.uniform(1, 30))
    got = render_strokes(strokes, 60, 80, brush) > 0
    want = _render_slow(strokes, 60, 80, brush)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("brush", [6, 18, 40])
def test_a_tap_or_a_dot_is_too_little_ink(brush):
    tap = render_strokes([[(140, 140)]], 280, 280, brush)
    assert too_little_ink(tap) is not None
    dash = render_strokes([[(140, 140), (140 + brush / 2, 141)]], 280, 280, brush)
    assert too_little_ink(dash) is not None
    speck = render_strokes([[(10, 10), (25, 18)]], 280, 280, 4)  # 19 px long: under 1/12 of 280
    assert "1/12 of the canvas" in too_little_ink(speck)


@pytest.mark.parametrize("digit", range(10))
def test_digits_large_small_thin_and_thick_have_enough_ink(digit):
    for kwargs in ({}, {"size": 50, "brush": 8}, {"size": 120, "brush": 40}):
        assert too_little_ink(drawing(digit, **kwargs)) is None, kwargs
    assert too_little_ink(np.zeros((280, 280), np.uint8)) is None  # nothing at all: not this case


def test_ink_measure_of_a_straight_stroke_gives_its_length_and_width():
    bar = np.zeros((100, 200), np.uint8)
    bar[40:50, 20:180] = 255  # 160 x 10
    m = ink_measure(bar)
    assert m["extent"] == 160 and m["area"] == 1600 and m["canvas"] == 100
    assert m["width"] == pytest.approx(2 * 1600 / (2 * 160 + 2 * 8))
