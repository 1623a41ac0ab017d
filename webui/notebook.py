"""Render a committed notebook (.ipynb JSON) as one HTML page, for the about panel's links.

A small hand-written renderer, so the app needs no nbconvert and no CDN: markdown cells through a
markdown subset (headings, paragraphs, lists, tables, code, emphasis, links, the notebooks' own
<details> answers), TeX math through a symbol table (fractions, sums, sub- and superscripts),
code cells as code, and their stored outputs (text, PNG figures, errors) as stored. Nothing is
executed: the page shows the outputs committed in the repository.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

PASS_TAGS = ("details", "summary", "br", "sub", "sup", "b", "i", "em", "strong", "code", "kbd", "p")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_RULE = re.compile(r"^\s*\|[\s:|-]+\|\s*$")  # a table's |---|---| line
_TAG = re.compile(r"</?(%s)(\s[^<>]*)?/?>" % "|".join(PASS_TAGS), re.I)

# TeX commands the notebooks use, as Unicode
SYMBOLS = {
    "sum": "∑", "partial": "∂", "times": "×", "cdot": "·", "approx": "≈", "le": "≤", "leq": "≤",
    "ge": "≥", "geq": "≥", "ne": "≠", "neq": "≠", "in": "∈", "infty": "∞", "to": "→",
    "rightarrow": "→", "leftarrow": "←", "mapsto": "↦", "lfloor": "⌊", "rfloor": "⌋",
    "lceil": "⌈", "rceil": "⌉", "sqrt": "√", "alpha": "α", "beta": "β", "gamma": "γ",
    "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "eta": "η", "theta": "θ", "lambda": "λ",
    "mu": "μ", "sigma": "σ", "tau": "τ", "phi": "φ", "pi": "π", "rho": "ρ", "nabla": "∇",
    "Delta": "Δ", "Sigma": "Σ", "prod": "∏", "max": "max", "min": "min", "log": "log",
    "exp": "exp", "arg": "arg", "top": "ᵀ", "odot": "⊙", "langle": "⟨", "rangle": "⟩",
    "quad": "\u2003", "qquad": "\u2003\u2003", ",": "\u2009", ";": "\u2005", "!": "",
    "mathrel": "", "left": "", "right": "", "textstyle": "", "displaystyle": "", "{": "{",
    "}": "}", "|": "‖", "mid": "|", "pm": "±", "ldots": "…", "dots": "…", "cdots": "⋯",
    "sim": "∼", "propto": "∝", "forall": "∀", "star": "⋆", "ast": "∗",
}


def _group(tex: str, i: int) -> tuple[str, int]:
    """The argument at tex[i]: a {...} group (nested) or one character/command."""
    while i < len(tex) and tex[i] == " ":
        i += 1
    if i >= len(tex):
        return "", i
    if tex[i] == "{":
        depth, j = 1, i + 1
        while j < len(tex) and depth:
            depth += {"{": 1, "}": -1}.get(tex[j], 0)
            j += 1
        return tex[i + 1 : j - 1], j
    if tex[i] == "\\":
        m = re.match(r"\\([A-Za-z]+|.)", tex[i:])
        return m.group(0), i + len(m.group(0))
    return tex[i], i + 1


def tex_to_html(tex: str) -> str:
    """A TeX math subset as HTML: symbols, \\frac, \\sqrt, \\text, _ and ^ (as <sub>, <sup>)."""
    out, i = [], 0
    while i < len(tex):
        ch = tex[i]
        if ch == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", tex[i:])
            name, i = m.group(1), i + len(m.group(0))
            if name.isalpha():  # a space after a command name only ends the name
                while i < len(tex) and tex[i] == " ":
                    i += 1
            if name == "frac":
                num, i = _group(tex, i)
                den, i = _group(tex, i)
                out.append(f'<span class="frac"><span>{tex_to_html(num)}</span>'
                           f'<span>{tex_to_html(den)}</span></span>')
            elif name == "sqrt":
                arg, i = _group(tex, i)
                out.append(f'√<span class="radicand">{tex_to_html(arg)}</span>')
            elif name in ("text", "mathrm", "operatorname", "textrm", "mathbf", "boldsymbol"):
                arg, i = _group(tex, i)
                tag = "b" if name in ("mathbf", "boldsymbol") else "span"
                inner = html.escape(arg) if name.startswith("text") else tex_to_html(arg)
                out.append(f'<{tag} class="upright">{inner}</{tag}>')
            elif name in ("hat", "bar", "tilde"):
                arg, i = _group(tex, i)
                accent = {"hat": "\u0302", "bar": "\u0304", "tilde": "\u0303"}[name]
                out.append(tex_to_html(arg) + accent)
            elif name in SYMBOLS:
                sym = SYMBOLS[name]
                out.append(f'<span class="upright">{sym}</span>' if sym.isalpha() else html.escape(sym))
            else:
                out.append(html.escape("\\" + name))
        elif ch in "_^":
            arg, i = _group(tex, i + 1)
            tag = "sub" if ch == "_" else "sup"
            out.append(f"<{tag}>{tex_to_html(arg)}</{tag}>")
        elif ch in "{}":
            i += 1
        else:
            out.append(html.escape(ch))
            i += 1
    return "".join(out)


def _inline(text: str) -> str:
    """Escape and format one line of markdown: `code`, $math$, **bold**, *em*, [links](url)."""
    pieces, pos = [], 0
    # code spans and math first: their contents are not markdown
    for m in re.finditer(r"`([^`]+)`|\$([^$]+)\$", text):
        pieces.append(_emphasis(text[pos : m.start()]))
        if m.group(1) is not None:
            pieces.append(f"<code>{html.escape(m.group(1))}</code>")
        else:
            pieces.append(f'<span class="math">{tex_to_html(m.group(2))}</span>')
        pos = m.end()
    pieces.append(_emphasis(text[pos:]))
    return "".join(pieces)


def _emphasis(text: str) -> str:
    # the few inline tags the notebooks write (<br>, <sub>, <details>...) pass; the rest is escaped
    parts, pos = [], 0
    for m in _TAG.finditer(text):
        parts.append(html.escape(text[pos : m.start()], quote=False))
        parts.append(m.group(0))
        pos = m.end()
    parts.append(html.escape(text[pos:], quote=False))
    s = "".join(parts)
    s = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)",
               lambda m: f'<a href="{html.escape(m.group(2))}">{m.group(1)}</a>', s)
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    s = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", s)
    return s


def markdown_to_html(src: str) -> str:
    """The markdown subset the notebooks use, block by block."""
    lines, out, i = src.split("\n"), [], 0
    para: list[str] = []

    def flush():
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            code = "\n".join(lines[i + 1 : j])
            out.append(f'<pre class="code"><code>{html.escape(code)}</code></pre>')
            i = j + 1
        elif stripped.startswith("$$"):
            flush()
            body = stripped[2:]
            while not body.rstrip().endswith("$$") and i + 1 < len(lines):
                i += 1
                body += " " + lines[i].strip()
            out.append(f'<div class="math display">{tex_to_html(body.rstrip()[:-2])}</div>')
            i += 1
        elif m := re.match(r"(#{1,6})\s+(.*)", stripped):
            flush()
            level = len(m.group(1))
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
            i += 1
        elif re.match(r"^\s*([-*]|\d+\.)\s+", line):
            flush()
            ordered = bool(re.match(r"^\s*\d+\.", line))
            items: list[str] = []
            while i < len(lines) and lines[i].strip():
                m = re.match(r"^\s*([-*]|\d+\.)\s+(.*)", lines[i])
                if m:
                    items.append(m.group(2))
                elif items:
                    items[-1] += " " + lines[i].strip()  # a continuation line
                i += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>" + "".join(f"<li>{_inline(t)}</li>" for t in items) + f"</{tag}>")
        elif stripped.startswith("|") and i + 1 < len(lines) and _RULE.match(lines[i + 1]):
            flush()
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            head, body = rows[0], rows[2:]
            table = "<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>"
            table += "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
            out.append(f'<div class="scroll"><table>{table}</table></div>')
        elif re.match(r"^</?(details|summary)\b", stripped, re.I):
            flush()
            out.append(_inline(stripped))
            i += 1
        elif not stripped:
            flush()
            i += 1
        else:
            para.append(stripped)
            i += 1
    flush()
    return "\n".join(out)


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _output_html(o: dict) -> str:
    kind = o.get("output_type")
    if kind == "stream":
        text = _ANSI.sub("", _text(o.get("text", "")))
        text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))  # progress bars
        cls = "stderr" if o.get("name") == "stderr" else "stdout"
        return f'<pre class="output {cls}">{html.escape(text)}</pre>'
    if kind == "error":
        trace = _ANSI.sub("", "\n".join(o.get("traceback", [])))
        return f'<pre class="output error">{html.escape(trace)}</pre>'
    data = o.get("data", {})
    if "image/png" in data:
        png = _text(data["image/png"]).replace("\n", "")
        alt = html.escape(_text(data.get("text/plain", "figure")))
        return f'<img class="output" alt="{alt}" src="data:image/png;base64,{png}">'
    if "text/plain" in data:
        return f'<pre class="output result">{html.escape(_text(data["text/plain"]))}</pre>'
    return ""


def render_notebook(path: Path) -> str:
    """One self-contained HTML page: every cell in order, outputs as committed."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = []
    for cell in nb.get("cells", []):
        src = _text(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            cells.append(f'<section class="md">{markdown_to_html(src)}</section>')
        elif cell.get("cell_type") == "code":
            tags = cell.get("metadata", {}).get("tags", [])
            outputs = "".join(_output_html(o) for o in cell.get("outputs", []))
            label = " ".join(f'<span class="tag">{html.escape(t)}</span>' for t in tags)
            cells.append(f'<section class="code">{label}<pre class="source"><code>'
                         f'{html.escape(src)}</code></pre>{outputs}</section>')
    title = Path(path).stem.replace("_", " ")
    return PAGE.format(title=html.escape(title), name=html.escape(Path(path).name),
                       body="\n".join(cells))


def unavailable_page(name: str) -> str:
    """What the link shows where the notebooks are not installed (a wheel carries none)."""
    body = (f"<h1>Notebook {html.escape(name)} is not part of this installation</h1>"
            "<p>The notebooks live in the <code>notebooks/</code> folder of the scratchcnn source "
            "repository. Run <code>scratchcnn serve</code> from a checkout (or an editable install, "
            "<code>pip install -e .</code>) and this link shows them rendered, outputs included.</p>"
            '<p><a href="/">Back to the drawing page</a></p>')
    return PAGE.format(title="notebook not installed", name="", body=body)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · scratchcnn</title><link rel="icon" href="data:,">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 0 auto; padding: 0.75rem;
  line-height: 1.5; color: #1d1d1f; background: #f5f4f0; }}
nav {{ font-size: 0.9rem; margin-bottom: 0.5rem; }}
section {{ background: #fff; border-radius: 8px; padding: 0.2rem 1rem; margin: 0.6rem 0; }}
section.code {{ padding: 0.6rem 1rem; }}
pre {{ overflow-x: auto; font-size: 0.82rem; padding: 0.5rem; border-radius: 6px; margin: 0.3rem 0; }}
pre.source {{ background: #f1f3f5; }}
pre.output {{ background: #fff; border-left: 3px solid #adb5bd; }}
pre.stderr {{ color: #5f6368; }}
pre.error {{ border-left-color: #c92a2a; }}
pre.code {{ background: #f1f3f5; }}
img.output {{ max-width: 100%; height: auto; display: block; }}
.math {{ font-family: "Latin Modern Math", "STIX Two Math", "Cambria Math", serif; font-style: italic; }}
.math .upright {{ font-style: normal; }}
.math.display {{ text-align: center; margin: 0.6rem 0; overflow-x: auto; font-size: 1.1rem; }}
.frac {{ display: inline-flex; flex-direction: column; vertical-align: middle; text-align: center;
  font-size: 0.9em; }}
.frac > span:first-child {{ border-bottom: 1px solid; padding: 0 0.2em; }}
.radicand {{ border-top: 1px solid; }}
details {{ background: #fff4e6; border-radius: 6px; padding: 0.3rem 0.6rem; margin: 0.4rem 0; }}
summary {{ cursor: pointer; font-weight: bold; }}
.tag {{ font-size: 0.75rem; background: #e7f5ff; border-radius: 3px; padding: 0 0.3rem; }}
.scroll {{ overflow-x: auto; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #dee2e6; padding: 0.2rem 0.5rem; }}
</style></head>
<body>
<nav><a href="/">&larr; drawing page</a> · rendered from <code>notebooks/{name}</code> with its
committed outputs · <a href="/notebooks/{name}" download>download the .ipynb</a></nav>
{body}
</body></html>
"""
