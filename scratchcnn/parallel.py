"""How fast it runs, kept apart from what the network computes (model.py).

- `DataParallel(model)` (PyTorch's name for the same idea) runs a big batch in pieces on two
  threads and gives what `model` alone gives: the trainer, `evaluate` and the bench wrap their
  model in it. The Numba kernels and BLAS release the GIL, so two Python threads keep both cores
  busy.
- `blas_limit()` caps BLAS's own threads while our two threads run (BLAS_THREADS).
- `keep_freed_memory()` / `configure_process()` tune glibc's malloc for the trainer's big
  short-lived arrays. Process-wide, so only entry points call it (`scratchcnn train`, `bench`,
  `serve`), never an import.

Nothing here runs at import time: the helper thread and the BLAS handles are made on first use.
"""

import contextlib
import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from .losses import softmax
from .model import Sequential

# BLAS threads while a batch runs in pieces on our two threads: with two of ours, BLAS's own
# threads only spin and wait on the shared 2-core machine. A batch too small to split keeps
# BLAS's own setting, so one image's products may use both cores. None leaves BLAS alone.
BLAS_THREADS: int | None = 1
# Batches of at least SPLIT_MIN images run in an even number of pieces of at most PIECE images,
# half of them on the helper thread; pieces of 32 keep a piece's arrays near the cache.
SPLIT_MIN = 16
PIECE = 32

_blas_libs = None  # threadpoolctl's handles on the loaded BLAS libraries, found once
_blas_lock = threading.Lock()
_blas_users = 0  # blas_limit blocks running now, in any thread
_blas_saved: list = []  # the callers' thread counts, restored by the last one out
_helper: tuple[int, ThreadPoolExecutor] | None = None  # (pid that made it, executor)
malloc_tuned = False  # set once keep_freed_memory has called mallopt (never by an import)


def keep_freed_memory(limit: int = 32 << 20) -> bool:
    """Ask glibc's malloc to keep freed blocks up to `limit` bytes for reuse (True if it agreed).

    A training step makes and frees about 100 MB of short-lived arrays. By default glibc hands
    big blocks back to the OS on free, so the next step faults every page in again. With blocks
    under `limit` served from the heap and the heap not trimmed until 1 GiB lies free at its top,
    a freed block is reused as it is. Peak memory is unchanged; the process keeps it until exit.
    A no-op (False) where the C library has no mallopt.
    """
    global malloc_tuned
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
    malloc_tuned = True
    return bool(mallopt(M_MMAP_THRESHOLD, limit)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))


def configure_process() -> bool:
    """The process-wide speed settings an entry point applies once (`scratchcnn train`, `bench`,
    `serve`): keep_freed_memory(), unless SCRATCHCNN_KEEP_FREED_MEMORY=0 (which lets the bench
    measure the difference). True if malloc took the setting."""
    if os.environ.get("SCRATCHCNN_KEEP_FREED_MEMORY", "1") == "0":
        return False
    return keep_freed_memory()


@contextlib.contextmanager
def blas_limit():
    """Cap BLAS threads at BLAS_THREADS while the block runs.

    The setting is process-wide, so concurrent blocks (a threaded web server) share one limit:
    the first sets it, the last restores what was there before. The library handles are found
    once and then called directly (threadpoolctl's `limit()` scans every loaded library)."""
    global _blas_libs, _blas_users, _blas_saved
    if BLAS_THREADS is None:
        yield
        return
    if _blas_libs is None:
        from threadpoolctl import ThreadpoolController

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


def _capped_chunk(args):
    """A forked worker's job: fn(lo, hi, *rest) with BLAS on one thread (the workers already
    fill the cores; BLAS's own threads on tiny products only spin and wait)."""
    fn, lo, hi, rest = args
    with blas_limit():
        return fn(lo, hi, *rest)


def draw_in_chunks(fn, n: int, *rest, workers: int | None = None, min_fork: int = 2000) -> list:
    """[fn(lo, hi, *rest) for consecutive chunks of range(n)], in order: the generators' loop
    (sample i drawn from default_rng([seed, i]), so the result does not depend on how the work
    is split). Runs in up to 2 forked processes when n >= min_fork and the platform can fork
    (spawn would re-run __main__), else here; BLAS is capped at one thread either way.
    fn must be a module-level function (a forked worker finds it by name)."""
    import multiprocessing

    forking = "fork" in multiprocessing.get_all_start_methods()
    workers = workers or (min(2, os.cpu_count() or 1) if n >= min_fork and forking else 1)
    bounds = np.linspace(0, n, 8 * workers + 1).astype(int)
    jobs = [(fn, int(a), int(b), rest) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    if workers == 1:
        return [_capped_chunk(job) for job in jobs]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.map(_capped_chunk, jobs)


def _pieces(N: int) -> list[tuple[int, int]]:
    """(lo, hi) bounds of an even number of near-equal pieces of at most PIECE images."""
    count = 2 * -(-N // (2 * PIECE))
    return [(i * N // count, (i + 1) * N // count) for i in range(count)]


def _in_parallel(fn, first: tuple, second: tuple):
    """fn(*first) here and fn(*second) on the helper thread, at the same time; both results.
    The caller sleeps on the helper's result instead of spinning, so on a busy machine the
    split costs little."""
    global _helper
    if _helper is None or _helper[0] != os.getpid():  # a forked child needs its own thread
        _helper = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="scratchcnn"))
    other = _helper[1].submit(fn, *second)
    try:
        mine = fn(*first)
    finally:
        wait([other])  # never leave the helper running on this call's arrays
    return mine, other.result()


def _run_pieces(step, replicas, a, bounds) -> list:
    return [step(replica, a[lo:hi]) for replica, (lo, hi) in zip(replicas, bounds)]


class DataParallel:
    """model's forward and backward, with a batch of SPLIT_MIN+ images run in pieces on two threads.

    The first piece runs through the model itself, every other through a replica: a Sequential of
    layer twins (Layer.twin: the same parameter arrays, their own caches and gradients). Half the
    pieces run on a helper thread, with BLAS capped at BLAS_THREADS meanwhile. Once both threads
    are done, each layer gets its twins (Layer.merge_twins) to fold in what is not a gradient:
    BatchNorm normalises each piece by its own statistics (ghost batch norm) and updates its
    running statistics once, from all the pieces' statistics pooled. backward sends
    each piece back through its replica and adds the replicas' gradients to the model's: the
    loss already averaged over the whole batch, so the sum is the batch's gradient. Smaller
    batches go straight to the model. The math is the model's; only the order of additions in
    dW and db differs (float rounding).

    Shapes: x (N, *input_shape) -> logits (N, K), as model.forward
    """

    def __init__(self, model: Sequential):
        if not isinstance(model, Sequential):
            raise ValueError(f"DataParallel expected a Sequential, got {type(model).__name__}")
        self.model = model
        self._replicas: list[Sequential] | None = None  # the last forward's, if it was split
        self._bounds: list[tuple[int, int]] = []  # (lo, hi) of each of that forward's pieces

    def _on_both_threads(self, step, a) -> list:
        """step(replica, piece) over the first half of the pieces here and the second half on
        the helper thread, with BLAS capped meanwhile; the results in piece order."""
        h = len(self._bounds) // 2
        reps, bounds = self._replicas, self._bounds
        with blas_limit():
            mine, other = _in_parallel(_run_pieces, (step, reps[:h], a, bounds[:h]),
                                       (step, reps[h:], a, bounds[h:]))
        return mine + other

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """model.forward(x, training); a batch of SPLIT_MIN+ images runs in pieces on two threads."""
        model = self.model
        self._replicas = None
        if not isinstance(x, np.ndarray) or x.ndim == 0 or len(x) < SPLIT_MIN:
            return model.forward(x, training)  # one thread of ours: BLAS may use the other core
        model._check_input(x)
        self._bounds = _pieces(len(x))
        self._replicas = [model] + [
            Sequential([layer.twin(training) for layer in model.layers], model.input_shape)
            for _ in self._bounds[1:]]
        for replica in self._replicas[1:]:
            replica.train_from = model.train_from  # their backward stops where the model's does
        y = np.concatenate(self._on_both_threads(
            lambda replica, piece: replica.forward(piece, training), x))
        for i, layer in enumerate(model.layers):  # the hook for BatchNorm's running statistics
            layer.merge_twins([replica.layers[i] for replica in self._replicas[1:]])
        return y

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """model.backward(dy, input_grad) for the last forward (input_grad=False: None, and
        nothing before the first layer with parameters runs)."""
        if self._replicas is None:
            return self.model.backward(dy, input_grad)
        N = self._bounds[-1][1]
        if not isinstance(dy, np.ndarray) or dy.ndim == 0 or len(dy) != N:
            got = dy.shape if isinstance(dy, np.ndarray) else type(dy).__name__
            raise ValueError(f"model.backward expected dy of shape ({N}, ...) for the last "
                             f"forward's {N} images, got {got}")
        dxs = self._on_both_threads(lambda replica, piece: replica.backward(piece, input_grad), dy)
        for replica in self._replicas[1:]:
            for layer, twin in zip(self.model.layers, replica.layers):
                for k in twin.grads:
                    layer.grads[k] = layer.grads[k] + twin.grads[k]
        return np.concatenate(dxs) if input_grad else None

    def predict_proba(self, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """model.predict_proba(x, batch_size), each batch through forward (so in two pieces of 32
        for the default 64, which keeps each layer's arrays near the cache).

        Shapes: (N, ...) -> (N, K)"""
        if len(x) <= batch_size:
            return softmax(self.forward(x))
        self.model._check_input(x)
        return np.concatenate([softmax(self.forward(x[i : i + batch_size]))
                               for i in range(0, len(x), batch_size)])

    def predict(self, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Most probable class per input. Shapes: (N, ...) -> (N,) int64"""
        return self.predict_proba(x, batch_size).argmax(axis=1)
