"""Sequential: a list of layers run forward in order and backward in reverse.

Parameters are named "<layer index>.<key>" ("0.W"), buffers (running statistics) the same way
("3.running_mean"). A saved model is one .npz holding every parameter and buffer under its name
plus the architecture as a JSON string under "__architecture__",
loaded with allow_pickle=False so a model file can never run code.
"""

import contextlib
import ctypes
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait
import zipfile
import zlib

import numpy as np

from .fileio import save_npz
from .layers import IMPLS, LAYERS, Layer
from .losses import softmax

FORMAT = "scratchcnn.sequential"
FORMAT_VERSION = 1
ARCH_KEY = "__architecture__"


def keep_freed_memory(limit: int = 32 << 20) -> bool:
    """Ask glibc's malloc to keep freed blocks up to `limit` bytes for reuse (True if it agreed).

    A training step makes and frees about 100 MB of short-lived arrays. By default glibc hands
    big blocks back to the OS on free, so the next step faults every page in again, which on the
    2-core VM costs ~1 us per 4 KiB page: `scratchcnn bench` trains ~15% faster at batch 128
    with this setting than with SCRATCHCNN_KEEP_FREED_MEMORY=0 (README, Speed).
    With blocks under `limit` served from the heap and the heap not trimmed until 1 GiB lies free
    at its top, a freed block is reused as it is. Peak memory is unchanged; the process keeps it until exit.
    Called once when scratchcnn.model is imported, unless SCRATCHCNN_KEEP_FREED_MEMORY=0 (which
    also lets `scratchcnn bench` measure the difference); a no-op where the C library has no
    mallopt.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
    return bool(mallopt(M_MMAP_THRESHOLD, limit)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))


if os.environ.get("SCRATCHCNN_KEEP_FREED_MEMORY", "1") != "0":
    keep_freed_memory()

# BLAS threads while a batch runs in pieces on our two threads. On the shared 2-core machine,
# OpenBLAS's own 2 threads spin while waiting and made a training step 2-4x slower than 1 thread
# (timing loops when the fast path was first tuned). A batch too small to split keeps BLAS's own setting,
# so one image's products may use both cores. threadpoolctl, when installed, sets it for the
# call only; None leaves BLAS alone.
BLAS_THREADS: int | None = 1
_blas_libs = None  # threadpoolctl's handles on the loaded BLAS libraries, found once
_blas_lock = threading.Lock()
_blas_users = 0  # model calls running now, in any thread
_blas_saved: list = []  # the callers' thread counts, restored by the last one out


@contextlib.contextmanager
def _blas_limit():
    """Cap BLAS threads at BLAS_THREADS while the block runs (a no-op without threadpoolctl).

    The setting is process-wide, so concurrent calls (a threaded web server) share one limit:
    the first sets it, the last restores what was there before. The library handles are found
    once and then called directly: threadpoolctl's `limit()` scans every loaded library, which
    cost ~50 us per call, a sixth of a one-image prediction at the time."""
    global _blas_libs, _blas_users, _blas_saved
    if BLAS_THREADS is None:
        yield
        return
    if _blas_libs is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas_libs = []
        else:
            _blas_libs = ThreadpoolController().select(user_api="blas").lib_controllers
    with _blas_lock:
        if _blas_users == 0:
            _blas_saved = [lib.get_num_threads() for lib in _blas_libs]
            for lib in _blas_libs:
                lib.set_num_threads(BLAS_THREADS)
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                for lib, n in zip(_blas_libs, _blas_saved):
                    lib.set_num_threads(n)


# Batches of at least SPLIT_MIN images run through the whole network in pieces of at most PIECE
# images, half of the pieces on a helper thread (each piece through its own layer twins,
# Layer.twin): the Numba kernels release the GIL, and so does BLAS. Two hand-overs per pass
# instead of one per layer: 1.2x the training throughput in timing loops. Pieces of 32 keep a
# piece's arrays near the cache: at batch 128, four pieces trained ~8% faster than two
# halves. The caller sleeps on the helper's result instead of spinning, so on a busy machine the
# split costs little.
SPLIT_MIN = 16
PIECE = 32
_helper: tuple[int, ThreadPoolExecutor] | None = None  # (pid that made it, executor)


def _pieces(N: int) -> list[tuple[int, int]]:
    """(lo, hi) bounds of an even number of near-equal pieces of at most PIECE images."""
    count = 2 * -(-N // (2 * PIECE))
    return [(i * N // count, (i + 1) * N // count) for i in range(count)]


def _in_parallel(fn, first: tuple, second: tuple):
    """fn(*first) here and fn(*second) on the helper thread, at the same time; both results."""
    global _helper
    if _helper is None or _helper[0] != os.getpid():  # a forked child needs its own thread
        _helper = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="scratchcnn"))
    other = _helper[1].submit(fn, *second)
    try:
        mine = fn(*first)
    finally:
        wait([other])  # never leave the helper running on this call's arrays
    return mine, other.result()


def _forward_through(layers, x, training):
    for layer in layers:
        x = layer.forward(x, training)
    return x


def _backward_through(layers, dy, stop: int, first: int, input_grad: bool):
    for i in range(len(layers) - 1, stop - 1, -1):
        dy = layers[i].backward(dy, need_dx=input_grad or i > first)
    return dy


def _on_both_threads(fn, stacks, a, bounds, *args) -> list:
    """fn over the first half of the pieces here and the second half on the helper thread, with
    BLAS capped meanwhile; the results in piece order."""
    h = len(bounds) // 2
    with _blas_limit():
        mine, other = _in_parallel(fn, (stacks[:h], a, bounds[:h], *args),
                                   (stacks[h:], a, bounds[h:], *args))
    return mine + other


def _forward_pieces(stacks, x, bounds, training) -> list:
    return [_forward_through(layers, x[lo:hi], training) for layers, (lo, hi) in zip(stacks, bounds)]


def _backward_pieces(stacks, dy, bounds, *args) -> list:
    return [_backward_through(layers, dy[lo:hi], *args) for layers, (lo, hi) in zip(stacks, bounds)]


class Sequential:
    """Compose layers: y = layer_L(... layer_1(x)); backward applies the chain rule in reverse.

    Shapes: x (N, *input_shape) -> logits (N, K)
    """

    def __init__(self, layers: list[Layer], input_shape=(1, 28, 28)):
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"layer {i} must be a scratchcnn Layer, got {type(layer).__name__}")
        self.layers = layers
        self.input_shape = tuple(int(s) for s in input_shape)
        self._stacks: list[list[Layer]] | None = None  # the last forward's pieces' layers, if split
        self._bounds: list[tuple[int, int]] = []  # (lo, hi) of each of that forward's pieces

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
        """Every layer in order. A batch of SPLIT_MIN+ images runs in pieces on two threads."""
        self._check_input(x)
        N, self._stacks = len(x), None
        if N < SPLIT_MIN:  # one thread of ours: BLAS may use the other core
            return _forward_through(self.layers, x, training)
        self._bounds = _pieces(N)
        self._stacks = [self.layers] + [[layer.twin(training) for layer in self.layers]
                                        for _ in self._bounds[1:]]
        y = np.concatenate(_on_both_threads(_forward_pieces, self._stacks, x, self._bounds,
                                            training))
        for i, layer in enumerate(self.layers):  # e.g. BatchNorm's running statistics
            layer.merge_twins([twins[i] for twins in self._stacks[1:]])
        return y

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Chain rule from the last layer to the first; returns dL/dx of the input.

        input_grad=False, for training, returns None and does less: nothing before the first layer
        with parameters is run, and that layer computes only its parameter gradients.
        After a split forward, each piece runs back through its own layers and the twins'
        gradients are added to the layers' (the loss already averaged over the whole batch)."""
        first = next((i for i, layer in enumerate(self.layers) if layer.params), 0)
        args = (0 if input_grad else first, first, input_grad)
        if self._stacks is None:
            dx = _backward_through(self.layers, dy, *args)
        else:
            N = self._bounds[-1][1]
            if not isinstance(dy, np.ndarray) or dy.ndim == 0 or len(dy) != N:
                got = dy.shape if isinstance(dy, np.ndarray) else type(dy).__name__
                raise ValueError(f"model.backward expected dy of shape ({N}, ...) for the last "
                                 f"forward's {N} images, got {got}")
            dxs = _on_both_threads(_backward_pieces, self._stacks, dy, self._bounds, *args)
            for twins in self._stacks[1:]:
                for layer, twin in zip(self.layers, twins):
                    for k in twin.grads:
                        layer.grads[k] = layer.grads[k] + twin.grads[k]
            dx = np.concatenate(dxs) if input_grad else None
        return dx if input_grad else None

    def predict_proba(self, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities in inference mode, batch by batch. Shapes: (N, ...) -> (N, K)

        Batches of 64 (two pieces of 32 on two threads) keep each layer's arrays near the cache;
        on the 2-core machine they ran 1,000 images faster than batches of 256 or all at once."""
        if len(x) <= batch_size:
            return softmax(self.forward(x))
        self._check_input(x)
        return np.concatenate([softmax(self.forward(x[i : i + batch_size]))
                               for i in range(0, len(x), batch_size)])

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

    def set_impl(self, impl: str) -> "Sequential":
        """Switch every Conv2D / MaxPool2D between "fast" and "naive"."""
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        for layer in self.layers:
            if hasattr(layer, "impl"):
                layer.impl = impl
        return self

    def astype(self, dtype) -> "Sequential":
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def config(self) -> dict:
        return {"format": FORMAT, "version": FORMAT_VERSION, "input_shape": list(self.input_shape),
                "layers": [{"type": type(layer).__name__, "config": layer.config()}
                           for layer in self.layers]}

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
        return cls(layers, config.get("input_shape", (1, 28, 28)))

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
    model = Sequential.from_config(config)
    try:
        model.load_state_dict(arrays)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    return model
