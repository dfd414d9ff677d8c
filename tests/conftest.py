import gzip
import hashlib
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "tests" / "data" / "real"          # whole real CT files, gzipped (sources in tests/data/README.md)
SAMPLE = ROOT / "ctopen" / "data" / "sample"      # the app's sample: the drug-deaths file, whole


def real_file(name: str) -> Path:
    """A whole real CT open-data file from the repository (read-only), so a fresh clone runs every test:
    the app's sample, or tests/data/real/NAME.gz unpacked once into a temporary folder. A name the
    repository does not hold is an error, never a skip."""
    if (SAMPLE / name).exists():
        return SAMPLE / name
    packed = REAL / f"{name}.gz"
    if not packed.exists():
        raise FileNotFoundError(f"{packed} is not in the repository: add a copy (or a trim) under tests/data")
    data = packed.read_bytes()
    folder = Path(tempfile.gettempdir()) / f"ctopen-test-data-{hashlib.sha256(data).hexdigest()[:16]}"
    path = folder / name
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f".{name}.{os.getpid()}"
        part.write_bytes(gzip.decompress(data))
        os.replace(part, path)        # atomic: parallel workers never read half a file
    return path



DRUG = "accidental_drug_deaths_2012_2018.csv"
LICENSES = "ct_state_licenses_credentials_ngch-56tr.csv"
PRETRIAL = "ct_pretrial_inmates_2018_admissions_derived.csv"
REAL_ESTATE = "ct_real_estate_sales_2021_listyear.csv"
COVID = "ct_covid19_tests_cases_deaths_by_town.csv"


@pytest.fixture(scope="session")
def drug_table():
    from ctopen.load import load
    return load(real_file(DRUG))


# the generated claims file with residence coordinates (tests/data/geo/make_claims.py) and its map step
GEO = ROOT / "tests" / "data" / "geo"
CLAIMS = GEO / "claims_homes.csv"
HEX = {"op": "spatial_aggregate", "lat": "ResidenceLat", "lon": "ResidenceLon", "method": "h3", "resolution": 7,
       "by": [], "threshold": 5}


@pytest.fixture(scope="session")
def claims_homes():
    from ctopen.load import load
    return load(CLAIMS)


@pytest.fixture(scope="session")
def claims_homes_detection(claims_homes):
    from ctopen.detect import detect
    return detect(claims_homes.df)


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    """Each test writes its publish log and caches in its own folder."""
    monkeypatch.setenv("CTOPEN_STATE_DIR", str(tmp_path / "state"))


# --- CI: no test may be skipped, except the browser tests where Chromium cannot be installed ----------
_SKIPPED: list[tuple[str, str]] = []
ALLOWED_SKIP = "chromium is not installed"


def pytest_runtest_logreport(report):
    if report.skipped:
        reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
        _SKIPPED.append((report.nodeid, reason))


def pytest_sessionfinish(session, exitstatus):
    """With CTOPEN_NO_SKIPS=1 (CI), a skipped test fails the run: a fresh clone must run every test."""
    if os.environ.get("CTOPEN_NO_SKIPS") != "1":
        return
    bad = [(n, r) for n, r in _SKIPPED if ALLOWED_SKIP not in r]
    if bad:
        lines = "\n".join(f"  {n}: {r}" for n, r in bad[:20])
        print(f"\nCTOPEN_NO_SKIPS: {len(bad)} test(s) were skipped, and none may be:\n{lines}")
        session.exitstatus = 1
