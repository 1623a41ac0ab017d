"""The notebooks' check cells: each passes with the library's own function and fails, with a hint,
with a deliberately wrong one (and with a blank exercise that still raises NotImplementedError)."""

import numpy as np
import pytest

from scratchcnn import exercises as ex
from scratchcnn import explain, losses, reference


def _not_written(*args):
    raise NotImplementedError


def _conv(x, W, b, stride, pad):
    out = reference.conv_forward(x, W, b, stride, pad)
    return out[0] if isinstance(out, tuple) else out  # (y, cache) after the cache convention


def _receptive_field(kernels, strides):
    r, jump = 1, 1
    for k, s in zip(kernels, strides):
        r, jump = r + (k - 1) * jump, jump * s
    return r


def _maxpool_backward(dy, x, kernel, stride):
    """Max-pool backward from the library's own layer (whatever reference's signature is)."""
    from scratchcnn import MaxPool2D

    layer = MaxPool2D(kernel, stride, impl="naive")
    layer.forward(x, training=True)
    return layer.backward(dy)


def _batchnorm_backward(dy, x, gamma, eps):
    """From the library's own layer."""
    from scratchcnn import BatchNorm1D

    layer = BatchNorm1D(x.shape[1], eps=eps, dtype="float64")
    layer.params["gamma"][...] = gamma
    layer.forward(x, training=True)
    dx = layer.backward(dy)
    return dx, layer.grads["gamma"], layer.grads["beta"]


def _pooled(counts, means, variances):
    n = counts.sum()
    mean = (counts[:, None] * means).sum(0) / n
    return mean, (counts[:, None] * (variances + (means - mean) ** 2)).sum(0) / n


def _sgd(p, g, v, lr, mu):
    v = mu * v + g
    return p - lr * v, v


def _energy_naive(z, T):
    """The energy score without the row maximum taken out: exp(1000) is inf."""
    return T * np.log(np.exp(z / T).sum(axis=1))


def _uniform_ce_grad_not_averaged(z):
    loss, dz = losses.uniform_cross_entropy(z)
    return loss, dz * len(z)


def _pairs_greater(inside, outside):
    return np.mean(inside[:, None] > outside[None, :])


RIGHT_AND_WRONG = {
    "conv_forward": (ex.check_conv_forward, _conv,
                     lambda x, W, b, s, p: _conv(x, W[:, :, ::-1, ::-1].copy(), b, s, p), "flipped"),
    "receptive_field": (ex.check_receptive_field, _receptive_field,
                        lambda k, s: 1 + sum(kk - 1 for kk in k), "strides are ignored"),
    "conv1x1": (ex.check_conv1x1, lambda x, W: np.einsum("fc,nchw->nfhw", W, x),
                lambda x, W: np.einsum("fc,nchw->nfhw", W, x) + 1.0, "wrong values"),
    "dense_backward": (ex.check_dense_backward, lambda dy, x, W: (dy @ W.T, x.T @ dy, dy.sum(0)),
                       lambda dy, x, W: (dy @ W.T, x.T @ dy, dy.mean(0)), "mean over the batch"),
    "maxpool_backward": (ex.check_maxpool_backward, _maxpool_backward, ex._avg_dx, "average pooling"),
    "dropout": (ex.check_dropout, lambda x, keep, p: x * keep / (1 - p),
                lambda x, keep, p: x * keep, "not scaled"),
    "batchnorm_forward": (ex.check_batchnorm_forward,
                          lambda x, g, b, eps: g * (x - x.mean(0)) / np.sqrt(x.var(0) + eps) + b,
                          lambda x, g, b, eps: g * (x - x.mean(0)) / np.sqrt(x.var(0, ddof=1) + eps) + b,
                          "unbiased"),
    "batchnorm_backward": (ex.check_batchnorm_backward, _batchnorm_backward,
                           lambda dy, x, g, eps: (g / np.sqrt(x.var(0) + eps) * dy,
                                                  *_batchnorm_backward(dy, x, g, eps)[1:]),
                           "inference gradient"),
    "pooled_moments": (ex.check_pooled_moments, _pooled,
                       lambda c, m, v: (m.mean(0), v.mean(0) + m.var(0)), "without their sizes"),
    "sgd_momentum": (ex.check_sgd_momentum, _sgd, lambda p, g, v, lr, mu: (p - lr * g, v),
                     "velocity is not kept"),
    "he_std": (ex.check_he_std, lambda fan_in: np.sqrt(2 / fan_in),
               lambda fan_in: np.sqrt(1 / fan_in), "Xavier"),
    "energy_score": (ex.check_energy_score,
                     lambda z, T: explain.unknown_score(z, "energy", temperature=T), _energy_naive,
                     "overflowed to inf"),
    "auroc": (ex.check_auroc, explain.auroc, _pairs_greater, "ties count as 0"),
    "uniform_cross_entropy": (ex.check_uniform_cross_entropy, losses.uniform_cross_entropy,
                              _uniform_ce_grad_not_averaged, "not divided by N"),
}


@pytest.mark.parametrize("name", sorted(RIGHT_AND_WRONG))
def test_check_passes_with_the_library_and_names_the_mistake_of_a_wrong_answer(name):
    check, right, wrong, hint = RIGHT_AND_WRONG[name]
    passed = check(right)
    assert passed and repr(passed).startswith("PASS"), repr(passed)
    failed = check(wrong)
    assert not failed and repr(failed).startswith("NOT YET") and hint in repr(failed), repr(failed)
    blank = check(_not_written)
    assert not blank and "not written yet" in repr(blank), repr(blank)


def test_check_reports_an_exception_in_the_learners_code_instead_of_raising():
    result = ex.check_conv_forward(lambda *a: np.zeros(3)[5])
    assert not result and "IndexError" in repr(result)


def test_measured_receptive_field_of_the_shipped_architecture():
    # conv 3x3 s1, pool 2 s2, conv 3x3 s1, pool 2 s2: 1 + 2 + 1 + 2*2 + 1*2 = 10
    assert ex.measured_receptive_field([3, 2, 3, 2], [1, 2, 1, 2]) == 10
    assert ex.measured_receptive_field([5], [1]) == 5


def test_he_std_keeps_the_activation_variance_where_xavier_lets_it_vanish():
    he = ex.activation_variances(lambda fan_in: np.sqrt(2 / fan_in))
    xavier = ex.activation_variances(lambda fan_in: np.sqrt(1 / fan_in))
    assert he[-1] / he[0] > 0.3 and xavier[-1] / xavier[0] < 1e-4


def _stable_lse(a):
    m = a.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=1, keepdims=True)))[:, 0]


NOTEBOOK_05_MISTAKES = [
    # (check, a wrong answer, what its hint must say)
    (ex.check_energy_score, lambda z, T: -T * _stable_lse(z / T), "sign is flipped"),
    (ex.check_energy_score, lambda z, T: _stable_lse(z), "temperature is ignored"),
    (ex.check_energy_score,
     lambda z, T: T * np.log(np.exp(z / T - (z / T).max(1, keepdims=True)).sum(1)), "not added back"),
    (ex.check_auroc, lambda a, b: np.mean(a[:, None] >= b[None, :]), "ties count as 1"),
    (ex.check_auroc, lambda a, b: explain.auroc(b, a), "direction is reversed"),
    (ex.check_uniform_cross_entropy, lambda z: (losses.uniform_cross_entropy(z)[0] * len(z),
                                                losses.uniform_cross_entropy(z)[1]), "sum over the batch"),
    (ex.check_uniform_cross_entropy, lambda z: (losses.uniform_cross_entropy(z)[0],
                                                -losses.uniform_cross_entropy(z)[1]), "wrong sign"),
]


@pytest.mark.parametrize("check, wrong, hint", NOTEBOOK_05_MISTAKES,
                         ids=[f"{c.__name__}-{h}" for c, _, h in NOTEBOOK_05_MISTAKES])
def test_notebook_05_checks_name_each_plausible_mistake(check, wrong, hint):
    result = check(wrong)
    assert not result and hint in repr(result), repr(result)


def test_naive_energy_is_right_on_small_logits_and_inf_near_1000():
    """The naive log(sum(exp(z))) is right on ordinary logits; only logits near 1000 show it."""
    z = np.random.default_rng(0).standard_normal((3, 10))
    assert np.allclose(_energy_naive(z, 1.0), explain.unknown_score(z, "energy"))
    with np.errstate(over="ignore"):
        assert np.isinf(_energy_naive(z + 1000, 1.0)).all()
    assert np.isfinite(explain.unknown_score(z + 1000, "energy")).all()
