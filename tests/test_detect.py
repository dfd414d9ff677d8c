"""ctopen.detect: roles on the real CT files (issue 3's expectations), and exact cases on small frames."""
import json

import pandas as pd
import pytest

from ctopen import rules
from ctopen.detect import Detection, build_engine, detect, header_hits, mask, mask_spans
from ctopen.recognizers import looks_like_person_name, person_name_share
from tests.conftest import COVID, DRUG, LICENSES, PRETRIAL, REAL_ESTATE, real_file


@pytest.fixture(scope="module")
def engine():
    return build_engine()


def _roles(path, engine) -> tuple[dict, Detection]:
    from ctopen.load import load
    d = detect(load(real_file(path)).df, engine=engine)
    return d.roles(), d


def frame(**cols) -> pd.DataFrame:
    n = max(len(v) for v in cols.values())
    return pd.DataFrame({k: pd.array((list(v) * (n // len(v) + 1))[:n], dtype="str") for k, v in cols.items()})


# --- real files -----------------------------------------------------------------------------------

DRUG_FLAGS = ["Heroin", "Cocaine", "Fentanyl", "FentanylAnalogue", "Oxycodone", "Oxymorphone", "Ethanol",
              "Hydrocodone", "Benzodiazepine", "Methadone", "Amphet", "Tramad", "Morphine_NotHeroin",
              "Hydromorphone", "OpiateNOS", "AnyOpioid"]


def test_drug_deaths_roles(engine):
    roles, d = _roles(DRUG, engine)
    assert roles["ID"] == "direct" and d.column("ID").entity == "record_id"
    for col in ["Date", "Age", "Sex", "Race", "ResidenceCity", "ResidenceCounty", "DeathCity", "InjuryCity"]:
        assert roles[col] == "quasi", col
    for col in ["DeathCityGeo", "ResidenceCityGeo", "InjuryCityGeo"]:
        assert roles[col] == "quasi" and d.column(col).entity == "coordinates", col
    assert roles["COD"] == "sensitive" and d.column("COD").entity == "health"
    for col in DRUG_FLAGS:
        assert roles[col] == "sensitive", col
    assert [c for c in d.columns if c.role == "direct"] == [d.column("ID")]
    assert d.column("Age").entity == "age" and d.column("Sex").entity == "sex"
    assert d.column("ResidenceCounty").entity == "county" and d.column("ResidenceCity").entity == "town"
    # free-text drug findings ("Bupren", "hydromorph", "U-47700") and other health text
    for col in ["Other", "OtherSignifican", "DescriptionofInjury"]:
        assert (roles[col], d.column(col).entity) == ("sensitive", "health"), col
    assert roles["Location"] == "other" and roles["InjuryPlace"] == "other"


def test_drug_deaths_id_examples_are_masked_and_evidence_says_unique(engine):
    _, d = _roles(DRUG, engine)
    col = d.column("ID")
    assert col.examples and all(e.endswith("••••") and "-" not in e for e in col.examples)
    assert any("unique" in e for e in col.evidence)


def test_licenses_roles(engine):
    roles, d = _roles(LICENSES, engine)
    for col in ["name", "address", "credentialnumber", "fullcredentialcode", "credentialid"]:
        assert roles[col] == "direct", col
    assert roles["city"] == "quasi" and roles["zip"] == "quasi"
    assert d.column("zip").entity == "zip"
    assert roles["status"] == "other" and roles["type"] == "other"
    assert d.column("name").entity == "person_name" and d.column("address").entity == "street_address"
    assert roles["businessname"] != "direct" and roles["active"] == "other"


def test_pretrial_roles(engine):
    roles, d = _roles(PRETRIAL, engine)
    assert roles["IDENTIFIER"] == "direct"
    for col in ["LATEST ADMISSION DATE", "RACE", "GENDER"]:
        assert roles[col] == "quasi", col
    assert roles["OFFENSE"] == "sensitive" and d.column("OFFENSE").entity == "criminal_justice"
    index_col = d.columns[0]             # the unnamed pandas index (renamed by the loader)
    assert index_col.entity == "row_number" and index_col.role == "other"


def test_real_estate_roles(engine):
    roles, d = _roles(REAL_ESTATE, engine)
    assert roles["Address"] == "direct" and roles["Town"] == "quasi"
    assert roles["Sale Amount"] != "direct" and roles["Assessed Value"] != "direct"
    assert d.column("Sale Amount").entity == "amount"


def test_covid_by_town_has_no_direct_and_counts_are_other(engine):
    roles, d = _roles(COVID, engine)
    assert "direct" not in roles.values()
    counts = [c for c in roles if c.strip().startswith(("Total", "Confirmed", "Probable", "Number of", "People"))]
    assert len(counts) >= 10
    for col in counts:
        assert roles[col] == "other", col
    assert roles["Town"] == "quasi"


# --- the coverage rule ----------------------------------------------------------------------------

def test_one_email_among_many_values_does_not_label_the_column(engine):
    df = frame(notes_code=["A1", "B2", "C3", "D4", "E5", "F6", "G7", "H8", "I9", "x@example.com"])
    col = detect(df, engine=engine).columns[0]
    assert col.entity != "email"


def test_email_column_is_email_not_url_with_share_in_evidence(engine):
    df = frame(contact=[f"person{i}@example.org" for i in range(300)])
    col = detect(df, engine=engine).columns[0]
    assert (col.role, col.entity) == ("direct", "email")
    n = rules.PRESIDIO_VALUES
    assert f"{n} of {n} sampled values are email addresses (100%)" in col.evidence[0]


@pytest.mark.parametrize("header,values,entity", [
    ("SSN", [f"{100 + i % 600:03d}-{10 + i % 89:02d}-{1000 + i:04d}" for i in range(200)], "ssn"),
    ("Ph", [f"(860) 555-{i:04d}" for i in range(200)], "phone"),
    ("DOB", [f"{1 + i % 12:02d}/{1 + i % 28:02d}/19{50 + i % 50}" for i in range(200)], "date_of_birth"),
    ("Zip", ["06101", "06355", "06880", "06001", "06460"], "zip"),
    ("Sex", ["M", "F", "F", "M", "U"], "sex"),
    ("Eth", ["Hispanic", "Non-Hispanic", "Hispanic", "Not Hispanic or Latino"], "ethnicity"),
    ("Cnty", ["Hartford", "New Haven", "Fairfield", "Tolland"], "county"),
    ("Res Town", ["Hartford", "Sandy Hook", "Mystic", "Storrs", "Kent", "Sharon"], "town"),
    ("Addr", [f"{10 + i} Main St" for i in range(100)], "street_address"),
    ("Nm", ["John Smith", "Mary Jones", "Robert Brown", "Linda Garcia", "James Miller", "Susan Davis"] * 10, "person_name"),
    ("Dx", ["Type 2 diabetes", "Hypertension", "Chronic asthma", "Opioid use disorder"], "health"),
    ("Annual Income", ["52,000", "61,500", "38,250", "110,000"], "financial"),
    ("Bond Amount", ["5000", "10000", "250000", "1500"], "amount"),
    ("Age", [str(18 + i % 70) for i in range(100)], "age"),
    ("Latitude", [f"41.{i:05d}" for i in range(100)], "coordinates"),
    ("Paid Amt", [f"{12 + i * 3.17:.2f}" for i in range(100)], "financial"),
    ("Mbr Last", ["Smith", "Johnson", "Garcia", "Nguyen", "Kowalski", "Rodriguez", "O'Brien", "Rossi"], "surname"),
    ("PT_FNAME", ["James", "Maria", "Wei", "Priya", "Luis", "Ashley", "Kevin", "Olga"], "given_name"),
    ("Mbr MI", ["A", "J.", "M", "R", "K", "T"], "middle_name"),
    ("Suffix", ["Jr", "Sr.", "III", "II"], "name_suffix"),
])
def test_kinds_of_data(engine, header, values, entity):
    col = detect(frame(**{header: values}), engine=engine).columns[0]
    assert col.entity == entity, (col.entity, col.evidence)
    assert col.role == rules.role_of(entity)


def test_bond_is_criminal_justice_when_it_is_a_category(engine):
    col = detect(frame(**{"Bond": ["Cash bond", "Surety bond", "Released on promise to appear"] * 50}), engine=engine).columns[0]
    assert col.role == "sensitive" and col.entity == "criminal_justice"


# --- uniqueness -----------------------------------------------------------------------------------

def test_unique_codes_are_record_ids_but_unique_amounts_are_not(engine):
    n = 2000
    df = frame(case_no=[f"CASE-{i:06d}" for i in range(n)],
               sale_amount=[f"{100_000 + i * 37:,}" for i in range(n)],
               income=[f"{30_000 + i * 13}.50" for i in range(n)],
               tests=[str(1000 + i * 7) for i in range(n)])
    roles = detect(df, engine=engine).roles()
    assert roles["case_no"] == "direct"
    assert roles["sale_amount"] != "direct" and roles["income"] == "sensitive" and roles["tests"] == "other"


def test_flag_columns_are_never_direct(engine):
    df = frame(flag_id=["Y", "N", "Y", "Y", "N"] * 40, account_active=["1", "0"] * 100)
    roles = detect(df, engine=engine).roles()
    assert roles == {"flag_id": "other", "account_active": "other"}


def test_row_number_column_is_other_and_says_why(engine):
    df = frame(**{"Unnamed: 0": [str(i) for i in range(300)], "name": ["x"] * 300})
    col = detect(df, engine=engine).columns[0]
    assert (col.role, col.entity) == ("other", "row_number")
    assert "row" in col.evidence[0]


def test_empty_and_constant_columns(engine):
    df = pd.DataFrame({"blank": pd.array([pd.NA] * 10, dtype="str"), "year": pd.array(["2018"] * 10, dtype="str")})
    roles = {c.name: c.entity for c in detect(df, engine=engine).columns}
    assert roles == {"blank": "empty", "year": "constant"}


# --- free text --------------------------------------------------------------------------------------

def test_free_text_pii_is_counted_and_masked(engine):
    notes = [f"Called back on {i % 28 + 1} March, left a message for the client about the appointment" for i in range(180)]
    notes += [f"Client asked to be reached at 860-555-{1000 + i:04d} after five in the evening" for i in range(12)]
    notes += [f"Email sent to client{i}@example.com with the intake form and the schedule" for i in range(8)]
    col = detect(frame(case_notes=notes), engine=engine).columns[0]
    assert col.role == "direct" and col.entity == "free_text_pii"
    scan = col.text_scan
    assert scan.cells_with_pii == 20 and scan.found == {"phone": 12, "email": 8}
    assert "20 of 200 sampled cells hold personal data" in scan.summary
    assert scan.examples and not any("555-1" in e or "@example.com" in e for e in scan.examples)


def test_free_text_without_pii_is_other(engine):
    notes = [f"Inspection of the boiler room found minor issue number {i} with the valves and the gauges" for i in range(100)]
    col = detect(frame(remarks=notes), engine=engine).columns[0]
    assert col.role == "other" and col.text_scan is not None and col.text_scan.cells_with_pii == 0


# --- header words, names, masking ----------------------------------------------------------------------

@pytest.mark.parametrize("header,entity", [
    ("DOB", "date_of_birth"), ("SSN", "ssn"), ("Pt_Nm", "person_name"), ("HomeAddr", "street_address"),
    ("Ph", "phone"), ("ZipCode", "zip"), ("Eth", "ethnicity"), ("Dx", "health"), ("Sex", "sex"),
    ("ResCnty", "county"), ("credentialid", "record_id"), ("ResidenceCity", "town"), ("Res", "town"),
])
def test_header_words_and_agency_abbreviations(header, entity):
    assert entity in header_hits(header)


@pytest.mark.parametrize("header,entity", [
    ("BusinessName", "person_name"), ("InjuryCity", "health"), ("Number of tests", "record_id"),
    ("Percentage", "age"), ("paid", "record_id"), ("Village", "age"), ("ResCnty", "town"), ("Res_Zip", "town"),
])
def test_header_words_that_must_not_match(header, entity):
    assert entity not in header_hits(header)


@pytest.mark.parametrize("value", ["FADEL BALAWI", "Smith, John", "Mary Jane Watson", "SHARON SMITH"])
def test_names_are_names(value):
    assert looks_like_person_name(value)


@pytest.mark.parametrize("value", ["NEW HAVEN", "SANDY HOOK", "Hospital", "INTEMPO ORGANIZATION INC",
                                   "14 BUGBEE LANE", "Registered Nurse", "Hispanic, White", "Acute Heroin Intoxication",
                                   "ZZSRHJZW", "Male"])
def test_non_names_are_not_names(value):
    assert not looks_like_person_name(value)


def test_person_name_share_counts():
    assert person_name_share(["John Smith", "Hartford", "", "Mary Jones"]) == (2, 3)


@pytest.mark.parametrize("value,masked", [
    ("John Smith", "J••••"), ("860-555-0100", "8••••"), ("M", "••••"), ("", ""), (None, ""),
])
def test_mask(value, masked):
    assert mask(value) == masked


def test_mask_hides_length():
    assert len(mask("Al Li")) == len(mask("Bartholomew Fitzgerald-Smythe"))


def test_mask_spans_keeps_the_text_around():
    assert mask_spans("call 860-555-0100 now", [(5, 17)]) == "call 8•••• now"


# --- engine and result shape ------------------------------------------------------------------------------

def test_engine_works_without_a_model_and_counts_header_context(engine):
    assert engine.model is None and "no language model" in engine.description
    with_ctx = engine.analyze("06999", entities=["CT_ZIP"], context=["zip"])
    without = engine.analyze("06999", entities=["CT_ZIP"])
    assert with_ctx[0].score > without[0].score


def test_build_engine_is_built_once():
    assert build_engine() is build_engine()


def test_to_dict_is_json(engine):
    d = detect(frame(Sex=["M", "F"], note=["a b c d e f"] * 2), engine=engine)
    data = json.loads(json.dumps(d.to_dict()))
    assert set(data) >= {"rows", "engine", "columns"}
    assert set(data["columns"][0]) >= {"name", "role", "entity", "confidence", "evidence", "examples"}


def test_detection_time_is_bounded_by_the_sample(engine):
    n = 400_000
    df = frame(email=[f"user{i}@example.com" for i in range(n)], town=["Hartford", "Kent", "Salem"] * (n // 3 + 1))
    d = detect(df, engine=engine)
    assert d.roles() == {"email": "direct", "town": "quasi"}
    assert "estimated" in " ".join(d.column("email").evidence)


def test_empty_frame_and_single_row(engine):
    assert detect(pd.DataFrame({"a": pd.array([], dtype="str")}), engine=engine).columns[0].entity == "empty"
    one = detect(frame(Name=["Ann Lee"], Zip=["06101"]), engine=engine)
    assert one.rows == 1 and len(one.columns) == 2


def test_a_missing_spacy_model_is_a_plain_error():
    from ctopen.errors import ConfigError
    with pytest.raises(ConfigError, match="not installed"):
        build_engine(model="en_core_web_missing")


def test_cli_prints_the_public_keys(capsys):
    from ctopen.cli import main
    assert main(["detect", str(real_file(PRETRIAL)), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["file", "rows", "engine", "columns"]
    assert out["rows"] == 16134
    assert all(list(c) == ["name", "role", "entity", "confidence", "evidence"] for c in out["columns"])
    assert {c["name"]: c["role"] for c in out["columns"]}["IDENTIFIER"] == "direct"


@pytest.fixture(scope="module")
def model_engine(tmp_path_factory):
    """A saved spaCy pipeline (blank: no NER of its own), to check the wiring of a model engine offline."""
    import spacy
    path = tmp_path_factory.mktemp("spacy") / "blank_en"
    spacy.blank("en").to_disk(path)
    return build_engine(model=str(path))


def test_an_installed_model_is_used_and_named(model_engine):
    assert model_engine.has_ner and "with spaCy model blank_en" in model_engine.description
    assert "named-entity recognition" in model_engine.description


def test_the_model_ner_labels_names_the_offline_check_cannot(model_engine, monkeypatch):
    """Single given names are not names to probablepeople; a model's PERSON findings are counted."""
    from presidio_analyzer import RecognizerResult
    given = [f"{name}{'i' * k}" for k in range(20) for name in ["Kwame", "Olga", "Priya", "Wei", "Ahmed", "Ines"]]
    df = frame(attendee=given)
    before = detect(df, engine=model_engine).columns[0]
    assert before.entity != "person_name"
    monkeypatch.setattr(type(model_engine), "analyze_ner",
                        lambda self, texts, context=None: [[RecognizerResult("PERSON", 0, len(t), 0.85)] for t in texts])
    after = detect(df, engine=model_engine).columns[0]
    assert (after.role, after.entity) == ("direct", "person_name")
    assert "sampled values are person names" in after.evidence[0]


def test_the_model_engine_runs_its_ner_in_a_batch(model_engine):
    assert model_engine.analyze_ner(["John Smith lives in Hartford", "nothing"]) == [[], []]   # blank: no NER


def test_zip_codes_that_lost_their_leading_zero(engine):
    col = detect(frame(ZipCode=["6001", "6355", "6880", "6101", "6460"] * 20), engine=engine).columns[0]
    assert (col.role, col.entity) == ("quasi", "zip")
    counts = detect(frame(Visits=["6001", "6355", "6880", "6101", "6460"] * 20), engine=engine).columns[0]
    assert counts.entity != "zip"


def test_examples_of_a_text_column_never_show_a_phone_number(engine):
    notes = ["Call 860-555-0142 about the permit renewal for the property on file"] + \
        [f"Permit renewal {i} processed without any issue at the counter today" for i in range(299)]
    col = detect(frame(remarks=notes), engine=engine).columns[0]
    assert (col.role, col.entity) == ("direct", "free_text_pii")     # one phone number is enough
    assert col.examples[0] == "Call 8•••• about the permit renewal for the property on file"
    other = detect(frame(remarks=notes), engine=engine, sample_size=50)   # ... and masked when not flagged
    assert all("860-555" not in e for e in other.columns[0].examples)


from hypothesis import HealthCheck, given, settings as hsettings, strategies as st  # noqa: E402

_cells = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["M", "F", "06101", "Hartford", "Y", "",
                                                                       "860-555-0100", "a@b.co", "1,000", "0"]))


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.text(min_size=1, max_size=12), st.lists(_cells, max_size=25)), min_size=1, max_size=3))
def test_any_frame_gets_a_role_for_every_column(engine, cols):
    n = max(len(v) for _, v in cols)
    df = pd.DataFrame({f"{i}{name}": pd.array(v + [None] * (n - len(v)), dtype="str") for i, (name, v) in enumerate(cols)})
    d = detect(df, engine=engine)
    assert [c.name for c in d.columns] == list(df.columns)
    for c in d.columns:
        assert c.role in rules.ROLES and c.entity in rules.ENTITIES and 0 <= c.confidence <= 1 and c.evidence
        if c.role == "direct":
            assert all(e == "" or "••••" in e for e in c.examples)


@given(st.text(min_size=3).filter(lambda s: len(s.strip()) >= 3))
def test_mask_shows_one_character_at_most(value):
    assert mask(value) == value.strip()[0] + "••••"


def test_one_street_word_in_free_text_is_not_enough_but_one_phone_is(engine):
    notes = ["Walked 12 laps around the park before the meeting started"] + \
        [f"Permit renewal {i} processed without any issue at the counter today" for i in range(299)]
    col = detect(frame(remarks=notes), engine=engine).columns[0]
    assert (col.role, col.entity) == ("other", "free_text")


def test_education_degrees_are_not_offenses(engine):
    col = detect(frame(Education=["Bachelor's Degree", "Master's Degree", "Associate Degree", "High School"] * 25),
                 engine=engine).columns[0]
    assert col.role == "other"


@pytest.mark.parametrize("header,entity", [("Year of Death", "date"), ("YOB", "date_of_birth"), ("FY", "date")])
def test_years_are_dates_kept_to_the_year(engine, header, entity):
    col = detect(frame(**{header: [str(1950 + i % 60) for i in range(200)]}), engine=engine).columns[0]
    assert (col.role, col.entity) == ("quasi", entity)
