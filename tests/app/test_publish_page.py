"""The Publish page with AppTest: empty state, preview with masking, the gate and the exception form,
bundle without credentials, publish private then make public against the SODA emulator, the plan."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from streamlit.testing.v1 import AppTest

from ctopen.detect import ColumnRole, Detection
from ctopen.load import load
from ctopen.publish import log as plog
from tests.soda_emulator import SodaEmulator

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "publish.py")
CSV = (b"Name,Town,Count\n" + b"".join(f"Person {i},{['Hartford', 'Avon'][i % 2]},{i}\n".encode() for i in range(10)))
USER, PASSWORD = "officer@ct.gov", "page-Secret-99"
ENV = ("SOCRATA_USERNAME", "SOCRATA_PASSWORD", "SOCRATA_KEY_ID", "SOCRATA_KEY_SECRET", "SOCRATA_APP_TOKEN")


@pytest.fixture(autouse=True)
def no_creds(monkeypatch):
    for v in ENV:
        monkeypatch.delenv(v, raising=False)


def detection(t):
    cols = [ColumnRole("Name", "direct", "PERSON", 0.9, ["header says name"]),
            ColumnRole("Town", "quasi", "CT_TOWN", 0.9, ["CT town names"]),
            ColumnRole("Count", "other", "NONE", 0.5, ["numbers"])]
    return Detection(rows=len(t.df), engine="test", columns=cols)


def app(steps=None, exception=None, target=None, k=None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    t = load(CSV, name="people.csv")
    at.session_state["table"] = t
    at.session_state["detection"] = detection(t)
    at.session_state["detection_for"] = t.source.sha256
    recipe = {"version": 1, "source": t.source.to_dict(), "roles": {}, "steps": steps or [], **({"k": k} if k else {}),
              "metadata": {"title": "People by town", "description": "Counts of people by town.",
                           "category": "Government", "tags": ["towns"], "columns": {"Count": "How many"}},
              "target": target or {}}
    if exception:
        recipe["exception"] = exception
    at.session_state["recipe"] = recipe
    return at.run()


DROP = [{"op": "drop", "column": "Name"}]


def button(at, label):
    return next(b for b in at.button if b.label == label)


def test_empty_state_without_a_file():
    # through app.py: the empty state links to the Load page, which needs the app's navigation
    at = AppTest.from_file(str(Path(PAGE).parents[1] / "app.py"), default_timeout=60).run()
    at.switch_page("pages/publish.py")
    at.run()
    assert not at.exception and at.title[0].value == "Publish"
    assert "No file is loaded yet" in at.info[0].value and not at.button


def test_preview_masks_identifiers_and_shows_types_and_metadata():
    at = app()
    assert not at.exception
    preview = at.dataframe[0].value
    assert "Person 1" not in preview["Name"].tolist()        # masked on screen
    types = at.dataframe[1].value
    assert dict(zip(types["Column"], types["Portal type"])) == {"Name": "text", "Town": "text", "Count": "number"}
    assert types.set_index("Column").loc["Count", "Description"] == "How many"
    assert any("People by town" in m.value for m in at.markdown)
    fields = at.table[0].value
    assert "Government" in fields["Value"].tolist()


def test_preview_masks_a_renamed_identifier():
    """A rename step moves the direct identifier "Name" to "Person": still masked in the preview."""
    at = app(steps=[{"op": "rename", "column": "Name", "to": "Person"}])
    assert not at.exception, at.exception
    preview = at.dataframe[0].value
    assert "Person" in preview.columns and "Name" not in preview.columns
    assert not any(v.startswith("Person ") for v in preview["Person"].tolist())   # masked on screen
    assert preview["Person"].str.startswith("P").all()
    assert "Blocked" in at.error[0].value                                        # and the gate still counts it


def test_the_report_and_the_bundle_are_built_when_downloaded(monkeypatch):
    from ctopen.publish import bundle
    from ctopen.review import Review
    built = []
    real = Review.report
    monkeypatch.setattr(Review, "report", lambda self, **kw: built.append(kw) or real(self, **kw))
    monkeypatch.setattr(bundle, "to_zip", lambda *a, **kw: built.append("zip") or b"")
    at = app(steps=DROP)
    at.text_input(key="pub_reviewer").set_value("A. Officer").run()
    assert not at.exception, at.exception
    assert "Download the publication bundle (ZIP)" in [d.label for d in at.download_button]
    assert built == []                               # nothing built on a rerun of the page


def test_blocked_gate_then_exception_recorded():
    at = app()
    assert "Blocked" in at.error[0].value
    assert any("Direct identifiers are still in the release: Name" in m.value for m in at.markdown)
    assert not [d for d in at.download_button if "bundle" in d.label]          # nothing to publish
    at.text_area(key="pub_exc_why").set_value("too short")
    at.text_input(key="pub_exc_by").set_value("A. Officer")
    button(at, "Record the exception").click()
    at.run()
    assert "exception" not in at.session_state["recipe"] and any("Not recorded" in e.value for e in at.error)
    at.text_area(key="pub_exc_why").set_value("A public register of residents by town; the names are the point.")
    button(at, "Record the exception").click()
    at.run()
    assert at.session_state["recipe"]["exception"]["by"] == "A. Officer"
    assert "Passed by a recorded exception" in at.warning[0].value


def test_what_changed_and_bundle_without_credentials():
    at = app(steps=DROP)
    assert not at.exception
    assert "Passed" in at.success[0].value
    assert any("Columns dropped: Name." in m.value for m in at.markdown)
    labels = [d.label for d in at.download_button]
    assert "Download the publication bundle (ZIP)" in labels
    assert "Download the privacy review report (HTML, printable)" in labels
    assert any("No portal credentials" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == "Publish privately"]


def test_publish_private_then_make_public(monkeypatch):
    with SodaEmulator(username=USER, password=PASSWORD) as emu:
        monkeypatch.setenv("SOCRATA_USERNAME", USER)
        monkeypatch.setenv("SOCRATA_PASSWORD", PASSWORD)
        at = app(steps=DROP, target={"portal": emu.url})
        assert not at.exception
        at.text_input(key="pub_reviewer").set_value("Jane Reviewer")
        button(at, "Publish privately").click()
        at.run()
        assert not at.exception and not at.error
        (ident, ds), = emu.datasets.items()
        assert not ds.public and ds.published and len(ds.rows) == 10 and "name" not in ds.rows[0]
        assert ds.view["name"] == "People by town"
        assert f"Dataset {ident} is private" in at.success[-1].value
        assert at.session_state["recipe"]["target"]["dataset_id"] == ident
        assert at.text_input(key="pub_dataset_id").value == ident     # the next click updates this dataset
        assert [b.label for b in at.button if b.label == "Update the dataset"]
        make = button(at, "Make public")
        assert make.disabled                                # only after the review is confirmed
        at.checkbox(key="pub_reviewed").check()
        at.run()
        button(at, "Make public").click()
        at.run()
        assert emu.datasets[ident].public and at.session_state["recipe"]["target"]["dataset_id"] == ident
        assert any(f"Dataset {ident} is public" in m.value for m in at.success)
        assert len(emu.datasets) == 1
        assert [e.status for e in plog.entries()][:2] == ["public", "private"]
        assert "Jane Reviewer" in {e.by for e in plog.entries()}
        # nothing the page shows holds the password
        shown = " ".join(str(e.value) for e in list(at.markdown) + list(at.success) + list(at.info))
        assert PASSWORD not in shown


def test_publish_failure_is_one_sentence_and_nothing_public(monkeypatch):
    with SodaEmulator(username=USER, password="another-password") as emu:
        monkeypatch.setenv("SOCRATA_USERNAME", USER)
        monkeypatch.setenv("SOCRATA_PASSWORD", PASSWORD)
        at = app(steps=DROP, target={"portal": emu.url})
        button(at, "Publish privately").click()
        at.run()
        assert not at.exception
        assert "did not accept the credentials" in at.error[0].value and PASSWORD not in at.error[0].value
        assert emu.public_ids() == [] and emu.datasets == {}


def test_data_access_plan_row():
    at = app(steps=DROP)
    at.radio(key="pub_dap_portal").set_value("Open Data")
    button(at, "Add or update this dataset's row").click()
    at.run()
    result = at.session_state["dap_result"][1]
    ws = load_workbook(io.BytesIO(result.content))[result.sheet]
    assert ws["B2"].value == "People by town" and ws["E2"].value == "planned"
    assert "Download the Data Access Plan" in [d.label for d in at.download_button]
