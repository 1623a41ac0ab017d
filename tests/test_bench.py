"""`scratchcnn bench`: the quick mode runs end to end and reports every figure (timings are
machine-dependent, so nothing here asserts one)."""

import importlib.util
import json
import subprocess
import sys

from conftest import required
from scratchcnn import bench
from scratchcnn.bench import format_table


def test_bench_quick_json_reports_every_figure():
    proc = subprocess.run(
        [sys.executable, "-m", "scratchcnn", "bench", "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["quick"] is True and r["model"] == "convnet"
    has_torch = importlib.util.find_spec("torch") is not None
    assert has_torch or not required("TORCH"), "SCRATCHCNN_REQUIRE_TORCH=1 but torch is missing"
    names = {"scratchcnn", "pytorch"} if has_torch else {"scratchcnn"}

    system = r["system"]
    assert system["blas"] and "num_threads" in system["blas"][0]
    assert set(system["env"]) >= {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
    for N in ("64", "128"):
        assert set(r["training"][N]) == names
        for v in r["training"][N].values():
            assert v["images_per_s"]["median"] > 0 and v["epoch_s"] > 0
            assert v["images_per_s"]["min"] <= v["images_per_s"]["median"] <= v["images_per_s"]["max"]
    assert set(r["latency_b1_us"]) == names and set(r["inference_b1000"]) == names
    assert all(v["p90"] >= v["min"] > 0 for v in r["latency_b1_us"].values())

    epoch = r["trainer_epoch"]  # MNIST is fetched before the tests in CI; elsewhere it may be skipped
    assert not (required("MNIST") and "skipped" in epoch), epoch
    if "skipped" not in epoch:
        assert epoch["images"] == 2560 and epoch["batch"] == 128 and epoch["target"] == 1.3
        assert epoch["trainer_epoch_s"] > 0 and epoch["bare_steps_s"] > 0 and epoch["ratio"] > 0
        assert epoch["augment"] is not None and epoch["augment_s"] > 0
    else:
        assert "MNIST" in epoch["skipped"]

    assert all(L["forward_b1_us"] > 0 for L in r["layers_b128"])
    layers = [L["layer"] for L in r["layers_b128"]]
    assert len(layers) == 10 and layers[0].startswith("0 Conv2D(1->32")
    assert set(r["fast_vs_naive"]) == {"Conv2D(1->32, 3x3)", "MaxPool2D(2x2)"}
    assert all(v["ratio"] > 0 for v in r["fast_vs_naive"].values())
    memory = r["memory_b128"]
    assert "error" not in memory, memory
    assert memory["peak_rss_mib"] > 0 and memory["first_prediction_s"] > 0
    warm = r["warm_start"]  # the shipped model, loaded in a fresh process: it is in the checkout
    assert "error" not in warm, warm
    assert warm["first_prediction_s"] > 0 and warm["process_wall_s"] > 0
    if has_torch:
        assert set(r["ratios_vs_pytorch"]) == {
            "training_b64_throughput",
            "training_b128_throughput",
            "latency_b1",
            "inference_b1000_throughput",
        }
    else:
        assert "ratios_vs_pytorch" not in r

    table = format_table(r)  # the human-readable form renders the same result
    assert "training b128, images/s" in table and "fast vs naive" in table
    assert "trainer epoch (2,560 images" in table or "trainer epoch: skipped" in table
    assert "trainer epoch: skipped (no data)" in format_table({**r, "trainer_epoch": {"skipped": "no data"}})


def test_trainer_epoch_is_skipped_with_a_reason_without_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHCNN_DATA", str(tmp_path))  # an empty folder: no MNIST files
    r = bench.bench_trainer_epoch(quick=True)
    assert set(r) == {"skipped"} and "fetch-mnist" in r["skipped"]
