"""Execute the notebooks and compare fresh outputs with the committed ones (what is volatile is here).

A fresh run must give the committed outputs, cell by cell, except for what is volatile:
- a code cell tagged "volatile" (its metadata "tags"): only the kinds and number of its outputs are
  compared, not their content (notebook 01's timing table);
- in every other cell, durations and rates are masked before comparing: a number followed by a
  time unit (ms, us, s, min...) or a rate (img/s, images/s, it/s), and "ETA 0:12";
- stderr streams (progress bars, library warnings) are not compared;
- figures (PNG) must have the same size in pixels and differ by less than PNG_TOLERANCE in mean
  absolute pixel value (0..1), so a figure drawn from other numbers fails while the same figure
  rasterised a little differently passes;
- execution counts and metadata (timestamps) are ignored.

Exact only where the floating-point arithmetic is the same. Training results depend on the order
of float additions, which the BLAS kernel OpenBLAS picks for the CPU (Haswell, SkylakeX, ...)
and NumPy's SIMD level decide: notebook 03 run with OPENBLAS_CORETYPE=Sandybridge on the machine
that wrote it reads 93.38% where the committed run reads 93.42%. So `write` stamps the notebook
with `fingerprint()` (BLAS kernel, NumPy version, AVX-512 or not), and a machine with another
fingerprint compares loosely: the text around the numbers exactly, each number within
LOOSE_RTOL (numbers below 1e-3 on both sides, rounding-level errors, pass), figures by size only.

Refresh the committed outputs after changing a notebook or the code it runs (a few minutes):
    python tests/notebook_outputs.py notebooks/*.ipynb
"""

from __future__ import annotations

import base64
import io
import re
import sys
import tempfile
from pathlib import Path

VOLATILE_TAG = "volatile"
FINGERPRINT_KEY = "scratchcnn_outputs"  # notebook metadata: where the outputs were made
LOOSE_RTOL = 0.1
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
PNG_TOLERANCE = 0.01
_TIME = re.compile(
    r"\d[\d,]*(?:\.\d+)?\s?(?:ms|us|µs|ns|s|sec|min|h)\b"  # 0.26 ms, 56 s
    r"|\d[\d,]*(?:\.\d+)?\s?(?:img/s|images/s|it/s|s/it)"  # 1024 img/s
    r"|ETA \d+:\d+(?::\d+)?"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def mask(text: str) -> str:
    """The text with every duration and rate replaced by a placeholder; carriage-return
    progress lines reduced to what remains on screen."""
    text = _ANSI.sub("", text)
    text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
    return _TIME.sub("<time>", text)


def _png(data) -> "object":
    import matplotlib.image as mpimg

    raw = "".join(data) if isinstance(data, list) else data
    return mpimg.imread(io.BytesIO(base64.b64decode(raw)), format="png")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def outputs_of(cell) -> list[tuple]:
    """A cell's outputs as comparable records: (kind, masked text or PNG array)."""
    volatile = VOLATILE_TAG in cell.get("metadata", {}).get("tags", [])
    records = []
    for o in cell.get("outputs", []):
        kind = o["output_type"]
        if kind == "stream":
            if o.get("name") == "stderr":
                continue
            records.append(("stdout", None if volatile else mask(_text(o["text"]))))
        elif kind in ("execute_result", "display_data"):
            data = o.get("data", {})
            if "image/png" in data:
                records.append(("image/png", None if volatile else _png(data["image/png"])))
            else:
                records.append(("text", None if volatile else mask(_text(data.get("text/plain", "")))))
        elif kind == "error":
            records.append(("error", f"{o.get('ename')}: {o.get('evalue')}"))
    # consecutive stdout pieces are one stream, however the kernel happened to flush them
    merged: list[tuple] = []
    for r in records:
        if merged and r[0] == "stdout" == merged[-1][0] and r[1] is not None and merged[-1][1] is not None:
            merged[-1] = ("stdout", merged[-1][1] + r[1])
        else:
            merged.append(r)
    return merged


def fingerprint() -> dict:
    """What decides the rounding of this machine's results: BLAS kernel, NumPy, AVX-512."""
    import numpy as np
    from numpy._core._multiarray_umath import __cpu_features__
    from threadpoolctl import threadpool_info

    blas = sorted({f"{i['internal_api']} {i.get('architecture')}" for i in threadpool_info()
                   if i.get("user_api") == "blas" and "numpy" in i.get("filepath", "")})
    return {"blas": blas, "numpy": np.__version__, "avx512": bool(__cpu_features__.get("AVX512F"))}


def _numbers_close(a: str, b: str) -> bool:
    """The same text with each number within LOOSE_RTOL (tiny numbers on both sides pass)."""
    if _NUMBER.sub("#", a) != _NUMBER.sub("#", b):
        return False
    for x, y in zip(_NUMBER.findall(a), _NUMBER.findall(b)):
        x, y = float(x.replace(",", "")), float(y.replace(",", ""))
        if max(abs(x), abs(y)) >= 1e-3 and abs(x - y) > LOOSE_RTOL * max(abs(x), abs(y)):
            return False
    return True


def differences(committed, fresh, exact: bool = True) -> list[str]:
    """Where two executions of one notebook disagree beyond what is volatile (empty: none).
    exact=False: numbers within LOOSE_RTOL and figures by size only (another fingerprint)."""
    problems = []
    old = [c for c in committed.cells if c.cell_type == "code"]
    new = [c for c in fresh.cells if c.cell_type == "code"]
    if len(old) != len(new):
        return [f"{len(old)} code cells committed, {len(new)} run"]
    for k, (a, b) in enumerate(zip(old, new)):
        where = f"code cell {k + 1} ({_text(a.source).strip().splitlines()[0][:60]!r})"
        ra, rb = outputs_of(a), outputs_of(b)
        if [r[0] for r in ra] != [r[0] for r in rb]:
            problems.append(f"{where}: outputs {[r[0] for r in ra]} committed, {[r[0] for r in rb]} now")
            continue
        for (kind, x), (_, y) in zip(ra, rb):
            if x is None or y is None:
                continue
            if kind == "image/png":
                if x.shape != y.shape:
                    problems.append(f"{where}: a figure of {x.shape[:2]} px committed, {y.shape[:2]} now")
                elif exact and abs(x - y).mean() > PNG_TOLERANCE:
                    problems.append(f"{where}: a figure differs (mean pixel difference "
                                    f"{abs(x - y).mean():.3f} > {PNG_TOLERANCE})")
            elif x != y and (exact or not _numbers_close(x, y)):
                problems.append(f"{where}: committed\n{x}\nnow\n{y}")
    return problems


def execute(path: Path, cwd: str | None = None):
    """Run a notebook top to bottom in a fresh kernel; returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        client = NotebookClient(nb, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": cwd or tmp}})
        client.execute()
    return nb


def write(path: Path) -> None:
    """Execute and store the outputs in the notebook, without execution timestamps."""
    import nbformat

    from scratchcnn.fileio import atomic_open

    nb = execute(path)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata[FINGERPRINT_KEY] = fingerprint()
    with atomic_open(path, "w") as f:
        nbformat.write(nb, f)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"executing {arg} ...", flush=True)
        write(Path(arg))
