"""webui.app called as a WSGI app (webtest): routes, JSON errors, weights discovery. No port."""

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from webtest import TestApp

from digits import drawing
from scratchcnn.preprocess import to_mnist
from scratchcnn.zoo import build_model
from scratchcnn import shapes, zoo
from scratchcnn.zoo import find_weights, load_model_card
from webui.app import MAX_BODY, create_app


@pytest.fixture(scope="module")
def model():
    return build_model("convnet", seed=0)  # untrained: these tests check the plumbing


@pytest.fixture(scope="module")
def client(model):
    return TestApp(create_app(model, {"test_accuracy": 0.9912, "epochs": 3}))


def body(pixels: np.ndarray) -> dict:
    h, w = pixels.shape
    return {"width": w, "height": h, "pixels": base64.b64encode(pixels.tobytes()).decode()}


def assert_json_error(res, status: int, fragment: str):
    assert res.status_int == status
    assert res.content_type == "application/json"
    assert fragment in res.json["error"], res.json["error"]
    assert "Traceback" not in res.text


def test_index_serves_the_page_with_test_hooks(client):
    res = client.get("/")
    assert res.status_int == 200 and res.content_type == "text/html"
    for hook in ("canvas", "prediction", "probabilities", "input28", "clear", "undo"):
        assert f'data-testid="{hook}"' in res.text


@pytest.mark.parametrize("path, ctype", [("/static/app.js", "javascript"), ("/static/style.css", "text/css")])
def test_static_files_are_served(client, path, ctype):
    res = client.get(path)
    assert res.status_int == 200 and ctype in res.content_type


def test_static_cannot_escape_its_folder(client):
    res = client.get("/static/../app.py", expect_errors=True)
    assert res.status_int in (403, 404) and res.content_type == "application/json"
    assert "create_app" not in res.text


def test_healthz(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_model_endpoint_reports_architecture_params_and_accuracy(client, model):
    info = client.get("/api/model").json
    assert info["num_params"] == model.num_params()
    assert info["test_accuracy"] == pytest.approx(0.9912)
    assert [layer["type"] for layer in info["layers"]] == [type(lay).__name__ for lay in model.layers]
    assert info["summary"] == model.summary()
    assert info["card"]["epochs"] == 3


def test_predict_answers_digit_probabilities_and_the_preprocessed_input(client, model):
    pixels = drawing(7)
    res = client.post_json("/api/predict", body(pixels))
    assert res.status_int == 200 and res.content_type == "application/json"
    data = res.json
    x = to_mnist(pixels)
    proba = model.predict_proba(x[None, None])[0]
    assert data["digit"] == int(proba.argmax())
    np.testing.assert_allclose(data["probabilities"], proba, rtol=1e-6)
    np.testing.assert_allclose(np.array(data["input"]), x, atol=5e-5)  # rounded to 4 decimals
    assert "maps" not in data


def test_predict_with_activations_adds_conv_norm_and_pool_feature_maps(client, model):
    pixels = drawing(3)
    data = client.post_json("/api/predict?activations=1", body(pixels)).json
    x = to_mnist(pixels)[None, None]
    expected = [
        (name, y[0])
        for (name, y), layer in zip(model.activations(x), model.layers)
        if type(layer).__name__ in ("Conv2D", "BatchNorm2D", "MaxPool2D")
    ]
    assert [m["name"] for m in data["maps"]] == [name for name, _ in expected]
    for m, (_, y) in zip(data["maps"], expected):
        assert m["shape"] == list(y.shape)
        q = np.frombuffer(base64.b64decode(m["data"]), dtype=np.uint8).reshape(y.shape)
        step = (m["max"] - m["min"]) / 255
        np.testing.assert_allclose(m["min"] + q * step, y, atol=step / 2 + 1e-5)


def test_empty_drawing_answers_null_digit_with_a_message(client):
    data = client.post_json("/api/predict?activations=1", body(np.zeros((50, 80), np.uint8))).json
    assert data["digit"] is None and data["probabilities"] is None
    assert "draw" in data["message"]
    assert np.array(data["input"]).shape == (28, 28)


BAD_JSON = [
    ("{", 400, "Invalid JSON"),
    ("", 400, "empty body"),
    ("[1, 2]", 400, "expected a JSON object, got list"),
    ("null", 400, "empty body"),
    ('{"height": 2, "pixels": "AAAA"}', 400, "missing field 'width'"),
    ('{"width": 2, "height": 2}', 400, "missing field 'pixels'"),
    ('{"width": "2", "height": 2, "pixels": "AAAA"}', 400, "'width' must be an integer"),
    ('{"width": 2, "height": 2.5, "pixels": "AAAA"}', 400, "'height' must be an integer"),
    ('{"width": 0, "height": 2, "pixels": ""}', 400, "between 1 and 2048"),
    ('{"width": 2049, "height": 2, "pixels": ""}', 400, "between 1 and 2048"),
    ('{"width": 2, "height": 2, "pixels": null}', 400, "must be a base64 string"),
    ('{"width": 2, "height": 2, "pixels": "AA!A"}', 400, "not valid base64"),
    ('{"width": 2, "height": 3, "pixels": "AAAA"}', 400, "decodes to 3 bytes, expected"),
    ("[" * 100_000, 400, "nested too deeply"),
]


@pytest.mark.parametrize("text, status, fragment", BAD_JSON)
def test_bad_json_bodies_answer_400_naming_the_problem(client, text, status, fragment):
    res = client.post("/api/predict", text, content_type="application/json", expect_errors=True)
    assert_json_error(res, status, fragment)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_415(client, ctype):
    res = client.post("/api/predict", json.dumps(body(drawing(1))), content_type=ctype, expect_errors=True)
    assert_json_error(res, 415, "Content-Type must be application/json")


def test_body_over_one_mebibyte_is_413(client):
    big = json.dumps({"width": 1, "height": 1, "pixels": "A" * MAX_BODY})
    res = client.post("/api/predict", big, content_type="application/json", expect_errors=True)
    assert_json_error(res, 413, "too large")


def body_of_size(size: int) -> bytes:
    """A real drawing's JSON (886x886 pixels, 1,046,728 bytes), padded with the whitespace JSON
    allows after a value to exactly `size` bytes."""
    text = json.dumps(body(drawing(7, canvas=886, size=600))).encode()
    assert len(text) <= size, len(text)
    return text + b" " * (size - len(text))


def test_body_of_exactly_the_limit_is_read_and_one_byte_more_is_413(client):
    res = client.post("/api/predict", body_of_size(MAX_BODY), content_type="application/json")
    assert res.status_int == 200 and isinstance(res.json["digit"], int)
    res = client.post("/api/predict", body_of_size(MAX_BODY + 1),
                      content_type="application/json", expect_errors=True)
    assert_json_error(res, 413, "too large")


def test_unknown_route_is_404_and_wrong_method_is_405(client):
    assert_json_error(client.get("/nope", expect_errors=True), 404, "not found")
    assert_json_error(client.get("/api/predict", expect_errors=True), 405, "not allowed")
    assert_json_error(client.delete("/healthz", expect_errors=True), 405, "not allowed")


def test_a_failing_model_answers_500_without_a_traceback(capsys):
    wrong = build_model("convnet")
    wrong.input_shape = (1, 32, 32)  # a model that cannot take a 28x28 input
    res = TestApp(create_app(wrong)).post_json("/api/predict", body(drawing(1)), expect_errors=True)
    assert_json_error(res, 500, "internal server error")
    assert "expected input of shape" not in res.text
    assert "Traceback" in capsys.readouterr().err  # the operator still sees it


def test_nan_weights_answer_a_json_500_not_bare_nan(capsys):
    broken = build_model("convnet")
    for _, p, _ in broken.parameters():
        p[...] = np.nan
    res = TestApp(create_app(broken)).post_json("/api/predict", body(drawing(1)), expect_errors=True)
    assert_json_error(res, 500, "internal server error")
    json.loads(res.text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    capsys.readouterr()


def test_each_app_is_a_fresh_bottle(model):
    a, b = create_app(model), create_app(model)
    assert a is not b and a.routes is not b.routes


# ---------------------------------------------------------------- weights discovery


def test_find_weights_explicit_path_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_weights(tmp_path / "missing.npz")


def test_find_weights_uses_the_environment_variable(tmp_path, monkeypatch, model):
    path = tmp_path / "mine.npz"
    model.save(path)
    monkeypatch.setenv("SCRATCHCNN_WEIGHTS", str(path))
    assert find_weights() == path


def test_find_weights_without_shipped_weights_names_the_option(tmp_path, monkeypatch):
    monkeypatch.delenv("SCRATCHCNN_WEIGHTS", raising=False)
    monkeypatch.setattr(zoo, "weights_dirs", lambda: [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(FileNotFoundError, match="--weights"):
        find_weights()


def test_find_weights_prefers_the_file_named_by_metrics_then_the_only_one(tmp_path, monkeypatch, model):
    monkeypatch.delenv("SCRATCHCNN_WEIGHTS", raising=False)
    folder = tmp_path / "weights" / "digits"  # one folder per served model
    monkeypatch.setattr(zoo, "weights_dirs", lambda: [tmp_path / "empty", tmp_path / "weights"])
    model.save(folder / "small.npz")
    (folder / "checkpoint.npz").write_bytes(b"a training run's checkpoint is never served")
    assert find_weights() == folder / "small.npz"
    model.save(folder / "big.npz")
    with pytest.raises(FileNotFoundError):
        find_weights()  # two candidates and nothing to choose between them
    (folder / "metrics.json").write_text(json.dumps({"weights": "big.npz", "test_accuracy": 0.99}))
    assert find_weights() == folder / "big.npz"
    card = load_model_card(folder / "big.npz")
    assert card["test_accuracy"] == 0.99 and "model_card_md" not in card
    assert zoo.shipped_weights() == {"digits": folder / "big.npz"}
    with pytest.raises(FileNotFoundError, match="no shipped shapes weights"):
        find_weights(reads="shapes")


def test_about_panel_links_to_rendered_notebooks_that_exist(client):
    page = client.get("/").text
    links = re.findall(r'href="(/notebooks/[^"]+)"', page)
    committed = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
    assert sorted(link.rsplit("/", 1)[1] for link in links) == committed  # every notebook, once
    for link in links:  # each a rendered page, and the .ipynb beside it a download
        res = client.get(link)
        assert res.status_int == 200 and res.content_type == "text/html", link
        assert json.loads(client.get(link + ".ipynb").body)["cells"], link


@pytest.mark.parametrize("path", ["/notebooks/..", "/notebooks/%2e%2e", "/notebooks/..%2fsetup.cfg",
                                  "/notebooks/%2e%2e%2fsetup.cfg.ipynb", "/notebooks/..ipynb"])
def test_notebook_links_cannot_leave_the_notebooks_folder(client, path):
    # ".." and "..ipynb" reach the handler (names without a slash: its guard refuses a leading
    # dot, static_file its own root); a name with a slash, encoded or not, matches no route.
    # The old test's "/notebooks/../setup.cfg" was only ever the router's 404.
    res = client.get(path, expect_errors=True)
    assert res.status_int in (403, 404) and "[metadata]" not in res.text, res.text[:200]


# ---------------------------------------------------------------- two models: digits and shapes


@pytest.fixture(scope="module")
def shapes_model():
    return build_model("shapes-small", seed=0)  # untrained: the plumbing, not the accuracy


@pytest.fixture(scope="module")
def both(model, shapes_model):
    return TestApp(create_app({"digits": (model, {"test_accuracy": 0.99}),
                               "shapes": (shapes_model, {"test_accuracy": 0.97})}))


def test_models_endpoint_lists_each_model_with_its_classes_and_accuracy(both, shapes_model):
    info = both.get("/api/models").json
    assert info["default"] == "digits"
    by_name = {m["name"]: m for m in info["models"]}
    assert by_name["digits"]["classes"] == [str(d) for d in range(10)]
    assert by_name["shapes"]["classes"] == list(shapes.CLASSES)
    assert by_name["shapes"]["reads"] == "shapes"
    assert by_name["shapes"]["test_accuracy"] == pytest.approx(0.97)
    assert by_name["shapes"]["num_params"] == shapes_model.num_params()
    assert both.get("/api/model?model=shapes").json["classes"] == list(shapes.CLASSES)


def test_predict_shapes_answers_the_label_classes_and_probabilities_in_order(both, shapes_model):
    strokes, brush, _ = shapes.draw("star", np.random.default_rng(0))
    pixels = shapes.render(strokes, brush)
    data = both.post_json("/api/predict?model=shapes", body(pixels)).json
    proba = shapes_model.predict_proba(to_mnist(pixels)[None, None])[0]
    assert data["classes"] == list(shapes.CLASSES)
    np.testing.assert_allclose(data["probabilities"], proba, rtol=1e-6)
    assert data["label"] == shapes.CLASSES[int(proba.argmax())]
    assert "digit" not in data


def test_predict_digits_keeps_digit_and_adds_label_and_classes(both, model):
    data = both.post_json("/api/predict", body(drawing(7))).json  # digits is the default
    assert data["classes"] == [str(d) for d in range(10)]
    assert data["label"] == str(data["digit"]) and isinstance(data["digit"], int)
    assert both.post_json("/api/predict?model=digits", body(drawing(7))).json["digit"] == data["digit"]


@pytest.mark.parametrize("name", ["digits", "shapes"])
def test_empty_drawing_answers_null_label_for_both_models(both, name):
    data = both.post_json(f"/api/predict?model={name}", body(np.zeros((40, 40), np.uint8))).json
    assert data["label"] is None and data["probabilities"] is None
    assert ("digit" in data) == (name == "digits")
    assert ("a shape" in data["message"]) == (name == "shapes")


@pytest.mark.parametrize("path", ["/api/predict?model=letters", "/api/model?model=letters"])
def test_unknown_model_is_a_404_naming_the_known_ones(both, path):
    if path.startswith("/api/predict"):
        res = both.post_json(path, body(drawing(1)), expect_errors=True)
    else:
        res = both.get(path, expect_errors=True)
    assert_json_error(res, 404, "unknown model 'letters'")
    assert "digits, shapes" in res.json["error"] and res.json["known"] == ["digits", "shapes"]


def test_a_single_shapes_model_is_served_as_the_default(shapes_model):
    app = TestApp(create_app(shapes_model))
    assert app.get("/api/models").json["default"] == "shapes"
    assert app.post_json("/api/predict", body(drawing(0))).json["classes"] == list(shapes.CLASSES)


def _inspect(client, pixels, **fields):
    return client.post_json("/api/inspect", {**body(pixels), **fields}, expect_errors=True)


def test_inspect_conv_pixel_recomputes_the_layers_output(client, model):
    """The click-a-pixel view: window * kernel summed over channels plus the bias is the value the
    layer output, for both convolutions (one input channel, and many)."""
    pixels = drawing(4)
    x = to_mnist(pixels)[None, None].astype(model.dtype)
    acts = model.activations(x)
    convs = [i for i, layer in enumerate(model.layers) if type(layer).__name__ == "Conv2D"]
    for L in convs:
        y = acts[L][1][0]
        f, i, j = y.shape[0] - 1, y.shape[1] // 2, y.shape[2] // 3
        data = _inspect(client, pixels, layer=L, channel=f, row=i, col=j).json
        px = data["pixel"]
        window, kernel = np.array(px["window"]), np.array(px["kernel"])
        assert window.shape == kernel.shape == model.layers[L].params["W"][f].shape
        np.testing.assert_allclose(np.array(px["products"]), window * kernel, atol=1e-5)
        assert px["sum"] == pytest.approx(sum(px["channel_sums"]) + px["bias"], abs=1e-5)
        assert px["sum"] == pytest.approx(float(y[f, i, j]), rel=1e-4, abs=1e-4)
        assert px["layer_value"] == pytest.approx(float(y[f, i, j]), rel=1e-6)
        np.testing.assert_allclose(np.array(data["map"]), y[f], atol=1e-5)
        np.testing.assert_allclose(np.array(data["filter"]), model.layers[L].params["W"][f], atol=1e-6)


def test_inspect_pool_pixel_names_the_winner(client, model):
    pixels = drawing(4)
    x = to_mnist(pixels)[None, None].astype(model.dtype)
    acts = model.activations(x)
    L = next(i for i, layer in enumerate(model.layers) if type(layer).__name__ == "MaxPool2D")
    y = acts[L][1][0]
    f = int(np.argmax(y.reshape(len(y), -1).max(axis=1)))
    i, j = np.unravel_index(int(np.argmax(y[f])), y[f].shape)
    px = _inspect(client, pixels, layer=L, channel=f, row=int(i), col=int(j)).json["pixel"]
    window = np.array(px["window"])
    kh, kw = px["winner"]
    assert window[kh, kw] == window.max() == pytest.approx(float(y[f, i, j]), rel=1e-6)


@pytest.mark.parametrize("fields, message", [
    ({"layer": 99, "channel": 0}, "'layer' must be an integer"),
    ({"layer": 1, "channel": 1000}, "'channel' must be an integer"),
    ({"layer": 1, "channel": 0, "row": -1, "col": 0}, "'row' must be an integer"),
    ({"layer": "1", "channel": 0}, "'layer' must be an integer"),
])
def test_inspect_refuses_bad_indices_with_a_400(client, fields, message):
    res = _inspect(client, drawing(4), **fields)
    assert res.status_int == 400 and message in res.json["error"]


def test_inspect_of_an_empty_drawing_is_a_400(client):
    res = _inspect(client, np.zeros((40, 40), np.uint8), layer=1, channel=0)
    assert res.status_int == 400 and "nothing drawn" in res.json["error"]


def test_predict_with_activations_gives_dense_outputs_and_logits(client, model):
    pixels = drawing(4)
    data = client.post_json("/api/predict?activations=1", body(pixels)).json
    x = to_mnist(pixels)[None, None].astype(model.dtype)
    logits = model.forward(x)[0]
    np.testing.assert_allclose(data["logits"], logits, rtol=1e-5, atol=1e-5)
    p = np.exp(np.array(data["logits"]) - max(data["logits"]))
    np.testing.assert_allclose(p / p.sum(), data["probabilities"], atol=1e-5)
    dense = [i for i, layer in enumerate(model.layers) if type(layer).__name__ == "Dense"]
    assert [v["name"] for v in data["vectors"]] == [f"{i}:Dense" for i in dense]


def test_model_description_numbers_layers_with_shapes_and_relu_notes(client, model):
    layers = client.get("/api/model").json["layers"]
    assert len(layers) == len(model.layers)
    x = np.zeros((1, *model.input_shape), model.dtype)
    for row, (_, y), layer in zip(layers, model.activations(x), model.layers):
        assert row["output_shape"] == list(y.shape[1:])
    relu_after = [i for i, row in enumerate(layers) if row["relu_after"]]
    assert relu_after and all(type(model.layers[i + 1]).__name__ == "ReLU" for i in relu_after)
