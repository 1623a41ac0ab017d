"""Layers: known answers, naive vs fast, gradient checks, properties and input validation."""

import copy

import numpy as np
import pytest
from conftest import away_from_zero, bn_cases, conv_cases, dense_cases, pool_cases, tie_free
from hypothesis import example, given
from numpy.testing import assert_allclose, assert_array_equal

from scratchcnn import (BatchNorm1D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D,
                        Normalize, ReLU, SGD, Sequential, fast, kernels, reference)
from scratchcnn.gradcheck import layer_gradients, relative_error
from scratchcnn.layers import LAYERS

TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-12)}


def make_conv(case, impl="fast", dtype=np.float64):
    rng = np.random.default_rng(case["seed"])
    layer = Conv2D(case["C"], case["F"], case["kernel"], case["stride"], case["pad"], impl, dtype, rng)
    layer.params["b"][...] = rng.standard_normal(case["F"])  # non-zero bias, so db is tested
    x = rng.standard_normal((case["N"], case["C"], case["H"], case["W"])).astype(dtype)
    return layer, x


def assert_gradients_match(layer, x, training=False):
    analytic, numeric = layer_gradients(layer, x, training=training)
    for name in numeric:
        err = relative_error(analytic[name], numeric[name])
        assert_allclose(analytic[name], numeric[name], rtol=1e-5, atol=1e-7,
                        err_msg=f"d{name}: max relative error {err:.2e}")


def fast_and_naive(layer):
    naive = copy.deepcopy(layer)
    naive.impl = "naive"
    return layer, naive


# ---- known answers, computed by hand -------------------------------------------------------

X33 = np.arange(1, 10, dtype=np.float64).reshape(1, 1, 3, 3)  # [[1 2 3] [4 5 6] [7 8 9]]


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_conv_known_answer_is_cross_correlation(impl):
    layer = Conv2D(1, 1, 2, impl=impl, dtype=np.float64)
    layer.params["W"][...] = [[[[1, 2], [3, 4]]]]
    layer.params["b"][...] = 1
    # y00 = 1*1 + 2*2 + 4*3 + 5*4 + 1 = 38 (a flipped kernel would give 24)
    assert_array_equal(layer.forward(X33), [[[[38, 48], [68, 78]]]])


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_conv_known_answer_symmetric_zero_padding_and_stride(impl):
    layer = Conv2D(1, 1, 3, stride=2, padding=1, impl=impl, dtype=np.float64)
    layer.params["W"][...] = 1
    # padded 5x5, windows at rows/cols {0, 2}: sums of the 2x2 corner blocks of X33
    assert_array_equal(layer.forward(X33), [[[[12, 16], [24, 28]]]])


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_conv_output_size_rounds_down(impl):
    layer = Conv2D(1, 2, 3, stride=2, impl=impl, dtype=np.float64)
    assert layer.forward(np.zeros((1, 1, 4, 6))).shape == (1, 2, 1, 2)
    assert reference.output_size(4, 3, 2, 0) == 1


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_conv_known_gradients(impl):
    layer = Conv2D(1, 1, 2, impl=impl, dtype=np.float64)
    layer.params["W"][...] = [[[[1, 2], [3, 4]]]]
    layer.forward(X33)
    dx = layer.backward(np.ones((1, 1, 2, 2)))
    assert_array_equal(layer.grads["W"], [[[[12, 16], [24, 28]]]])  # sum of each shifted window
    assert_array_equal(layer.grads["b"], [4])
    assert_array_equal(dx, [[[[1, 3, 2], [4, 10, 6], [3, 7, 4]]]])  # kernel stamped at 4 places


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_maxpool_known_answer_and_first_max_wins_ties(impl):
    x = np.array([[[[1, 5, 2, 2], [3, 4, 2, 2], [0, 0, 9, 8], [7, 0, 8, 9]]]], dtype=np.float64)
    layer = MaxPool2D(2, impl=impl)
    assert_array_equal(layer.forward(x), [[[[5, 2], [7, 9]]]])
    dx = layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    # the all-2 window and the 9-9 window send their gradient to their first maximum only
    assert_array_equal(dx, [[[[0, 1, 2, 0], [0, 0, 0, 0], [0, 0, 4, 0], [3, 0, 0, 0]]]])


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_maxpool_overlapping_windows_add_gradients(impl):
    x = np.zeros((1, 1, 3, 5))
    x[0, 0, 1, 2] = 1.0  # the centre column is in both 3x3 windows of stride 2
    layer = MaxPool2D(3, stride=2, impl=impl)
    assert_array_equal(layer.forward(x), [[[[1, 1]]]])
    assert layer.backward(np.ones((1, 1, 1, 2)))[0, 0, 1, 2] == 2


def test_dense_relu_flatten_known_answers():
    dense = Dense(2, 3, dtype=np.float64)
    dense.params["W"][...] = [[1, 2, 3], [4, 5, 6]]
    dense.params["b"][...] = 1
    assert_array_equal(dense.forward(np.array([[1.0, 2.0]])), [[10, 13, 16]])
    relu = ReLU()
    assert_array_equal(relu.forward(np.array([[-1.0, 0.0, 2.0]])), [[0, 0, 2]])
    assert_array_equal(relu.backward(np.array([[5.0, 5.0, 5.0]])), [[0, 0, 5]])
    assert Flatten().forward(np.zeros((2, 3, 4, 5))).shape == (2, 60)


# ---- naive vs fast ---------------------------------------------------------------------------


@given(conv_cases())
@example(dict(N=1, C=1, F=1, kernel=(1, 1), stride=(1, 1), pad=(0, 0), H=1, W=1, seed=0))  # 1x1
@example(dict(N=2, C=2, F=3, kernel=(5, 5), stride=(1, 1), pad=(2, 2), H=1, W=1, seed=1))  # K = padded
@example(dict(N=1, C=2, F=2, kernel=(2, 1), stride=(3, 3), pad=(0, 1), H=8, W=7, seed=2))  # S > K
def test_im2col_kernel_equals_reference_exactly(case):
    _, x = make_conv(case)
    conv = Conv2D(case["C"], case["F"], case["kernel"], case["stride"], case["pad"])
    OH, OW = conv.output_hw(case["H"], case["W"])
    args = (*case["kernel"], *case["stride"], *case["pad"], OH, OW)
    assert_array_equal(kernels.im2col(x, *args), reference.im2col(x, *args))


@given(conv_cases())
def test_col2im_kernel_matches_reference_and_is_adjoint_of_im2col(case):
    _, x = make_conv(case)
    N, C, H, W = x.shape
    conv = Conv2D(C, 1, case["kernel"], case["stride"], case["pad"])
    OH, OW = conv.output_hw(H, W)
    args = (*case["kernel"], *case["stride"], *case["pad"], OH, OW)
    cols = np.random.default_rng(case["seed"] + 1).standard_normal((C * np.prod(case["kernel"]), N * OH * OW))
    back = kernels.col2im(cols, N, C, H, W, *args)
    assert_allclose(back, reference.col2im(cols, N, C, H, W, *args), rtol=1e-12, atol=1e-12)
    # <im2col(x), cols> == <x, col2im(cols)>
    assert_allclose(np.sum(kernels.im2col(x, *args) * cols), np.sum(x * back), rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(case=conv_cases())
@example(case=dict(N=2, C=2, F=3, kernel=(5, 5), stride=(1, 1), pad=(2, 2), H=1, W=1, seed=1))
@example(case=dict(N=1, C=2, F=2, kernel=(2, 1), stride=(3, 3), pad=(0, 1), H=8, W=7, seed=2))
def test_conv_fast_matches_naive_forward_and_backward(dtype, case):
    fast, x = make_conv(case, "fast", dtype)
    fast, naive = fast_and_naive(fast)
    y = fast.forward(x)
    assert_allclose(y, naive.forward(x), **TOL[dtype])
    dy = np.random.default_rng(case["seed"]).standard_normal(y.shape).astype(dtype)
    assert_allclose(fast.backward(dy), naive.backward(dy), **TOL[dtype])
    for k in ("W", "b"):
        assert_allclose(fast.grads[k], naive.grads[k], **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(case=pool_cases())
@example(case=dict(N=2, C=3, kernel=(2, 2), stride=(2, 2), H=7, W=6, seed=3))  # the 2x2 kernel
def test_maxpool_fast_equals_naive_exactly_even_with_ties(dtype, case):
    rng = np.random.default_rng(case["seed"])
    shape = (case["N"], case["C"], case["H"], case["W"])
    x = rng.integers(0, 3, shape).astype(dtype)  # few distinct values: many ties
    fast, naive = fast_and_naive(MaxPool2D(case["kernel"], case["stride"]))
    y = naive.forward(x)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = naive.backward(dy)
    assert np.count_nonzero(dx) <= dy.size  # each window's gradient went to one element only
    for training in (True, False):  # argmax recorded, or found again in backward
        assert_array_equal(fast.forward(x, training), y)
        assert_array_equal(fast.backward(dy), dx)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_both_conv_product_branches_and_pooling_match_naive_on_a_batch(dtype):
    rng = np.random.default_rng(7)
    for C, size in ((3, 16), (16, 8)):  # windows of 27 and 144: per-image and per-half products
        conv, naive_conv = fast_and_naive(Conv2D(C, 4, 3, padding=1, dtype=dtype, rng=rng))
        x = rng.standard_normal((16, C, size, size)).astype(dtype)
        y = conv.forward(x)
        assert_allclose(y, naive_conv.forward(x), **TOL[dtype])
        dy = rng.standard_normal(y.shape).astype(dtype)
        assert_allclose(conv.backward(dy), naive_conv.backward(dy), **TOL[dtype])
        for k in ("W", "b"):
            assert_allclose(conv.grads[k], naive_conv.grads[k], **TOL[dtype])
        assert conv.backward(dy, need_dx=False) is None  # a first layer's dx is skipped...
        assert_allclose(conv.grads["W"], naive_conv.grads["W"], **TOL[dtype])  # ...not its dW

    pool, naive_pool = fast_and_naive(MaxPool2D(2))
    x = rng.integers(0, 3, (16, 4, 32, 32)).astype(dtype)  # many ties
    y = pool.forward(x)
    assert_array_equal(y, naive_pool.forward(x))
    dy = rng.standard_normal(y.shape).astype(dtype)
    assert_array_equal(pool.backward(dy), naive_pool.backward(dy))
    relu = ReLU()
    assert_array_equal(relu.forward(x - 1), np.maximum(x - 1, 0))
    assert_array_equal(relu.backward(x), np.where(x > 1, x, 0))


# ---- gradient checks (float64, central differences) ------------------------------------------


@pytest.mark.parametrize("impl", ["naive", "fast"])
@given(case=conv_cases(max_batch=2, max_out=2))
def test_conv_backward_matches_numeric(impl, case):
    layer, x = make_conv(case, impl)
    assert_gradients_match(layer, x)


def test_conv_with_large_windows_backward_matches_numeric():
    # C*KH*KW = 144 >= 128: the fast path's one-product-per-half branch
    case = dict(N=2, C=16, F=2, kernel=(3, 3), stride=(1, 1), pad=(1, 1), H=3, W=3, seed=3)
    assert_gradients_match(*make_conv(case))


@pytest.mark.parametrize("impl", ["naive", "fast"])
@given(case=pool_cases(max_batch=2))
@example(case=dict(N=1, C=2, kernel=(2, 2), stride=(2, 2), H=5, W=4, seed=4))
def test_maxpool_backward_matches_numeric(impl, case):
    x = tie_free(np.random.default_rng(case["seed"]), (case["N"], case["C"], case["H"], case["W"]))
    assert_gradients_match(MaxPool2D(case["kernel"], case["stride"], impl), x)


@given(dense_cases())
def test_dense_backward_matches_numeric(case):
    rng = np.random.default_rng(case["seed"])
    layer = Dense(case["D"], case["M"], dtype=np.float64, rng=rng)
    layer.params["b"][...] = rng.standard_normal(case["M"])
    assert_gradients_match(layer, rng.standard_normal((case["N"], case["D"])))


@given(pool_cases())
def test_relu_flatten_normalize_backward_match_numeric(case):
    x = away_from_zero(np.random.default_rng(case["seed"]), (case["N"], case["C"], case["H"], case["W"]))
    for layer in (ReLU(), Flatten(), Normalize(0.5, 0.25)):
        assert_gradients_match(layer, x)


def test_dropout_backward_matches_numeric_in_training():
    x = np.random.default_rng(0).standard_normal((3, 2, 4, 4))
    assert_gradients_match(Dropout(0.5, seed=1), x, training=True)


# ---- properties -------------------------------------------------------------------------------

ALL_LAYERS = [
    lambda dt: (Conv2D(2, 3, 3, padding=1, dtype=dt, rng=0), (2, 2, 5, 5)),
    lambda dt: (Conv2D(2, 3, 3, padding=1, impl="naive", dtype=dt, rng=0), (2, 2, 5, 5)),
    lambda dt: (MaxPool2D(2), (2, 2, 5, 5)),
    lambda dt: (MaxPool2D(2, impl="naive"), (2, 2, 5, 5)),
    lambda dt: (ReLU(), (2, 2, 5, 5)),
    lambda dt: (Flatten(), (2, 2, 5, 5)),
    lambda dt: (Dense(6, 4, dtype=dt, rng=0), (2, 6)),
    lambda dt: (Dropout(0.3), (2, 2, 5, 5)),
    lambda dt: (Normalize(), (2, 2, 5, 5)),
    lambda dt: (BatchNorm2D(2, dtype=dt), (2, 2, 5, 5)),
    lambda dt: (BatchNorm2D(2, impl="naive", dtype=dt), (2, 2, 5, 5)),
    lambda dt: (BatchNorm1D(6, dtype=dt), (2, 6)),
    lambda dt: (BatchNorm1D(6, impl="naive", dtype=dt), (2, 6)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("build", ALL_LAYERS)
def test_layer_keeps_dtype_shapes_and_leaves_inputs_unchanged(build, dtype):
    layer, shape = build(dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    x_copy = x.copy()
    y = layer.forward(x, training=True)
    assert y.dtype == dtype
    dy = rng.standard_normal(y.shape).astype(dtype)
    dy_copy = dy.copy()
    dx = layer.backward(dy)
    assert dx.shape == x.shape and dx.dtype == dtype
    assert layer.params.keys() == layer.grads.keys()
    for k in layer.params:
        assert layer.grads[k].shape == layer.params[k].shape
        assert layer.grads[k].dtype == layer.params[k].dtype == dtype
    assert_array_equal(x, x_copy)
    assert_array_equal(dy, dy_copy)


@pytest.mark.parametrize("build", ALL_LAYERS)
def test_backward_before_forward_raises(build):
    layer, shape = build(np.float32)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros(shape, dtype=np.float32))


def test_dropout_is_identity_at_inference_and_keeps_the_mean_in_training():
    x = np.ones((200, 500), dtype=np.float32)
    layer = Dropout(0.25, seed=3)
    assert layer.forward(x) is x
    y = layer.forward(x, training=True)
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01
    assert abs(y.mean() - 1.0) < 0.02


def test_initialisation_is_reproducible_and_he_scaled():
    a, b = Conv2D(16, 32, 3, rng=7), Conv2D(16, 32, 3, rng=7)
    assert_array_equal(a.params["W"], b.params["W"])
    assert abs(a.params["W"].std() - np.sqrt(2 / (16 * 9))) < 0.01
    assert not a.params["b"].any()


# ---- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer, x, expected",
    [
        (Conv2D(3, 4, 3), np.zeros((2, 3, 8), np.float32), r"\(N, 3, H, W\).*got \(2, 3, 8\)"),
        (Conv2D(3, 4, 3), np.zeros((2, 1, 8, 8), np.float32), r"\(N, 3, H, W\).*got \(2, 1, 8, 8\)"),
        (Conv2D(3, 4, 3), np.zeros((2, 3, 8, 8), np.float64), r"float32.*got float64"),
        (Conv2D(3, 4, 3), np.zeros((2, 3, 8, 8), np.uint8), r"float32.*got uint8"),
        (Conv2D(1, 1, 5, padding=1), np.zeros((1, 1, 2, 9), np.float32),
         r"H \+ 2\*1 >= 5.*got \(1, 1, 2, 9\)"),
        (MaxPool2D(3), np.zeros((1, 1, 2, 9), np.float32), r"H >= 3.*got \(1, 1, 2, 9\)"),
        (MaxPool2D(2), np.zeros((1, 4, 4), np.float32), r"\(N, C, H, W\).*got \(1, 4, 4\)"),
        (Dense(10, 2), np.zeros((4, 9), np.float32), r"\(N, 10\).*got \(4, 9\)"),
        (ReLU(), [[1.0]], r"NumPy array"),
        (BatchNorm2D(3), np.zeros((2, 4, 5, 5), np.float32), r"\(N, 3, H, W\).*got \(2, 4, 5, 5\)"),
        (BatchNorm2D(3), np.zeros((2, 3), np.float32), r"\(N, 3, H, W\).*got \(2, 3\)"),
        (BatchNorm1D(3), np.zeros((2, 3, 1, 1), np.float32), r"\(N, 3\).*got \(2, 3, 1, 1\)"),
        (BatchNorm1D(3), np.zeros((2, 3), np.float64), r"float32.*got float64"),
    ],
)
def test_forward_rejects_bad_input_naming_expected_shape(layer, x, expected):
    with pytest.raises(ValueError, match=expected):
        layer.forward(x)


def test_backward_rejects_wrong_dy_shape():
    layer = Conv2D(1, 2, 3, rng=0)
    layer.forward(np.zeros((1, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"\(1, 2, 3, 3\)"):
        layer.backward(np.zeros((1, 2, 4, 4), np.float32))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Conv2D(0, 4, 3), "in_channels"),
        (lambda: Conv2D(1, 4, (3, 3, 3)), "kernel_size"),
        (lambda: Conv2D(1, 4, 3, stride=0), "stride"),
        (lambda: Conv2D(1, 4, 3, padding=-1), "padding"),
        (lambda: Conv2D(1, 4, 3, impl="gpu"), "impl"),
        (lambda: Conv2D(1, 4, 3, dtype="int32"), "dtype"),
        (lambda: MaxPool2D(0), "kernel_size"),
        (lambda: Dense(3, 0), "out_features"),
        (lambda: Dropout(1.0), "Dropout p"),
        (lambda: Normalize(0.0, 0.0), "std"),
        (lambda: BatchNorm2D(0), "num_features"),
        (lambda: BatchNorm2D(4, momentum=1.5), "momentum"),
        (lambda: BatchNorm1D(4, eps=0), "eps"),
        (lambda: BatchNorm1D(4, impl="gpu"), "impl"),
    ],
)
def test_constructor_rejects_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ---- batch norm ---------------------------------------------------------------------------------


def make_bn(case, impl="fast", dtype=np.float64, momentum=0.1):
    """A BatchNorm1D or 2D layer for case["shape"] with non-trivial gamma, beta and running
    statistics, and an input whose channels have different means and spreads."""
    shape = case["shape"]
    rng = np.random.default_rng(case["seed"])
    C = shape[1]
    layer = (BatchNorm1D if len(shape) == 2 else BatchNorm2D)(C, momentum, impl=impl, dtype=dtype)
    layer.params["gamma"][...] = rng.uniform(0.5, 2, C)
    layer.params["beta"][...] = rng.standard_normal(C)
    layer.buffers["running_mean"][...] = rng.standard_normal(C)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2, C)
    scale = rng.uniform(0.5, 3, C).reshape(1, C, *[1] * (len(shape) - 2))
    x = (rng.standard_normal(shape) * scale + scale).astype(dtype)
    return layer, x


def test_batchnorm_known_answer_training_then_inference():
    layer = BatchNorm1D(1, momentum=0.5, eps=3.0, dtype=np.float64)
    layer.params["gamma"][...], layer.params["beta"][...] = 2.0, 1.0
    x = np.array([[0.0], [2.0]])  # mean 1, biased variance 1: x_hat = (x - 1) / sqrt(1 + 3)
    assert_array_equal(layer.forward(x, training=True), [[0.0], [2.0]])  # 2 * -+0.5 + 1
    # running: 0.5 * 0 + 0.5 * 1; 0.5 * 1 + 0.5 * 2 (the unbiased variance, 1 * 2 / 1)
    assert_array_equal(layer.buffers["running_mean"], [0.5])
    assert_array_equal(layer.buffers["running_var"], [1.5])
    assert_allclose(layer.forward(np.array([[3.0]])), [[2 * 2.5 / np.sqrt(4.5) + 1]], rtol=1e-15)
    assert_array_equal(layer.buffers["running_mean"], [0.5])  # inference changes nothing


def test_frozen_batchnorm_trains_with_its_running_statistics_and_keeps_them():
    layer = BatchNorm1D(1, dtype=np.float64)
    layer.buffers["running_mean"][...], layer.buffers["running_var"][...] = 0.5, 1.5
    layer.frozen = True
    x = np.array([[0.0], [2.0], [7.0]])
    y = layer.forward(x, training=True)
    assert_allclose(y, (x - 0.5) / np.sqrt(1.5 + layer.eps), rtol=1e-15)
    assert_array_equal(layer.buffers["running_mean"], [0.5])
    assert_array_equal(layer.buffers["running_var"], [1.5])
    dx = layer.backward(np.ones_like(x))  # the inference backward: dy * gamma / sqrt(var + eps)
    assert_allclose(dx, np.full_like(x, 1 / np.sqrt(1.5 + layer.eps)), rtol=1e-15)
    assert "frozen" not in layer.config()  # a training choice, not part of the saved model


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_batchnorm2d_normalises_each_channel_over_batch_and_space(impl):
    x = np.zeros((2, 2, 3, 3))
    x[1, 0] = 2.0  # channel 0: image 0 all 0, image 1 all 2 -> -1 and +1
    x[:, 1] = np.arange(18).reshape(2, 3, 3)  # channel 1: 0..17 across both images
    y = BatchNorm2D(2, eps=1e-12, impl=impl, dtype=np.float64).forward(x, training=True)
    assert_allclose(y[:, 0], np.where(x[:, 0] > 0, 1.0, -1.0), rtol=1e-10)  # not per image
    assert_allclose(y[:, 1], (x[:, 1] - 8.5) / np.std(np.arange(18)), rtol=1e-10)
    assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
@given(case=bn_cases())
@example(case=dict(shape=(64, 3, 8, 8), seed=1))  # many values per channel
def test_batchnorm_fast_matches_naive(dtype, training, case):
    fast_bn, x = make_bn(case, "fast", dtype)
    fast_bn, naive_bn = fast_and_naive(fast_bn)
    for got, want in zip(fast.batch_moments(x), reference.batch_moments(x)):
        assert_allclose(got, want, **TOL[dtype])
    y = fast_bn.forward(x, training)
    assert_allclose(y, naive_bn.forward(x, training), **TOL[dtype])
    dy = np.random.default_rng(case["seed"]).standard_normal(y.shape).astype(dtype)
    assert_allclose(fast_bn.backward(dy), naive_bn.backward(dy), **TOL[dtype])
    for k in ("gamma", "beta"):
        assert_allclose(fast_bn.grads[k], naive_bn.grads[k], **TOL[dtype])
    for k in ("running_mean", "running_var"):
        assert_allclose(fast_bn.buffers[k], naive_bn.buffers[k], **TOL[dtype])


@pytest.mark.parametrize("impl", ["naive", "fast"])
@pytest.mark.parametrize("training", [True, False])
@given(case=bn_cases())
def test_batchnorm_backward_matches_numeric(impl, training, case):
    layer, x = make_bn(case, impl)
    assert_gradients_match(layer, x, training=training)


def test_batchnorm_training_gradient_is_not_the_inference_one():
    # the statistics' own dependence on x is what the training backward adds: dx sums to 0
    layer, x = make_bn(dict(shape=(4, 2, 3, 3), seed=5))
    dy = np.random.default_rng(0).standard_normal(x.shape)
    layer.forward(x, training=True)
    dx_train = layer.backward(dy)
    layer.forward(x, training=False)
    dx_eval = layer.backward(dy)
    assert_allclose(dx_train.sum(axis=(0, 2, 3)), 0, atol=1e-12)
    assert np.abs(dx_train - dx_eval).max() > 0.1


def test_batchnorm_running_statistics_are_buffers_not_parameters(tmp_path):
    from scratchcnn import load_model

    rng = np.random.default_rng(0)
    model = Sequential([Conv2D(1, 2, 3, rng=rng), BatchNorm2D(2), ReLU(), Flatten(),
                        Dense(2 * 4 * 4, 3, rng=rng), BatchNorm1D(3)], input_shape=(1, 6, 6))
    x = rng.random((8, 1, 6, 6), dtype=np.float32)
    _, dlogits = softmax_cross_entropy_of(model, x)
    model.backward(dlogits)
    names = [name for name, _, _ in model.parameters()]
    assert "1.gamma" in names and not any("running" in n for n in names)
    assert [name for name, _ in model.buffers()] == [
        "1.running_mean", "1.running_var", "5.running_mean", "5.running_var"]
    before = {name: b.copy() for name, b in model.buffers()}
    SGD(model, lr=0.1, momentum=0.9, weight_decay=0.5).step()  # weight decay touches params only
    for name, b in model.buffers():
        assert_array_equal(b, before[name], err_msg=name)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as npz:
        assert_array_equal(npz["1.running_var"], before["1.running_var"])
    loaded = load_model(tmp_path / "m.npz")
    assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    state = model.state_dict()
    state.pop("5.running_var")
    with pytest.raises(ValueError, match=r"missing \['5.running_var'\]"):
        loaded.load_state_dict(state)


def softmax_cross_entropy_of(model, x):
    from scratchcnn import softmax_cross_entropy

    logits = model.forward(x, training=True)
    return softmax_cross_entropy(logits, np.arange(len(x)) % logits.shape[1])


def test_batchnorm_in_training_needs_two_values_per_channel():
    with pytest.raises(ValueError, match="more than one value per channel"):
        BatchNorm1D(3).forward(np.zeros((1, 3), np.float32), training=True)
    assert BatchNorm1D(3).forward(np.zeros((1, 3), np.float32)).shape == (1, 3)  # inference: fine


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_batchnorm_pieces_with_twins_equal_each_piece_alone_and_pool_the_running_update(impl):
    # ghost batch norm: each piece normalised by its own statistics; the running statistics
    # move once, by the whole batch's statistics, whichever thread ran which piece
    layer, x = make_bn(dict(shape=(12, 3, 4, 4), seed=2), impl, momentum=0.3)
    whole, alone = copy.deepcopy(layer), copy.deepcopy(layer)
    bounds = [(0, 3), (3, 7), (7, 12)]
    twins = [layer.twin(True) for _ in bounds[1:]]
    ys = [piece.forward(x[lo:hi], True) for piece, (lo, hi) in zip([layer, *twins], bounds)]
    layer.merge_twins(twins)
    for (lo, hi), y in zip(bounds, ys):
        assert_allclose(y, copy.deepcopy(alone).forward(x[lo:hi], True), rtol=1e-12, atol=1e-12)
    whole.forward(x, True)
    for k in ("running_mean", "running_var"):
        assert_allclose(layer.buffers[k], whole.buffers[k], rtol=1e-12, err_msg=k)
    running = {k: v.copy() for k, v in layer.buffers.items()}
    twins = [layer.twin(False)]  # an inference split changes nothing
    layer.forward(x[:6]), twins[0].forward(x[6:])
    layer.merge_twins(twins)
    for k, v in running.items():
        assert_array_equal(layer.buffers[k], v)


# ---- the compiled-kernel cache ------------------------------------------------------------------


def test_a_second_process_loads_compiled_kernels_from_the_disk_cache():
    import os
    import subprocess
    import sys

    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        pytest.skip("kernels are plain Python under NUMBA_DISABLE_JIT=1: there is nothing to cache")
    script = ("import numpy as np; from scratchcnn import Conv2D, kernels; "
              "Conv2D(1, 2, 3, rng=0).forward(np.ones((1, 1, 5, 5), np.float32)); "
              "s = kernels.im2col.stats; print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))")
    for _ in range(2):  # the first run may compile and write the cache; the second must hit it
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    hits, misses = out.stdout.split()
    assert int(hits) >= 1 and int(misses) == 0, f"cache hits, misses: {out.stdout}"


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_param_shapes_match_the_built_layer(name):
    layer = {"Conv2D": lambda: Conv2D(3, 5, (2, 4), rng=0), "Dense": lambda: Dense(7, 3, rng=0),
             "BatchNorm1D": lambda: LAYERS["BatchNorm1D"](6),
             "BatchNorm2D": lambda: LAYERS["BatchNorm2D"](4)}.get(name, LAYERS[name])()
    saved = {**layer.params, **layer.buffers}  # what Sequential.save writes for the layer
    assert type(layer).param_shapes(layer.config()) == {k: v.shape for k, v in saved.items()}
