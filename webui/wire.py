"""The web app's JSON wire format: a drawing comes in as base64 pixels, feature maps go out so.

`decode_drawing` checks and decodes the body of POST /api/predict, raising ValueError with a
message that names the problem (the app answers it as a 400); `encode_maps` packs one layer's
feature maps into base64 uint8 so the page can draw them. The math on the decoded drawing
(crop, 20x20 fit, centre of mass) is library code: scratchcnn.preprocess.

Shapes: a drawing is (H, W) uint8, 0 = background, 255 = ink, 1 <= H, W <= MAX_SIDE.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

MAX_SIDE = 2048  # largest drawing side the web API accepts


def _field_int(payload: dict, key: str) -> int:
    if key not in payload:
        raise ValueError(f"missing field '{key}'")
    value = payload[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"field '{key}' must be an integer, got {type(value).__name__}")
    if not 1 <= value <= MAX_SIDE:
        raise ValueError(f"field '{key}' must be between 1 and {MAX_SIDE}, got {value}")
    return value


def decode_drawing(payload: object) -> np.ndarray:
    """Check and decode the JSON body of POST /api/predict.

    payload = {"width": W, "height": H, "pixels": base64 of W*H bytes, row-major, 0 = background,
    255 = ink}. Raises ValueError naming the first problem found.

    Shapes: -> (H, W) uint8.
    """
    if payload is None:
        raise ValueError("empty body: expected a JSON object {width, height, pixels}")
    if not isinstance(payload, dict):
        raise ValueError(f"expected a JSON object, got {type(payload).__name__}")
    width = _field_int(payload, "width")
    height = _field_int(payload, "height")
    if "pixels" not in payload:
        raise ValueError("missing field 'pixels'")
    text = payload["pixels"]
    if not isinstance(text, str):
        raise ValueError(f"field 'pixels' must be a base64 string, got {type(text).__name__}")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValueError("field 'pixels' is not valid base64") from None
    if len(raw) != width * height:
        raise ValueError(
            f"field 'pixels' decodes to {len(raw)} bytes, expected width*height = "
            f"{width}*{height} = {width * height}"
        )
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width)


def encode_maps(name: str, maps: np.ndarray) -> dict:
    """Pack one layer's feature maps for the page: uint8 quantised over the layer's range.

    q = round(255 * (v - lo) / (hi - lo)) with lo, hi the layer's minimum and maximum, so the
    page can show the maps as grey images and still label the value range.

    Shapes: maps (C, H, W) or (M,) -> {"name", "shape", "min", "max", "data": base64 bytes}.
    """
    maps = np.asarray(maps, dtype=np.float32)
    lo, hi = float(maps.min()), float(maps.max())
    span = hi - lo if hi > lo else 1.0
    q = np.rint((maps - lo) * (255.0 / span)).astype(np.uint8)
    return {
        "name": name,
        "shape": list(maps.shape),
        "min": lo,
        "max": hi,
        "data": base64.b64encode(q.tobytes()).decode("ascii"),
    }
