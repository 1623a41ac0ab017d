"""Training and evaluation loops: `fit` returns a history dict, `evaluate` a confusion matrix.

One optimisation step: logits = net.forward(x, training=True); (loss, dlogits) =
softmax_cross_entropy(logits, y); net.backward(dlogits, input_grad=False); optimizer.step(),
where net = parallel.DataParallel(model) runs the model's math on both cores.
The learning rate follows a schedule over all steps (one-cycle: Smith & Topin 2017, warm-up then
cosine decay).
A checkpoint (parameters, optimizer buffers, epoch, batch position, every RNG state) is written
atomically at each epoch end and on Ctrl-C, so `resume=True` continues bit for bit.
"""

import json
import math
import signal
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import data, env
from .fileio import atomic_open, remove_orphans, save_npz
from .parallel import DataParallel
from .losses import softmax_cross_entropy

SCHEDULES = ("constant", "cosine", "onecycle")
CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.jsonl"
# The training defaults every caller reads: `scratchcnn train`'s flags, fit's and train_run's
# keyword defaults, the bench's trainer epoch and the notebooks. "augment": the random shift,
# rotation and scale of data.augment, plus an elastic field when "elastic" > 0.
DEFAULTS = {
    "model": "mnist-small", "epochs": 12, "batch_size": 128, "optimizer": "adam", "lr": 3e-3,
    "momentum": 0.9, "weight_decay": 0.0, "schedule": "onecycle", "augment": True,
    "elastic": 0.0, "seed": 0, "val_size": 5000, "train_limit": None, "val_every": 1,
}


class TrainingDiverged(RuntimeError):
    """The run stopped learning: the loss became NaN or infinite, or rose to DIVERGE_FACTOR times
    its first value, or validation accuracy after an epoch was at chance. No model is saved."""


# A step whose loss is this many times the run's first loss has exploded: a run from scratch
# starts near log(K) (2.3 for ten classes) and a healthy one never climbs back to 5x that.
DIVERGE_FACTOR = 5.0
# Chance-level validation accuracy stops a run only once it has taken this many steps: a smoke
# run of a few steps on a few images may not have moved yet.
CHANCE_AFTER_STEPS = 100
# Resuming a finished run may change these (and must raise epochs); everything else must match.
EXTENSION_KEYS = ("epochs", "lr", "schedule")

# A recipe is the `scratchcnn train` commands that make a shipped model, run in order by
# `scratchcnn train --recipe NAME --out DIR`; "{out}" stands for DIR. Each stage is an ordinary
# train command with its own train.json, so any stage can be run (or rerun) by hand.
RECIPES = {
    "digits": {
        "about": "the shipped digits model: mnist-bn from scratch, then a short outlier-exposure "
                 "fine-tune of its head (layers 13-18: the convolutions and their batch norms "
                 "stay as trained) with drawn digits added (the honest unknown answer)",
        "stages": [
            "--model mnist-bn --optimizer sgd --lr 0.1 --weight-decay 5e-4 --epochs 28 "
            "--val-every 5 --out {out}/pretrain",
            "--model mnist-bn --init {out}/pretrain/mnist-bn.npz --train-from 13 --freeze-norm "
            "--outliers scribbles,shapes --outlier-weight 0.1 --drawn 10000 --epochs 3 "
            "--optimizer sgd --lr 0.01 --weight-decay 5e-4 --out {out}",
        ],
    },
}


def recipe_stages(name: str, out) -> list[list[str]]:
    """The recipe's train commands for output folder `out`, as argument lists (after "train")."""
    import shlex

    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    return [shlex.split(stage.replace("{out}", str(out))) for stage in RECIPES[name]["stages"]]


def finished_stage(out, command: str) -> bool:
    """True if the stage's --out folder `out` holds the weights and train.json of a finished run
    of exactly `command` (what `train --recipe --resume` skips)."""
    out = Path(out)
    record_file = out / "train.json"
    if not record_file.is_file():
        return False
    try:
        record = json.loads(record_file.read_text())
    except (OSError, ValueError):
        return False
    # the recorded command starts with the speed variables that were set (env.env_vars)
    return (str(record.get("command", "")).endswith(command)
            and (out / str(record.get("weights"))).is_file()
            and len(record.get("history", [])) == record.get("epochs"))


def note_recipe(out, name: str, command: str, stage_commands: list[str], wall: float,
                skipped: list[str]) -> dict:
    """Add the recipe to the last stage's train.json (atomically): the one command that made
    the weights, its stages, and their wall times (each stage's own, from its train.json)."""
    record_file = Path(out) / "train.json"
    record = json.loads(record_file.read_text())
    stage_walls, r = [], record
    while r is not None:  # the last stage's record holds the earlier ones as init_training
        stage_walls.insert(0, r["wall_seconds"])
        r = r.get("init_training")
    record["recipe"] = {"name": name, "command": command, "stages": stage_commands,
                        "stage_wall_seconds": stage_walls[-len(stage_commands):],
                        "wall_seconds": wall, "skipped": skipped}
    with atomic_open(record_file, "w") as f:
        json.dump(record, f, indent=1)
    return record



def at_chance(accuracy: float, n: int, classes: int) -> bool:
    """True when accuracy on n images is within two standard errors of guessing (1/classes);
    never for fewer than 100 images, where chance and a slow start cannot be told apart."""
    p = 1 / classes
    return n >= 100 and accuracy <= p + 2 * math.sqrt(p * (1 - p) / n)


def lr_in_segments(segments: list[dict], step: int, steps_per_epoch: int) -> float:
    """The learning rate of a 0-based step when a run is made of segments, each
    {"from_epoch", "to_epoch", "lr", "schedule"}: a fresh run is one segment; a finished run
    continued with more epochs adds one, whose schedule runs again over the added epochs only
    (a warm restart from its own peak lr)."""
    epoch = step // steps_per_epoch
    seg = next((s for s in segments if s["from_epoch"] <= epoch < s["to_epoch"]), segments[-1])
    start = seg["from_epoch"] * steps_per_epoch
    return lr_at(seg["schedule"], seg["lr"], step - start,
                 (seg["to_epoch"] - seg["from_epoch"]) * steps_per_epoch)


class TrainingInterrupted(Exception):
    """Ctrl-C or SIGTERM: a checkpoint was written after the last complete step."""

    def __init__(self, message: str, signum: int = signal.SIGINT):
        super().__init__(message)
        self.signum = signum  # the process exits with 128 + signum, as a shell reports it


def lr_at(schedule: str, base_lr: float, step: int, total_steps: int) -> float:
    """Learning rate for a 0-based step. onecycle: linear warm-up from base/25 over the first 25%
    of steps, then cosine down to base/1e4; cosine: base * (1 + cos(pi * step / total)) / 2."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    frac = step / max(1, total_steps)
    if schedule == "constant":
        return base_lr
    if schedule == "cosine":
        return base_lr * 0.5 * (1 + math.cos(math.pi * frac))
    warm = 0.25
    if frac < warm:
        return base_lr / 25 + (base_lr - base_lr / 25) * frac / warm
    decay = (frac - warm) / (1 - warm)
    return base_lr / 1e4 + (base_lr - base_lr / 1e4) * 0.5 * (1 + math.cos(math.pi * decay))


def split_validation(n: int, val_size: int, seed: int):
    """Disjoint index arrays (train, val): a seeded permutation of range(n), val_size held out."""
    if not 0 <= val_size < n:
        raise ValueError(f"validation size must be in [0, {n}), got {val_size}")
    order = np.random.default_rng(np.random.SeedSequence([seed, 1])).permutation(n)
    return np.sort(order[val_size:]), np.sort(order[:val_size])


def evaluate(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 500) -> dict:
    """Loss, accuracy, per-class accuracy and confusion matrix (rows true, columns predicted).

    Shapes: images uint8 (N, 28, 28), labels (N,) -> confusion (K, K), K = the model's outputs
    """
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"expected as many labels as images (N >= 1), got {len(images)} images "
                         f"and {len(labels)} labels")
    K = model.forward(data.to_input(images[:1], model.dtype)).shape[1]
    confusion = np.zeros((K, K), dtype=np.int64)
    loss_sum = 0.0
    net = DataParallel(model)
    for i in range(0, len(images), batch_size):
        x = data.to_input(images[i : i + batch_size], model.dtype)
        y = labels[i : i + batch_size].astype(np.int64)
        logits = net.forward(x)
        loss, _ = softmax_cross_entropy(logits, y)
        loss_sum += loss * len(y)
        np.add.at(confusion, (y, logits.argmax(axis=1)), 1)
    correct = int(np.trace(confusion))
    per_class = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    return {"n": int(len(labels)), "correct": correct, "accuracy": correct / len(labels),
            "loss": loss_sum / len(labels), "per_class_accuracy": per_class.tolist(),
            "confusion": confusion.tolist(), "classes": list(model.classes)}


def _save_checkpoint(path, model, optimizer, perm, meta: dict) -> None:
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    arrays.update({f"optim/{k}": v for k, v in optimizer.state_dict().items()})
    arrays["perm"] = perm if perm is not None else np.zeros(0, dtype=np.int64)
    arrays["meta"] = np.array(json.dumps(meta))
    save_npz(path, arrays)


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from; the message names the file and what to do."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path} cannot be resumed from: {problem}. Delete it to start over "
                         f"(or keep it aside and train into another --out)")


# what a checkpoint's meta holds, and the JSON type of each entry
_META = {"epoch": int, "batch": int, "sums": list, "rng": dict, "model_rng": list,
         "history": dict, "config": dict}


def load_checkpoint(path):
    """(model state, optimizer state, epoch permutation or None, meta dict) from a checkpoint.

    Every entry's CRC is checked and meta's fields and types; CheckpointError otherwise."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()  # reads every entry, checking its CRC
        if bad is not None:
            raise CheckpointError(path, f"entry {bad} is damaged (bad CRC)")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as e:
        if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise CheckpointError(path, e.strerror or str(e)) from None
        raise CheckpointError(path, f"not a complete checkpoint ({e})") from None
    for key in ("meta", "perm"):
        if key not in arrays:
            raise CheckpointError(path, f"no {key!r} entry")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (json.JSONDecodeError, RecursionError) as e:
        raise CheckpointError(path, f"its meta entry is not JSON ({e})") from None
    missing = [k for k, kind in _META.items() if not isinstance(meta, dict)
               or not isinstance(meta.get(k), kind)]
    if missing:
        raise CheckpointError(path, f"its meta entry lacks or mistypes {missing}")
    perm = arrays.pop("perm")
    if perm.ndim != 1 or perm.dtype.kind not in "iu":
        raise CheckpointError(path, f"perm must be a 1-D integer array, got {perm.dtype} {perm.shape}")
    model_state = {k[6:]: v for k, v in arrays.items() if k.startswith("model/")}
    optim_state = {k[6:]: v for k, v in arrays.items() if k.startswith("optim/")}
    return model_state, optim_state, (perm if perm.size else None), meta


def _check_position(path, meta: dict, perm, n: int, epochs: int, steps_per_epoch: int) -> None:
    """CheckpointError unless the checkpoint's epoch, batch and permutation fit this run."""
    epoch, batch = meta["epoch"], meta["batch"]
    if not 0 <= epoch <= epochs:
        raise CheckpointError(path, f"it is at epoch {epoch}, outside 0..{epochs}")
    if not 0 <= batch <= steps_per_epoch or (batch and epoch == epochs):
        raise CheckpointError(path, f"its batch position {batch} is past the epoch's "
                                    f"{steps_per_epoch} batches")
    if batch and perm is None:
        raise CheckpointError(path, "it stopped mid-epoch but holds no permutation of the images")
    if perm is not None and (len(perm) != n or not np.array_equal(np.sort(perm), np.arange(n))):
        raise CheckpointError(path, f"its perm is not a permutation of the {n} training images")


def augment_settings(augment: bool, elastic: float) -> dict | None:
    """The keyword arguments fit passes to data.augment for these flags (None: no augmentation):
    every keyword of data.augment with its value, its defaults but elastic, so a record says what
    was on (shift 2 px, rotate 10 degrees, scale 10%, elastic 0 = off)."""
    import inspect

    if not augment:
        return None
    params = inspect.signature(data.augment).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY} | {"elastic": elastic}


def fit(model, optimizer, train, val=None, *, epochs: int,
        batch_size: int = DEFAULTS["batch_size"], lr: float = DEFAULTS["lr"],
        schedule: str = DEFAULTS["schedule"], augment: dict | None = None,
        seed: int = DEFAULTS["seed"], out_dir=None, resume: bool = False, on_step=None,
        config: dict | None = None, command: str | None = None,
        outliers: "OutlierExposure | None" = None, val_every: int = DEFAULTS["val_every"]) -> dict:
    """Train for `epochs` passes over train = (uint8 images (N, 28, 28), labels (N,)).

    outliers: an OutlierExposure adds a batch of outlier images to every step, pushed toward
    the uniform answer (Hendrycks et al. 2019); the reported loss and accuracy are the
    in-distribution batch's.
    augment: keyword arguments for data.augment (None: no augmentation). With out_dir, every
    epoch end writes checkpoint.npz and appends a line to metrics.jsonl there; resume=True
    continues from the checkpoint: an interrupted run with the same settings where it stopped, or
    a finished run for more `epochs` (lr and schedule may change: the added epochs are a new
    segment of the schedule, see lr_in_segments). A run that diverges (TrainingDiverged: NaN or
    inf loss, a loss DIVERGE_FACTOR times its first (or log K when larger: a fine-tuned run
    starts near 0), chance validation accuracy after an epoch
    once CHANCE_AFTER_STEPS steps are done)
    stops before writing anything more.
    val_every: validate after every val_every-th epoch only (and always after the first, for
    the chance-level check, and the last); an epoch not validated has no val_loss in its record.
    on_step(step) is called after every optimizer step (tests use it to interrupt a run);
    `command` is recorded in history["runs"], one entry per call (the first made the run).
    Returns {"epochs": [per-epoch metrics], "train_seconds": float, "config": dict,
    "segments": [...], "runs": [...], "start_loss": float}.
    """
    images, labels = train
    n = len(images)
    if n == 0 or len(labels) != n:
        raise ValueError(f"expected N >= 1 training images with N labels, got {n} and {len(labels)}")
    if epochs < 1 or batch_size < 1 or val_every < 1:
        raise ValueError(f"epochs, batch_size and val_every must be >= 1, got {epochs}, "
                         f"{batch_size} and {val_every}")
    lr_at(schedule, lr, 0, 1)  # validates the schedule name
    config = dict(config or {}, epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule,
                  augment=augment, seed=seed, n_train=n)
    if val_every != 1:  # recorded only when set, so older checkpoints resume as they were
        config["val_every"] = val_every
    steps_per_epoch = math.ceil(n / batch_size)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))  # shuffling + augmentation
    net = DataParallel(model)  # the model's steps, a batch in pieces on both cores
    out = Path(out_dir) if out_dir is not None else None
    history = {"epochs": [], "train_seconds": 0.0, "config": config, "start_loss": None,
               "segments": [{"from_epoch": 0, "to_epoch": epochs, "lr": lr, "schedule": schedule}],
               "runs": []}
    start_epoch, start_batch, perm, sums = 0, 0, None, [0.0, 0, 0]  # loss sum, correct, seen
    if out is not None:
        remove_orphans(out, (CHECKPOINT, METRICS))  # from writes killed before their rename
    if resume:
        ck = out / CHECKPOINT if out is not None else None
        if ck is None or not ck.exists():
            raise FileNotFoundError(f"--resume: no {CHECKPOINT} in {out}")
        model_state, optim_state, perm, meta = load_checkpoint(ck)
        try:
            history = _resumed_history(meta, json.loads(json.dumps(config)))
        except (KeyError, TypeError, AttributeError) as e:  # other settings: a ValueError
            raise CheckpointError(ck, f"its meta config or history is incomplete ({e!r})") from None
        _check_position(ck, meta, perm, n, epochs, steps_per_epoch)
        try:
            model.load_state_dict(model_state)
            optimizer.load_state_dict(optim_state)
            rng.bit_generator.state = meta["rng"]
            model.set_rng_state(meta["model_rng"])
            sums = [float(meta["sums"][0]), int(meta["sums"][1]), int(meta["sums"][2])]
            if (not isinstance(history.get("epochs"), list)
                    or not isinstance(history.get("train_seconds"), (int, float))):
                raise ValueError("its history lacks the epochs list or train_seconds")
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise CheckpointError(ck, str(e)) from None
        start_epoch, start_batch = meta["epoch"], meta["batch"]
        with atomic_open(out / METRICS, "w") as f:  # drop lines written after the checkpoint
            f.writelines(json.dumps(e) + "\n" for e in history["epochs"])
    history["runs"].append({"command": command, "from_epoch": start_epoch, "from_step": start_batch,
                            "to_epoch": epochs, "utc": time.strftime("%Y-%m-%d %H:%M:%S",
                                                                    time.gmtime())})
    interrupted = threading.Event()
    caught = []  # the signal that asked us to stop

    def on_signal(signum, frame):
        """Ctrl-C (SIGINT) and SIGTERM (timeout, systemd, container stops) alike: finish the
        step, write a checkpoint, stop; the same signal again quits at once."""
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()
        caught.append(signum)
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        sys.stderr.write(f"\n{name}: finishing this step, then writing a checkpoint "
                         f"({name} again to quit at once)\n")

    in_main = threading.current_thread() is threading.main_thread()
    old_handlers = ({sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
                    if in_main else {})
    try:
        for epoch in range(start_epoch, epochs):
            if perm is None:
                perm = rng.permutation(n)
            bar = data.progress_bar(n, f"epoch {epoch + 1}/{epochs}", "img", initial=sums[2])
            t0, seen_before, aug_seconds = time.perf_counter(), sums[2], 0.0
            for b in range(start_batch, steps_per_epoch):
                step = epoch * steps_per_epoch + b
                idx = perm[b * batch_size : (b + 1) * batch_size]
                x = data.to_input(images[idx], model.dtype)
                if augment is not None:
                    t_aug = time.perf_counter()
                    x = data.augment(x, rng, **augment)
                    aug_seconds += time.perf_counter() - t_aug
                y = labels[idx].astype(np.int64)
                mixed = None
                if outliers is not None:
                    x = np.concatenate([x, outliers.batch(len(y), rng, model.dtype, augment)])
                    # digits and outliers shuffled together, so every piece of a batch split over
                    # threads holds the same mix: batch norm's statistics are each piece's own
                    mixed = rng.permutation(len(x))
                    x = x[mixed]
                optimizer.lr = lr_in_segments(history["segments"], step, steps_per_epoch)
                logits = net.forward(x, training=True)
                if mixed is not None:
                    logits = logits[np.argsort(mixed)]  # rows back in order: digits, outliers
                loss, dlogits = softmax_cross_entropy(logits[: len(y)], y)
                if outliers is not None:
                    dlogits = outliers.gradient(logits, dlogits)[mixed]  # in the order run
                    logits = logits[: len(y)]
                if history["start_loss"] is None:
                    # a fine-tuned run (train --init) starts near 0: measure against chance, log K
                    history["start_loss"] = max(loss, math.log(logits.shape[1]))
                if not math.isfinite(loss) or loss > DIVERGE_FACTOR * history["start_loss"]:
                    bar.close()
                    what = (f"became {loss}" if not math.isfinite(loss) else
                            f"rose to {loss:.4g}, over {DIVERGE_FACTOR:g}x its first value (or log K) "
                            f"{history['start_loss']:.4g},")
                    raise TrainingDiverged(
                        f"loss {what} at epoch {epoch + 1}, step {b + 1} "
                        f"(lr {optimizer.lr:.3g}); stopped without writing a model. "
                        f"Try a smaller --lr.")
                net.backward(dlogits, input_grad=False)
                optimizer.step()
                sums = [sums[0] + loss * len(y), sums[1] + int((logits.argmax(1) == y).sum()),
                        sums[2] + len(y)]
                bar.set_postfix_str(f"loss {sums[0] / sums[2]:.4f} acc {100 * sums[1] / sums[2]:.2f}%",
                                    refresh=False)
                bar.update(len(y))
                if on_step is not None:
                    on_step(step)
                if interrupted.is_set() and out is not None:
                    history["train_seconds"] += time.perf_counter() - t0
                    _save_checkpoint(out / CHECKPOINT, model, optimizer, perm, {
                        "epoch": epoch, "batch": b + 1, "sums": sums, "rng": rng.bit_generator.state,
                        "model_rng": model.rng_state(), "history": history, "config": config})
                    bar.close()
                    raise TrainingInterrupted(f"interrupted at epoch {epoch + 1}, step {b + 1}; "
                                              f"checkpoint written to {out / CHECKPOINT}",
                                              caught[0])
                if interrupted.is_set():
                    raise KeyboardInterrupt
            bar.close()
            seconds = time.perf_counter() - t0
            record = {"epoch": epoch + 1, "loss": sums[0] / sums[2], "accuracy": sums[1] / sums[2],
                      "lr": lr_in_segments(history["segments"], (epoch + 1) * steps_per_epoch - 1,
                                           steps_per_epoch),
                      "seconds": seconds, "augment_seconds": aug_seconds,
                      "images_per_s": (sums[2] - seen_before) / seconds}
            due = epoch == 0 or epoch + 1 == epochs or (epoch + 1) % val_every == 0
            if val is not None and len(val[0]) and due:
                result = evaluate(model, *val)
                record.update(val_loss=result["loss"], val_accuracy=result["accuracy"])
                record["seconds"] = time.perf_counter() - t0
                K = len(result["confusion"])
                if (epoch + 1) * steps_per_epoch >= CHANCE_AFTER_STEPS and at_chance(
                        result["accuracy"], result["n"], K):
                    raise TrainingDiverged(
                        f"validation accuracy {100 * result['accuracy']:.2f}% after epoch "
                        f"{epoch + 1} is chance level (1 in {K}): the run is not learning; "
                        f"stopped without writing a model. Try a smaller --lr.")
            history["epochs"].append(record)
            history["train_seconds"] += record["seconds"]
            start_batch, perm, sums = 0, None, [0.0, 0, 0]
            if out is not None:
                _save_checkpoint(out / CHECKPOINT, model, optimizer, None, {
                    "epoch": epoch + 1, "batch": 0, "sums": sums, "rng": rng.bit_generator.state,
                    "model_rng": model.rng_state(), "history": history, "config": config})
                with open(out / METRICS, "a") as f:
                    f.write(json.dumps(record) + "\n")
            val_text = (f"  val_loss {record['val_loss']:.4f}  val_acc "
                        f"{100 * record['val_accuracy']:.2f}%" if "val_loss" in record else "")
            print(f"epoch {epoch + 1}/{epochs}  loss {record['loss']:.4f}  acc "
                  f"{100 * record['accuracy']:.2f}%{val_text}  lr {record['lr']:.2e}  "
                  f"{record['seconds']:.1f} s  {record['images_per_s']:.0f} img/s", flush=True)
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
    return history


class OutlierExposure:
    """Outlier exposure (Hendrycks, Mazeika & Dietterich, ICLR 2019): every training step adds
    `ratio` * B outlier images to the batch of B, and the loss becomes
    L = CE(in-distribution) + weight * CE(outliers, uniform answer) (losses.uniform_cross_entropy),
    so the network learns to spread its answer over all classes when a drawing is none of them.

    images: the outlier pool, uint8 (P, 28, 28); each step draws from it at random with the
    trainer's generator and augments the draw like the training batch.
    """

    def __init__(self, images: np.ndarray, weight: float = 0.5, ratio: float = 0.5):
        if images.ndim != 3 or images.dtype != np.uint8 or len(images) == 0:
            raise ValueError(f"outlier images must be uint8 of shape (P, 28, 28) with P >= 1, got "
                             f"{images.dtype} {images.shape}")
        if not weight > 0 or not 0 < ratio <= 4:
            raise ValueError(f"outlier weight must be > 0 and ratio in (0, 4], got {weight}, {ratio}")
        self.images, self.weight, self.ratio = images, float(weight), float(ratio)

    def batch(self, n_in: int, rng: np.random.Generator, dtype, augment: dict | None) -> np.ndarray:
        """max(1, round(ratio * n_in)) outlier images as model input. Shapes: -> (B', 1, 28, 28)"""
        idx = rng.integers(len(self.images), size=max(1, round(self.ratio * n_in)))
        x = data.to_input(self.images[idx], dtype)
        return x if augment is None else data.augment(x, rng, **augment)

    def gradient(self, logits: np.ndarray, dlogits_in: np.ndarray) -> np.ndarray:
        """dL/dlogits for the whole batch: the in-distribution rows as given, then
        weight * d CE(uniform) / d logits for the outlier rows. Shapes: (B + B', K) -> same"""
        from .losses import uniform_cross_entropy

        _, d_out = uniform_cross_entropy(logits[len(dlogits_in):])
        return np.concatenate([dlogits_in, d_out * d_out.dtype.type(self.weight)])


def _resumed_history(meta: dict, config: dict) -> dict:
    """The checkpoint's history, for a resume with `config`: the same settings continue where
    the checkpoint stopped; a finished run with more epochs (and maybe another lr or schedule)
    gains a schedule segment for the added epochs. Anything else is refused, naming what differs."""
    saved, history = meta["config"], meta["history"]
    history.setdefault("segments", [{"from_epoch": 0, "to_epoch": saved["epochs"],
                                     "lr": saved["lr"], "schedule": saved["schedule"]}])
    history.setdefault("runs", [])
    history.setdefault("start_loss", None)
    diff = {k: (saved.get(k), v) for k, v in config.items() if saved.get(k) != v}
    if not diff:
        return history
    finished = meta["epoch"] == saved["epochs"] and meta["batch"] == 0
    if finished and diff.keys() <= set(EXTENSION_KEYS) and config["epochs"] > saved["epochs"]:
        history["segments"].append({"from_epoch": saved["epochs"], "to_epoch": config["epochs"],
                                    "lr": config["lr"], "schedule": config["schedule"]})
        history["config"] = config
        return history
    hint = ""
    if "epochs" in diff and finished:
        hint = (f"; the run finished its {saved['epochs']} epochs: --resume --epochs N with "
                f"N > {saved['epochs']} continues it (only epochs, lr and schedule may change)")
    raise ValueError(f"--resume: checkpoint was written with other settings "
                     f"(checkpoint, now): {diff}{hint}")


# ----------------------------------------------------------------------------- whole runs


def make_optimizer(model, name: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    """"adam" or "sgd" (Nesterov momentum) over the model's parameters."""
    from .optim import SGD, Adam

    if name == "adam":
        return Adam(model, lr, weight_decay=weight_decay)
    if name == "sgd":
        return SGD(model, lr, momentum=momentum, weight_decay=weight_decay,
                   nesterov=momentum > 0)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")


def load_training_data(reads: str, split: str, data_dir=None, n: int | None = None):
    """The images a model that reads `reads` trains and is tested on: MNIST for "digits", the
    generated set (scratchcnn.shapes) for "shapes". Shapes: -> uint8 (N, 28, 28), labels (N,)."""
    if reads == "shapes":
        from .shapes import load_shapes

        return load_shapes(split, n)
    if split == "val":
        raise ValueError("MNIST has no separate validation split; hold images out of 'train'")
    return data.load_mnist(split, data_dir)


def train_run(model_name: str = DEFAULTS["model"], out_dir=None, *, command: str,
              epochs: int = DEFAULTS["epochs"], batch_size: int = DEFAULTS["batch_size"],
              optimizer: str = DEFAULTS["optimizer"], lr: float = DEFAULTS["lr"],
              momentum: float = DEFAULTS["momentum"],
              weight_decay: float = DEFAULTS["weight_decay"],
              schedule: str = DEFAULTS["schedule"], augment: bool = DEFAULTS["augment"],
              elastic: float = DEFAULTS["elastic"], seed: int = DEFAULTS["seed"],
              val_size: int = DEFAULTS["val_size"],
              train_limit: int | None = DEFAULTS["train_limit"], data_dir=None,
              resume: bool = False, data_name: str | None = None, outliers: str | None = None,
              outlier_weight: float = 0.5, outlier_pool: int = 12000, init=None,
              drawn: int = 0, freeze_norm: bool = False,
              val_every: int = DEFAULTS["val_every"], train_from: int = 0) -> dict:
    """Load the model's data, hold out val_size images, fit, save <out>/<model>.npz and train.json.

    data_name: "mnist" or "shapes" (default: what the model reads). MNIST holds val_size of its
    training images out; shapes draws a separate validation set of val_size drawings and a
    training set of train_limit drawings (default 48,000).
    out_dir defaults to runs/<model>; `command` is recorded as the command that made the weights.
    outliers: outlier kinds for outlier exposure, e.g. "scribbles,shapes" (outliers.outlier_set;
    a pool of `outlier_pool` training-seed drawings, cached), None for plain training.
    init: a saved model to start from instead of new weights (fine-tuning, as Hendrycks et al.
    fine-tune trained classifiers with outlier exposure); its architecture replaces model_name's.
    freeze_norm: batch-norm layers normalise with their running statistics and keep them
    (layers._BatchNorm.frozen): fine-tuning with outliers, whose batches would otherwise move the
    statistics the digits are read with.
    train_from: train only the layers from this index on (Sequential.train_from); the layers
    before keep their weights, and their batch norms their statistics: with init, a fine-tune of
    the head that leaves the features the digits are read with as they were.
    drawn: add this many generated canvas drawings of digits (outliers.drawn_digits, a training
    seed) to the training images, so that "drawn on a canvas" is never what tells an outlier
    from a digit (every outlier is a canvas drawing; MNIST's digits are not).
    Returns the training record that train.json holds (the test set is not touched here).
    """
    from .zoo import build_model

    wall0 = time.perf_counter()
    out = Path(out_dir if out_dir is not None else f"runs/{model_name}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder: name a folder (it is created if "
                         "missing)")
    if train_limit is not None and train_limit < 1:
        raise ValueError(f"--train-limit must be >= 1, got {train_limit}")
    model = build_model(model_name, seed)
    reads = {"mnist": "digits", "shapes": "shapes", None: model.reads}.get(data_name)
    if reads != model.reads:
        raise ValueError(f"--data {data_name}: model {model_name} reads {model.reads}, "
                         f"not {data_name} (choose a model for {data_name}, e.g. "
                         f"{'shapes-small' if data_name == 'shapes' else 'mnist-small'})")
    if reads == "shapes":
        images, labels = load_training_data("shapes", "train", n=train_limit or 48000)
        val_images, val_labels = load_training_data("shapes", "val", n=max(val_size, 1))
        train_idx, val_idx = np.arange(len(images)), np.arange(len(val_images))
    else:
        images, labels = data.load_mnist("train", data_dir)
        train_idx, val_idx = split_validation(len(images), val_size, seed)
        if train_limit is not None:
            train_idx = train_idx[:train_limit]
        val_images, val_labels = images, labels
    opt = make_optimizer(model, optimizer, lr, momentum, weight_decay)
    init_record = None
    if init is not None:
        from .model import load_model

        model = load_model(init)
        if model.reads != reads:
            raise ValueError(f"--init {init} reads {model.reads}, not {reads}")
        init_json = Path(init).parent / "train.json"  # how the starting weights were made
        init_record = json.loads(init_json.read_text()) if init_json.is_file() else None
        model.unknown = None  # a threshold calibrated for the old weights would not fit the new
        opt = make_optimizer(model, optimizer, lr, momentum, weight_decay)
    from .layers import _BatchNorm

    if freeze_norm:
        norms = [layer for layer in model.layers if isinstance(layer, _BatchNorm)]
        if not norms:
            raise ValueError(f"--freeze-norm: model {model_name} has no batch-norm layer")
        for layer in norms:
            layer.frozen = True
    if train_from:
        L = len(model.layers)
        if not 0 < train_from < L or not any(layer.params for layer in model.layers[train_from:]):
            raise ValueError(f"--train-from {train_from}: name a layer index in 1..{L - 1} with "
                             f"a layer with parameters at or after it (see scratchcnn summary)")
        model.train_from = train_from
        for layer in model.layers[:train_from]:
            if isinstance(layer, _BatchNorm):
                layer.frozen = True  # a fixed layer's statistics stay fixed too
    train_images, train_labels = images[train_idx], labels[train_idx]
    if drawn:
        if reads != "digits":
            raise ValueError("--drawn adds drawn digits: only for a model that reads digits")
        from .outliers import cached_drawn_digits

        extra, extra_labels = cached_drawn_digits(drawn)
        train_images = np.concatenate([train_images, extra])
        train_labels = np.concatenate([train_labels, extra_labels])
    out.mkdir(parents=True, exist_ok=True)
    remove_orphans(out, (f"{model_name}.npz", "train.json"))  # fit removes its own files' ones
    variables = env.env_vars()
    command = " ".join([*(f"{k}={v}" for k, v in variables.items()), command])
    config = {"model": model_name, "data": "shapes" if reads == "shapes" else "mnist",
              "optimizer": optimizer, "momentum": momentum,
              "weight_decay": weight_decay, "val_size": val_size, "train_limit": train_limit}
    exposure = None
    if outliers:
        from .outliers import cached_outlier_set

        pool, _ = cached_outlier_set(reads, outliers, outlier_pool, data_dir=data_dir)
        exposure = OutlierExposure(pool, outlier_weight)
        config.update(outliers=outliers, outlier_weight=outlier_weight, outlier_pool=outlier_pool,
                      outlier_ratio=exposure.ratio)
    if init is not None:
        config["init"] = str(init)
    if drawn:
        config["drawn"] = drawn
    if freeze_norm:
        config["freeze_norm"] = True
    if train_from:  # checked and applied to the model above
        config["train_from"] = train_from
    history = fit(model, opt, (train_images, train_labels),
                  (val_images[val_idx], val_labels[val_idx]), epochs=epochs,
                  batch_size=batch_size, lr=lr, schedule=schedule,
                  augment=augment_settings(augment, elastic),
                  seed=seed, out_dir=out, resume=resume, config=config, command=command,
                  outliers=exposure, val_every=val_every)
    weights = out / f"{model_name}.npz"
    model.save(weights)
    last = history["epochs"][-1]
    first, *resumes = history["runs"] or [{"command": command}]
    record = {
        "model": model_name, "weights": weights.name, "environment": variables,
        "command": first["command"], "resumes": resumes, "schedule_segments": history["segments"],
        "num_params": int(model.num_params()), "epochs": epochs, "n_train": int(len(train_images)),
        "n_val": int(len(val_idx)), "val_accuracy": last.get("val_accuracy"),
        "val_loss": last.get("val_loss"), "train_seconds": history["train_seconds"],
        "wall_seconds": time.perf_counter() - wall0, "resumed": resume,  # wall: this command's
        "config": history["config"], "history": history["epochs"],
        "versions": env.versions(), "machine": env.machine(),
    }
    if init_record is not None:
        record["init_training"] = init_record  # the run that made the starting weights
    with atomic_open(out / "train.json", "w") as f:
        json.dump(record, f, indent=1)
    return record


def calibrate_weights(weights, method: str = "auto", refuse: float = 0.01, data_dir=None):
    """Calibrate the unknown answer of a saved model and write it into the file (atomically).

    The validation data is what its training held out: for a digits model the MNIST validation
    split recorded in train.json beside the weights (val_size, seed), for a shapes model the
    generated "val" split. Returns the model with `model.unknown` set.
    """
    from .model import load_model
    from .outliers import choose_and_calibrate, in_distribution

    weights = Path(weights)
    model = load_model(weights)
    reads = getattr(model, "reads", "digits")
    if reads == "digits":
        val_sets = digits_val_sets(weights, data_dir)
    else:
        images, _ = in_distribution(reads, "val", data_dir=data_dir)
        val_sets = {f"generated {reads} validation split ({len(images):,})": images}
    model.unknown = choose_and_calibrate(model, reads, val_sets, method, refuse, data_dir)
    model.save(weights)
    return model


def digits_val_sets(weights, data_dir=None) -> dict:
    """The held-out in-distribution sets a digits model is calibrated on: the MNIST validation
    split that train.json beside the weights records (val_size, seed), and drawn digits."""
    from .outliers import DRAWN_VAL_SEED, drawn_digits, in_distribution

    record_file = Path(weights).parent / "train.json"
    if not record_file.is_file():
        raise ValueError(f"--calibrate: no train.json beside {weights}: which MNIST images were "
                         "held out from training is unknown")
    record = json.loads(record_file.read_text())
    cfg = record.get("config", {})
    val = (int(cfg.get("val_size", record.get("n_val", 0)) or 0), int(cfg.get("seed", 0)))
    images, _ = in_distribution("digits", "val", val, data_dir)
    return {f"MNIST training images held out from training ({val[0]:,}, seed {val[1]})": images,
            f"drawn digits (1,000, seed {DRAWN_VAL_SEED})": drawn_digits(1000, DRAWN_VAL_SEED)[0]}


def why_text(result: dict) -> str:
    """The card's reasons for the method, read off the comparison rows and the chosen entry."""
    rows, u = result["comparison"], result["unknown_report"]["unknown"]
    best = {}
    for r in rows:
        if r["model"] not in best or r["outliers_unknown"] > best[r["model"]]["outliers_unknown"]:
            best[r["model"]] = r
    mine, *others = best.values()
    text = [f"Why this method: with the scores calibrated alike, this model answers "
            f"{100 * mine['outliers_unknown']:.1f}% of the held-out outliers unknown ({mine['method']})"]
    text += [f", {r['model']} {100 * r['outliers_unknown']:.1f}% ({r['method']})" for r in others]
    text.append(". ")
    if "chosen_by" in u:
        a = u["chosen_by"]["auroc_val_outliers"]
        text.append(f"Its score, {u['method']}, is the one with the larger AUROC against validation "
                    f"outliers ({', '.join(f'{m} {v:.4f}' for m, v in a.items())}), chosen before "
                    "any held-out set was looked at. ")
    text.append("An explicit \"other\" class was not trained: it would need an extra output the "
                "page and the API would have to hide again, and outlier exposure uses the same "
                "outlier drawings without one; it is not measured here.")
    return "".join(text)


def format_comparison(rows: list[dict]) -> str:
    """compare_methods' rows as a markdown table."""
    head = ("| model | score | test refused | drawn read right | held-out outliers unknown | "
            "Fashion-MNIST unknown | AUROC held-out | AUROC Fashion |\n|---|---|---|---|---|---|---|---|")
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    num = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    return head + "".join(
        f"\n| {r['model']} | {r['method']} | {100 * r['test_refused']:.2f}% | "
        f"{pct(r.get('drawn_read_right'))} | {pct(r['outliers_unknown'])} | "
        f"{pct(r['fashion_unknown'])} | {num(r['auroc_held_out'])} | {num(r['auroc_fashion'])} |"
        for r in rows)


def format_unknown_report(r: dict) -> str:
    """The unknown answer's measurements as plain text (the card's section and the CLI's)."""
    u = r["unknown"]
    by_source = u.get("refused_by_source") or {u["source"]: u["refused"]}
    lines = [f"unknown answer: {u['method']} score below {u['threshold']:.4g}, calibrated to refuse "
             f"at most {100 * u['refuse_target']:g}% of each held-out validation set:"]
    lines += [f"  {name}: {100 * share:.2f}% refused" for name, share in by_source.items()]
    if "chosen_by" in u:
        a = u["chosen_by"]["auroc_val_outliers"]
        lines.append(f"score chosen by AUROC against validation outliers ({u['chosen_by']['outliers']}): "
                     + ", ".join(f"{m} {v:.4f}" for m, v in a.items()))
    lines += [f"test images refused: {100 * r['test_refused']:.2f}% of {r['n_test']:,}; read right "
              f"and not refused: {100 * r['test_read_right']:.2f}%",
              f"held-out outliers answered unknown: {100 * r['outliers_unknown']:.1f}% of "
              f"{r['n_outliers']:,} ({r['outliers']})"]
    lines += [f"  {k}: {100 * v:.1f}%" for k, v in r["outliers_unknown_by_kind"].items()]
    if "drawn_digits" in r:
        d = r["drawn_digits"]
        lines.append(f"drawn digits (held out, {d['n']:,}): read right and not refused "
                     f"{100 * d['read_right']:.1f}% (accuracy {100 * d['accuracy']:.1f}%, refused "
                     f"{100 * d['refused']:.1f}%)")
    if r.get("fashion_n"):
        lines.append(f"Fashion-MNIST test images answered unknown: {100 * r['fashion_unknown']:.1f}% "
                     f"of {r['fashion_n']:,}")
    else:
        lines.append(f"Fashion-MNIST: not measured ({r.get('fashion_note')})")
    lines.append("AUROC (test images against outliers): score  held-out outliers  Fashion-MNIST")
    for m, a in r["auroc"].items():
        fashion = "n/a" if a["fashion"] is None else f"{a['fashion']:.4f}"
        lines.append(f"  {m:<6}  {a['held_out']:.4f}  {fashion}")
    return "\n".join(lines)


def batch1_forward_ms(model, repeats: int = 200) -> float:
    """Median wall time of one forward pass on a single image, after a warm-up call."""
    x = np.zeros((1, *model.input_shape), dtype=model.dtype)
    model.forward(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.forward(x)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def format_report(result: dict) -> str:
    """Test accuracy, per-class accuracy and the confusion matrix as plain-text tables."""
    confusion = np.array(result["confusion"])
    names = result.get("classes") or [str(k) for k in range(len(confusion))]
    wide = max(5, *map(len, names))
    lines = [f"test accuracy: {100 * result['accuracy']:.2f}% ({result['correct']}/{result['n']})"
             f"  loss {result['loss']:.4f}", "", f"{'class':>{wide}}  images  correct  accuracy"]
    for k, acc in enumerate(result["per_class_accuracy"]):
        lines.append(f"{names[k]:>{wide}}  {confusion[k].sum():>6}  {confusion[k, k]:>7}  "
                     f"{100 * acc:7.2f}%")
    # columns are numbered; with names longer than a digit, a key says which class is which
    key = [] if all(n == str(k) for k, n in enumerate(names)) else [
        "columns: " + ", ".join(f"{k} = {n}" for k, n in enumerate(names))]
    lines += ["", "confusion matrix (rows: true class, columns: predicted class)", *key,
              f"{'true':>{wide}} " + "".join(f"{k:>6}" for k in range(len(confusion)))]
    lines += [f"{names[k]:>{wide}} " + "".join(f"{v:>6}" for v in row)
              for k, row in enumerate(confusion)]
    return "\n".join(lines)


def write_model_card(weights, result: dict) -> dict:
    """metrics.json + MODEL_CARD.md beside the weights, from `result` and train.json there."""
    import hashlib

    weights = Path(weights)
    train_file = weights.parent / "train.json"
    record = json.loads(train_file.read_text()) if train_file.is_file() else {}
    metrics = {
        "weights": weights.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "test_accuracy": result["accuracy"], "test_correct": result["correct"],
        "test_n": result["n"], "test_loss": result["loss"],
        "per_class_accuracy": result["per_class_accuracy"], "confusion": result["confusion"],
        "classes": result.get("classes"), "reads": result.get("reads", "digits"),
        "batch1_forward_ms": result["batch1_forward_ms"], "num_params": result["num_params"],
        "environment": env.env_vars(),
        "training": record,
    }
    with atomic_open(weights.parent / "metrics.json", "w") as f:
        json.dump(metrics, f, indent=1)
    names = result.get("classes") or [str(k) for k in range(len(result["confusion"]))]
    per_class = " | ".join(f"{n} {100 * a:.2f}" for n, a in zip(names, result["per_class_accuracy"]))
    shapes = result.get("reads") == "shapes"
    what = "generated shape drawings (scratchcnn.shapes)" if shapes else "MNIST"
    hist = record.get("history", [])
    rows = "\n".join(
        f"| {e['epoch']} | {e['loss']:.4f} | {100 * e['accuracy']:.2f}% | "
        + (f"{e['val_loss']:.4f} | {100 * e['val_accuracy']:.2f}% " if "val_loss" in e else
           "- | - ")  # an epoch --val-every skipped
        + f"| {e['lr']:.2e} | {e['seconds']:.1f} | {e['augment_seconds']:.1f} | "
        f"{e['images_per_s']:.0f} |" for e in hist)
    train_text = "no train.json beside the weights: training details unknown.\n"
    recipe = record.get("recipe")
    recipe_text = ""
    if recipe:  # train --recipe: the one command, then each stage's own record below
        walls = recipe["stage_wall_seconds"]
        kept = (f" ({len(recipe['skipped'])} stage(s) kept from an earlier run of it)"
                if recipe["skipped"] else "")
        recipe_text = (
            f"Made from scratch by one command, the recipe `{recipe['name']}`:\n\n"
            f"```bash\n{recipe['command']}\n```\n\n"
            f"- It runs {len(recipe['stages'])} train commands in order; wall time "
            f"{sum(walls) / 60:.1f} min in all ({' + '.join(f'{w / 60:.1f}' for w in walls)} min, "
            f"each stage's own command from its train.json){kept}.\n\n"
            "The last stage:\n\n")
    if record:
        train_text = recipe_text + (
            f"Trained with\n\n```bash\n{record['command']}\n```\n\n"
            f"- {record['epochs']} epochs on {record['n_train']:,} {what} training images; "
            f"{record['n_val']:,} {'drawn apart' if shapes else 'held out'} for validation "
            "(the test set is used only here).\n"
            f"- Training time {record['train_seconds'] / 60:.1f} min (wall time of the whole "
            f"command {record['wall_seconds'] / 60:.1f} min) on {record['machine']['cpus']} CPU "
            f"cores ({record['machine']['platform']}).\n"
            f"- Final validation accuracy {100 * (record['val_accuracy'] or float('nan')):.2f}%.\n"
            f"- Settings: `{json.dumps(record['config'])}`.\n"
            f"- Versions: `{json.dumps(record['versions'])}`.\n\n"
            "Columns: training loss and accuracy (on augmented images), validation loss and "
            "accuracy, last learning rate, seconds for the epoch (validation included), seconds "
            "of it spent augmenting, training images per second.\n\n"
            "| epoch | loss | acc | val loss | val acc | lr | s | augment s | img/s |\n"
            "|---|---|---|---|---|---|---|---|---|\n" + rows + "\n")
        first = record.get("init_training")
        if first:  # train --init: the run that made the starting weights, from its train.json
            train_text += (
                "\nThat run started from weights made by\n\n"
                f"```bash\n{first['command']}\n```\n\n"
                f"- {first['epochs']} epochs on {first['n_train']:,} training images, training "
                f"time {first['train_seconds'] / 60:.1f} min (wall time of the whole command "
                f"{first['wall_seconds'] / 60:.1f} min), final validation accuracy "
                f"{100 * (first['val_accuracy'] or float('nan')):.2f}%.\n"
                f"- Settings: `{json.dumps(first['config'])}`.\n")
    card = (
        f"# Model card: {record.get('model', weights.stem)}\n\n"
        "Written by `scratchcnn evaluate --card`; every number below comes from "
        "`scratchcnn train` (train.json) and `scratchcnn evaluate` (metrics.json).\n\n"
        f"- Weights: `{weights.name}`, sha256 `{metrics['sha256']}`\n"
        f"- Parameters: {result['num_params']:,}; batch-1 forward {result['batch1_forward_ms']:.2f} "
        "ms (median of 200)\n"
        "- Input: float32 pixels in [0, 1], shape (N, 1, 28, 28), white ink on black (MNIST); "
        "normalisation happens inside the model.\n"
        f"- Reads: {result.get('reads', 'digits')}; classes: {', '.join(names)}\n"
        f"- **Test accuracy: {100 * result['accuracy']:.2f}%** ({result['correct']}/{result['n']}"
        f" {what} test images{', a seed no training drawing came from' if shapes else ''}), "
        f"test loss {result['loss']:.4f}\n"
        f"- Per-class test accuracy (%): {per_class}\n\n"
        f"## Architecture\n\n```\n{result['summary']}\n```\n\n## Training\n\n{train_text}\n"
        f"## Evaluation\n\n```\n{format_report(result)}\n```\n")
    if "unknown_report" in result:
        metrics["unknown"] = result["unknown_report"]
        card += ("\n## The unknown answer\n\n"
                 "A drawing whose unknown score falls below the threshold is answered \"unknown\" "
                 "(explain.py). Calibrated by `scratchcnn evaluate --calibrate`; measured on "
                 "held-out sets no training or calibration step saw (outliers.py).\n\n"
                 f"```\n{format_unknown_report(result['unknown_report'])}\n```\n")
        if result.get("comparison"):
            metrics["unknown_comparison"] = result["comparison"]
            card += ("\n### Choosing the method, by measurement\n\n"
                     "Each model and score below is calibrated the same way (at most "
                     f"{100 * result['unknown_report']['unknown']['refuse_target']:g}% refused of "
                     "each validation set) and measured on the same held-out sets "
                     "(`scratchcnn evaluate --card --compare OTHER.npz`):\n\n"
                     f"{format_comparison(result['comparison'])}\n\n{why_text(result)}\n")
        with atomic_open(weights.parent / "metrics.json", "w") as f:
            json.dump(metrics, f, indent=1)
    with atomic_open(weights.parent / "MODEL_CARD.md", "w") as f:
        f.write(card)
    return metrics
