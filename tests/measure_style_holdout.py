"""Generalisation across drawing styles: train without some styles, test on exactly those.

    python tests/measure_style_holdout.py [--n 24000] [--epochs 4]

Trains shapes-small (as `scratchcnn train` does: Adam, one-cycle, augmentation) on generated
drawings with one style per class left out (HELD_OUT), then reads 300 drawings of each left-out
style, plus the person-like drawings of tests/drawn_shapes.py. A style the network never saw is
the closest a generated test comes to "drawn in a way the generator does not make".
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drawn_shapes import held_out_set  # noqa: E402
from scratchcnn import data, preprocess, shapes, train, zoo  # noqa: E402
from scratchcnn.optim import Adam  # noqa: E402

HELD_OUT = {"circle": ["double loop"], "triangle": ["right"], "diamond": ["gem"],
            "hexagon": ["on a corner"], "star": ["pentagram"], "heart": ["two halves"],
            "arrow": ["block", "closed head"], "plus": ["outline"], "moon": ["two arcs"],
            "lightning": ["zigzag"], "smiley face": ["rings"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24000, help="training drawings")
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args(argv)
    styles = {c: [s for s in shapes.STYLES[c] if s not in HELD_OUT.get(c, [])] for c in shapes.CLASSES}
    images, labels = shapes.load_shapes("train", args.n, styles=styles)
    val = shapes.load_shapes("val", 1200, styles=styles)
    model = zoo.build_model("shapes-small", 0)
    train.fit(model, Adam(model, 3e-3), (images, labels), val, epochs=args.epochs, batch_size=128,
              lr=3e-3, augment=train.augment_settings(True, 0.0), seed=0)
    print(f"trained on {args.n} drawings without the held-out styles, {args.epochs} epochs")
    for label, left_out in HELD_OUT.items():
        x, _ = shapes.make_set(300, 4242, classes=[label], styles={label: left_out})
        acc = np.mean(model.predict(data.to_input(x)) == shapes.CLASSES.index(label))
        print(f"  {label:12s} styles never seen {left_out}: {100 * acc:.1f}% read right")
    drawings, names, _ = held_out_set(10)
    x = np.stack([np.rint(preprocess.to_mnist(d) * 255).astype(np.uint8) for d in drawings])
    y = np.array([shapes.CLASSES.index(n) for n in names])
    print(f"person-like drawings (tests/drawn_shapes.py): "
          f"{100 * np.mean(model.predict(data.to_input(x)) == y):.1f}% read right")
    return 0


if __name__ == "__main__":
    sys.exit(main())
