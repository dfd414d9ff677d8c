"""The whole app in the browser, from a user's action to the updated figures on screen (goal <= 1 s median).

Measures (each the median of 5, after one warm-up):
- at 100k generated rows: a slider change on the Transform page -> the updated k;
- on the drug-deaths file (5,105 rows, the app's sample) with the whole review's recipe (DRUG_STEPS): a role
  change on Identify -> the role counts,
  a transform change on Transform (Age's level) -> the updated k, and the Publish page's render (the click on
  its link -> the gate's verdict). For each, "run done" is also printed: the click to the end of Streamlit's
  rerun (the sidebar's status drawn again), which is what the officer waits for before the next click.

Baseline in the same run: the core work behind one edit at 100k rows (apply the recipe + assess the risk),
in-process, so the ratio shows what Streamlit and the browser add. Needs Debian's chromium.
`CTOPEN_BENCH_BROWSER=drug` runs only the drug-deaths measures, `=100k` only the first.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import cache_dir, median_seconds, report

ROOT = Path(__file__).resolve().parent.parent
ROWS = 100_000
CHROMIUM = "/usr/bin/chromium"
REPEAT = 5

# the end of a rerun: no "Running..." status widget and no spinner, polled on every animation frame
IDLE_JS = """() => !document.querySelector('[data-testid="stStatusWidget"]')
                  && !document.querySelector('[data-testid="stSpinner"]')"""


def _file() -> Path:
    path = cache_dir() / "browser_100k.csv"
    if not path.exists():
        rng = np.random.default_rng(7)
        towns = pd.read_csv(ROOT / "ctopen" / "data" / "ct_towns.csv")["town"].to_numpy()
        pd.DataFrame({
            "Date": (pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3000, ROWS), unit="D")).strftime("%Y-%m-%d"),
            "Age": rng.integers(0, 100, ROWS).astype(str),
            "Sex": rng.choice(["Male", "Female"], ROWS),
            "Race": rng.choice(["White", "Black", "Asian", "Hispanic", "Other"], ROWS),
            "Town": rng.choice(towns, ROWS),
            "Visits": rng.integers(0, 20, ROWS).astype(str),
        }).to_csv(path, index=False)
    return path


def _core_edit(path: Path) -> float:
    from ctopen.load import load
    from ctopen.risk import assess
    from ctopen.transform import apply
    t = load(path)
    recipe = {"version": 1, "steps": [{"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2}]}
    qi = ["Date", "Age", "Sex", "Race", "Town"]
    return median_seconds(lambda: assess(apply(t.df, recipe).df, qi, k=5, combinations=False), repeat=5)


@contextlib.contextmanager
def _server():
    """`streamlit run app.py` on a free loopback port; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "", "CTOPEN_STATE_DIR": tempfile.mkdtemp()}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def _page(url: str):
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM_ARGS
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(180_000)
        page.goto(url)
        page.get_by_text("Load", exact=True).first.wait_for()
        try:
            yield page
        finally:
            browser.close()


def _timed(page, act, changed_js: str, arg=None) -> tuple[float, float]:
    """(seconds to the updated figures, seconds to the end of the rerun) after `act()`."""
    start = time.perf_counter()
    act()
    page.wait_for_function(changed_js, arg=arg, polling="raf", timeout=180_000)
    figures = time.perf_counter() - start
    page.wait_for_function(IDLE_JS, polling="raf", timeout=180_000)
    done = time.perf_counter() - start
    page.wait_for_timeout(300)   # the next action starts from a settled page
    return figures, done


def _examples_changed(page, column: str, act) -> tuple[float, float]:
    """A Transform card's slider moved: its examples (drawn after the figures at the top, in the same run)
    show the new level once the updated k is on screen."""
    js = """([column, before]) => {
        const label = Array.from(document.querySelectorAll('p')).find(p => p.innerText.includes('What to do with “' + column + '”'));
        const card = label && label.closest('[data-testid="stLayoutWrapper"]');
        const shown = card && Array.from(card.querySelectorAll('[data-testid="stCaptionContainer"]'))
            .map(e => e.innerText).find(t => t.startsWith('Examples:'));
        return before === null ? shown : (shown && shown.includes('→') && shown !== before); }"""
    before = page.evaluate(js, [column, None])
    return _timed(page, act, js, [column, before])


def _card(page, column: str):
    label = page.get_by_text(f"What to do with “{column}”").first
    return label.locator("xpath=ancestor::div[@data-testid='stLayoutWrapper'][1]")


def _slider_changes(page, column: str, label: str) -> list[tuple[float, float]]:
    from tests.e2e.conftest import wait_idle
    card = _card(page, column)
    card.get_by_text("Generalize", exact=True).first.click()
    card.get_by_role("slider").first.wait_for()
    wait_idle(page, timeout=120)
    k_value = page.get_by_test_id("stMetric").filter(has_text="Smallest group (k)").first.get_by_test_id("stMetricValue")
    times = []
    for i in range(REPEAT + 1):
        slider = card.get_by_role("slider").first
        slider.focus()
        k_before = k_value.inner_text()
        t = _examples_changed(page, column, lambda: slider.press("ArrowRight" if i % 2 == 0 else "ArrowLeft"))
        times.append(t)
        print(f"  {label} {i + 1}: k {k_before} -> {k_value.inner_text()} in {t[0]:.2f} s (run done {t[1]:.2f} s)", flush=True)
    return times[1:]   # the first change warms caches


def _go(page, title: str) -> None:
    from tests.e2e.conftest import wait_idle
    page.get_by_role("link", name=title, exact=True).first.click()
    page.get_by_role("heading", name=title).first.wait_for()
    wait_idle(page, timeout=300)


def bench_100k() -> float:
    from tests.e2e.conftest import upload, wait_idle
    path = _file()
    with _server() as url, _page(url) as page:
        upload(page, "Spreadsheet to review", path)
        page.get_by_text(f"{ROWS:,}", exact=True).first.wait_for()
        wait_idle(page, timeout=180)
        _go(page, "Transform")
        times = _slider_changes(page, "Age", "slider change")
    return statistics.median(t[0] for t in times)


def _role_changes(page) -> list[tuple[float, float]]:
    """Identify: Sex between quasi-identifier and other, through the "Change a role" form."""
    from tests.e2e.conftest import wait_idle
    page.get_by_label("Your name (recorded with each change)", exact=True).fill("Benchmark")
    page.get_by_label("Your name (recorded with each change)", exact=True).press("Tab")
    wait_idle(page)
    quasi = page.get_by_test_id("stMetric").filter(has_text="Quasi-identifiers").first.get_by_test_id("stMetricValue")
    times = []
    for i in range(REPEAT + 1):
        form = page.get_by_test_id("stForm").first
        columns = form.get_by_test_id("stMultiSelect").first
        columns.locator("input").first.click()
        page.keyboard.type("Sex")
        page.get_by_role("option", name="Sex", exact=True).first.click()
        page.keyboard.press("Escape")
        role = form.get_by_test_id("stSelectbox").first
        role.locator("input").first.click()
        page.get_by_role("option", name=re.compile("^Other" if i % 2 == 0 else "^Quasi")).first.click()
        form.get_by_label("Reason for the change", exact=True).fill(f"benchmark change number {i}: a reason in words")
        before = quasi.inner_text()
        submit = form.get_by_role("button", name="Record the change")
        t = _timed(page, submit.click, """before => { const m = Array.from(document.querySelectorAll('[data-testid="stMetric"]'))
            .find(e => e.innerText.includes('Quasi-identifiers'));
            return m && m.querySelector('[data-testid="stMetricValue"]').innerText.trim() !== before; }""", before)
        times.append(t)
        print(f"  role change {i + 1}: quasi-identifiers {before} -> {quasi.inner_text()} in {t[0]:.2f} s "
              f"(run done {t[1]:.2f} s)", flush=True)
    return times[1:]


def _publish_renders(page) -> list[tuple[float, float]]:
    """From Describe, a click on Publish's link -> the privacy gate's verdict on screen."""
    times = []
    for i in range(REPEAT + 1):
        _go(page, "Describe")
        link = page.get_by_role("link", name="Publish", exact=True).first
        t = _timed(page, link.click, """() => Array.from(document.querySelectorAll('h3'))
            .some(h => h.innerText.includes('Privacy gate'))
            && Array.from(document.querySelectorAll('[data-testid="stAlert"]'))
            .some(a => /(Passed|Blocked): /.test(a.innerText))""")
        times.append(t)
        print(f"  Publish render {i + 1}: verdict in {t[0]:.2f} s (run done {t[1]:.2f} s)", flush=True)
    return times[1:]


# the review of tests/e2e/test_whole_review.py, as a saved recipe: the roles shown accepted, then these steps
DRUG_STEPS = [{"op": "drop", "column": "ID"},
              {"op": "generalize", "column": "Date", "hierarchy": "date", "level": 3},
              {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2},
              *({"op": "generalize", "column": c, "hierarchy": "ct_town", "level": 1}
                for c in ("ResidenceCity", "DeathCity", "InjuryCity")),
              *({"op": "drop", "column": c} for c in ("DeathCityGeo", "ResidenceCityGeo", "InjuryCityGeo")),
              {"op": "suppress", "k": 5, "max_share": 0.6}]   # over the quasi-identifiers: a role change changes it


def bench_drug() -> dict[str, list[tuple[float, float]]]:
    import json

    from tests.e2e.conftest import upload, wait_idle
    recipe = Path(tempfile.mkdtemp()) / "drug.recipe.json"
    recipe.write_text(json.dumps({"version": 1, "steps": DRUG_STEPS}))
    out = {}
    with _server() as url, _page(url) as page:
        page.get_by_role("button", name=re.compile("Try a sample")).click()
        page.get_by_text("5,105", exact=True).first.wait_for()
        wait_idle(page, timeout=180)
        _go(page, "Identify")
        page.get_by_role("button", name=re.compile("Accept the roles shown")).click()
        wait_idle(page, timeout=120)
        _go(page, "Transform")
        upload(page, "Upload a saved recipe", recipe)
        _card(page, "Age").get_by_role("slider").first.wait_for()   # the recipe is applied (its message goes at once)
        wait_idle(page, timeout=180)
        _go(page, "Identify")
        out["a role change on Identify -> role counts"] = _role_changes(page)
        _go(page, "Transform")
        out["a transform change (Age level) on Transform -> k"] = _slider_changes(page, "Age", "transform change")
        out["the Publish page's render (link -> verdict)"] = _publish_renders(page)
    return out


def main() -> None:
    if not Path(CHROMIUM).exists():
        print("browser: skipped (Debian's chromium is not installed)")
        return
    which = os.environ.get("CTOPEN_BENCH_BROWSER", "all")
    if which in ("all", "drug"):
        for name, times in bench_drug().items():
            report(f"browser, drug deaths (5,105 rows): {name} (median of {REPEAT})",
                   statistics.median(t[0] for t in times), goal=1.0)
            report("  the same, to the end of the rerun (sidebar included)", statistics.median(t[1] for t in times))
    if which in ("all", "100k"):
        browser_median = bench_100k()
        core = _core_edit(_file())
        report(f"browser: slider change to updated k at {ROWS:,} rows (median of {REPEAT})", browser_median, goal=1.0)
        report("  baseline: the same edit's core work (apply + assess) in-process", core)
        print(f"  the browser round trip is {browser_median / core:.0f}x the core work: the rest is Streamlit's "
              "rerun of the page and the sidebar, the websocket and drawing", flush=True)


if __name__ == "__main__":
    main()
