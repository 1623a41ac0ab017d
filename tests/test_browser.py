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
    # the feature maps of every conv, batch-norm and pool layer are drawn, one tile per map
    from scratchcnn import load_model

    shown = [layer for layer in load_model(find_weights()).layers
             if type(layer).__name__ in ("Conv2D", "BatchNorm2D", "MaxPool2D")]
    assert page.locator("#maps .layer-block").count() == len(shown)
    channels = [getattr(layer, "out_channels", None) or getattr(layer, "num_features", None)
                for layer in shown]
    channels = [c if c is not None else channels[k - 1] for k, c in enumerate(channels)]  # pool: as before
    assert page.locator("#maps [data-testid=map-tile]").count() == sum(channels)
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
    assert links.count() == len(list((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb")))
    for i in range(links.count()):  # each opens a rendered page, not a download
        href = links.nth(i).get_attribute("href")
        status, headers, body = server.request("GET", href)
        assert status == 200 and headers.getheader("Content-Type").startswith("text/html"), href
        assert "<h1>" in body


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
            assert page.locator("#maps .layer-block").count() == 4  # feature maps for shapes too
            assert page.locator("#maps [data-testid=map-tile]").count() == 16 + 16 + 32 + 32
            # the layer table and the logits belong to the shapes model, named by its classes
            assert "Dense(128->12)" in page.get_by_test_id("layer-table").text_content()
            assert "smiley face" in page.locator("ol.logits").text_content()
            # each class name fits its column: none runs under the bars (it did, in 1.2rem)
            assert page.eval_on_selector_all(
                "ol.logits .label", "els => els.every(e => e.scrollWidth <= e.clientWidth)")
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


# ---------------------------------------------------------------- the layer views

def _library_view(page):
    """The shipped model and the input it received for the page's current drawing, computed here
    with the library from the pixels the page sent."""
    import base64

    import numpy as np

    from scratchcnn import load_model
    from scratchcnn.preprocess import to_mnist

    payload = page.evaluate("window.scratchcnnDrawing()")
    pixels = np.frombuffer(base64.b64decode(payload["pixels"]), np.uint8).reshape(payload["height"], payload["width"])
    model = load_model(find_weights())
    x = to_mnist(pixels)[None, None].astype(model.dtype)
    return model, x, model.activations(x)


def _layer(type_name, n=0):
    """The index of the shipped digits model's n-th layer of this type (0: the first)."""
    from scratchcnn import load_model

    found = [k for k, layer in enumerate(load_model(find_weights()).layers)
             if type(layer).__name__ == type_name]
    return found[n]


def _open_map(page, layer, channel):
    page.locator(f"[data-testid=map-tile][data-layer='{layer}'][data-channel='{channel}']").click()
    page.wait_for_function("document.querySelector('[data-testid=layer-detail]').dataset.busy === '0'")
    assert page.get_by_test_id("layer-detail").is_visible()


def _click_pixel(page, row, col):
    big = page.get_by_test_id("map-large")
    box = big.bounding_box()
    h, w = int(big.get_attribute("data-h")), int(big.get_attribute("data-w"))
    page.mouse.click(box["x"] + (col + 0.5) * box["width"] / w, box["y"] + (row + 0.5) * box["height"] / h)
    page.wait_for_function("document.querySelector('[data-testid=layer-detail]').dataset.busy === '0'")


def _table(page, testid):
    """A numbers table of the detail view: (shown text as floats, exact data-value floats)."""
    import numpy as np

    cells = page.get_by_test_id(testid).locator("tr").evaluate_all(
        "rows => rows.map(r => [...r.children].map(td => [td.textContent, td.dataset.value]))")
    shown = np.array([[float(t) for t, _ in r] for r in cells])
    exact = np.array([[float(v) for _, v in r] for r in cells])
    return shown, exact


def test_enlarged_map_shows_the_filter_that_made_it(page):
    import numpy as np

    mouse_draw(page, place(DIGITS[2], 40, 40, 200))
    settled_prediction(page)
    _open_map(page, 1, 5)
    model, x, acts = _library_view(page)
    shown, exact = _table(page, "filter-weights")
    W = model.layers[1].params["W"][5, 0]
    np.testing.assert_allclose(exact, W, atol=1e-6)
    np.testing.assert_allclose(shown, np.round(W, 2), atol=0.0051)
    assert "Layer 1 Conv2D" in page.locator(".detail-title").text_content()
    big = page.get_by_test_id("map-large")
    assert big.bounding_box()["width"] >= 150  # enlarged, not a tile


def test_clicked_conv_pixel_shows_the_librarys_window_kernel_products_and_sum(page):
    import numpy as np

    from scratchcnn.reference import pad2d

    mouse_draw(page, place(DIGITS[5], 40, 40, 200))
    settled_prediction(page)
    f, i, j = 7, 11, 14
    _open_map(page, 1, f)
    _click_pixel(page, i, j)
    model, x, acts = _library_view(page)
    conv = model.layers[1]
    inp = acts[0][1][0]  # layer 1 reads layer 0's output (Normalize)
    window = pad2d(inp[None], 1, 1)[0, 0, i : i + 3, j : j + 3]
    kernel = conv.params["W"][f, 0]
    for testid, expected in (("pixel-window", window), ("pixel-kernel", kernel), ("pixel-products", window * kernel)):
        shown, exact = _table(page, testid)
        np.testing.assert_allclose(exact, expected, atol=1e-5, err_msg=testid)
        np.testing.assert_allclose(shown, expected, atol=0.0051, err_msg=testid)
    eq = page.get_by_test_id("pixel-sum")
    value = float(acts[1][1][0, f, i, j])
    assert float(eq.get_attribute("data-sum")) == pytest.approx(value, abs=1e-4)
    assert float(eq.get_attribute("data-layer-value")) == pytest.approx(value, abs=1e-6)
    shown_value = float(eq.locator(".value").text_content())
    assert shown_value == pytest.approx(value, abs=0.0006)


def test_clicked_pixel_of_the_second_conv_sums_over_its_input_channels(page):
    import numpy as np

    from scratchcnn.reference import pad2d

    mouse_draw(page, place(DIGITS[8], 40, 40, 200))
    settled_prediction(page)
    f, i, j = 3, 6, 7
    L = _layer("Conv2D", 1)
    _open_map(page, L, f)
    _click_pixel(page, i, j)
    model, x, acts = _library_view(page)
    inp = acts[L - 1][1][0]  # (C, 14, 14), the pooled maps the second convolution reads
    W = model.layers[L].params["W"][f]
    products = pad2d(inp[None], 1, 1)[0, :, i : i + 3, j : j + 3] * W
    bars = page.get_by_test_id("channel-sums").locator("button")
    assert bars.count() == W.shape[0] > 1
    sums = np.array([float(v) for v in bars.evaluate_all("bs => bs.map(b => b.dataset.value)")])
    np.testing.assert_allclose(sums, products.sum(axis=(1, 2)), atol=1e-4)
    value = float(page.get_by_test_id("pixel-sum").get_attribute("data-sum"))
    assert value == pytest.approx(float(acts[L][1][0, f, i, j]), abs=1e-4)


def test_clicked_batchnorm_pixel_shows_its_running_statistics(page):
    import numpy as np

    from scratchcnn import load_model

    if not any(type(layer).__name__ == "BatchNorm2D" for layer in load_model(find_weights()).layers):
        pytest.skip("the shipped digits model has no batch-norm layer")
    mouse_draw(page, place(DIGITS[6], 40, 40, 200))
    settled_prediction(page)
    L, f, i, j = _layer("BatchNorm2D"), 2, 12, 13
    _open_map(page, L, f)
    _click_pixel(page, i, j)
    model, x, acts = _library_view(page)
    bn = model.layers[L]
    eq = page.get_by_test_id("norm-value")
    v = float(acts[L - 1][1][0, f, i, j])
    want = (v - bn.buffers["running_mean"][f]) / np.sqrt(bn.buffers["running_var"][f] + bn.eps)
    want = want * bn.params["gamma"][f] + bn.params["beta"][f]
    assert float(eq.get_attribute("data-sum")) == pytest.approx(float(want), abs=1e-4)
    assert float(eq.get_attribute("data-layer-value")) == pytest.approx(float(acts[L][1][0, f, i, j]), abs=1e-5)
    assert "running statistics" in page.get_by_test_id("pixel-detail").text_content()


def test_clicked_pool_pixel_shows_its_window_and_the_winner(page):
    import numpy as np

    mouse_draw(page, place(DIGITS[0], 40, 40, 200))
    settled_prediction(page)
    model, x, acts = _library_view(page)
    L = _layer("MaxPool2D")
    y = acts[L][1][0]  # the first MaxPool2D: (C, 14, 14)
    f = int(np.argmax(y.reshape(len(y), -1).max(axis=1)))
    i, j = np.unravel_index(int(np.argmax(y[f])), y[f].shape)
    _open_map(page, L, f)
    _click_pixel(page, int(i), int(j))
    window = acts[L - 1][1][0, f, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
    shown, exact = _table(page, "pool-window")
    np.testing.assert_allclose(exact, window, atol=1e-5)
    winner = page.get_by_test_id("pool-window").locator("td.winner")
    assert winner.count() == 1
    assert float(winner.get_attribute("data-value")) == pytest.approx(float(window.max()), abs=1e-5)
    assert float(page.get_by_test_id("pool-value").get_attribute("data-value")) == pytest.approx(float(y[f, i, j]), abs=1e-5)


def test_layer_table_numbers_every_layer_with_its_output_shape(page, server):
    info = server.request("GET", "/api/model")[2]
    rows = page.get_by_test_id("layer-table").locator("tbody tr")
    page.wait_for_function("document.querySelectorAll('[data-testid=layer-table] tbody tr').length > 0")
    assert rows.count() == len(info["layers"])
    for k, layer in enumerate(info["layers"]):
        cells = rows.nth(k).locator("td").all_text_contents()
        assert cells[0] == str(k) and cells[2] == "\u00d7".join(map(str, layer["output_shape"]))
        assert ("then ReLU" in cells[3]) == layer["relu_after"]
        assert ("the logits" in cells[3]) == (k == len(info["layers"]) - 1)  # the last layer only


def test_logits_are_shown_beside_the_probabilities(page):
    mouse_draw(page, place(DIGITS[7], 40, 40, 200))
    assert settled_prediction(page) == "7"
    model, x, acts = _library_view(page)
    logits = model.forward(x)[0]
    shown = [float(t) for t in page.locator("#probabilities .logit").all_text_contents()]
    assert shown == pytest.approx([round(float(v), 1) for v in logits], abs=0.051)


def test_unanswered_request_clears_the_old_answer_and_says_so(page):
    mouse_draw(page, place(DIGITS[7], 40, 40, 200))
    assert settled_prediction(page) == "7"
    page.route("**/api/predict*", lambda route: route.abort())
    mouse_draw(page, place(DIGITS[1], 200, 40, 60)[:1])
    page.wait_for_function("document.body.dataset.busy === '0'")
    assert page.get_by_test_id("prediction").text_content() == ""
    status = page.get_by_test_id("server-status")
    assert status.is_visible() and "No answer from the server" in status.text_content()
    assert "7" not in page.locator("#confidence").text_content()
    page.unroute("**/api/predict*")
    page.get_by_test_id("undo").click()  # the server answers again: the mark goes
    assert settled_prediction(page) == "7"
    assert not status.is_visible()


def test_shortcuts_work_while_the_brush_slider_has_focus(page):
    mouse_draw(page, place(DIGITS[1], 60, 40, 200))
    assert settled_prediction(page) == "1"
    brush = page.get_by_label("Brush")
    brush.focus()
    before = int(brush.input_value())
    page.keyboard.press("]")
    assert int(brush.input_value()) == before + 2
    page.keyboard.press("c")
    assert settled_prediction(page) == ""


def test_touch_screen_shows_no_keyboard_hints_and_keeps_the_prediction_in_view(touch_page):
    assert not touch_page.locator("kbd").first.is_visible()
    assert not touch_page.locator(".hint.keys").is_visible()
    touch_draw(touch_page, place(DIGITS[4], 40, 40, 200))
    assert settled_prediction(touch_page) == "4"
    assert touch_page.evaluate("window.scrollY") == 0  # drawing did not scroll the page
    box = touch_page.get_by_test_id("prediction").bounding_box()
    assert box["y"] + box["height"] <= 844, box  # visible under the canvas without scrolling
    assert touch_page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing cut off sideways


def _save(page, name, full_page=False):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def test_screenshots_desktop_1280x900(page):
    """For a person to look at: test-screenshots/desktop-1280x900*.png. The three top cards end
    within 8rem of each other (no large empty area under one of them)."""
    mouse_draw(page, place(DIGITS[3], 40, 40, 200))
    assert settled_prediction(page) == "3"
    bottoms = page.evaluate("[...document.querySelectorAll('main > .draw, main > .result, main > .sees')]"
                            ".map(c => c.getBoundingClientRect().bottom)")
    assert max(bottoms) - min(bottoms) < 128, bottoms
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    _save(page, "desktop-1280x900.png")
    _open_map(page, 1, 3)
    _click_pixel(page, 10, 13)
    _save(page, "desktop-1280x900-full.png", full_page=True)
    page.get_by_role("button", name="About the model").click()
    _save(page, "desktop-1280x900-about.png", full_page=True)


def test_screenshots_phone_390x844(touch_page):
    """For a person to look at: test-screenshots/phone-390x844*.png."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    touch_draw(touch_page, place(DIGITS[3], 40, 40, 200))
    assert settled_prediction(touch_page) == "3"
    _save(touch_page, "phone-390x844.png")
    tile = touch_page.locator(f"[data-testid=map-tile][data-layer='{_layer('Conv2D', 1)}'][data-channel='2']")
    tile.scroll_into_view_if_needed()
    tile.tap()
    # In two of about eight full runs on the loaded machine this tap, right after the scroll,
    # started no inspection (cause not found; alone the test always passed): tap once more.
    started = "document.querySelector('[data-testid=layer-detail]').dataset.busy !== undefined"
    try:
        touch_page.wait_for_function(started, timeout=10_000)
    except PlaywrightTimeoutError:
        tile.tap()
    touch_page.wait_for_function("document.querySelector('[data-testid=layer-detail]').dataset.busy === '0'")
    _save(touch_page, "phone-390x844-full.png", full_page=True)
    touch_page.get_by_role("button", name="About the model").tap()
    summary = touch_page.locator("#about-summary")
    assert summary.evaluate("e => getComputedStyle(e).overflowX") == "auto"  # scrolls, not cut off
    assert touch_page.evaluate("document.documentElement.scrollWidth") <= 390
    _save(touch_page, "phone-390x844-about.png", full_page=True)


# ---------------------------------------------------------------- honest answers (explain.js)


def scribble(style, seed):
    """A scribble as canvas strokes (scratchcnn.scribbles, a held-out style and seed)."""
    from scratchcnn import scribbles

    strokes, brush = scribbles.draw(style, np.random.default_rng([888, seed]))
    return [s[:: max(1, len(s) // 60)].tolist() + [s[-1].tolist()] for s in strokes], brush


def set_brush(page, brush):
    page.evaluate("""(b) => { const r = document.getElementById('brush');
        r.value = b; r.dispatchEvent(new Event('input', {bubbles: true})); }""", round(brush))


def overlay_alpha(page, testid) -> float:
    """Mean alpha (0-1) of an overlay canvas, 0 when it is missing or empty."""
    return page.evaluate("""(id) => {
        const c = document.querySelector(`[data-testid=${id}]`);
        if (!c) return 0;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let s = 0; for (let i = 3; i < d.length; i += 4) s += d[i]; return s / 255 / (d.length / 4); }""",
                         testid)


def test_a_scribble_is_answered_unknown_with_its_closest_digit(page):
    strokes, brush = scribble("crosshatch", 1)
    set_brush(page, min(brush, 12))
    draw_dense(page, strokes)
    assert settled_prediction(page) == "?"
    text = page.locator("#confidence").text_content()
    assert text.startswith("That does not look like a digit; closest: "), text
    assert page.evaluate("document.body.dataset.unknown") == "1"


def test_a_tap_is_too_little_ink(page):
    mouse_draw(page, [[(140, 140), (141, 141)]])
    assert settled_prediction(page) == "?"
    assert "draw it bigger" in page.locator("#confidence").text_content()


def test_why_lays_the_saliency_over_the_input_and_the_canvas(page):
    mouse_draw(page, place(DIGITS[7], 40, 40, 200))
    assert settled_prediction(page) == "7"
    assert overlay_alpha(page, "saliency28") == 0
    page.get_by_test_id("why-toggle").check()
    page.wait_for_function("document.querySelector('[data-testid=why-text]').textContent.startsWith('Why 7')")
    page.wait_for_function("document.body.dataset.busy === '0'")
    assert overlay_alpha(page, "saliency28") > 0.05
    assert overlay_alpha(page, "saliency-canvas") > 0.01
    page.get_by_test_id("why-toggle").uncheck()
    assert overlay_alpha(page, "saliency28") == 0


def test_class_models_show_one_picture_per_class(page):
    page.get_by_test_id("classmodels-toggle").click()
    page.wait_for_selector("[data-testid=classmodels] figure")
    captions = page.locator("[data-testid=classmodels] figcaption").all_text_contents()
    assert [c.split(" ")[0] for c in captions] == [str(d) for d in range(10)], captions


def test_the_game_says_when_it_cannot_tell_what_the_drawing_is(page):
    page.get_by_test_id("challenge-toggle").click()
    strokes, brush = scribble("scrawl", 2)
    set_brush(page, min(brush, 12))
    target, feedback = play(page, lambda t: draw_dense(page, strokes))
    assert feedback.startswith("I can't tell what that is - try drawing"), feedback


@pytest.mark.parametrize("viewport", [(1280, 900), (390, 844)], ids=lambda v: f"{v[0]}x{v[1]}")
def test_screenshots_of_the_honest_answers(browser, server, request, viewport):
    """For a person to look at: test-screenshots/why-<size>.png (a 7 with its saliency) and
    unknown-<size>.png (a scribble, answered unknown)."""
    w, h = viewport
    state = _open(browser, server, request, viewport={"width": w, "height": h})
    page = state[1]
    try:
        mouse_draw(page, place(DIGITS[7], 40, 40, 200))
        assert settled_prediction(page) == "7"
        page.get_by_test_id("why-toggle").check()
        page.wait_for_function(
            "document.querySelector('[data-testid=why-text]').textContent.startsWith('Why 7')")
        page.get_by_test_id("classmodels-toggle").click()
        page.wait_for_selector("[data-testid=classmodels] figure")
        assert page.evaluate("document.documentElement.scrollWidth") <= w
        _save(page, f"why-{w}x{h}.png", full_page=True)
        page.keyboard.press("c")
        page.get_by_test_id("canvas").scroll_into_view_if_needed()
        strokes, brush = scribble("loops", 3)
        set_brush(page, min(brush, 12))
        draw_dense(page, strokes)
        assert settled_prediction(page) == "?"
        _save(page, f"unknown-{w}x{h}.png")
    finally:
        _close(*state, request)
