// scratchcnn page: the layer-by-layer teaching views. Plain JavaScript, no build step.
// - the layer table: every layer numbered as the model numbers it, its output shape, ReLU notes;
// - the feature maps of each convolution and pooling layer, one tile per map, each tile scaled
//   to its own largest |value| so weak maps still show their structure;
// - click a tile: the map enlarged (exact values from POST /api/inspect) and the filter that made
//   it, drawn as weights; click a pixel of it: the input window, the kernel, their products and
//   the sum, as computed by the library (scratchcnn.layerview); for pooling, the window and winner;
// - the dense layers' outputs and the logits.
// app.js calls LayerView.update(answer) after each prediction and LayerView.stale() when the
// server does not answer; it provides window.scratchcnnDrawing() (the current drawing's payload).
"use strict";

window.LayerView = (function () {
  const $ = (id) => document.getElementById(id);
  const mapsEl = $("maps"), detailEl = $("layer-detail"), tableEl = $("layer-table");
  const vectorsEl = $("vectors");
  let layers = []; // rows of GET /api/model's "layers"
  let selected = null; // {layer, channel, row, col}
  let inspectSeq = 0;
  let lastAnswer = null;
  let scrollWanted = false;
  let refreshTimer = null;
  const beforeRelu = $("before-relu"); // unchecked: convolutions drawn after their ReLU, as passed on

  // ------------------------------------------------------------ colours

  // Signed values (a convolution before its ReLU): orange above zero, blue below, black at zero.
  // Non-negative values (after ReLU / pooling): black, through orange, to pale yellow.
  function rgb(v, signed) {
    if (signed) {
      const a = Math.min(1, Math.abs(v));
      return v >= 0 ? [255 * a, 140 * a, 0] : [40 * a, 120 * a, 255 * a];
    }
    const t = Math.max(0, Math.min(1, v));
    return t < 0.6 ? [255 * t / 0.6, 140 * t / 0.6, 0] : [255, 140 + 115 * (t - 0.6) / 0.4, 200 * (t - 0.6) / 0.4];
  }
  const css = (c) => "rgb(" + c.map(Math.round).join(",") + ")";

  // values: flat array of h*w numbers; scale: the |value| drawn at full colour
  function paint(canvas, values, h, w, scale, signed) {
    canvas.width = w;
    canvas.height = h;
    const c = canvas.getContext("2d");
    const img = c.createImageData(w, h);
    for (let k = 0; k < h * w; k++) {
      const col = rgb(scale > 0 ? values[k] / scale : 0, signed);
      img.data[4 * k] = col[0];
      img.data[4 * k + 1] = col[1];
      img.data[4 * k + 2] = col[2];
      img.data[4 * k + 3] = 255;
    }
    c.putImageData(img, 0, 0);
  }

  function maxAbs(values) {
    let m = 0;
    for (const v of values) m = Math.max(m, Math.abs(v));
    return m;
  }

  function decode(b64) {
    const bin = atob(b64), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  const fmt = (v, d) => (Math.abs(v) < 0.5 * Math.pow(10, -d) ? 0 : v).toFixed(d);

  // ------------------------------------------------------------ the layer table

  async function loadLayers() {
    try {
      const model = window.scratchcnnPage ? window.scratchcnnPage.model : "digits";
      const res = await fetch("/api/model?model=" + model);
      layers = (await res.json()).layers || [];
    } catch (err) {
      layers = [];
    }
    for (const l of layers) if (l.index === undefined) l.index = Number(String(l.name).split(":")[0]);
    tableEl.innerHTML = "<thead><tr><th>#</th><th>layer</th><th>output</th><th>note</th></tr></thead>";
    const body = document.createElement("tbody");
    for (const l of layers) {
      const tr = document.createElement("tr");
      tr.dataset.layer = l.index !== undefined ? l.index : l.name.split(":")[0];
      const shape = (l.output_shape || []).join("\u00d7");
      tr.innerHTML = "<td>" + tr.dataset.layer + "</td><td>" + (l.label || l.type) + "</td><td>" + shape +
        "</td><td>" + note(l) + "</td>";
      body.appendChild(tr);
    }
    tableEl.appendChild(body);
  }

  function note(l) {
    if (l.relu_after) return "then ReLU";
    if (l.type === "Dense") return l === layers[layers.length - 1] ? "the logits" : "";
    return { ReLU: "negatives \u2192 0", Flatten: "\u2192 one vector", Dropout: "training only" }[l.type] || "";
  }

  const row = (i) => layers.find((l) => String(l.index) === String(i)) || {};

  // ------------------------------------------------------------ the maps

  function update(data) {
    lastAnswer = data;
    document.body.classList.remove("stale-maps");
    drawMaps(data.maps || []);
    drawVectors(data.vectors || []);
    // the open detail view follows the drawing, once the strokes pause
    clearTimeout(refreshTimer);
    if (selected && data.label !== null) {
      refreshTimer = setTimeout(() => { if (selected) inspect(selected.layer, selected.channel, selected.row, selected.col); }, 250);
    }
    if (data.label === null) closeDetail();
  }

  function drawMaps(maps) {
    const seen = new Set();
    for (const m of maps) {
      seen.add(m.name);
      const index = Number(m.name.split(":")[0]);
      const info = row(index);
      const [C, h, w] = m.shape;
      let box = mapsEl.querySelector('[data-layer="' + m.name + '"]');
      if (!box) {
        box = document.createElement("div");
        box.className = "layer-block";
        box.dataset.layer = m.name;
        box.innerHTML = "<h3></h3><p class='layer-note'></p><div class='tiles'></div>";
        mapsEl.appendChild(box);
      }
      const relu = !!info.relu_after && !beforeRelu.checked; // draw max(v, 0), what the ReLU passes on
      const signed = m.min < 0 && !relu;
      box.querySelector("h3").innerHTML = index + " " + (info.label || m.name.split(":")[1]) +
        " <span>\u2192 " + C + " maps of " + h + "\u00d7" + w + "</span>";
      box.querySelector(".layer-note").textContent = info.relu_after
        ? (relu ? "Shown after the ReLU of layer " + (index + 1) + ", as the next layer reads them (negative values are 0)."
          : "Before the ReLU of layer " + (index + 1) + ": it keeps the orange and sets the blue to 0.")
        : info.type === "MaxPool2D" ? "The largest value of each window of the layer before." : "";
      const next = row(index + 1);
      if (info.type === "Conv2D" && next && next.type === "BatchNorm2D") box.querySelector(".layer-note").textContent =
        "The convolution's output, before the batch norm of layer " + (index + 1) + ": orange above zero, blue below.";
      if (info.type === "BatchNorm2D") box.querySelector(".layer-note").textContent =
        "Each map of layer " + (index - 1) + " normalised with its channel's mean and variance, then scaled and shifted; " +
        box.querySelector(".layer-note").textContent.charAt(0).toLowerCase() + box.querySelector(".layer-note").textContent.slice(1);
      const tiles = box.querySelector(".tiles");
      tiles.classList.toggle("small", C > 40);
      while (tiles.children.length < C) {
        const cv = document.createElement("canvas");
        cv.dataset.testid = "map-tile";
        cv.setAttribute("data-testid", "map-tile");
        cv.dataset.layer = String(index);
        cv.dataset.channel = String(tiles.children.length);
        cv.tabIndex = 0;
        cv.setAttribute("role", "button");
        cv.addEventListener("click", () => inspect(index, Number(cv.dataset.channel)));
        cv.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); inspect(index, Number(cv.dataset.channel)); }
        });
        tiles.appendChild(cv);
      }
      while (tiles.children.length > C) tiles.lastChild.remove();
      const q = decode(m.data), span = (m.max - m.min) / 255;
      for (let ch = 0; ch < C; ch++) {
        const values = new Float32Array(h * w);
        for (let k = 0; k < h * w; k++) {
          const v = m.min + span * q[ch * h * w + k];
          values[k] = relu ? Math.max(0, v) : v;
        }
        const top = maxAbs(values);
        const cv = tiles.children[ch];
        paint(cv, values, h, w, top, signed);
        cv.classList.toggle("dead", top < 1e-6);
        cv.classList.toggle("selected", !!selected && selected.layer === index && selected.channel === ch);
        cv.setAttribute("aria-label", "layer " + index + " map " + ch + (top < 1e-6 ? ": all zero" : "") + ", click to enlarge");
        cv.title = "map " + ch + (top < 1e-6 ? " (all zero)" : ", largest |value| " + top.toFixed(2));
      }
    }
    for (const box of [...mapsEl.children]) if (!seen.has(box.dataset.layer)) box.remove();
  }

  function drawVectors(vectors) {
    vectorsEl.innerHTML = "";
    vectors.forEach((v, n) => {
      const index = Number(v.name.split(":")[0]);
      const info = row(index);
      const box = document.createElement("div");
      box.className = "layer-block";
      const last = n === vectors.length - 1; // the last Dense layer's outputs are the logits
      const next = row(index + 1);
      const note = v.relu_after ? "One cell per unit, before the ReLU of layer " + (index + 1) + " (blue cells become 0)."
        : next.type === "BatchNorm1D" ? "One cell per unit, before the batch norm of layer " + (index + 1) + " (orange above zero, blue below)."
        : "One cell per unit (orange above zero, blue below).";
      box.innerHTML = "<h3>" + index + " " + (info.label || "Dense") + " <span>\u2192 " + v.values.length +
        (last ? " scores (the logits)" : " numbers") + "</span></h3><p class='layer-note'>" +
        (last ? "Softmax turns these scores into the probabilities above: p = exp(score) / sum of exp(scores)."
          : note) + "</p>";
      const scale = maxAbs(v.values) || 1;
      if (last) {
        const list = document.createElement("ol");
        const names = window.scratchcnnPage ? window.scratchcnnPage.classes : [];
        // class names longer than a digit ("smiley face") get the wide label column, as the bars do
        list.className = names.some((c) => String(c).length > 1) ? "logits named" : "logits";
        list.start = 0;
        v.values.forEach((s, k) => {
          const li = document.createElement("li");
          const width = (50 * Math.abs(s) / scale).toFixed(1);
          li.innerHTML = "<span class='label'>" + (names[k] === undefined ? k : names[k]) +
            "</span><span class='track'><span class='fill " +
            (s >= 0 ? "pos" : "neg") + "' style='width:" + width + "%;" + (s >= 0 ? "left:50%" : "right:50%") +
            "'></span></span><span class='num'>" + fmt(s, 2) + "</span>";
          list.appendChild(li);
        });
        box.appendChild(list);
      } else {
        const strip = document.createElement("div");
        strip.className = "units";
        for (const s of v.values) {
          const cell = document.createElement("span");
          cell.style.background = css(rgb(s / scale, true));
          cell.title = fmt(s, 3);
          strip.appendChild(cell);
        }
        box.appendChild(strip);
      }
      vectorsEl.appendChild(box);
    });
  }

  // ------------------------------------------------------------ the detail view

  async function inspect(layer, channel, r, c) {
    const payload = window.scratchcnnDrawing && window.scratchcnnDrawing();
    if (!payload) return;
    const changed = !selected || selected.layer !== layer || selected.channel !== channel;
    selected = { layer: layer, channel: channel, row: r, col: c };
    for (const t of mapsEl.querySelectorAll("canvas.selected")) t.classList.remove("selected");
    const tile = mapsEl.querySelector('canvas[data-layer="' + layer + '"][data-channel="' + channel + '"]');
    if (tile) tile.classList.add("selected");
    // on a narrow screen the enlarged view opens under the clicked map's layer, not after them all
    const narrow = window.matchMedia("(max-width: 52rem)").matches;
    const home = mapsEl.parentElement;
    if (narrow && tile) tile.closest(".layer-block").after(detailEl);
    else if (!narrow && detailEl.parentElement !== home) home.appendChild(detailEl);
    if (changed) scrollWanted = true;
    const mine = ++inspectSeq;
    detailEl.dataset.busy = "1";
    const body = Object.assign({}, payload, { layer: layer, channel: channel });
    if (r !== undefined && r !== null) Object.assign(body, { row: r, col: c });
    try {
      const model = window.scratchcnnPage ? window.scratchcnnPage.model : "digits";
      const res = await fetch("/api/inspect?model=" + model, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const data = await res.json();
      if (!res.ok) throw new Error(data.error || res.statusText);
      if (mine === inspectSeq) showDetail(data);
    } catch (err) {
      if (mine === inspectSeq) {
        detailEl.hidden = false;
        detailEl.classList.add("stale");
        detailEl.querySelector(".detail-status").textContent = "No answer from the server (" + err.message +
          "): the numbers below are for an earlier drawing.";
      }
    } finally {
      if (mine === inspectSeq) detailEl.dataset.busy = "0";
    }
  }

  function closeDetail() {
    selected = null;
    detailEl.hidden = true;
    for (const t of mapsEl.querySelectorAll("canvas.selected")) t.classList.remove("selected");
  }

  function grid(values, cls, scale, signed, mark) {
    // one KH x KW table of numbers, each cell coloured by its value
    const t = document.createElement("table");
    t.className = "numbers " + cls;
    t.setAttribute("data-testid", cls);
    values.forEach((line, i) => {
      const tr = document.createElement("tr");
      line.forEach((v, j) => {
        const td = document.createElement("td");
        td.textContent = fmt(v, 2);
        td.dataset.value = String(v);
        const col = rgb(scale > 0 ? v / scale : 0, signed);
        td.style.background = css(col);
        td.style.color = col[0] + col[1] + col[2] > 330 ? "#000" : "#fff";
        if (mark && mark[0] === i && mark[1] === j) td.classList.add("winner");
        tr.appendChild(td);
      });
      t.appendChild(tr);
    });
    return t;
  }

  function figure(caption, el) {
    const f = document.createElement("figure");
    f.appendChild(el);
    const cap = document.createElement("figcaption");
    cap.innerHTML = caption;
    f.appendChild(cap);
    return f;
  }

  function colourBar(lo, hi, signed) {
    const bar = document.createElement("div");
    bar.className = "colour-bar";
    const stops = [];
    for (let k = 0; k <= 10; k++) stops.push(css(rgb(signed ? -1 + k / 5 : k / 10, signed)));
    bar.innerHTML = "<span class='ramp' style='background:linear-gradient(to right," + stops.join(",") +
      ")'></span><span class='ends'><span>" + (signed ? fmt(-hi, 2) : "0") + "</span><span>" +
      (signed ? "0" : "") + "</span><span>" + fmt(hi, 2) + "</span></span>";
    return bar;
  }

  function showDetail(d) {
    detailEl.hidden = false;
    detailEl.classList.remove("stale");
    const info = row(d.layer);
    const [h, w] = [d.map.length, d.map[0].length];
    const relu = !!info.relu_after && !beforeRelu.checked;
    const flat = d.map.flat().map((v) => (relu ? Math.max(0, v) : v));
    const top = maxAbs(flat);
    const signed = d.min < 0 && !relu;
    detailEl.querySelector(".detail-title").textContent = "Layer " + d.layer + " " + d.label + ", map " + d.channel +
      " (" + h + "\u00d7" + w + ")" + (relu ? ", after its ReLU" : "");
    detailEl.querySelector(".detail-status").textContent = d.pixel ? "" :
      "Click a pixel of the enlarged map to see how its value was computed.";
    const big = detailEl.querySelector("[data-testid=map-large]");
    paint(big, flat, h, w, top, signed);
    big.dataset.h = String(h);
    big.dataset.w = String(w);
    const marker = detailEl.querySelector(".marker");
    if (d.pixel) {
      marker.hidden = false;
      marker.style.left = (100 * d.pixel.col / w) + "%";
      marker.style.top = (100 * d.pixel.row / h) + "%";
      marker.style.width = (100 / w) + "%";
      marker.style.height = (100 / h) + "%";
    } else marker.hidden = true;
    const legend = detailEl.querySelector(".detail-legend");
    legend.innerHTML = "";
    legend.appendChild(colourBar(d.min, top, signed));
    const words = document.createElement("p");
    words.textContent = relu
      ? "After the ReLU: black zero (every negative value), through orange to pale yellow at " + fmt(top, 2) + ". Tick \u201cbefore their ReLU\u201d above to see the signs."
      : signed
      ? "Orange: above zero, blue: below zero" + (info.relu_after ? " (the ReLU after this layer sets it to 0)" : "") +
        ", black: zero. Full colour at \u00b1" + fmt(top, 2) + "."
      : "Black: zero, through orange to pale yellow at this map's largest value, " + fmt(top, 2) + ".";
    legend.appendChild(words);

    const filt = detailEl.querySelector(".detail-filter");
    filt.innerHTML = "";
    if (d.filter) {
      const C = d.filter.length, fTop = maxAbs(d.filter.flat(2));
      const head = document.createElement("p");
      head.innerHTML = "<strong>The filter that made this map</strong>: " + C + " slice" + (C > 1 ? "s" : "") +
        " of " + d.filter[0].length + "\u00d7" + d.filter[0][0].length + (C > 1 ? ", one per map of layer " +
        (d.layer - 1) + " (" + (row(d.layer - 1).label || "the layer before") + ")" : "") + ", bias " + fmt(d.bias, 3) +
        ". Orange weights add the input under them, blue ones subtract it.";
      filt.appendChild(head);
      const wrap = document.createElement("div");
      wrap.className = C > 1 ? "slices" : "";
      d.filter.forEach((slice, c) => {
        if (C === 1) wrap.appendChild(grid(slice, "filter-weights", fTop, true));
        else {
          const cv = document.createElement("canvas");
          paint(cv, slice.flat(), slice.length, slice[0].length, fTop, true);
          cv.title = "slice " + c + " (reads map " + c + " of layer " + (d.layer - 1) + ")";
          wrap.appendChild(cv);
        }
      });
      filt.appendChild(wrap);
    }
    const comp = detailEl.querySelector(".detail-pixel");
    comp.innerHTML = "";
    const pixelView = { MaxPool2D: poolPixel, Conv2D: convPixel, BatchNorm2D: normPixel }[d.type];
    if (d.pixel && pixelView) comp.appendChild(pixelView(d));
    if (scrollWanted) {
      scrollWanted = false;
      detailEl.scrollIntoView({ block: "nearest" });
    }
  }

  function convPixel(d) {
    const p = d.pixel, C = p.window.length;
    const box = document.createElement("div");
    const ch = C === 1 ? 0 : p.channel_sums.reduce((best, s, c) => (Math.abs(s) > Math.abs(p.channel_sums[best]) ? c : best), 0);
    const shown = p.shownChannel !== undefined ? p.shownChannel : ch;
    const title = document.createElement("p");
    const KH = p.window[0].length, KW = p.window[0][0].length;
    const outside = p.top < 0 || p.left < 0 || p.top + KH > p.input_hw[0] || p.left + KW > p.input_hw[1];
    title.innerHTML = "<strong>Pixel (" + p.row + ", " + p.col + ")</strong>: the filter laid on the window of its input at rows " +
      p.top + "\u2013" + (p.top + KH - 1) + ", columns " + p.left + "\u2013" + (p.left + KW - 1) +
      (outside ? " (the part outside the image reads the zero padding)" : "") + "." +
      (C > 1 ? " Input map " + shown + " of " + C + " shown; pick another below." : "");
    box.appendChild(title);
    const row3 = document.createElement("div");
    row3.className = "triple";
    const win = p.window[shown], ker = p.kernel[shown], prod = p.products[shown];
    row3.appendChild(figure("input window" + (C > 1 ? " (map " + shown + ")" : ""), grid(win, "pixel-window", maxAbs(win.flat()), win.flat().some((v) => v < 0))));
    row3.appendChild(figure("\u00d7 kernel", grid(ker, "pixel-kernel", maxAbs(ker.flat()), true)));
    row3.appendChild(figure("= products", grid(prod, "pixel-products", maxAbs(prod.flat()), true)));
    box.appendChild(row3);
    if (C > 1) {
      const sums = document.createElement("div");
      sums.className = "channel-sums";
      sums.setAttribute("data-testid", "channel-sums");
      const sTop = maxAbs(p.channel_sums);
      p.channel_sums.forEach((s, c) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "sum-bar" + (c === shown ? " on" : "");
        b.dataset.value = String(s);
        b.title = "channel " + c + ": " + fmt(s, 3);
        b.innerHTML = "<span style='height:" + (100 * Math.abs(s) / (sTop || 1)).toFixed(0) + "%;background:" +
          css(rgb(s / (sTop || 1), true)) + "'></span>";
        b.addEventListener("click", () => { p.shownChannel = c; const el = convPixel(d); box.replaceWith(el); });
        sums.appendChild(b);
      });
      box.appendChild(figure("sum of the products of each of the " + C + " channels (click one to see it)", sums));
    }
    const total = p.channel_sums.reduce((a, b) => a + b, 0);
    const eq = document.createElement("p");
    eq.className = "equation";
    eq.setAttribute("data-testid", "pixel-sum");
    eq.dataset.sum = String(p.sum);
    eq.dataset.layerValue = String(p.layer_value);
    eq.innerHTML = (C > 1 ? "sum over " + C + " channels " : "sum of the " + win.length * win[0].length + " products ") +
      "<b>" + fmt(total, 3) + "</b> + bias <b>" + fmt(p.bias, 3) + "</b> = <b class='value'>" + fmt(p.sum, 3) +
      "</b> (the layer output " + fmt(p.layer_value, 3) + ")" +
      (p.after_relu !== undefined ? "; after the ReLU: <b>" + fmt(p.after_relu, 3) + "</b>" : "");
    box.appendChild(eq);
    return box;
  }

  // A batch-norm pixel: the convolution's value, normalised with the channel's running mean and
  // variance (inference), then scaled by gamma and shifted by beta.
  function normPixel(d) {
    const p = d.pixel;
    const box = document.createElement("div");
    const t = document.createElement("p");
    t.innerHTML = "<strong>Pixel (" + p.row + ", " + p.col + ")</strong>: the value of map " + d.channel +
      " of layer " + (d.layer - 1) + ", normalised with the mean and variance this channel had over the " +
      "training images (the running statistics), then scaled and shifted by the learned gamma and beta.";
    box.appendChild(t);
    const eq = document.createElement("p");
    eq.className = "equation";
    eq.setAttribute("data-testid", "norm-value");
    eq.dataset.sum = String(p.sum);
    eq.dataset.layerValue = String(p.layer_value);
    eq.innerHTML = "(<b>" + fmt(p.input, 3) + "</b> \u2212 mean " + fmt(p.mean, 3) + ") / \u221a(var " +
      fmt(p.var, 3) + " + " + p.eps + ") = <b>" + fmt(p.normalised, 3) + "</b>; \u00d7 gamma " +
      fmt(p.gamma, 3) + " + beta " + fmt(p.beta, 3) + " = <b class='value'>" + fmt(p.sum, 3) +
      "</b> (the layer output " + fmt(p.layer_value, 3) + ")" +
      (p.after_relu !== undefined ? "; after the ReLU: <b>" + fmt(p.after_relu, 3) + "</b>" : "");
    box.appendChild(eq);
    return box;
  }

  function poolPixel(d) {
    const p = d.pixel;
    const box = document.createElement("div");
    const t = document.createElement("p");
    t.innerHTML = "<strong>Pixel (" + p.row + ", " + p.col + ")</strong>: the " + p.window.length + "\u00d7" + p.window[0].length +
      " window at rows " + p.top + "\u2013" + (p.top + p.window.length - 1) + ", columns " + p.left + "\u2013" +
      (p.left + p.window[0].length - 1) + " of map " + d.channel + " of layer " + (d.layer - 1) + ". The largest value wins (outlined).";
    box.appendChild(t);
    box.appendChild(figure("window", grid(p.window, "pool-window", maxAbs(p.window.flat()), false, p.winner)));
    const eq = document.createElement("p");
    eq.className = "equation";
    eq.setAttribute("data-testid", "pool-value");
    eq.dataset.value = String(p.value);
    eq.innerHTML = "max = <b class='value'>" + fmt(p.value, 3) + "</b> at window position (" + p.winner.join(", ") +
      "); the backward pass sends the whole gradient to that one element.";
    box.appendChild(eq);
    return box;
  }

  function clickPixel(e) {
    if (!selected) return;
    const big = e.currentTarget, r = big.getBoundingClientRect();
    const h = Number(big.dataset.h), w = Number(big.dataset.w);
    const col = Math.min(w - 1, Math.max(0, Math.floor((e.clientX - r.left) / r.width * w)));
    const rw = Math.min(h - 1, Math.max(0, Math.floor((e.clientY - r.top) / r.height * h)));
    inspect(selected.layer, selected.channel, rw, col);
  }

  // ------------------------------------------------------------ stale marking

  function stale() {
    document.body.classList.add("stale-maps");
  }

  detailEl.querySelector("[data-testid=map-large]").addEventListener("click", clickPixel);
  beforeRelu.addEventListener("change", () => {
    if (lastAnswer) drawMaps(lastAnswer.maps || []);
    if (selected) inspect(selected.layer, selected.channel, selected.row, selected.col);
  });
  detailEl.querySelector(".detail-close").addEventListener("click", closeDetail);
  loadLayers();
  document.addEventListener("scratchcnn:model", loadLayers); // the Digits / Shapes switch
  return { update: update, stale: stale, inspect: inspect, close: closeDetail };
})();
