"""webui.wire: the JSON/base64 wire format of POST /api/predict and of the feature maps."""

import base64

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from webui.wire import decode_drawing, encode_maps


def _payload(w, h, data: bytes):
    return {"width": w, "height": h, "pixels": base64.b64encode(data).decode()}


def test_decode_drawing_round_trips_row_major_bytes():
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4)  # H=3, W=4
    out = decode_drawing(_payload(4, 3, pixels.tobytes()))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, pixels)


@pytest.mark.parametrize(
    "payload, message",
    [
        (None, "empty body"),
        ([1, 2], "expected a JSON object, got list"),
        ({"height": 2, "pixels": "AAAA"}, "missing field 'width'"),
        ({"width": 2, "pixels": "AAAA"}, "missing field 'height'"),
        ({"width": 2, "height": 2}, "missing field 'pixels'"),
        ({"width": "2", "height": 2, "pixels": "AAAA"}, "'width' must be an integer, got str"),
        ({"width": 2.0, "height": 2, "pixels": "AAAA"}, "'width' must be an integer, got float"),
        ({"width": True, "height": 2, "pixels": "AAAA"}, "'width' must be an integer, got bool"),
        ({"width": 0, "height": 2, "pixels": ""}, "'width' must be between 1 and 2048, got 0"),
        ({"width": 2, "height": 2049, "pixels": ""}, "'height' must be between 1 and 2048, got 2049"),
        ({"width": 2, "height": 2, "pixels": 1234}, "'pixels' must be a base64 string, got int"),
        ({"width": 2, "height": 2, "pixels": "AA*A"}, "not valid base64"),
        ({"width": 2, "height": 2, "pixels": "AAA"}, "not valid base64"),
        ({"width": 2, "height": 2, "pixels": "ÄÄÄÄ"}, "not valid base64"),
        ({"width": 2, "height": 2, "pixels": "AAAAAAAA"}, "decodes to 6 bytes, expected"),
    ],
)
def test_decode_drawing_names_the_problem(payload, message):
    with pytest.raises(ValueError, match=message):
        decode_drawing(payload)


@given(seed=st.integers(0, 2**31 - 1), c=st.integers(1, 4), h=st.integers(1, 6))
def test_encode_maps_round_trips_within_one_quantisation_step(seed, c, h):
    maps = np.random.default_rng(seed).standard_normal((c, h, h)).astype(np.float32)
    enc = encode_maps("0:Conv2D", maps)
    assert enc["name"] == "0:Conv2D" and enc["shape"] == [c, h, h]
    q = np.frombuffer(base64.b64decode(enc["data"]), dtype=np.uint8).reshape(c, h, h)
    step = (enc["max"] - enc["min"]) / 255
    back = enc["min"] + q * step
    np.testing.assert_allclose(back, maps, atol=step / 2 + 1e-6)
