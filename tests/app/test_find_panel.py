"""The Find tab of the Load page (ui.find_panel) with AppTest: saved catalog copy, filters, uploaded
inventory, and starting a review that pre-fills the metadata."""
import io
import json
from pathlib import Path

import openpyxl
from streamlit.testing.v1 import AppTest

from ctopen import inventory

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
FIXTURE = ROOT / "tests" / "data" / "ct_data_catalog_soda.json"


def save_catalog_copy():
    """What a fetch from data.ct.gov leaves in the state folder (the tests never reach the network)."""
    datasets = json.loads(FIXTURE.read_text())["datasets"]
    inventory._write_cache({"portal": "data.ct.gov", "fetched_at": "2026-11-20T10:00:00+00:00",
                            "datasets": {i: {"label": i, "rows": rows} for i, rows in datasets.items()}, "failed": {}})


def run() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60).run()        # Load is the first page


def test_no_saved_copy_says_what_to_do():
    at = run()
    assert not at.exception
    assert any("No copy of the CT Data Catalog is saved yet" in i.value for i in at.info)


def test_saved_catalog_filters_and_starts_a_review():
    save_catalog_copy()
    at = run()
    assert not at.exception
    assert any("CT Data Catalog, 13 datasets" in c.value and "saved copy" in c.value for c in at.caption)
    agency = next(s for s in at.selectbox if s.label == "Agency")
    assert "Department of Consumer Protection" in agency.options
    agency.set_value("Department of Consumer Protection")
    at.run()
    assert any(c.value.startswith("2 of 13 datasets shown") for c in at.caption)
    next(t for t in at.text_input if t.label.startswith("Search")).input("licenses")
    at.run()
    assert any(c.value.startswith("1 of 13 datasets shown") for c in at.caption)
    start = next(b for b in at.button if b.label.startswith("Start a review"))
    assert start.disabled                                            # nothing chosen yet
    next(s for s in at.selectbox if s.label == "Dataset to start a review from").set_value(0)
    at.run()
    next(b for b in at.button if b.label.startswith("Start a review")).click()
    at.run()
    assert not at.exception
    recipe = at.session_state["recipe"]
    assert recipe["metadata"]["title"] == "State Licenses and Credentials"
    assert recipe["metadata"]["agency"] == "Department of Consumer Protection"
    assert recipe["metadata"]["description"].startswith("Every credential issued")
    assert recipe["inventory"]["url"] == "https://data.ct.gov/d/ngch-56tr"
    assert recipe["inventory"]["raw"]["source_system"] == "System 5"
    assert any("Review started from" in s.value for s in at.success)


def test_published_filter():
    save_catalog_copy()
    at = run()
    next(s for s in at.selectbox if s.label.startswith("Published on the portal")).set_value("Not yet published")
    at.run()
    assert any(c.value.startswith("5 of 13 datasets shown") for c in at.caption)


def test_uploaded_inventory_says_what_could_not_be_mapped():
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Agency: Department of Revenue Services"])
    ws.append([])
    ws.append(["Dataset Name", "Description", "Publicly Available", "Retention"])
    ws.append(["Sales Tax Collections", "Sales tax collected by town.", "No", "7 years"])
    buf = io.BytesIO()
    wb.save(buf)
    at = run()
    uploader = next(u for u in at.file_uploader if "inventory file" in u.label)
    uploader.set_value(("hvdi.xlsx", buf.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    at.run()
    assert not at.exception
    assert any("update frequency, link, contact, category" in w.value for w in at.warning)
    assert any("Department of Revenue Services" in w.value and "title rows" in w.value for w in at.warning)
    assert any(c.value.startswith("1 of 1 datasets shown") for c in at.caption)


def test_unreadable_upload_is_one_plain_error():
    at = run()
    uploader = next(u for u in at.file_uploader if "inventory file" in u.label)
    uploader.set_value(("list.csv", b"Colour,Size\nred,3\n", "text/csv"))
    at.run()
    assert not at.exception
    assert any("names the datasets" in e.value for e in at.error)
