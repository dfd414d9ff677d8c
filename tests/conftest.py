import os
from pathlib import Path

import pytest

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def shared_file(name: str) -> Path:
    """A real CT open-data file from ../shared/data (read-only)."""
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


DRUG = "accidental_drug_deaths_2012_2018.csv"
LICENSES = "ct_state_licenses_credentials_ngch-56tr.csv"
PRETRIAL = "ct_pretrial_inmates_2018_admissions_derived.csv"
REAL_ESTATE = "ct_real_estate_sales_2021_listyear.csv"
COVID = "ct_covid19_tests_cases_deaths_by_town.csv"


@pytest.fixture(scope="session")
def drug_table():
    from ctopen.load import load
    return load(shared_file(DRUG))


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    """Each test writes its publish log and caches in its own folder."""
    monkeypatch.setenv("CTOPEN_STATE_DIR", str(tmp_path / "state"))
