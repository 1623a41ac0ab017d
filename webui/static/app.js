// scratchcnn drawing page: plain JavaScript, no build step.
// The canvas keeps a stroke history (for undo) and sends its grayscale pixels to
// POST /api/predict?model=digits|shapes; all MNIST-style preprocessing happens on the server, in
// scratchcnn.preprocess. The naming game (game.js) drives the page through window.scratchcnnPage.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const W = canvas.width, H = canvas.height;
  const brush = $("brush"), brushValue = $("brush-value");
  const predictionEl = $("prediction"), confidenceEl = $("confidence"), announceEl = $("announce");
  const barsEl = $("probabilities"), input28 = $("input28");

  const THROTTLE_MS = 120; // live prediction at most about 8 times a second
  const strokes = []; // [{width, points: [[x, y], ...]}]
  const cleared = []; // drawings wiped by Clear (or the game), newest last: Undo brings them back
  let current = null; // the stroke being drawn
  const DIGITS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
  const query = {}; // extra query parameters of every prediction request (scratchcnnPage.query)
  let modelName = "digits", classes = DIGITS, models = {}; // models: name -> /api/models entry
  const listeners = []; // game.js: called with every prediction shown
  let activePointer = null;

  // ---------------------------------------------------------------- drawing

  function clearCanvas() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, W, H);
  }

  // A smooth stroke: quadratic curves through the midpoints of successive points.
  function drawStroke(s) {
    const p = s.points;
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineWidth = s.width;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    if (p.length === 1) {
      ctx.beginPath();
      ctx.arc(p[0][0], p[0][1], s.width / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(p[0][0], p[0][1]);
    for (let i = 1; i < p.length - 1; i++) {
      const mx = (p[i][0] + p[i + 1][0]) / 2, my = (p[i][1] + p[i + 1][1]) / 2;
      ctx.quadraticCurveTo(p[i][0], p[i][1], mx, my);
    }
    const last = p[p.length - 1];
    ctx.lineTo(last[0], last[1]);
    ctx.stroke();
  }

  function redraw() {
    clearCanvas();
    for (const s of strokes) drawStroke(s);
    if (current) drawStroke(current);
  }

  function canvasPoint(e) {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * (W / r.width), (e.clientY - r.top) * (H / r.height)];
  }

  // No keyboard hints on a touch screen: hidden by CSS where the device says it has no hover,
  // and from the first touch anywhere.
  document.addEventListener("pointerdown", (e) => {
    if (e.pointerType === "touch") document.body.classList.add("touch");
  }, { capture: true, passive: true });
  if (window.matchMedia && matchMedia("(hover: none) and (pointer: coarse)").matches) {
    document.body.classList.add("touch");
  }

  canvas.addEventListener("pointerdown", (e) => {
    if (activePointer !== null || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault(); // no text selection or scrolling; so focus the canvas by hand
    canvas.focus({ preventScroll: true });
    activePointer = e.pointerId;
    canvas.setPointerCapture(e.pointerId);
    current = { width: Number(brush.value), points: [canvasPoint(e)] };
    redraw();
  });

  canvas.addEventListener("pointermove", (e) => {
    if (e.pointerId !== activePointer || !current) return;
    e.preventDefault();
    // coalesced events keep fast strokes smooth where the browser batches them
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of events.length ? events : [e]) current.points.push(canvasPoint(ev));
    redraw();
    requestPrediction();
  });

  function endStroke(e) {
    if (e.pointerId !== activePointer) return;
    activePointer = null;
    if (current) {
      strokes.push(current);
      current = null;
      redraw();
      requestPrediction(true);
    }
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  // Undo removes the last stroke; on an empty canvas it brings back the last cleared drawing.
  function undo() {
    if (strokes.length) strokes.pop();
    else if (cleared.length) strokes.push(...cleared.pop());
    else return;
    redraw();
    requestPrediction(true);
  }

  // Clear keeps what it wiped, so nothing is lost without a way back (Undo).
  function clearAll() {
    if (strokes.length) cleared.push(strokes.splice(0));
    current = null;
    redraw();
    requestPrediction(true);
  }

  function setBrush(v) {
    brush.value = String(Math.min(Number(brush.max), Math.max(Number(brush.min), v)));
    brushValue.textContent = brush.value;
  }

  $("undo").addEventListener("click", undo);
  $("clear").addEventListener("click", clearAll);
  brush.addEventListener("input", () => setBrush(Number(brush.value)));

  // Shortcuts work whatever has focus (the brush slider, a button), except where one types text.
  const TYPING = /^(text|search|email|number|password|tel|url)$/;
  function typing(el) {
    if (!el || !el.tagName) return false;
    if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    return el.tagName === "INPUT" && TYPING.test(el.type || "text");
  }

  document.addEventListener("keydown", (e) => {
    if (typing(e.target) || e.altKey || e.metaKey) return;
    const key = e.key.toLowerCase();
    if (key === "z" || (e.ctrlKey && key === "z")) { undo(); e.preventDefault(); }
    else if (e.ctrlKey) return;
    else if (key === "c" || key === "escape" || key === "delete") { clearAll(); e.preventDefault(); }
    else if (key === "[") { setBrush(Number(brush.value) - 2); e.preventDefault(); }
    else if (key === "]") { setBrush(Number(brush.value) + 2); e.preventDefault(); }
  });

  // ---------------------------------------------------------------- prediction

  let inFlight = false, pending = false, lastSent = 0, timer = null, seq = 0;
  let latest = null; // the last answer shown (game.js reads it through scratchcnnPage)
  const waiters = []; // callbacks run once the prediction for the current drawing is shown

  function pixelsBase64() {
    const rgba = ctx.getImageData(0, 0, W, H).data;
    const gray = new Uint8Array(W * H);
    for (let i = 0; i < gray.length; i++) gray[i] = rgba[4 * i]; // white ink: red = gray
    let bin = "";
    for (let i = 0; i < gray.length; i += 0x8000) {
      bin += String.fromCharCode.apply(null, gray.subarray(i, i + 0x8000));
    }
    return btoa(bin);
  }

  // what layers.js sends to POST /api/inspect: the same drawing as the last prediction
  let lastPayload = null;
  window.scratchcnnDrawing = () => lastPayload;

  // Ask for a prediction now if possible, else as soon as the throttle and the request allow.
  function requestPrediction(now) {
    pending = true;
    document.body.dataset.busy = "1";
    if (inFlight) return;
    const wait = now ? 0 : Math.max(0, THROTTLE_MS - (performance.now() - lastSent));
    clearTimeout(timer);
    timer = setTimeout(sendPrediction, wait);
  }

  async function sendPrediction() {
    if (inFlight || !pending) return;
    pending = false;
    inFlight = true;
    lastSent = performance.now();
    const mine = ++seq;
    const payload = { width: W, height: H, pixels: pixelsBase64() };
    try {
      const extra = Object.entries(query).map(([k, v]) => "&" + k + "=" + encodeURIComponent(v)).join("");
      const res = await fetch("/api/predict?activations=1&model=" + modelName + extra, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(payload),
      });
      const data = await res.json();
      if (!res.ok) throw new Error(data.error || res.statusText);
      if (mine === seq && data.classes && data.classes.join() === classes.join()) {
        lastPayload = payload;
        show(data);
      }
    } catch (err) {
      if (mine === seq) showUnanswered(err);
    } finally {
      inFlight = false;
      if (pending) requestPrediction(true);
      else {
        document.body.dataset.busy = "0"; // browser tests wait for this
        while (waiters.length) waiters.shift()();
      }
    }
  }

  // "a 7", "an 8", "a star", "an arrow", "a smiley face"
  const withArticle = (label) => (/^[aeiou8]/i.test(String(label)) ? "an " : "a ") + label;
  const thing = () => (modelName === "digits" ? "a digit" : "a shape");

  function pct(p) { return (100 * p).toFixed(p >= 0.995 || p < 0.0005 ? 0 : 1) + "%"; }

  // The server did not answer: clear the old answer (it was for another drawing) and say so.
  function showUnanswered(err) {
    latest = null;
    predictionEl.textContent = "";
    confidenceEl.textContent = "";
    const status = $("server-status");
    status.textContent = "No answer from the server (" + (err.message || err) + "). The drawing is kept: " +
      "draw or press Undo to try again.";
    status.hidden = false;
    document.body.classList.add("unanswered");
    [...barsEl.children].forEach((li) => {
      li.classList.remove("top");
      li.querySelector(".fill").style.width = "0%";
      li.querySelector(".pct").textContent = "–";
      li.querySelector(".logit").textContent = "";
    });
    announceEl.textContent = "No answer from the server.";
    if (window.LayerView) LayerView.stale();
  }

  function show(data) {
    latest = data;
    $("server-status").hidden = true;
    document.body.classList.remove("unanswered");
    const probs = data.probabilities || new Array(classes.length).fill(0);
    const label = data.label, k = classes.indexOf(label);
    const hidden = document.body.dataset.hideAnswer === "1"; // the game hides it until judged
    predictionEl.textContent = label === null ? "" : label;
    if (label === null) {
      confidenceEl.textContent = "Draw " + thing() + " in the black square.";
      announceEl.textContent = "Canvas is empty.";
    } else {
      confidenceEl.textContent = pct(probs[k]) + " sure it is " + withArticle(label);
      if (!hidden) announceEl.textContent = "Prediction " + label + ", " + pct(probs[k]) + " sure.";
    }
    [...barsEl.children].forEach((li, j) => {
      li.classList.toggle("top", j === k);
      li.querySelector(".fill").style.width = (100 * probs[j]).toFixed(1) + "%";
      li.querySelector(".pct").textContent = pct(probs[j]);
      li.querySelector(".logit").textContent = data.logits ? data.logits[j].toFixed(1) : "";
      li.setAttribute("aria-label", classes[j] + ": " + pct(probs[j]));
    });
    drawInput(data.input);
    if (window.LayerView) LayerView.update(data);
    for (const fn of listeners) fn(data);
  }

  function buildBars() {
    barsEl.textContent = "";
    barsEl.classList.toggle("named", modelName !== "digits");
    barsEl.setAttribute("aria-label", "probability of each " + (modelName === "digits" ? "digit" : "shape"));
    for (const c of classes) {
      const li = document.createElement("li");
      li.innerHTML = '<span class="label"></span><span class="track"><span class="fill"></span></span><span class="pct">0%</span><span class="logit"></span>';
      li.querySelector(".label").textContent = c;
      li.setAttribute("aria-label", c + ": 0%");
      barsEl.appendChild(li);
    }
  }

  // ---------------------------------------------------------------- Digits / Shapes

  function setModel(name, keepUrl) {
    if (!models[name]) name = "digits";
    modelName = name;
    classes = models[name] ? models[name].classes : DIGITS;
    latest = null;
    document.body.dataset.model = name;
    for (const b of document.querySelectorAll("[data-model-choice]")) {
      b.setAttribute("aria-pressed", String(b.dataset.modelChoice === name));
    }
    const what = name === "digits" ? "a digit" : "a shape";
    $("subtitle").textContent = "draw " + what + ", watch a hand-written CNN read it";
    canvas.setAttribute("aria-label", "Drawing area: draw " + what + " with a mouse, finger or pen");
    predictionEl.setAttribute("aria-label", name === "digits" ? "predicted digit" : "predicted shape");
    buildBars();
    if (!keepUrl) {
      const url = new URL(location.href);
      if (name === "digits") url.searchParams.delete("model"); else url.searchParams.set("model", name);
      history.replaceState(null, "", url);
    }
    loadAbout();
    requestPrediction(true); // the same drawing, read by the other model
    document.dispatchEvent(new CustomEvent("scratchcnn:model", { detail: name }));
  }

  async function loadModels() {
    try {
      const res = await fetch("/api/models");
      const data = await res.json();
      for (const m of data.models) models[m.name] = m;
    } catch (err) {
      models.digits = { name: "digits", classes: DIGITS };
    }
    for (const b of document.querySelectorAll("[data-model-choice]")) {
      b.hidden = !models[b.dataset.modelChoice];
      b.addEventListener("click", () => setModel(b.dataset.modelChoice));
    }
    const asked = new URLSearchParams(location.search).get("model");
    setModel(asked && models[asked] ? asked : "digits", true);
  }

  // ---------------------------------------------------------------- what the network sees

  function drawInput(rows) {
    const c = input28.getContext("2d");
    const img = c.createImageData(28, 28);
    for (let i = 0; i < 28; i++) for (let j = 0; j < 28; j++) {
      const v = Math.round(255 * rows[i][j]), o = 4 * (28 * i + j);
      img.data[o] = img.data[o + 1] = img.data[o + 2] = v;
      img.data[o + 3] = 255;
    }
    c.putImageData(img, 0, 0);
  }

  // ---------------------------------------------------------------- about panel

  $("about-toggle").addEventListener("click", async (e) => {
    const panel = $("about");
    panel.hidden = !panel.hidden;
    e.currentTarget.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) panel.scrollIntoView({ behavior: "smooth" });
  });

  async function loadAbout() {
    try {
      const res = await fetch("/api/model?model=" + modelName);
      const m = await res.json();
      const acc = m.test_accuracy === null ? "not recorded" : (100 * m.test_accuracy).toFixed(2) + "%";
      const convs = m.layers.filter((l) => l.type === "Conv2D").length;
      const test = m.reads === "shapes" ? "test accuracy on generated shapes " : "MNIST test accuracy ";
      $("about-numbers").textContent = "The " + modelName + " model: " + m.layers.length + " layers (" +
        convs + " convolutions), " + m.num_params.toLocaleString("en") + " parameters, " + test + acc + ".";
      $("about-summary").textContent = m.summary;
    } catch (err) {
      $("about-numbers").textContent = "Could not load the model description: " + err.message;
    }
  }

  // ---------------------------------------------------------------- start

  // What game.js (and other feature files) may use; the page stays the owner of the canvas.
  window.scratchcnnPage = {
    query, // extra query parameters for /api/predict (explain.js adds explain=1)
    repredict() { requestPrediction(true); },
    get model() { return modelName; },
    get classes() { return classes; },
    get latest() { return latest; },
    get hasInk() { return strokes.length > 0; },
    withArticle, pct, clear: clearAll, undo,
    onPrediction(fn) { listeners.push(fn); },
    // fn(latest) once every requested prediction of the drawing on the canvas has been answered
    whenSettled(fn) {
      if (inFlight || pending) waiters.push(() => fn(latest)); else fn(latest);
    },
    hideAnswer(on) { document.body.dataset.hideAnswer = on ? "1" : "0"; if (!on && latest) show(latest); },
    snapshot(side) { // the drawing as a small PNG data URL, for the game's summary
      const c = document.createElement("canvas");
      c.width = c.height = side;
      c.getContext("2d").drawImage(canvas, 0, 0, side, side);
      return c.toDataURL("image/png");
    },
    announce(text) { announceEl.textContent = text; },
  };

  clearCanvas();
  document.body.dataset.busy = "0";
  loadModels().then(() => {
    document.body.dataset.ready = "1"; // browser tests wait for this
  });
})();
