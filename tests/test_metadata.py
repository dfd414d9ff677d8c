"""Metadata: validation tables (acronyms, missing fields, bad category, bad email, unclear titles), the
completeness score, the Socrata and DCAT-US renderings, suggestions from real files, and the CLI."""
import json

import pandas as pd
import pytest

from ctopen import metadata as md
from ctopen import settings
from ctopen.cli import main
from ctopen.load import load
from tests.conftest import COVID, DRUG, LICENSES, REAL_ESTATE, real_file

COMPLETE = {
    "title": "Accidental Drug Related Deaths in Connecticut, 2012-2018",
    "description": ("A listing of each accidental death associated with drug overdose in Connecticut from 2012 to 2018, "
                    "from the Office of the Chief Medical Examiner's investigations, with the drugs found."),
    "category": "Health and Human Services",
    "agency": "Office of the Chief Medical Examiner",
    "row_label": "Death",
    "tags": ["overdose", "opioids"],
    "source_link": "https://portal.ct.gov/ocme",
    "geographic_unit": "Municipality",
    "temporal_coverage": "2012-01-01 to 2018-12-31",
    "data_provided_by": "Office of the Chief Medical Examiner",
    "contact_email": "ocme.data@ct.gov",
    "update_frequency": "Monthly",
    "license": "Public Domain",
    "columns": {"Date": "Date of death", "Age": "Age in years at death", "Last updated": "When the row last changed"},
    "notes": "Counts for the latest months may rise as toxicology results come in.",
}
COLUMNS = ["Date", "Age", "Last updated"]


def checks_of(meta, columns=None):
    return {(f.check, f.field) for f in md.validate(meta, columns=columns).findings}


def test_complete_metadata_scores_100():
    v = md.validate(COMPLETE, columns=COLUMNS)
    assert v.complete and v.score == 100, [f.message for f in v.findings]
    assert not [f for f in v.findings if f.severity in ("error", "warning")]


def test_empty_metadata_scores_0_and_lists_every_required_field():
    v = md.validate({}, columns=COLUMNS)
    assert not v.complete and v.score == 0
    assert {f.field for f in v.findings if f.check == "missing" and f.severity == "error"} == set(md.REQUIRED)


@pytest.mark.parametrize("key", md.REQUIRED)
def test_missing_required_field_is_an_error_and_blocks_complete(key):
    v = md.validate({**COMPLETE, key: ""}, columns=COLUMNS)
    assert ("missing", key) in {(f.check, f.field) for f in v.findings if f.severity == "error"}
    assert not v.complete and v.score < 100


@pytest.mark.parametrize("title,token,spelled", [
    ("DPH Accidental Drug Deaths", "DPH", "Department of Public Health"),
    ("Pre-Trial Inmates Held by DOC", "DOC", "Department of Correction"),
    ("DEEP State Park Visits in Connecticut", "DEEP", "Department of Energy and Environmental Protection"),
    ("Registered Vehicles by Town (DMV)", None, None),            # defined in place: acceptable
    ("OPM Real Estate Sales, 2001-2022", "OPM", "Office of Policy and Management"),
    ("State Licenses and Credentials in CT", "CT", "Connecticut"),
    ("Monthly EMS Calls in Hartford", "EMS", "emergency medical services"),
    ("HVAC Permits Issued in New Haven", "HVAC", None),           # unknown acronym: flagged, no expansion
    ("COVID-19 Tests, Cases and Deaths by Town", None, None),     # widely understood
    ("Real Estate Sales by ZIP Code", None, None),
    ("Title IV Grants to Connecticut Schools", None, None),       # a Roman numeral is not an acronym
])
def test_acronyms_in_titles(title, token, spelled):
    found = md.acronyms(title)
    if token is None:
        assert found == []
    else:
        assert (token, spelled) in found
        v = md.validate({**COMPLETE, "title": title}, columns=COLUMNS)
        f = next(f for f in v.findings if f.check == "acronym")
        assert token in f.message and f.suggestion == spelled and not v.complete


def test_acronym_spelled_out_in_the_same_text_is_fine():
    text = "Deaths reported to the Department of Public Health. DPH updates the counts monthly."
    assert md.acronyms(text) == []


def test_acronyms_in_the_description_are_flagged_too():
    v = md.validate({**COMPLETE, "description": COMPLETE["description"] + " Data from DCF case files."}, columns=COLUMNS)
    assert ("acronym", "description") in {(f.check, f.field) for f in v.findings}


@pytest.mark.parametrize("category,ok,suggestion", [
    ("Health and Human Services", True, None), ("Public Safety", True, None),
    ("Health", False, "Health and Human Services"), ("Transport", False, "Transportation"),
    ("public safety", False, "Public Safety"), ("Weather", False, None),
])
def test_category_must_be_a_portal_category(category, ok, suggestion):
    v = md.validate({**COMPLETE, "category": category}, columns=COLUMNS)
    bad = [f for f in v.findings if f.check == "bad_category"]
    assert (not bad) is ok
    if not ok:
        assert bad[0].severity == "error" and bad[0].suggestion == suggestion and not v.complete


@pytest.mark.parametrize("email,ok", [
    ("ocme.data@ct.gov", True), ("first.last+data@po.state.ct.us", True), ("o'brien@ct.gov", True),
    ("ocme.data@ct", False), ("ocme.data", False), ("@ct.gov", False), ("a b@ct.gov", False), ("a@@ct.gov", False),
])
def test_contact_email(email, ok):
    assert (("bad_email", "contact_email") not in checks_of({**COMPLETE, "contact_email": email}, COLUMNS)) is ok


@pytest.mark.parametrize("title,unclear", [
    ("Accidental Drug Related Deaths in Connecticut, 2012-2018", False),
    ("drug_deaths_2018", True), ("ADRD export v2", True), ("Deaths.csv", True), ("ACCIDENTAL DRUG DEATHS IN CT", True),
    ("Deaths", True), ("accidentalDrugDeaths by town", True), ("Final copy of the deaths table", True),
])
def test_unclear_or_technical_titles(title, unclear):
    assert (("title_unclear", "title") in checks_of({**COMPLETE, "title": title}, COLUMNS)) is unclear


@pytest.mark.parametrize("key,value", [("update_frequency", "Every month"), ("geographic_unit", "Town"),
                                       ("license", "MIT")])
def test_values_outside_the_option_lists(key, value):
    assert ("bad_option", key) in checks_of({**COMPLETE, key: value}, COLUMNS)


def test_option_lists_are_the_portals():
    assert md.CATEGORIES == ["Business", "Education", "Environment and Natural Resources", "Government",
                             "Health and Human Services", "Housing and Development", "Local Government",
                             "Public Safety", "Tax and Revenue", "Transportation"]
    assert md.UPDATE_FREQUENCIES == ["Not updated (historical only)", "As needed", "Annually", "Bi-annually",
                                     "Quarterly", "Bi-monthly", "Monthly", "Bi-weekly", "Weekly", "Every weekday",
                                     "Daily", "Other"]
    assert md.GEOGRAPHIC_UNITS == ["Latitude/longitude", "Street address", "Parcel (block/lot)", "Census block",
                                   "Census block group", "Census tract", "Planning District", "Zip code",
                                   "Municipality", "County or county-equivalent", "State", "Other", "Not applicable"]


def test_column_descriptions_and_placeholders():
    v = md.validate({**COMPLETE, "columns": {"Date": "Date of death", "Age": "A whole number: ___"}}, columns=COLUMNS)
    f = next(f for f in v.findings if f.check == "column_descriptions")
    assert "2 of 3" in f.message and "'Age'" in f.message and not v.complete
    v = md.validate({**COMPLETE, "description": "This dataset has 10 rows, one per ___."}, columns=COLUMNS)
    assert any(f.check == "description_placeholder" and f.severity == "error" for f in v.findings)


def test_last_updated_hint_only_when_updated_and_no_such_column():
    cols = ["Date", "Age"]
    meta = {**COMPLETE, "columns": {"Date": "d", "Age": "a"}}
    assert ("last_updated_hint", None) in checks_of(meta, cols)
    assert ("last_updated_hint", None) not in checks_of(meta, cols + ["Last updated"])
    assert ("last_updated_hint", None) not in checks_of({**meta, "update_frequency": "Not updated (historical only)"}, cols)


def test_score_grows_as_fields_are_filled():
    scores = []
    meta = {}
    for key in ("title", "description", "agency", "contact_email", "update_frequency", "license"):
        meta[key] = COMPLETE[key]
        scores.append(md.validate(meta, columns=COLUMNS).score)
    assert scores == sorted(scores) and scores[-1] > scores[0] > 0


def test_validation_to_dict_has_the_public_keys():
    d = md.validate({"title": "x"}).to_dict()
    assert {"complete", "score", "findings"} <= set(d)
    assert {"check", "field", "severity", "message", "suggestion"} == set(d["findings"][0])


# --- renderings ----------------------------------------------------------------------------------

def test_socrata_payload():
    release = pd.DataFrame({"Date": ["2014-06-28", "2015-01-02"], "Age": ["41", "38"], "Last updated": ["2019-01-01", None]},
                           dtype="str")
    p = md.to_socrata(COMPLETE, release)
    assert p["name"] == COMPLETE["title"] and p["category"] == "Health and Human Services"
    assert p["tags"] == ["overdose", "opioids"] and p["attribution"] == "Office of the Chief Medical Examiner"
    assert p["attributionLink"] == "https://portal.ct.gov/ocme" and p["licenseId"] == "PUBLIC_DOMAIN"
    assert COMPLETE["notes"] in p["description"]
    assert p["metadata"]["rowLabel"] == "Death"
    custom = p["metadata"]["custom_fields"]
    groups = settings.CUSTOM_METADATA_GROUPS
    assert custom[groups["dataset_information"]]["Update Frequency"] == "Monthly"
    assert custom[groups["dataset_information"]]["Agency"] == COMPLETE["agency"]
    assert custom[groups["common_core"]]["Contact Email"] == "ocme.data@ct.gov"
    assert p["columns"] == [
        {"name": "Date", "fieldName": "date", "dataTypeName": "calendar_date", "description": "Date of death"},
        {"name": "Age", "fieldName": "age", "dataTypeName": "number", "description": "Age in years at death"},
        {"name": "Last updated", "fieldName": "last_updated", "dataTypeName": "calendar_date",
         "description": "When the row last changed"}]


def test_socrata_payload_leaves_out_empty_values_and_unfinished_suggestions():
    p = md.to_socrata({"title": "Sales", "description": "This dataset has 5 rows, one per ___.",
                       "columns": {"A": "Text: ___"}}, pd.DataFrame({"A": ["x"]}, dtype="str"))
    assert p == {"name": "Sales", "columns": [{"name": "A", "fieldName": "a", "dataTypeName": "text"}]}


# One decision of a column's portal type: what Describe previews is what the publisher sends.
PORTAL_CASES = [
    (["2013-03-21", "2014-12-01", None], "calendar_date"),
    (["2013-03-21T10:15:00", "2014-12-01"], "calendar_date"),
    (["03/21/2013", "12/01/2014"], "text"),                  # a US date is sent as text, so it is previewed as text
    (["03/21/2013 12:00:00 AM"], "text"),
    (["41", "7", "-3"], "number"),
    (["1.5", "2"], "number"),
    (["$1,200", "$35"], "text"),
    (["295,000"], "text"),
    (["20-29", "30-39", "90+"], "text"),                    # a generalized age band
    (["2014", "2015"], "number"),                           # a date generalized to the year
    (["06810", "06811"], "text"),                           # leading zeros: a code
    (["true", "False"], "checkbox"),
    (["Y", "N"], "text"),
    ([None, ""], "text"),
]


@pytest.mark.parametrize("values,expected", PORTAL_CASES)
def test_portal_type_is_one_decision_for_the_preview_and_the_publisher(values, expected):
    from ctopen.publish import socrata
    release = pd.DataFrame({"C": values}, dtype="str")
    assert md.portal_type(release["C"]) == socrata.portal_type(release["C"]) == expected
    preview = md.to_socrata({"title": "T"}, release)["columns"]
    sent = socrata.view_payload({"title": "T"}, release)["columns"]
    assert [(c["name"], c["fieldName"], c["dataTypeName"]) for c in preview] == \
        [(c["name"], c["fieldName"], c["dataTypeName"]) for c in sent] == [("C", "c", expected)]


def test_column_skeletons_follow_the_release_types():
    from ctopen.transform import apply
    t = load(real_file(DRUG))
    banded = apply(t.df, {"version": 1, "steps": [{"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2}]})
    assert md.suggest(t)["columns"]["Age"].startswith("A whole number")
    assert md.suggest(t, None, banded)["columns"]["Age"].startswith("Text")    # "20-29" is sent as text


@pytest.mark.parametrize("level,unit", [(0, "Municipality"), (1, "County or county-equivalent"), (2, "State"),
                                        (3, None)])
def test_geographic_unit_follows_the_generalized_towns(level, unit):
    from ctopen.load import Table
    from ctopen.transform import apply
    df = pd.DataFrame({"Town": ["Hartford", "Avon", "Essex", "Mystic", "Putnam"], "Count": ["1", "2", "3", "4", "5"]},
                      dtype="str")
    steps = [{"op": "generalize", "column": "Town", "hierarchy": "ct_town", "level": level}] if level else []
    release = apply(df, {"version": 1, "steps": steps})
    s = md.suggest(Table(df=df, types={"Town": "text", "Count": "integer"}, source=None), None, release)
    assert s.get("geographic_unit") == unit


def test_geographic_unit_is_the_finest_the_release_holds():
    from ctopen.transform import apply
    t = load(real_file(DRUG))
    towns = [{"op": "generalize", "column": c, "hierarchy": "ct_town", "level": 1}
             for c in ("ResidenceCity", "DeathCity", "InjuryCity")]
    geo = [{"op": "drop", "column": c} for c in ("DeathCityGeo", "ResidenceCityGeo", "InjuryCityGeo")]
    s = md.suggestions(t, None, apply(t.df, {"version": 1, "steps": towns + geo}))
    unit = next(x for x in s if x.key == "geographic_unit")
    assert unit.value == "County or county-equivalent" and "ResidenceCity" in unit.why
    state = [{**x, "level": 2} for x in towns]
    counties = [{"op": "drop", "column": c} for c in ("ResidenceCounty", "DeathCounty", "InjuryCounty")]
    assert md.suggest(t, None, apply(t.df, {"version": 1, "steps": state + geo + counties}))["geographic_unit"] == "State"


def test_field_names_are_unique_api_names():
    taken = set()
    assert [md.field_name(c, taken) for c in ["Total cases ", "Total Cases", "1st dose", "Rate (%)"]] == [
        "total_cases", "total_cases_2", "_1st_dose", "rate"]


@pytest.mark.parametrize("frequency,iso", [
    ("Monthly", "R/P1M"), ("Annually", "R/P1Y"), ("Quarterly", "R/P3M"), ("Weekly", "R/P1W"), ("Daily", "R/P1D"),
    ("Bi-weekly", "R/P2W"), ("Bi-monthly", "R/P2M"), ("Bi-annually", "R/P6M"), ("As needed", "irregular"),
    ("Not updated (historical only)", None),
])
def test_dcat_accrual_periodicity(frequency, iso):
    record = md.to_dcat({**COMPLETE, "update_frequency": frequency})
    assert record.get("accrualPeriodicity") == iso


def test_dcat_record():
    r = md.to_dcat(COMPLETE, identifier="https://data.ct.gov/d/rybz-nyjw", modified="2026-11-01")
    assert r["@type"] == "dcat:Dataset" and r["title"] == COMPLETE["title"]
    assert r["keyword"] == ["overdose", "opioids"] and r["modified"] == "2026-11-01"
    assert r["publisher"] == {"@type": "org:Organization", "name": "Office of the Chief Medical Examiner"}
    assert r["contactPoint"]["hasEmail"] == "mailto:ocme.data@ct.gov"
    assert r["identifier"] == "https://data.ct.gov/d/rybz-nyjw" and r["accessLevel"] == "public"
    assert r["temporal"] == "2012-01-01/2018-12-31" and r["theme"] == ["Health and Human Services"]
    assert r["license"].startswith("https://creativecommons.org/")


# --- suggestions ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name,unit,start", [
    (DRUG, "Municipality", "2012-"), (REAL_ESTATE, "Street address", "2022-"), (LICENSES, "Street address", None),
    (COVID, "Municipality", "2020-03-24"),
])
def test_suggestions_from_real_files(name, unit, start):
    table = load(real_file(name))
    s = md.suggest(table)
    assert s["geographic_unit"] == unit
    if start:
        assert s["temporal_coverage"].startswith(start) and " to " in s["temporal_coverage"]
    assert f"{len(table.df):,} rows" in s["description"] and md.PLACEHOLDER in s["description"]
    assert set(s["columns"]) == {str(c) for c in table.df.columns}
    assert md.validate(s, columns=list(table.df.columns)).complete is False    # suggestions are never enough alone


def test_suggestions_follow_the_release_table():
    table = load(real_file(DRUG))
    release = table.df.drop(columns=["Date", "ResidenceCity", "DeathCity", "InjuryCity", "DeathCityGeo",
                                     "ResidenceCityGeo", "InjuryCityGeo", "Location", "LocationifOther"])
    s = md.suggest(table, release=release)
    assert "temporal_coverage" not in s and "Date" not in s["columns"]
    assert s["geographic_unit"] == "County or county-equivalent"


# --- CLI --------------------------------------------------------------------------------------------

def test_metadata_validate_cli(tmp_path, capsys):
    r = tmp_path / "r.json"
    r.write_text(json.dumps({"version": 1, "steps": [], "metadata": {**COMPLETE, "contact_email": "bad@"}}))
    assert main(["metadata", "validate", str(r), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["complete"] is False and 0 < out["score"] < 100
    assert any(f["check"] == "bad_email" for f in out["findings"])
    assert main(["metadata", "validate", str(r), "--strict"]) == 1
    r.write_text(json.dumps({"version": 1, "steps": [], "metadata": COMPLETE}))
    capsys.readouterr()
    assert main(["metadata", "validate", str(r), "--json", "--strict"]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == 100


def test_metadata_validate_cli_against_a_file(tmp_path, capsys):
    r = tmp_path / "r.json"
    r.write_text(json.dumps({"version": 1, "steps": [{"op": "drop", "column": "ID"}], "metadata": COMPLETE}))
    assert main(["metadata", "validate", str(r), "--file", str(real_file(DRUG)), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    msg = next(f["message"] for f in out["findings"] if f["check"] == "column_descriptions")
    assert "of 40 published column(s)" in msg and "'ID'" not in msg


def test_metadata_cli_renderings_and_bad_json(tmp_path, capsys):
    r = tmp_path / "r.json"
    r.write_text(json.dumps({"metadata": COMPLETE}))
    assert main(["metadata", "dcat", str(r), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accrualPeriodicity"] == "R/P1M"
    assert main(["metadata", "socrata", str(r), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["licenseId"] == "PUBLIC_DOMAIN"
    r.write_text("{not json")
    assert main(["metadata", "validate", str(r)]) == 2
    assert capsys.readouterr().err.startswith("error: The recipe file r.json is not valid JSON")


def test_temporal_coverage_comes_from_the_data_not_the_generalized_release():
    from ctopen.load import load
    from ctopen.transform import apply
    from ctopen import metadata as md
    from tests.conftest import DRUG, real_file
    t = load(real_file(DRUG))
    years = apply(t.df, {"version": 1, "steps": [{"op": "generalize", "column": "Date", "hierarchy": "date", "level": 3}]})
    assert md.suggest(t, None, years)["temporal_coverage"] == "2012-01-01 to 2018-12-31"


def test_cli_metadata_socrata_with_the_file_prints_what_publish_sends(tmp_path, capsys):
    """`metadata socrata R.json --file F` is the Review's portal view: the release's columns, typed as sent."""
    import json
    from ctopen.cli import main
    from ctopen.load import load
    from ctopen.review import Review
    src = tmp_path / "f.csv"
    src.write_text("Name,Date,Age\n" + "".join(f"P{i},03/21/2013,{30 + i % 3}\n" for i in range(12)))
    recipe = {"version": 1, "steps": [{"op": "drop", "column": "Name"},
                                      {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2}],
              "metadata": {"title": "Ages"}}
    (tmp_path / "r.json").write_text(json.dumps(recipe))
    assert main(["metadata", "socrata", str(tmp_path / "r.json"), "--file", str(src), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = Review(load(src).df, recipe).portal_view.view
    assert printed["columns"] == expected["columns"]
    assert {c["name"]: c["dataTypeName"] for c in printed["columns"]} == {"Date": "text", "Age": "text"}
