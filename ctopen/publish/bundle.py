"""The local bundle: everything a portal administrator needs to publish the release by hand.

The default when there are no portal credentials. A folder, or a ZIP when the path ends in .zip (or as
bytes for a download button), holding:
    data.csv                the release table (UTF-8, as released)
    metadata-socrata.json   the Socrata view payload (title, description, category, tags, columns...)
    metadata-dcat.json      the DCAT-US 1.1 (Project Open Data) dataset record
    recipe.json             the recipe, without anything that looks like a secret
    report.html             the privacy review report (when given)
    README.txt              what the files are and the handbook's order: private, review, then public
and, for a map release (ctopen.geo.map_location: a spatial_aggregate, or points published):
    map.geojson, map.shp.zip, map.gpkg   the layer (ctopen.geo.map_file_bytes)
    arcgis_item.json        the ArcGIS item's metadata (ctopen.publish.arcgis.item_properties)
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd

from ctopen.errors import ConfigError

FILES = ("data.csv", "metadata-socrata.json", "metadata-dcat.json", "recipe.json", "report.html", "README.txt")
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|key[_-]?(id|secret)|pseudonym[_-]?key|credential",
                         re.IGNORECASE)

ISO_FREQUENCY = {  # DCAT-US accrualPeriodicity (ISO 8601 repeating durations)
    "Daily": "R/P1D", "Every weekday": "R/P1D", "Weekly": "R/P1W", "Bi-weekly": "R/P2W", "Monthly": "R/P1M",
    "Bi-monthly": "R/P2M", "Quarterly": "R/P3M", "Bi-annually": "R/P6M", "Annually": "R/P1Y",
    "As needed": "irregular", "Not updated (historical only)": "irregular", "Other": "irregular",
}


@dataclass
class Bundle:
    path: str | None
    files: list[str] = field(default_factory=list)
    rows: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


# Mappings whose keys are the data's own column names or values, not settings: a column called
# "credentialid" keeps its role and its description (the given secret values are still masked everywhere).
_DATA_KEYED = {("roles",), ("metadata", "columns")}


def _data_keyed(path: tuple) -> bool:
    return path in _DATA_KEYED or (len(path) >= 2 and path[0] == "steps")   # a step's mapping of values


def clean_recipe(recipe: Mapping, secrets: list[str] | tuple[str, ...] = ()) -> dict:
    """A copy of the recipe without keys that name a secret and without any of the given secret values."""
    def clean(value, path=(), data_keyed=False):
        if isinstance(value, Mapping):
            return {k: clean(v, path + (str(k),), data_keyed or _data_keyed(path + (str(k),)))
                    for k, v in value.items() if data_keyed or not _SECRET_KEY.search(str(k))}
        if isinstance(value, (list, tuple)):
            return [clean(v, path, data_keyed) for v in value]
        if isinstance(value, str):
            for secret in secrets:
                if secret and len(secret) >= 4 and secret in value:
                    value = value.replace(secret, "***")
        return value
    return clean(dict(recipe))


def dcat_record(metadata: Mapping | None, url: str | None = None) -> dict:
    """DCAT-US 1.1 dataset record: ctopen.metadata's rendering when present, else built here."""
    metadata = dict(metadata or {})
    try:
        from ctopen.metadata import to_dcat
    except ImportError:
        to_dcat = None
    record = to_dcat(metadata, identifier=url, landing_page=url) if to_dcat else None
    if isinstance(record, dict):
        if url and not record.get("landingPage"):
            record = {**record, "landingPage": url}
        return record
    freq = metadata.get("update_frequency")
    record = {
        "@type": "dcat:Dataset",
        "title": metadata.get("title") or "",
        "description": metadata.get("description") or "",
        "keyword": list(metadata.get("tags") or []),
        "modified": None,
        "publisher": {"@type": "org:Organization", "name": metadata.get("agency") or metadata.get("data_provided_by") or ""},
        "contactPoint": {"@type": "vcard:Contact", "fn": metadata.get("data_provided_by") or metadata.get("agency") or "",
                         "hasEmail": f"mailto:{metadata['contact_email']}" if metadata.get("contact_email") else ""},
        "identifier": url or "",
        "accessLevel": "public",
        "license": metadata.get("license") or None,
        "landingPage": url or None,
        "theme": [metadata["category"]] if metadata.get("category") else [],
        "temporal": metadata.get("temporal_coverage") or None,
        "spatial": metadata.get("geographic_unit") or None,
        "accrualPeriodicity": ISO_FREQUENCY.get(freq) if freq else None,
        "references": [metadata["source_link"]] if metadata.get("source_link") else [],
    }
    return {k: v for k, v in record.items() if v not in (None, "", [])} | {"title": record["title"]}


def readme(metadata: Mapping | None, rows: int, maps: bool = False) -> str:
    title = (metadata or {}).get("title") or "this dataset"
    return (f"Publication bundle for {title} ({rows:,} rows), written by ctopen.\n\n"
            "data.csv               the release table, exactly as reviewed\n"
            "metadata-socrata.json  the dataset's metadata for the CT Open Data Portal (Socrata)\n"
            "metadata-dcat.json     the same metadata as a DCAT-US 1.1 record\n"
            "recipe.json            the steps that made the release from the source file (re-usable next time)\n"
            "report.html            the privacy review report (open it in a browser; it prints)\n"
            + ("map.geojson            the release as a map layer (GeoJSON, RFC 7946, WGS84) for the CT Geo Data Portal\n"
               "map.shp.zip            the same layer as a zipped shapefile\n"
               "map.gpkg               the same layer as a GeoPackage\n"
               "arcgis_item.json       the ArcGIS item's title, snippet, description, tags and license\n"
               if maps else "") + "\n"
            "Publish it private first, have the team review it on the portal, and only then make it public.\n")


def contents(df: pd.DataFrame, recipe: Mapping, *, report_html: str | None = None, url: str | None = None,
             secrets: list[str] | tuple[str, ...] = ()) -> dict[str, bytes]:
    """The bundle's files as {name: bytes}."""
    from ctopen.publish.socrata import view_payload

    metadata = recipe.get("metadata") or {}
    files = {
        "data.csv": csv_bytes(df),
        "metadata-socrata.json": _json(view_payload(metadata, df)),
        "metadata-dcat.json": _json(dcat_record(metadata, url)),
        "recipe.json": _json(clean_recipe(recipe, secrets)),
    }
    if report_html is not None:
        files["report.html"] = report_html.encode("utf-8")
    from ctopen import geo
    if (where := geo.map_location(df, recipe)) is not None:   # a map release: the layer in three formats, and the item's metadata
        files.update(geo.map_file_bytes(df, "map", where))
        from ctopen.publish.arcgis import item_properties
        files["arcgis_item.json"] = _json(item_properties(metadata, list(df.columns)))
    files["README.txt"] = readme(metadata, len(df), maps="map.geojson" in files).encode("utf-8")
    from ctopen.publish.socrata import configured_secrets, scrub
    secrets = [s for s in list(secrets) + configured_secrets() if s and len(s) >= 4]
    for name, data in files.items():   # last line of defence: no secret leaves in a bundle
        text = data.decode("utf-8", "replace")
        if not any(secret in text for secret in secrets):
            continue
        if name == "data.csv" or name.startswith("map."):   # the data itself is never changed silently
            raise ConfigError("The release data would contain a portal credential or the pseudonym key: remove it "
                              "from the data and try again.")
        files[name] = scrub(text, secrets).encode("utf-8")   # pasted into metadata or a note: masked
    return files


def csv_bytes(df: pd.DataFrame) -> bytes:
    """The one CSV writer: UTF-8, CRLF line ends (RFC 4180), so a cell holding a line break or a carriage
    return is quoted (with "\n" endings pandas leaves a lone "\r" unquoted and the file gains a row)."""
    return df.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def to_zip(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def write(path, df: pd.DataFrame, recipe: Mapping, *, report_html: str | None = None, url: str | None = None,
          secrets: list[str] | tuple[str, ...] = ()) -> Bundle:
    """Write the bundle to `path`: a ZIP when it ends in .zip, else a folder (created if needed)."""
    path = Path(path)
    files = contents(df, recipe, report_html=report_html, url=url, secrets=secrets)
    try:
        if path.suffix.lower() == ".zip":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(to_zip(files))
        else:
            if path.exists() and not path.is_dir():
                raise ConfigError(f"{path} exists and is not a folder: give a folder or a path ending in .zip.")
            path.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                (path / name).write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"The bundle could not be written to {path}: {exc.strerror or exc}.") from None
    return Bundle(str(path), list(files), len(df))


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")
