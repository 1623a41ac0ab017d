"""Shared test set-up: hypothesis profiles, case strategies, and a one-time kernel warm-up.

Profiles: `ci` (default; 25 derandomised examples, no deadline because the first call of a
kernel compiles it) and `dev` (more examples); pick one with HYPOTHESIS_PROFILE.
Strategies build valid cases constructively: draw the output size, kernel, stride and padding,
then derive the input size (plus 0..stride-1 slack), so no example is ever thrown away.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _input_size(draw, out: int, kernel: int, stride: int, pad: int) -> int:
    """Smallest input giving `out` positions, plus slack that floor division swallows."""
    slack = draw(st.integers(0, stride - 1))
    return max(1, (out - 1) * stride + kernel - 2 * pad + slack)


@st.composite
def conv_cases(draw, max_batch: int = 3, max_out: int = 3):
    """dict(N, C, F, kernel, stride, pad, H, W, seed) for Conv2D: kernels 1-5, strides 1-3, pads 0-2."""
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    H = _input_size(draw, draw(st.integers(1, max_out)), kernel[0], stride[0], pad[0])
    W = _input_size(draw, draw(st.integers(1, max_out)), kernel[1], stride[1], pad[1])
    # an input smaller than the kernel only works if padding covers the gap
    H, W = max(H, kernel[0] - 2 * pad[0]), max(W, kernel[1] - 2 * pad[1])
    return dict(N=draw(st.integers(1, max_batch)), C=draw(st.integers(1, 3)),
                F=draw(st.integers(1, 3)), kernel=kernel, stride=stride, pad=pad, H=H, W=W,
                seed=draw(st.integers(0, 2**31 - 1)))


@st.composite
def pool_cases(draw, max_batch: int = 3):
    """dict(N, C, kernel, stride, H, W, seed) for MaxPool2D, overlapping windows included."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    H = _input_size(draw, draw(st.integers(1, 3)), kernel[0], stride[0], 0)
    W = _input_size(draw, draw(st.integers(1, 3)), kernel[1], stride[1], 0)
    return dict(N=draw(st.integers(1, max_batch)), C=draw(st.integers(1, 3)), kernel=kernel,
                stride=stride, H=H, W=W, seed=draw(st.integers(0, 2**31 - 1)))


@st.composite
def dense_cases(draw):
    """dict(N, D, M, seed) for Dense."""
    return dict(N=draw(st.integers(1, 3)), D=draw(st.integers(1, 8)), M=draw(st.integers(1, 6)),
                seed=draw(st.integers(0, 2**31 - 1)))


@st.composite
def bn_cases(draw):
    """dict(shape, seed) for BatchNorm1D (N, C) or BatchNorm2D (N, C, H, W), with at least two
    values per channel (training statistics need them): N >= 2 for 1-D, W >= 2 for 2-D."""
    C = draw(st.integers(1, 3))
    if draw(st.booleans()):
        shape = (draw(st.integers(2, 5)), C)
    else:
        shape = (draw(st.integers(1, 3)), C, draw(st.integers(1, 4)), draw(st.integers(2, 4)))
    return dict(shape=shape, seed=draw(st.integers(0, 2**31 - 1)))


def tie_free(rng: np.random.Generator, shape, dtype=np.float64) -> np.ndarray:
    """Distinct values at least 0.1 apart, so a finite difference of 1e-6 never moves an argmax."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 1.0).astype(dtype)


def away_from_zero(rng: np.random.Generator, shape, dtype=np.float64) -> np.ndarray:
    """Normal values pushed at least 0.1 from 0, so ReLU's kink is never crossed."""
    x = rng.standard_normal(shape)
    return (np.sign(x) * (0.1 + np.abs(x))).astype(dtype)


def json_entry_edit(key: str, change):
    """For rewriting a saved .npz in a test: a function that applies change(dict) to the JSON
    stored under `key` (a model file's "__architecture__", a checkpoint's "meta") in place."""
    import json

    def edit(arrays):
        entry = json.loads(str(arrays[key]))
        change(entry)
        arrays[key] = np.array(json.dumps(entry))
    return edit


def required(what: str) -> bool:
    """True when SCRATCHCNN_REQUIRE_<WHAT> is "1" (.ci/run sets MNIST, BROWSER and TORCH): then a
    test that would skip for want of <what> fails instead. Any other value, "0" included, is off."""
    return os.environ.get(f"SCRATCHCNN_REQUIRE_{what}") == "1"


def skip_unless_required(what: str, reason: str, module: bool = False):
    """Skip for want of <what>, or fail when SCRATCHCNN_REQUIRE_<WHAT>=1 forbids the skip."""
    if required(what):
        pytest.fail(f"{reason} (SCRATCHCNN_REQUIRE_{what}=1 forbids skipping)", pytrace=False)
    pytest.skip(reason, allow_module_level=module)


@pytest.fixture(scope="session", autouse=True)
def warm_kernels():
    """Compile (or load from cache) every kernel in float32 and float64 once per session."""
    from scratchcnn import Conv2D, MaxPool2D

    for dtype in (np.float32, np.float64):
        x = np.ones((1, 1, 4, 4), dtype=dtype)
        conv, pool = Conv2D(1, 1, 3, padding=1, dtype=dtype, rng=0), MaxPool2D(2)
        pool.backward(pool.forward(conv.backward(conv.forward(x))))
