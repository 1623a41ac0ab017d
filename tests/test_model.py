"""Sequential: whole-network gradients, save/load, prediction and learning end to end."""

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from conftest import json_entry_edit

from scratchcnn import SGD, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, build_model, load_model
from scratchcnn import softmax_cross_entropy
from scratchcnn.gradcheck import demo_model, model_gradients, relative_error


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_whole_network_backward_matches_numeric(impl):
    model, x, labels = demo_model(seed=3, impl=impl)
    analytic, numeric = model_gradients(model, x, labels, training=True)
    for name in numeric:
        err = relative_error(analytic[name], numeric[name])
        assert_allclose(analytic[name], numeric[name], rtol=1e-5, atol=1e-7,
                        err_msg=f"d{name}: max relative error {err:.2e}")


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    model = build_model("convnet", seed=1)
    x = np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32)
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = load_model(path)
    assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.config() == model.config()
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left behind


def test_load_refuses_truncated_file(tmp_path):
    path = tmp_path / "m.npz"
    build_model("convnet").save(path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ValueError, match="not a readable scratchcnn model"):
        load_model(path)


def _rewrite(src, dst, change):
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    np.savez_compressed(dst, **arrays)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update({"7.W": np.zeros((1600, 64), np.float32)}),
         r"7.W should be float32 \(1600, 128\)"),
        (lambda a: a.pop("9.b"), r"missing \['9.b'\]"),
        (lambda a: a.update({"10.W": np.zeros(3, np.float32)}), r"unexpected \['10.W'\]"),
        (lambda a: a.pop("__architecture__"), "no __architecture__"),
        (lambda a: a.update({"__architecture__": np.array("{not json")}), "not valid JSON"),
        (lambda a: a.update({"__architecture__": np.array(json.dumps(
            {"format": "scratchcnn.sequential", "layers": [{"type": "Lambda"}]}))}), "unknown type 'Lambda'"),
    ],
)
def test_load_refuses_file_not_matching_its_architecture(tmp_path, change, message):
    build_model("convnet").save(tmp_path / "good.npz")
    _rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", change)
    with pytest.raises(ValueError, match=message):
        load_model(tmp_path / "bad.npz")


def _with_version(version):
    def change(arrays):
        config = json.loads(str(arrays["__architecture__"]))
        arrays["__architecture__"] = np.array(json.dumps({**config, "version": version}))
    return change


def test_load_refuses_a_newer_format_version_naming_the_file_and_both_versions(tmp_path):
    from scratchcnn.model import FORMAT_VERSION

    build_model("convnet").save(tmp_path / "good.npz")
    _rewrite(tmp_path / "good.npz", tmp_path / "new.npz", _with_version(FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=rf"new.npz: model format version {FORMAT_VERSION + 1}; "
                                         rf"this scratchcnn reads versions up to {FORMAT_VERSION}"):
        load_model(tmp_path / "new.npz")
    _rewrite(tmp_path / "good.npz", tmp_path / "same.npz", _with_version(FORMAT_VERSION))
    assert load_model(tmp_path / "same.npz").num_params() == build_model("convnet").num_params()


def test_saved_file_reads_without_pickles(tmp_path):
    build_model("convnet").save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:  # raises on any pickled entry
        assert all(not npz[k].dtype.hasobject for k in npz.files)
        assert "__architecture__" in npz.files


def test_predict_proba_rows_sum_to_one_and_do_not_depend_on_batching():
    model = build_model("convnet", seed=2)
    x = np.random.default_rng(1).random((7, 1, 28, 28), dtype=np.float32)
    p = model.predict_proba(x, batch_size=3)
    assert p.shape == (7, 10) and p.dtype == np.float32
    assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    assert_allclose(p, model.predict_proba(x, batch_size=256), rtol=1e-5, atol=1e-7)
    assert_array_equal(model.predict(x), p.argmax(axis=1))


@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((2, 28, 28), np.float32), r"\(N, 1, 28, 28\), got \(2, 28, 28\)"),
        (np.zeros((2, 3, 28, 28), np.float32), r"\(N, 1, 28, 28\), got \(2, 3, 28, 28\)"),
        (np.zeros((2, 1, 28, 28), np.uint8), r"float32 input of shape \(N, 1, 28, 28\), got uint8"),
    ],
)
def test_model_rejects_bad_input_naming_expected_shape(x, message):
    with pytest.raises(ValueError, match=message):
        build_model("convnet").predict_proba(x)


def test_summary_lists_layers_shapes_and_parameter_counts():
    text = build_model("convnet").summary()
    assert "Conv2D(1->32, 3x3, s1, p0)" in text
    assert "(N, 64, 5, 5)" in text
    assert "204,928" in text  # 1600 * 128 + 128
    assert "total parameters: 225,034" in text


def test_rng_state_round_trip_replays_dropout_masks():
    model, x, _ = demo_model(seed=0)
    state = model.rng_state()
    json.dumps(state)  # JSON-safe
    first = model.forward(x.astype(np.float32), training=True)
    model.set_rng_state(state)
    assert_array_equal(model.forward(x.astype(np.float32), training=True), first)


def test_backward_without_input_grad_gives_the_same_parameter_gradients():
    model = build_model("mnist-small", dtype="float64")  # Normalize first: it is skipped
    x = np.random.default_rng(0).random((3, 1, 28, 28))
    _, dlogits = softmax_cross_entropy(model.forward(x), np.array([1, 2, 3]))
    assert model.backward(dlogits).shape == x.shape
    full = {name: g.copy() for name, _, g in model.parameters()}
    assert model.backward(dlogits, input_grad=False) is None
    for name, _, g in model.parameters():
        assert_array_equal(g, full[name], err_msg=name)


def test_tiny_network_learns_a_small_batch_to_full_accuracy():
    rng = np.random.default_rng(0)
    model = Sequential([
        Conv2D(1, 8, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Flatten(), Dense(8 * 7 * 7, 10, rng=rng),
    ], input_shape=(1, 14, 14))
    x = rng.random((16, 1, 14, 14), dtype=np.float32)
    y = np.arange(16) % 10
    opt = SGD(model, lr=0.05, momentum=0.9)
    for _ in range(200):
        loss, dlogits = softmax_cross_entropy(model.forward(x, training=True), y)
        model.backward(dlogits)
        opt.step()
        if (model.predict(x) == y).all():
            break
    assert (model.predict(x) == y).all(), f"accuracy {(model.predict(x) == y).mean():.2f}, loss {loss:.3f}"


def test_saved_file_gets_the_usual_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        build_model("convnet").save(tmp_path / "m.npz")
    finally:
        os.umask(umask)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o644


def _architecture(change):
    return json_entry_edit("__architecture__", change)


def test_a_model_file_names_its_classes_and_what_it_reads(tmp_path):
    from scratchcnn.shapes import CLASSES

    model = build_model("shapes-small")
    model.save(tmp_path / "shapes.npz")
    with np.load(tmp_path / "shapes.npz", allow_pickle=False) as npz:
        config = json.loads(str(npz["__architecture__"]))
    assert config["classes"] == list(CLASSES) and config["reads"] == "shapes"
    loaded = load_model(tmp_path / "shapes.npz")
    assert loaded.classes == CLASSES and loaded.reads == "shapes"
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_a_file_without_classes_loads_as_the_ten_digits(tmp_path):
    build_model("convnet").save(tmp_path / "new.npz")
    _rewrite(tmp_path / "new.npz", tmp_path / "old.npz",
             _architecture(lambda c: (c.pop("classes"), c.pop("reads"))))
    old = load_model(tmp_path / "old.npz")
    assert old.classes == tuple("0123456789") and old.reads == "digits"


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(classes=["a", "b"]), "10 outputs but names 2 classes"),
    (lambda c: c.update(classes=["a"] * 10), "classes must be distinct non-empty names"),
    (lambda c: c.update(reads="letters"), "reads must be one of"),
])
def test_load_refuses_classes_that_do_not_fit_the_model(tmp_path, change, message):
    build_model("convnet").save(tmp_path / "good.npz")
    _rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", _architecture(change))
    with pytest.raises(ValueError, match=message):
        load_model(tmp_path / "bad.npz")


# ---------------------------------------------------------------- hostile or broken model files


def _arch(layers, input_shape=(1, 28, 28), **extra) -> np.ndarray:
    return np.array(json.dumps({"format": "scratchcnn.sequential", "version": 1,
                                "input_shape": list(input_shape), "layers": layers, **extra}))


def _dense(D, M):
    return {"type": "Dense", "config": {"in_features": D, "out_features": M}}


def _zip_bomb(path):
    """The real model plus a 256 MiB entry of zeros (256 KB compressed) that the architecture never
    names (the issue's was 3 GiB; any size over the allocation bound below shows the same)."""
    import zipfile

    build_model("convnet").save(path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("extra.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "|u1", "fortran_order": False, "shape": (256 << 20,)})
            block = bytes(1 << 24)
            for _ in range(16):
                f.write(block)


HOSTILE_FILES = {
    "huge Dense": (lambda p: np.savez(p, __architecture__=_arch([_dense(20000, 20000)]),
                                      **{"0.W": np.zeros((2, 2), np.float32)}),
                   "400,020,000 parameters"),
    "3000 layers": (lambda p: np.savez(p, __architecture__=_arch([_dense(1000, 1000)] * 3000)),
                    "3000 layers; at most"),
    "huge Conv2D": (lambda p: np.savez(p, __architecture__=_arch([{"type": "Conv2D", "config": {
        "in_channels": 1, "out_channels": 100000, "kernel_size": 100}}])), "parameters; at most"),
    "layers not a list": (lambda p: np.savez(p, __architecture__=np.array(json.dumps(
        {"format": "scratchcnn.sequential", "layers": 5}))), '"layers" must be a list'),
    "layer not a dict": (lambda p: np.savez(p, __architecture__=_arch([5])), "layer 0: unknown type"),
    "config not a dict": (lambda p: np.savez(p, __architecture__=_arch(
        [{"type": "Dense", "config": [1, 2]}])), "config must map names"),
    "config nested": (lambda p: np.savez(p, __architecture__=_arch(
        [{"type": "Dense", "config": {"in_features": [[[1]]]}}])), "config must map names"),
    "float size": (lambda p: np.savez(p, __architecture__=_arch([_dense(1e300, 4)])),
                   "in_features must be an int"),
    "unknown key": (lambda p: np.savez(p, __architecture__=_arch(
        [{"type": "ReLU", "config": {"inplace": True}}])), "layer 0 (ReLU): bad config"),
    "deeply nested JSON": (lambda p: np.savez(p, __architecture__=np.array(
        "[" * 100_000 + "]" * 100_000)), "nested too deeply"),
    "huge input_shape": (lambda p: np.savez(p, __architecture__=_arch([], (1, 100000, 100000))),
                         "input_shape must be"),
    "input_shape not ints": (lambda p: np.savez(p, __architecture__=_arch([], ("a", -1))),
                             "input_shape must be"),
    "bare .npy": (lambda p: np.save(open(p, "wb"), np.zeros(10)), "not a zip archive"),
    "random bytes": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)),
                     "not a zip archive"),
    "text": (lambda p: p.write_text("not a model\n" * 50), "not a zip archive"),
    "empty": (lambda p: p.write_bytes(b""), "not a zip archive"),
    "object array": (lambda p: np.savez(p, __architecture__=_arch([_dense(2, 2)]),
                                        **{"0.W": np.array([{}, {}], dtype=object),
                                           "0.b": np.zeros(2, np.float32)}),
                     "Python objects"),
    "architecture as bytes": (lambda p: np.savez(p, __architecture__=np.zeros(4, np.uint8)),
                              "must be one string"),
    "zip bomb": (_zip_bomb, "unexpected ['extra']"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_load_checks_the_file_before_allocating(tmp_path, case):
    import tracemalloc

    make, fragment = HOSTILE_FILES[case]
    path = tmp_path / f"{case.replace(' ', '_')}.npz"
    make(path)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert str(path) in message and fragment in message, message
    assert "allow_pickle" not in message and "\n" not in message
    assert peak < 32 << 20, f"allocated {peak / 2**20:.0f} MiB before refusing the file"


def test_load_refuses_a_folder_and_an_unreadable_file(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        load_model(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.npz")


def test_load_refuses_an_entry_shorter_than_its_header(tmp_path):
    import zipfile

    path = tmp_path / "m.npz"
    np.savez(path, __architecture__=_arch([_dense(3, 2)]), **{"0.b": np.zeros(2, np.float32)})
    with zipfile.ZipFile(path, "a") as zf, zf.open("0.W.npy", "w") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (3, 2)})
        f.write(bytes(8))  # 2 of the 6 floats
    with pytest.raises(ValueError, match=r"entry 0.W is \d+ bytes, its header promises"):
        load_model(path)
