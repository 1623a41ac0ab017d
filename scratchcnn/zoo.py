"""Named architectures, so a training run, a benchmark and a notebook can ask for the same model.

"convnet" is the reference network of the benchmark: the Keras MNIST example CNN without dropout.
"""

import numpy as np

from .layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, Normalize, ReLU
from .model import Sequential


def convnet(seed: int = 0, dtype="float32", impl: str = "fast") -> Sequential:
    """Conv(1->32, 3) ReLU Pool2 Conv(32->64, 3) ReLU Pool2 Dense(1600->128) ReLU Dense(128->10)."""
    rng = np.random.default_rng(seed)
    return Sequential([
        Conv2D(1, 32, 3, impl=impl, dtype=dtype, rng=rng), ReLU(), MaxPool2D(2, impl=impl),
        Conv2D(32, 64, 3, impl=impl, dtype=dtype, rng=rng), ReLU(), MaxPool2D(2, impl=impl),
        Flatten(), Dense(1600, 128, dtype=dtype, rng=rng), ReLU(), Dense(128, 10, dtype=dtype, rng=rng),
    ])


def mnist_small(seed: int = 0, dtype="float32", impl: str = "fast") -> Sequential:
    """The shipped model: Normalize, Conv(1->32, 3, pad 1) ReLU Pool2, Conv(32->64, 3, pad 1) ReLU
    Pool2, Dense(3136->128) ReLU Dropout(0.4) Dense(128->10).

    Padding keeps the strokes near the border in view; Normalize uses the MNIST training-set
    pixel mean and std, so callers feed plain [0, 1] pixels.
    """
    rng = np.random.default_rng(seed)
    return Sequential([
        Normalize(0.1307, 0.3081),
        Conv2D(1, 32, 3, padding=1, impl=impl, dtype=dtype, rng=rng), ReLU(),
        MaxPool2D(2, impl=impl),
        Conv2D(32, 64, 3, padding=1, impl=impl, dtype=dtype, rng=rng), ReLU(),
        MaxPool2D(2, impl=impl),
        Flatten(), Dense(3136, 128, dtype=dtype, rng=rng), ReLU(), Dropout(0.4, seed=seed + 1),
        Dense(128, 10, dtype=dtype, rng=rng),
    ])


MODELS = {"convnet": convnet, "mnist-small": mnist_small}


def build_model(name: str, seed: int = 0, **kwargs) -> Sequential:
    """Build a named architecture with weights drawn from `seed`."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](seed=seed, **kwargs)
