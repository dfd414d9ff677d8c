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
# Verified with the search tool: the CT Open Data Handbook says "contact the Data and Policy Analytics
# unit at dapa@ct.gov" (data-resources pages of CTOpenData/open-data-handbook); not opm.dapa@ct.gov.
DAPA_CONTACT = "the Office of Policy and Management's Data and Policy Analytics team (dapa@ct.gov)"

# CT Data Catalog: the compiled high-value data inventories of executive branch agencies on data.ct.gov
# (issue 11). Ids found with the search tool, not fetched (no internet while building), so configurable:
#   rym6-myq3 "CT Data Catalog" - linked from the CT Open Data Handbook, "1. Identify data to publish";
#   f6rf-n3ke "2019 CT Data Catalog (Non GIS)" and kr39-sdfm "2019 CT Data Catalog (GIS)" - linked from
#   the CT Data Sharing Playbook ("Update Connecticut's High Value Data Inventory").
# $CTOPEN_CATALOG_IDS (comma-separated ids) replaces the list. Rows found in an earlier catalog are kept once.
CATALOG_DATASETS = {
    "rym6-myq3": "CT Data Catalog",
    "f6rf-n3ke": "CT Data Catalog (Non GIS), 2019",
    "kr39-sdfm": "CT Data Catalog (GIS), 2019",
}
CATALOG_IDS_ENV = "CTOPEN_CATALOG_IDS"
CATALOG_CACHE_FILE = "ct_data_catalog.json"   # in state_dir(): the last fetch, for speed and offline use
CATALOG_MAX_AGE_DAYS = 7                      # an older cached copy is refreshed when the portal answers
CATALOG_TIMEOUT = 30                          # seconds per request
CATALOG_PAGE_SIZE = 1000
CATALOG_MAX_ROWS = 100_000
