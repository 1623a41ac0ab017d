"""Optional oracle: the same ops in PyTorch give the same values and gradients.

PyTorch is never a dependency of scratchcnn; where it is not installed this module is skipped,
except where SCRATCHCNN_REQUIRE_TORCH=1 (CI: .ci/run installs torch==2.13.0), where that fails.
Install it with `pip install torch==2.13.0` (pinned: an unpinned install pulls a CUDA build).
"""

import numpy as np
import pytest
from conftest import bn_cases, conv_cases, pool_cases, skip_unless_required, tie_free
from hypothesis import given
from numpy.testing import assert_allclose

from scratchcnn import BatchNorm1D, BatchNorm2D, Conv2D, Dense, MaxPool2D, softmax_cross_entropy

try:
    import torch
except ImportError:
    skip_unless_required("TORCH", "optional oracle; install with pip install torch==2.13.0",
                         module=True)
F = torch.nn.functional


def _grad_of(fn, *arrays, dy):
    """Run fn on float64 tensors, backprop dy, return (y, grads of each input)."""
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    y.backward(torch.tensor(dy))
    return y.detach().numpy(), [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("impl", ["naive", "fast"])
@given(case=conv_cases())
def test_conv_matches_torch(impl, case):
    rng = np.random.default_rng(case["seed"])
    layer = Conv2D(case["C"], case["F"], case["kernel"], case["stride"], case["pad"], impl, "float64", rng)
    layer.params["b"][...] = rng.standard_normal(case["F"])
    x = rng.standard_normal((case["N"], case["C"], case["H"], case["W"]))
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    y_t, (dx_t, dw_t, db_t) = _grad_of(
        lambda x, w, b: F.conv2d(x, w, b, stride=case["stride"], padding=case["pad"]),
        x, layer.params["W"], layer.params["b"], dy=dy)
    for ours, theirs in ((y, y_t), (dx, dx_t), (layer.grads["W"], dw_t), (layer.grads["b"], db_t)):
        assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("impl", ["naive", "fast"])
@given(case=pool_cases())
def test_maxpool_matches_torch(impl, case):
    rng = np.random.default_rng(case["seed"])
    x = tie_free(rng, (case["N"], case["C"], case["H"], case["W"]))
    layer = MaxPool2D(case["kernel"], case["stride"], impl)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    y_t, (dx_t,) = _grad_of(lambda x: F.max_pool2d(x, case["kernel"], case["stride"]), x, dy=dy)
    assert_allclose(y, y_t, rtol=0, atol=0)
    assert_allclose(layer.backward(dy), dx_t, rtol=1e-12)


def test_dense_and_cross_entropy_match_torch():
    rng = np.random.default_rng(0)
    layer = Dense(7, 4, dtype="float64", rng=rng)
    x, labels = rng.standard_normal((5, 7)), rng.integers(0, 4, 5)
    loss, dlogits = softmax_cross_entropy(layer.forward(x), labels)
    dx = layer.backward(dlogits)
    ts = [torch.tensor(a, requires_grad=True) for a in (x, layer.params["W"], layer.params["b"])]
    loss_t = F.cross_entropy(ts[0] @ ts[1] + ts[2], torch.tensor(labels))
    loss_t.backward()
    assert_allclose(loss, loss_t.item(), rtol=1e-12)
    for ours, t in zip((dx, layer.grads["W"], layer.grads["b"]), ts):
        assert_allclose(ours, t.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("impl", ["naive", "fast"])
@pytest.mark.parametrize("training", [True, False])
@given(case=bn_cases())
def test_batchnorm_matches_torch(impl, training, case):
    rng = np.random.default_rng(case["seed"])
    shape = case["shape"]
    C = shape[1]
    layer = (BatchNorm1D if len(shape) == 2 else BatchNorm2D)(C, 0.2, 1e-3, impl, "float64")
    layer.params["gamma"][...] = rng.uniform(0.5, 2, C)
    layer.params["beta"][...] = rng.standard_normal(C)
    layer.buffers["running_mean"][...] = rng.standard_normal(C)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2, C)
    running = [torch.tensor(layer.buffers[k].copy()) for k in ("running_mean", "running_var")]
    x = rng.standard_normal(shape) * 2 + 1
    y = layer.forward(x, training)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    y_t, (dx_t, dg_t, db_t) = _grad_of(
        lambda x, g, b: F.batch_norm(x, *running, g, b, training=training, momentum=0.2, eps=1e-3),
        x, layer.params["gamma"], layer.params["beta"], dy=dy)
    for ours, theirs in ((y, y_t), (dx, dx_t), (layer.grads["gamma"], dg_t),
                         (layer.grads["beta"], db_t)):
        assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    for k, theirs in zip(("running_mean", "running_var"), running):  # torch updates them in place
        assert_allclose(layer.buffers[k], theirs.numpy(), rtol=1e-12, err_msg=k)
