"""A local, stateful emulator of the Socrata endpoints sodapy 2.2.0 calls, for the publish tests.

No Socrata portal can be reached from the test machines, so tests point ctopen at this server
(`http://127.0.0.1:PORT`) and assert the end state it keeps: datasets, their rows, metadata and
permission. Endpoints (as sodapy builds them, see sodapy/socrata.py and sodapy/utils.py):

    POST /api/views.json                         create (Socrata.create)            -> view JSON
    GET  /api/views/{id}.json                    get_metadata                       -> view JSON
    PUT  /api/views/{id}.json                    update_metadata (full replace of the keys sent)
    PUT  /api/views/{id}.json?method=setPermission&value=public.read|private   (empty body)
    POST /api/views/{id}/publication.json        publish                            -> view JSON
    POST /resource/{id}.json                     upsert rows (row identifier when set, else append)
    PUT  /resource/{id}.json                     replace all rows
    GET  /resource/{id}.json                     read rows ($limit, $offset)

A view is public when its `grants` hold a viewer grant flagged "public", as on Socrata.
Faults are injected with `fail(...)`: an HTTP status (401, 403, 404, 429, 500, ...) or "timeout"
(the server waits longer than the client's timeout and, unless `processed=True`, does nothing).
"""
from __future__ import annotations

import base64
import json
import random
import string
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from tests.loopback_server import LoopbackServer


@dataclass
class Fault:
    kind: int | str                 # HTTP status or "timeout"
    method: str | None = None       # GET/POST/PUT or None for any
    path: str | None = None         # substring of the path (e.g. "/resource/", "setPermission") or None
    times: int = 1                  # how many matching requests fail
    processed: bool = False         # timeout only: do the work, then answer too late
    delay: float = 2.0              # timeout only: seconds to wait

    def matches(self, method: str, target: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or self.path in target)


@dataclass
class Dataset:
    view: dict
    rows: list[dict] = field(default_factory=list)
    public: bool = False
    published: bool = False


class SodaEmulator(LoopbackServer):
    """Start with `with SodaEmulator(username=..., password=...) as emu:`; `emu.url` is the portal."""

    handler = None     # the request handler, set below its definition (start, stop, url: LoopbackServer)

    def __init__(self, username: str = "publisher@ct.gov", password: str = "s3cret-Pa55word",
                 app_token: str | None = None, default_public: bool = False):
        self.username, self.password, self.app_token = username, password, app_token
        self.default_public = default_public
        self.datasets: dict[str, Dataset] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []      # (method, path?query) as received
        self.bodies: list[bytes] = []                   # every request body as received
        self.headers: list[dict] = []                   # every request's headers
        self.lock = threading.Lock()

    # --- test helpers -----------------------------------------------------------------------
    def fail(self, kind: int | str, method: str | None = None, path: str | None = None,
             times: int = 1, processed: bool = False, delay: float = 2.0) -> None:
        with self.lock:
            self.faults.append(Fault(kind, method, path, times, processed, delay))

    def public_ids(self) -> list[str]:
        return [i for i, d in self.datasets.items() if d.public]

    def add_dataset(self, name: str, columns: list[dict], rows: list[dict] | None = None,
                    public: bool = True, row_identifier: str | None = None) -> str:
        """An existing dataset on the portal (for replace / upsert tests)."""
        view = {"name": name, "columns": columns, "metadata": {}}
        if row_identifier:
            view["metadata"]["rowIdentifier"] = row_identifier
        ds = self._new(view)
        ds.rows = [dict(r) for r in (rows or [])]
        ds.public, ds.published = public, True
        return ds.view["id"]

    # --- state ------------------------------------------------------------------------------
    def _new(self, view: dict) -> Dataset:
        while True:
            four = "".join(random.choices(string.ascii_lowercase + string.digits, k=4))
            ident = f"{four}-{''.join(random.choices(string.ascii_lowercase + string.digits, k=4))}"
            if ident not in self.datasets:
                break
        view = dict(view)
        view["id"] = ident
        for i, col in enumerate(view.get("columns") or []):
            col.setdefault("fieldName", col.get("name", f"col{i}").lower().replace(" ", "_"))
            col.setdefault("id", i + 1)
            col.setdefault("position", i + 1)
        ds = Dataset(view=view, public=self.default_public)
        self.datasets[ident] = ds
        return ds

    def render(self, ds: Dataset) -> dict:
        view = dict(ds.view)
        view["publicationStage"] = "published" if ds.published else "unpublished"
        view["grants"] = [{"inherited": False, "type": "viewer", "flags": ["public"]}] if ds.public else []
        return view


def _fieldnames(ds: Dataset) -> set[str]:
    return {c.get("fieldName") for c in ds.view.get("columns") or []}


class _Handler(BaseHTTPRequestHandler):
    emulator: SodaEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    # --- plumbing ---------------------------------------------------------------------------
    def _send(self, status: int, body=None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"code": {401: "authentication_required", 403: "permission_denied", 404: "not_found",
                                     429: "too_many_requests"}.get(status, "error"),
                            "error": True, "message": message})

    def _authorized(self) -> bool:
        emu = self.emulator
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == emu.username and password == emu.password

    def _handle(self, method: str) -> None:
        emu = self.emulator
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parsed = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        with emu.lock:
            emu.requests.append((method, self.path))
            emu.bodies.append(body)
            emu.headers.append(dict(self.headers))
            fault = next((f for f in emu.faults if f.times > 0 and f.matches(method, self.path)), None)
            if fault:
                fault.times -= 1
        if fault is not None:
            if fault.kind == "timeout":
                if fault.processed:
                    with emu.lock:
                        status, payload = self._route(method, parsed.path, query, body)
                time.sleep(fault.delay)
                self.close_connection = True
                return
            self._error(int(fault.kind), f"Injected fault {fault.kind}")
            return
        if method != "GET" and not self._authorized():
            self._error(401, "Invalid username or password")
            return
        with emu.lock:
            status, payload = self._route(method, parsed.path, query, body)
        if status >= 400:
            self._error(status, payload)
        else:
            self._send(status, payload)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    # --- the API ----------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict, body: bytes):
        emu = self.emulator
        parts = [p for p in path.split("/") if p]
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return 400, "Body is not JSON"
        if parts == ["api", "views.json"] and method == "POST":
            if not isinstance(data, dict) or not data.get("name"):
                return 400, "A name is required"
            return 200, emu.render(emu._new(data))
        if len(parts) == 3 and parts[:2] == ["api", "views"] and parts[2].endswith(".json"):
            ds = emu.datasets.get(parts[2][:-5])
            if ds is None:
                return 404, "Cannot find view with id " + parts[2][:-5]
            if method == "GET":
                return 200, emu.render(ds)
            if method == "PUT" and query.get("method") == "setPermission":
                value = query.get("value")
                if value not in ("public.read", "private"):
                    return 400, f"Unknown permission {value}"
                ds.public = value == "public.read"
                return 200, None
            if method == "PUT":
                if not isinstance(data, dict):
                    return 400, "Metadata must be an object"
                for key, value in data.items():
                    if key not in ("id", "grants", "publicationStage"):
                        ds.view[key] = value
                return 200, emu.render(ds)
        if len(parts) == 4 and parts[:2] == ["api", "views"] and parts[3] == "publication.json" and method == "POST":
            ds = emu.datasets.get(parts[2])
            if ds is None:
                return 404, "Cannot find view with id " + parts[2]
            if ds.published:
                return 400, "This dataset is already published"
            ds.published = True
            return 200, emu.render(ds)
        if len(parts) == 2 and parts[0] == "resource" and parts[1].endswith(".json"):
            ds = emu.datasets.get(parts[1][:-5])
            if ds is None:
                return 404, "Cannot find dataset " + parts[1][:-5]
            if method == "GET":
                offset, limit = int(query.get("$offset", 0)), int(query.get("$limit", 1000))
                return 200, ds.rows[offset:offset + limit]
            if not isinstance(data, list):
                return 400, "Rows must be a JSON array"
            known = _fieldnames(ds)
            for row in data:
                unknown = set(row) - known - {":deleted", ":id"}
                if unknown:
                    return 400, f"Illegal field name(s): {sorted(unknown)}"
            if method == "PUT":
                ds.rows = [dict(r) for r in data if not r.get(":deleted")]
                return 200, {"Rows Created": len(ds.rows), "Rows Updated": 0, "Rows Deleted": 0, "Errors": 0}
            if method == "POST":
                return 200, _upsert(ds, data)
        return 404, f"No route for {method} {path}"


def _upsert(ds: Dataset, data: list[dict]) -> dict:
    ident = (ds.view.get("metadata") or {}).get("rowIdentifier")
    created = updated = deleted = 0
    for row in data:
        if ident and row.get(ident) is not None:
            match = next((i for i, r in enumerate(ds.rows) if r.get(ident) == row[ident]), None)
            if row.get(":deleted"):
                if match is not None:
                    ds.rows.pop(match)
                    deleted += 1
                continue
            if match is not None:
                ds.rows[match] = dict(row)
                updated += 1
                continue
        if not row.get(":deleted"):
            ds.rows.append(dict(row))
            created += 1
    return {"Rows Created": created, "Rows Updated": updated, "Rows Deleted": deleted, "Errors": 0,
            "By RowIdentifier": updated if ident else 0}


SodaEmulator.handler = _Handler
