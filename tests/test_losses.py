"""Softmax cross-entropy against a direct formula, for stability and by gradient check."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from scratchcnn import softmax_cross_entropy
from scratchcnn.gradcheck import numerical_gradient


def test_loss_matches_direct_log_sum_exp_formula():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, 6)
    direct = np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(6), y])
    loss, _ = softmax_cross_entropy(z, y)
    assert_allclose(loss, direct, rtol=1e-12)


def test_loss_is_stable_for_huge_logits():
    z = np.array([[1e4, 0.0, -1e4], [5e3, 5e3, 0.0]], dtype=np.float32)
    loss, dz = softmax_cross_entropy(z, np.array([0, 2]))
    assert np.isfinite(loss) and np.isfinite(dz).all()
    assert_allclose(loss, (0 + 5e3 + np.log(2)) / 2, rtol=1e-6)
    assert dz.dtype == np.float32


def test_gradient_matches_numeric():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((5, 7))
    y = rng.integers(0, 7, 5)
    _, dz = softmax_cross_entropy(z, y)
    numeric = numerical_gradient(lambda: softmax_cross_entropy(z, y)[0], z)
    assert_allclose(dz, numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(
    "z, y, message",
    [
        (np.zeros(3), np.zeros(3, int), r"\(N, K\)"),
        (np.zeros((3, 2)), np.zeros(2, int), r"labels must be integers of shape \(3,\)"),
        (np.zeros((3, 2)), np.zeros(3), "integers"),
        (np.zeros((3, 2)), np.array([0, 1, 2]), r"\[0, 2\)"),
    ],
)
def test_rejects_bad_shapes_and_labels(z, y, message):
    with pytest.raises(ValueError, match=message):
        softmax_cross_entropy(z, y)


def test_uniform_cross_entropy_matches_formula_and_numeric_gradient():
    from scratchcnn.losses import uniform_cross_entropy

    rng = np.random.default_rng(2)
    z = rng.standard_normal((5, 4))
    loss, dz = uniform_cross_entropy(z)
    direct = np.mean(np.log(np.exp(z).sum(axis=1)) - z.mean(axis=1))
    assert_allclose(loss, direct, rtol=1e-12)
    numeric = numerical_gradient(lambda: uniform_cross_entropy(z)[0], z)
    assert_allclose(dz, numeric, rtol=1e-5, atol=1e-9)
    # equal logits are the minimum: log K, and no gradient
    loss, dz = uniform_cross_entropy(np.full((2, 4), 3.0, dtype=np.float32))
    assert_allclose(loss, np.log(4), rtol=1e-6)
    assert dz.dtype == np.float32 and np.abs(dz).max() < 1e-7
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        uniform_cross_entropy(np.zeros(3))
