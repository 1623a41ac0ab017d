"""scratchcnn.layerview: what the page's teaching views show, recomputed from a layer's input."""

import numpy as np
import pytest

from scratchcnn import Conv2D, Dense, Flatten, MaxPool2D, Normalize, ReLU, Sequential, layerview


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    return Sequential([Normalize(), Conv2D(1, 3, 3, stride=2, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                       Conv2D(3, 4, 3, padding=1, rng=rng), ReLU(), Flatten(), Dense(4 * 3 * 3, 5, rng=rng)],
                      input_shape=(1, 12, 12))


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(1).random((1, 1, 12, 12), dtype=np.float32)


def test_layer_table_numbers_layers_with_shapes_and_relu_notes(model):
    rows = layerview.layer_table(model)
    assert [r["index"] for r in rows] == list(range(8))
    assert rows[1]["output_shape"] == [3, 6, 6] and rows[3]["output_shape"] == [3, 3, 3]
    assert [r["relu_after"] for r in rows] == [False, True, False, False, True, False, False, False]


@pytest.mark.parametrize("layer, channel, row, col", [(1, 2, 0, 0), (1, 0, 3, 5), (4, 3, 1, 1), (4, 1, 2, 0)])
def test_conv_pixel_sum_equals_the_layers_output(model, x, layer, channel, row, col):
    out = layerview.inspect(model, x, layer, channel, row, col)
    px = out["pixel"]
    acts = model.activations(x)
    window, kernel = np.array(px["window"]), np.array(px["kernel"])
    np.testing.assert_allclose(np.array(px["products"]), window * kernel, atol=1e-5)  # 6 decimals sent
    np.testing.assert_allclose(px["channel_sums"], (window * kernel).sum(axis=(1, 2)), atol=1e-4)
    assert px["sum"] == pytest.approx(float(acts[layer][1][0, channel, row, col]), abs=1e-5)
    assert px["after_relu"] == max(px["sum"], 0.0)
    np.testing.assert_allclose(np.array(out["map"]), acts[layer][1][0, channel], atol=1e-6)


def test_conv_window_at_the_border_reads_the_padding_as_zero(model, x):
    px = layerview.inspect(model, x, 1, 0, 0, 0)["pixel"]
    window = np.array(px["window"])[0]  # stride 2, pad 1: rows -1..1, columns -1..1
    assert (px["top"], px["left"]) == (-1, -1)
    assert np.all(window[0] == 0) and np.all(window[:, 0] == 0)


def test_pool_winner_is_the_first_maximum_on_ties():
    model = Sequential([MaxPool2D(2)], input_shape=(1, 2, 2))
    x = np.array([[[[1, 3], [3, 0]]]], dtype=np.float32)
    px = layerview.inspect(model, x, 0, 0, 0, 0)["pixel"]
    assert px["winner"] == [0, 1] and px["value"] == 3.0


def test_vectors_are_the_dense_outputs_and_the_last_is_the_logits(model, x):
    acts = model.activations(x)
    (v,) = layerview.vectors(model, acts)
    np.testing.assert_allclose(v["values"], model.forward(x)[0], atol=1e-5)
    assert v["relu_after"] is False


@pytest.mark.parametrize("args, message", [
    ((99, 0), "'layer'"), ((1, 3), "'channel'"), ((1, 0, 6, 0), "'row'"), ((1, 0, 0, -1), "'col'"),
    ((7, 0), "outputs a vector"), ((True, 0), "'layer'"),
])
def test_bad_indices_raise_value_error_naming_the_range(model, x, args, message):
    with pytest.raises(ValueError, match=message):
        layerview.inspect(model, x, *args)


def test_batchnorm_pixel_recomputes_the_layers_output_from_the_running_statistics():
    from scratchcnn import BatchNorm2D

    rng = np.random.default_rng(2)
    bn = BatchNorm2D(3)
    bn.buffers["running_mean"][:] = rng.normal(size=3)
    bn.buffers["running_var"][:] = rng.uniform(0.5, 2, size=3)
    bn.params["gamma"][:] = rng.uniform(0.5, 1.5, size=3)
    bn.params["beta"][:] = rng.normal(size=3)
    model = Sequential([Conv2D(1, 3, 3, padding=1, rng=rng), bn, ReLU(), Flatten(),
                        Dense(3 * 6 * 6, 2, rng=rng)], input_shape=(1, 6, 6))
    x = rng.random((1, 1, 6, 6), dtype=np.float32)
    px = layerview.inspect(model, x, 1, 2, 4, 1)["pixel"]
    conv_out = model.activations(x)[0][1][0, 2, 4, 1]
    assert px["input"] == pytest.approx(float(conv_out))
    want = (conv_out - px["mean"]) / np.sqrt(px["var"] + px["eps"]) * px["gamma"] + px["beta"]
    assert px["sum"] == pytest.approx(float(want), abs=1e-5)
    assert px["sum"] == pytest.approx(px["layer_value"], abs=1e-5)
    assert px["mean"] == pytest.approx(float(bn.buffers["running_mean"][2]))
    assert px["after_relu"] == max(px["sum"], 0.0)
