"""scratchcnn.train: schedules, evaluation, checkpoints and resume, divergence, real-MNIST runs."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from scratchcnn import data, train
from scratchcnn.cli import main
from scratchcnn.layers import Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, Normalize, ReLU
from scratchcnn.model import Sequential, load_model
from scratchcnn.optim import SGD, Adam
from conftest import json_entry_edit
from test_data import mnist_dir_or_skip

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights" / "digits"
SHAPES_DIR = WEIGHTS_DIR.parent / "shapes"


def tiny_model(seed: int = 0) -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential([Normalize(), Conv2D(1, 2, 3, rng=rng), ReLU(), MaxPool2D(2), Flatten(),
                       Dense(2 * 13 * 13, 16, rng=rng), ReLU(), Dropout(0.3, seed=seed + 1),
                       Dense(16, 10, rng=rng)])


def toy_data(n: int = 80, seed: int = 0):
    """Digits-shaped toy task: class k is a bright bar at row 2k + 4, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 * k + 4 : 2 * k + 6, 6:22] = 255
    return images, labels


FIT = dict(epochs=2, batch_size=32, lr=3e-3, schedule="onecycle", seed=3,
           augment={"shift": 1.0, "rotate": 5.0, "scale": 0.05, "elastic": 2.0})


def test_lr_schedules_known_values():
    assert train.lr_at("onecycle", 1.0, 0, 100) == pytest.approx(1 / 25)
    assert train.lr_at("onecycle", 1.0, 25, 100) == pytest.approx(1.0)
    assert train.lr_at("onecycle", 1.0, 100, 100) == pytest.approx(1e-4)
    assert train.lr_at("cosine", 2.0, 50, 100) == pytest.approx(1.0)
    assert train.lr_at("constant", 0.5, 99, 100) == 0.5
    with pytest.raises(ValueError, match="schedule must be one of"):
        train.lr_at("step", 1.0, 0, 10)


def test_split_validation_is_disjoint_complete_and_seeded():
    tr, va = train.split_validation(100, 20, seed=1)
    assert len(va) == 20 and len(np.intersect1d(tr, va)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va])), np.arange(100))
    np.testing.assert_array_equal(train.split_validation(100, 20, seed=1)[1], va)
    assert not np.array_equal(train.split_validation(100, 20, seed=2)[1], va)
    with pytest.raises(ValueError, match=r"validation size must be in \[0, 100\)"):
        train.split_validation(100, 100, seed=0)


class TopLeftClass(Layer):
    """Predicts the class stored in the top-left pixel, to pin evaluate's bookkeeping."""

    def forward(self, x, training=False):
        predicted = np.rint(x[:, 0, 0, 0] * 255).astype(int)
        return np.eye(10, dtype=np.float32)[predicted] * 5


def test_evaluate_known_confusion_matrix():
    labels = np.array([0, 0, 1, 1, 2, 2], dtype=np.uint8)
    predicted = np.array([0, 1, 1, 1, 2, 0], dtype=np.uint8)
    images = np.zeros((6, 28, 28), np.uint8)
    images[:, 0, 0] = predicted
    result = train.evaluate(Sequential([TopLeftClass()]), images, labels, batch_size=4)
    confusion = np.array(result["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 6
    np.testing.assert_array_equal(confusion[:3, :3], [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    assert result["correct"] == 4 and result["accuracy"] == pytest.approx(4 / 6)
    np.testing.assert_allclose(result["per_class_accuracy"][:3], [0.5, 1.0, 0.5])
    assert "confusion matrix" in train.format_report(result)


def test_fit_learns_the_toy_task_and_logs_every_epoch(tmp_path):
    model = tiny_model()
    history = train.fit(model, Adam(model, 1e-2), toy_data(200), toy_data(50, seed=1),
                        epochs=5, batch_size=20, lr=1e-2, schedule="constant", out_dir=tmp_path)
    assert [e["epoch"] for e in history["epochs"]] == [1, 2, 3, 4, 5]
    assert history["epochs"][-1]["val_accuracy"] >= 0.9, history["epochs"][-1]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4, 5]


def test_val_every_validates_the_first_every_nth_and_the_last_epoch():
    model = tiny_model()
    history = train.fit(model, Adam(model, 1e-2), toy_data(100), toy_data(30, seed=1),
                        epochs=5, batch_size=20, lr=1e-2, schedule="constant", val_every=3)
    assert ["val_loss" in e for e in history["epochs"]] == [True, False, True, False, True]
    assert history["config"]["val_every"] == 3
    with pytest.raises(ValueError, match="val_every"):
        train.fit(model, Adam(model, 1e-2), toy_data(20), epochs=1, val_every=0)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("stop_after_step", [2, 4])  # at the epoch boundary; mid-epoch
def test_resume_after_interrupt_gives_bit_identical_weights(tmp_path, stop_after_step, sig):
    def run(out, on_step=None, resume=False):
        model = tiny_model()
        opt = Adam(model, FIT["lr"])
        history = train.fit(model, opt, toy_data(), toy_data(20, seed=1), out_dir=out,
                            on_step=on_step, resume=resume, **FIT)
        return model, opt, history

    reference, ref_opt, ref_history = run(tmp_path / "a")

    def interrupt(step):
        if step == stop_after_step:
            os.kill(os.getpid(), sig)  # the real Ctrl-C (or `timeout`, systemd stop) path

    with pytest.raises(train.TrainingInterrupted, match="checkpoint written") as info:
        run(tmp_path / "b", on_step=interrupt)
    assert info.value.signum == sig
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    resumed, opt, history = run(tmp_path / "b", resume=True)
    for (name, p, _), (_, q, _) in zip(resumed.parameters(), reference.parameters()):
        np.testing.assert_array_equal(p, q, err_msg=name)
    for key, value in ref_opt.state_dict().items():
        np.testing.assert_array_equal(opt.state_dict()[key], value, err_msg=key)
    assert resumed.rng_state() == reference.rng_state()
    drop = ("seconds", "images_per_s", "augment_seconds")  # timings differ between runs
    assert [{k: v for k, v in e.items() if k not in drop} for e in history["epochs"]] == \
        [{k: v for k, v in e.items() if k not in drop} for e in ref_history["epochs"]]
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 2


def _rewrite(path, change):
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    np.savez(path, **arrays)


def _meta(change):
    return json_entry_edit("meta", change)


def _flip(path, at: float):
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0x10
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "empty": (lambda p: p.write_bytes(b""), "not a complete checkpoint"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:-100]), "not a complete checkpoint"),
    "flipped bit in the data": (lambda p: _flip(p, 0.3), "damaged (bad CRC)"),
    "flipped bit near the end": (lambda p: _flip(p, 0.9), "damaged"),
    "meta missing": (lambda p: _rewrite(p, lambda a: a.pop("meta")), "no 'meta' entry"),
    "meta not JSON": (lambda p: _rewrite(p, lambda a: a.update(meta=np.array("{oops"))),
                      "meta entry is not JSON"),
    "meta a list": (lambda p: _rewrite(p, lambda a: a.update(meta=np.array("[1]"))),
                    "lacks or mistypes"),
    "meta without rng": (lambda p: _rewrite(p, _meta(lambda m: m.pop("rng"))), "['rng']"),
    "rng garbage": (lambda p: _rewrite(p, _meta(lambda m: m.update(rng={"x": 1}))), "RNG"),
    "epoch a string": (lambda p: _rewrite(p, _meta(lambda m: m.update(epoch="1"))), "['epoch']"),
    "perm missing": (lambda p: _rewrite(p, lambda a: a.pop("perm")), "no 'perm' entry"),
    "perm too short": (lambda p: _rewrite(p, lambda a: a.update(perm=np.arange(5))),
                       "not a permutation of the 80"),
    "batch past the epoch": (lambda p: _rewrite(p, _meta(lambda m: m.update(batch=99))),
                             "batch position 99 is past the epoch's 3 batches"),
    "epoch past the end": (lambda p: _rewrite(p, _meta(lambda m: m.update(epoch=7))),
                           "epoch 7, outside 0..2"),
    "model parameter missing": (lambda p: _rewrite(p, lambda a: a.pop("model/1.W")),
                                "missing ['1.W']"),
    "optimizer steps missing": (lambda p: _rewrite(p, lambda a: a.pop("optim/steps")), "steps"),
    "optimizer buffer misshapen": (lambda p: _rewrite(p, lambda a: a.update(
        {"optim/m.1.W": np.zeros(3, np.float32)})), "optimizer buffer m.1.W"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_a_corrupt_checkpoint_is_one_clear_error_naming_it(tmp_path, case):
    def run(on_step=None, resume=False):
        model = tiny_model()
        train.fit(model, Adam(model, FIT["lr"]), toy_data(), out_dir=tmp_path, on_step=on_step,
                  resume=resume, **FIT)

    def interrupt(step):
        if step == 1:  # mid-epoch 1: the checkpoint holds a permutation and a batch position
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(train.TrainingInterrupted):
        run(on_step=interrupt)
    corrupt, fragment = CORRUPTIONS[case]
    corrupt(tmp_path / train.CHECKPOINT)
    with pytest.raises(train.CheckpointError) as info:
        run(resume=True)
    message = str(info.value)
    assert str(tmp_path / train.CHECKPOINT) in message and fragment in message, message
    assert "Delete it to start over" in message and "\n" not in message


def test_orphan_temporary_files_of_killed_writes_are_removed_on_the_next_run(tmp_path):
    orphans = [tmp_path / ".checkpoint.npz.x1y2.tmp", tmp_path / ".metrics.jsonl.abcd.tmp"]
    for path in orphans:
        path.write_bytes(b"half of a write killed before its rename")
    other = tmp_path / "notes.tmp"  # not atomic_open's: left alone
    other.write_text("mine")
    model = tiny_model()
    train.fit(model, Adam(model, 1e-3), toy_data(), epochs=1, out_dir=tmp_path)
    assert not any(p.exists() for p in orphans) and other.exists()


def test_resume_refuses_a_checkpoint_from_other_settings(tmp_path):
    model = tiny_model()
    train.fit(model, Adam(model, 1e-3), toy_data(), epochs=1, out_dir=tmp_path)
    model = tiny_model()
    with pytest.raises(ValueError, match="other settings.*batch_size"):
        train.fit(model, Adam(model, 1e-3), toy_data(), epochs=1, batch_size=16,
                  out_dir=tmp_path, resume=True)


def test_nan_loss_stops_with_a_clear_message_and_writes_nothing(tmp_path):
    model = tiny_model()
    model.layers[-1].params["W"][0, 0] = np.nan
    with pytest.raises(train.TrainingDiverged, match="loss became nan at epoch 1, step 1"):
        train.fit(model, SGD(model, 0.1), toy_data(), epochs=2, out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_sigkill_at_any_moment_leaves_the_last_checkpoint_loadable(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_train import tiny_model, toy_data
        from scratchcnn import train
        from scratchcnn.optim import Adam
        model = tiny_model()
        train.fit(model, Adam(model, 1e-3), toy_data(64), epochs=10**6, batch_size=64,
                  out_dir={str(tmp_path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / train.CHECKPOINT).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:  # the writer replaces it many times a second meanwhile
            train.load_checkpoint(tmp_path / train.CHECKPOINT)
    finally:  # SIGKILL wherever the loop happens to be
        proc.kill()
        proc.wait()
    model_state, _, _, meta = train.load_checkpoint(tmp_path / train.CHECKPOINT)
    assert meta["epoch"] >= 1 and set(model_state) == {n for n, _, _ in tiny_model().parameters()}


@pytest.mark.mnist
def test_short_real_mnist_run_reaches_95_percent_on_the_test_set(tmp_path, capsys):
    folder = mnist_dir_or_skip()
    args = ["train", "--epochs", "1", "--train-limit", "12000", "--val-size", "1000",
            "--batch-size", "32", "--no-augment", "--data-dir", str(folder), "--out", str(tmp_path)]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["evaluate", "--weights", str(tmp_path / "mnist-small.npz"),
                 "--data-dir", str(folder), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 10000 and result["accuracy"] >= 0.95, result["accuracy"]
    record = json.loads((tmp_path / "train.json").read_text())
    assert record["n_train"] == 12000
    assert "scratchcnn train --epochs 1 --train-limit 12000" in record["command"]


@pytest.mark.mnist
def test_shipped_weights_reach_the_model_card_accuracy():
    metrics = json.loads((WEIGHTS_DIR / "metrics.json").read_text())
    model = load_model(WEIGHTS_DIR / metrics["weights"])
    images, labels = data.load_mnist("test", mnist_dir_or_skip())
    result = train.evaluate(model, images, labels)
    assert result["correct"] == metrics["test_correct"]
    assert f"{100 * result['accuracy']:.2f}%" in (WEIGHTS_DIR / "MODEL_CARD.md").read_text()
    assert metrics["test_accuracy"] >= 0.994


def test_shapes_training_run_writes_a_model_that_names_its_classes(tmp_path, capsys, monkeypatch):
    from scratchcnn import shapes

    monkeypatch.setattr(shapes, "cache_dir", lambda: tmp_path / "cache")
    args = ["train", "--model", "shapes-small", "--data", "shapes", "--epochs", "1",
            "--train-limit", "240", "--val-size", "48", "--batch-size", "32", "--out", str(tmp_path)]
    assert main(args) == 0
    model = load_model(tmp_path / "shapes-small.npz")
    assert model.classes == shapes.CLASSES and model.reads == "shapes"
    record = json.loads((tmp_path / "train.json").read_text())
    assert record["n_train"] == 240 and record["n_val"] == 48 and record["config"]["data"] == "shapes"
    capsys.readouterr()
    assert main(["evaluate", "--weights", str(tmp_path / "shapes-small.npz"), "--limit", "96",
                 "--json", "--card"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 96 and result["classes"] == list(shapes.CLASSES)
    assert len(result["confusion"]) == 12
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert "generated shape drawings" in card and "smiley face" in card


def test_training_a_digits_model_on_shapes_is_refused_in_one_line(capsys):
    assert main(["train", "--model", "mnist-small", "--data", "shapes", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "reads digits, not shapes" in err and "Traceback" not in err


def test_shipped_shapes_weights_reach_their_card_on_fresh_test_drawings():
    from scratchcnn import shapes

    metrics = json.loads((SHAPES_DIR / "metrics.json").read_text())
    model = load_model(SHAPES_DIR / metrics["weights"])
    assert model.classes == shapes.CLASSES and metrics["classes"] == list(shapes.CLASSES)
    # the first 600 drawings of the test split, drawn afresh (sample i comes from its own seed)
    images, labels = shapes.make_set(600, 1000 + shapes.SPLITS["test"])
    result = train.evaluate(model, images, labels)
    assert result["accuracy"] >= 0.95, result["accuracy"]
    assert f"{100 * metrics['test_accuracy']:.2f}%" in (SHAPES_DIR / "MODEL_CARD.md").read_text()


# ---- a trainer people can trust: divergence, resume for more epochs, what train.json records --


def test_at_chance_means_within_two_standard_errors_of_guessing_on_100_plus_images():
    assert train.at_chance(0.1, 5000, 10) and train.at_chance(0.108, 5000, 10)
    assert not train.at_chance(0.2, 5000, 10)
    assert not train.at_chance(0.1, 50, 10)  # too few images to tell


def test_a_loss_far_above_its_start_stops_the_run_without_writing(tmp_path):
    model = tiny_model()

    def blow_up(step):  # finite but huge logits from the next step on
        if step == 0:
            model.layers[-1].params["W"] *= 1e4

    with pytest.raises(train.TrainingDiverged, match=r"loss rose to .* over 5x its first value"):
        train.fit(model, SGD(model, 0.01), toy_data(), epochs=2, batch_size=16, out_dir=tmp_path,
                  on_step=blow_up)
    assert list(tmp_path.iterdir()) == []


def test_validation_accuracy_at_chance_after_an_epoch_stops_the_run(tmp_path):
    model = tiny_model()
    images, labels = toy_data(400, seed=1)
    shuffled = np.random.default_rng(0).permutation(labels)  # no model can beat chance on these
    with pytest.raises(train.TrainingDiverged, match=r"validation accuracy .* after epoch 1 is "
                       r"chance level \(1 in 10\)"):
        train.fit(model, Adam(model, 1e-2), toy_data(800), (images, shuffled), epochs=3,
                  batch_size=8, lr=1e-2, out_dir=tmp_path)  # 100 steps an epoch
    assert not (tmp_path / train.CHECKPOINT).exists()
    model = tiny_model()  # the same run validated on the true labels goes on
    train.fit(model, Adam(model, 1e-2), toy_data(800), (images, labels), epochs=1, batch_size=8,
              lr=1e-2)
    model = tiny_model()  # and a short smoke run is never judged (3 steps)
    train.fit(model, Adam(model, 1e-2), toy_data(), (images, shuffled), epochs=1, lr=1e-2)


EXTEND = dict(batch_size=32, lr=3e-3, schedule="onecycle", seed=3)


def test_a_finished_run_continues_for_more_epochs_with_a_new_schedule_segment(tmp_path):
    model = tiny_model()
    opt = Adam(model, 3e-3)
    first = train.fit(model, opt, toy_data(), toy_data(20, seed=1), epochs=1, out_dir=tmp_path,
                      command="first", **EXTEND)
    ckpt = (tmp_path / train.CHECKPOINT).read_bytes()
    model = tiny_model()
    opt = Adam(model, 3e-3)
    history = train.fit(model, opt, toy_data(), toy_data(20, seed=1), epochs=3, out_dir=tmp_path,
                        resume=True, command="second", **{**EXTEND, "lr": 1e-3})
    assert [e["epoch"] for e in history["epochs"]] == [1, 2, 3]
    assert history["epochs"][0] == first["epochs"][0]  # the finished epoch, kept as it was
    assert history["segments"] == [
        {"from_epoch": 0, "to_epoch": 1, "lr": 3e-3, "schedule": "onecycle"},
        {"from_epoch": 1, "to_epoch": 3, "lr": 1e-3, "schedule": "onecycle"}]
    steps = 3  # 80 images in batches of 32
    # the added epochs run the one-cycle schedule again over their own 6 steps, from 1e-3
    assert history["epochs"][1]["lr"] == pytest.approx(train.lr_at("onecycle", 1e-3, 2, 6))
    assert history["epochs"][2]["lr"] == pytest.approx(train.lr_at("onecycle", 1e-3, 5, 6))
    assert train.lr_in_segments(history["segments"], steps, steps) == pytest.approx(1e-3 / 25)
    assert [r["command"] for r in history["runs"]] == ["first", "second"]
    assert history["runs"][1]["from_epoch"] == 1 and history["runs"][1]["to_epoch"] == 3
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3
    # the same extension from the same checkpoint, interrupted mid-way, ends bit for bit alike
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / train.CHECKPOINT).write_bytes(ckpt)

    def interrupt(step):
        if step == 4:
            os.kill(os.getpid(), signal.SIGINT)

    again = tiny_model()
    with pytest.raises(train.TrainingInterrupted):
        train.fit(again, Adam(again, 1e-3), toy_data(), toy_data(20, seed=1), epochs=3,
                  out_dir=tmp_path / "b", on_step=interrupt, resume=True, **{**EXTEND, "lr": 1e-3})
    again = tiny_model()
    train.fit(again, Adam(again, 1e-3), toy_data(), toy_data(20, seed=1), epochs=3,
              out_dir=tmp_path / "b", resume=True, **{**EXTEND, "lr": 1e-3})
    for (name, p, _), (_, q, _) in zip(again.parameters(), model.parameters()):
        np.testing.assert_array_equal(p, q, err_msg=name)


def test_resume_for_fewer_epochs_or_other_settings_is_refused_naming_the_rule(tmp_path):
    model = tiny_model()
    train.fit(model, Adam(model, 3e-3), toy_data(), epochs=2, out_dir=tmp_path, **EXTEND)
    for changes in ({"epochs": 3, "batch_size": 16}, {"epochs": 1}):
        model = tiny_model()
        with pytest.raises(ValueError, match=r"other settings.*--resume --epochs N with N > 2"):
            train.fit(model, Adam(model, 3e-3), toy_data(), out_dir=tmp_path, resume=True,
                      **{**EXTEND, **changes})


@pytest.mark.mnist
def test_cli_train_that_explodes_exits_non_zero_and_saves_no_model(tmp_path, capsys):
    folder = mnist_dir_or_skip()
    args = ["train", "--lr", "100", "--epochs", "2", "--train-limit", "2000", "--val-size", "500",
            "--data-dir", str(folder), "--out", str(tmp_path)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "stopped without writing a model" in err
    assert "Traceback" not in err and not list(tmp_path.glob("*.npz")) or \
        [p.name for p in tmp_path.glob("*.npz")] == [train.CHECKPOINT]
    assert not (tmp_path / "mnist-small.npz").exists() and not (tmp_path / "train.json").exists()


@pytest.mark.mnist
def test_train_json_keeps_the_first_command_lists_resumes_and_says_what_augmentation_was_on(
        tmp_path, capsys):
    folder = mnist_dir_or_skip()
    base = ["train", "--model", "mnist-bn", "--optimizer", "sgd", "--lr", "0.05",
            "--train-limit", "1000", "--val-size", "500", "--batch-size", "50",
            "--data-dir", str(folder), "--out", str(tmp_path)]
    assert main(base + ["--epochs", "1"]) == 0
    assert main(base + ["--epochs", "2", "--resume"]) == 0
    capsys.readouterr()
    record = json.loads((tmp_path / "train.json").read_text())
    assert record["command"].endswith("--epochs 1") and "--resume" not in record["command"]
    assert [r["command"].endswith("--epochs 2 --resume") for r in record["resumes"]] == [True]
    assert record["epochs"] == 2 and len(record["history"]) == 2
    assert record["config"]["augment"] == {"shift": 2.0, "rotate": 10.0, "scale": 0.1,
                                           "elastic": 0.0, "sigma": 4.0}
    loaded = load_model(tmp_path / "mnist-bn.npz")
    assert any(name.endswith("running_var") for name, _ in loaded.buffers())
    assert main(base + ["--epochs", "1", "--no-augment", "--out", str(tmp_path / "plain")]) == 0
    assert json.loads((tmp_path / "plain" / "train.json").read_text())["config"]["augment"] is None


@pytest.mark.mnist
def test_a_recipe_runs_its_stages_in_order_and_resume_keeps_the_finished_ones(
        tmp_path, capsys, monkeypatch):
    """train --recipe runs each stage as its own train command (the second fine-tunes the
    first), notes the recipe in the last train.json and the card; --resume keeps what finished."""
    folder = mnist_dir_or_skip()
    small = "--optimizer sgd --train-limit 600 --val-size 200 --batch-size 50 --epochs 1"
    monkeypatch.setitem(train.RECIPES, "tiny", {"about": "a test", "stages": [
        f"--model mnist-bn --lr 0.05 {small} --out {{out}}/pretrain",
        f"--model mnist-bn --init {{out}}/pretrain/mnist-bn.npz --freeze-norm --lr 0.005 {small} "
        "--out {out}"]})
    base = ["train", "--recipe", "tiny", "--data-dir", str(folder), "--out", str(tmp_path)]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "stage 1/2" in out and "stage 2/2" in out and "2 stages" in out
    record = json.loads((tmp_path / "train.json").read_text())
    recipe = record["recipe"]
    assert recipe["command"] == f"scratchcnn {' '.join(base[:1] + base[1:])}"
    assert [s.split(" --out ")[1] for s in recipe["stages"]] == [f"{tmp_path}/pretrain",
                                                                 str(tmp_path)]
    assert record["command"].endswith(recipe["stages"][1]) and recipe["skipped"] == []
    assert record["init_training"]["command"].endswith(recipe["stages"][0])
    assert len(recipe["stage_wall_seconds"]) == 2 and all(w > 0 for w in recipe["stage_wall_seconds"])
    assert main(["evaluate", "--weights", str(tmp_path / "mnist-bn.npz"), "--limit", "200",
                 "--data-dir", str(folder), "--card"]) == 0
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert "Made from scratch by one command" in card and recipe["command"] in card

    weights = (tmp_path / "mnist-bn.npz").read_bytes()
    assert main(base + ["--resume"]) == 0  # both finished: kept, the weights untouched
    assert capsys.readouterr().out.count("finished before, kept") == 2
    assert (tmp_path / "mnist-bn.npz").read_bytes() == weights
    assert len(json.loads((tmp_path / "train.json").read_text())["recipe"]["skipped"]) == 2

    (tmp_path / "train.json").unlink()  # the last stage as if it never finished
    assert main(base + ["--resume"]) == 0
    out = capsys.readouterr().out
    assert "stage 1/2: finished before, kept" in out and "stage 2/2: scratchcnn train" in out
    assert (tmp_path / "mnist-bn.npz").read_bytes() == weights  # deterministic: the same run


def test_a_recipe_refuses_training_flags_in_one_line(capsys):
    assert main(["train", "--recipe", "digits", "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "drop --epochs" in err and len(err.strip().splitlines()) == 1



@pytest.mark.mnist
def test_train_from_fine_tunes_the_head_and_keeps_the_features(tmp_path, capsys):
    folder = mnist_dir_or_skip()
    small = ["--model", "mnist-bn", "--optimizer", "sgd", "--train-limit", "600", "--val-size",
             "200", "--batch-size", "50", "--epochs", "1", "--data-dir", str(folder)]
    assert main(["train", *small, "--lr", "0.05", "--out", str(tmp_path / "a")]) == 0
    start = tmp_path / "a" / "mnist-bn.npz"
    assert main(["train", *small, "--lr", "0.01", "--init", str(start), "--train-from", "13",
                 "--out", str(tmp_path / "b")]) == 0
    before, after = load_model(start).state_dict(), load_model(tmp_path / "b" / "mnist-bn.npz").state_dict()
    for name, value in before.items():  # weights and batch-norm statistics alike
        assert np.array_equal(after[name], value) == (int(name.split(".")[0]) < 13), name
    record = json.loads((tmp_path / "b" / "train.json").read_text())
    assert record["config"]["train_from"] == 13
    assert main(["train", *small, "--train-from", "19", "--out", str(tmp_path / "c")]) == 2
    assert "--train-from 19" in capsys.readouterr().err


def test_the_digits_recipe_makes_the_shipped_weights():
    """The shipped digits model names the recipe that made it, and the recipe's stages are
    train commands the CLI accepts, the last writing the served file."""
    from scratchcnn.cli import build_parser

    stages = train.recipe_stages("digits", "weights/digits")
    parsed = [build_parser().parse_args(["train", *stage]) for stage in stages]
    assert parsed[-1].out == "weights/digits" and parsed[-1].init == parsed[0].out + "/mnist-bn.npz"
    record = json.loads((WEIGHTS_DIR / "train.json").read_text())
    assert record["recipe"]["command"] == "scratchcnn train --recipe digits --out weights/digits"
    assert record["recipe"]["stages"] == ["scratchcnn train " + " ".join(s) for s in stages]
