"""parallel: DataParallel gives the plain model's answers, the BLAS cap, the malloc setting."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from scratchcnn import (BatchNorm1D, BatchNorm2D, Conv2D, DataParallel, Dense, Flatten, MaxPool2D,
                        Normalize, ReLU, Sequential, build_model, parallel, softmax_cross_entropy)


def _step(net, x, y, input_grad=True):
    """forward, backward of the mean cross-entropy: (logits, dx, {name: gradient})."""
    logits = net.forward(x)
    dx = net.backward(softmax_cross_entropy(logits, y)[1], input_grad)
    model = net.model if isinstance(net, DataParallel) else net
    return logits, dx, {name: g.copy() for name, _, g in model.parameters()}


@pytest.mark.parametrize("N", [21, 70])  # 2 pieces of 10-11 images; 4 of 17-18
def test_a_batch_split_over_two_threads_gives_the_whole_batch_results(N):
    model = build_model("mnist-small", dtype="float64")
    rng = np.random.default_rng(1)
    x, y = rng.random((N, 1, 28, 28)), rng.integers(0, 10, N)
    whole = _step(model, x, y)
    net = DataParallel(model)
    split = _step(net, x, y)
    assert len(net._replicas) == (2 if N < 64 else 4)
    assert all(r.layers[0].params is model.layers[0].params for r in net._replicas)  # shared
    assert_allclose(split[0], whole[0], rtol=1e-12)
    assert_allclose(split[1], whole[1], rtol=1e-10, atol=1e-14)
    for name, g in whole[2].items():  # the replicas' gradients were added to the model's
        assert_allclose(split[2][name], g, rtol=1e-10, atol=1e-14, err_msg=name)
    with pytest.raises(ValueError, match=rf"expected dy of shape \({N}, \.\.\.\)"):
        net.backward(np.zeros((N - 1, 10)))


def test_split_backward_without_input_grad_gives_the_model_s_parameter_gradients():
    model = build_model("mnist-small", dtype="float64")  # Normalize first: it is skipped
    rng = np.random.default_rng(4)
    x, y = rng.random((40, 1, 28, 28)), rng.integers(0, 10, 40)
    _, dx, whole = _step(model, x, y, input_grad=False)
    assert dx is None
    _, dx, split = _step(DataParallel(model), x, y, input_grad=False)
    assert dx is None
    for name, g in whole.items():
        assert_allclose(split[name], g, rtol=1e-10, atol=1e-14, err_msg=name)


def test_train_from_fixes_the_layers_before_it_split_or_not():
    """Sequential.train_from: backward for training stops before the fixed layers (their
    gradients are never written), the head's gradients are the full model's, and an optimiser
    step moves only the head; a split batch does the same."""
    from scratchcnn import SGD

    rng = np.random.default_rng(6)
    x, y = rng.random((40, 1, 28, 28)), rng.integers(0, 10, 40)
    full = _step(build_model("mnist-bn", dtype="float64"), x, y, input_grad=False)[2]
    for split in (False, True):
        model = build_model("mnist-bn", dtype="float64")
        model.train_from = 13  # the head: Dense, BatchNorm1D, ReLU, Dropout, Dense
        for _, _, g in model.parameters():
            g[...] = np.nan  # a gradient backward writes is finite
        before = {name: p.copy() for name, p, _ in model.parameters()}
        net = DataParallel(model) if split else model
        grads = _step(net, x, y, input_grad=False)[2]
        assert [n for n, _, _ in model.trainable_parameters()] == [
            n for n in before if int(n.split(".")[0]) >= 13]
        for name, g in grads.items():
            if int(name.split(".")[0]) < 13:
                assert np.isnan(g).all(), name  # never computed
            else:
                assert_allclose(g, full[name], rtol=1e-10, atol=1e-14, err_msg=name)
        SGD(model, lr=0.1, momentum=0.9).step()
        for name, p, _ in model.parameters():
            moved = not np.array_equal(p, before[name])
            assert moved == (int(name.split(".")[0]) >= 13), name


def test_a_small_batch_goes_straight_to_the_model():
    model = build_model("mnist-small")
    net = DataParallel(model)
    x = np.random.default_rng(3).random((parallel.SPLIT_MIN - 1, 1, 28, 28), dtype=np.float32)
    assert_array_equal(net.forward(x), model.forward(x))
    assert net._replicas is None
    assert_array_equal(net.predict_proba(x[:1]), model.predict_proba(x[:1]))


def test_predict_proba_equals_the_plain_model_s_on_many_batches():
    model = build_model("convnet", seed=2)
    x = np.random.default_rng(5).random((150, 1, 28, 28), dtype=np.float32)  # 64 + 64 + 22
    p = DataParallel(model).predict_proba(x)
    assert p.shape == (150, 10) and p.dtype == np.float32
    assert_allclose(p, model.predict_proba(x), rtol=1e-5, atol=1e-7)
    assert_array_equal(DataParallel(model).predict(x), p.argmax(axis=1))


def test_data_parallel_rejects_what_the_model_rejects():
    with pytest.raises(ValueError, match="expected a Sequential"):
        DataParallel(object())
    net = DataParallel(build_model("convnet"))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\), got \(32, 28, 28\)"):
        net.forward(np.zeros((32, 28, 28), np.float32))  # split size, checked before splitting
    for x in ([0.0] * 32, np.float32(0)):  # not a batch: the model's own message
        with pytest.raises(ValueError, match=r"model expected a float32 array|got \(\)"):
            net.forward(x)


@pytest.mark.parametrize("between", ["nothing", "a split prediction"])
def test_split_batches_replay_their_dropout_masks_from_the_layer_state(between):
    model = build_model("mnist-small")
    net = DataParallel(model)
    x = np.random.default_rng(2).random((32, 1, 28, 28), dtype=np.float32)
    state = model.rng_state()
    first = net.forward(x, training=True)
    assert len(net._replicas) == 2
    model.set_rng_state(state)
    if between == "a split prediction":
        net.predict_proba(x)  # split over two threads too, in inference mode: draws no mask seed
    assert_array_equal(net.forward(x, training=True), first)
    assert not np.array_equal(net.forward(x, training=True), first)  # a new batch, new masks


def test_blas_limit_caps_threads_and_the_last_block_out_restores_them():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    assert before, "no BLAS library found"
    with parallel.blas_limit():
        assert blas_threads() == [parallel.BLAS_THREADS] * len(before)
        with parallel.blas_limit():  # a concurrent caller shares the limit
            pass
        assert blas_threads() == [parallel.BLAS_THREADS] * len(before)
    assert blas_threads() == before


def _fresh_python(script: str, **env) -> dict:
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_library_changes_no_process_setting():
    r = _fresh_python(
        "import json, threading\n"
        "import scratchcnn, scratchcnn.preprocess, scratchcnn.train, webui.app\n"
        "from scratchcnn import parallel\n"
        "print(json.dumps({'malloc_tuned': parallel.malloc_tuned,\n"
        "                  'threads': threading.active_count(), 'helper': parallel._helper is None}))")
    assert r == {"malloc_tuned": False, "threads": 1, "helper": True}


def test_configure_process_keeps_freed_memory_unless_told_not_to():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's; elsewhere keep_freed_memory is a no-op")
    script = ("import json; from scratchcnn import parallel\n"
              "print(json.dumps([parallel.configure_process(), parallel.malloc_tuned]))")
    assert _fresh_python(script) == [True, True]
    assert _fresh_python(script, SCRATCHCNN_KEEP_FREED_MEMORY="0") == [False, False]


def test_batchnorm_in_a_split_batch_is_ghost_batch_norm_with_one_pooled_running_update():
    """Split over two threads, each piece is normalised by its own statistics, exactly as if the
    pieces ran one after the other; the running statistics move once, as by the whole batch's
    activations, and the same in every run (twins never write them)."""
    import copy

    rng = np.random.default_rng(4)
    model = Sequential([
        Normalize(), Conv2D(1, 3, 3, padding=1, dtype="float64", rng=rng),
        BatchNorm2D(3, dtype="float64"), ReLU(), MaxPool2D(2), Flatten(),
        Dense(3 * 14 * 14, 8, dtype="float64", rng=rng), BatchNorm1D(8, dtype="float64"), ReLU(),
        Dense(8, 10, dtype="float64", rng=rng)])
    N = 70
    x, y = rng.random((N, 1, 28, 28)), rng.integers(0, 10, N)
    bounds = parallel._pieces(N)
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
        dp = DataParallel(m)
        split_logits = dp.forward(x, training=True)
        assert dp._replicas is not None and len(dp._replicas) == 4
        dp.backward(softmax_cross_entropy(split_logits, y)[1], input_grad=False)
        assert_allclose(split_logits, logits, rtol=1e-12, atol=1e-14)
        for name, _, g in m.parameters():
            assert_allclose(g, grads[name], rtol=1e-10, atol=1e-14, err_msg=name)
        buffers = dict(m.buffers())
        for name, v in expected_running.items():
            assert_allclose(buffers[name], v, rtol=1e-12, err_msg=name)
        runs.append(buffers)
    for name in runs[0]:
        assert_array_equal(runs[0][name], runs[1][name])
