"""Outlier sets, drawn digits and outlier exposure in training."""

import numpy as np
import pytest

from scratchcnn import explain, outliers
from scratchcnn.gradcheck import numerical_gradient
from scratchcnn.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU
from scratchcnn.losses import softmax, softmax_cross_entropy, uniform_cross_entropy
from scratchcnn.model import Sequential
from scratchcnn.optim import Adam
from scratchcnn.train import OutlierExposure, fit


def test_drawn_digits_are_reproducible_balanced_and_mnist_like():
    a, labels = outliers.drawn_digits(20, seed=9)
    b, _ = outliers.drawn_digits(20, seed=9)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (20, 28, 28) and a.dtype == np.uint8
    assert list(labels) == list(range(10)) * 2
    assert (a.reshape(20, -1).max(axis=1) == 255).all()
    _, some = outliers.drawn_digits(9, seed=9, digits=range(1, 10))
    assert 0 not in some


def test_drawn_digits_read_right_by_the_shipped_model():
    """The generator draws digits: the shipped model reads at least 90% of them."""
    from scratchcnn.data import to_input
    from scratchcnn.model import load_model
    from scratchcnn.zoo import find_weights

    images, labels = outliers.drawn_digits(100, seed=11)
    model = load_model(find_weights())
    assert np.mean(model.predict(to_input(images)) == labels) >= 0.9


def test_outlier_set_names_its_kinds_and_refuses_wrong_ones():
    images, names = outliers.outlier_set("digits", "scribbles", 7, held_out=True)
    assert images.shape == (7, 28, 28) and len(names) == 7
    assert all(n.startswith("scribbles:") for n in names)
    held = {n.split(":")[1] for n in names}
    train = {n.split(":")[1] for n in outliers.outlier_set("digits", "scribbles", 7)[1]}
    assert not held & train  # held-out styles are not training styles
    with pytest.raises(ValueError, match="outliers of the digits model"):
        outliers.outlier_set("digits", "digits", 4)
    with pytest.raises(ValueError, match="reads must be"):
        outliers.outlier_set("letters", "scribbles", 4)


def test_outlier_exposure_gradient_is_the_combined_loss_gradient():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((7, 4))  # 4 in-distribution rows, 3 outliers
    y = rng.integers(0, 4, 4)
    oe = OutlierExposure(np.zeros((1, 28, 28), np.uint8), weight=0.7)

    def loss():
        return (softmax_cross_entropy(logits[:4], y)[0]
                + 0.7 * uniform_cross_entropy(logits[4:])[0])

    _, d_in = softmax_cross_entropy(logits[:4], y)
    np.testing.assert_allclose(oe.gradient(logits, d_in), numerical_gradient(loss, logits),
                               rtol=1e-5, atol=1e-9)


def _bars(n, rng):
    """Class 0: a horizontal bar, class 1: a vertical one, anywhere in the field."""
    images = np.zeros((n, 28, 28), np.uint8)
    labels = (np.arange(n) % 2).astype(np.uint8)
    for i, k in enumerate(labels):
        a, b = rng.integers(4, 20, 2)
        if k == 0:
            images[i, a : a + 3, b - 4 : b + 8] = 255
        else:
            images[i, a - 4 : a + 8, b : b + 3] = 255
    return images, labels


def _tiny(seed):
    rng = np.random.default_rng(seed)
    return Sequential([Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(4), Flatten(),
                       Dense(196, 2, rng=rng)])


def test_outlier_exposure_lowers_confidence_on_outliers_and_keeps_the_classes():
    rng = np.random.default_rng(1)
    train, test = _bars(256, rng), _bars(64, rng)
    noise = (rng.random((256, 28, 28)) < 0.3).astype(np.uint8) * 255  # speckle: neither bar
    held_noise = (rng.random((64, 28, 28)) < 0.3).astype(np.uint8) * 255
    confidence = {}
    for use in (False, True):
        model = _tiny(2)
        fit(model, Adam(model, 3e-2), train, epochs=8, lr=3e-2, batch_size=32, seed=0, augment=None,
            outliers=OutlierExposure(noise) if use else None)
        x_test = test[0][:, None] / np.float32(255)
        assert np.mean(model.forward(x_test).argmax(1) == test[1]) == 1.0
        p_out = softmax(model.forward(held_noise[:, None] / np.float32(255)))
        confidence[use] = p_out.max(axis=1).mean()
    assert confidence[True] < confidence[False] - 0.1, confidence  # measured: 0.66 and 0.87


def test_calibrated_entry_chooses_a_score_and_refuses_the_asked_share():
    from scratchcnn.model import load_model
    from scratchcnn.zoo import find_weights

    model = load_model(find_weights())
    val, _ = outliers.drawn_digits(200, seed=12)
    more, _ = outliers.drawn_digits(100, seed=13)
    entry = outliers.choose_and_calibrate(model, "digits", {"a": val, "b": more}, refuse=0.05)
    assert entry["method"] in explain.METHODS and entry["refused"] <= 0.05
    assert set(entry["refused_by_source"]) == {"a", "b"}
    assert max(entry["refused_by_source"].values()) <= 0.05
    assert set(entry["chosen_by"]["auroc_val_outliers"]) == set(explain.METHODS)
    aurocs = entry["chosen_by"]["auroc_val_outliers"]
    assert aurocs[entry["method"]] == max(aurocs.values())


def test_outlier_exposure_shuffles_outliers_into_every_piece_of_a_split_batch(monkeypatch):
    """Each thread's piece of a batch gets digits and outliers alike (batch norm normalises each
    piece with its own statistics), and every row's loss gradient follows it there and back."""
    from scratchcnn.parallel import DataParallel

    rng = np.random.default_rng(3)
    train = _bars(64, rng)
    noise = np.full((16, 28, 28), 7, np.uint8)  # outliers marked by their pixel value
    model = _tiny(2)
    seen = []
    forward = DataParallel.forward

    def spy(self, x, training=False):
        seen.append(np.round(x[:, 0, 0, 0] * 255).astype(int))
        return forward(self, x, training)

    monkeypatch.setattr(DataParallel, "forward", spy)
    fit(model, Adam(model, 1e-3), train, epochs=1, lr=1e-3, batch_size=32, seed=0, augment=None,
        outliers=OutlierExposure(noise))
    for x in seen[:2]:  # the training steps (then validation-free: no more forwards)
        first, second = x[: len(x) // 2], x[len(x) // 2:]
        assert 0 < (first == 7).sum() < len(first) and 0 < (second == 7).sum() < len(second)
