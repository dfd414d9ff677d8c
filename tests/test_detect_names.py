"""Issue 15's detection: names split across columns, names inside free text, a household's map point, money.

Generated claims-like frames (hypothesis over header spellings and the name lists), and trimmed copies of
the real CT files in tests/data (no new false direct identifier)."""
import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from ctopen import settings
from ctopen.detect import MASK, build_engine, detect, header_hits
from ctopen.load import load
from ctopen.recognizers import ListedNameRecognizer, name_part_shares

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def engine():
    return build_engine()


def _names(file: str) -> list[str]:
    with open(settings.DATA_DIR / file, newline="", encoding="utf-8") as fh:
        return [r["name"] for r in csv.DictReader(fh)]


GIVEN = _names("us_given_names.csv")
SURNAMES = _names("us_surnames.csv")


def _zipf(rng, pool: list[str], n: int, a: float = 1.0) -> np.ndarray:
    w = 1 / np.arange(1, len(pool) + 1) ** a
    return rng.choice(pool, n, p=w / w.sum())


def _unlisted(rng, n: int) -> list[str]:
    """Made-up names no list holds ("Vokaruz")."""
    c, v = list("bdfghjklmnprstvz"), list("aeiou")
    return ["".join(rng.choice(c) + rng.choice(v) for _ in range(3)) + rng.choice(c) for _ in range(n)]


def _with_unlisted(rng, names: np.ndarray, share: float) -> np.ndarray:
    out = names.copy()
    k = int(len(out) * share)
    if k:
        out[rng.choice(len(out), k, replace=False)] = _unlisted(rng, k)
    return out


def claims(n: int = 3000, seed: int = 1, first: str = "Mbr First", last: str = "Mbr Last", top_given: int = 2000,
           top_surnames: int = 5000, case: str = "title", households: int = 2967, unlisted: float = 0.0) -> pd.DataFrame:
    """A claims extract: member names in two columns (a share `unlisted` of them made up), date of birth, ZIP,
    the residence's map point (5 decimals, one per household), the amount paid, a count and a year."""
    rng = np.random.default_rng(seed)
    cased = {"title": str.title, "upper": str.upper, "lower": str.lower}[case]
    lat = np.round(41.0 + rng.random(households), 5)
    lon = np.round(-73.6 + rng.random(households) * 1.8, 5)
    home = np.r_[np.arange(households), rng.integers(0, households, max(0, n - households))][:n]
    rng.shuffle(home)
    return pd.DataFrame({
        "Claim Line": [str(1 + i % 4) for i in range(n)],
        first: [cased(v) for v in _with_unlisted(rng, _zipf(rng, GIVEN[:top_given], n), unlisted)],
        last: [cased(v) for v in _with_unlisted(rng, _zipf(rng, SURNAMES[:top_surnames], n, 0.8), unlisted)],
        "DOB": [f"{m:02d}/{d:02d}/{y}" for m, d, y in zip(rng.integers(1, 13, n), rng.integers(1, 29, n),
                                                            rng.integers(1930, 2020, n))],
        "ZIP": rng.choice(["06106", "06040", "06511", "06902", "06320", "06226"], n),
        "Res Lat": [f"{v:.5f}" for v in lat[home]],
        "Res Lon": [f"{v:.5f}" for v in lon[home]],
        "Paid Amt": [f"{v:.2f}" for v in rng.gamma(2.0, 150.0, n)],
        "Visit Count": rng.integers(1, 30, n).astype(str),
        "Service Year": rng.integers(2019, 2024, n).astype(str),
    }, dtype="str")


def frame(**cols) -> pd.DataFrame:
    n = max(len(v) for v in cols.values())
    return pd.DataFrame({k: pd.array((list(v) * (n // len(v) + 1))[:n], dtype="str") for k, v in cols.items()})


# --- the claims file: split names, home coordinates, money ---------------------------------------------

def _check_claims(d, first="Mbr First", last="Mbr Last"):
    roles = {c.name: (c.role, c.entity) for c in d.columns}
    assert roles[first] == ("direct", "given_name")
    assert roles[last] == ("direct", "surname")
    assert roles["DOB"] == ("quasi", "date_of_birth") and roles["ZIP"] == ("quasi", "zip")
    assert roles["Res Lat"] == roles["Res Lon"] == ("direct", "coordinates")
    assert roles["Paid Amt"] == ("sensitive", "financial")
    assert roles["Visit Count"] == ("other", "count")
    assert roles["Service Year"][0] == "quasi" and roles["Service Year"][1] == "date"
    assert roles["Claim Line"][0] != "direct"
    return roles


def test_a_claims_file_with_split_names_home_points_and_money_gets_the_right_roles(engine, tmp_path):
    """Done when: the claims-like file, written as a CSV and loaded, comes out with the right roles."""
    path = tmp_path / "claims.csv"
    claims().to_csv(path, index=False)
    d = detect(load(path).df, engine=engine)
    _check_claims(d)
    first, last = d.column("Mbr First"), d.column("Mbr Last")
    assert "common US surnames; beside 'Mbr First'" in last.evidence[0]
    assert last.evidence[0].split("%")[0].replace(".", "").isdigit()          # "95% of sampled values ..."
    assert "common US given names; beside 'Mbr Last'" in first.evidence[0]
    assert any("given name beside a surname" in e for e in first.evidence)
    assert all(MASK in e for e in first.examples + last.examples)            # shown masked
    lat = d.column("Res Lat")
    assert any("household's location" in e and "5 decimals" in e and "2 decimals" in e for e in lat.evidence)
    assert all(MASK in e for e in lat.examples)
    paid = d.column("Paid Amt")
    assert any("'paid'" in e for e in paid.evidence) and any("with cents" in e for e in paid.evidence)


GIVEN_HEADERS = ["First", "FIRST", "first_name", "FName", "F_NM", "First Nm", "FirstName", "Given Name", "FRST_NM",
                 "Forename", "FNAME", "first"]
SURNAME_HEADERS = ["Last", "LAST", "last_name", "LName", "L_NM", "Last Nm", "LastName", "Surname", "LST_NM",
                   "Family Name", "LNAME", "last"]
PREFIXES = ["", "Mbr ", "MBR_", "pt_", "PT_", "Clt", "emp_", "Pat ", "Mem", "Member ", "Patient ", "Client "]


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(prefix=st.sampled_from(PREFIXES), first=st.sampled_from(GIVEN_HEADERS), last=st.sampled_from(SURNAME_HEADERS),
       top_given=st.sampled_from([300, 2000, 8000]), top_surnames=st.sampled_from([500, 5000, 18000]),
       case=st.sampled_from(["title", "upper"]), unlisted=st.sampled_from([0.0, 0.2, 0.4]), seed=st.integers(0, 10_000))
def test_split_names_under_any_header_spelling_and_name_list(engine, prefix, first, last, top_given, top_surnames,
                                                           case, unlisted, seed):
    """Names drawn from the lists' most common 300 to all, 0-40% of them names no list holds."""
    df = claims(seed=seed, first=prefix + first, last=prefix + last, top_given=top_given,
                top_surnames=top_surnames, case=case, unlisted=unlisted)
    _check_claims(detect(df, engine=engine), prefix + first, prefix + last)


@pytest.mark.parametrize("header", ["Mbr First", "PT_FNAME", "Given Name", "Col A"])
def test_a_lone_given_name_column_is_a_quasi_identifier(engine, header):
    df = claims()[["Mbr First", "ZIP"]].rename(columns={"Mbr First": header})
    c = detect(df, engine=engine).column(header)
    assert (c.role, c.entity) == ("quasi", "given_name")
    assert "common US given names" in c.evidence[0]


@pytest.mark.parametrize("header", ["Mbr Last", "PT_LNAME", "Surname", "Col B"])
def test_a_surname_column_is_a_direct_identifier(engine, header):
    df = claims()[["Mbr Last", "ZIP"]].rename(columns={"Mbr Last": header})
    c = detect(df, engine=engine).column(header)
    assert (c.role, c.entity) == ("direct", "surname")
    assert all(MASK in e for e in c.examples)


def test_middle_names_initials_and_suffixes_beside_the_name(engine):
    df = claims(n=1000)
    rng = np.random.default_rng(5)
    df["Mbr Middle"] = [GIVEN[int(i)] if k % 3 else "" for k, i in enumerate(rng.integers(0, 500, len(df)))]
    df["Mbr MI"] = [v[:1] for v in df["Mbr Middle"]]
    df["Sfx"] = ["Jr." if k % 25 == 0 else "III" if k % 40 == 0 else "" for k in range(len(df))]
    d = detect(df, engine=engine)
    assert (d.column("Mbr Middle").role, d.column("Mbr Middle").entity) == ("direct", "middle_name")
    assert (d.column("Mbr MI").role, d.column("Mbr MI").entity) == ("quasi", "middle_name")
    assert any("initials beside" in e for e in d.column("Mbr MI").evidence)
    assert (d.column("Sfx").role, d.column("Sfx").entity) == ("quasi", "name_suffix")


@pytest.mark.parametrize("header,values", [
    ("Color", ["Brown", "Green", "White", "Black", "Gray", "Rose", "Red", "Blue"]),
    ("Race", ["WHITE", "BLACK", "HISPANIC", "ASIAN", "OTHER"]),
    ("Col", ["Main", "Elm", "Oak", "Maple", "Park", "Church", "High", "Washington", "Franklin", "Center", "Pine",
             "Cedar", "Walnut", "Chestnut", "Spring", "Prospect", "Pleasant", "Lincoln", "Jefferson", "Madison",
             "Union", "School", "Mill", "Water", "Summer", "Winter", "Hillside", "Ridge", "Forest", "Lake"]),
    ("Town", ["Sharon", "Warren", "Kent", "Morris", "Franklin", "Salem", "Chester", "Washington", "Hartford"]),
    ("First Visit Date", [f"01/{d:02d}/2020" for d in range(1, 29)]),
    ("Last Update", [f"2020-01-{d:02d}" for d in range(1, 29)]),
    ("Initial Grade", ["A", "B", "C", "D", "F"]),
    ("Distance MI", [f"{i}.5" for i in range(40)]),
    ("MI", ["M", "F"]),
    ("School", ["Lincoln", "Washington", "Roosevelt", "Kennedy", "Franklin", "Hamilton", "Jefferson", "Edison",
                "Hooker", "Naylor", "Burns", "Wilson", "Clark", "Moore", "Adams", "Madison", "Jackson", "Grant",
                "Harding", "Truman", "Webster", "Barnard", "Mitchell", "Morris"]),
    ("Dog Name", ["Max", "Bella", "Charlie", "Lucy", "Buddy", "Daisy", "Molly", "Bailey", "Sadie", "Maggie",
                  "Jack", "Sophie", "Toby", "Chloe", "Jake", "Lily", "Cody", "Ginger", "Rocky", "Zoe", "Duke"]),
])
def test_columns_that_are_not_name_parts(engine, header, values):
    c = detect(frame(**{header: values * 100}), engine=engine).columns[0]
    assert c.entity not in ("given_name", "surname", "middle_name", "name_suffix"), c.evidence
    assert c.role != "direct", c.evidence


def test_name_part_shares_leave_out_towns_categories_and_colours():
    from collections import Counter
    sh = name_part_shares(Counter({"James": 3, "Mary": 2, "Smith": 2, "WHITE": 5, "Hartford": 4, "J.": 1, "Jr.": 1,
                                   "O'Brien": 1, "De La Cruz": 1}))
    assert sh.initial == pytest.approx(1 / 20) and sh.suffix == pytest.approx(1 / 20)
    assert sh.given_first == pytest.approx(5 / 20)          # James, Mary
    assert sh.surname_first == pytest.approx(4 / 20)        # Smith, O'Brien, De La Cruz


@pytest.mark.parametrize("header,entity", [
    ("Mbr First", "given_name"), ("PT_FNAME", "given_name"), ("CLT_F_NM", "given_name"), ("EmpFirstName", "given_name"),
    ("PT_LNAME", "surname"), ("Mbr Last", "surname"), ("clt_lst_nm", "surname"), ("MemLastName", "surname"),
    ("MBR_MI", "middle_name"), ("Middle Initial", "middle_name"), ("Name Suffix", "name_suffix"),
    ("Paid Amt", "financial"), ("PAID_AMT", "financial"), ("AccountBalance", "financial"), ("Amount Billed", "financial"),
])
def test_header_words_for_name_parts_and_money(header, entity):
    assert entity in header_hits(header)


@pytest.mark.parametrize("header,entity", [
    ("Paid Date", "financial"), ("Payment Count", "financial"), ("Benefit Type", "financial"),
    ("Claim Paid Flag", "financial"), ("Street Suffix", "name_suffix"), ("Business First", "given_name"),
])
def test_header_words_that_do_not_make_money_or_names(header, entity):
    assert entity not in header_hits(header)


# --- names inside free text ---------------------------------------------------------------------------

@pytest.mark.parametrize("text,found", [
    ("Spoke with Maria Lopez about the bill", ["Maria Lopez"]),
    ("Called Maria Lopez today.", ["Maria Lopez"]),
    ("the client (Robert O'Brien) said he moved", ["Robert O'Brien"]),
    ("John Michael Smith came in with Kevin McDonald", ["John Michael Smith", "Kevin McDonald"]),
    ("Met at the Rocky Hill office", []),
    ("Lives at 14 Jennifer Lane near Daniel Webster Hwy", []),
    ("Grace Church hosted the clinic", []),
    ("Saint Francis Hospital Medical Center", []),
    ("Follow Up in two weeks", []),
    ("spoke with maria lopez", []),
])
def test_listed_names_inside_text(text, found):
    got = [text[r.start:r.end] for r in ListedNameRecognizer().analyze(text, ["LISTED_NAME"])]
    assert got == found


def test_free_text_with_names_is_direct_counted_and_masked(engine):
    rng = np.random.default_rng(2)
    names = [f"{g} {s}" for g, s in zip(_zipf(rng, GIVEN[:500], 40), _zipf(rng, SURNAMES[:2000], 40))]
    notes = [f"Spoke with {names[i % 40]} about the appointment and the bus pass for next week" for i in range(40)]
    notes += [f"Client called to confirm the visit {i} and asked about the bus pass schedule" for i in range(160)]
    c = detect(frame(case_notes=notes), engine=engine).columns[0]
    assert (c.role, c.entity) == ("direct", "free_text_pii")
    assert c.text_scan.found == {"person_name": 40} and c.text_scan.cells_with_pii == 40
    assert c.examples and all(MASK in e for e in c.examples)
    assert not any(n in e for n in names for e in c.examples)


def test_free_text_without_names_stays_other(engine):
    notes = [f"Inspection of the boiler at the Rocky Hill office found issue {i}; Follow Up with Grace Church"
             for i in range(200)]
    c = detect(frame(remarks=notes), engine=engine).columns[0]
    assert (c.role, c.entity) == ("other", "free_text") and c.text_scan.cells_with_pii == 0


# --- map points: a household's location vs a town's centre -------------------------------------------------

def _points(n: int, distinct: int, seed: int = 4, decimals: int = 5):
    rng = np.random.default_rng(seed)
    lat = np.round(41.0 + rng.random(distinct), decimals)
    lon = np.round(-73.6 + rng.random(distinct) * 1.8, decimals)
    pick = np.r_[np.arange(distinct), rng.integers(0, distinct, max(0, n - distinct))][:n]
    return [f"{v:.{decimals}f}" for v in lat[pick]], [f"{v:.{decimals}f}" for v in lon[pick]]


def test_household_points_in_two_columns_are_direct(engine):
    lat, lon = _points(3000, 2967)
    d = detect(frame(Latitude=lat, Longitude=lon, Sex=["M", "F"]), engine=engine)
    for col in ("Latitude", "Longitude"):
        c = d.column(col)
        assert (c.role, c.entity) == ("direct", "coordinates")
        assert any("2,967 distinct points among 3,000 records" in e and "household" in e for e in c.evidence)


@pytest.mark.parametrize("form", ["({lat}, {lon})", "POINT ({lon} {lat})"])
def test_household_points_in_one_column_are_direct(engine, form):
    lat, lon = _points(3000, 2967)
    d = detect(frame(Location=[form.format(lat=a, lon=o) for a, o in zip(lat, lon)]), engine=engine)
    assert (d.columns[0].role, d.columns[0].entity) == ("direct", "coordinates")


def test_repeated_points_and_few_or_coarse_points_stay_quasi(engine):
    from ctopen.geo import town_points                   # town centres: the towns' own points, repeated
    towns = town_points().iloc[np.random.default_rng(4).integers(0, 169, 3000)]
    lat, lon = [f"{v:.6f}" for v in towns["lat"]], [f"{v:.6f}" for v in towns["lon"]]
    d = detect(frame(ResLat=lat, ResLon=lon), engine=engine)
    assert d.roles() == {"ResLat": "quasi", "ResLon": "quasi"}
    assert any("points repeat" in e for e in d.column("ResLat").evidence)
    lat, lon = _points(150, 150)                          # a table of 150 places: could be towns' centres
    assert set(detect(frame(lat=lat, lon=lon), engine=engine).roles().values()) == {"quasi"}
    lat, lon = _points(3000, 2967, decimals=2)            # already coarsened to 2 decimals (about 1 km)
    assert "direct" not in detect(frame(lat=lat, lon=lon), engine=engine).roles().values()


def test_drug_deaths_town_centres_stay_quasi(engine):
    d = detect(load(DATA / "drug_deaths_600.csv").df, engine=engine)
    for col in ("DeathCityGeo", "ResidenceCityGeo", "InjuryCityGeo"):
        assert (d.column(col).role, d.column(col).entity) == ("quasi", "coordinates"), col


# --- money vs counts, years and measures -----------------------------------------------------------------

AMOUNTS = [f"{v:.2f}" for v in np.random.default_rng(9).gamma(2.0, 300.0, 500)]


@pytest.mark.parametrize("header", ["Paid Amt", "PAID_AMT", "Income", "Wage", "Salary", "Balance", "Benefit Amount",
                                    "Payment", "Cost", "Total Charges", "Amount Billed", "AccountBalance", "Net Pay"])
def test_money_columns_are_sensitive(engine, header):
    c = detect(frame(**{header: AMOUNTS}), engine=engine).columns[0]
    assert (c.role, c.entity) == ("sensitive", "financial"), c.evidence
    assert "money paid, owed, earned or received" in c.evidence[0] and "amounts from" in c.evidence[1]


@pytest.mark.parametrize("header,values,role", [
    ("Visit Count", [str(i % 30) for i in range(500)], "other"),
    ("Payment Count", [str(i % 12) for i in range(500)], "other"),
    ("Units Paid", [str(i % 12) for i in range(500)], "other"),
    ("Service Year", [str(2015 + i % 9) for i in range(500)], "quasi"),
    ("Paid Date", [f"01/{1 + i % 28:02d}/2023" for i in range(500)], "quasi"),
    ("Benefit Type", ["01", "02", "03", "04"] * 125, "other"),
    ("Claim Paid", ["Y", "N"] * 250, "other"),
    ("Sale Amount", [f"{100_000 + i * 37:,}" for i in range(500)], "other"),
    ("Case rate", [f"{i * 1.7:.1f}" for i in range(500)], "other"),
])
def test_counts_years_codes_and_measures_stay_what_they_are(engine, header, values, role):
    c = detect(frame(**{header: values}), engine=engine).columns[0]
    assert c.role == role and c.entity != "financial", (c.entity, c.evidence)


# --- the real files: no new false direct ------------------------------------------------------------------

# Judged column by column (benchmarks/bench_detect.py TRUE_DIRECT): the columns that point at one person,
# household or record. Detection on the trims must call exactly these direct, as before issue 15.
REAL = {
    "drug_deaths_600.csv": {"ID"},
    "licenses_300.csv": {"credentialid", "name", "fullcredentialcode", "credentialnumber", "address"},
    "pretrial_head_400.csv": {"IDENTIFIER"},
    "real_estate_head_400.csv": {"Address"},
    "covid_by_town_400.csv": set(),
}


@pytest.mark.parametrize("file", sorted(REAL))
def test_real_files_have_no_false_direct_identifier(engine, file):
    d = detect(load(DATA / file).df, engine=engine)
    assert set(d.by_role("direct")) == REAL[file]
    assert not {c.entity for c in d.columns} & {"given_name", "surname", "middle_name", "name_suffix"}
    assert "financial" not in {c.entity for c in d.columns}
