"""scratchcnn speedrun: the recipe trains, the command reports the whole process's wall time, the
bench's side-by-side table; the 99% target itself is a benchmark (README, Speed), not a test."""

import json

import numpy as np
import pytest

from scratchcnn import speedrun
from scratchcnn.bench import speedrun as bench_speedrun
from scratchcnn.cli import main
from scratchcnn.model import load_model
from test_data import mnist_dir_or_skip


def test_process_seconds_counts_from_the_process_start():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import time; time.sleep(0.5); "
                          "from scratchcnn.speedrun import process_seconds; print(process_seconds())"],
                         capture_output=True, text=True, check=True).stdout
    assert 0.5 <= float(out) < 30  # the sleep before the import is counted


def test_recipe_rejects_unknown_entries_and_bad_values():
    x, y = np.zeros((4, 1, 28, 28), np.float32), np.zeros(4, np.uint8)
    with pytest.raises(ValueError, match=r"unknown recipe entries \['epoch'\]"):
        speedrun.train(x, y, epoch=1)
    with pytest.raises(ValueError, match="threads 1 or 2"):
        speedrun.train(x, y, threads=3)


def test_a_short_speedrun_learns_and_both_thread_settings_give_a_model():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 256).astype(np.uint8)
    x = rng.random((256, 1, 28, 28), dtype=np.float32) * 0.2
    for i, k in enumerate(labels):  # class k: a bright bar at row 2k + 4
        x[i, 0, 2 * k + 4 : 2 * k + 6, 6:22] = 1.0
    for threads in (1, 2):
        model, seconds = speedrun.train(x, labels, seed=1, epochs=3, batch_size=32,
                                        threads=threads)
        assert seconds > 0 and speedrun.accuracy(model, x, labels) >= 0.9


@pytest.mark.mnist
def test_speedrun_command_prints_accuracy_and_wall_time_and_saves_the_model(tmp_path, capsys):
    folder = mnist_dir_or_skip()
    args = ["speedrun", "--train-limit", "3000", "--data-dir", str(folder), "--out", str(tmp_path)]
    assert main(args + ["--json", "--target", "0.5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_train"] == 3000 and result["test_accuracy"] > 0.8
    assert result["wall_seconds"] >= result["train_seconds"] + result["evaluate_seconds"]
    model = load_model(tmp_path / "speedrun.npz")
    assert any(name.endswith("running_mean") for name, _ in model.buffers())
    assert main(args + ["--target", "0.999"]) == 1  # 3,000 images cannot reach it
    out, err = capsys.readouterr()
    assert "test accuracy" in out and "s wall for the whole process" in out
    assert "below the target 99.90%" in err


def test_bench_speedrun_table_gives_the_ratio_of_median_walls():
    def row(seed, ours, theirs):
        return {"seed": seed, "load_before": 1.0, "load_after": 1.5,
                "ours": {"test_accuracy": 0.991, "process_wall_seconds": ours},
                "torch": {"test_accuracy": 0.990, "process_wall_seconds": theirs}}

    result = {"rows": [row(0, 8.0, 16.0), row(1, 10.0, 12.0), row(2, 9.0, 20.0)], "torch": True,
              "timeout": 600, "torch_recipe": {"epochs": 1.5, "batch_size": 128, "lr": 0.1,
                                               "threads": 2}}
    text = bench_speedrun.format_table(result)
    assert "scratchcnn 9.0 s, PyTorch 16.0 s -> ratio 0.56x" in text
    assert "0.50x" in text.splitlines()[1]  # seed 0: 8 / 16
    result["rows"][0]["torch"] = {"timed_out": True, "test_accuracy": None,
                                  "process_wall_seconds": 600}
    assert "timed out" in bench_speedrun.format_table(result).splitlines()[1]
