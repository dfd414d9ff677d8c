"""Defaults in one place. Paths come from __file__, never from the working directory."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
DATA_DIR = PACKAGE_DIR / "data"
SAMPLE_FILE = DATA_DIR / "sample" / "accidental_drug_deaths_2012_2018.csv"
TOWNS_FILE = DATA_DIR / "ct_towns.csv"
ZIP_FILE = DATA_DIR / "ct_zip_to_town.csv"
ZIP3_FILE = DATA_DIR / "ct_zip3_pop_2020.csv"



def state_dir() -> Path:
    """Where ctopen keeps its own state (publish log, cached inventory): $CTOPEN_STATE_DIR or var/."""
    path = Path(os.environ.get("CTOPEN_STATE_DIR") or PROJECT_DIR / "var")
    path.mkdir(parents=True, exist_ok=True)
    return path

# Loading limits
MAX_FILE_MB = 200               # matches .streamlit/config.toml server.maxUploadSize
MAX_ROWS = 5_000_000
MAX_UNCOMPRESSED_RATIO = 100    # a workbook that inflates more than this is treated as a zip bomb
MAX_UNCOMPRESSED_MB = 2_000

# Privacy defaults
DEFAULT_K = 5
DEFAULT_MAX_SUPPRESSION = 0.01
DETECT_SAMPLE_SIZE = 500
PSEUDONYM_KEY_ENV = "CTOPEN_PSEUDONYM_KEY"

# Portal
DEFAULT_PORTAL = "data.ct.gov"
SOCRATA_ENV = {
    "username": "SOCRATA_USERNAME",
    "password": "SOCRATA_PASSWORD",
    "key_id": "SOCRATA_KEY_ID",
    "key_secret": "SOCRATA_KEY_SECRET",
    "app_token": "SOCRATA_APP_TOKEN",
}
# Field groups of the CT portal's custom metadata (a portal may name them differently).
CUSTOM_METADATA_GROUPS = {
    "common_core": "Common Core",
    "dataset_information": "Dataset Information",
}
DAPA_CONTACT = "the Office of Policy and Management's Data and Policy Analytics team (opm.dapa@ct.gov)"
