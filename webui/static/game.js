// The naming game, judged as Quick, Draw! judges: the page names a target ("Draw a star"), the
// live answer stays hidden until the drawing is checked (Enter) or the time runs out, and a
// drawing counts as right when the network gives the target at least THRESHOLD, even if another
// class is on top. Each drawing is judged once; a right answer moves on by itself; a round of
// ROUND targets ends in a summary showing each drawing beside what it was read as.
// Keys work wherever the focus is: Enter checks (or moves on once judged), N skips, Esc leaves
// the summary. Nothing is wiped without a way back: the page's Clear keeps the drawing for Undo.
"use strict";

(function () {
  const page = window.scratchcnnPage; // app.js, loaded first
  const $ = (id) => document.getElementById(id);
  const ROUND = 6; // targets per round
  const THRESHOLD = 0.4; // the target's probability that makes a drawing right
  const MOVE_ON_MS = 1500; // how long a right answer stays on screen
  const game = { on: false, seconds: 20, targets: [], index: 0, results: [], phase: "off",
                 deadline: 0, timer: null, moveOn: null };

  const target = () => game.targets[game.index];

  function pickTargets(classes) {
    const pool = [...classes];
    for (let i = pool.length - 1; i > 0; i--) { // Fisher-Yates
      const j = Math.floor(Math.random() * (i + 1));
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    return pool.slice(0, Math.min(ROUND, pool.length));
  }

  function feedback(text, kind) {
    const fb = $("challenge-feedback");
    fb.textContent = text;
    fb.className = "feedback" + (kind ? " " + kind : "");
  }

  function showScore() {
    const judged = game.results.length, right = game.results.filter((r) => r.right).length;
    $("challenge-score").textContent = right + " / " + judged;
  }

  function start() {
    clearTimeout(game.moveOn);
    game.on = true;
    $("challenge-toggle").setAttribute("aria-pressed", "true");
    $("challenge").hidden = false;
    $("summary").hidden = true;
    const hadInk = page.hasInk;
    game.targets = pickTargets(page.classes);
    game.index = 0;
    game.results = [];
    showScore();
    begin();
    if (hadInk) feedback("Your drawing was put aside: Undo (Z) brings it back.");
  }

  function stop() {
    game.on = false;
    game.phase = "off";
    clearInterval(game.timer);
    clearTimeout(game.moveOn);
    $("challenge-toggle").setAttribute("aria-pressed", "false");
    $("challenge").hidden = true;
    $("summary").hidden = true;
    page.hideAnswer(false);
  }

  function begin() { // the current target, on a clean canvas (the page keeps what it wiped)
    page.clear();
    const t = target();
    $("challenge-target").textContent = t;
    $("challenge-article").textContent = page.withArticle(t).split(" ")[0];
    $("challenge-progress").textContent = "(" + (game.index + 1) + " of " + game.targets.length + ")";
    $("challenge-submit").innerHTML = "Check my drawing <kbd>Enter</kbd>";
    $("challenge-top").hidden = true;
    feedback("");
    game.phase = "drawing";
    page.hideAnswer(true);
    game.deadline = performance.now() + 1000 * game.seconds;
    clearInterval(game.timer);
    game.timer = setInterval(tick, 250);
    tick();
    page.announce("Draw " + page.withArticle(t) + ".");
  }

  function tick() {
    const left = Math.max(0, Math.ceil((game.deadline - performance.now()) / 1000));
    const el = $("challenge-timer");
    el.textContent = left + " s left";
    el.classList.toggle("low", left <= 5);
    if (left === 0 && game.phase === "drawing") submit(true);
  }

  function submit(timeUp) {
    if (!game.on) return;
    if (game.phase === "judged") return next();
    if (game.phase !== "drawing") return;
    if (!page.hasInk && !timeUp) {
      feedback("Draw " + page.withArticle(target()) + " first.");
      return;
    }
    game.phase = "judging"; // from here on this drawing is not judged again
    clearInterval(game.timer);
    page.whenSettled((latest) => judge(latest, timeUp));
  }

  function judge(latest, timeUp) {
    const t = target(), classes = page.classes, pct = page.pct, a = page.withArticle;
    const entry = { target: t, label: null, p: 0, top: [], right: false, skipped: false,
                    image: page.snapshot(84) };
    if (latest && latest.probabilities) {
      const probs = latest.probabilities;
      entry.top = probs.map((p, i) => [classes[i], p]).sort((x, y) => y[1] - x[1]).slice(0, 3);
      entry.unknown = Boolean(latest.unknown); // explain.js / issue 13: none of the classes
      entry.label = latest.unknown ? latest.closest : latest.label;
      entry.p = probs[classes.indexOf(t)];
      entry.right = entry.p >= THRESHOLD;
    }
    game.results.push(entry);
    game.phase = "judged";
    page.hideAnswer(false);
    showScore();
    const top = $("challenge-top");
    top.innerHTML = "";
    for (const [name, p] of entry.top) {
      const li = document.createElement("li");
      li.textContent = name + " " + pct(p);
      top.appendChild(li);
    }
    top.hidden = entry.top.length === 0;
    if (!entry.right && entry.unknown) {
      feedback("I can't tell what that is - try drawing " + a(t) + ".", "bad");
    } else if (entry.label === null) {
      feedback((timeUp ? "Time's up: n" : "N") + "othing was drawn for " + a(t) + ".", "bad");
    } else if (entry.right && entry.label === t) {
      feedback("Yes! That is " + a(t) + " (" + pct(entry.p) + ").", "good");
    } else if (entry.right) {
      feedback("Yes! It sees " + a(t) + " (" + pct(entry.p) + "), though " + a(entry.label) + " (" +
               pct(entry.top[0][1]) + ") is on top.", "good");
    } else {
      feedback((timeUp ? "Time's up. " : "") + "That looks like " + a(entry.label) + " (" +
               pct(entry.top[0][1]) + "), not " + a(t) + ".", "bad");
      if (window.scratchcnnExplain) window.scratchcnnExplain.showWhy($("challenge-feedback"), latest);
    }
    page.announce($("challenge-feedback").textContent + " Score " + $("challenge-score").textContent + ".");
    $("challenge-submit").innerHTML = "Next <kbd>Enter</kbd>";
    if (entry.right) {
      const here = game.index;
      game.moveOn = setTimeout(() => { if (game.index === here && game.phase === "judged") next(); }, MOVE_ON_MS);
    }
  }

  function skip() {
    if (!game.on || game.phase === "summary" || game.phase === "judging") return;
    if (game.phase === "drawing") {
      game.results.push({ target: target(), label: null, p: 0, top: [], right: false, skipped: true,
                          image: page.snapshot(84) });
      showScore();
    }
    next();
  }

  function next() {
    clearTimeout(game.moveOn);
    if (!game.on || game.phase === "summary") return;
    game.index += 1;
    if (game.index >= game.targets.length) summary();
    else begin();
  }

  function summary() {
    game.phase = "summary";
    clearInterval(game.timer);
    page.hideAnswer(false);
    $("challenge").hidden = true;
    $("summary").hidden = false;
    const right = game.results.filter((r) => r.right).length;
    $("summary-score").textContent = right + " of " + game.results.length + " right";
    const list = $("summary-list");
    list.innerHTML = "";
    for (const r of game.results) {
      const li = document.createElement("li");
      li.dataset.testid = "summary-item";
      const img = document.createElement("img");
      img.src = r.image;
      img.alt = "your drawing of " + page.withArticle(r.target);
      const text = document.createElement("span");
      const verdict = document.createElement("span");
      verdict.className = r.right ? "good" : "bad";
      verdict.textContent = r.right ? "\u2713 " : "\u2717 ";
      text.appendChild(verdict);
      const read = r.skipped ? "skipped" : r.label === null ? "nothing drawn"
        : "read as " + r.label + " (" + page.pct(r.top[0][1]) + ")";
      text.appendChild(document.createTextNode(r.target + ": " + read));
      li.append(img, text);
      list.appendChild(li);
    }
    page.announce("Round over: " + right + " of " + game.results.length + " right.");
    $("summary-again").focus({ preventScroll: true });
  }

  // Keys: the same action whatever has focus (a focused button must not turn Enter into a click).
  window.addEventListener("keydown", (e) => {
    if (!game.on || e.altKey || e.ctrlKey || e.metaKey) return;
    const el = e.target || {}, tag = el.tagName || "";
    // only a field one types into keeps its keys (the brush slider does not)
    if (el.isContentEditable || tag === "TEXTAREA" || tag === "SELECT" ||
        (tag === "INPUT" && !/^(range|checkbox|radio|button)$/.test(el.type || ""))) return;
    const key = e.key.toLowerCase();
    let handled = true;
    if (key === "enter") { if (game.phase === "summary") start(); else submit(false); }
    else if (key === "n" && game.phase !== "summary") skip();
    else if (key === "escape" && game.phase === "summary") stop();
    else handled = false;
    if (handled) { e.preventDefault(); e.stopImmediatePropagation(); }
  }, true);

  $("challenge-toggle").addEventListener("click", () => (game.on ? stop() : start()));
  $("challenge-submit").addEventListener("click", () => submit(false));
  $("challenge-skip").addEventListener("click", skip);
  $("summary-again").addEventListener("click", start);
  $("summary-close").addEventListener("click", stop);
  document.addEventListener("scratchcnn:model", () => { if (game.on) start(); }); // new classes

  window.scratchcnnGame = { // for tests and the curious: the state, and the per-target time
    get state() { return game; },
    THRESHOLD, ROUND,
    setSeconds(s) { game.seconds = s; },
  };
})();
