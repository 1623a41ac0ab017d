"""What each layer of a model computed for one image, laid out for the page's teaching views.

`layer_table` lists the layers as the model numbers them, with each output shape and where a
ReLU follows. `inspect` opens one feature map of one layer: its values, the filter that made it
(Conv2D) and, for one output pixel, the computation behind it, recomputed from the layer's input
the way reference.conv_forward does: the input window, the kernel, their element-wise products,
one sum per input channel, the bias, and the total, which must equal what the layer output (the
answer carries both). For a MaxPool2D pixel: the window and which element won (the first maximum
in row-major order, as everywhere in the library). `vectors` gives the Dense layers' outputs;
the last one is the logits, the scores softmax turns into probabilities.

Shapes: x (1, C, H, W), one image; maps (C, H, W); a window (C, KH, KW) for a convolution,
(KH, KW) for pooling.
"""

from __future__ import annotations

import numpy as np

from .layers import BatchNorm2D, Conv2D, Dense, MaxPool2D, ReLU
from .reference import pad2d


def layer_table(model) -> list[dict]:
    """One row per layer: index, type, label, output shape (without N), params, relu_after."""
    x = np.zeros((1, *model.input_shape), dtype=model.dtype)
    rows = []
    for i, (_, y) in enumerate(model.activations(x)):
        layer = model.layers[i]
        nxt = model.layers[i + 1] if i + 1 < len(model.layers) else None
        rows.append({
            "index": i,
            "type": type(layer).__name__,
            "label": layer.describe(),
            "output_shape": [int(s) for s in y.shape[1:]],
            "params": int(sum(p.size for p in layer.params.values())),
            "relu_after": isinstance(nxt, ReLU) and not isinstance(layer, ReLU),
        })
    return rows


def _index(value, name: str, size: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < size:
        raise ValueError(f"'{name}' must be an integer in [0, {size}), got {value!r}")
    return int(value)


def _floats(a: np.ndarray, digits: int = 6) -> list:
    return np.round(np.asarray(a, dtype=np.float64), digits).tolist()


def vectors(model, acts: list[tuple[str, np.ndarray]]) -> list[dict]:
    """Each Dense layer's output for image 0: {"name", "values", "relu_after"}; the last: logits."""
    out = []
    for i, ((name, y), layer) in enumerate(zip(acts, model.layers)):
        if isinstance(layer, Dense):
            nxt = model.layers[i + 1] if i + 1 < len(model.layers) else None
            out.append({"name": name, "values": _floats(y[0]), "relu_after": isinstance(nxt, ReLU)})
    return out


def inspect(model, x: np.ndarray, layer, channel, row=None, col=None) -> dict:
    """One feature map of layer `layer` for the image x, and the computation of pixel (row, col).

    Conv2D: "map" (OH, OW), "filter" (C, KH, KW) and "bias"; with a pixel, "pixel" holds
    "window", "kernel", "products" (each (C, KH, KW)), "channel_sums" (C,), "bias", "sum" (the
    recomputed value), "layer_value" (what the layer output) and, when a ReLU follows, "after_relu".
    MaxPool2D: "map"; with a pixel, "window" (KH, KW), "winner" [kh, kw] and "value".
    BatchNorm2D: "map"; with a pixel, its "input", the running "mean" and "var", "eps",
    "normalised", "gamma", "beta", "sum" (the recomputed value), "layer_value" and "after_relu".
    Other layers with (C, H, W) outputs: "map" only. Raises ValueError for an index out of range.
    Shapes: x (1, C, H, W)
    """
    n_layers = len(model.layers)
    L = _index(layer, "layer", n_layers)
    acts = model.activations(x)
    y = acts[L][1][0]
    if y.ndim != 3:
        raise ValueError(f"layer {L} ({model.layers[L].describe()}) outputs a vector of shape "
                         f"{tuple(y.shape)}, not feature maps")
    f = _index(channel, "channel", y.shape[0])
    lay = model.layers[L]
    answer = {"layer": L, "label": lay.describe(), "type": type(lay).__name__, "channel": f,
              "map": _floats(y[f]), "min": float(y[f].min()), "max": float(y[f].max())}
    if isinstance(lay, Conv2D):
        answer["filter"] = _floats(lay.params["W"][f])
        answer["bias"] = float(lay.params["b"][f])
        answer["stride"], answer["padding"] = list(lay.stride), list(lay.padding)
    if row is None and col is None:
        return answer
    i, j = _index(row, "row", y.shape[1]), _index(col, "col", y.shape[2])
    inp = (x if L == 0 else acts[L - 1][1])[0]  # (C, H, W): what the layer read
    nxt = model.layers[L + 1] if L + 1 < n_layers else None
    if isinstance(lay, Conv2D):
        (KH, KW), (SH, SW), (PH, PW) = lay.kernel_size, lay.stride, lay.padding
        x_pad = pad2d(inp[None].astype(np.float64), PH, PW)[0]
        window = x_pad[:, i * SH : i * SH + KH, j * SW : j * SW + KW]  # (C, KH, KW)
        kernel = lay.params["W"][f].astype(np.float64)
        products = window * kernel
        channel_sums = products.sum(axis=(1, 2))  # (C,)
        total = float(channel_sums.sum() + lay.params["b"][f])
        answer["pixel"] = {
            "row": i, "col": j, "window": _floats(window), "kernel": _floats(kernel),
            "products": _floats(products), "channel_sums": _floats(channel_sums),
            "bias": float(lay.params["b"][f]), "sum": total, "layer_value": float(y[f, i, j]),
            # where the window sits in the layer's input, padding included (may start below 0)
            "top": i * SH - PH, "left": j * SW - PW, "input_hw": [int(inp.shape[1]), int(inp.shape[2])],
        }
        if isinstance(nxt, ReLU):
            answer["pixel"]["after_relu"] = max(total, 0.0)
    elif isinstance(lay, MaxPool2D):
        (KH, KW), (SH, SW) = lay.kernel_size, lay.stride
        window = inp[f, i * SH : i * SH + KH, j * SW : j * SW + KW].astype(np.float64)
        kh, kw = np.unravel_index(int(np.argmax(window)), window.shape)  # first maximum
        answer["pixel"] = {"row": i, "col": j, "window": _floats(window), "winner": [int(kh), int(kw)],
                           "value": float(window[kh, kw]), "layer_value": float(y[f, i, j]),
                           "top": i * SH, "left": j * SW}
    elif isinstance(lay, BatchNorm2D):  # inference: the running statistics of channel f
        mean, var = float(lay.buffers["running_mean"][f]), float(lay.buffers["running_var"][f])
        gamma, beta = float(lay.params["gamma"][f]), float(lay.params["beta"][f])
        value = float(inp[f, i, j])
        normalised = (value - mean) / np.sqrt(var + lay.eps)
        total = gamma * normalised + beta
        answer["pixel"] = {"row": i, "col": j, "input": value, "mean": mean, "var": var,
                           "eps": lay.eps, "normalised": float(normalised), "gamma": gamma,
                           "beta": beta, "sum": float(total), "layer_value": float(y[f, i, j])}
        if isinstance(nxt, ReLU):
            answer["pixel"]["after_relu"] = max(float(total), 0.0)
    else:
        answer["pixel"] = {"row": i, "col": j, "layer_value": float(y[f, i, j])}
    return answer
