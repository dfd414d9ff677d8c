"""Browser tests: `streamlit run app.py` on a free loopback port, driven by Playwright in Debian's Chromium."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=2))   # browser timing only; a real bug fails twice
            if not Path(CHROMIUM).exists():
                item.add_marker(pytest.mark.skip(reason="Debian's chromium is not installed (scripts/test installs it as root)"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(env: dict, log_path: Path):
    """`streamlit run app.py` on a free loopback port with `env`, until the block ends: yields its URL."""
    port = _free_port()
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not start within 90 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    env = {**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
           "CTOPEN_STATE_DIR": str(tmp_path_factory.mktemp("state")), "CTOPEN_PSEUDONYM_KEY": "e2e-test-key-0123456789"}
    for k in ("SOCRATA_USERNAME", "SOCRATA_PASSWORD", "SOCRATA_KEY_ID", "SOCRATA_KEY_SECRET"):
        env.pop(k, None)
    with serve_app(env, tmp_path_factory.mktemp("log") / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call = rep


@pytest.fixture
def page(browser, app_url, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(app_url)
    pg.get_by_text("Load", exact=True).first.wait_for()
    yield pg
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        shot(pg, f"FAILED-{request.node.name}")
    context.close()


def shot(page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact (look at them)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_idle(page, timeout: float = 60) -> None:
    """Wait until Streamlit has finished running the script (no 'Running...' status widget)."""
    page.wait_for_timeout(400)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && !document.querySelector('[data-testid=\"stSpinner\"]')", timeout=timeout * 1000)
    page.wait_for_timeout(300)


def no_exception(page) -> None:
    exc = page.locator('[data-testid="stException"]')
    assert exc.count() == 0, exc.first.inner_text()


def upload(page, label_start: str, path) -> None:
    """Set the file of the uploader whose label starts with `label_start`."""
    box = page.get_by_test_id("stFileUploader").filter(has_text=label_start).first
    box.locator('input[type="file"]').set_input_files(str(path))


# --- driving the review's pages (shared by the browser tests) ---------------------------------------

def go(page, title: str) -> None:
    page.get_by_role("link", name=title, exact=True).first.click()
    page.get_by_role("heading", name=title).first.wait_for()
    wait_idle(page, timeout=120)
    no_exception(page)


def metric(page, label_start: str) -> str:
    box = page.get_by_test_id("stMetric").filter(has_text=label_start).first
    return box.get_by_test_id("stMetricValue").inner_text().strip()


def card(page, column: str):
    """The Transform page's bordered card for one column."""
    label = page.get_by_text(f"What to do with “{column}”", exact=False).first
    return label.locator("xpath=ancestor::div[@data-testid='stLayoutWrapper'][1]")


def choose(page, container, label: str, option: str) -> None:
    """Pick an option of a Streamlit selectbox (by its label) inside a container."""
    box = container.get_by_test_id("stSelectbox").filter(has_text=label).first
    box.scroll_into_view_if_needed()
    box.locator("input").first.click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).first.click()
    wait_idle(page)


def pick(page, column: str, action: str, until) -> None:
    """Click a column's action until what it should show appears (a click during a rerun can be lost)."""
    for _ in range(4):
        card(page, column).get_by_text(action, exact=True).first.click()
        wait_idle(page)
        try:
            until().wait_for(timeout=15_000)
            return
        except Exception:  # noqa: BLE001 - try the click again
            continue
    until().wait_for(timeout=5_000)


def generalize(page, column: str, level_label: str, kind: str | None = None) -> None:
    pick(page, column, "Generalize", lambda: card(page, column).get_by_role("slider").first)
    c = card(page, column)
    if kind:
        choose(page, c, "Kind of values", kind)
        c = card(page, column)
    slider = c.get_by_role("slider").first
    slider.focus()
    for _ in range(8):   # step right until the slider shows the wanted level
        if level_label in (slider.get_attribute("aria-valuetext") or ""):
            break
        slider.press("ArrowRight")
        wait_idle(page)
        c = card(page, column)
        slider = c.get_by_role("slider").first
        slider.focus()
    assert level_label in (slider.get_attribute("aria-valuetext") or ""), slider.get_attribute("aria-valuetext")


def visible(locator):
    """The first match that is on screen (other tabs hold widgets with the same labels)."""
    for i in range(locator.count()):
        if locator.nth(i).is_visible():
            return locator.nth(i)
    raise AssertionError(f"nothing visible matches {locator}")


def fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True).first
    box.fill(value)
    box.press("Tab")
    wait_idle(page)


def describe_required(page, title: str, description: str, agency: str, email: str, category: str,
                      frequency: str) -> None:
    """Fill the Describe page's required metadata."""
    from ctopen.metadata import LICENSE_NAMES
    fill(page, "Title", title)
    desc = page.get_by_label("Description", exact=True).first
    desc.fill(description)
    desc.press("Tab")
    wait_idle(page)
    fill(page, "Agency", agency)
    fill(page, "Contact email", email)
    choose(page, page, "Category", category)
    choose(page, page, "Update frequency", frequency)
    choose(page, page, "Public license type", LICENSE_NAMES[0])


def download_bundle(page, folder: Path) -> Path:
    """Press Publish's bundle button and save the ZIP."""
    import re
    with page.expect_download() as info:
        page.get_by_role("button", name=re.compile("bundle", re.I)).first.click()
    path = Path(folder) / "bundle.zip"
    info.value.save_as(path)
    return path
