"""Every notebook in notebooks/ runs top to bottom without an error (a failing cell fails the test).

Each runs in a fresh kernel, in a temporary folder (anything it saves lands there), with
SCRATCHCNN_QUICK=1 so that training uses a subset and one epoch; the committed copies are never
rewritten. The notebooks read the real MNIST files: without them the tests skip, unless
SCRATCHCNN_REQUIRE_MNIST=1 (as in CI), where they fail.
"""

import os
from pathlib import Path

import pytest
from conftest import skip_unless_required

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))

pytestmark = [pytest.mark.notebook, pytest.mark.mnist]


def _require_mnist() -> None:
    from scratchcnn.data import load_mnist

    try:
        load_mnist("test")
    except FileNotFoundError as e:
        skip_unless_required("MNIST", str(e))


def test_each_notebook_states_what_the_learner_will_be_able_to_do():
    import nbformat

    assert NOTEBOOKS, "no notebooks found in notebooks/"
    for path in NOTEBOOKS:
        first = nbformat.read(path, as_version=4).cells[0]
        assert first.cell_type == "markdown" and "By the end you will be able to" in first.source, path


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    _require_mnist()
    monkeypatch.setenv("SCRATCHCNN_QUICK", os.environ.get("SCRATCHCNN_QUICK", "1"))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on the first failing cell
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors, errors
