"""Command line: `scratchcnn <command>` (the same as `python -m scratchcnn <command>`).

Each command is a `_cmd_<name>(args) -> int` function registered in `build_parser`.
"""

import argparse
import sys

import numpy as np

from . import __version__


def _cmd_summary(args) -> int:
    from .model import load_model
    from .zoo import build_model

    model = load_model(args.weights) if args.weights else build_model(args.model)
    print(model.summary())
    return 0


def _cmd_gradcheck(args) -> int:
    from .gradcheck import check_layer, check_model, demo_cases, demo_model, fast_vs_naive

    rows = []
    for label, layer, x, training in demo_cases(args.seed):
        errors = check_layer(layer, x, training=training)
        rows.append((label, str(x.shape), errors))
    for impl in ("naive", "fast"):
        model, x, labels = demo_model(args.seed, impl)
        rows.append((f"whole network [{impl}]", str(x.shape), check_model(model, x, labels, training=True)))
    width = max(len(r[0]) for r in rows) + 2  # room for the dtype labels below
    print(f"{'case':<{width}}  {'input':<14}  {'max rel err':>11}  {'worst':<6}  result")
    failed = 0
    for label, shape, errors in rows:
        worst = max(errors, key=errors.get)
        ok = errors[worst] < args.tol
        failed += not ok
        print(f"{label:<{width}}  {shape:<14}  {errors[worst]:>11.2e}  {worst:<6}  {'ok' if ok else 'FAIL'}")
    print(f"{len(rows) - failed}/{len(rows)} checks below {args.tol:g} "
          "(float64, central differences, h=1e-6)")

    print(f"\n{'fast vs naive':<{width}}  {'input':<14}  {'max rel diff':>11}  {'worst':<6}")
    for label, layer, x, _ in demo_cases(args.seed):
        if "[fast]" in label:
            for dtype in (np.float32, np.float64):
                diffs = fast_vs_naive(layer.astype(dtype), x.astype(dtype))
                worst = max(diffs, key=diffs.get)
                name = label.replace("[fast]", f"[{np.dtype(dtype).name}]")
                print(f"{name:<{width}}  {str(x.shape):<14}  {diffs[worst]:>11.2e}  {worst:<6}")
    return 1 if failed else 0


def _cmd_serve(args) -> int:
    from webui.server import serve

    return serve(args.weights, args.host, args.port, args.server)


def _cmd_bench_web(args) -> int:
    from webui.server import bench_web

    r = bench_web(args.url, args.clients, args.requests, args.size, args.activations,
                  args.weights, args.server)
    print(f"POST /api/predict{'?activations=1' if args.activations else ''}: "
          f"{args.size}x{args.size} drawing ({r['body_bytes']:,} byte body), "
          f"{r['clients']} clients, {r['requests']} requests")
    print(f"median {r['median_ms']:.2f} ms  p90 {r['p90_ms']:.2f} ms  "
          f"{r['req_per_s']:.0f} req/s  errors {r['errors']}")
    return 1 if r["errors"] else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scratchcnn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"scratchcnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("summary", help="print a model's layers, output shapes and parameter counts")
    p.add_argument("--model", default="convnet", help="a model-zoo name (default: convnet)")
    p.add_argument("--weights", help="a saved .npz model instead of a zoo name")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("gradcheck", help="check every layer's backward pass against central differences")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tol", type=float, default=1e-5, help="largest relative error that passes")
    p.set_defaults(func=_cmd_gradcheck)

    p = sub.add_parser("serve", help="serve the drawing web app on the shipped (or given) weights")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--weights", help="a saved .npz model (default: the shipped weights)")
    p.add_argument("--server", default="wsgiref",
                   help="any server Bottle supports, e.g. waitress or cheroot (default: wsgiref)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("bench-web", help="time POST /api/predict from a few concurrent clients")
    p.add_argument("--url", help="a running server (default: start one on a free local port)")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--size", type=int, default=280, help="drawing side in pixels (default: 280)")
    p.add_argument("--activations", action="store_true", help="also ask for the feature maps")
    p.add_argument("--weights", help="weights for the server this command starts")
    p.add_argument("--server", default="wsgiref", help="server for the one this command starts")
    p.set_defaults(func=_cmd_bench_web)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as e:
        print(f"scratchcnn {args.command}: error: {e}", file=sys.stderr)
        return 2
