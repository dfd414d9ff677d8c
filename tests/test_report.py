"""The privacy review report: every section, self-contained, escaped, no data values, no secrets."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from ctopen import report
from tests.conftest import DRUG, LICENSES, real_file


class Col:
    def __init__(self, name, role, evidence):
        self.name, self.role, self.evidence = name, role, evidence


class Det:
    def __init__(self, cols):
        self.columns = cols


def people() -> pd.DataFrame:
    return pd.DataFrame({
        "Name": ["Alice Smith", "Bob Jones", "Carol White", "Dan Brown", "Eve Black", "Fay Green"],
        "Age": ["34", "36", "35", "52", "57", "55"],
        "Sex": ["F", "M", "F", "M", "F", "M"],
        "Cause": ["Fentanyl", "Heroin", "Fentanyl", "Cocaine", "Heroin", "Fentanyl"],
    }, dtype="str")


RECIPE = {
    "version": 1,
    "source": {"file": "deaths.csv", "format": "csv", "sha256": "ab" * 32},
    "roles": {"Name": "direct", "Age": "quasi", "Sex": "other", "Cause": "sensitive"},
    "decisions": [{"column": "Sex", "role": "other", "previous": "quasi", "by": "J. Officer", "at": "2026-11-20",
                   "reason": "sex alone is published in every table"}],   # as the Identify page records them
    "steps": [{"op": "drop", "column": "Name"},
              {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 3}],
    "metadata": {"title": "Accidental deaths", "description": "Deaths by age band.", "update_frequency": "Monthly",
                 "columns": {"Age": "Age band in 20 years"}},
    "eligibility": {"checklist": {"owned": {"answer": "yes", "note": "collected by OCME"}}},
    "k": 3,     # below the default 5: the exception names that k (and the column it is about)
    "exception": {"justification": "twenty-year age bands of a small program already published by statute",
                  "by": "J. Officer", "at": "2026-11-20T09:00:00+00:00", "covers": {"quasi": ["Age"], "k": 3}},
}
DETECTION = Det([Col("Name", "direct", ["header says name", "94% look like person names"]),
                 Col("Age", "quasi", ["header says age"]), Col("Sex", "quasi", ["values F/M"]),
                 Col("Cause", "sensitive", ["cause of death words"])])


@pytest.fixture
def html():
    return report.build(people(), RECIPE, detection=DETECTION, reviewer="Jane Reviewer", date="2026-11-24")


def test_every_section_is_there(html):
    assert "deaths.csv" in html and "ab" * 32 in html
    assert "collected by OCME" in html                       # eligibility answers (ctopen.eligibility section)
    assert "94% look like person names" in html               # evidence
    assert "sex alone is published in every table" in html and "(detected: quasi)" in html   # override + reason
    assert "by J. Officer on 2026-11-20" in html
    assert "Remove the column “Name”" in html and "Removed the column" in html   # step + what it did (Applied.log)
    assert "Generalize “Age” to 20-year bands" in html
    assert "PASSED" in html and "Accidental deaths" in html and "Age band in 20 years" in html
    assert "Jane Reviewer" in html and "2026-11-24" in html


def test_risk_before_and_after_are_the_real_figures(html):
    body = re.sub(r"\s+", " ", html)
    # before: 6 distinct ages -> k = 1, 6 uniques; after 20-year bands: 20-39 x3, 40-59 x3 -> k = 3
    assert re.search(r"Smallest group \(k\)</td><td>1</td><td>3</td>", body)
    assert re.search(r"Records unique on the quasi-identifiers</td><td>6</td><td>0</td>", body)


def test_self_contained_and_printable(html):
    assert html.startswith("<!DOCTYPE html>") and "@media print" in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?https?://""", html)


def test_no_data_values_in_the_report(html):
    for value in ("Alice Smith", "Bob Jones", "Fentanyl"):
        assert value not in html


def test_escapes_what_users_typed():
    recipe = {**RECIPE, "metadata": {"title": "<script>alert(1)</script>"}}
    html = report.build(people(), recipe, detection=DETECTION)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_blocked_gate_is_shown():
    recipe = {**RECIPE, "steps": []}
    html = report.build(people(), recipe, detection=DETECTION)
    assert "BLOCKED" in html and "Direct identifiers are still in the release: Name" in html


def test_without_eligibility_it_says_so():
    recipe = {k: v for k, v in RECIPE.items() if k != "eligibility"}
    assert "were not answered" in report.build(people(), recipe, detection=DETECTION)


def test_licenses_exception_is_carried_into_the_report():
    from ctopen.load import load
    t = load(real_file(LICENSES))
    names = [c for c in t.df.columns if "name" in c.lower()]
    assert names
    direct = names + ["credentialid", "fullcredentialcode", "credentialnumber", "address"]
    # a hand-written exception covers exactly what it names: the register's identifiers, the columns the stub
    # detection does not know (quasi-identifiers by default) and the smallest group
    exc = {"justification": "A public register of who holds a state license; it serves a clear public good.",
           "by": "DCP data officer", "at": "2026-11-24",
           "covers": {"direct": direct, "quasi": [c for c in t.df.columns if c not in direct], "k": 1}}
    recipe = {"version": 1, "steps": [], "roles": {c: "direct" for c in direct}, "exception": exc,
              "metadata": {"title": "State Licenses and Credentials"}}
    det = Det([Col(c, "direct", ["person names"]) for c in names])
    html = report.build(t.df, recipe, detection=det, reviewer="DCP")
    assert "PASSED BY EXCEPTION" in html and "clear public good" in html and "DCP data officer" in html


def test_drug_deaths_real_file_figures_match_risk():
    from ctopen.load import load
    from ctopen.risk import assess
    from ctopen.transform import apply
    t = load(real_file(DRUG))
    qi = ["Age", "Sex", "Race", "ResidenceCity"]
    recipe = {"version": 1, "roles": {c: "quasi" for c in qi},
              "steps": [{"op": "drop", "column": "ResidenceCity"},
                        {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2}]}
    applied = apply(t.df, recipe)
    before = report.RiskFigures.of(t.df, qi, [], 5)
    after = report.RiskFigures.of(applied.df, qi, [], 5)
    assert before.k_min == assess(t.df, qi, k=5, combinations=False).k_min == 1
    assert before.uniques == 3031 and before.records_at_risk == 4881      # SCENARIOS.md, case 1
    assert after.quasi == ["Age", "Sex", "Race"] and after.uniques < before.uniques


def test_deidentification_summary():
    assert report.deidentification_summary(RECIPE) == ("Remove the column “Name”; Generalize “Age” to 20-year bands; "
                                                       "published with identifiers by a recorded exception")
    assert report.deidentification_summary({"steps": []}) == "none"


def test_gate_figures_reused():
    from ctopen.review import Review
    recipe = {k: v for k, v in RECIPE.items() if k != "exception"}
    review = Review(people(), {**recipe, "steps": [{"op": "drop", "column": "Name"}]}, detection=DETECTION)
    g = review.gate
    assert not g.passed and g.k == 1 == review.risk.k_min  # ages as they are: everyone unique
    assert 'Smallest group (k)</td><td>1</td><td>1</td>' in re.sub(r"\s+", " ", review.report())


def test_changes_against_the_upload():
    from ctopen.transform import apply
    df = people()
    recipe = {"version": 1, "steps": [{"op": "drop", "column": "Name"},
                                      {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 4}]}
    ch = report.changes(df, apply(df, recipe))
    assert ch.dropped == ["Name"] and ch.changed == {"Age": 6} and ch.added == []
    assert ch.cells_suppressed == 6                      # level 4 is "*": every age suppressed
    assert ch.rows_before == ch.rows_after == 6 and ch.rows_suppressed == 0
    assert "Columns dropped: Name." in ch.lines()
    same = report.changes(df, apply(df, {"version": 1, "steps": []}))
    assert same.lines() == ["Nothing changed: the release is the uploaded file as it is."]


def test_changes_counts_removed_records():
    from ctopen.transform import apply
    df = people()
    recipe = {"version": 1, "steps": [{"op": "suppress", "k": 2, "columns": ["Sex", "Cause"], "max_share": 1.0}]}
    applied = apply(df, recipe)
    ch = report.changes(df, applied)
    assert ch.rows_suppressed == len(df) - len(applied.df) > 0


def test_the_publication_section_names_the_revision_and_the_job():
    html = report.build(people(), RECIPE, detection=DETECTION, reviewer="Jane Reviewer", date="2026-11-24",
                        published={"status": "private", "dataset_id": "abcd-1234", "url": "https://data.ct.gov/d/abcd-1234",
                                   "revision_id": 7, "job": {"status": "successful"}})
    body = re.sub(r"\s+", " ", html)
    assert "<th scope='col'>Revision</th>" in body and "<td>7</td>" in body and "status: successful" in body
