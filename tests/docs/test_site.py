"""The documentation site, built and opened in a real browser.

`mkdocs build --strict` builds the site (mkdocs.yml) into this test's
output folder, a local HTTP server serves it, and headless Chromium
(Debian's `chromium` package, driven by playwright's Python package
without downloading a browser) loads the home page, one guide and one API
page. Each must render its title, the navigation and a code block, with
no console error and no request leaving localhost; the search box finds
a public name. A screenshot of each is kept in the output folder,
`runs/docs_site_test/` (printed; `runs/` is gitignored).

The site does not depend on the Keras backend: the test runs in the jax
suite only. It skips where Chromium or the `docs` extra is missing.
"""

import functools
import http.server
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time

import pytest

from tests.testing import BACKEND

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "runs" / "docs_site_test"
CHROMIUM = os.environ.get("KERAS_LS_CHROMIUM", "/usr/bin/chromium")
# Offline and quiet: no updates, syncing or background requests.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DOCS_MODULES = ("mkdocs", "material", "mkdocstrings_handlers", "playwright")

pytestmark = [
    pytest.mark.skipif(
        BACKEND != "jax",
        reason="the site does not depend on the backend: checked once, "
        "in the jax suite",
    ),
    pytest.mark.skipif(
        not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)),
        reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
    pytest.mark.skipif(
        any(importlib.util.find_spec(m) is None for m in DOCS_MODULES),
        reason="needs the docs extra (pip install -e '.[docs]')",
    ),
]

# (screenshot name, path, title, the page's first heading, a code line).
PAGES = [
    (
        "home",
        "",
        "keras_ls",
        "keras_ls: label smoothing, measured",
        "keras_ls.LabelSmoothingCrossentropy(0.1)",
    ),
    (
        "guide_schedules",
        "schedules/",
        "Scheduling ε",
        "Scheduling ε during training",
        "LabelSmoothingScheduler",
    ),
    (
        "api_losses",
        "reference/losses/",
        "keras_ls.losses",
        "keras_ls.losses",
        "keras_ls.LabelSmoothingCrossentropy",
    ),
]


@pytest.fixture(scope="module")
def site():
    """The strict build, served on localhost: yields its base URL."""
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    print(f"\ndocs site test output: {OUT}")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--site-dir",
            str(OUT / "site"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    handler = functools.partial(_QuietHandler, directory=str(OUT / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which(CHROMIUM) or CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
        )
        yield chromium
        chromium.close()


@pytest.mark.parametrize(
    "name, path, title, heading, code",
    PAGES,
    ids=[page[0] for page in PAGES],
)
def test_page_renders(site, browser, name, path, title, heading, code):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, outside = [], []
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: None if r.url.startswith(site) else outside.append(r.url),
    )
    response = page.goto(site + path, wait_until="networkidle")
    assert response is not None and response.status == 200
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)

    assert title in page.title()
    h1 = page.locator("h1").first.inner_text()
    assert h1.strip().removesuffix("¶").strip() == heading
    nav = page.locator("nav.md-nav--primary")
    assert nav.count() == 1
    nav_text = nav.inner_text()
    for section in ("Guides", "Measurements", "API reference"):
        assert section in nav_text
    blocks = page.locator("pre code")
    assert blocks.count() >= 1
    assert any(code in text for text in blocks.all_inner_texts()), code
    assert errors == []
    assert outside == []
    assert (OUT / f"{name}.png").stat().st_size > 10_000
    page.close()


def test_api_page_has_signature_docstring_sections_and_examples(site, browser):
    page = browser.new_page()
    page.goto(site + "reference/losses/", wait_until="networkidle")
    anchor = "keras_ls.losses.LabelSmoothingCrossentropy"
    doc = page.locator(f"div.doc-object:has(> h2[id='{anchor}'])")
    assert doc.count() == 1
    signature = doc.locator(".doc-signature").first.inner_text()
    assert "LabelSmoothingCrossentropy(" in signature
    assert "label_smoothing=0.1" in signature
    text = doc.inner_text()
    for part in ("Parameters:", "Raises:", "Examples:", "References"):
        assert part in text, part
    examples = " ".join(doc.locator("pre code").all_inner_texts())
    assert ">>> " in examples and "model.compile(" in examples
    page.close()


def test_search_finds_a_public_name(site, browser):
    """The site is searchable offline: Material's search index finds the
    reference section of a public class."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site, wait_until="networkidle")
    box = page.locator("input.md-search__input")
    results = page.locator(".md-search-result__item")
    # Typed key by key, as a user does: a value set at once (fill) is
    # sometimes not seen by Material's search. The index is built by a
    # web worker after the page loads: type again until it answers.
    deadline = time.monotonic() + 90
    while True:
        box.fill("")
        box.click()
        box.press_sequentially("OnlineLabelSmoothing")
        try:
            results.first.wait_for(timeout=3_000)
            break
        except PlaywrightTimeout:
            assert time.monotonic() < deadline, "the search found nothing"
    links = [
        results.nth(i).locator("a").first.get_attribute("href")
        for i in range(results.count())
    ]
    assert any("reference/losses/" in link for link in links), links
    page.screenshot(path=str(OUT / "search.png"))
    assert errors == []
    page.close()
