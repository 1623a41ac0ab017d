"""Layers: known answers, naive vs fast, gradient checks, properties and input validation."""

import copy

import numpy as np
import pytest
from conftest import away_from_zero, conv_cases, dense_cases, pool_cases, tie_free
from hypothesis import example, given
from numpy.testing import assert_allclose, assert_array_equal

from scratchcnn import Conv2D, Dense, Dropout, Flatten, MaxPool2D, Normalize, ReLU, kernels, reference
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
    ],
)
def test_constructor_rejects_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


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
    layer = {"Conv2D": lambda: Conv2D(3, 5, (2, 4), rng=0), "Dense": lambda: Dense(7, 3, rng=0)}.get(
        name, LAYERS[name])()
    assert type(layer).param_shapes(layer.config()) == {k: v.shape for k, v in layer.params.items()}
