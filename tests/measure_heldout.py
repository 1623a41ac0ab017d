"""Held-out drawings read through a real `scratchcnn serve` on the shipped models, over HTTP.

    python tests/measure_heldout.py [--per-way 10] [--seed 12345]

Shapes: every way of every class in tests/drawn_shapes.py (written apart from the generator the
model trained on), placed, sized, warped and brushed at random, posted to
/api/predict?model=shapes. Digits: the hand-drawn digits of tests/digits.py placed the same way,
posted to /api/predict (the digits model). Prints accuracy overall, per class and per way (an
unknown answer counts as wrong). Then the other way round, for the unknown answer: the same
drawn shapes (all but the circle, which is a 0) posted to the digits model, and the drawn digits
1-9 (a 0 is a circle) to the shapes model; prints the share each model answers unknown.
"""

import argparse
import base64
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digits import DIGITS  # noqa: E402
from drawn_shapes import DRAWN, held_out_set, person_drawing  # noqa: E402
from scratchcnn.preprocess import render_strokes  # noqa: E402
from webserver import running_server  # noqa: E402


def answer(server, pixels, model):
    body = {"width": pixels.shape[1], "height": pixels.shape[0],
            "pixels": base64.b64encode(pixels.tobytes()).decode("ascii")}
    status, _, data = server.post_json(f"/api/predict?model={model}", body)
    assert status == 200, data
    return data


def post(server, pixels, model):
    return answer(server, pixels, model)["label"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-way", type=int, default=10)
    ap.add_argument("--seed", type=int, default=12345)
    args = ap.parse_args(argv)
    with running_server(None) as server:
        drawings, labels, ways = held_out_set(args.per_way, args.seed)
        got = [post(server, d, "shapes") for d in drawings]
        by_class, by_way = defaultdict(list), defaultdict(list)
        for label, way, g in zip(labels, ways, got):
            by_class[label].append(g == label)
            by_way[(label, way)].append(g == label)
        right = sum(g == t for g, t in zip(got, labels))
        print(f"shapes drawn apart from the generator, through /api/predict?model=shapes: "
              f"{right}/{len(labels)} = {100 * right / len(labels):.1f}%")
        for label in DRAWN:
            per_way = " ".join(f"{100 * np.mean(by_way[(label, w)]):.0f}%"
                               for w in range(len(DRAWN[label])))
            wrong = sorted({g or "unknown" for g, t in zip(got, labels) if t == label and g != label})
            print(f"  {label:12s} {100 * np.mean(by_class[label]):5.1f}%  ways: {per_way}"
                  f"{'  read as ' + ', '.join(wrong) if wrong else ''}")

        rng = np.random.default_rng(args.seed + 1)
        digit_right, n = 0, 0
        misread = defaultdict(int)
        for d, strokes in DIGITS.items():
            for _ in range(10 * args.per_way // 3):
                pts, brush = person_drawing(str(d), 0, rng, strokes=strokes)
                got_d = post(server, render_strokes(pts, 280, 280, brush), "digits")
                digit_right += got_d == str(d)
                misread[(d, got_d or "unknown")] += got_d != str(d)
                n += 1
        print(f"drawn digits (tests/digits.py, placed at random), through /api/predict: "
              f"{digit_right}/{n} = {100 * digit_right / n:.1f}%")
        bad = {k: v for k, v in misread.items() if v}
        if bad:
            print("  misread (true, read as): count", bad)

        unknown = [answer(server, d, "digits").get("unknown") is True
                   for d, t in zip(drawings, labels) if t != "circle"]
        print(f"drawn shapes but the circle, through /api/predict (digits model): answered unknown "
              f"{sum(unknown)}/{len(unknown)} = {100 * np.mean(unknown):.1f}%")
        rng = np.random.default_rng(args.seed + 2)
        unknown = []
        for d, strokes in DIGITS.items():
            if d == 0:
                continue
            for _ in range(10 * args.per_way // 3):
                pts, brush = person_drawing(str(d), 0, rng, strokes=strokes)
                a = answer(server, render_strokes(pts, 280, 280, brush), "shapes")
                unknown.append(a.get("unknown") is True)
        print(f"drawn digits 1-9, through /api/predict?model=shapes: answered unknown "
              f"{sum(unknown)}/{len(unknown)} = {100 * np.mean(unknown):.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
