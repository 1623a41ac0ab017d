"""The notebooks: each runs top to bottom and gives its committed outputs; their exercises work.

Each notebook runs in a fresh kernel, in a temporary folder (anything it saves lands there); the
committed copies are never rewritten. A fresh run must reproduce the committed outputs except for
what tests/notebook_outputs.py defines as volatile (cells tagged "volatile", durations and rates,
stderr). The notebooks read the real MNIST files: without them these tests skip, unless
SCRATCHCNN_REQUIRE_MNIST=1 (as in CI), where they fail.

The exercises: every cell tagged "exercise" is followed by a "check" cell and an answer folded in
<details>. The answer must PASS its check, and the blank exercise as committed must not.
"""

import copy
import re
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pytest
from conftest import skip_unless_required

import notebook_outputs
from scratchcnn import exercises

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def _require_mnist() -> None:
    from scratchcnn.data import load_mnist

    try:
        load_mnist("test")
    except FileNotFoundError as e:
        skip_unless_required("MNIST", str(e))


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _exercises(nb):
    """(exercise source, check source, answer source) for each exercise cell."""
    cells = nb.cells
    found = []
    for i, cell in enumerate(cells):
        if "exercise" in _tags(cell):
            check, answer = cells[i + 1], cells[i + 2]
            assert "check" in _tags(check), f"the cell after exercise {i} is not tagged 'check'"
            m = re.search(r"<details>.*?```python\n(.*?)```", answer.source, re.S)
            assert answer.cell_type == "markdown" and m, f"no folded answer after exercise {i}"
            found.append((cell.source, check.source, m.group(1)))
    return found


def test_each_notebook_states_what_the_learner_will_be_able_to_do():
    assert NOTEBOOKS, "no notebooks found in notebooks/"
    for path in NOTEBOOKS:
        first = nbformat.read(path, as_version=4).cells[0]
        assert first.cell_type == "markdown" and "By the end you will be able to" in first.source, path


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercise_answers_pass_their_checks_and_blank_exercises_do_not(path):
    found = _exercises(nbformat.read(path, as_version=4))
    assert len(found) >= 2, f"{path.name}: expected exercises"
    for stub, check, answer in found:
        call = check.strip()
        assert re.fullmatch(r"exercises\.check_\w+\(\w+\)", call), call
        for source, should_pass in ((answer, True), (stub, False)):
            scope = {"np": np, "exercises": exercises}
            exec(source, scope)  # noqa: S102 - the notebook's own code
            result = eval(call, scope)  # noqa: S307
            assert bool(result) is should_pass, f"{path.name}: {call} with the {'answer' if should_pass else 'blank'}: {result!r}"


@pytest.mark.notebook
@pytest.mark.mnist
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_outputs_are_current(path):
    """A fresh run gives the committed outputs (see tests/notebook_outputs.py for what is volatile).
    On failure, refresh them with `python tests/notebook_outputs.py notebooks/<name>.ipynb`."""
    _require_mnist()
    committed = nbformat.read(path, as_version=4)
    fresh = notebook_outputs.execute(path)  # raises CellExecutionError on a failing cell
    errors = [o for c in fresh.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    made_on = committed.metadata.get(notebook_outputs.FINGERPRINT_KEY)
    exact = made_on == notebook_outputs.fingerprint()
    if not exact:
        warnings.warn(f"{path.name}: outputs made on {made_on}, this machine is "
                      f"{notebook_outputs.fingerprint()}: numbers compared within "
                      f"{notebook_outputs.LOOSE_RTOL:.0%}, figures by size")
    problems = notebook_outputs.differences(committed, fresh, exact)
    assert not problems, (f"{path.name}: the committed outputs are not what the code gives now "
                          f"(refresh: python tests/notebook_outputs.py {path.relative_to(path.parents[1])}):\n"
                          + "\n".join(problems[:5]))


def _stream_nb(text: str, tags=()):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(...)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    if tags:
        cell.metadata["tags"] = list(tags)
    nb.cells = [cell]
    return nb


def test_comparison_masks_timings_but_not_results():
    base = _stream_nb("test accuracy 98.29% (171 wrong), trained in 56 s, 1024 img/s, 0.26 ms\n")
    slower = _stream_nb("test accuracy 98.29% (171 wrong), trained in 71 s, 864 img/s, 0.31 ms\n")
    other = _stream_nb("test accuracy 98.36% (164 wrong), trained in 56 s, 1024 img/s, 0.26 ms\n")
    assert notebook_outputs.differences(base, slower) == []
    assert notebook_outputs.differences(base, other)


def test_comparison_on_another_machine_allows_rounding_but_not_other_results():
    base = _stream_nb("test accuracy 93.42% (4,671 of 5,000), loss 0.2271, rel err 1.5e-10\n")
    rounding = _stream_nb("test accuracy 93.38% (4,669 of 5,000), loss 0.2295, rel err 1.6e-10\n")
    other = _stream_nb("test accuracy 98.36% (4,918 of 5,000), loss 0.0500, rel err 1.6e-10\n")
    reworded = _stream_nb("val accuracy 93.42% (4,671 of 5,000), loss 0.2271, rel err 1.5e-10\n")
    assert notebook_outputs.differences(base, rounding)  # exact on the machine that wrote them
    assert notebook_outputs.differences(base, rounding, exact=False) == []
    assert notebook_outputs.differences(base, other, exact=False)
    assert notebook_outputs.differences(base, reworded, exact=False)


def test_comparison_ignores_the_content_of_volatile_cells_only():
    a = _stream_nb("loops 1037.91 ms 1x, numba 4063x\n", tags=["volatile"])
    b = _stream_nb("loops 12254.29 ms 1x, numba 50186x\n", tags=["volatile"])
    assert notebook_outputs.differences(a, b) == []
    assert notebook_outputs.differences(_stream_nb("4063x\n"), _stream_nb("50186x\n"))
    c = copy.deepcopy(b)
    c.cells[0].outputs = []  # a volatile cell must still give the same kinds of output
    assert notebook_outputs.differences(a, c)


def test_comparison_sees_a_changed_figure():
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def figure_nb(values):
        fig = plt.figure(figsize=(2, 2))
        plt.plot(values)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("plot")
        cell.outputs = [nbformat.v4.new_output(
            "display_data", data={"image/png": base64.b64encode(buf.getvalue()).decode(),
                                  "text/plain": "<Figure>"})]
        nb.cells = [cell]
        return nb

    assert notebook_outputs.differences(figure_nb([1, 2, 3]), figure_nb([1, 2, 3])) == []
    assert notebook_outputs.differences(figure_nb([1, 2, 3]), figure_nb([3, 1, 2]))
