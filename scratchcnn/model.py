"""Sequential: a list of layers run forward in order and backward in reverse.

Parameters are named "<layer index>.<key>" ("0.W"), buffers (running statistics) the same way
("3.running_mean"). A saved model is one .npz holding every parameter and buffer under its name
plus the architecture as a JSON string under "__architecture__",
loaded with allow_pickle=False so a model file can never run code. The architecture also names
the classes (output k is classes[k]) and what the model reads ("digits" or "shapes"); a file
written before they were recorded loads as digits, classes "0".."K-1" (the ten digits).
"""

import json
import math
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
        # Layers before this index stay fixed in training (train --train-from, fine-tuning the
        # head): backward stops before them and trainable_parameters() leaves them out. Not saved.
        self.train_from = 0

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
        layer with parameters (from train_from on) is run, and that layer computes only its
        parameter gradients."""
        first = next((i for i, layer in enumerate(self.layers)
                      if layer.params and i >= self.train_from), 0)
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

    def trainable_parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """parameters() of the layers from train_from on: what an optimiser updates."""
        return [(f"{i}.{k}", layer.params[k], layer.grads[k])
                for i, layer in enumerate(self.layers[self.train_from:], self.train_from)
                for k in layer.params]

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
        """Build the model an architecture describes (checked first by check_architecture)."""
        check_architecture(config)
        layers = [LAYERS[spec["type"]](**spec.get("config", {})) for spec in config["layers"]]
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


# Bounds on what a model file may ask for, checked before anything is built: the shipped model
# has 10 layers and 225,034 parameters; these are hundreds of times that, and still fit in memory.
MAX_LAYERS = 256
MAX_PARAMS = 1 << 26  # 64 Mi parameters: 256 MiB as float32
MAX_INPUT_SIZE = 1 << 16  # elements of one input image, e.g. 1 x 256 x 256
MAX_ARCH_BYTES = 1 << 20  # the architecture JSON entry, stored as UTF-32


def _is_flat(value) -> bool:
    """A config value: a JSON scalar or a list of scalars (kernel_size [3, 3]), nothing deeper."""
    scalar = (type(None), bool, int, float, str)
    return isinstance(value, scalar) or (isinstance(value, list) and len(value) <= 8
                                         and all(isinstance(v, scalar) for v in value))


def check_architecture(config) -> dict[str, tuple[int, ...]]:
    """Validate an architecture dict without building it; return the parameter shapes it implies
    ({"0.W": (F, C, KH, KW), ...}). ValueError names the first problem: the format, the layer
    list (at most MAX_LAYERS), a layer's type or config, the input shape (at most MAX_INPUT_SIZE
    elements) or a parameter total over MAX_PARAMS."""
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} architecture: {str(config)[:200]}")
    version = config.get("version", FORMAT_VERSION)
    if type(version) is not int or version > FORMAT_VERSION:
        raise ValueError(f"model format version {version!r}; this scratchcnn reads versions up to "
                         f"{FORMAT_VERSION} (a newer scratchcnn wrote the file?)")
    layers = config.get("layers", [])
    if not isinstance(layers, list):
        raise ValueError(f'"layers" must be a list of layers, got {type(layers).__name__}')
    if len(layers) > MAX_LAYERS:
        raise ValueError(f"{len(layers)} layers; at most {MAX_LAYERS} are accepted")
    shape = config.get("input_shape", [1, 28, 28])
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 3
            or not all(type(s) is int and s >= 1 for s in shape)
            or math.prod(shape) > MAX_INPUT_SIZE):
        raise ValueError(f"input_shape must be 1 to 3 positive ints with at most {MAX_INPUT_SIZE} "
                         f"elements in all, got {str(shape)[:100]}")
    shapes, total = {}, 0
    for i, spec in enumerate(layers):
        kind = spec.get("type") if isinstance(spec, dict) else None
        if not isinstance(kind, str) or kind not in LAYERS:
            got = kind if isinstance(spec, dict) else spec
            raise ValueError(f"layer {i}: unknown type {str(got)[:100]!r}; known: {sorted(LAYERS)}")
        cfg = spec.get("config", {})
        if not isinstance(cfg, dict) or not all(_is_flat(v) for v in cfg.values()):
            raise ValueError(f"layer {i} ({kind}): config must map names to numbers, strings or "
                             f"short lists, got {str(cfg)[:200]}")
        try:
            for key, s in LAYERS[kind].param_shapes(cfg).items():
                shapes[f"{i}.{key}"] = s
                total += math.prod(s)
        except (TypeError, ValueError) as e:
            raise ValueError(f"layer {i} ({kind}): bad config {str(cfg)[:200]}: {e}") from None
        if total > MAX_PARAMS:
            raise ValueError(f"the layers up to layer {i} hold {total:,} parameters; at most "
                             f"{MAX_PARAMS:,} are accepted")
    return shapes


def _entry_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple, np.dtype]:
    """Shape and dtype from an .npy entry's header, reading nothing else; ValueError unless the
    entry holds exactly the bytes its header promises."""
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        read = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read is None:
            raise ValueError(f"unsupported .npy version {version}")
        shape, _, dtype = read(f)
        size = f.tell() + math.prod(shape) * dtype.itemsize
    if dtype.hasobject:
        raise ValueError("holds Python objects, which a model file never does")
    if size != info.file_size:
        raise ValueError(f"is {info.file_size} bytes, its header promises {size}")
    return shape, dtype


def _read_archive(path) -> tuple[dict, dict[str, tuple[int, ...]], list]:
    """(architecture, the parameter shapes it implies, the entries to read), every entry's
    header checked against them; nothing but the architecture JSON has been read."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError("not a readable scratchcnn model file: not a zip archive (a model is the .npz "
                         "Sequential.save writes)") from None
    with zf:
        infos = {i.filename.removesuffix(".npy"): i for i in zf.infolist()}
        arch = infos.pop(ARCH_KEY, None)
        if arch is None:
            raise ValueError(f"no {ARCH_KEY} entry: not saved by Sequential.save")
        shape, dtype = _entry_header(zf, arch)
        if dtype.kind != "U" or shape != () or arch.file_size > MAX_ARCH_BYTES:
            raise ValueError(f"{ARCH_KEY} must be one string of at most {MAX_ARCH_BYTES} bytes, "
                             f"got {dtype} {shape}, {arch.file_size} bytes")
        with zf.open(arch) as f:
            text = str(np.lib.format.read_array(f, allow_pickle=False))
        try:
            config = json.loads(text)
        except RecursionError:
            raise ValueError("architecture JSON is nested too deeply") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"architecture is not valid JSON ({e})") from None
        expected = check_architecture(config)
        missing, extra = sorted(expected.keys() - infos.keys()), sorted(infos.keys() - expected.keys())
        if missing or extra:
            raise ValueError(f"entries do not match the architecture: missing {missing[:10]}, "
                             f"unexpected {extra[:10]}")
        for name, info in infos.items():
            try:
                shape, dtype = _entry_header(zf, info)
            except ValueError as e:
                raise ValueError(f"entry {name} {e}") from None
            if shape != expected[name] or dtype not in (np.float32, np.float64):
                raise ValueError(f"parameter {name} should be float32 {expected[name]}, "
                                 f"got {dtype} {shape}")
    return config, expected, list(infos)


def load_model(path) -> Sequential:
    """Rebuild a model saved by Sequential.save, checking the file before allocating anything.

    The archive's entries and their .npy headers are checked against the parameter shapes the
    architecture implies (check_architecture), so a file cannot make the loader allocate more
    than MAX_PARAMS parameters, nor read an entry the architecture has no use for (a zip bomb).
    Every failure but a missing file is one ValueError naming the file and the problem.
    """
    try:
        config, _, names = _read_archive(path)
        model = Sequential.from_config(config)
        with np.load(path, allow_pickle=False) as npz:
            model.load_state_dict({name: npz[name] for name in names})
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise ValueError(f"{path}: is a folder, not a model file") from None
    except PermissionError:
        raise ValueError(f"{path}: cannot be read (permission denied)") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"{path}: {e}") from None
    K = model.forward(np.zeros((1, *model.input_shape), dtype=model.dtype)).shape[-1]
    if K != len(model.classes):  # names given by the file, not derived from K
        raise ValueError(f"{path}: the model has {K} outputs but names {len(model.classes)} "
                         f"classes {list(model.classes)}")
    return model
