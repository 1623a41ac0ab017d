"""The drawing web app: a Bottle app around the trained models (digits, shapes).

`create_app(models)` builds a fresh Bottle() (no default app, nothing loaded at import);
`models` maps a name ("digits", "shapes") to (model, model card), and a single model is served
under the name of what it reads. Routes stay thin: they parse the request, call the library
(`scratchcnn.preprocess`, `scratchcnn.explain` and the model) and return a dict, which Bottle
serialises to JSON. Every error, including Bottle's own (404, 405, 413, invalid JSON), is
answered as JSON {"error": "..."} without a traceback. `scratchcnn serve` loads the weights
once and runs the app; see cli.py.

Endpoints: GET / (the page), GET /static/<path>, POST /api/predict?model=<name>, POST
/api/inspect?model=<name> (one feature map and one pixel's computation, from
scratchcnn.layerview), GET /api/models, GET /api/model?model=<name>, GET
/api/classmodel?model=<name>, GET /healthz, and GET /notebooks/<name> for the about panel's
links: a notebook rendered as HTML with its committed outputs (GET /notebooks/<name>.ipynb: the
file itself), from a source checkout. Without ?model= the default model answers: "digits" when
it is served, else the first. An unknown name is a 404 naming the known ones.
"""

from __future__ import annotations

import copy
import functools
import json
import sys
import threading
from pathlib import Path

import bottle
import numpy as np

from scratchcnn import explain, layerview, outliers, preprocess
from scratchcnn.losses import softmax

from . import notebook as notebook_page
from . import wire

STATIC_ROOT = str(Path(__file__).resolve().parent / "static")
# the notebooks the about panel links to; present in a checkout, absent from a wheel (then 404)
NOTEBOOKS_ROOT = str(Path(__file__).resolve().parent.parent / "notebooks")
MAX_BODY = 1 << 20  # 1 MiB: a 2048x512 drawing in base64 still fits
DRAIN_LIMIT = 16 * MAX_BODY  # an oversized body up to this size is read away after the 413
MAP_LAYERS = ("Conv2D", "BatchNorm2D", "MaxPool2D")  # layers whose feature maps the page draws
JSON_TYPE = "application/json"

# Bottle reads the limit from the request class; request.json answers 413 above it.
bottle.BaseRequest.MEMFILE_MAX = MAX_BODY


def describe_model(model, card: dict | None) -> dict:
    """What GET /api/model answers: architecture, parameter count, accuracy from the card."""
    card = card or {}
    layers = [
        {
            "name": f"{i}:{type(layer).__name__}",
            "type": type(layer).__name__,
            "config": layer.config(),
            "params": int(sum(p.size for p in layer.params.values())),
        }
        for i, layer in enumerate(model.layers)
    ]
    for row, view in zip(layers, layerview.layer_table(model)):  # output shapes, ReLU notes
        row.update(label=view["label"], output_shape=view["output_shape"],
                   relu_after=view["relu_after"])
    return {
        "reads": model.reads,
        "classes": list(model.classes),
        "layers": layers,
        "input_shape": list(model.input_shape),
        "num_params": int(model.num_params()),
        "summary": model.summary(),
        "test_accuracy": card.get("test_accuracy"),  # written by `scratchcnn evaluate --card`
        "card": {k: v for k, v in card.items() if k != "model_card_md"},
        "model_card_md": card.get("model_card_md"),
    }


def predict_drawing(model, pixels: np.ndarray, with_maps: bool = False,
                    with_saliency: bool = False) -> dict:
    """Preprocess one drawing and run the model: what POST /api/predict answers.

    "label" is the most probable class name (None when nothing is drawn, or when the answer is
    unknown), "classes" the names in the order of "probabilities"; a digits model also answers
    "digit" (int or None). The unknown answer (explain.verdict): "unknown", "closest",
    "closest_probability", "reason" and "message", from the threshold in the model file and
    preprocess.too_little_ink. with_saliency adds "saliency", the gradient of the closest
    class's logit with respect to "input" (explain.saliency), "saliency_of" and "placement"
    (where the 28x28 field lies on the drawing).
    Shapes: pixels (H, W) uint8 -> "input" 28x28 floats, "probabilities" K floats.
    """
    x, placement = preprocess.to_mnist(pixels, placement=True)
    digits = model.reads == "digits"
    answer = {"input": np.round(x, 4).tolist(), "classes": list(model.classes)}
    if digits:
        answer["digit"] = None
    if not preprocess.has_ink(pixels):
        message = f"nothing drawn yet: draw {'a digit' if digits else 'a shape'}"
        return {**answer, "label": None, "unknown": False, "probabilities": None,
                "message": message}
    batch = x[None, None].astype(model.dtype)  # (1, 1, 28, 28)
    acts = model.activations(batch) if with_maps else None  # its last output: the logits
    logits = acts[-1][1] if with_maps else model.forward(batch)
    proba = softmax(logits)[0]
    answer["probabilities"] = [float(p) for p in proba]
    answer.update(explain.verdict(logits, model.unknown, model.classes, model.reads,
                                  preprocess.too_little_ink(pixels)))
    if digits and answer["label"] is not None:
        answer["digit"] = int(answer["label"]) if answer["label"].isdigit() else int(proba.argmax())
    if with_saliency:
        saliency, k = explain.saliency(model, batch, int(proba.argmax()))  # the closest class
        answer.update(saliency=np.round(saliency[0], 6).tolist(), saliency_of=model.classes[k[0]],
                      placement=placement)
    if with_maps:
        answer["maps"] = [
            wire.encode_maps(name, y[0])
            for (name, y), layer in zip(acts, model.layers)
            if type(layer).__name__ in MAP_LAYERS
        ]
        answer["vectors"] = layerview.vectors(model, acts)  # the Dense layers; the last: logits
        answer["logits"] = answer["vectors"][-1]["values"] if answer["vectors"] else None
    return answer


def class_models(model) -> dict:
    """What GET /api/classmodel answers: for every class, the input that raises its logit most
    (explain.class_model, from the class's mean generated drawing), and the probability the
    model gives that image for its class.
    Shapes: -> "images" K x 28 x 28 floats in [0, 1], "probabilities" K floats."""
    images = explain.class_model(model, start=outliers.class_means(model.reads, model.classes))
    proba = softmax(model.forward(images[:, None]))
    return {"classes": list(model.classes), "images": np.round(images, 3).tolist(),
            "probabilities": [float(proba[k, k]) for k in range(len(images))],
            "method": "gradient ascent on the class logit from the class's mean drawing, with an "
                      "L2 penalty and a slight blur (Simonyan et al. 2013)"}


def inspect_drawing(model, payload: dict) -> dict:
    """What POST /api/inspect answers: one feature map and one pixel's computation, for the
    drawing in the payload (the fields of /api/predict plus layer, channel and optional row, col)."""
    pixels = wire.decode_drawing(payload)
    if not preprocess.has_ink(pixels):
        raise ValueError(f"nothing drawn yet: draw {'a digit' if model.reads == 'digits' else 'a shape'}")
    x = preprocess.to_mnist(pixels)[None, None].astype(model.dtype)  # (1, 1, 28, 28)
    return layerview.inspect(model, x, payload.get("layer"), payload.get("channel"),
                             payload.get("row"), payload.get("col"))


def _json_error(err: bottle.HTTPError):
    """Error handler: the message as JSON. Handlers must return a string (no JSON plugin here)."""
    bottle.response.content_type = JSON_TYPE
    if err.status_code == 500:
        if err.traceback:  # for the operator's terminal, never for the client
            print(err.traceback, file=sys.stderr)
        message = "internal server error"
    elif err.status_code == 404:
        message = f"not found: {bottle.request.method} {bottle.request.path}"
    elif err.status_code == 405:
        message = f"method {bottle.request.method} not allowed on {bottle.request.path}"
    elif err.status_code == 403:
        message = f"forbidden: {bottle.request.path}"
    elif err.status_code == 413:
        message = f"request body too large: the limit is {MAX_BODY} bytes"
        return _answer_then_drain(json.dumps({"error": message}))
    else:
        message = str(err.body) if err.body else bottle.HTTP_CODES.get(err.status_code, "error")
    return json.dumps({"error": message})


def _refuse_oversized_body() -> None:
    """Answer 413 before routing when the declared body is over the limit, unread (400 when
    Content-Length is not a number)."""
    declared = bottle.request.environ.get("CONTENT_LENGTH", "").strip()
    if declared and not declared.isdigit():
        bottle.abort(400, f"Content-Length must be a number of bytes, got {declared[:40]!r}")
    if bottle.request.content_length > MAX_BODY:
        bottle.abort(413)


def _answer_then_drain(text: str):
    """Yield the answer, then read the declared body away (up to DRAIN_LIMIT) before the server
    closes the socket: closing on unread bytes resets the connection, and a client still sending
    would lose the answer. A client that declared more than it sends is answered all the same."""
    try:
        yield text.encode()
    finally:
        stream, left = bottle.request.environ["wsgi.input"], min(bottle.request.content_length, DRAIN_LIMIT)
        while left > 0:
            chunk = stream.read(min(left, 1 << 16))
            if not chunk:
                break
            left -= len(chunk)


def _as_models(models, model_card) -> dict:
    """{name: (model, card)} from a single model (named by what it reads) or such a dict."""
    if not isinstance(models, dict):
        return {models.reads: (models, model_card)}
    if not models:
        raise ValueError("create_app needs at least one model")
    return {str(name): (entry if isinstance(entry, tuple) else (entry, None))
            for name, entry in models.items()}


def create_app(models, model_card: dict | None = None) -> bottle.Bottle:
    """A fresh Bottle app serving the drawing page and `models`: {name: (model, card)}, or one
    scratchcnn Sequential (with `model_card`), served under the name of what it reads."""
    app = bottle.Bottle()
    served = _as_models(models, model_card)
    default = "digits" if "digits" in served else next(iter(served))
    # layers keep a forward cache, so one forward at a time per model
    locks = {name: threading.Lock() for name in served}
    info: dict = {}  # GET /api/model's answers, built on first use
    drawn_classes: dict = {}  # GET /api/classmodel's answers, built on first use
    class_lock = threading.Lock()
    for code in (400, 403, 404, 405, 413, 415, 500):
        app.error(code)(_json_error)
    # strict JSON: a NaN (from NaN weights) is a 500, never the bare `NaN` JSON does not allow
    app.uninstall(bottle.JSONPlugin)
    app.install(bottle.JSONPlugin(json_dumps=functools.partial(json.dumps, allow_nan=False)))
    app.add_hook("before_request", _refuse_oversized_body)

    def chosen() -> str:
        """The model named by ?model= (the default without it); 404 naming the known ones."""
        name = bottle.request.query.model or default
        if name not in served:  # answered as it is: the 404 handler would name only the path
            message = f"unknown model {name!r}; known models: {', '.join(served)}"
            raise bottle.HTTPResponse(json.dumps({"error": message, "known": list(served)}),
                                      status=404, headers={"Content-Type": JSON_TYPE})
        return name

    @app.get("/")
    def index():
        return bottle.static_file("index.html", root=STATIC_ROOT)

    @app.get("/static/<path:path>")
    def static(path):
        return bottle.static_file(path, root=STATIC_ROOT)

    @app.get("/notebooks/<name>")
    def notebook(name):
        if name.endswith(".ipynb"):  # the raw file, to run it
            return bottle.static_file(name, root=NOTEBOOKS_ROOT, download=name)
        path = Path(NOTEBOOKS_ROOT) / f"{name}.ipynb"
        if not Path(NOTEBOOKS_ROOT).is_dir():  # an installed wheel carries no notebooks
            return bottle.HTTPResponse(notebook_page.unavailable_page(name), status=404,
                                       content_type="text/html; charset=utf-8")
        if "/" in name or name.startswith(".") or not path.is_file():
            bottle.abort(404)
        bottle.response.content_type = "text/html; charset=utf-8"
        return notebook_page.render_notebook(path)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/api/models")
    def api_models():
        return {"default": default, "models": [
            {"name": name, "reads": m.reads, "classes": list(m.classes),
             "test_accuracy": (card or {}).get("test_accuracy"), "num_params": int(m.num_params())}
            for name, (m, card) in served.items()]}

    @app.get("/api/model")
    def api_model():
        name = chosen()
        if name not in info:
            with locks[name]:
                info[name] = {"name": name, **describe_model(*served[name])}
        return info[name]

    def json_body():
        if bottle.request.content_type.split(";")[0].strip().lower() != JSON_TYPE:
            got = bottle.request.content_type or "none"
            bottle.abort(415, f"Content-Type must be {JSON_TYPE}, got {got}")
        try:
            return bottle.request.json
        except RecursionError:
            bottle.abort(400, "JSON nested too deeply")

    @app.post("/api/predict")
    def api_predict():
        name = chosen()
        payload = json_body()
        try:
            pixels = wire.decode_drawing(payload)
        except ValueError as e:
            bottle.abort(400, str(e))
        with locks[name]:
            return predict_drawing(served[name][0], pixels, bottle.request.query.activations == "1",
                                   bottle.request.query.explain == "1")

    @app.get("/api/classmodel")
    def api_classmodel():
        name = chosen()
        with class_lock:  # computed once per model, on a copy so predictions go on meanwhile
            if name not in drawn_classes:
                with locks[name]:
                    twin = copy.deepcopy(served[name][0])
                drawn_classes[name] = class_models(twin)
        return drawn_classes[name]

    @app.post("/api/inspect")
    def api_inspect():
        name = chosen()
        payload = json_body()
        try:
            with locks[name]:
                return inspect_drawing(served[name][0], payload)
        except ValueError as e:
            bottle.abort(400, str(e))

    return app
