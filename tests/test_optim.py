"""Optimisers: one or two steps against updates computed by hand."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from scratchcnn import SGD, Adam, Dense, Sequential


def one_param_model(w, g):
    """A model with a single 1x2 weight whose gradient is g (bias gradient 0)."""
    layer = Dense(1, 2, dtype=np.float64)
    layer.params["W"][...] = w
    layer.grads["W"] = np.array([g], dtype=np.float64)
    layer.grads["b"] = np.zeros(2)
    return Sequential([layer], input_shape=(1,)), layer


def test_sgd_plain_step():
    model, layer = one_param_model([1.0, 2.0], [0.5, -1.0])
    SGD(model, lr=0.1).step()
    assert_allclose(layer.params["W"], [[0.95, 2.1]])


def test_sgd_momentum_two_steps():
    model, layer = one_param_model([1.0, 2.0], [1.0, 1.0])
    opt = SGD(model, lr=0.1, momentum=0.9)
    opt.step()  # v = g = 1;        w -= 0.1
    opt.step()  # v = 0.9 + 1 = 1.9; w -= 0.19
    assert_allclose(layer.params["W"], [[1 - 0.29, 2 - 0.29]])


def test_sgd_nesterov_and_weight_decay():
    model, layer = one_param_model([1.0, -2.0], [0.0, 0.0])
    opt = SGD(model, lr=0.1, momentum=0.5, weight_decay=0.1, nesterov=True)
    opt.step()  # g = 0.1*w; v = g; step = g + 0.5*v = 1.5*g
    assert_allclose(layer.params["W"], [[1 - 0.015, -2 + 0.03]])


def test_adam_first_step_moves_each_weight_by_lr():
    model, layer = one_param_model([1.0, 2.0], [0.3, -4.0])
    Adam(model, lr=0.01).step()  # bias-corrected m/sqrt(v) = sign(g) on the first step
    assert_allclose(layer.params["W"], [[0.99, 2.01]], rtol=1e-6)


def test_zero_grad_and_state_dict_round_trip():
    model, layer = one_param_model([1.0, 2.0], [1.0, 1.0])
    opt = Adam(model, lr=0.01)
    opt.step()
    state = opt.state_dict()
    other = Adam(model, lr=0.01)
    other.load_state_dict(state)
    assert other.steps == 1 and set(other.state) == set(opt.state)
    opt.zero_grad()
    assert not layer.grads["W"].any()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda m: SGD(m, lr=0), "lr"),
        (lambda m: SGD(m, lr=0.1, momentum=1.0), "momentum"),
        (lambda m: SGD(m, lr=0.1, nesterov=True), "nesterov"),
        (lambda m: Adam(m, betas=(0.9, 1.0)), "betas"),
        (lambda m: Adam(m, weight_decay=-1), "weight_decay"),
    ],
)
def test_rejects_bad_hyperparameters(make, message):
    model, _ = one_param_model([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(ValueError, match=message):
        make(model)
