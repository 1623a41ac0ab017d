"""fast.py against reference.py, called the same way: the same (y, cache) and backward results."""

import numpy as np
import pytest
from conftest import conv_cases, pool_cases
from hypothesis import example, given
from numpy.testing import assert_allclose, assert_array_equal

from scratchcnn import fast, reference

TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _conv_args(case, dtype):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["N"], case["C"], case["H"], case["W"])).astype(dtype)
    W = rng.standard_normal((case["F"], case["C"], *case["kernel"])).astype(dtype)
    b = rng.standard_normal(case["F"]).astype(dtype)
    return x, W, b, case["stride"], case["pad"]


def _check_conv(args, dtype, seed):
    y, cache = fast.conv_forward(*args)
    y_ref, cache_ref = reference.conv_forward(*args)
    assert y.dtype == dtype and y.shape == y_ref.shape
    assert_allclose(y, y_ref, **TOL[dtype])
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype(dtype)
    dx, dW, db = fast.conv_backward(dy, cache)
    dx_ref, dW_ref, db_ref = reference.conv_backward(dy, cache_ref)
    for got, want in ((dx, dx_ref), (dW, dW_ref), (db, db_ref)):
        assert got.dtype == dtype and got.shape == want.shape
        assert_allclose(got, want, **TOL[dtype])
    for ops, c in ((fast, cache), (reference, cache_ref)):  # a first layer's dx is skipped
        none, dW_only, db_only = ops.conv_backward(dy, c, need_dx=False)
        assert none is None
        assert_allclose(dW_only, dW_ref, **TOL[dtype])
        assert_allclose(db_only, db_ref, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(case=conv_cases())
@example(case=dict(N=2, C=2, F=3, kernel=(5, 5), stride=(1, 1), pad=(2, 2), H=1, W=1, seed=1))
@example(case=dict(N=1, C=2, F=2, kernel=(2, 1), stride=(3, 3), pad=(0, 1), H=8, W=7, seed=2))
def test_fast_conv_matches_reference_through_the_same_signature(dtype, case):
    _check_conv(_conv_args(case, dtype), dtype, case["seed"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("C", [3, 16])  # windows of 27 and 144: the per-image and the batch product
def test_fast_conv_both_product_layouts_match_reference(dtype, C):
    case = dict(N=3, C=C, F=4, kernel=(3, 3), stride=(1, 1), pad=(1, 1), H=6, W=5, seed=C)
    _check_conv(_conv_args(case, dtype), dtype, C)


def _pool_x(case, dtype):
    rng = np.random.default_rng(case["seed"])
    shape = (case["N"], case["C"], case["H"], case["W"])
    return rng.integers(0, 3, shape).astype(dtype), rng  # few distinct values: many ties


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(case=pool_cases())
@example(case=dict(N=2, C=3, kernel=(2, 2), stride=(2, 2), H=7, W=6, seed=3))  # the 2x2 kernel
@example(case=dict(N=1, C=2, kernel=(3, 3), stride=(1, 1), H=5, W=5, seed=4))  # overlapping
def test_fast_maxpool_equals_reference_exactly_even_with_ties(dtype, case):
    x, rng = _pool_x(case, dtype)
    args = (x, case["kernel"], case["stride"])
    y_ref, cache_ref = reference.maxpool_forward(*args)
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    dx_ref = reference.maxpool_backward(dy, cache_ref)
    for training in (True, False):  # argmax recorded, or found again in backward
        y, cache = fast.maxpool_forward(*args, training=training)
        assert y.dtype == dtype
        assert_array_equal(y, y_ref)
        assert_array_equal(fast.maxpool_backward(dy, cache), dx_ref)
        assert_array_equal(reference.maxpool_forward(*args, training=training)[0], y_ref)


def test_fast_and_reference_pooling_send_a_tie_to_the_first_maximum():
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])  # (1, 1, 2, 2), two equal maxima
    dy = np.array([[[[5.0]]]])
    want = np.array([[[[0.0, 5.0], [0.0, 0.0]]]])  # the first in row-major order wins
    for ops in (fast, reference):
        y, cache = ops.maxpool_forward(x, (2, 2), (2, 2), training=True)
        assert_array_equal(y, [[[[3.0]]]])
        assert_array_equal(ops.maxpool_backward(dy, cache), want)
