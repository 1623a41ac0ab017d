// scratchcnn drawing page: plain JavaScript, no build step.
// The canvas keeps a stroke history (for undo) and sends its grayscale pixels to POST /api/predict;
// all MNIST-style preprocessing happens on the server, in scratchcnn.preprocess.
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
  let current = null; // the stroke being drawn
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

  function undo() {
    if (!strokes.length) return;
    strokes.pop();
    redraw();
    requestPrediction(true);
  }

  function clearAll() {
    strokes.length = 0;
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
    else if (challenge.on && key === "enter" && e.target.tagName !== "BUTTON") { judge(); e.preventDefault(); }
    else if (challenge.on && key === "n") nextTarget();
  });

  // ---------------------------------------------------------------- prediction

  let inFlight = false, pending = false, lastSent = 0, timer = null, seq = 0;
  let latest = null; // the last answer, for challenge mode
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
      const res = await fetch("/api/predict?activations=1", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(payload),
      });
      const data = await res.json();
      if (!res.ok) throw new Error(data.error || res.statusText);
      if (mine === seq) {
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

  const withArticle = (d) => (d === 8 ? "an " : "a ") + d; // "a 7", "an 8"

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
    const probs = data.probabilities || new Array(10).fill(0);
    const d = data.digit;
    predictionEl.textContent = d === null ? "" : String(d);
    if (d === null) {
      confidenceEl.textContent = "Draw a digit in the black square.";
      announceEl.textContent = "Canvas is empty.";
    } else {
      confidenceEl.textContent = pct(probs[d]) + " sure it is " + withArticle(d);
      announceEl.textContent = "Prediction " + d + ", " + pct(probs[d]) + " sure.";
    }
    [...barsEl.children].forEach((li, k) => {
      li.classList.toggle("top", k === d);
      li.querySelector(".fill").style.width = (100 * probs[k]).toFixed(1) + "%";
      li.querySelector(".pct").textContent = pct(probs[k]);
      li.querySelector(".logit").textContent = data.logits ? data.logits[k].toFixed(1) : "";
      li.setAttribute("aria-label", k + ": " + pct(probs[k]));
    });
    drawInput(data.input);
    if (window.LayerView) LayerView.update(data);
  }

  function buildBars() {
    for (let k = 0; k < 10; k++) {
      const li = document.createElement("li");
      li.innerHTML = '<span class="label">' + k + '</span><span class="track"><span class="fill"></span></span><span class="pct">0%</span><span class="logit"></span>';
      li.setAttribute("aria-label", k + ": 0%");
      barsEl.appendChild(li);
    }
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

  // ---------------------------------------------------------------- challenge mode

  const challenge = { on: false, target: null, right: 0, tries: 0 };

  function nextTarget() {
    let t;
    do { t = Math.floor(Math.random() * 10); } while (t === challenge.target);
    challenge.target = t;
    $("challenge-target").textContent = String(t);
    $("challenge-article").textContent = t === 8 ? "an" : "a";
    $("challenge-feedback").textContent = "";
    $("challenge-feedback").className = "feedback";
    clearAll();
  }

  function judge() {
    // judge the prediction of what is on the canvas now, waiting for it if one is in flight
    if (inFlight || pending) { waiters.push(judge); return; }
    const fb = $("challenge-feedback");
    if (!latest || latest.digit === null) {
      fb.textContent = "Draw " + withArticle(challenge.target) + " first.";
      fb.className = "feedback";
      return;
    }
    challenge.tries += 1;
    if (latest.digit === challenge.target) {
      challenge.right += 1;
      fb.textContent = "Yes! That is " + withArticle(challenge.target) + ".";
      fb.className = "feedback good";
    } else {
      fb.textContent = "Hmm, that looks like " + withArticle(latest.digit) + ", not " + withArticle(challenge.target) + ".";
      fb.className = "feedback bad";
    }
    $("challenge-score").textContent = challenge.right + " / " + challenge.tries;
    announceEl.textContent = fb.textContent + " Score " + challenge.right + " of " + challenge.tries + ".";
  }

  $("challenge-toggle").addEventListener("click", (e) => {
    challenge.on = !challenge.on;
    e.currentTarget.setAttribute("aria-pressed", String(challenge.on));
    $("challenge").hidden = !challenge.on;
    if (challenge.on) {
      challenge.right = challenge.tries = 0;
      $("challenge-score").textContent = "0 / 0";
      nextTarget();
    }
  });
  $("challenge-submit").addEventListener("click", judge);
  $("challenge-skip").addEventListener("click", nextTarget);

  // ---------------------------------------------------------------- about panel

  $("about-toggle").addEventListener("click", async (e) => {
    const panel = $("about");
    panel.hidden = !panel.hidden;
    e.currentTarget.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) panel.scrollIntoView({ behavior: "smooth" });
  });

  async function loadAbout() {
    try {
      const res = await fetch("/api/model");
      const m = await res.json();
      const acc = m.test_accuracy === null ? "not recorded" : (100 * m.test_accuracy).toFixed(2) + "%";
      const convs = m.layers.filter((l) => l.type === "Conv2D").length;
      $("about-numbers").textContent = m.layers.length + " layers (" + convs + " convolutions), " +
        m.num_params.toLocaleString("en") + " parameters, MNIST test accuracy " + acc + ".";
      $("about-summary").textContent = m.summary;
    } catch (err) {
      $("about-numbers").textContent = "Could not load the model description: " + err.message;
    }
  }

  // ---------------------------------------------------------------- start

  buildBars();
  clearCanvas();
  loadAbout();
  document.body.dataset.busy = "0";
  document.body.dataset.ready = "1"; // browser tests wait for this
})();
