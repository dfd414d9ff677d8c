"""Step 1: the CT Data Catalog (served from a local HTTP server) and uploaded inventory workbooks."""
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pandas as pd
import pytest

from ctopen import inventory
from ctopen.errors import ConfigError, InventoryError
from ctopen.socrata_client import client, split_portal

FIXTURE = Path(__file__).parent / "data" / "ct_data_catalog_soda.json"
IDS = {"rym6-myq3": "CT Data Catalog", "kr39-sdfm": "CT Data Catalog (GIS), 2019"}


class Portal:
    """A stand-in for data.ct.gov: serves the fixture's rows as SODA /resource/<id>.json with $limit/$offset."""

    def __init__(self, datasets: dict, fail: set | None = None):
        self.datasets, self.fail, self.requests = datasets, fail or set(), []
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                portal.requests.append((parts.path, q, self.headers.get("X-App-Token")))
                dataset_id = parts.path.rsplit("/", 1)[-1].removesuffix(".json")
                if dataset_id in portal.fail or dataset_id not in portal.datasets:
                    body = json.dumps({"code": "not_found", "message": "Dataset not found"}).encode()
                    self.send_response(404)
                else:
                    rows = portal.datasets[dataset_id]
                    offset, limit = int(q.get("$offset", 0)), int(q.get("$limit", 1000))
                    body = json.dumps(rows[offset:offset + limit]).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def portal():
    p = Portal(json.loads(FIXTURE.read_text())["datasets"])
    yield p
    p.close()


def test_socrata_client_points_at_http_url_or_https_domain():
    assert split_portal("data.ct.gov") == ("https", "data.ct.gov")
    assert split_portal("http://127.0.0.1:8000/") == ("http", "127.0.0.1:8000")
    local = client("http://127.0.0.1:8000")
    assert (local.uri_prefix, local.domain) == ("http://", "127.0.0.1:8000")
    remote = client("data.ct.gov")
    assert (remote.uri_prefix, remote.domain) == ("https://", "data.ct.gov")
    with pytest.raises(ConfigError):
        client("")
    with pytest.raises(ConfigError):
        client("https://data.ct.gov/resource/abc.json")
    with pytest.raises(ConfigError):
        client("data.ct.gov", username="me")


def test_catalog_pages_through_every_row_and_maps_columns(portal, monkeypatch):
    monkeypatch.setenv("SOCRATA_APP_TOKEN", "token-from-env")
    inv = inventory.read_catalog(portal.url, dataset_ids=IDS, timeout=5)
    gets = [r for r in portal.requests if r[0].endswith("rym6-myq3.json")]
    assert inv.origin == "catalog" and not inv.from_cache
    # 11 + 3 rows, one GIS row duplicates a non-GIS one and is shown once
    assert len(inv.df) == 13
    assert any("shown once" in w for w in inv.warnings)
    assert gets[0][2] == "token-from-env"
    assert inv.mapping["dataset"] == "dataset_name" and inv.mapping["published"] == "publicly_available"
    assert inv.mapping["update_frequency"] == "frequency_of_updates" and inv.mapping["url"] == "link_to_data"
    lic = inv.df[inv.df["dataset"] == "State Licenses and Credentials"].iloc[0]
    assert lic["agency"] == "Department of Consumer Protection"
    assert lic["published"] == "yes" and lic["update_frequency"] == "Daily"
    assert lic["url"] == "https://data.ct.gov/d/ngch-56tr"          # {"url": ...} flattened
    assert lic["source_system"] == "System 5"                         # unmapped columns kept as they are
    assert not any(c.startswith(":") for c in inv.df.columns)        # Socrata's computed fields are not
    parks = inv.df[inv.df["dataset"] == "State Parks and Forests"].iloc[0]   # GIS catalog: other column names
    assert parks["published"] == "yes" and parks["update_frequency"] == "As needed"
    assert set(inv.agencies()) >= {"Department of Transportation", "Department of Correction"}


def test_catalog_paging_uses_limit_and_offset(portal):
    inventory.read_catalog(portal.url, dataset_ids={"rym6-myq3": "x"}, timeout=5)
    portal.requests.clear()
    inventory.fetch_catalog(portal.url, {"rym6-myq3": "x"}, timeout=5, page_size=4)
    offsets = [int(q["$offset"]) for _, q, _ in portal.requests]
    assert offsets == [0, 4, 8]                                       # 11 rows in pages of 4
    assert all(q["$limit"] == "4" and q["$order"] == ":id" for _, q, _ in portal.requests)


def test_catalog_cache_serves_without_portal_and_refresh_falls_back(portal):
    first = inventory.read_catalog(portal.url, dataset_ids=IDS, timeout=5)
    assert inventory.cache_path().exists()
    n = len(portal.requests)
    again = inventory.read_catalog(portal.url, dataset_ids=IDS, timeout=5)
    assert again.from_cache and len(portal.requests) == n            # no request: the cached copy
    assert again.df.equals(first.df)
    url = portal.url
    portal.close()                                                     # offline
    offline = inventory.read_catalog(url, dataset_ids=IDS, refresh=True, timeout=2)
    assert offline.from_cache and len(offline.df) == len(first.df)
    assert any("could not be read just now" in w for w in offline.warnings)


def test_catalog_unreachable_without_cache_is_one_plain_error():
    with pytest.raises(InventoryError, match="Upload your agency's inventory file"):
        inventory.read_catalog("http://127.0.0.1:9", dataset_ids=IDS, timeout=2)


def test_catalog_one_missing_dataset_is_a_warning_not_a_failure():
    p = Portal(json.loads(FIXTURE.read_text())["datasets"], fail={"kr39-sdfm"})
    try:
        inv = inventory.read_catalog(p.url, dataset_ids=IDS, timeout=5)
    finally:
        p.close()
    assert len(inv.df) == 11
    assert any("kr39-sdfm could not be read" in w and "404" in w for w in inv.warnings)


def test_catalog_ids_are_configurable(monkeypatch):
    monkeypatch.setenv("CTOPEN_CATALOG_IDS", "abcd-1234, f6rf-n3ke")
    assert list(inventory.catalog_ids()) == ["abcd-1234", "f6rf-n3ke"]
    monkeypatch.delenv("CTOPEN_CATALOG_IDS")
    assert "rym6-myq3" in inventory.catalog_ids()


# --- uploaded inventory workbooks ---------------------------------------------------------------

def template_workbook(path: Path, with_agency_column=False, instructions_first=True) -> Path:
    """Like the state's High Value Data Inventory template: an instructions sheet, then a sheet whose
    header sits below a title and the agency's name."""
    wb = openpyxl.Workbook()
    if instructions_first:
        ins = wb.active
        ins.title = "Instructions"
        ins.append(["How to complete the High Value Data Inventory"])
        ins.append(["List every high value dataset your agency collects or maintains."])
        ws = wb.create_sheet("Inventory")
    else:
        ws = wb.active
        ws.title = "Inventory"
    ws.append(["High Value Data Inventory 2024"])
    ws.append(["Agency: Department of Motor Vehicles"])
    ws.append([])
    header = ["Dataset Name", "Brief Description", "Is this data publicly available?", "Frequency of Update",
              "Link", "Contains Personally Identifiable Information", "Legal Restrictions"]
    if with_agency_column:
        header = ["Agency"] + header
    ws.append(header)
    data = [["Registered Vehicles", "Vehicles registered, by town and type.", "Yes", "Monthly",
             "https://data.ct.gov/d/abcd-0001", "No", "None"],
            ["Driver Licenses", "Licensed drivers with address.", "No", "Daily", None, "Yes", "CGS 14-10"],
            ["Emissions Tests", "Emissions test results by station.", "Partially", "Weekly", None, "No", ""]]
    for r in data:
        ws.append((["Department of Motor Vehicles"] if with_agency_column else []) + r)
    wb.save(path)
    return path


def test_workbook_header_below_title_on_second_sheet(tmp_path):
    inv = inventory.read_inventory_file(template_workbook(tmp_path / "hvdi.xlsx"))
    assert inv.origin == "file" and inv.sheet == "Inventory"
    assert list(inv.df["dataset"]) == ["Registered Vehicles", "Driver Licenses", "Emissions Tests"]
    assert list(inv.df["published"]) == ["yes", "no", "partly"]
    assert inv.df["update_frequency"].tolist() == ["Monthly", "Daily", "Weekly"]
    assert (inv.df["agency"] == "Department of Motor Vehicles").all()      # from the title rows
    assert inv.mapping["agency"] == "(title rows)"
    assert inv.header_row == 4
    # what could not be mapped is said plainly; unmapped columns are kept
    assert inv.unmapped == ["contact", "category"]
    assert any("No column could be matched for: contact, category" in w for w in inv.warnings)
    assert inv.df.loc[1, "Contains Personally Identifiable Information"] == "Yes"
    assert inv.df.loc[1, "Legal Restrictions"] == "CGS 14-10"


def test_workbook_with_agency_column_and_bytes_upload(tmp_path):
    path = template_workbook(tmp_path / "hvdi.xlsx", with_agency_column=True, instructions_first=False)
    inv = inventory.read_inventory_file(io.BytesIO(path.read_bytes()), name="upload.xlsx")
    assert inv.mapping["agency"] == "Agency"
    assert inv.source.startswith("upload.xlsx")
    assert inv.row(1)["url"] is None and inv.row(0)["url"] == "https://data.ct.gov/d/abcd-0001"
    assert inv.row(1)["raw"]["Legal Restrictions"] == "CGS 14-10"


def test_csv_inventory_and_missing_dataset_column(tmp_path):
    ok = tmp_path / "inv.csv"
    ok.write_text("Agency,Title,Update Schedule\nDPH,Births,Annual\n")
    inv = inventory.read_inventory_file(ok)
    assert inv.row(0)["dataset"] == "Births" and inv.row(0)["update_frequency"] == "Annual"
    bad = tmp_path / "bad.csv"
    bad.write_text("Agency,Colour,Size\nDPH,red,3\n")
    with pytest.raises(InventoryError, match="names the datasets.*Colour"):
        inventory.read_inventory_file(bad)
    with pytest.raises(InventoryError, match="could not be read"):
        inventory.read_inventory_file(tmp_path / "nothing.xlsx")


@pytest.mark.parametrize("columns, expected", [
    (["Agency Name", "Name of Dataset", "Description"], {"agency": "Agency Name", "dataset": "Name of Dataset"}),
    (["department", "dataset_title", "how_often_is_the_data_updated"], {"agency": "department", "dataset": "dataset_title",
                                                                        "update_frequency": "how_often_is_the_data_updated"}),
    (["Dataset", "Published on Open Data Portal?", "URL"], {"dataset": "Dataset", "published": "Published on Open Data Portal?",
                                                           "url": "URL"}),
    (["Data Set", "Data Set Description"], {"dataset": "Data Set", "description": "Data Set Description"}),
])
def test_column_synonyms(columns, expected):
    mapping = inventory.map_columns(columns)
    for field, column in expected.items():
        assert mapping[field] == column


@pytest.mark.parametrize("value, expected", [("Yes", "yes"), ("Y", "yes"), ("Published", "yes"), ("no", "no"),
                                             ("Not published", "no"), ("Partially", "partly"),
                                             ("Planned 2025", "Planned 2025")])
def test_published_values(value, expected):
    assert inventory.normalize_published(value) == expected


def test_filters_by_agency_and_search(portal):
    inv = inventory.read_catalog(portal.url, dataset_ids=IDS, timeout=5)
    dph = inventory.for_agency(inv, "department of public health")
    assert len(dph.df) == 4 and set(dph.df["agency"]) == {"Department of Public Health"}
    assert len(inventory.for_agency(inv, "Correction").df) == 2              # part of the name
    none = inventory.for_agency(inv, "Departmnt of Public Helth")
    assert none.df.empty and "Department of Public Health" in none.warnings[-1]
    hits = inventory.search(inv, "town covid")
    assert hits.df["dataset"].tolist() == ["COVID-19 Tests, Cases and Deaths by Town"]
    unpublished = inventory.search(dph, published="no")
    assert unpublished.df["dataset"].tolist() == ["Vital Records - Births"]


def test_to_dict_is_json(portal):
    inv = inventory.read_catalog(portal.url, dataset_ids=IDS, timeout=5)
    d = json.loads(json.dumps(inv.to_dict()))
    assert d["count"] == len(d["datasets"]) == 13
    assert set(d["datasets"][0]) >= {"agency", "dataset", "description", "published", "update_frequency", "url", "raw"}
    assert d["unmapped"] == ["category"]


# --- CLI ------------------------------------------------------------------------------------------

def test_cli_catalog_json_and_agency(portal, monkeypatch, capsys):
    from ctopen.cli import main
    monkeypatch.setenv("CTOPEN_CATALOG_IDS", ",".join(IDS))
    assert main(["inventory", "--portal", portal.url, "--agency", "Department of Correction", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["count"] == 2 and {x["agency"] for x in d["datasets"]} == {"Department of Correction"}
    assert d["from_cache"] is False
    assert main(["inventory", "--portal", portal.url]) == 0                  # text; served from the cache now
    out = capsys.readouterr().out
    assert "(cached copy)" in out and "State Licenses and Credentials" in out


def test_cli_file_and_errors_are_one_line(tmp_path, capsys):
    from ctopen.cli import main
    path = template_workbook(tmp_path / "hvdi.xlsx")
    assert main(["inventory", "--file", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["count"] == 3 and d["sheet"] == "Inventory" and d["unmapped"] == ["contact", "category"]
    assert main(["inventory", "--file", str(path), "--agency", "Department of Motor Vehicle"]) == 0
    assert main(["inventory", "--file", str(path), "--agency", "Revenue Services"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: No agency in the inventory matches 'Revenue Services'")
    assert main(["inventory", "--portal", "http://127.0.0.1:9", "--timeout", "2"]) == 2
    assert "Upload your agency's inventory file" in capsys.readouterr().err


def test_cached_catalog_never_touches_the_network(portal):
    assert inventory.cached_catalog(portal.url, IDS) is None
    inventory.read_catalog(portal.url, dataset_ids=IDS, timeout=5)
    n = len(portal.requests)
    inv = inventory.cached_catalog(portal.url, IDS)
    assert inv is not None and inv.from_cache and len(inv.df) == 13 and len(portal.requests) == n


def test_partial_names_go_to_the_most_telling_field():
    columns = ["Data Set Description (long)", "Data Set Title (short)", "Where is the data published (URL)?",
               "Is it published?", "Agency Contact Email", "Responsible Agency"]
    mapping = inventory.map_columns(columns)
    assert mapping["description"] == "Data Set Description (long)"
    assert mapping["dataset"] == "Data Set Title (short)"
    assert mapping["url"] == "Where is the data published (URL)?"
    assert mapping["published"] == "Is it published?"
    assert mapping["contact"] == "Agency Contact Email"
    assert mapping["agency"] == "Responsible Agency"
