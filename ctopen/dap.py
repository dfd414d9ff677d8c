"""The agency's Data Access Plan workbook: add or update this dataset's row.

The plan is an Excel workbook the agency keeps. `update_plan` opens it (or starts a new one), finds the
sheet whose header row names the plan's columns, finds the dataset's row (same title, or same URL) and
updates it, or appends a row styled like the one above. Other sheets, other rows, column widths, fonts and
fills are kept: openpyxl edits the workbook in place and only the cells of this row are written.

Columns: Agency, Dataset Title, Description, Portal (Open Data / Geo Data: the CT Open Data Portal, data.ct.gov,
or the CT Geo Data Portal, geodata.ct.gov), Status (planned / private / public), URL, Update Frequency, Contains
Personal Data, De-identification Method, Date, Contact.
"""
from __future__ import annotations

import io
import re
from copy import copy
from dataclasses import asdict, dataclass
from datetime import date as _date
from typing import Mapping

from ctopen.errors import CtopenError

COLUMNS = ["Agency", "Dataset Title", "Description", "Portal", "Status", "URL", "Update Frequency",
           "Contains Personal Data", "De-identification Method", "Date", "Contact"]
KEYS = ["agency", "title", "description", "portal", "status", "url", "update_frequency", "personal_data",
        "deidentification", "date", "contact"]
PORTALS = ("Open Data", "Geo Data")
# the two portals of the CT guidance, as the plan's Portal column names them and as the app labels them
PORTAL_SITES = {"Open Data": "data.ct.gov", "Geo Data": "geodata.ct.gov"}
PORTAL_LABELS = {"Open Data": "Open Data Portal (data.ct.gov)", "Geo Data": "Geo Data Portal (geodata.ct.gov)"}
STATUSES = ("planned", "private", "public")
SHEET_NAME = "Data Access Plan"

# header words as agencies write them -> our key
ALIASES = {
    "agency": ["agency", "agencyname", "department", "organization"],
    "title": ["datasettitle", "title", "datasetname", "dataset", "name"],
    "description": ["description", "datasetdescription", "summary"],
    "portal": ["portal", "opendatageodata", "platform"],
    "status": ["status", "publicationstatus"],
    "url": ["url", "link", "datasetlink", "dataseturl", "address"],
    "update_frequency": ["updatefrequency", "frequency", "refreshfrequency"],
    "personal_data": ["containspersonaldata", "personaldata", "pii", "containspii"],
    "deidentification": ["deidentificationmethod", "deidentification", "anonymizationmethod", "privacymethod"],
    "date": ["date", "lastupdated", "dateupdated", "datepublished"],
    "contact": ["contact", "contactemail", "datasteward", "owner"],
}


class PlanError(CtopenError):
    """The Data Access Plan workbook could not be read or written."""


@dataclass
class PlanRow:
    agency: str = ""
    title: str = ""
    description: str = ""
    portal: str = "Open Data"
    status: str = "planned"
    url: str = ""
    update_frequency: str = ""
    personal_data: str = "No"
    deidentification: str = ""
    date: str = ""
    contact: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PlanUpdate:
    sheet: str
    row: int            # 1-based Excel row written
    added: bool         # True: a new row; False: an existing row updated
    content: bytes      # the workbook

    def to_dict(self) -> dict:
        return {"sheet": self.sheet, "row": self.row, "added": self.added}


def _norm(text) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text or "").lower())


def portal_of(published: Mapping | None) -> str:
    """The plan's Portal for a publish result: "Geo Data" when it went to the Geo Data Portal's ArcGIS organisation
    (a result with "to": "arcgis"), else "Open Data"."""
    return "Geo Data" if (published or {}).get("to") == "arcgis" else "Open Data"


def row_from_recipe(recipe: Mapping, *, status: str, url: str = "", portal: str = "Open Data",
                    personal_data: bool | None = None, on: str | None = None) -> PlanRow:
    """The plan row for a reviewed dataset: metadata from the recipe, method from its steps. `portal`: "Open Data"
    or "Geo Data" (`portal_of(result)` for where a publish went); the Geo Data Portal's row says so in its
    Portal cell and links the layer's item page."""
    from ctopen.report import deidentification_summary

    md = recipe.get("metadata") or {}
    roles = recipe.get("roles") or {}
    if personal_data is None:
        personal_data = any(r in ("direct", "quasi", "sensitive") for r in roles.values())
    return PlanRow(agency=md.get("agency") or "", title=md.get("title") or "", description=md.get("description") or "",
                   portal=portal, status=status, url=url or "", update_frequency=md.get("update_frequency") or "",
                   personal_data="Yes" if personal_data else "No",
                   deidentification=deidentification_summary(recipe) if personal_data else "not needed",
                   date=on or _date.today().isoformat(), contact=md.get("contact_email") or "")


def _check(row: PlanRow) -> None:
    if not row.title.strip():
        raise PlanError("The dataset has no title: fill in the title on the Describe page first.")
    if row.portal not in PORTALS:
        raise PlanError(f"The portal must be one of {', '.join(PORTALS)}, not {row.portal!r}.")
    if row.status not in STATUSES:
        raise PlanError(f"The status must be one of {', '.join(STATUSES)}, not {row.status!r}.")


def _find_header(ws, max_rows: int = 20) -> tuple[int, dict[str, int]] | None:
    """(header row, {key: column}) when a row among the first ones names the plan's title column."""
    best = None
    for r in range(1, min(ws.max_row, max_rows) + 1):
        found: dict[str, int] = {}
        for c in range(1, ws.max_column + 1):
            word = _norm(ws.cell(r, c).value)
            if not word:
                continue
            for key, names in ALIASES.items():
                if key not in found and word in names:
                    found[key] = c
                    break
        if "title" in found and len(found) >= 3 and (best is None or len(found) > len(best[1])):
            best = (r, found)
    return best


def update_plan(workbook: bytes | None, row: PlanRow, sheet: str | None = None) -> PlanUpdate:
    """Add or update `row` in the plan workbook (bytes of an .xlsx) or in a new one when None."""
    from openpyxl import Workbook, load_workbook
    from openpyxl.styles import Font

    _check(row)
    if workbook:
        try:
            wb = load_workbook(io.BytesIO(workbook))
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
            raise PlanError(f"The Data Access Plan is not a readable Excel workbook (.xlsx): {type(exc).__name__}.") from None
    else:
        wb = Workbook()
        wb.active.title = SHEET_NAME

    ws, header = None, None
    candidates = [wb[sheet]] if sheet and sheet in wb.sheetnames else wb.worksheets
    if sheet and sheet not in wb.sheetnames and workbook:
        raise PlanError(f"The workbook has no sheet {sheet!r}; its sheets are {', '.join(wb.sheetnames)}.")
    for candidate in candidates:
        found = _find_header(candidate)
        if found:
            ws, header = candidate, found
            break
    if ws is None:   # no plan sheet yet: add one (an empty new workbook's first sheet is used)
        if workbook or wb.active.max_row > 1:
            ws = wb.create_sheet(SHEET_NAME if SHEET_NAME not in wb.sheetnames else f"{SHEET_NAME} (ctopen)")
        else:
            ws = wb.active
        for c, name in enumerate(COLUMNS, start=1):
            cell = ws.cell(1, c, name)
            cell.font = Font(bold=True)
            ws.column_dimensions[cell.column_letter].width = max(14, len(name) + 2)
        header = (1, {k: i + 1 for i, k in enumerate(KEYS)})
    header_row, cols = header
    for key, name in zip(KEYS, COLUMNS):   # columns the agency's sheet lacks go at the end
        if key not in cols:
            c = ws.max_column + 1
            ws.cell(header_row, c, name)
            src = ws.cell(header_row, c - 1)
            if src.has_style:
                ws.cell(header_row, c)._style = copy(src._style)
            cols[key] = c

    values = row.to_dict()
    target, added = None, False
    last = header_row
    for r in range(header_row + 1, ws.max_row + 1):
        title = ws.cell(r, cols["title"]).value
        url = ws.cell(r, cols["url"]).value
        if title not in (None, "") or url not in (None, ""):
            last = r
        if (_norm(title) and _norm(title) == _norm(row.title)) or (row.url and url and str(url).strip() == row.url):
            target = r
            break
    if target is None:
        target, added = last + 1, True
        if last > header_row:   # style the new row like the one above
            for c in range(1, ws.max_column + 1):
                above = ws.cell(last, c)
                if above.has_style:
                    ws.cell(target, c)._style = copy(above._style)
    for key, c in cols.items():
        value = values.get(key)
        if value not in (None, "") or not added:
            if key in ("url",) and not value and not added:
                continue    # an update without a URL keeps the one the plan has
            ws.cell(target, c).value = value
    out = io.BytesIO()
    wb.save(out)
    return PlanUpdate(ws.title, target, added, out.getvalue())
