"""The generated hand-drawn shapes: every class, reproducible, inside the canvas, MNIST-shaped."""

import numpy as np
import pytest

from scratchcnn import kernels, shapes
from scratchcnn.fileio import save_png
from scratchcnn.preprocess import render_strokes


def test_the_twelve_classes_are_there_spelled_as_the_issue_spells_them():
    assert shapes.CLASSES == ("circle", "triangle", "square", "diamond", "hexagon", "star",
                              "heart", "arrow", "plus", "moon", "lightning", "smiley face")
    assert set(shapes.STYLES) == set(shapes.CLASSES)


@pytest.mark.parametrize("label", shapes.CLASSES)
def test_every_class_draws_strokes_inside_the_canvas_with_the_brush(label):
    for seed in range(30):
        strokes, brush, style = shapes.draw(label, np.random.default_rng(seed))
        assert style in shapes.STYLES[label]
        assert 1 <= brush <= 36
        pts = np.concatenate(strokes)
        assert pts.ndim == 2 and pts.shape[1] == 2 and pts.dtype == np.float64
        assert pts.min() >= brush / 2 - 1e-9 and pts.max() <= shapes.CANVAS - brush / 2 + 1e-9
        # drawn at a size people draw at: at least a third of the canvas, never a speck
        assert (pts.max(0) - pts.min(0)).max() + brush >= 0.25 * shapes.CANVAS


@pytest.mark.parametrize("label", shapes.CLASSES)
def test_every_style_of_every_class_can_be_drawn(label):
    for style in shapes.STYLES[label]:
        rng = np.random.default_rng(0)
        assert shapes.draw(label, rng, styles={label: [style]})[2] == style


def test_unknown_class_and_style_are_value_errors():
    with pytest.raises(ValueError, match="unknown shape class 'cat'"):
        shapes.draw("cat", np.random.default_rng(0))
    with pytest.raises(ValueError, match="no 'star' drawn in styles"):
        shapes.draw("star", np.random.default_rng(0), styles={"star": ["comet"]})
    with pytest.raises(ValueError, match="unknown shape classes"):
        shapes.make_set(5, 0, classes=["circle", "blob"])


def test_a_set_is_reproducible_balanced_and_shaped_like_mnist():
    images, labels = shapes.make_set(48, seed=7)
    again, labels2 = shapes.make_set(48, seed=7)
    other, _ = shapes.make_set(48, seed=8)
    assert images.shape == (48, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (48,) and labels.dtype == np.uint8
    assert np.array_equal(images, again) and np.array_equal(labels, labels2)
    assert not np.array_equal(images, other)
    assert np.bincount(labels, minlength=12).tolist() == [4] * 12
    # normalised like MNIST by to_mnist: ink reaches full brightness, inside the 28x28 field
    assert (images.reshape(48, -1).max(axis=1) == 255).all()
    w = images.astype(np.float64)
    com_y = (w.sum(axis=2) @ np.arange(28)) / w.sum(axis=(1, 2))
    com_x = (w.sum(axis=1) @ np.arange(28)) / w.sum(axis=(1, 2))
    assert np.abs(com_y - 14).max() < 1.0 and np.abs(com_x - 14).max() < 1.0


def test_sample_i_does_not_depend_on_how_the_set_is_split_into_workers():
    a, _ = shapes.make_set(40, seed=3, workers=1)
    b, _ = shapes.make_set(40, seed=3, workers=2)
    assert np.array_equal(a, b)


def test_rendered_drawing_is_canvas_sized_uint8_ink():
    strokes, brush, _ = shapes.draw("star", np.random.default_rng(1))
    img = shapes.render(strokes, brush)
    assert img.shape == (shapes.CANVAS, shapes.CANVAS) and img.dtype == np.uint8
    assert set(np.unique(img)) == {0, 255}


@pytest.mark.parametrize("label", ["heart", "arrow", "smiley face"])
def test_the_fast_renderer_paints_the_pixels_of_render_strokes(label):
    strokes, brush, _ = shapes.draw(label, np.random.default_rng(5))
    strokes = strokes + [strokes[0][:1]]  # and a one-point stroke: a dot
    expected = render_strokes([s.tolist() for s in strokes], shapes.CANVAS, shapes.CANVAS, brush)
    got = shapes.render(strokes, brush)
    # float32 arithmetic in both; a pixel centre exactly on the brush edge may round either way
    assert (got != expected).sum() <= 2, f"{(got != expected).sum()} pixels differ"
    assert kernels.render_polylines.__doc__.startswith("Rasterise pen strokes")


def test_grid_figure_shows_every_class_as_a_row(tmp_path):
    img = shapes.grid(per_class=3)
    assert img.shape == (12 * 86, 3 * 86) and img.dtype == np.uint8
    path = tmp_path / "grid.png"
    save_png(path, img)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert int.from_bytes(data[16:20], "big") == 3 * 86


def test_load_shapes_splits_differ_and_are_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(shapes, "cache_dir", lambda: tmp_path)
    train, _ = shapes.load_shapes("train", 24)
    test, _ = shapes.load_shapes("test", 24)
    assert not np.array_equal(train, test)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    again, _ = shapes.load_shapes("train", 24)  # read back from the cache
    assert np.array_equal(train, again)
    with pytest.raises(ValueError, match="split must be one of"):
        shapes.load_shapes("holdout", 5)
