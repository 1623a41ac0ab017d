"""explain.py: unknown scores, AUROC, calibration, saliency and the class model."""

import itertools

import numpy as np
import pytest

from scratchcnn import explain
from scratchcnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, Normalize, ReLU
from scratchcnn.losses import softmax
from scratchcnn.model import Sequential, load_model


def small_model(dtype="float64", seed=0, side=10, impl="fast") -> Sequential:
    """Every layer kind of the shipped model, on a 10x10 input so a numeric gradient is quick."""
    rng = np.random.default_rng(seed)
    return Sequential([
        Normalize(0.13, 0.31), Conv2D(1, 3, 3, padding=1, impl=impl, dtype=dtype, rng=rng), ReLU(),
        MaxPool2D(2, impl=impl), Flatten(), Dense(3 * (side // 2) ** 2, 6, dtype=dtype, rng=rng),
        ReLU(), Dropout(0.3, seed=1), Dense(6, 4, dtype=dtype, rng=rng),
    ], input_shape=(1, side, side))


def test_unknown_scores_match_their_formulas():
    z = np.array([[0.0, np.log(3.0)], [5.0, 5.0], [-2.0, 1.0]])
    np.testing.assert_allclose(explain.unknown_score(z, "msp"),
                               [0.75, 0.5, np.exp(1) / (np.exp(-2) + np.exp(1))])
    np.testing.assert_allclose(explain.unknown_score(z, "energy"), np.log(np.exp(z).sum(axis=1)))
    # large logits: the stable form does not overflow
    big = np.array([[1000.0, 1000.0]])
    np.testing.assert_allclose(explain.unknown_score(big, "energy"), [1000 + np.log(2)])
    np.testing.assert_allclose(explain.logsumexp(z, 2.0), 2 * np.log(np.exp(z / 2).sum(axis=1)))


def test_unknown_score_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        explain.unknown_score(np.zeros(3))
    with pytest.raises(ValueError, match="method"):
        explain.unknown_score(np.zeros((2, 3)), "entropy")


def test_auroc_matches_all_pairs():
    rng = np.random.default_rng(0)
    inside = np.round(rng.normal(1, 1, 40), 1)  # rounded: ties between the sets occur
    outside = np.round(rng.normal(0, 1, 30), 1)
    pairs = [(a > b) + 0.5 * (a == b) for a, b in itertools.product(inside, outside)]
    assert explain.auroc(inside, outside) == pytest.approx(np.mean(pairs))
    assert explain.auroc([2, 3], [0, 1]) == 1.0
    assert explain.auroc([0, 1], [2, 3]) == 0.0
    assert explain.auroc([1, 1], [1]) == 0.5
    with pytest.raises(ValueError, match="both sides"):
        explain.auroc([], [1.0])


def test_calibrated_threshold_refuses_at_most_the_share_and_no_less_than_it_could():
    rng = np.random.default_rng(1)
    scores = rng.uniform(size=1000)
    for refuse in (0.0, 0.01, 0.05, 0.5):
        t = explain.calibrate_threshold(scores, refuse)
        refused = np.sum(scores < t)
        assert refused <= refuse * len(scores)
        # the next larger score as threshold would refuse more than allowed
        higher = np.sort(scores)[scores < t].size + 1
        assert higher > refuse * len(scores)
    with pytest.raises(ValueError, match="refuse"):
        explain.calibrate_threshold(scores, 1.0)


def test_threshold_round_trips_through_save_and_load(tmp_path):
    model = small_model("float32")
    x = np.random.default_rng(2).uniform(size=(50, 1, 10, 10)).astype(np.float32)
    model.unknown = explain.calibrate(model, x, "energy", refuse=0.1, source="random test images")
    assert model.unknown["refused"] <= 0.1
    path = tmp_path / "m.npz"
    model.save(path)
    again = load_model(path)
    assert again.unknown == model.unknown
    logits = again.forward(x)
    np.testing.assert_array_equal(explain.is_unknown(logits, again.unknown),
                                  explain.is_unknown(model.forward(x), model.unknown))
    assert explain.is_unknown(logits, again.unknown).mean() == pytest.approx(again.unknown["refused"])
    # a model file without the entry has none
    model.unknown = None
    model.save(path)
    assert load_model(path).unknown is None
    assert not explain.is_unknown(logits, None).any()


def test_a_broken_unknown_entry_is_refused_on_load():
    config = small_model().config()
    config["unknown"] = {"method": "msp", "threshold": "high"}
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        Sequential.from_config(config)
    config["unknown"] = {"method": "odin", "threshold": 0.5}
    with pytest.raises(ValueError, match="method must be one of"):
        Sequential.from_config(config)


@pytest.mark.parametrize("impl", ["fast", "naive"])
def test_saliency_matches_central_differences(impl):
    model = small_model("float64", seed=3, impl=impl)
    rng = np.random.default_rng(4)
    x = rng.uniform(0.05, 0.95, size=(2, 1, 10, 10))
    sal, classes = explain.saliency(model, x)
    np.testing.assert_array_equal(classes, model.forward(x).argmax(axis=1))
    assert sal.shape == (2, 10, 10) and sal.dtype == np.float64
    h = 1e-6
    numeric = np.zeros_like(sal)
    for n in range(2):
        for i, j in itertools.product(range(10), range(10)):
            xp, xm = x[n : n + 1].copy(), x[n : n + 1].copy()
            xp[0, 0, i, j] += h
            xm[0, 0, i, j] -= h
            zp, zm = model.forward(xp)[0, classes[n]], model.forward(xm)[0, classes[n]]
            numeric[n, i, j] = (zp - zm) / (2 * h)
    err = np.max(np.abs(sal - numeric) / np.maximum(1e-8, np.abs(sal) + np.abs(numeric)))
    np.testing.assert_allclose(sal, numeric, rtol=1e-5, atol=1e-7, err_msg=f"max rel err {err:.2e}")
    assert np.abs(sal).max() > 0


def test_saliency_of_a_chosen_class_and_a_bad_shape():
    model = small_model("float64")
    x = np.random.default_rng(5).uniform(size=(3, 1, 10, 10))
    sal, classes = explain.saliency(model, x, classes=2)
    assert list(classes) == [2, 2, 2]
    other, _ = explain.saliency(model, x, classes=1)
    assert not np.allclose(sal, other)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        explain.saliency(model, x[:, 0])


def test_class_model_raises_its_class_logit():
    """What the ascent optimises: z_k(x) - l2 ||x||^2 rises for every class of a random model
    (its probabilities need not: the other logits may rise too, Simonyan et al. maximise the
    unnormalised score on purpose)."""
    model = small_model("float32", seed=6)
    start = explain.blob(10, 10)
    before = model.forward(np.repeat(start[None, None], 4, axis=0))
    x = explain.class_model(model, steps=60, start=start, blur=0, l2=0.1)
    assert x.shape == (4, 10, 10) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    after = model.forward(x[:, None])
    penalty = 0.1 * (x**2).sum(axis=(1, 2)) - 0.1 * (start**2).sum()
    assert np.all(np.diag(after) - penalty > np.diag(before) + 0.5), (np.diag(before), np.diag(after))


def test_class_model_of_the_shipped_digits_reads_as_its_digit():
    """On the trained model, each class model, started from its class's mean drawing, raises its
    class probability above the start's and above 0.9."""
    from scratchcnn.outliers import class_means
    from scratchcnn.zoo import find_weights

    model = load_model(find_weights())
    start = class_means("digits", model.classes if hasattr(model, "classes") else
                        [str(k) for k in range(10)])
    before = softmax(model.forward(start[:, None]))
    x = explain.class_model(model, steps=60, start=start)
    after = softmax(model.forward(x[:, None]))
    assert np.all(np.diag(after) > 0.9), np.diag(after)
    assert np.all(np.diag(after) > np.diag(before)), (np.diag(before), np.diag(after))
