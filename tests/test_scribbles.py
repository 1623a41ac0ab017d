"""Scribbles (the outliers of the unknown answer) and the Fashion-MNIST reader."""

import numpy as np
import pytest

from scratchcnn import data, scribbles
from scratchcnn.preprocess import render_strokes, too_little_ink


def test_every_style_draws_inside_the_canvas_and_renders_like_mnist():
    for style in scribbles.STYLES:
        strokes, brush = scribbles.draw(style, np.random.default_rng([3, 1]))
        assert 8 <= brush <= 32
        for s in strokes:
            assert s.ndim == 2 and s.shape[1] == 2
            assert s.min() >= 0 and s.max() <= scribbles.CANVAS - 1, style
        img = scribbles.sample(style, np.random.default_rng([3, 1]))
        assert img.shape == (28, 28) and img.dtype == np.uint8
        assert img.max() == 255, style  # normalised like the training data: full ink somewhere


def test_a_set_is_reproducible_and_cycles_its_styles():
    a, names = scribbles.make_set(12, seed=4)
    b, _ = scribbles.make_set(12, seed=4)
    c, _ = scribbles.make_set(12, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert names[:6] == list(scribbles.TRAIN_STYLES) and names[6:] == names[:6]
    held, held_names = scribbles.make_set(5, seed=4, styles=scribbles.HELD_OUT_STYLES)
    assert held_names == list(scribbles.HELD_OUT_STYLES)
    assert not set(scribbles.HELD_OUT_STYLES) & set(scribbles.TRAIN_STYLES)


def test_the_sets_styles_differ():
    """Not every style draws the same thing: mean images of two styles are far apart."""
    imgs, names = scribbles.make_set(60, seed=6, styles=("taps", "hatch"))
    taps = imgs[[n == "taps" for n in names]].mean(axis=0)
    hatch = imgs[[n == "hatch" for n in names]].mean(axis=0)
    assert hatch.mean() > 2 * taps.mean()


def test_dashes_are_never_near_vertical_and_have_enough_ink():
    for i in range(40):
        (line,), brush = scribbles.draw("dash", np.random.default_rng([7, i]))
        dx, dy = np.abs(line[-1] - line[0])
        assert dy <= np.tan(np.radians(61)) * dx + 8  # 30+ degrees from vertical (plus tremor)
        assert too_little_ink(render_strokes([line.tolist()], 280, 280, brush)) is None


def test_bad_style_is_refused():
    with pytest.raises(ValueError, match="unknown scribble style"):
        scribbles.draw("doodle", np.random.default_rng(0))
    with pytest.raises(ValueError, match="styles among"):
        scribbles.make_set(3, 0, styles=("doodle",))


def test_fashion_mnist_reader():
    try:
        images, labels = data.load_fashion_mnist("test")
    except FileNotFoundError as e:
        pytest.skip(f"{e}")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    assert len(data.FASHION_CLASSES) == 10


def test_fashion_mnist_missing_names_the_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.load_fashion_mnist("test", tmp_path)
