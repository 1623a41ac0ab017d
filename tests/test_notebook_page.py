"""GET /notebooks/<name>: each notebook rendered as HTML with its committed outputs (no nbconvert),
the raw .ipynb still downloadable, and a plain instruction where the notebooks are not installed."""

import json
from pathlib import Path

import pytest
from webtest import TestApp

from scratchcnn import build_model
from webui import app as app_module
from webui.notebook import markdown_to_html, render_notebook, tex_to_html

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def client():
    return TestApp(app_module.create_app(build_model("mnist-small", seed=0)))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_page_shows_every_cell_and_its_outputs(client, path):
    nb = json.loads(path.read_text())
    res = client.get(f"/notebooks/{path.stem}")
    assert res.status_code == 200 and res.content_type == "text/html"
    page = res.text
    figures = sum("image/png" in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []))
    assert page.count('<img class="output"') == figures
    assert page.count('<section class="code">') == sum(c["cell_type"] == "code" for c in nb["cells"])
    first_heading = "".join(nb["cells"][0]["source"]).splitlines()[0].lstrip("# ")
    assert first_heading.split(" ")[-1] in page
    assert "jupyter" not in page.lower()


def test_raw_notebook_is_still_downloadable(client):
    res = client.get(f"/notebooks/{NOTEBOOKS[0].name}")
    assert res.status_code == 200 and json.loads(res.body)["cells"]


def test_unknown_notebook_is_a_json_404(client):
    res = client.get("/notebooks/99_nothing", expect_errors=True)
    assert res.status_code == 404 and "error" in res.json


def test_without_the_notebooks_folder_the_link_explains_where_they_are(client, monkeypatch, tmp_path):
    monkeypatch.setattr(app_module, "NOTEBOOKS_ROOT", str(tmp_path / "absent"))
    res = client.get(f"/notebooks/{NOTEBOOKS[0].stem}", expect_errors=True)
    assert res.status_code == 404 and res.content_type == "text/html"
    assert "notebooks/</code> folder" in res.text and "scratchcnn serve" in res.text


def test_markdown_subset():
    out = markdown_to_html("# Title\n\nSome `x < y` and **bold**, *em*, [a link](https://example.org).\n\n"
                           "- one\n- two\n\n<details><summary>Answer</summary>\n\nhidden\n\n</details>")
    assert "<h1>Title</h1>" in out and "<code>x &lt; y</code>" in out
    assert "<strong>bold</strong>" in out and "<em>em</em>" in out
    assert '<a href="https://example.org">a link</a>' in out and "<ul><li>one</li><li>two</li></ul>" in out
    assert "<details><summary>Answer</summary>" in out and "</details>" in out
    assert "<script>" not in markdown_to_html("<script>alert(1)</script>")


def test_tex_subset():
    assert tex_to_html(r"\frac{\partial L}{\partial x_i}") == (
        '<span class="frac"><span>∂L</span><span>∂x<sub>i</sub></span></span>')
    assert tex_to_html("e^{z_k}") == "e<sup>z<sub>k</sub></sup>"


def test_render_notebook_is_deterministic():
    assert render_notebook(NOTEBOOKS[0]) == render_notebook(NOTEBOOKS[0])
