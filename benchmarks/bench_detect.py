"""Detect: roles of a generated 1M-row x 50-column frame, against presidio-structured on the same frame.

`python -m benchmarks detect` (or `python -m benchmarks.bench_detect`). The frame holds names, emails,
phones, SSNs, dates, ZIPs, towns, codes, amounts, free text and the usual quasi-identifiers, each column
with the kind of data it was generated as. Prints:

- the median of 3 runs of `ctopen.detect.detect` (goal <= 3 s: time bounded by sampling, not rows);
- one run of presidio-structured's `PandasAnalysisBuilder.generate_analysis` on the same frame with the same
  500-row sample size (n=500; with every row it would analyze 50 million values), using Presidio's own
  recognizers and no spaCy model (none is installed; its default engine would try to download one);
- how many of the 50 columns each labels right. ctopen: the kind of data it reports is the generated
  one. presidio-structured: the Presidio entity it reports is the one that names that kind (EMAIL_ADDRESS
  for emails, US_SSN, PHONE_NUMBER, DATE_TIME for any date, PERSON for names, LOCATION for towns, counties,
  states and street addresses; no entity for amounts, counts, flags, categories and text without personal
  data). Kinds Presidio has no entity for (ZIP, sex, race, age, case numbers, health, ...) count as missed.
"""
from __future__ import annotations

import os
import statistics
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from ctopen.detect import build_engine, detect  # noqa: E402
from ctopen.recognizers import ct_towns, ct_zips  # noqa: E402

ROWS = 1_000_000
FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
         "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
         "Luis", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony", "Maria", "Mark", "Sandra", "Jose",
         "Ashley", "Kevin", "Kimberly", "Brian", "Emily", "George", "Donna", "Edward", "Michelle", "Wei", "Priya"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
        "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
        "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Kowalski"]
STREETS = ["Main St", "Elm Street", "Maple Ave", "Oak Lane", "Park Road", "Church St", "High Street",
           "Washington Ave", "Prospect Hill Rd", "Farmington Avenue", "Post Road", "Bugbee Lane", "Cedar Dr"]
OFFENSES = ["ASSAULT, FIRST DEGREE", "LARCENY, SIXTH DEGREE", "VIOLATION OF PROBATION", "FAILURE TO APPEAR",
            "BURGLARY, THIRD DEGREE", "POSSESSION OF NARCOTICS", "BREACH OF PEACE", "CRIMINAL MISCHIEF"]
DX = ["F11.20", "E11.9", "I10", "J45.909", "F32.9", "K21.9", "M54.5", "Z79.4", "F10.20", "N18.3"]
TEXT = ["Client attended the session and reported progress with the plan",
        "Follow up scheduled in two weeks at the main office",
        "Documents received and filed with the case record for review",
        "Inspection completed, minor repairs needed before the next visit"]


def frame(n: int = ROWS, seed: int = 7) -> tuple[pd.DataFrame, dict[str, str]]:
    """The generated frame (every column text, as the loader gives it) and each column's true kind."""
    rng = np.random.default_rng(seed)

    def pick(pool):
        return pa.array(list(pool)).take(pa.array(rng.integers(0, len(pool), n)))

    def num(lo, hi):
        return pa.array(rng.integers(lo, hi, n)).cast(pa.string())

    def z(arr, width):
        return pc.utf8_lpad(arr, width, "0")

    def cat(*parts):
        return pc.binary_join_element_wise(*[p if isinstance(p, pa.Array) else pa.scalar(p) for p in parts], "")

    def days(lo, hi):
        span = int((np.datetime64(hi) - np.datetime64(lo)).astype(int))
        return pa.array(np.datetime64(lo) + rng.integers(0, span, n)).cast(pa.string())

    def where(share, a, b):
        return pc.if_else(pa.array(rng.random(n) < share), a, b)

    seq = pa.array(np.arange(n)).cast(pa.string())
    first, last = pick(FIRST), pick(LAST)
    towns = sorted({t.title() for t in ct_towns()})
    zips = sorted(ct_zips())
    nil = pa.scalar(None, pa.string())
    cols = {
        "full_name": (cat(first, " ", last), "person_name"),
        "first_name": (pick(FIRST), "given_name"),      # beside last_name: a direct identifier
        "last_name": (pick(LAST), "surname"),
        "contact_name": (cat(pick(FIRST), " ", pick(LAST)), "person_name"),
        "email": (cat(pc.utf8_lower(first), ".", pc.utf8_lower(last), seq, "@example.com"), "email"),
        "work_email": (cat("staff", seq, "@agency.ct.gov"), "email"),
        "alt_email": (cat(pc.utf8_lower(pick(LAST)), num(1, 999), "@mail.example.org"), "email"),
        "phone": (cat("(860) ", num(200, 999), "-", z(num(0, 10000), 4)), "phone"),
        "cell_phone": (cat("203-", num(200, 999), "-", z(num(0, 10000), 4)), "phone"),
        "home_ph": (cat("475.", num(200, 999), ".", z(num(0, 10000), 4)), "phone"),
        "fax": (cat("+1 959 ", num(200, 999), " ", z(num(0, 10000), 4)), "phone"),
        "ssn": (cat(num(100, 665), "-", z(num(1, 99), 2), "-", z(num(1, 9999), 4)), "ssn"),
        "spouse_ssn": (cat(num(100, 665), "-", z(num(1, 99), 2), "-", z(num(1, 9999), 4)), "ssn"),
        "dob": (days("1930-01-01", "2010-01-01"), "date_of_birth"),
        "admission_date": (days("2015-01-01", "2024-01-01"), "date"),
        "discharge_date": (days("2015-01-01", "2024-01-01"), "date"),
        "visit_dt": (cat(z(num(1, 13), 2), "/", z(num(1, 29), 2), "/", num(2018, 2024)), "date"),
        "date_of_death": (days("2012-01-01", "2019-01-01"), "date"),
        "updated_at": (cat(days("2023-01-01", "2023-03-01"), "T00:00:00.000"), "record_date"),
        "zip": (pick(zips), "zip"),
        "mailing_zip": (pick(zips), "zip"),
        "zip_plus4": (cat(pick(zips), "-", z(num(0, 10000), 4)), "zip"),
        "res_town": (pick(towns), "town"),
        "city": (pc.utf8_upper(pick(towns)), "town"),
        "death_town": (pick(towns), "town"),
        "county": (pick(["Fairfield", "Hartford", "Litchfield", "Middlesex", "New Haven", "New London", "Tolland", "Windham"]), "county"),
        "state": (where(0.9, pa.scalar("CT"), pick(["NY", "MA", "RI", "NJ"])), "state"),
        "case_number": (cat(pick([str(y) for y in range(12, 24)]), "-", z(seq, 7)), "record_id"),
        "record_id": (cat("R", z(seq, 8)), "record_id"),
        "permit_code": (cat("PRM.", z(seq, 7)), "record_id"),
        "dx_code": (pick(DX), "health"),
        "program_code": (pick([f"P{i:02d}" for i in range(1, 21)]), "category"),
        "sale_amount": (cat(num(50_000, 2_000_000), ".00"), "amount"),
        "annual_income": (num(10_000, 250_000), "financial"),
        "benefit_amount": (cat(num(100, 3000), ".50"), "financial"),
        "visit_count": (num(0, 40), "count"),
        "assessed_value": (num(40_000, 900_000), "amount"),
        "account_balance": (cat(num(-500, 20_000), ".25"), "financial"),
        "notes": (where(0.05, cat("Client asked to be called at 860-555-", z(num(0, 10000), 4), " after five"), pick(TEXT)),
                  "free_text_pii"),
        "comments": (cat(pick(TEXT), " on day ", num(1, 365)), "free_text"),
        "description": (cat(pick(TEXT), "; ", pick(TEXT)), "free_text"),
        "sex": (pick(["M", "F"]), "sex"),
        "race": (pick(["White", "Black", "Asian", "American Indian", "Other"]), "race"),
        "ethnicity": (pick(["Hispanic", "Non-Hispanic"]), "ethnicity"),
        "age": (num(0, 100), "age"),
        "offense": (pick(OFFENSES), "criminal_justice"),
        "status": (pick(["ACTIVE", "INACTIVE", "PENDING", "CLOSED"]), "category"),
        "active_flag": (pick(["Y", "N"]), "flag"),
        "heroin": (where(0.3, pa.scalar("Y"), nil), "health"),
        "street_address": (cat(num(1, 999), " ", pick(STREETS)), "street_address"),
    }
    df = pd.DataFrame({k: pd.array(v, dtype="str") for k, (v, _) in cols.items()})
    return df, {k: kind for k, (_, kind) in cols.items()}


PRESIDIO_NAME = {"person_name": "PERSON", "email": "EMAIL_ADDRESS", "phone": "PHONE_NUMBER", "ssn": "US_SSN",
                 "date": "DATE_TIME", "date_of_birth": "DATE_TIME", "record_date": "DATE_TIME",
                 "town": "LOCATION", "county": "LOCATION", "state": "LOCATION", "street_address": "LOCATION",
                 "amount": None, "count": None, "flag": None, "category": None, "free_text": None}
DIRECT = {"person_name", "given_name", "surname", "email", "phone", "ssn", "record_id", "street_address", "free_text_pii"}


def presidio_right(kind: str, label: str | None) -> bool:
    if kind == "free_text_pii":
        return label in ("PHONE_NUMBER", "EMAIL_ADDRESS", "PERSON", "US_SSN")
    if kind in ("given_name", "surname"):
        return label == "PERSON"
    if kind not in PRESIDIO_NAME:
        return False          # Presidio has no entity for this kind: a missed identifier or attribute
    return label == PRESIDIO_NAME[kind]


def presidio_structured(df: pd.DataFrame, n: int = 500) -> tuple[dict, float, float]:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_structured import PandasAnalysisBuilder
    nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    nlp.load()
    analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    wall, cpu = time.perf_counter(), time.process_time()
    analysis = PandasAnalysisBuilder(analyzer=analyzer).generate_analysis(df, n=n)
    return analysis.entity_mapping, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    start = time.perf_counter()
    df, kinds = frame()
    print(f"generated {len(df):,} rows x {df.shape[1]} columns in {time.perf_counter() - start:.1f} s", flush=True)
    engine = build_engine()
    walls, cpus, result = [], [], None
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        result = detect(df, engine=engine)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    ours, ours_cpu = statistics.median(walls), statistics.median(cpus)
    got = {c.name: c.entity for c in result.columns}
    roles = {c.name: c.role for c in result.columns}
    ours_right = [c for c in kinds if got[c] == kinds[c]]
    direct = [c for c in kinds if kinds[c] in DIRECT]
    measures = [c for c in kinds if kinds[c] in ("amount", "count", "flag", "financial")]
    print(f"ctopen.detect: median {ours:.2f} s wall, {ours_cpu:.2f} s CPU, of 3 runs (wall {', '.join(f'{t:.2f}' for t in walls)}) | "
          f"goal <= 3 s: {'met' if ours <= 3 else 'NOT met'} (CPU time: {'met' if ours_cpu <= 3 else 'NOT met'}) | "
          f"columns labelled right {len(ours_right)}/{len(kinds)} | direct identifiers found "
          f"{sum(roles[c] == 'direct' for c in direct)}/{len(direct)} | count/amount/flag columns called direct: "
          f"{sum(roles[c] == 'direct' for c in measures)}/{len(measures)}", flush=True)
    mapping, theirs, theirs_cpu = presidio_structured(df)
    theirs_right = [c for c in kinds if presidio_right(kinds[c], mapping.get(c))]
    print(f"presidio-structured PandasAnalysisBuilder (n=500 rows, Presidio's recognizers, no model): {theirs:.2f} s wall, "
          f"{theirs_cpu:.2f} s CPU (1 run) | columns labelled right {len(theirs_right)}/{len(kinds)} | direct identifiers "
          f"found {sum(presidio_right(kinds[c], mapping.get(c)) for c in direct)}/{len(direct)} | "
          f"ctopen is {theirs / ours:.1f}x faster (CPU {theirs_cpu / ours_cpu:.1f}x)")
    print(f"{'column':16} {'generated as':16} {'ctopen':19} presidio-structured")
    for c in kinds:
        print(f"{c:16} {kinds[c]:16} {got[c]:16} {'ok' if got[c] == kinds[c] else '--'} "
              f"{str(mapping.get(c, '-')):16} {'ok' if presidio_right(kinds[c], mapping.get(c)) else '--'}")


# Judged column by column: the columns of each real file that point at one person, household or record.
TRUE_DIRECT = {
    "accidental_drug_deaths_2012_2018.csv": {"ID"},      # medical examiner case number
    "ct_state_licenses_credentials_ngch-56tr.csv": {"credentialid", "name", "fullcredentialcode",
                                                     "credentialnumber", "address"},
    "ct_pretrial_inmates_2018_admissions_derived.csv": {"IDENTIFIER"},   # a pseudonymous inmate code
    # "Serial Number" is 1..n in file order here: a row number (other), not a sale's register number
    "ct_real_estate_sales_2021_listyear.csv": {"Address"},
    "ct_covid19_tests_cases_deaths_by_town.csv": set(),
}


def real_files(label: str = "now") -> dict:
    """Roles on every real file: a table of direct / quasi / sensitive found and false directs."""
    import json
    from pathlib import Path

    from benchmarks.common import cache_dir
    from ctopen.load import load
    shared = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    engine = build_engine()
    out, rows = {}, []
    for path in sorted(shared.glob("*.csv")):
        table = load(path)
        d = detect(table.df, engine=engine)
        out[path.name] = {c.name: [c.role, c.entity] for c in d.columns}
        direct = d.by_role("direct")
        false = [c for c in direct if c not in TRUE_DIRECT.get(path.name, set())]
        missed = [c for c in TRUE_DIRECT.get(path.name, set()) if c not in direct]
        rows.append((path.name, f"{len(table.df):,} x {table.df.shape[1]}", len(direct), len(d.by_role("quasi")),
                     len(d.by_role("sensitive")), len(d.by_role("other")), false, missed, round(d.seconds, 2)))
    print(f"| file | rows x cols | direct | quasi | sensitive | other | false direct | missed direct | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {', '.join(r[6]) or 0} | "
              f"{', '.join(r[7]) or 0} | {r[8]} |")
    target = cache_dir() / f"detect_real_{label}.json"
    target.write_text(json.dumps(out, indent=1))
    print(f"(each column's role and entity: {target})")
    return out


if __name__ == "__main__":
    import sys
    if "--real" in sys.argv:
        rest = [a for a in sys.argv[1:] if a != "--real"]
        real_files(rest[0] if rest else "now")
    else:
        main()
