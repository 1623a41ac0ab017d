"""Sequential: whole-network gradients, save/load, prediction and learning end to end."""

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from scratchcnn import SGD, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, build_model, load_model
from scratchcnn import model as model_module
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


@pytest.mark.parametrize("N", [21, 70])  # 2 pieces of 10-11 images; 4 of 17-18
def test_a_batch_split_over_two_threads_gives_the_whole_batch_results(monkeypatch, N):
    model = build_model("mnist-small", dtype="float64")
    rng = np.random.default_rng(1)
    x, y = rng.random((N, 1, 28, 28)), rng.integers(0, 10, N)

    def run():
        logits = model.forward(x)
        dx = model.backward(softmax_cross_entropy(logits, y)[1])
        return logits, dx, {name: g.copy() for name, _, g in model.parameters()}

    monkeypatch.setattr(model_module, "SPLIT_MIN", 10**9)
    whole = run()
    assert model._stacks is None
    monkeypatch.setattr(model_module, "SPLIT_MIN", 16)
    split = run()
    assert len(model._stacks) == (2 if N < 64 else 4)
    assert_allclose(split[0], whole[0], rtol=1e-12)
    assert_allclose(split[1], whole[1], rtol=1e-10, atol=1e-14)
    for name, g in whole[2].items():
        assert_allclose(split[2][name], g, rtol=1e-10, atol=1e-14, err_msg=name)
    with pytest.raises(ValueError, match=rf"expected dy of shape \({N}, \.\.\.\)"):
        model.backward(np.zeros((N - 1, 10)))


@pytest.mark.parametrize("between", ["nothing", "a split prediction"])
def test_split_batches_replay_their_dropout_masks_from_the_layer_state(between):
    model = build_model("mnist-small")
    x = np.random.default_rng(2).random((32, 1, 28, 28), dtype=np.float32)
    state = model.rng_state()
    first = model.forward(x, training=True)
    model.set_rng_state(state)
    if between == "a split prediction":
        model.predict_proba(x)  # split over two threads too, in inference mode: draws no mask seed
    assert_array_equal(model.forward(x, training=True), first)
    assert not np.array_equal(model.forward(x, training=True), first)  # a new batch, new masks


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


def test_keep_freed_memory_is_accepted_by_glibc():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's; elsewhere keep_freed_memory is a no-op")
    assert model_module.keep_freed_memory() is True


def test_batchnorm_in_a_split_batch_is_ghost_batch_norm_with_one_pooled_running_update():
    """Split over two threads, each piece is normalised by its own statistics, exactly as if the
    pieces ran one after the other; the running statistics move once, as by the whole batch's
    activations, and the same in every run (twins never write them)."""
    import copy

    from scratchcnn import BatchNorm1D, BatchNorm2D, Normalize

    rng = np.random.default_rng(4)
    model = Sequential([
        Normalize(), Conv2D(1, 3, 3, padding=1, dtype="float64", rng=rng),
        BatchNorm2D(3, dtype="float64"), ReLU(), MaxPool2D(2), Flatten(),
        Dense(3 * 14 * 14, 8, dtype="float64", rng=rng), BatchNorm1D(8, dtype="float64"), ReLU(),
        Dense(8, 10, dtype="float64", rng=rng)])
    N = 70
    x, y = rng.random((N, 1, 28, 28)), rng.integers(0, 10, N)
    bounds = model_module._pieces(N)
    assert len(bounds) == 4
    serial, inputs = [], {2: [], 7: []}  # each piece alone through its own copy of the model
    for lo, hi in bounds:
        layers, a = copy.deepcopy(model.layers), x[lo:hi]
        for i, layer in enumerate(layers):
            if i in inputs:
                inputs[i].append(a)
            a = layer.forward(a, training=True)
        serial.append((layers, a))
    logits = np.concatenate([a for _, a in serial])
    _, dlogits = softmax_cross_entropy(logits, y)
    grads = {}
    for (layers, _), (lo, hi) in zip(serial, bounds):
        g = dlogits[lo:hi]
        for layer in reversed(layers):
            g = layer.backward(g)
        for i, layer in enumerate(layers):
            for k, v in layer.grads.items():
                grads[f"{i}.{k}"] = grads.get(f"{i}.{k}", 0) + v
    expected_running = {}
    for i, pieces in inputs.items():
        whole = copy.deepcopy(model.layers[i])
        whole.forward(np.concatenate(pieces), training=True)
        expected_running.update({f"{i}.{k}": v for k, v in whole.buffers.items()})

    runs = []
    for _ in range(2):
        m = copy.deepcopy(model)
        split_logits = m.forward(x, training=True)
        assert m._stacks is not None and len(m._stacks) == 4
        m.backward(softmax_cross_entropy(split_logits, y)[1], input_grad=False)
        assert_allclose(split_logits, logits, rtol=1e-12, atol=1e-14)
        for name, _, g in m.parameters():
            assert_allclose(g, grads[name], rtol=1e-10, atol=1e-14, err_msg=name)
        buffers = dict(m.buffers())
        for name, v in expected_running.items():
            assert_allclose(buffers[name], v, rtol=1e-12, err_msg=name)
        runs.append(buffers)
    for name in runs[0]:
        assert_array_equal(runs[0][name], runs[1][name])
