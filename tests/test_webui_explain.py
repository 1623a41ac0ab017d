"""The honest answers through the web app (WSGI, no port): unknown, too little ink, saliency,
class models."""

import base64

import numpy as np
import pytest
from webtest import TestApp

from digits import drawing
from scratchcnn import explain, scribbles
from scratchcnn.model import load_model
from scratchcnn.preprocess import render_strokes, to_mnist
from scratchcnn.zoo import find_weights
from webui.app import create_app


@pytest.fixture(scope="module")
def model():
    return load_model(find_weights())  # the shipped digits model, with its calibrated threshold


@pytest.fixture(scope="module")
def client(model):
    return TestApp(create_app(model))


def body(pixels: np.ndarray) -> dict:
    h, w = pixels.shape
    return {"width": w, "height": h, "pixels": base64.b64encode(pixels.tobytes()).decode()}


def test_the_shipped_digits_model_carries_a_calibrated_threshold(model):
    assert model.unknown is not None
    explain.check_unknown(model.unknown)
    assert model.unknown["refuse_target"] <= 0.01


def test_a_digit_is_answered_with_its_label(client):
    ans = client.post_json("/api/predict", body(drawing(3))).json
    assert ans["unknown"] is False and ans["label"] == "3" and ans["digit"] == 3
    assert ans["closest"] == "3" and "sure it is 3" in ans["message"]


def test_a_scribble_is_answered_unknown_with_the_closest_class(client, model):
    strokes, brush = scribbles.draw("crosshatch", np.random.default_rng([1, 2]))
    pixels = render_strokes([s.tolist() for s in strokes], 280, 280, brush)
    ans = client.post_json("/api/predict", body(pixels)).json
    z = model.forward(to_mnist(pixels)[None, None])
    assert ans["unknown"] == bool(explain.is_unknown(z, model.unknown)[0])  # the library's verdict
    assert ans["unknown"] is True, ans["message"]
    assert ans["label"] is None and ans["digit"] is None
    k = int(z.argmax())
    assert ans["closest"] == str(k)
    assert ans["closest_probability"] == pytest.approx(ans["probabilities"][k])
    assert ans["message"].startswith("That does not look like a digit; closest: ")


def test_a_tap_is_too_little_ink(client):
    ans = client.post_json("/api/predict", body(render_strokes([[(140, 140)]], 280, 280, 18))).json
    assert ans["unknown"] is True and ans["label"] is None and ans["digit"] is None
    assert ans["reason"] == "too little ink" and "draw it bigger" in ans["message"]


def test_explain_adds_the_saliency_of_the_answer(client, model):
    pixels = drawing(7)
    ans = client.post_json("/api/predict?explain=1", body(pixels)).json
    sal = np.array(ans["saliency"])
    assert sal.shape == (28, 28)
    np.testing.assert_allclose(ans["input"], to_mnist(pixels), atol=1e-4)
    # the server's own input, not the 4-decimal "input": rounding can move a max-pool's winner
    # between two nearly equal pixels, and the gradient with it
    want, k = explain.saliency(model, to_mnist(pixels)[None, None].astype(np.float32))
    assert ans["saliency_of"] == "7" and k[0] == 7
    np.testing.assert_allclose(sal, want[0], rtol=1e-3, atol=1e-5)
    assert set(ans["placement"]) == {"top", "left", "scale_y", "scale_x", "shift_y", "shift_x"}
    plain = client.post_json("/api/predict", body(pixels)).json
    assert "saliency" not in plain


def test_class_models_are_computed_once_and_read_as_their_class(client, model):
    first = client.get("/api/classmodel").json
    assert first["classes"] == list(model.classes)
    images = np.array(first["images"], dtype=np.float32)
    assert images.shape == (10, 28, 28) and images.min() >= 0 and images.max() <= 1
    p = np.array(first["probabilities"])
    assert (p > 0.5).all(), p  # each image's own class probability
    again = client.get("/api/classmodel").json
    assert again == first  # cached: the same answer


def test_class_model_of_an_unknown_model_is_a_404(client):
    res = client.get("/api/classmodel?model=letters", expect_errors=True)
    assert res.status_int == 404 and "known models" in res.json["error"]
