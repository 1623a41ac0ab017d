"""Sequential: a list of layers run forward in order and backward in reverse.

Parameters are named "<layer index>.<key>" ("0.W"), buffers (running statistics) the same way
("3.running_mean"). A saved model is one .npz holding every parameter and buffer under its name
plus the architecture as a JSON string under "__architecture__",
loaded with allow_pickle=False so a model file can never run code. The architecture also names
the classes (output k is classes[k]) and what the model reads ("digits" or "shapes"); a file
written before they were recorded loads as digits, classes "0".."K-1" (the ten digits).
"""

import json
import zipfile
import zlib

import numpy as np

from .fileio import save_npz
from .layers import LAYERS, Layer
from .losses import softmax

FORMAT = "scratchcnn.sequential"
FORMAT_VERSION = 1
ARCH_KEY = "__architecture__"
READS = ("digits", "shapes")  # what a model reads: the page's Digits / Shapes switch


class Sequential:
    """Compose layers: y = layer_L(... layer_1(x)); backward applies the chain rule in reverse.

    Shapes: x (N, *input_shape) -> logits (N, K)
    """

    def __init__(self, layers: list[Layer], input_shape=(1, 28, 28), classes=None,
                 reads: str = "digits"):
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"layer {i} must be a scratchcnn Layer, got {type(layer).__name__}")
        if classes is not None and (
                isinstance(classes, str) or not classes or len(set(classes)) != len(classes)
                or not all(isinstance(c, str) and c for c in classes)):
            raise ValueError(f"classes must be distinct non-empty names, got {classes!r}")
        if reads not in READS:
            raise ValueError(f"reads must be one of {READS}, got {reads!r}")
        self.layers = layers
        self.input_shape = tuple(int(s) for s in input_shape)
        self._classes = None if classes is None else tuple(classes)
        self.reads = reads
        self.unknown: dict | None = None  # the calibrated unknown answer (explain.calibrate)

    @property
    def classes(self) -> tuple[str, ...]:
        """The name of each output: as given, else "0".."K-1" (the ten digits for K = 10)."""
        if self._classes is None:
            K = self.forward(np.zeros((1, *self.input_shape), dtype=self.dtype)).shape[-1]
            self._classes = tuple(str(k) for k in range(K))
        return self._classes

    @property
    def dtype(self) -> np.dtype:
        first = next((p for layer in self.layers for p in layer.params.values()), None)
        return np.dtype(np.float32) if first is None else first.dtype

    def _check_input(self, x) -> None:
        dtype = self.dtype
        if (isinstance(x, np.ndarray) and x.ndim == len(self.input_shape) + 1 and len(x)
                and x.shape[1:] == self.input_shape and x.dtype == dtype):
            return  # the common case, checked without building any message
        expected = f"(N, {', '.join(map(str, self.input_shape))})"
        if not isinstance(x, np.ndarray):
            got = type(x).__name__
            raise ValueError(f"model expected a {dtype} array of shape {expected}, got {got}")
        if x.ndim != len(self.input_shape) + 1 or x.shape[1:] != self.input_shape or x.shape[0] == 0:
            raise ValueError(f"model expected input of shape {expected}, got {x.shape}")
        raise ValueError(f"model expected {dtype} input of shape {expected}, got {x.dtype}")

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Every layer in order: logits = layer_L(... layer_1(x))."""
        self._check_input(x)
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Chain rule from the last layer to the first; returns dL/dx of the input.

        input_grad=False, for training, returns None and does less: nothing before the first
        layer with parameters is run, and that layer computes only its parameter gradients."""
        first = next((i for i, layer in enumerate(self.layers) if layer.params), 0)
        for i in range(len(self.layers) - 1, -1 if input_grad else first - 1, -1):
            dy = self.layers[i].backward(dy, need_dx=input_grad or i > first)
        return dy if input_grad else None

    def predict_proba(self, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities in inference mode, batch by batch. Shapes: (N, ...) -> (N, K)"""
        self._check_input(x)
        batches = [softmax(self.forward(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
        return batches[0] if len(batches) == 1 else np.concatenate(batches)

    def predict(self, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Most probable class per input. Shapes: (N, ...) -> (N,) int64"""
        return self.predict_proba(x, batch_size).argmax(axis=1)

    def activations(self, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """Every layer's output in inference mode, named "<index>:<Layer>", for visualisation."""
        self._check_input(x)
        out = []
        for i, layer in enumerate(self.layers):
            x = layer.forward(x)
            out.append((f"{i}:{type(layer).__name__}", x))
        return out

    def parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(name, parameter, gradient) triples; read afresh each time (backward replaces grads)."""
        return [(f"{i}.{k}", layer.params[k], layer.grads[k])
                for i, layer in enumerate(self.layers) for k in layer.params]

    def num_params(self) -> int:
        return sum(p.size for _, p, _ in self.parameters())

    def buffers(self) -> list[tuple[str, np.ndarray]]:
        """(name, array) pairs of the layers' buffers, e.g. ("3.running_mean", ...): state that is
        saved and loaded with the parameters but never trained by the optimiser."""
        return [(f"{i}.{k}", b) for i, layer in enumerate(self.layers) for k, b in layer.buffers.items()]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers, copied, by name."""
        return {name: p.copy() for name, p in self._state_arrays().items()}

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {**{name: p for name, p, _ in self.parameters()}, **dict(self.buffers())}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters and buffers, refusing any missing, extra or misshapen
        entry."""
        own = self._state_arrays()
        missing, extra = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
        if missing or extra:
            raise ValueError(f"parameters do not match the architecture: missing {missing}, "
                             f"unexpected {extra}")
        for name, p in own.items():
            a = state[name]
            if a.shape != p.shape or a.dtype != p.dtype:
                raise ValueError(f"parameter {name} should be {p.dtype} {p.shape}, "
                                 f"got {a.dtype} {a.shape}")
        for name, p in own.items():
            p[...] = state[name]

    def rng_state(self) -> list:
        """JSON-safe state of each layer's random generator (None for layers without one)."""
        return [layer.rng.bit_generator.state if hasattr(layer, "rng") else None
                for layer in self.layers]

    def set_rng_state(self, states: list) -> None:
        for layer, state in zip(self.layers, states, strict=True):
            if state is not None:
                layer.rng.bit_generator.state = state

    def astype(self, dtype) -> "Sequential":
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def config(self) -> dict:
        config = {"format": FORMAT, "version": FORMAT_VERSION, "input_shape": list(self.input_shape),
                  "classes": list(self.classes), "reads": self.reads,
                  "layers": [{"type": type(layer).__name__, "config": layer.config()}
                             for layer in self.layers]}
        if self.unknown is not None:
            config["unknown"] = self.unknown
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} architecture: {str(config)[:200]}")
        layers = []
        for i, spec in enumerate(config.get("layers", [])):
            kind = spec.get("type") if isinstance(spec, dict) else None
            if kind not in LAYERS:
                raise ValueError(f"layer {i}: unknown type {kind!r}; known: {sorted(LAYERS)}")
            try:
                layers.append(LAYERS[kind](**spec.get("config", {})))
            except TypeError as e:
                raise ValueError(f"layer {i} ({kind}): bad config {spec.get('config')}: {e}") from e
        model = cls(layers, config.get("input_shape", (1, 28, 28)),
                    config.get("classes"), config.get("reads", "digits"))
        if config.get("unknown") is not None:
            from .explain import check_unknown

            model.unknown = check_unknown(config["unknown"])
        return model

    def summary(self) -> str:
        """A table: layer, output shape, parameter count (shapes found by a 1-image forward)."""
        x = np.zeros((1, *self.input_shape), dtype=self.dtype)
        rows = [("#", "layer", "output shape", "params"), ("", "input", str(("N", *self.input_shape)), "")]
        for i, (_, y) in enumerate(self.activations(x)):
            layer = self.layers[i]
            count = sum(p.size for p in layer.params.values())
            rows.append((str(i), layer.describe(), str(("N", *y.shape[1:])),
                         f"{count:,}" if count else ""))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        lines = ["  ".join(cell.ljust(w) if c < 3 else cell.rjust(w)
                           for c, (cell, w) in enumerate(zip(r, widths))) for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"total parameters: {self.num_params():,}")
        return "\n".join(line.replace("'", "") for line in lines)

    def save(self, path) -> None:
        """Write parameters, buffers and architecture to one .npz, atomically."""
        arrays = self._state_arrays()
        arrays[ARCH_KEY] = np.array(json.dumps(self.config()))
        save_npz(path, arrays)


def load_model(path) -> Sequential:
    """Rebuild a model saved by Sequential.save; refuse a file that does not match its architecture."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"{path}: not a readable scratchcnn model file ({e})") from e
    if ARCH_KEY not in arrays:
        raise ValueError(f"{path}: no {ARCH_KEY} entry; not saved by Sequential.save")
    try:
        config = json.loads(str(arrays.pop(ARCH_KEY)))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: architecture is not valid JSON ({e})") from e
    version = config.get("version", FORMAT_VERSION) if isinstance(config, dict) else FORMAT_VERSION
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path}: model format version {version!r}; this scratchcnn reads versions "
                         f"up to {FORMAT_VERSION} (a newer scratchcnn wrote the file?)")
    model = Sequential.from_config(config)
    try:
        model.load_state_dict(arrays)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    K = model.forward(np.zeros((1, *model.input_shape), dtype=model.dtype)).shape[-1]
    if K != len(model.classes):  # names given by the file, not derived from K
        raise ValueError(f"{path}: the model has {K} outputs but names {len(model.classes)} "
                         f"classes {list(model.classes)}")
    return model
