"""A file too large for the app, in a real browser: a 160 MB CSV of 2.2 million claim lines (over ENGINE_AUTO_MB, the
app's own threshold, as shipped) opened by its path, reviewed on DuckDB: the note, the risk over every record, a
saved recipe applied to the whole file, the commands. Screenshots in test-artifacts/large-file-*.png."""
from __future__ import annotations

import json
import os

import pytest

from benchmarks.bench_engine import generate, recipe
from ctopen import settings
from tests.e2e.conftest import metric, no_exception, serve_app, shot, upload, wait_idle

ROWS = 2_200_000


@pytest.fixture(scope="module")
def large_app(tmp_path_factory, browser):
    folder = tmp_path_factory.mktemp("extracts")
    path = generate(folder, ROWS, formats=("csv",))["csv"]
    assert path.stat().st_size > settings.ENGINE_AUTO_MB * 2**20
    env = {**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "", "CTOPEN_DATA_FOLDERS": str(folder),
           "CTOPEN_STATE_DIR": str(tmp_path_factory.mktemp("state")), "CTOPEN_ENGINE_MEMORY": "512MB"}
    with serve_app(env, tmp_path_factory.mktemp("log") / "streamlit.log") as url:
        yield url, path


def test_a_file_too_large_for_the_app_is_reviewed_on_duckdb(large_app, browser, tmp_path):
    url, path = large_app
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(180_000)
    try:
        page.goto(url)
        page.get_by_text("Load", exact=True).first.wait_for()
        page.get_by_text("A file too large to upload?").first.click()
        page.get_by_label("Full path of the file").fill(str(path))
        page.get_by_label("Full path of the file").press("Enter")
        wait_idle(page)
        page.get_by_role("button", name="Open this file").click()
        page.get_by_text("is reviewed on DuckDB, not loaded into the app").first.wait_for()
        wait_idle(page, timeout=180)
        no_exception(page)
        assert metric(page, "Rows") == f"{ROWS:,}"
        assert page.get_by_text("On DuckDB: claims_2200000_20.csv is too large to load here").count() == 1
        shot(page, "large-file-opened")
        page.get_by_role("heading", name="First rows").first.scroll_into_view_if_needed()
        shot(page, "large-file-roles")

        page.get_by_role("button", name="Compute the risk figures on DuckDB").click()
        page.get_by_test_id("stMetric").filter(has_text="Smallest group (k)").first.wait_for()
        wait_idle(page, timeout=180)
        no_exception(page)
        assert metric(page, "Rows kept").replace(",", "").isdigit()
        page.get_by_text("Risk over every record").first.scroll_into_view_if_needed()
        shot(page, "large-file-risk")

        saved = tmp_path / "claims.recipe.json"
        saved.write_text(json.dumps(recipe()), encoding="utf-8")
        upload(page, "A saved recipe", saved)
        wait_idle(page)
        page.get_by_role("button", name="Apply claims.recipe.json on DuckDB").click()
        page.get_by_text("records written").first.wait_for()
        wait_idle(page, timeout=180)
        no_exception(page)
        assert page.get_by_role("button", name="Download the release").count() == 1
        page.get_by_text("records written").first.scroll_into_view_if_needed()
        shot(page, "large-file-applied")
        page.get_by_text("The same from a terminal, or in a warehouse").first.scroll_into_view_if_needed()
        shot(page, "large-file-commands")
    except Exception:
        shot(page, "FAILED-large-file")
        raise
    finally:
        context.close()
