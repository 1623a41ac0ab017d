"""The drawing page in a real Chromium (Playwright), against `scratchcnn serve` on the shipped weights.

Needs Debian's Chromium and Playwright for Python (Playwright's own browser download is not used):
    apt-get install -y chromium && pip install playwright
Without them these tests skip; with SCRATCHCNN_REQUIRE_BROWSER=1 (CI) the skip is a failure.
A failing test saves a screenshot under $SCRATCHCNN_SCREENSHOTS (default: test-screenshots/).
"""

import os
import re
import shutil
from pathlib import Path

import pytest

from digits import DIGITS, place
from webserver import running_server
from scratchcnn.zoo import find_weights

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


def test_challenge_mode_judges_and_keeps_score(page):
    page.get_by_test_id("challenge-toggle").click()
    target = int(page.get_by_test_id("challenge-target").text_content())
    mouse_draw(page, place(DIGITS[target], 40, 40, 200))
    page.get_by_test_id("challenge-submit").click()
    page.wait_for_function("document.querySelector('[data-testid=challenge-feedback]').textContent !== ''")
    assert "Yes" in page.get_by_test_id("challenge-feedback").text_content()
    assert page.get_by_test_id("challenge-score").text_content() == "1 / 1"

    page.get_by_role("button", name=re.compile("Another digit")).click()
    target = int(page.get_by_test_id("challenge-target").text_content())
    assert settled_prediction(page) == ""  # a new round starts on a clean canvas
    wrong = 1 if target != 1 else 7
    mouse_draw(page, place(DIGITS[wrong], 40, 40, 200))
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('[data-testid=challenge-feedback]').textContent !== ''")
    feedback = page.get_by_test_id("challenge-feedback").text_content()
    assert re.search(rf"looks like an? {wrong}\b", feedback), feedback
    assert page.get_by_test_id("challenge-score").text_content() == "1 / 2"


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
