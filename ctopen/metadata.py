"""Dataset metadata to the CT Open Data Portal's standard: the model, its checklist, two renderings.

Metadata lives in the recipe (`recipe["metadata"]`), a plain dict with the keys in `KEYS` (a public
interface, documented in docs/recipe.md). Validation returns findings as data plus a completeness
score; nothing here raises for an incomplete form.

    result = validate(meta, columns=release_columns)     # Validation: complete, score, findings, checklist
    view = to_socrata(meta, release_df)                  # Socrata view payload (sodapy create / update_metadata)
    kind = portal_type(release_df[column])               # number / calendar_date / checkbox / text: what is sent
    record = to_dcat(meta)                               # DCAT-US 1.1 (Project Open Data) dataset record
    values = suggest(table, detection, release)          # pre-filled values from the data (marked as suggestions)
"""
from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import asdict, dataclass, field

import pandas as pd

from ctopen import settings

KEYS = ("title", "description", "category", "agency", "row_label", "tags", "source_link", "geographic_unit",
        "temporal_coverage", "data_provided_by", "contact_email", "update_frequency", "license", "columns", "notes")

LABELS = {
    "title": "Title", "description": "Description", "category": "Category", "agency": "Agency",
    "row_label": "Row label", "tags": "Tags", "source_link": "Source link", "geographic_unit": "Geographic unit",
    "temporal_coverage": "Temporal coverage", "data_provided_by": "Data provided by",
    "contact_email": "Contact email", "update_frequency": "Update frequency", "license": "Public license type",
    "columns": "Column descriptions", "notes": "Notes and limitations of use",
}

CATEGORIES = ["Business", "Education", "Environment and Natural Resources", "Government", "Health and Human Services",
              "Housing and Development", "Local Government", "Public Safety", "Tax and Revenue", "Transportation"]

GEOGRAPHIC_UNITS = ["Latitude/longitude", "Street address", "Parcel (block/lot)", "Census block", "Census block group",
                    "Census tract", "Planning District", "Zip code", "Municipality", "County or county-equivalent",
                    "State", "Other", "Not applicable"]

UPDATE_FREQUENCIES = ["Not updated (historical only)", "As needed", "Annually", "Bi-annually", "Quarterly",
                      "Bi-monthly", "Monthly", "Bi-weekly", "Weekly", "Every weekday", "Daily", "Other"]

# DCAT-US 1.1 accrualPeriodicity: ISO 8601 repeating durations, or "irregular". "Bi-annually" is read as
# twice a year (R/P6M), as on Socrata portals; "Every weekday" is the nearest ISO value, daily.
ACCRUAL_PERIODICITY = {
    "As needed": "irregular", "Annually": "R/P1Y", "Bi-annually": "R/P6M", "Quarterly": "R/P3M",
    "Bi-monthly": "R/P2M", "Monthly": "R/P1M", "Bi-weekly": "R/P2W", "Weekly": "R/P1W",
    "Every weekday": "R/P1D", "Daily": "R/P1D", "Other": "irregular",
}

# Public license types: (label shown, Socrata licenseId, license URL for DCAT)
LICENSES = [
    ("Public Domain", "PUBLIC_DOMAIN", "https://creativecommons.org/publicdomain/mark/1.0/"),
    ("Creative Commons 1.0 Universal (Public Domain Dedication)", "CC0_10",
     "https://creativecommons.org/publicdomain/zero/1.0/"),
    ("Creative Commons Attribution 4.0 International", "CC_BY_40", "https://creativecommons.org/licenses/by/4.0/"),
    ("Open Data Commons Public Domain Dedication and License", "ODC_PDDL",
     "https://opendatacommons.org/licenses/pddl/1-0/"),
    ("Open Data Commons Attribution License", "ODC_BY", "https://opendatacommons.org/licenses/by/1-0/"),
    ("Open Data Commons Open Database License", "ODBL", "https://opendatacommons.org/licenses/odbl/1-0/"),
    ("See Terms of Use", "SEE_TERMS_OF_USE", None),
]
LICENSE_NAMES = [name for name, _, _ in LICENSES]

# Where each portal field goes in Socrata's metadata.custom_fields: key -> (group key in
# settings.CUSTOM_METADATA_GROUPS, field name). A portal that names fields differently changes this map.
CUSTOM_FIELDS = {
    "contact_email": ("common_core", "Contact Email"),
    "temporal_coverage": ("common_core", "Temporal Applicability"),
    "agency": ("dataset_information", "Agency"),
    "update_frequency": ("dataset_information", "Update Frequency"),
    "geographic_unit": ("dataset_information", "Geographic Unit"),
}

# Agency abbreviations (Connecticut state government) and other common acronyms, spelled out.
ACRONYMS = {
    "CT": "Connecticut", "DPH": "Department of Public Health", "DCP": "Department of Consumer Protection",
    "DOC": "Department of Correction", "OPM": "Office of Policy and Management", "DMV": "Department of Motor Vehicles",
    "DSS": "Department of Social Services", "DCF": "Department of Children and Families",
    "DEEP": "Department of Energy and Environmental Protection", "DOT": "Department of Transportation",
    "CTDOT": "Department of Transportation", "DOL": "Department of Labor",
    "DESPP": "Department of Emergency Services and Public Protection", "SDE": "State Department of Education",
    "CSDE": "State Department of Education", "DMHAS": "Department of Mental Health and Addiction Services",
    "DDS": "Department of Developmental Services", "DAS": "Department of Administrative Services",
    "DECD": "Department of Economic and Community Development", "DOH": "Department of Housing",
    "DRS": "Department of Revenue Services", "OCME": "Office of the Chief Medical Examiner",
    "DOAG": "Department of Agriculture", "DVA": "Department of Veterans Affairs", "DOB": "Department of Banking",
    "CID": "Connecticut Insurance Department", "DCJ": "Division of Criminal Justice", "OSC": "Office of the State Comptroller",
    "OTT": "Office of the Treasurer", "SOTS": "Secretary of the State", "OEC": "Office of Early Childhood",
    "DAPA": "Data and Policy Analytics", "BOPP": "Board of Pardons and Paroles", "CSSD": "Court Support Services Division",
    "DOI": "Department of Insurance", "OHS": "Office of Health Strategy", "DEMHS": "Division of Emergency Management and Homeland Security",
    "FY": "fiscal year", "YTD": "year to date", "NOS": "not otherwise specified", "COD": "cause of death",
    "EMS": "emergency medical services", "GIS": "geographic information system",
}
PLAIN_ACRONYMS = {"COVID", "ZIP", "US", "USA", "ID", "AM", "PM", "I", "A"}   # widely understood; not flagged
ROMAN = re.compile(r"^(?=[MDCLXVI])M*(C[MD]|D?C{0,3})(X[CL]|L?X{0,3})(I[XV]|V?I{0,3})$")

REQUIRED = ("title", "description", "category", "agency", "contact_email", "update_frequency", "license")
EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
URL = re.compile(r"^https?://[^\s/$.?#][^\s]*\.[^\s]+$", re.IGNORECASE)
PLACEHOLDER = "___"
LAST_UPDATED = re.compile(r"updated|update date|as of|refresh|extract|report(ed)? date|snapshot|last modified",
                          re.IGNORECASE)


@dataclass
class Finding:
    check: str
    field: str | None
    severity: str          # error / warning / info
    message: str
    suggestion: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ChecklistItem:
    key: str
    label: str          # the handbook's checklist item
    ok: bool
    weight: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Validation:
    complete: bool
    score: int                    # 0-100: the weighted share of the checklist that is done
    findings: list[Finding] = field(default_factory=list)
    checklist: list[ChecklistItem] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"complete": self.complete, "score": self.score, "findings": [f.to_dict() for f in self.findings],
                "checklist": [c.to_dict() for c in self.checklist]}


# --- the model ---------------------------------------------------------------------------------

def empty() -> dict:
    return {k: ([] if k == "tags" else {} if k == "columns" else "") for k in KEYS}


def normalize(meta: dict | None) -> dict:
    """Every key present, text stripped, tags a list of distinct non-empty strings, columns a dict."""
    out = empty()
    for k, v in (meta or {}).items():
        if k not in KEYS:
            out[k] = v   # unknown keys are kept, never dropped silently
            continue
        if k == "tags":
            items = v.split(",") if isinstance(v, str) else list(v or [])
            seen = []
            for t in (str(x).strip() for x in items):
                if t and t.lower() not in [s.lower() for s in seen]:
                    seen.append(t)
            out[k] = seen
        elif k == "columns":
            out[k] = {str(c): str(d).strip() for c, d in dict(v or {}).items() if d is not None and str(d).strip()}
        else:
            out[k] = "" if v is None else str(v).strip()
    return out


def publishable(meta: dict | None) -> dict:
    """normalize(meta) without unfinished suggestions: text still holding the ___ blank is left out."""
    m = normalize(meta)
    for k, v in list(m.items()):
        if isinstance(v, str) and PLACEHOLDER in v:
            m[k] = ""
    m["columns"] = {c: d for c, d in m["columns"].items() if PLACEHOLDER not in d}
    return m


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, (list, dict)) and not v)


# --- validation --------------------------------------------------------------------------------

def acronyms(text: str) -> list[tuple[str, str | None]]:
    """Acronyms in text that a reader may not know: (token, spelled-out form or None).

    An uppercase token of two or more letters, or a known agency abbreviation in any case, unless the
    text already spells it out ("Department of Public Health (DPH)") or it is widely understood (ZIP, COVID)."""
    out: list[tuple[str, str | None]] = []
    lower = (text or "").lower()
    for m in re.finditer(r"(?<![\w-])([A-Za-z][A-Za-z0-9&]*[A-Za-z0-9]|[A-Z])(?![\w-]*@)", text or ""):
        token = m.group(1)
        upper = token.upper()
        is_caps = token.isupper() and sum(ch.isalpha() for ch in token) >= 2
        known = upper in ACRONYMS and (is_caps or token in ("DoAg", "CTDot"))
        if not (is_caps or known) or upper in PLAIN_ACRONYMS or ROMAN.match(upper):
            continue
        if re.fullmatch(r"COVID\d*", upper):
            continue
        spelled = ACRONYMS.get(upper)
        before = text[max(0, m.start() - 1):m.start()]
        after = text[m.end():m.end() + 1]
        if spelled and spelled.lower() in lower:
            continue  # spelled out elsewhere in the same text
        if before == "(" and after == ")":
            continue  # defined in place: "Accidental Drug Deaths (ADD)"
        if token not in [t for t, _ in out]:
            out.append((token, spelled))
    return out


def title_problems(title: str) -> list[str]:
    """Why a title may be unclear or too technical for a non-technical reader."""
    t = (title or "").strip()
    out = []
    if not t:
        return out
    if "_" in t or re.search(r"\.(csv|xlsx?|json|txt|parquet)\b", t, re.IGNORECASE):
        out.append("it looks like a file or table name (underscores or a file extension)")
    if re.search(r"\b[a-z]+[A-Z]\w*", t):
        out.append("it has a run-together word (camelCase)")
    letters = [ch for ch in t if ch.isalpha()]
    if letters and all(ch.isupper() for ch in letters) and len(letters) > 4:
        out.append("it is written in ALL CAPS")
    if len(t.split()) < 3:
        out.append("it is shorter than three words; say what and where (e.g. 'Accidental Drug Deaths in Connecticut')")
    if len(t) > 80:
        out.append(f"it is {len(t)} characters long; keep it under 80 and put the detail in the description")
    if re.search(r"\b(final|draft|copy|test|tmp|temp|v\d+|export|extract|query)\b", t, re.IGNORECASE):
        out.append("it has a working word (final, draft, copy, v2, export...) that means nothing to the public")
    return out


def _valid_email(v: str) -> bool:
    return bool(EMAIL.match(v or ""))


def validate(meta: dict | None, columns: list[str] | None = None) -> Validation:
    """The handbook's metadata checklist over `meta`; `columns` are the published columns (descriptions, hints)."""
    m = normalize(meta)
    f: list[Finding] = []

    for key in REQUIRED:
        if _blank(m.get(key)):
            f.append(Finding("missing", key, "error", f"{LABELS[key]} is missing."))
    for key, severity, why in (("tags", "warning", "tags help people find the dataset in a search"),
                               ("source_link", "warning", "a link to the source lets people check the data"),
                               ("data_provided_by", "warning", "say who collected the data"),
                               ("geographic_unit", "warning", "say what place each row describes"),
                               ("temporal_coverage", "warning", "say which period the data covers"),
                               ("row_label", "info", "say what one row is (e.g. 'Death', 'Sale', 'License')"),
                               ("notes", "warning", "state limitations of use, caveats and how the data was collected")):
        if _blank(m.get(key)):
            f.append(Finding("missing", key, severity, f"{LABELS[key]}: not filled in; {why}."))

    title, desc = m["title"], m["description"]
    for problem in title_problems(title):
        f.append(Finding("title_unclear", "title", "warning", f"The title may be unclear: {problem}."))
    for key, text in (("title", title), ("description", desc)):
        for token, spelled in acronyms(text):
            hint = f"write '{spelled}' (or '{spelled} ({token})')" if spelled else "spell it out on first use"
            f.append(Finding("acronym", key, "warning", f"The {LABELS[key].lower()} uses the acronym '{token}': {hint}.",
                             spelled))
    if desc:
        if PLACEHOLDER in desc:
            f.append(Finding("description_placeholder", "description", "error",
                             "The description still has a blank to fill in (___): replace it with what one row is."))
        elif len(desc.split()) < 15:
            f.append(Finding("description_short", "description", "warning",
                             "The description is very short: say what the data contains, where it comes from and how "
                             "it was created (at least a few sentences)."))
    if m["category"] and m["category"] not in CATEGORIES:
        close = [c for c in CATEGORIES if m["category"].lower() in c.lower()][:1] or difflib.get_close_matches(
            m["category"], CATEGORIES, n=1, cutoff=0.5)
        f.append(Finding("bad_category", "category", "error",
                         f"'{m['category']}' is not a portal category" + (f"; did you mean '{close[0]}'?" if close else "."),
                         close[0] if close else None))
    if m["contact_email"] and not _valid_email(m["contact_email"]):
        f.append(Finding("bad_email", "contact_email", "error",
                         f"'{m['contact_email']}' is not a valid email address (name@agency.ct.gov)."))
    if m["source_link"] and not URL.match(m["source_link"]):
        f.append(Finding("bad_link", "source_link", "warning",
                         "The source link is not a web address (it should start with https://)."))
    for key, options in (("update_frequency", UPDATE_FREQUENCIES), ("geographic_unit", GEOGRAPHIC_UNITS),
                         ("license", LICENSE_NAMES)):
        if m[key] and m[key] not in options:
            f.append(Finding("bad_option", key, "error", f"'{m[key]}' is not one of the portal's {LABELS[key].lower()} options."))
    tags = m["tags"]
    if tags and any(len(t) > 60 for t in tags):
        f.append(Finding("bad_tag", "tags", "warning", "A tag is over 60 characters; tags are single words or short phrases."))

    undescribed = [c for c in (columns or []) if not m["columns"].get(c) or PLACEHOLDER in m["columns"][c]]
    if columns is not None and undescribed:
        shown = ", ".join(f"'{c}'" for c in undescribed[:6]) + (f" and {len(undescribed) - 6} more" if len(undescribed) > 6 else "")
        f.append(Finding("column_descriptions", "columns", "warning",
                         f"{len(undescribed)} of {len(columns)} published column(s) have no description: {shown}."))
    stale = [c for c in m["columns"] if columns is not None and c not in columns]
    if stale:
        f.append(Finding("column_descriptions", "columns", "info",
                         f"Descriptions for columns no longer published will be ignored: {', '.join(stale[:5])}."))
    if (columns is not None and m["update_frequency"] and m["update_frequency"] != UPDATE_FREQUENCIES[0]
            and not any(LAST_UPDATED.search(str(c)) for c in columns)):
        f.append(Finding("last_updated_hint", None, "info",
                         f"The data is updated ({m['update_frequency'].lower()}) but has no 'last updated' date column; "
                         "adding one tells users how fresh each row is."))

    has = {x.field for x in f if x.severity == "error"}
    acr = any(x.check == "acronym" for x in f)
    checklist = [
        ChecklistItem("contents", "What the data contains (a description)", bool(desc) and not {"description"} & has
                      and not any(x.check == "description_short" for x in f), 2),
        ChecklistItem("title", "A clear title for non-technical readers", bool(title) and not any(
            x.check == "title_unclear" for x in f), 2),
        ChecklistItem("plain", "Plain language, without jargon or acronyms", bool(title or desc) and not acr),
        ChecklistItem("source", "Source and how it was created", bool(m["data_provided_by"]) and bool(m["source_link"])
                      and "source_link" not in {x.field for x in f}),
        ChecklistItem("owner", "Data owner (agency and contact email)", bool(m["agency"]) and bool(m["contact_email"])
                      and "contact_email" not in has),
        ChecklistItem("frequency", "Update frequency", bool(m["update_frequency"]) and "update_frequency" not in has),
        ChecklistItem("limitations", "Limitations of use (notes)", bool(m["notes"])),
        ChecklistItem("findable", "Category and tags", bool(m["category"]) and "category" not in has and bool(tags)),
        ChecklistItem("coverage", "Geographic unit and temporal coverage", bool(m["geographic_unit"])
                      and "geographic_unit" not in has and bool(m["temporal_coverage"])),
        ChecklistItem("license", "Public license type", bool(m["license"]) and "license" not in has),
        ChecklistItem("row_label", "Row label (what one row is)", bool(m["row_label"])),
    ]
    if columns is not None:
        checklist.append(ChecklistItem("columns", "A description for every published column", not undescribed, 2))
    total = sum(c.weight for c in checklist)
    done = sum(c.weight for c in checklist if c.ok)
    score = int(round(100 * done / total)) if total else 0
    complete = all(c.ok for c in checklist) and not has
    order = {"error": 0, "warning": 1, "info": 2}
    f.sort(key=lambda x: order.get(x.severity, 9))
    return Validation(complete, score, f, checklist)


# --- renderings ------------------------------------------------------------------------------------

# --- portal column types ---------------------------------------------------------------------------

PORTAL_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?)?$")
PORTAL_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
PORTAL_TYPE_LABELS = {"number": "Number", "calendar_date": "Date", "checkbox": "Yes/no (checkbox)", "text": "Text"}


def portal_type(series: pd.Series) -> str:
    """The Socrata column type a release column is sent as: number, calendar_date, checkbox or text.

    The one place that decides it: the Describe preview, the Publish preview, the bundle and the publisher
    all call this (ctopen.publish.socrata.portal_type is this function). Only values already in the portal's
    own format count (ISO dates, plain numbers, true/false); anything else (03/21/2013, "$1,200", an age
    band "20-29") is sent as text, exactly as it is in the release table.
    """
    values = pd.Series(series.dropna().unique(), dtype=object).astype(str).str.strip()   # each distinct value once
    values = values[values != ""]
    if values.empty:
        return "text"
    if values.str.fullmatch(PORTAL_NUMBER.pattern).all():
        # leading zeros (ZIP, FIPS) are identifiers, not numbers
        return "text" if values.str.match(r"^-?0\d").any() else "number"
    if values.str.fullmatch(PORTAL_ISO_DATE.pattern).all():
        return "calendar_date"
    if values.str.lower().isin(["true", "false"]).all():
        return "checkbox"
    return "text"


def portal_types(df: pd.DataFrame) -> dict[str, str]:
    """{column: portal type} of a release table."""
    return {str(c): portal_type(df[c]) for c in df.columns}


def field_name(column: str, taken: set[str] | None = None) -> str:
    """The API field name Socrata derives from a column name: lower case, words joined by underscores."""
    name = re.sub(r"[^0-9a-z]+", "_", str(column).lower()).strip("_") or "column"
    if name[0].isdigit():
        name = "_" + name
    name = name[:63]
    if taken is not None:
        base, n = name, 2
        while name in taken:
            name = f"{base}_{n}"
            n += 1
        taken.add(name)
    return name


def license_info(name: str | None) -> tuple[str | None, str | None]:
    """(Socrata licenseId, license URL) for a license label."""
    for label, lid, url in LICENSES:
        if name and name == label:
            return lid, url
    return None, None


def to_socrata(meta: dict | None, release: pd.DataFrame | None = None) -> dict:
    """The Socrata view payload (`/api/views.json`): name, description, category, tags, attribution
    ("Data provided by"), attributionLink ("Source link"), licenseId/license, columns with descriptions, and
    metadata.rowLabel / metadata.custom_fields {group: {field: value}}. Empty values are left out.

    `release`: the release table; its columns are listed with the type `portal_type` gives each, which is
    what the publisher sends (a type read from the loaded file is not: a banded age is text).

    With sodapy: `client.create(p["name"], description=p.get("description"), columns=p.get("columns"),
    category=p.get("category"), tags=p.get("tags"), new_backend=True)` then
    `client.update_metadata(id, {k: p[k] for k in ("attribution", "attributionLink", "licenseId", "license",
    "metadata") if k in p})`. Do not pass `row_identifier=` together with `metadata=` to `create`: sodapy
    overwrites one with the other; put `rowIdentifier` inside `metadata` instead."""
    m = publishable(meta)
    groups = settings.CUSTOM_METADATA_GROUPS
    custom: dict[str, dict[str, str]] = {}
    for key, (group, fname) in CUSTOM_FIELDS.items():
        if m.get(key):
            custom.setdefault(groups.get(group, group), {})[fname] = m[key]
    lid, url = license_info(m["license"])
    description = m["description"]
    if m["notes"]:
        description = (description + "\n\n" if description else "") + m["notes"]
    payload = {
        "name": m["title"],
        "description": description,
        "category": m["category"] or None,
        "tags": m["tags"] or None,
        "attribution": m["data_provided_by"] or m["agency"] or None,
        "attributionLink": m["source_link"] or None,
        "licenseId": lid,
        "license": ({"name": m["license"], **({"termsLink": url} if url else {})} if m["license"] else None),
        "metadata": {k: v for k, v in (("rowLabel", m["row_label"] or None), ("custom_fields", custom or None)) if v},
    }
    if release is not None:
        taken: set[str] = set()
        payload["columns"] = [{"name": c, "fieldName": field_name(c, taken), "dataTypeName": t,
                               **({"description": m["columns"][c]} if m["columns"].get(c) else {})}
                              for c, t in portal_types(release).items()]
    return {k: v for k, v in payload.items() if v not in (None, "", [], {})} | {"name": m["title"]}


def temporal_interval(text: str | None) -> str | None:
    """An ISO 8601 interval ("2012-01-01/2018-12-31") from "2012-01-01 to 2018-12-31" (or "-", "–", "/")."""
    parts = re.split(r"\s+(?:to|through|until|-|–|—)\s+|/", (text or "").strip())
    if len(parts) != 2:
        return None
    try:
        a, b = (pd.Timestamp(p.strip()) for p in parts)
    except (ValueError, TypeError):
        return None
    if pd.isna(a) or pd.isna(b):
        return None
    return f"{a.date().isoformat()}/{b.date().isoformat()}"


def to_dcat(meta: dict | None, identifier: str | None = None, landing_page: str | None = None,
            modified: str | None = None) -> dict:
    """A DCAT-US 1.1 (Project Open Data) dataset record. accrualPeriodicity is ISO 8601 (Monthly -> R/P1M);
    a historical dataset has none. `modified` defaults to today."""
    m = publishable(meta)
    _, url = license_info(m["license"])
    record = {
        "@type": "dcat:Dataset",
        "title": m["title"],
        "description": m["description"],
        "keyword": m["tags"],
        "modified": modified or dt.date.today().isoformat(),
        "publisher": {"@type": "org:Organization", "name": m["agency"] or m["data_provided_by"]},
        "contactPoint": {"@type": "vcard:Contact", "fn": m["data_provided_by"] or m["agency"],
                         "hasEmail": f"mailto:{m['contact_email']}" if m["contact_email"] else ""},
        "identifier": identifier or landing_page or m["title"],
        "accessLevel": "public",
        "license": url,
        "rights": m["notes"] or None,
        "spatial": "Connecticut",
        "temporal": temporal_interval(m["temporal_coverage"]),
        "accrualPeriodicity": ACCRUAL_PERIODICITY.get(m["update_frequency"]),
        "theme": [m["category"]] if m["category"] else None,
        "landingPage": landing_page or m["source_link"] or None,
    }
    return {k: v for k, v in record.items() if v not in (None, "", [])}


# --- suggestions from the data ----------------------------------------------------------------------

@dataclass
class Suggestion:
    key: str
    value: object
    why: str

    def to_dict(self) -> dict:
        return asdict(self)


GEO_WORDS = [  # (header pattern, detected entity, geographic unit) - the finest unit present wins
    (r"^lat(itude)?\b|^lon(gitude)?\b|^(lat|lon)$|coordinates|geocode|^location ?1$", ("COORDINATES",), "Latitude/longitude"),
    (r"address|street", ("STREET_ADDRESS", "ADDRESS"), "Street address"),
    (r"parcel|block.?lot", (), "Parcel (block/lot)"),
    (r"census.?block.?group", (), "Census block group"),
    (r"census.?block", (), "Census block"),
    (r"tract", (), "Census tract"),
    (r"zip|postal", ("US_ZIP", "ZIP", "ZIP_CODE"), "Zip code"),
    (r"town|city|municipal", ("CT_TOWN", "TOWN", "CITY"), "Municipality"),
    (r"county|planning.?region", ("COUNTY",), "County or county-equivalent"),
    (r"^state$", (), "State"),
]
COORDS = r"\(?\s*-?\d{1,3}\.\d+\s*,\s*-?\d{1,3}\.\d+\s*\)?"
UNIT_ORDER = [unit for _, _, unit in GEO_WORDS]      # finest first
PLACE_UNITS = ("Municipality", "County or county-equivalent", "State")   # read from the values, not only the header
TYPE_TEXT = {"number": "A number", "calendar_date": "A date", "checkbox": "Yes or no", "text": "Text"}


def _frame_and_types(table) -> tuple[pd.DataFrame, dict]:
    df = getattr(table, "df", table)
    types = dict(getattr(table, "types", None) or {})
    return df, types


def _place_unit(values: pd.Series, unit: str) -> str | None:
    """The unit of place a column of the release holds: a town column generalized to counties (or planning
    regions) holds counties, one generalized to the state holds the state; None when nothing is left of it
    (every value blanked out). `unit` is what the header says."""
    from ctopen.hierarchies import STAR, town_table
    held = pd.Series(values.dropna().astype("str").str.strip().unique(), dtype="str")
    held = held[(held != "") & (held != STAR)]
    if held.empty:
        return None
    names = held.str.upper().str.replace(r"\s+(COUNTY|PLANNING REGION)$", "", regex=True)
    if names.isin(["CONNECTICUT", "CT", "STATE OF CONNECTICUT"]).all():
        return "State"
    towns = town_table()
    counties = {str(v).upper() for v in pd.concat([towns["county"], towns["planning_region"]]) if v}
    if unit == "Municipality" and names.isin(counties).all():
        return "County or county-equivalent"
    return unit


def suggestions(table, detection=None, release=None) -> list[Suggestion]:
    """Values the data itself suggests, each with the reason (shown as a suggestion, never as a fact).

    `release` is the release table (or ctopen.transform.Applied): the unit of place, the column skeletons
    (by the type each column is sent as) and the row count are read from it; the period covered is read
    from the loaded file's dates (a release that writes dates as years still covers the exact span)."""
    df, types = _frame_and_types(table)
    out_df = getattr(release, "df", release) if release is not None else df
    published = [str(c) for c in out_df.columns]
    out: list[Suggestion] = []
    rows = len(out_df)

    entities = {}
    for c in getattr(detection, "columns", None) or []:
        entities[getattr(c, "name", None)] = str(getattr(c, "entity", "") or "").upper()

    counts = next((e for e in getattr(release, "log", None) or [] if e.get("op") in ("aggregate", "spatial_aggregate") and e.get("notes")), None)
    if counts is not None:   # a count table: its suppression method belongs in the notes (Aggregate's rule 6)
        out.append(Suggestion("notes", counts["notes"], "the method of the count table's suppression"))

    date_cols = [c for c in published if types.get(c) == "date"]
    if not types:
        from ctopen.values import DATE
        date_cols = [c for c in published if out_df[c].dropna().astype("str").head(200).str.fullmatch(DATE.pattern).all()
                     and out_df[c].notna().any()]
    main_dates = [c for c in date_cols if not LAST_UPDATED.search(c)] or date_cols
    coverage = None
    if main_dates:
        from ctopen.values import parse_dates
        col = main_dates[0]
        # the span of the data itself: a release that writes dates as years still covers the exact span
        parsed = parse_dates((df[col] if col in df.columns else out_df[col]).dropna())
        parsed = parsed[(parsed.dt.year >= 1900) & (parsed.dt.year <= dt.date.today().year + 1)]
        if len(parsed):
            lo, hi = parsed.min(), parsed.max()
            coverage = f"{lo.date().isoformat()} to {hi.date().isoformat()}"
            out.append(Suggestion("temporal_coverage", coverage, f"the earliest and latest dates in '{col}'"))

    coords = [c for c in published if not re.search(r"city|town|county|zip|state", c, re.IGNORECASE)
              and out_df[c].dropna().astype("str").head(50).str.contains(COORDS, regex=True).mean() > 0.8]
    places: list[tuple[int, str, str]] = []    # (rank, unit, column): the finest unit the release holds wins
    for pattern, ents, unit in GEO_WORDS:
        hit = [c for c in published if re.search(pattern, c, re.IGNORECASE) or (ents and entities.get(c) in ents)]
        if unit == "Latitude/longitude":
            hit = hit + [c for c in coords if c not in hit]
        for c in hit:
            held = _place_unit(out_df[c], unit) if unit in PLACE_UNITS else unit
            if held is not None:
                places.append((UNIT_ORDER.index(held), held, c))
    if places:
        _, unit, col = min(places, key=lambda p: p[0])   # the first column of the finest unit
        out.append(Suggestion("geographic_unit", unit, f"the column '{col}' holds {unit.lower()} values"))

    period = f", from {coverage}" if coverage else ""
    out.append(Suggestion("description",
                          f"This dataset has {rows:,} rows, one per {PLACEHOLDER}{period}. "
                          "Describe what each row is, where the data comes from and how it was collected.",
                          f"the release table has {rows:,} rows and {len(published)} columns"))

    col_desc = {}
    for c, kind in portal_types(out_df).items():
        text = TYPE_TEXT[kind]
        if kind == "number" and out_df[c].dropna().astype("str").str.fullmatch(r"-?\d+").all():
            text = "A whole number"
        col_desc[c] = f"{text}: {PLACEHOLDER}"
    out.append(Suggestion("columns", col_desc, "a skeleton from the type each column is sent as; fill in what each one means"))

    if not any(LAST_UPDATED.search(c) for c in published):
        out.append(Suggestion("hint_last_updated", True,
                              "no column says when each row was last updated; add one if the data is updated regularly"))
    return out


def suggest(table, detection=None, release=None) -> dict:
    """Metadata values pre-filled from the data: {key: value} for the keys the data can suggest."""
    return {s.key: s.value for s in suggestions(table, detection, release) if s.key in KEYS}
