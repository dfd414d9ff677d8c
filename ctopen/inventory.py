"""Step 1 of the guidance: the high-value data inventory.

Two sources, one table shape (`Inventory`):

- the CT Data Catalog on data.ct.gov (the compiled high-value data inventories of executive
  branch agencies), read with sodapy's ``get`` page by page (``read_catalog``). The last fetch is
  kept as JSON in ``settings.state_dir()``, so the catalog shows at once and works offline;
- an agency's own inventory workbook (the state's High Value Data Inventory template, or any
  spreadsheet like it), read with ``ctopen.load`` (``read_inventory_file``).

Neither source's column names are assumed. Each needed field (agency, dataset, description,
published, update frequency, link, ...) is matched to a column by name, from a list of synonyms;
what could not be matched is reported in ``Inventory.unmapped`` and ``Inventory.warnings``, and
every column that was not used is kept as it is.
"""
from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ctopen import settings
from ctopen.errors import CtopenError, InventoryError

# The standard fields, in display order, with the words a column may be named by (compared after
# lower-casing and turning punctuation into spaces). Exact names first, then names that contain them.
FIELDS: dict[str, dict] = {
    "agency": {"label": "agency", "required": True,
               "names": ["agency", "agency name", "state agency", "department", "agency department", "owner agency",
                         "data owner agency", "organization", "attribution", "agency acronym"],
               "contains": ["agency", "department", "organization"]},
    "dataset": {"label": "dataset name", "required": True,
                "names": ["dataset", "dataset name", "data set", "data set name", "name of dataset", "name of data set",
                          "dataset title", "title", "name", "data name", "data asset", "data asset name",
                          "high value dataset", "high value data set", "data source", "data source name", "system name",
                          "layer", "layer name", "gis layer", "data layer"],
                "contains": ["dataset name", "data set name", "dataset title", "name of dataset", "name of data set",
                             "dataset", "data set", "data asset", "data source", "layer name"]},
    "description": {"label": "description",
                    "names": ["description", "dataset description", "data set description", "data description",
                              "summary", "brief description", "abstract", "purpose"],
                    "contains": ["description", "describe", "summary"]},
    "published": {"label": "published or not",
                  "names": ["published", "publicly available", "public", "is the data publicly available",
                            "is this data publicly available", "available to the public", "on open data portal",
                            "published on open data portal", "on the open data portal", "open data", "currently published",
                            "public availability", "publication status", "is the data published", "is this data published",
                            "published yes no", "published y n"],
                  "contains": ["publicly available", "published", "public availability", "open data portal",
                               "available to the public", "publicly"]},
    "update_frequency": {"label": "update frequency",
                         "names": ["update frequency", "frequency", "frequency of update", "frequency of updates",
                                   "update schedule", "refresh frequency", "how often is the data updated",
                                   "how often updated", "periodicity", "accrual periodicity", "update cycle", "refresh rate"],
                         "contains": ["frequency", "how often", "update schedule", "periodicity"]},
    "url": {"label": "link",
            "names": ["url", "link", "dataset link", "data link", "link to data", "link to dataset", "web link",
                      "website", "public link", "location", "where published", "where is the data published", "landing page"],
            "contains": ["url", "link", "website", "landing page"]},
    "contact": {"label": "contact",
                "names": ["contact", "contact name", "contact person", "point of contact", "data steward", "steward",
                          "data owner", "contact email", "email"],
                "contains": ["contact", "steward", "email"]},
    "category": {"label": "category",
                 "names": ["category", "topic", "subject", "theme", "domain", "program area"],
                 "contains": ["category", "topic", "theme"]},
}
STANDARD = list(FIELDS)
# Partial matches go from the most telling words to the most common ones: "Where is it published (URL)?"
# is a link, "Dataset Description" a description, and "dataset"/"agency" appear in many other headers.
PARTIAL_ORDER = ["url", "description", "update_frequency", "published", "contact", "category", "agency", "dataset"]
EXTRA = ["source"]      # which catalog or file a row came from
PUBLISHED_WORDS = {
    "yes": ["yes", "y", "true", "published", "public", "available", "publicly available", "on portal",
            "open data portal", "x", "1"],
    "no": ["no", "n", "false", "not published", "not public", "not available", "unpublished", "0", "none"],
    "partly": ["partial", "partially", "partly", "some", "in part", "partially published", "subset", "aggregate only",
               "aggregated only"],
}


@dataclass
class Inventory:
    """Datasets of one or more high-value data inventories, in one table shape.

    ``df`` holds the standard columns (``STANDARD`` + ``source``) first, then every column of the
    source that was not used, under its own name. ``mapping`` says which source column fed each
    standard field (None: none found)."""
    df: pd.DataFrame
    origin: str                                   # "catalog" or "file"
    source: str                                   # portal and dataset ids, or the file name
    mapping: dict[str, str | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    fetched_at: str | None = None                 # catalog: when it was read from the portal (UTC, ISO)
    from_cache: bool = False
    sheet: str | None = None
    header_row: int | None = None

    @property
    def unmapped(self) -> list[str]:
        return [f for f in STANDARD if not self.mapping.get(f)]

    @property
    def raw_columns(self) -> list[str]:
        return [c for c in self.df.columns if c not in STANDARD + EXTRA]

    def agencies(self) -> list[str]:
        values = self.df["agency"].dropna().map(lambda v: str(v).strip())
        return sorted({v for v in values if v}, key=str.casefold)

    def row(self, index: int) -> dict:
        """One dataset as a plain dict: the standard fields, then ``raw`` (the other columns)."""
        rec = self.df.iloc[index]
        out = {f: _plain(rec[f]) for f in STANDARD + EXTRA}
        out["raw"] = {c: _plain(rec[c]) for c in self.raw_columns if _plain(rec[c]) is not None}
        return out

    def to_dict(self) -> dict:
        return {"origin": self.origin, "source": self.source, "fetched_at": self.fetched_at,
                "from_cache": self.from_cache, "sheet": self.sheet, "header_row": self.header_row,
                "mapping": dict(self.mapping), "unmapped": self.unmapped, "warnings": list(self.warnings),
                "count": len(self.df), "datasets": [self.row(i) for i in range(len(self.df))]}

    def _with(self, df: pd.DataFrame, warnings: list[str] | None = None) -> "Inventory":
        return Inventory(df=df.reset_index(drop=True), origin=self.origin, source=self.source, mapping=self.mapping,
                         warnings=self.warnings + (warnings or []), fetched_at=self.fetched_at,
                         from_cache=self.from_cache, sheet=self.sheet, header_row=self.header_row)


def _plain(v):
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


# --- column mapping ------------------------------------------------------------------------------

def _norm(name: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", str(name).lower().replace("_", " ")).split())


def map_columns(columns: list[str]) -> dict[str, str | None]:
    """Standard field -> source column, by name. Exact synonyms win over partial ones; a column feeds one field."""
    normed = {c: _norm(c) for c in columns}
    mapping: dict[str, str | None] = {f: None for f in STANDARD}
    used: set[str] = set()
    for f, spec in FIELDS.items():                      # pass 1: exact names, in synonym order
        for name in spec["names"]:
            hit = next((c for c in columns if c not in used and normed[c] == name), None)
            if hit:
                mapping[f] = hit
                used.add(hit)
                break
    for f in PARTIAL_ORDER:                              # pass 2: a name that contains a telling word
        spec = FIELDS[f]
        if mapping[f]:
            continue
        for word in spec["contains"]:
            hit = next((c for c in columns if c not in used and re.search(rf"\b{re.escape(word)}\b", normed[c])), None)
            if hit:
                mapping[f] = hit
                used.add(hit)
                break
    return mapping


def _score(mapping: dict) -> int:
    return sum(2 if FIELDS[f].get("required") else 1 for f, c in mapping.items() if c)


def normalize(raw: pd.DataFrame, source_label: str | None = None, mapping: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """A source table -> (standard table, mapping). Values stay text; blanks are NA."""
    raw = raw.copy()
    raw.columns = [str(c) for c in raw.columns]
    mapping = mapping or map_columns(list(raw.columns))
    out = pd.DataFrame(index=raw.index)
    for f in STANDARD:
        col = mapping.get(f)
        out[f] = raw[col].map(_cell) if col else pd.Series(pd.NA, index=raw.index, dtype="str")
    out["published"] = out["published"].map(normalize_published)
    out["source"] = source_label
    for c in raw.columns:
        if c in mapping.values():
            continue
        name = c if c not in out.columns else f"{c} (original)"
        out[name] = raw[c].map(_cell)
    out = out.astype("str")
    return out, mapping


def missing_note(mapping: dict) -> list[str]:
    """The plain sentence saying which standard fields no column could be matched to."""
    missing = [FIELDS[f]["label"] for f in STANDARD if not mapping.get(f)]
    if not missing:
        return []
    return ["No column could be matched for: " + ", ".join(missing) + ". "
            "Those fields are left empty; every other column is shown as it is."]


def _cell(v):
    """A catalog or workbook value as text: Socrata URL fields arrive as {"url": ...}."""
    if v is None or (not isinstance(v, (str, dict, list)) and pd.isna(v)):
        return pd.NA
    if isinstance(v, dict):
        if "url" in v:
            return str(v["url"])
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "; ".join(str(x) for x in v)
    text = str(v).strip()
    return text if text else pd.NA


def normalize_published(value) -> str | None:
    """'Yes', 'Y', 'Published' -> 'yes'; 'No' -> 'no'; 'Partially' -> 'partly'; anything else kept as written."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return pd.NA
    text = _norm(value)
    for word, options in PUBLISHED_WORDS.items():
        if text in options:
            return word
    if text.startswith(("yes ", "y ")):
        return "yes"
    if text.startswith(("no ", "not ")):
        return "no"
    if text.startswith(("partial", "partly")):
        return "partly"
    return str(value).strip()


# --- filters ---------------------------------------------------------------------------------------

def for_agency(inv: Inventory, name: str) -> Inventory:
    """Rows of one agency: an exact (case-insensitive) name, else every agency whose name contains it.
    None found: an empty inventory whose warning names the closest agencies."""
    wanted = " ".join(str(name).split()).casefold()
    agency = inv.df["agency"].fillna("").map(lambda v: " ".join(v.split()).casefold())
    exact = agency == wanted
    if exact.any():
        return inv._with(inv.df[exact])
    part = agency.str.contains(wanted, regex=False) if wanted else agency == agency
    if part.any():
        return inv._with(inv.df[part])
    close = difflib.get_close_matches(str(name), inv.agencies(), n=3, cutoff=0.4)
    hint = f" Closest names: {', '.join(close)}." if close else ""
    return inv._with(inv.df.iloc[0:0], [f"No agency in the inventory matches '{name}'.{hint}"])


def search(inv: Inventory, text: str = "", published: str | None = None) -> Inventory:
    """Rows whose agency, dataset name or description contains every word of ``text``; optionally only
    rows whose ``published`` value is ``published`` ('yes', 'no', 'partly' or 'unknown')."""
    df = inv.df
    mask = pd.Series(True, index=df.index)
    if text and text.strip():
        hay = (df["agency"].fillna("") + " " + df["dataset"].fillna("") + " " + df["description"].fillna("")).str.casefold()
        for word in text.casefold().split():
            mask &= hay.str.contains(word, regex=False)
    if published:
        values = df["published"].fillna("unknown").str.casefold()
        mask &= values == published
    return inv._with(df[mask])


# --- the CT Data Catalog on the portal ---------------------------------------------------------------

def catalog_ids() -> dict[str, str]:
    """Catalog dataset id -> label: $CTOPEN_CATALOG_IDS (comma-separated) or settings.CATALOG_DATASETS."""
    env = os.environ.get(settings.CATALOG_IDS_ENV, "").strip()
    if env:
        return {i.strip(): settings.CATALOG_DATASETS.get(i.strip(), i.strip()) for i in env.split(",") if i.strip()}
    return dict(settings.CATALOG_DATASETS)


def cache_path() -> Path:
    return settings.state_dir() / settings.CATALOG_CACHE_FILE


def fetch_catalog(portal: str = settings.DEFAULT_PORTAL, dataset_ids: dict[str, str] | None = None,
                  app_token: str | None = None, timeout: float = settings.CATALOG_TIMEOUT,
                  page_size: int = settings.CATALOG_PAGE_SIZE, max_rows: int = settings.CATALOG_MAX_ROWS) -> dict:
    """Read every catalog dataset from the portal, page by page. Returns the cache document:
    {"portal", "fetched_at", "datasets": {id: {"label", "rows": [...]}}, "failed": {id: reason}}.
    Raises InventoryError only when no catalog dataset could be read."""
    import requests
    from ctopen.socrata_client import client

    ids = dataset_ids or catalog_ids()
    doc = {"portal": portal, "fetched_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "datasets": {}, "failed": {}}
    with client(portal, app_token=app_token, timeout=timeout) as soda:
        for dataset_id, label in ids.items():
            rows: list[dict] = []
            try:
                while len(rows) < max_rows:
                    page = soda.get(dataset_id, limit=page_size, offset=len(rows), order=":id")
                    if not isinstance(page, list):
                        raise ValueError("the portal did not answer with a list of rows")
                    rows.extend(page)
                    if len(page) < page_size:
                        break
            except requests.exceptions.Timeout:
                doc["failed"][dataset_id] = f"no answer within {timeout:g} seconds"
                continue
            except requests.exceptions.ConnectionError:
                doc["failed"][dataset_id] = f"{portal} could not be reached"
                continue
            except requests.exceptions.HTTPError as exc:
                doc["failed"][dataset_id] = str(exc).splitlines()[0]
                continue
            except ValueError as exc:
                doc["failed"][dataset_id] = f"the answer was not a table ({exc})"
                continue
            doc["datasets"][dataset_id] = {"label": label, "rows": rows[:max_rows]}
    if not doc["datasets"]:
        reasons = "; ".join(f"{i}: {r}" for i, r in doc["failed"].items())
        raise InventoryError(f"The CT Data Catalog could not be read from {portal} ({reasons}). "
                             "Upload your agency's inventory file instead, or try again later.")
    return doc


def _read_cache(portal: str, ids: dict[str, str]) -> dict | None:
    path = cache_path()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if doc.get("portal") != portal or not set(doc.get("datasets", {})) <= set(ids) or not doc.get("datasets"):
        return None
    return doc


def _write_cache(doc: dict) -> None:
    path = cache_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def _age_days(doc: dict) -> float:
    try:
        then = dt.datetime.fromisoformat(doc["fetched_at"])
    except (KeyError, ValueError, TypeError):
        return float("inf")
    return (dt.datetime.now(dt.timezone.utc) - then).total_seconds() / 86400


def read_catalog(portal: str = settings.DEFAULT_PORTAL, refresh: bool = False, app_token: str | None = None,
                 timeout: float = settings.CATALOG_TIMEOUT, dataset_ids: dict[str, str] | None = None,
                 max_age_days: float = settings.CATALOG_MAX_AGE_DAYS) -> Inventory:
    """The CT Data Catalog as an Inventory. A cached copy younger than ``max_age_days`` is used as is
    (unless ``refresh``); otherwise the portal is read, and if it cannot be, the cached copy is used with a
    warning. No portal and no cached copy: InventoryError."""
    ids = dataset_ids or catalog_ids()
    cached = _read_cache(portal, ids)
    notes: list[str] = []
    if cached is not None and not refresh and _age_days(cached) <= max_age_days:
        doc, from_cache = cached, True
    else:
        try:
            doc, from_cache = fetch_catalog(portal, ids, app_token=app_token, timeout=timeout), False
            _write_cache(doc)
        except InventoryError as exc:
            if cached is None:
                raise
            doc, from_cache = cached, True
            notes.append(f"The portal could not be read just now, so this is the copy saved on "
                         f"{cached['fetched_at'][:10]}: {exc}")
    return _catalog_inventory(doc, from_cache, notes)


def cached_catalog(portal: str = settings.DEFAULT_PORTAL, dataset_ids: dict[str, str] | None = None) -> Inventory | None:
    """The last copy of the catalog read from ``portal``, without touching the network (None: no copy)."""
    doc = _read_cache(portal, dataset_ids or catalog_ids())
    if doc is None:
        return None
    try:
        return _catalog_inventory(doc, True, [])
    except InventoryError:
        return None


def _catalog_inventory(doc: dict, from_cache: bool, notes: list[str]) -> Inventory:
    frames, mappings, warnings = [], {}, list(notes)
    for dataset_id, part in doc["datasets"].items():
        rows = part.get("rows") or []
        if not rows:
            warnings.append(f"Catalog {part.get('label', dataset_id)} ({dataset_id}) has no rows.")
            continue
        raw = pd.DataFrame.from_records(rows)
        raw = raw[[c for c in raw.columns if not str(c).startswith(":")]]   # Socrata system and computed fields
        norm, mapping = normalize(raw, source_label=f"{part.get('label', dataset_id)} ({dataset_id})")
        mappings[dataset_id] = mapping
        warnings += [f"{part.get('label', dataset_id)} ({dataset_id}): {x}" for x in missing_note(mapping)]
        if not mapping.get("dataset"):
            warnings.append(f"{part.get('label', dataset_id)} ({dataset_id}) was left out: none of its columns "
                            f"({', '.join(map(str, raw.columns[:12]))}) names the dataset.")
            continue
        frames.append(norm)
    for dataset_id, reason in doc.get("failed", {}).items():
        warnings.append(f"Catalog {dataset_id} could not be read: {reason}.")
    if not frames:
        raise InventoryError("The CT Data Catalog was read but none of its tables has a column naming the datasets; "
                             "upload your agency's inventory file instead.")
    df = pd.concat(frames, ignore_index=True)
    key = df["agency"].fillna("").str.casefold().str.strip() + "\x1f" + df["dataset"].fillna("").str.casefold().str.strip()
    dupes = int(key.duplicated().sum())
    if dupes:
        warnings.append(f"{dupes} dataset(s) listed in more than one catalog are shown once (from the first catalog).")
        df = df[~key.duplicated()]
    order = STANDARD + EXTRA + [c for c in df.columns if c not in STANDARD + EXTRA]
    first = next(iter(mappings.values()))
    return Inventory(df=df[order].reset_index(drop=True), origin="catalog",
                     source=f"{doc['portal']}: " + ", ".join(doc["datasets"]), mapping=first, warnings=warnings,
                     fetched_at=doc.get("fetched_at"), from_cache=from_cache)


# --- an uploaded inventory workbook -------------------------------------------------------------------

HEADER_SCAN_ROWS = 30


def read_inventory_file(path_or_buffer, name: str | None = None, sheet: str | None = None) -> Inventory:
    """An agency's inventory file (the High Value Data Inventory template or any workbook or CSV like it).
    Every sheet is tried (unless ``sheet`` is given); the one whose header names the most needed fields wins.
    The header may sit below title rows; if the loader's header is not the inventory's, the first rows are
    searched for it."""
    from ctopen.load import load

    if hasattr(path_or_buffer, "read"):
        name = name or getattr(path_or_buffer, "name", None)
        path_or_buffer = path_or_buffer.read()
    if not isinstance(path_or_buffer, (bytes, bytearray)):
        name = name or Path(path_or_buffer).name
    try:
        first = load(path_or_buffer, sheet=sheet, name=name)
    except CtopenError as exc:
        raise InventoryError(f"The inventory file could not be read: {exc}") from None
    sheets = [first.source.sheet] if sheet or not first.source.sheets else first.source.sheets
    best = None
    for sh in sheets:
        if sh == first.source.sheet:
            table = first
        else:
            try:
                table = load(path_or_buffer, sheet=sh, name=name)
            except CtopenError:
                continue
        df, header_row = _rehead(table.df, table.source.header_row)
        mapping = map_columns(list(df.columns))
        candidate = (_score(mapping), sh, df, header_row, mapping)
        if best is None or candidate[0] > best[0]:
            best = candidate
    score, sh, df, header_row, mapping = best
    label = first.source.file + (f", sheet '{sh}'" if sh else "")
    if not mapping.get("dataset"):
        raise InventoryError(f"No column of {label} names the datasets (looked for a header such as 'Dataset Name'); "
                             f"its columns are: {', '.join(map(str, df.columns[:15]))}.")
    norm, mapping = normalize(df, source_label=label, mapping=mapping)
    warnings = []
    if not mapping.get("agency"):
        agency = _agency_from_title(path_or_buffer, sh) if first.source.format in ("xlsx", "xlsm", "xls") else None
        if agency:
            norm["agency"] = agency
            mapping["agency"] = "(title rows)"
            warnings.append(f"No agency column: the agency '{agency}' was taken from the title rows above the table.")
    warnings[:0] = missing_note(mapping)
    if sh and len(sheets) > 1:
        warnings.append(f"Read sheet '{sh}' (of {len(sheets)}): its header matched the inventory fields best.")
    return Inventory(df=norm.reset_index(drop=True), origin="file", source=label, mapping=mapping, warnings=warnings,
                     sheet=sh, header_row=header_row)


def _rehead(df: pd.DataFrame, header_row: int | None) -> tuple[pd.DataFrame, int | None]:
    """If a row inside the data names more inventory fields than the header does, it is the header."""
    base = _score(map_columns(list(df.columns)))
    best_i, best_score = None, base
    for i in range(min(HEADER_SCAN_ROWS, len(df))):
        values = [str(v) for v in df.iloc[i].tolist() if not pd.isna(v)]
        if len(values) < 2:
            continue
        s = _score(map_columns(values))
        if s > best_score and map_columns(values).get("dataset"):
            best_i, best_score = i, s
    if best_i is None:
        return df, header_row
    names, seen = [], set()
    for j, v in enumerate(df.iloc[best_i].tolist()):
        n = str(v).strip() if not pd.isna(v) and str(v).strip() else f"column_{j + 1}"
        while n in seen:
            n += "_"
        seen.add(n)
        names.append(n)
    body = df.iloc[best_i + 1:].copy()
    body.columns = names
    body = body.dropna(how="all")
    return body.reset_index(drop=True), (header_row or 1) + best_i + 1


def _agency_from_title(data, sheet: str | None) -> str | None:
    """'Agency: Department of X' (or 'Agency' | 'Department of X') in the rows above the table."""
    import io

    from python_calamine import CalamineWorkbook

    try:
        raw = bytes(data) if isinstance(data, (bytes, bytearray)) else Path(data).read_bytes()
        wb = CalamineWorkbook.from_filelike(io.BytesIO(raw))
        rows = wb.get_sheet_by_name(sheet or wb.sheet_names[0]).to_python(nrows=HEADER_SCAN_ROWS)
    except Exception:  # noqa: BLE001 - a best-effort hint; the loader already read the file
        return None
    for r in rows:
        cells = [str(v).strip() for v in r if v is not None and str(v).strip()]
        for k, cell in enumerate(cells):
            m = re.match(r"^(agency(?: name)?|department)\s*[:\-]\s*(.+)$", cell, flags=re.I)
            if m:
                return m.group(2).strip()
            if _norm(cell) in ("agency", "agency name") and k + 1 < len(cells) and len(cells) <= 3:
                return cells[k + 1]
    return None
