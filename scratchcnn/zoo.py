"""Named architectures, so a training run, a benchmark and a notebook can ask for the same model,
and where the shipped trained weights are found.

"convnet" is the reference network of the benchmark: the Keras MNIST example CNN without dropout.
"""

import json
import os
import site
import sys
from pathlib import Path

import numpy as np

from .layers import BatchNorm1D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Normalize, ReLU
from .model import Sequential
from .shapes import CLASSES


def convnet(seed: int = 0, dtype="float32", impl: str = "fast") -> Sequential:
    """Conv(1->32, 3) ReLU Pool2 Conv(32->64, 3) ReLU Pool2 Dense(1600->128) ReLU Dense(128->10)."""
    rng = np.random.default_rng(seed)
    return Sequential([
        Conv2D(1, 32, 3, impl=impl, dtype=dtype, rng=rng), ReLU(), MaxPool2D(2, impl=impl),
        Conv2D(32, 64, 3, impl=impl, dtype=dtype, rng=rng), ReLU(), MaxPool2D(2, impl=impl),
        Flatten(), Dense(1600, 128, dtype=dtype, rng=rng), ReLU(), Dense(128, 10, dtype=dtype, rng=rng),
    ])


def _two_blocks(f1: int, f2: int, dropout: float, classes, reads: str, seed: int, dtype,
                impl: str) -> Sequential:
    """Normalize, Conv(1->f1, 3, pad 1) ReLU Pool2, Conv(f1->f2, 3, pad 1) ReLU Pool2,
    Dense(f2*7*7->128) ReLU Dropout Dense(128->K): mnist-small and shapes-small (classes None:
    the ten digits)."""
    rng = np.random.default_rng(seed)
    return Sequential([
        Normalize(0.1307, 0.3081),
        Conv2D(1, f1, 3, padding=1, impl=impl, dtype=dtype, rng=rng), ReLU(),
        MaxPool2D(2, impl=impl),
        Conv2D(f1, f2, 3, padding=1, impl=impl, dtype=dtype, rng=rng), ReLU(),
        MaxPool2D(2, impl=impl),
        Flatten(), Dense(f2 * 7 * 7, 128, dtype=dtype, rng=rng), ReLU(),
        Dropout(dropout, seed=seed + 1), Dense(128, len(classes or range(10)), dtype=dtype, rng=rng),
    ], classes=classes, reads=reads)


def mnist_small(seed: int = 0, dtype="float32", impl: str = "fast") -> Sequential:
    """The digits model shipped before mnist-bn: Normalize, Conv(1->32, 3, pad 1) ReLU Pool2,
    Conv(32->64, 3, pad 1) ReLU Pool2, Dense(3136->128) ReLU Dropout(0.4) Dense(128->10).

    Padding keeps the strokes near the border in view; Normalize uses the MNIST training-set
    pixel mean and std, so callers feed plain [0, 1] pixels.
    """
    return _two_blocks(32, 64, 0.4, None, "digits", seed, dtype, impl)


def shapes_small(seed: int = 0, dtype="float32", impl: str = "fast") -> Sequential:
    """The shipped shapes model: mnist-small with half the channels and 12 outputs. Normalize,
    Conv(1->16, 3, pad 1) ReLU Pool2, Conv(16->32, 3, pad 1) ReLU Pool2, Dense(1568->128) ReLU
    Dropout(0.3) Dense(128->12).

    The drawings go through the same MNIST normalisation (to_mnist) as digits, so the MNIST
    pixel mean and std serve as well; half the channels make an epoch ~3x cheaper, which buys
    more distinct generated drawings within the same training time.
    """
    return _two_blocks(16, 32, 0.3, CLASSES, "shapes", seed, dtype, impl)


def mnist_bn(seed: int = 0, dtype="float32", impl: str = "fast") -> Sequential:
    """A digits model with batch norm: Normalize, three blocks [Conv(3x3, pad 1) BatchNorm2D
    ReLU Pool2] of 16, 32 and 64 filters (28 -> 14 -> 7 -> 3), Dense(576->128) BatchNorm1D ReLU
    Dropout(0.3) Dense(128->10): a third convolution block instead of mnist-small's wide dense
    layer (99k parameters against 422k, about half the multiply-adds per image).
    """
    rng = np.random.default_rng(seed)
    kw = dict(impl=impl, dtype=dtype)
    blocks = []
    for C, F in ((1, 16), (16, 32), (32, 64)):
        blocks += [Conv2D(C, F, 3, padding=1, rng=rng, **kw), BatchNorm2D(F, **kw), ReLU(),
                   MaxPool2D(2, impl=impl)]
    return Sequential([
        Normalize(0.1307, 0.3081), *blocks,
        Flatten(), Dense(576, 128, dtype=dtype, rng=rng), BatchNorm1D(128, **kw), ReLU(),
        Dropout(0.3, seed=seed + 1), Dense(128, 10, dtype=dtype, rng=rng),
    ])


def speedrun(seed: int = 0, dtype="float32", impl: str = "fast", batchnorm: bool = True,
             widths=(12, 24), hidden: int = 0, pool_first: bool = False) -> Sequential:
    """The speedrun's small net: [Conv(5x5) BatchNorm2D ReLU Pool2] x 2 (12, 24 filters),
    Dense(384->10); batchnorm=False leaves the BatchNorm layers out (the ablation); hidden > 0
    puts Dense(384->hidden) BatchNorm1D ReLU before the last layer; pool_first pools right after
    each convolution, so batch norm and ReLU see a quarter of the values (another net: the
    statistics are those of the pooled maps)."""
    rng = np.random.default_rng(seed)
    kw = dict(impl=impl, dtype=dtype)
    f1, f2 = widths

    def bn(C, cls=BatchNorm2D):
        return [cls(C, **kw)] if batchnorm else []

    head = [Dense(16 * f2, 10, dtype=dtype, rng=rng)]
    if hidden:
        head = [Dense(16 * f2, hidden, dtype=dtype, rng=rng), *bn(hidden, BatchNorm1D), ReLU(),
                Dense(hidden, 10, dtype=dtype, rng=rng)]
    def stage(C, F):
        conv, pool = Conv2D(C, F, 5, rng=rng, **kw), MaxPool2D(2, impl=impl)
        return [conv, pool, *bn(F), ReLU()] if pool_first else [conv, *bn(F), ReLU(), pool]

    return Sequential([*stage(1, f1), *stage(f1, f2), Flatten(), *head])


MODELS = {"convnet": convnet, "mnist-small": mnist_small, "mnist-bn": mnist_bn,
          "speedrun": speedrun, "shapes-small": shapes_small}


def build_model(name: str, seed: int = 0, **kwargs) -> Sequential:
    """Build a named architecture with weights drawn from `seed`."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](seed=seed, **kwargs)


def weights_dirs() -> list[Path]:
    """Where the shipped weights live: the source tree, then a regular (non-editable) install.

    A checkout or editable install finds `<repo>/weights/`; `pip install .` copies the same files
    to `<prefix>/share/scratchcnn/weights/` (setup.cfg data_files), `pip install --user .` to the
    same folder under the user base (~/.local). Each holds one folder per served model, named by
    what it reads: `digits/`, `shapes/`.
    """
    repo = Path(__file__).resolve().parent.parent / "weights"
    shared = Path("share") / "scratchcnn" / "weights"
    return [repo, Path(sys.prefix) / shared, Path(site.getuserbase()) / shared]


def _model_file(folder: Path) -> Path | None:
    """The model in a weights folder: the file metrics.json names, else the only .npz."""
    # a training run in progress leaves checkpoint.npz there: not a model file
    candidates = sorted(p for p in folder.glob("*.npz") if p.name != "checkpoint.npz")
    named = _read_json(folder / "metrics.json").get("weights")
    if named and (folder / Path(str(named)).name).is_file():
        return folder / Path(str(named)).name
    return candidates[0] if len(candidates) == 1 else None


def find_weights(path: str | os.PathLike | None = None, reads: str = "digits") -> Path:
    """The weights file to serve: `path` if given, else (for digits) $SCRATCHCNN_WEIGHTS, else
    the shipped one in `<weights>/<reads>/`.

    Raises FileNotFoundError with a message naming --weights when none is found.
    """
    path = path or (os.environ.get("SCRATCHCNN_WEIGHTS") if reads == "digits" else None)
    if path:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"weights file {path} does not exist (given by --weights or SCRATCHCNN_WEIGHTS)"
            )
        return path
    for base in weights_dirs():
        found = _model_file(base / reads)
        if found is not None:
            return found
    searched = ", ".join(str(d / reads) for d in weights_dirs())
    raise FileNotFoundError(
        f"no shipped {reads} weights found (looked in {searched}); pass --weights PATH to a "
        ".npz saved by `scratchcnn train`, or set SCRATCHCNN_WEIGHTS"
    )


def shipped_weights() -> dict[str, Path]:
    """{"digits": path, "shapes": path} for each shipped model found (the first folder wins)."""
    found = {}
    for reads in ("digits", "shapes"):
        try:
            found[reads] = find_weights(reads=reads)
        except FileNotFoundError:
            continue
    return found


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_model_card(weights: str | os.PathLike) -> dict:
    """metrics.json beside the weights (accuracy etc.), plus MODEL_CARD.md as text, if present."""
    folder = Path(weights).resolve().parent
    card = _read_json(folder / "metrics.json")
    md = folder / "MODEL_CARD.md"
    if md.is_file():
        card["model_card_md"] = md.read_text(encoding="utf-8")
    return card
