// Honest answers on the page (issue 13): the unknown answer, why the network says what it says
// (the saliency map over the 28x28 input and over the canvas), and what it thinks each class
// looks like (the class models). Plain JavaScript, no build step. It drives the page only
// through app.js's window.scratchcnnPage (onPrediction, query, repredict, model), so this file
// listens and draws; the math is in scratchcnn/explain.py.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const page = window.scratchcnnPage;
  const whyBox = $("why-toggle"), whyText = $("why-text");
  const input28 = $("input28"), canvas = $("canvas");
  let last = null; // the last answer, redrawn when the toggle changes

  // ------------------------------------------------------------ overlays

  // A canvas laid over `under`, the same size on screen, that ignores the pointer.
  function overlay(under, id, w, h) {
    let c = $(id);
    if (c) return c;
    let wrap = under.parentElement;
    if (!wrap.classList.contains("overlaid")) { // a box exactly the size of `under`
      wrap = document.createElement("span");
      wrap.className = "overlaid";
      under.replaceWith(wrap);
      wrap.appendChild(under);
    }
    c = document.createElement("canvas");
    c.id = id;
    c.width = w;
    c.height = h;
    c.className = "saliency-overlay";
    c.setAttribute("aria-hidden", "true");
    c.dataset.testid = id;
    wrap.appendChild(c);
    return c;
  }

  // The saliency as a 28x28 image: red where more ink raises the answer's logit, blue where it
  // lowers it, opacity growing with |gradient| (scaled by the largest one) up to alpha/255.
  function saliencyImage(sal, alpha = 230) {
    const c = document.createElement("canvas");
    c.width = 28;
    c.height = 28;
    const ctx = c.getContext("2d");
    const img = ctx.createImageData(28, 28);
    let top = 0;
    for (const row of sal) for (const v of row) top = Math.max(top, Math.abs(v));
    top = top || 1;
    for (let i = 0; i < 28; i++) for (let j = 0; j < 28; j++) {
      const v = sal[i][j] / top, o = 4 * (28 * i + j);
      img.data[o] = v > 0 ? 255 : 40;
      img.data[o + 1] = v > 0 ? 60 : 120;
      img.data[o + 2] = v > 0 ? 40 : 255;
      img.data[o + 3] = Math.round(alpha * Math.min(1, Math.abs(v))); // faint gradients fade out
    }
    ctx.putImageData(img, 0, 0);
    return c;
  }

  function clearOverlays() {
    for (const id of ["saliency28", "saliency-canvas"]) {
      const c = $(id);
      if (c) c.getContext("2d").clearRect(0, 0, c.width, c.height);
    }
  }

  function drawSaliency(data) {
    clearOverlays();
    if (!whyBox.checked || !data || !data.saliency) {
      whyText.textContent = whyBox.checked ? "Draw something to see why." : "";
      return;
    }
    const img = saliencyImage(data.saliency), faint = saliencyImage(data.saliency, 170);
    const small = overlay(input28, "saliency28", 28, 28).getContext("2d");
    small.imageSmoothingEnabled = false;
    small.drawImage(img, 0, 0);
    // scaled back onto the canvas: field (x, y) -> canvas left + (x - shift_x) * scale_x, ...
    const p = data.placement;
    if (p) {
      const big = overlay(canvas, "saliency-canvas", canvas.width, canvas.height).getContext("2d");
      big.save();
      big.setTransform(p.scale_x, 0, 0, p.scale_y, p.left - p.shift_x * p.scale_x,
                       p.top - p.shift_y * p.scale_y);
      big.imageSmoothingEnabled = true;
      big.drawImage(faint, 0, 0); // fainter over the canvas, so the drawing shows through
      big.restore();
    }
    const name = data.saliency_of;
    whyText.textContent = "Why " + name + ": red pixels are where more ink would raise the " +
      "network's score for " + name + ", blue where ink speaks against it (the gradient of " +
      name + "'s logit with respect to each input pixel).";
  }

  // ------------------------------------------------------------ the unknown answer

  function showUnknown(data) {
    const conf = $("confidence"), pred = $("prediction");
    document.body.dataset.unknown = data && data.unknown ? "1" : "0";
    if (!data || !data.unknown || document.body.dataset.hideAnswer === "1") return;
    pred.textContent = "?";
    conf.textContent = data.message;
    const announce = $("announce");
    if (announce) announce.textContent = data.message;
  }

  page.onPrediction((data) => {
    last = data;
    showUnknown(data);
    drawSaliency(document.body.dataset.hideAnswer === "1" ? null : data);
  });

  whyBox.addEventListener("change", () => {
    if (whyBox.checked) page.query.explain = "1";
    else delete page.query.explain;
    drawSaliency(last);
    if (whyBox.checked) page.repredict();
  });

  // ------------------------------------------------------------ class models

  const cmButton = $("classmodels-toggle"), cmBox = $("classmodels");

  const currentModel = () => page.model;
  document.addEventListener("scratchcnn:model", () => { cmBox.hidden = true; });

  async function showClassModels() {
    const name = currentModel();
    if (cmBox.dataset.model === name && !cmBox.hidden) { cmBox.hidden = true; return; }
    cmBox.hidden = false;
    cmBox.dataset.model = name;
    cmBox.innerHTML = "<p>Computing what the network thinks each class looks like&hellip;</p>";
    try {
      const res = await fetch("/api/classmodel?model=" + encodeURIComponent(name));
      const data = await res.json();
      if (!res.ok) throw new Error(data.error || res.statusText);
      if (cmBox.dataset.model !== name) return;
      cmBox.innerHTML = "<p class=\"legend\">Start from the average drawing of a class and " +
        "change its pixels, step by step, to raise that class's score (gradient ascent on the " +
        "input, with a penalty on ink): what each class looks like to the network. Under each: " +
        "the probability it then gets.</p>";
      const grid = document.createElement("div");
      grid.className = "classmodel-grid";
      data.classes.forEach((label, k) => {
        const fig = document.createElement("figure");
        const c = document.createElement("canvas");
        c.width = 28;
        c.height = 28;
        const ctx = c.getContext("2d"), img = ctx.createImageData(28, 28);
        for (let i = 0; i < 784; i++) {
          const v = Math.round(255 * data.images[k][Math.floor(i / 28)][i % 28]);
          img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
          img.data[4 * i + 3] = 255;
        }
        ctx.putImageData(img, 0, 0);
        c.setAttribute("role", "img");
        c.setAttribute("aria-label", "what the network thinks " + label + " looks like");
        const cap = document.createElement("figcaption");
        cap.textContent = label + " (" + Math.round(100 * data.probabilities[k]) + "%)";
        fig.append(c, cap);
        grid.appendChild(fig);
      });
      cmBox.appendChild(grid);
    } catch (err) {
      cmBox.textContent = "Could not compute the class models: " + err.message;
    }
  }

  cmButton.addEventListener("click", showClassModels);

  // ------------------------------------------------------------ for the naming game

  // After a wrong answer, game.js asks to see what the network saw: the drawing's 28x28 input
  // with the saliency of its answer laid over it, appended to `el`.
  function showWhy(el, data) {
    const draw = (d) => {
      if (!d || !d.saliency) return;
      const fig = document.createElement("figure");
      fig.className = "why-thumb";
      const c = document.createElement("canvas");
      c.width = c.height = 28;
      const ctx = c.getContext("2d"), img = ctx.createImageData(28, 28);
      for (let i = 0; i < 784; i++) {
        const v = Math.round(255 * d.input[Math.floor(i / 28)][i % 28]);
        img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
        img.data[4 * i + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
      ctx.drawImage(saliencyImage(d.saliency), 0, 0);
      const cap = document.createElement("figcaption");
      cap.textContent = "What made it say " + d.saliency_of + ": red pixels pushed toward it, blue against.";
      fig.append(c, cap);
      fig.dataset.testid = "why-thumb";
      el.appendChild(fig);
    };
    if (data && data.saliency) { draw(data); return; }
    page.query.explain = "1"; // from now on every answer carries its saliency
    page.repredict();
    page.whenSettled(draw);
  }

  window.scratchcnnExplain = { showWhy };
})();
