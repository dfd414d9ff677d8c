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
SOCRATA_DOMAIN_ENV = "SOCRATA_DOMAIN"   # the portal credentials may go to, when --portal is not given
SOCRATA_ENV = {
    "username": "SOCRATA_USERNAME",
    "password": "SOCRATA_PASSWORD",
    "key_id": "SOCRATA_KEY_ID",
    "key_secret": "SOCRATA_KEY_SECRET",
    "app_token": "SOCRATA_APP_TOKEN",
}
# The CT Geo Data Portal (geodata.ct.gov) is an ArcGIS Hub site whose items live in an ArcGIS Online organisation:
# map releases are published there through the ArcGIS REST API (ctopen.publish.arcgis). No default portal: the
# organisation's address (https://ORG.maps.arcgis.com, or an ArcGIS Enterprise portal) is given with --portal or
# ARCGIS_URL. Credentials: a named user's username and password (a token is generated), or an API key.
ARCGIS_ENV = {
    "url": "ARCGIS_URL",
    "username": "ARCGIS_USERNAME",
    "password": "ARCGIS_PASSWORD",
    "api_key": "ARCGIS_API_KEY",
    "group": "ARCGIS_GROUP",      # the open-data group (the Hub site's content group) a public layer is shared with
}
ARCGIS_TOKEN_MINUTES = 60         # a generated token's lifetime (renewed once if it expires during a publish)
ARCGIS_JOB_TIMEOUT = 1800         # seconds to wait for a publish / overwrite job
GEO_PORTAL_SITE = "geodata.ct.gov"
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

# Hostile-input limits (issue 16). Every refusal names the setting to raise; all are checked before the
# expensive step they protect (a workbook's archive and sheet extent before calamine reads it, a Parquet
# file's metadata before its pages are decoded).
MAX_CELL_CHARS = 1_000_000      # characters in one cell (Python's csv module stops at 131,072 by default)
MAX_COLUMNS = 16_384            # columns in a table (Excel's own maximum, XFD)
MAX_SHEET_CELLS = 12_000_000    # rows x columns of a sheet's used range, empty cells included (read densely: ~1.6 GB)
MAX_ZIP_MEMBERS = 10_000        # files inside a workbook archive
MAX_ZIP_MEMBER_MB = 1_000       # one file inside a workbook archive, uncompressed (counted while inflating)
MAX_ZIP_TOTAL_MB = 1_500        # all files inside a workbook archive together, uncompressed
MAX_JSON_DEPTH = 100            # nesting of arrays and objects in a JSON file
MAX_PARQUET_MB = 2_000          # a Parquet file's data, uncompressed, as its metadata declares it

# Engines (issue 20): the review on DuckDB for files too large for memory (ctopen.engine)
ENGINE_AUTO_MB = 150            # a CSV or Parquet file larger than this is reviewed on DuckDB unless --engine says otherwise
                                # (below MAX_FILE_MB, the largest file the pandas path loads)
ENGINE_MEMORY_LIMIT = "1GB"     # DuckDB's memory_limit (it spills to the temp directory beyond it); the process stays near it
ENGINE_MEMORY_ENV = "CTOPEN_ENGINE_MEMORY"      # overrides ENGINE_MEMORY_LIMIT (--memory-limit overrides both)
ENGINE_TEMP_DIR_ENV = "CTOPEN_ENGINE_TEMP_DIR"  # where DuckDB's database and spill files go (default: the system's temp)

ENGINE_DETECT_ROWS = 300_000    # a suppress step without columns on the DuckDB path: detection on the whole file up to
                                # this many rows (the pandas path's roles), refused above (ctopen.engine.duck.engine_roles)
