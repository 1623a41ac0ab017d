"""The drawing page in a real Chromium (Playwright), against `scratchcnn serve` on the shipped weights.

Needs Debian's Chromium and Playwright for Python (Playwright's own browser download is not used):
    apt-get install -y chromium && pip install playwright
Without them these tests skip; with SCRATCHCNN_REQUIRE_BROWSER=1 (CI) the skip is a failure.
A failing test saves a screenshot under $SCRATCHCNN_SCREENSHOTS (default: test-screenshots/); the
shapes and game tests also save their views there at 1280x900 and 390x844, for a person to look at.
"""

import os
import re
import shutil
from pathlib import Path

import pytest

import numpy as np

from digits import DIGITS, place
from drawn_shapes import DRAWN
from drawn_shapes import place as place_box
from webserver import running_server
from scratchcnn import shapes

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("SCRATCHCNN_CHROMIUM", "/usr/bin/chromium")
# without the networking flags Chromium stalls on start-up in a sandbox with no internet
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL = "apt-get install -y chromium && pip install playwright"
SCREENSHOTS = Path(os.environ.get("SCRATCHCNN_SCREENSHOTS", "test-screenshots"))
CANVAS = 280  # the page's canvas resolution; strokes below are in its pixels


def _unavailable(reason: str):
    if os.environ.get("SCRATCHCNN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}; SCRATCHCNN_REQUIRE_BROWSER=1 forbids skipping (install: {INSTALL})")
    pytest.skip(f"{reason}; install with: {INSTALL}")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed")
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        _unavailable(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server():
    with running_server(None) as srv:  # every shipped model (digits and shapes)
        yield srv


def _open(browser, server, request, **context_options):
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **context_options})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url)
    page.wait_for_selector("body[data-ready='1']")
    failed_before = request.session.testsfailed
    return context, page, errors, failed_before


def _close(context, page, errors, failed_before, request):
    if request.session.testsfailed > failed_before:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser, server, request):
    state = _open(browser, server, request)
    yield state[1]
    _close(*state, request)


@pytest.fixture
def touch_page(browser, server, request):
    state = _open(
        browser,
        server,
        request,
        has_touch=True,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
    )
    yield state[1]
    _close(*state, request)


def to_page(page, strokes):
    """Canvas-pixel strokes -> page (CSS pixel) coordinates, whatever size the canvas is shown at."""
    box = page.get_by_test_id("canvas").bounding_box()
    k = box["width"] / CANVAS
    return [[(box["x"] + x * k, box["y"] + y * k) for x, y in s] for s in strokes]


def mouse_draw(page, strokes):
    for stroke in to_page(page, strokes):
        page.mouse.move(*stroke[0])
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*point, steps=3)
        page.mouse.up()


def touch_draw(page, strokes):
    """Real touch input through the DevTools protocol: the page sees pointerType 'touch'."""
    cdp = page.context.new_cdp_session(page)
    for stroke in to_page(page, strokes):
        x, y = stroke[0]
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
        for x, y in stroke[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def settled_prediction(page) -> str:
    """The prediction text once every requested prediction has been answered."""
    page.wait_for_function("document.body.dataset.busy === '0'")
    return page.get_by_test_id("prediction").text_content()


def input_ink(page) -> float:
    """Sum of the enlarged 28x28 input's pixels (0 when nothing is drawn)."""
    return page.evaluate("""() => {
        const c = document.querySelector('[data-testid=input28]');
        const d = c.getContext('2d').getImageData(0, 0, 28, 28).data;
        let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i]; return s / 255; }""")


@pytest.mark.parametrize(
    "digit, left, top, size, brush",
    [
        (7, 40, 40, 200, 18),  # large and centred
        (3, 10, 10, 90, 10),  # small, top-left corner
        (0, 150, 120, 120, 14),  # bottom-right quarter
        (4, 30, 60, 180, 30),  # thick brush
        (2, 100, 20, 150, 6),  # thin brush
        (8, 60, 40, 190, 18),
    ],
)
def test_mouse_drawn_digit_is_recognised(page, digit, left, top, size, brush):
    page.get_by_label("Brush").fill(str(brush))
    mouse_draw(page, place(DIGITS[digit], left, top, size))
    assert settled_prediction(page) == str(digit)
    bars = page.get_by_test_id("probabilities").locator("li")
    assert bars.count() == 10
    top_bar = bars.nth(digit)
    assert "top" in top_bar.get_attribute("class")
    assert input_ink(page) > 20
    # the feature maps of all four conv/pool layers are drawn
    assert page.locator("#maps canvas").count() == 4
    assert re.search(rf"Prediction {digit}\b", page.locator("[aria-live=polite]").text_content())


def test_clear_button_and_key_empty_the_canvas_and_prediction(page):
    mouse_draw(page, place(DIGITS[1], 60, 40, 200))
    assert settled_prediction(page) == "1"
    page.get_by_test_id("clear").click()
    assert settled_prediction(page) == ""
    assert input_ink(page) == 0
    mouse_draw(page, place(DIGITS[7], 60, 40, 200))
    assert settled_prediction(page) == "7"
    page.keyboard.press("c")
    assert settled_prediction(page) == ""


def test_undo_removes_the_last_stroke(page):
    four = place(DIGITS[4], 40, 40, 200)
    mouse_draw(page, four[:1])  # the open "L" of the 4
    first = settled_prediction(page)
    ink_first = input_ink(page)
    mouse_draw(page, four[1:])  # its vertical stroke
    assert settled_prediction(page) == "4"
    page.get_by_test_id("undo").click()
    assert settled_prediction(page) == first
    assert input_ink(page) == pytest.approx(ink_first, rel=1e-6)
    page.keyboard.press("z")  # the shortcut undoes the remaining stroke
    assert settled_prediction(page) == ""


def test_touch_drawing(touch_page):
    box = touch_page.get_by_test_id("canvas").bounding_box()
    assert box["width"] <= 390 and box["width"] == pytest.approx(box["height"], abs=1)
    touch_draw(touch_page, place(DIGITS[7], 40, 40, 200))
    assert settled_prediction(touch_page) == "7"


def test_about_panel_shows_the_model(page, server):
    info = server.request("GET", "/api/model")[2]
    page.get_by_role("button", name="About the model").click()
    text = page.locator("#about").text_content()
    assert f"{info['num_params']:,}" in text
    if info["test_accuracy"] is not None:
        assert f"{100 * info['test_accuracy']:.2f}%" in text
    links = page.locator("#about a")
    assert links.count() == 3
    assert all(links.nth(i).get_attribute("href").endswith(".ipynb") for i in range(3))


def test_brush_keys_change_the_width(page):
    brush = page.get_by_label("Brush")
    before = int(brush.input_value())
    page.get_by_test_id("canvas").focus()
    page.keyboard.press("]")
    assert int(brush.input_value()) == before + 2
    page.keyboard.press("[")
    page.keyboard.press("[")
    assert int(brush.input_value()) == before - 2


# ---------------------------------------------------------------- shapes and the naming game


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def generated(label, seed):
    """A generated drawing of `label` as canvas strokes (scratchcnn.shapes, a seed no model saw)."""
    strokes, brush, _ = shapes.draw(label, np.random.default_rng([777, seed]))
    return [s[:: max(1, len(s) // 60)].tolist() + [s[-1].tolist()] for s in strokes], brush


def draw_dense(page, strokes):
    for stroke in to_page(page, strokes):
        page.mouse.move(*stroke[0])
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*point)
        page.mouse.up()


@pytest.fixture
def shapes_page(browser, server, request):
    state = _open(browser, server, request)
    state[1].goto(server.url + "?model=shapes")
    state[1].wait_for_selector("body[data-ready='1']")
    yield state[1]
    _close(*state, request)


def test_the_switch_and_the_url_choose_the_model_and_its_bars(page):
    assert page.get_by_test_id("model-digits").get_attribute("aria-pressed") == "true"
    page.get_by_test_id("model-shapes").click()
    assert "model=shapes" in page.url
    bars = page.get_by_test_id("probabilities").locator("li")
    assert bars.count() == 12
    assert [bars.nth(k).locator(".label").text_content() for k in range(12)] == list(shapes.CLASSES)
    page.get_by_test_id("model-digits").click()
    assert "model=" not in page.url and bars.count() == 10


def test_shapes_mode_reads_generated_shapes_and_shows_the_label(shapes_page):
    page = shapes_page
    assert page.get_by_test_id("model-shapes").get_attribute("aria-pressed") == "true"
    right = 0
    for k, label in enumerate(shapes.CLASSES):
        strokes, brush = generated(label, k)
        page.get_by_label("Brush").fill(str(int(round(min(40, max(6, brush))))))
        draw_dense(page, strokes)
        got = settled_prediction(page)
        right += got == label
        if label == "star":
            assert page.locator("#maps canvas").count() == 4  # feature maps for shapes too
            shot(page, "shapes-star-1280x900")
        page.get_by_test_id("clear").click()
    assert right >= 11, f"{right} of 12 generated shapes read right in the browser"


def test_shapes_drawn_like_a_person_are_read_in_the_browser(shapes_page):
    page = shapes_page
    page.get_by_label("Brush").fill("14")
    wrong = []
    for label, ways in DRAWN.items():
        for strokes in ways[:2]:
            mouse_draw(page, place_box(strokes, 50, 50, 180, 180))
            got = settled_prediction(page)
            if got != label:
                wrong.append((label, got))
            page.keyboard.press("c")
    assert len(wrong) <= 2, f"read wrong: {wrong}"


def test_clear_can_be_undone(page):
    mouse_draw(page, place(DIGITS[4], 40, 40, 200))
    assert settled_prediction(page) == "4"
    page.get_by_test_id("clear").click()
    assert settled_prediction(page) == ""
    page.get_by_test_id("undo").click()
    assert settled_prediction(page) == "4"  # both strokes back


def play(page, draw_target, focus_elsewhere=False):
    """One target of the game: draw it, press Enter, return the feedback once judged."""
    target = page.get_by_test_id("challenge-target").text_content()
    draw_target(target)
    if focus_elsewhere:  # Enter must check the drawing even when a button has the focus
        page.get_by_test_id("challenge-skip").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('[data-testid=challenge-feedback]').className.includes(' ')")
    return target, page.get_by_test_id("challenge-feedback").text_content()


def test_naming_game_hides_the_answer_judges_once_and_moves_on(page):
    page.get_by_test_id("challenge-toggle").click()
    assert page.get_by_test_id("challenge-progress").text_content() == "(1 of 6)"
    target = page.get_by_test_id("challenge-target").text_content()
    mouse_draw(page, place(DIGITS[int(target)], 40, 40, 200))
    settled_prediction(page)
    assert not page.get_by_test_id("prediction").is_visible()  # hidden until checked
    assert page.get_by_test_id("answer-hidden").is_visible()
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('[data-testid=challenge-feedback]').className.includes('good')")
    assert page.get_by_test_id("challenge-feedback").text_content().startswith("Yes!")
    assert page.get_by_test_id("prediction").is_visible()
    assert page.get_by_test_id("challenge-score").text_content() == "1 / 1"
    # a right answer moves on by itself, to a clean canvas
    page.wait_for_function("document.querySelector('[data-testid=challenge-progress]').textContent === '(2 of 6)'")
    assert settled_prediction(page) == ""

    target = page.get_by_test_id("challenge-target").text_content()
    wrong = "1" if target not in ("1", "7") else "0"
    mouse_draw(page, place(DIGITS[int(wrong)], 40, 40, 200))
    page.get_by_test_id("challenge-submit").click()
    page.wait_for_function("document.querySelector('[data-testid=challenge-feedback]').className.includes('bad')")
    feedback = page.get_by_test_id("challenge-feedback").text_content()
    assert re.search(rf"looks like an? {wrong} \(\d+(\.\d)?%\), not an? {target}\.", feedback), feedback
    assert page.get_by_test_id("challenge-top").locator("li").count() == 3
    shot(page, "game-judged-1280x900")
    page.get_by_test_id("challenge-submit").focus()
    page.keyboard.press("Enter")  # judged once: Enter now moves on, it does not score again
    assert page.get_by_test_id("challenge-progress").text_content() == "(3 of 6)"
    assert page.get_by_test_id("challenge-score").text_content() == "1 / 2"
    page.keyboard.press("z")  # the drawing wiped by moving on comes back with Undo
    assert settled_prediction(page) == wrong


def test_starting_the_game_keeps_the_drawing_for_undo(page):
    mouse_draw(page, place(DIGITS[3], 40, 40, 200))
    assert settled_prediction(page) == "3"
    page.get_by_test_id("challenge-toggle").click()
    assert "Undo" in page.get_by_test_id("challenge-feedback").text_content()
    page.keyboard.press("z")
    page.wait_for_function("document.body.dataset.busy === '0'")
    page.get_by_test_id("challenge-toggle").click()  # leave the game: the answer shows again
    assert settled_prediction(page) == "3"


def test_time_running_out_judges_the_drawing(page):
    page.evaluate("scratchcnnGame.setSeconds(1)")
    page.get_by_test_id("challenge-toggle").click()
    page.wait_for_function("document.querySelector('[data-testid=challenge-feedback]').className.includes('bad')",
                           timeout=10000)
    assert "Time's up" in page.get_by_test_id("challenge-feedback").text_content()
    assert page.get_by_test_id("challenge-score").text_content() == "0 / 1"


@pytest.mark.parametrize("viewport", [(1280, 900), (390, 844)])
def test_a_whole_round_of_shapes_ends_in_a_summary(browser, server, request, viewport):
    context, page, errors, failed_before = _open(
        browser, server, request, viewport={"width": viewport[0], "height": viewport[1]})
    try:
        page.goto(server.url + "?model=shapes")
        page.wait_for_selector("body[data-ready='1']")
        page.get_by_test_id("challenge-toggle").click()
        seen = []
        for i in range(6):
            assert page.get_by_test_id("challenge-progress").text_content() == f"({i + 1} of 6)"

            def draw_target(label):
                strokes, brush = generated(label, 100 + i)
                page.get_by_label("Brush").fill(str(int(round(min(40, max(6, brush))))))
                draw_dense(page, strokes)

            target, feedback = play(page, draw_target, focus_elsewhere=i % 2 == 1)
            seen.append((target, feedback))
            if i == 2:
                shot(page, f"game-shapes-judged-{viewport[0]}x{viewport[1]}")
            if page.get_by_test_id("challenge-feedback").get_attribute("class").endswith("bad"):
                page.keyboard.press("Enter")
            else:
                page.wait_for_function(
                    f"document.querySelector('[data-testid=game-summary]').hidden === false || "
                    f"document.querySelector('[data-testid=challenge-progress]').textContent !== '({i + 1} of 6)'")
        summary = page.get_by_test_id("game-summary")
        summary.wait_for()
        items = summary.locator("[data-testid=summary-item]")
        assert items.count() == 6
        assert all(items.nth(k).locator("img").get_attribute("src").startswith("data:image/png")
                   for k in range(6))
        targets = [t for t, _ in seen]
        assert [items.nth(k).text_content().split(":")[0][2:] for k in range(6)] == targets
        right = sum(f.startswith("Yes") for _, f in seen)
        assert page.get_by_test_id("summary-score").text_content() == f"{right} of 6 right"
        assert right >= 5, seen
        shot(page, f"game-summary-{viewport[0]}x{viewport[1]}")
        page.keyboard.press("Enter")  # another round, whatever has the focus
        assert page.get_by_test_id("challenge-progress").text_content() == "(1 of 6)"
    finally:
        _close(context, page, errors, failed_before, request)
