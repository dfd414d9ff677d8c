"""A local, stateful emulator of Socrata's Data Management API (DSMAPI), served over HTTPS on 127.0.0.1, for
the publish tests. It is driven by the real socrata-py (1.2.0): every resource is answered as DSMAPI answers
it, `{"resource": {...}, "links": {...}}`, and socrata-py follows the links it is given (see socrata/resource.py,
revisions.py, sources.py, input_schema.py, output_schema.py, job.py).

    POST   /api/publishing/v1/revision                            a new dataset (a draft view) + its revision 0
    GET    /api/publishing/v1/revision/{ff}                       the dataset's revisions
    POST   /api/publishing/v1/revision/{ff}                       a revision {metadata, action: {type, permission}}
    GET|PUT|DELETE /api/publishing/v1/revision/{ff}/{seq}         show | update (metadata, ...) | discard
    PUT    /api/publishing/v1/revision/{ff}/{seq}/apply           apply -> a job (task set)
    GET    /api/publishing/v1/revision/{ff}/{seq}/task_set/{id}   the job (finishes after `job_polls` reads)
    GET|POST /api/publishing/v1/revision/{ff}/{seq}/source        list | create a source (upload)
    GET    /api/publishing/v1/source/{id}                         the source with its input and output schemas
    POST   /api/publishing/v1/source/{id}/initiate|chunk/{n}|commit/{n}   the chunked upload (CSV)
    POST   /api/publishing/v1/source/{id}/schema/{is}             transform -> a new output schema
    GET    .../schema/{is}/output/{os}[/rows|/errors|/validate_row_id/{transform}]
    GET    /api/views/{ff}[.json]                                 the view (name, columns, permissions, ...)
    GET    /resource/{ff}.json                                    the rows, as SODA2 returns them

What the portal does that matters for a publisher: an upload is parsed as text and Socrata *guesses* each
column's type (06010 becomes the number 6010 unless the publisher says text); a transform that cannot read a
value counts an error on its column (to_floating_timestamp of 2020-02-30); applying a revision runs a job that
changes the dataset all at once when it succeeds and not at all when it fails; the revision's permission
(public/private, or none: kept) takes effect with the job.

Faults: `fail(kind, method, path, times, processed, delay, retry_after)` answers matching requests with an HTTP
status (429 with a Retry-After header when given) or a time-out (the server waits `delay` seconds and closes the
connection; with `processed=True` it does the work first). `fail_job(times)` makes the next jobs finish as
failed. `approval = True`: a public revision is held for an approver (the job says approval_submitted). `mistype[field] = type` makes the portal read a column as another type whatever the transform says.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import random
import re
import string
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from tests.loopback_server import LoopbackServer

V1 = "/api/publishing/v1"


def make_certificate(folder: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and localhost (valid one day): (certificate file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ctopen test portal")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "portal-cert.pem", folder / "portal-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


@dataclass
class Fault:
    kind: int | str                 # HTTP status or "timeout"
    method: str | None = None
    path: str | None = None         # a substring of the path and query
    times: int = 1
    processed: bool = False         # timeout only: do the work, then answer too late
    delay: float = 2.0
    retry_after: int | None = None  # a Retry-After header (seconds) on the answer

    def matches(self, method: str, target: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or self.path in target)


@dataclass
class Dataset:
    id: str
    view: dict                                  # name, description, category, tags, metadata, ...
    columns: list = field(default_factory=list)  # [{name, fieldName, dataTypeName, description}]
    rows: list = field(default_factory=list)
    public: bool = False
    published: bool = False
    row_identifier: str | None = None            # a field name
    revisions: list = field(default_factory=list)


class DsmapiEmulator(LoopbackServer):
    """`with DsmapiEmulator(cert, key) as emu:`; `emu.url` is the portal (https://127.0.0.1:PORT)."""

    handler = None     # the request handler, set below its definition (start, stop, url: LoopbackServer)

    def __init__(self, certfile: str, keyfile: str, username: str = "publisher@ct.gov",
                 password: str = "s3cret-Pa55word", default_public: bool = False, job_polls: int = 1,
                 chunk_size: int = 1 << 20):
        self.certfile, self.keyfile = certfile, keyfile
        self.username, self.password = username, password
        self.default_public = default_public
        self.job_polls = job_polls              # reads of a job (or its revision) before it finishes
        self.chunk_size = chunk_size            # preferred_chunk_size told to the client
        self.datasets: dict[str, Dataset] = {}
        self.sources: dict[int, dict] = {}
        self.input_schemas: dict[int, dict] = {}
        self.output_schemas: dict[int, dict] = {}
        self.jobs: dict[int, dict] = {}
        self.faults: list[Fault] = []
        self.failing_jobs = 0
        self.mistype: dict[str, str] = {}
        self.approval = False                   # making a dataset public waits for an approver
        self.requests: list[tuple[str, str]] = []
        self.bodies: list[bytes] = []
        self.headers: list[dict] = []
        self.lock = threading.RLock()
        self._ids = iter(range(1, 10 ** 9))

    # --- test helpers ---------------------------------------------------------------------------
    def fail(self, kind, method=None, path=None, times=1, processed=False, delay=2.0, retry_after=None) -> None:
        with self.lock:
            self.faults.append(Fault(kind, method, path, times, processed, delay, retry_after))

    def fail_job(self, times: int = 1) -> None:
        with self.lock:
            self.failing_jobs += times

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()
            self.failing_jobs = 0

    def public_ids(self) -> list[str]:
        return [i for i, d in self.datasets.items() if d.public]

    def open_revisions(self, ff: str) -> list[dict]:
        return [r for r in self.datasets[ff].revisions if not r["closed_at"]]

    def add_dataset(self, name: str, columns: list[dict], rows: list[dict] | None = None, public: bool = True,
                    row_identifier: str | None = None) -> str:
        """An existing, published dataset (for replace / upsert / delete tests)."""
        ds = self._new_dataset({"name": name})
        ds.columns = [dict(c) for c in columns]
        ds.rows = [dict(r) for r in rows or []]
        ds.public, ds.published, ds.row_identifier = public, True, row_identifier
        return ds.id

    # --- state ----------------------------------------------------------------------------------
    def _next(self) -> int:
        return next(self._ids)

    def _new_dataset(self, metadata: dict) -> Dataset:
        while True:
            part = lambda: "".join(random.choices(string.ascii_lowercase + string.digits, k=4))  # noqa: E731
            ident = f"{part()}-{part()}"
            if ident not in self.datasets:
                break
        ds = Dataset(ident, {k: v for k, v in (metadata or {}).items() if k != "columns"}, public=self.default_public)
        self.datasets[ident] = ds
        return ds

    def view_json(self, ds: Dataset) -> dict:
        view = dict(ds.view)
        view["id"] = ds.id
        view["columns"] = [{**c, "id": 1000 + i, "position": i + 1} for i, c in enumerate(ds.columns)]
        view["publicationStage"] = "published" if ds.published else "unpublished"
        view["permissions"] = {"scope": "public" if ds.public else "private"}
        view["grants"] = [{"inherited": False, "type": "viewer", "flags": ["public"]}] if ds.public else []
        if ds.row_identifier:
            view["rowIdentifierColumnId"] = next(c["id"] for c in view["columns"] if c["fieldName"] == ds.row_identifier)
        return view

    def _new_revision(self, ds: Dataset, body: dict) -> dict:
        action = dict(body.get("action") or {})
        if action.get("type") not in ("update", "replace", "delete"):
            raise _Refused(400, f"Unknown revision action {action.get('type')!r}")
        if action.get("permission") not in (None, "public", "private"):
            raise _Refused(400, f"Unknown permission {action.get('permission')!r}")
        rev = {"id": self._next(), "fourfour": ds.id, "revision_seq": len(ds.revisions),
               "action": {"type": action["type"], "permission": action.get("permission")},
               "metadata": dict(body.get("metadata") or {}), "output_schema_id": None, "blob_id": None,
               "notes": None, "task_sets": [], "closed_at": None, "created_at": _now(),
               "created_by": {"display_name": "publisher"}}
        ds.revisions.append(rev)
        return rev

    def revision_links(self, rev: dict) -> dict:
        base = f"{V1}/revision/{rev['fourfour']}/{rev['revision_seq']}"
        return {"show": base, "update": base, "discard": base, "apply": base + "/apply", "plan": base + "/plan",
                "create_source": base + "/source", "list_sources": base + "/source"}

    def revision_doc(self, rev: dict) -> dict:
        return {"resource": rev, "links": self.revision_links(rev)}

    def source_links(self, src: dict) -> dict:
        base = f"{V1}/source/{src['id']}"
        schema = base + "/schema/{input_schema_id}"
        output = schema + "/output/{output_schema_id}"
        return {"show": base, "update": base, "bytes": base, "initiate": base + "/initiate",
                "chunk": base + "/chunk/{seq_num}?byte_offset={byte_offset}",
                "commit": base + "/commit/{seq_num}?byte_offset={byte_offset}",
                "input_schema_links": {
                    "show": schema, "transform": schema, "latest_output": schema + "/output/latest",
                    "output_schema_links": {"show": output, "rows": output + "/rows", "schema_errors": output + "/errors",
                                            "validate_row_id": output + "/validate_row_id/{transform_id}"}}}

    def source_doc(self, src: dict) -> dict:
        resource = {k: v for k, v in src.items() if not k.startswith("_")}
        resource["schemas"] = [self._input_resource(self.input_schemas[i]) for i in src["_schemas"]]
        return {"resource": resource, "links": self.source_links(src)}

    def _input_resource(self, ins: dict) -> dict:
        resource = {k: v for k, v in ins.items() if not k.startswith("_")}
        resource["output_schemas"] = [self._output_resource(self.output_schemas[o]) for o in ins["_outputs"]]
        return resource

    @staticmethod
    def _output_resource(out: dict) -> dict:
        return {k: v for k, v in out.items() if not k.startswith("_")}

    def input_doc(self, ins: dict) -> dict:
        links = _parameterize(self.source_links(self.sources[ins["source_id"]])["input_schema_links"],
                              "input_schema_id", ins["id"])
        return {"resource": self._input_resource(ins), "links": links}

    def output_doc(self, out: dict) -> dict:
        ins = self.input_schemas[out["input_schema_id"]]
        links = _parameterize(self.source_links(self.sources[ins["source_id"]])["input_schema_links"],
                              "input_schema_id", ins["id"])["output_schema_links"]
        return {"resource": self._output_resource(out), "links": _parameterize(links, "output_schema_id", out["id"])}

    def job_doc(self, job: dict) -> dict:
        rev = job["_revision"]
        return {"resource": {k: v for k, v in job.items() if not k.startswith("_")},
                "links": {"show": f"{V1}/revision/{rev['fourfour']}/{rev['revision_seq']}/task_set/{job['id']}"}}

    # --- parsing and transforms -----------------------------------------------------------------
    def _parse_upload(self, src: dict) -> None:
        import csv
        import io

        data = b"".join(part for _, part in sorted(src["_chunks"].items()))
        text = data.decode("utf-8")
        records = list(csv.reader(io.StringIO(text, newline="")))
        header, rows = (records[0], records[1:]) if records else ([], [])
        names = [_field_name(h) for h in header]
        ins = {"id": self._next(), "source_id": src["id"], "total_rows": len(rows), "num_row_errors": 0,
               "input_columns": [{"id": self._next(), "field_name": n, "display_name": h, "position": i,
                                  "soql_type": "text"} for i, (n, h) in enumerate(zip(names, header))],
               "_rows": [dict(zip(names, r)) for r in rows], "_outputs": []}
        self.input_schemas[ins["id"]] = ins
        src["_schemas"].append(ins["id"])
        guessed = [{"field_name": c["field_name"], "display_name": c["display_name"], "description": "",
                    "position": c["position"],
                    "transform": {"transform_expr": f"{_GUESS_FN[_guess(ins['_rows'], c['field_name'])]}(`{c['field_name']}`)"}}
                   for c in ins["input_columns"]]
        self._transform(ins, guessed)
        src["finished_at"] = _now()

    def _transform(self, ins: dict, columns: list[dict]) -> dict:
        out_cols, converted = [], [dict() for _ in ins["_rows"]]
        total_errors = 0
        error_rows: set[int] = set()
        for i, col in enumerate(columns):
            expr = (col.get("transform") or {}).get("transform_expr") or ""
            match = re.fullmatch(r"\s*(?:(to_number|to_text|to_floating_timestamp|to_boolean)\()?\s*`([^`]+)`\s*\)?\s*", expr)
            if not match:
                raise _Refused(400, f"Cannot parse transform {expr!r}")
            fn, source = match.group(1), match.group(2)
            given = next((c for c in ins["input_columns"] if c["field_name"] == source), None)
            if given is None:
                raise _Refused(400, f"No input column {source!r}")
            soql = _FN_TYPE[fn] if fn else given["soql_type"]     # a bare `column` keeps the input's type
            soql = self.mistype.get(col["field_name"], soql)
            errors = 0
            for n, row in enumerate(ins["_rows"]):
                ok, value = _convert(row.get(source, ""), soql)
                if not ok:
                    errors += 1
                    error_rows.add(n)
                elif value is not None:
                    converted[n][col["field_name"]] = value
            total_errors += errors
            out_cols.append({"id": self._next(), "field_name": col["field_name"],
                             "display_name": col.get("display_name") or col["field_name"],
                             "description": col.get("description") or "", "position": col.get("position", i),
                             "is_primary_key": bool(col.get("is_primary_key")),
                             "transform": {"id": self._next(), "transform_expr": expr, "output_soql_type": soql,
                                           "error_count": errors, "failed_at": None, "completed_at": _now()}})
        if ins.get("_view"):      # a dataset source that is not loaded: column metadata only, no rows read
            total_errors, error_rows = 0, set()
            for oc in out_cols:
                oc["transform"]["error_count"] = 0
        out = {"id": self._next(), "input_schema_id": ins["id"], "output_columns": out_cols, "_view": ins.get("_view"),
               "error_count": len(error_rows), "total_rows": len(ins["_rows"]), "sort_bys": [],
               "completed_at": _now(), "finished_at": _now(), "created_at": _now(),
               "_rows": [r for n, r in enumerate(converted) if n not in error_rows], "_error_rows": sorted(error_rows)}
        self.output_schemas[out["id"]] = out
        ins["_outputs"].append(out["id"])
        return out

    # --- applying a revision --------------------------------------------------------------------
    def _apply(self, rev: dict, body: dict) -> dict:
        if rev["closed_at"]:
            raise _Refused(400, "This revision has already been applied or discarded")
        os_id = (body or {}).get("output_schema_id") or rev.get("output_schema_id")
        if os_id is not None and os_id not in self.output_schemas:
            raise _Refused(400, f"No output schema {os_id}")
        failing = self.failing_jobs > 0
        if failing:
            self.failing_jobs -= 1
        job = {"id": self._next(), "status": "initializing", "created_at": _now(), "finished_at": None,
               "output_schema_id": os_id, "log": [{"stage": "started", "details": None, "time": _now()}],
               "_revision": rev, "_polls": 0, "_fail": failing}
        if self.approval and rev["action"].get("permission") == "public":   # held for an approver: no change
            job.update(key="approval_submitted", status="submitted_for_approval")
        rev["task_sets"].append({k: v for k, v in job.items() if not k.startswith("_")})
        rev["output_schema_id"] = os_id
        rev["closed_at"] = _now()
        self.jobs[job["id"]] = job
        if job.get("key") == "approval_submitted":
            return job
        if self.job_polls <= 0:
            self._finish(job)
        return job

    def _finish(self, job: dict) -> None:
        rev = job["_revision"]
        ds = self.datasets[rev["fourfour"]]
        if job["_fail"]:
            job["status"] = "failure"
            job["log"].insert(0, {"stage": "failure", "details": {"reason": "Injected job failure"}, "time": _now()})
        else:
            self._effect(ds, rev, job["output_schema_id"])
            job["status"] = "successful"
            job["log"].insert(0, {"stage": "upsert_complete", "details": {"Errors": 0}, "time": _now()})
        job["finished_at"] = _now()
        for ts in rev["task_sets"]:
            if ts["id"] == job["id"]:
                ts.update(status=job["status"], finished_at=job["finished_at"], log=job["log"])

    def _view_source(self, src: dict, ds: Dataset) -> None:
        """A source that is the dataset itself (socrata-py's source_from_dataset), not loaded: its columns only."""
        ins = {"id": self._next(), "source_id": src["id"], "total_rows": len(ds.rows), "num_row_errors": 0,
               "input_columns": [{"id": self._next(), "field_name": c["fieldName"], "display_name": c["name"],
                                  "position": i, "soql_type": c["dataTypeName"]} for i, c in enumerate(ds.columns)],
               "_rows": [], "_outputs": [], "_view": ds.id}
        self.input_schemas[ins["id"]] = ins
        src["_schemas"].append(ins["id"])
        self._transform(ins, [{"field_name": c["fieldName"], "display_name": c["name"],
                               "description": c.get("description") or "", "position": i + 1,
                               "transform": {"transform_expr": f"`{c['fieldName']}`"}} for i, c in enumerate(ds.columns)])
        src["source_type"]["loaded"] = False
        src["finished_at"] = _now()

    def _effect(self, ds: Dataset, rev: dict, os_id: int | None) -> None:
        """What a successful job does, all at once."""
        kind = rev["action"]["type"]
        if os_id is not None and self.output_schemas[os_id].get("_view"):   # column metadata only
            for oc in self.output_schemas[os_id]["output_columns"]:
                for col in ds.columns:
                    if col["fieldName"] == oc["field_name"]:
                        col.update(name=oc["display_name"], description=oc["description"])
            os_id = None
        if os_id is not None:
            out = self.output_schemas[os_id]
            cols = sorted(out["output_columns"], key=lambda c: c["position"])
            pk = next((c["field_name"] for c in cols if c["is_primary_key"]), None)
            rows = [dict(r) for r in out["_rows"]]
            if kind == "delete":
                ident = pk or ds.row_identifier
                gone = {r.get(ident) for r in rows}
                ds.rows = [r for r in ds.rows if r.get(ident) not in gone]
            else:
                ds.columns = [{"name": c["display_name"], "fieldName": c["field_name"],
                               "dataTypeName": c["transform"]["output_soql_type"], "description": c["description"]}
                              for c in cols]
                if kind == "replace" or not ds.published:
                    ds.rows = rows
                else:   # update: upsert on the row identifier, else append
                    ident = pk or ds.row_identifier
                    for row in rows:
                        at = next((i for i, r in enumerate(ds.rows) if ident and r.get(ident) == row.get(ident)), None)
                        if at is None:
                            ds.rows.append(row)
                        else:
                            ds.rows[at] = row
                ds.row_identifier = pk if kind == "replace" or not ds.published else (pk or ds.row_identifier)
        for key, value in (rev.get("metadata") or {}).items():
            if key not in ("id", "columns", "permissions", "grants"):
                ds.view[key] = value
        if rev["action"].get("permission") in ("public", "private"):
            ds.public = rev["action"]["permission"] == "public"
        ds.published = True

    def _poll(self, job: dict) -> None:
        if job["finished_at"] is None and job.get("key") != "approval_submitted":
            job["_polls"] += 1
            if job["_polls"] >= self.job_polls:
                self._finish(job)


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _parameterize(links: dict, name: str, value) -> dict:
    return {k: (v.replace("{%s}" % name, str(value)) if isinstance(v, str) else _parameterize(v, name, value))
            for k, v in links.items()}


def _field_name(header: str) -> str:
    name = re.sub(r"[^0-9a-z]+", "_", header.lower()).strip("_") or "column"
    return "_" + name if name[0].isdigit() else name


_FN_TYPE = {"to_number": "number", "to_text": "text", "to_floating_timestamp": "calendar_date", "to_boolean": "checkbox"}
_GUESS_FN = {v: k for k, v in _FN_TYPE.items()}


def _guess(rows: list[dict], name: str) -> str:
    """The type Socrata guesses from the values (as the import does: 06010 reads as a number)."""
    values = [r.get(name, "") for r in rows if r.get(name, "") != ""]
    for soql in ("number", "calendar_date", "checkbox"):
        if values and all(_convert(v, soql)[0] for v in values):
            return soql
    return "text"


def _convert(value: str, soql: str):
    """(ok, value as the portal stores it; None for an empty cell)."""
    if value == "":
        return True, None
    if soql == "text":
        return True, value
    if soql == "number":
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return False, None
        if not number.is_finite():
            return False, None
        text = format(number.normalize(), "f") if number != number.to_integral() else str(int(number))
        return True, text
    if soql == "calendar_date":
        for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f"):
            try:
                return True, dt.datetime.strptime(value.strip(), fmt).strftime("%Y-%m-%dT%H:%M:%S.000")
            except ValueError:
                continue
        return False, None
    if soql == "checkbox":
        low = value.strip().lower()
        return (True, low == "true") if low in ("true", "false") else (False, None)
    return False, None


class _Handler(BaseHTTPRequestHandler):
    emulator: DsmapiEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status: int, body=None, headers: dict | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict | None = None) -> None:
        code = {401: "authentication_required", 403: "permission_denied", 404: "not_found",
                429: "too_many_requests"}.get(status, "error")
        self._send(status, {"key": code, "message": message, "params": {}}, headers)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == self.emulator.username and password == self.emulator.password

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
                if fault.processed and self._authorized():
                    with emu.lock:
                        self._route(method, parsed.path, query, body)
                time.sleep(fault.delay)
                self.close_connection = True
                return
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            self._error(int(fault.kind), f"Injected fault {fault.kind}", headers)
            return
        if not self._authorized():
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

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    # --- the API --------------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict, body: bytes):
        try:
            return self._dispatch(method, path, query, body)
        except _Refused as exc:
            return exc.status, exc.message

    def _dispatch(self, method: str, path: str, query: dict, body: bytes):
        emu = self.emulator
        parts = [p for p in path.split("/") if p]
        is_json = "json" in (self.headers.get("Content-Type") or "") or not body
        try:
            data = json.loads(body) if body and is_json else None
        except ValueError:
            return 400, "Body is not JSON"
        if parts[:2] == ["api", "views"] and len(parts) == 3 and method == "GET":
            ds = emu.datasets.get(parts[2].removesuffix(".json"))
            return (200, emu.view_json(ds)) if ds else (404, f"Cannot find view {parts[2]}")
        if parts[:1] == ["resource"] and len(parts) == 2 and method == "GET":
            ds = emu.datasets.get(parts[1].removesuffix(".json"))
            if ds is None:
                return 404, f"Cannot find dataset {parts[1]}"
            offset, limit = int(query.get("$offset", 0)), int(query.get("$limit", 1000))
            return 200, ds.rows[offset:offset + limit]
        if parts[:3] != ["api", "publishing", "v1"]:
            return 404, f"No route for {method} {path}"
        rest = parts[3:]
        if rest[:1] == ["revision"]:
            return self._revisions(method, rest[1:], data)
        if rest[:1] == ["source"] and len(rest) >= 2:
            return self._sources(method, rest[1:], query, body, data)
        return 404, f"No route for {method} {path}"

    def _revisions(self, method: str, rest: list[str], data):
        emu = self.emulator
        if not rest:
            if method != "POST":
                return 405, "Method not allowed"
            ds = emu._new_dataset((data or {}).get("metadata") or {})
            rev = emu._new_revision(ds, data or {})
            return 201, emu.revision_doc(rev)
        ds = emu.datasets.get(rest[0])
        if ds is None:
            return 404, f"Cannot find view {rest[0]}"
        if len(rest) == 1:
            if method == "GET":
                return 200, [emu.revision_doc(r) for r in ds.revisions]
            if method == "POST":
                if not ds.published and emu.open_revisions(ds.id):
                    return 400, "The dataset has an open revision that was never applied"
                return 201, emu.revision_doc(emu._new_revision(ds, data or {}))
            return 405, "Method not allowed"
        try:
            rev = ds.revisions[int(rest[1])]
        except (ValueError, IndexError):
            return 404, f"Cannot find revision {rest[1]}"
        tail = rest[2:]
        if not tail:
            if method == "GET":      # the job runs on: reading its revision counts as a read of the job
                for ts in rev["task_sets"]:
                    emu._poll(emu.jobs[ts["id"]])
                return 200, emu.revision_doc(rev)
            if method == "PUT":
                if rev["closed_at"]:
                    return 400, "This revision is closed"
                for key, value in (data or {}).items():
                    if key == "metadata":
                        rev["metadata"].update(value or {})
                    elif key in ("output_schema_id", "notes"):
                        rev[key] = value
                    elif key == "action" and isinstance(value, dict) and "permission" in value:
                        rev["action"]["permission"] = value["permission"]
                return 200, emu.revision_doc(rev)
            if method == "DELETE":
                rev["closed_at"] = rev["closed_at"] or _now()
                return 200, emu.revision_doc(rev)
        if tail == ["apply"] and method == "PUT":
            return 200, emu.job_doc(emu._apply(rev, data or {}))
        if len(tail) == 2 and tail[0] == "task_set" and method == "GET":
            job = emu.jobs.get(int(tail[1]))
            if job is None:
                return 404, "No such job"
            emu._poll(job)
            return 200, emu.job_doc(job)
        if tail == ["source"]:
            if method == "GET":
                return 200, [emu.source_doc(s) for s in emu.sources.values()
                             if s["_revision"] is rev]
            if method == "POST":
                if rev["closed_at"]:
                    return 400, "This revision is closed"
                kind = dict((data or {}).get("source_type") or {})
                if kind.get("type") not in ("upload", "view"):
                    return 400, "Only uploads and dataset sources are emulated"
                if kind["type"] == "view" and kind.get("fourfour") != ds.id:
                    return 400, "A dataset source must be the revision's own dataset"
                src = {"id": emu._next(), "source_type": kind, "parse_options": (data or {}).get("parse_options") or {},
                       "content_type": None, "finished_at": None, "failed_at": None, "created_at": _now(),
                       "_chunks": {}, "_schemas": [], "_revision": rev}
                emu.sources[src["id"]] = src
                if kind["type"] == "view":
                    emu._view_source(src, ds)
                return 201, emu.source_doc(src)
        if tail == ["plan"] and method == "GET":
            return 200, {"resource": [{"type": "apply_metadata"}], "links": {}}
        return 404, "No route"

    def _sources(self, method: str, rest: list[str], query: dict, body: bytes, data):
        emu = self.emulator
        src = emu.sources.get(int(rest[0])) if rest[0].isdigit() else None
        if src is None:
            return 404, f"Cannot find source {rest[0]}"
        tail = rest[1:]
        if not tail and method == "GET":
            return 200, emu.source_doc(src)
        if tail == ["initiate"] and method == "POST":
            src["content_type"] = (data or {}).get("content_type")
            return 200, {"preferred_chunk_size": emu.chunk_size, "preferred_upload_parallelism": 2}
        if len(tail) == 2 and tail[0] == "chunk" and method == "POST":
            src["_chunks"][int(tail[1])] = body
            return 200, {}
        if len(tail) == 2 and tail[0] == "commit" and method == "POST":
            if src["finished_at"]:
                return 400, "This upload was already committed"
            emu._parse_upload(src)
            return 200, {}
        if len(tail) >= 2 and tail[0] == "schema":
            ins = emu.input_schemas.get(int(tail[1]))
            if ins is None or ins["source_id"] != src["id"]:
                return 404, "No such input schema"
            more = tail[2:]
            if not more:
                if method == "GET":
                    return 200, emu.input_doc(ins)
                if method == "POST":
                    return 201, emu.output_doc(emu._transform(ins, (data or {}).get("output_columns") or []))
            if more[:1] == ["output"] and len(more) >= 2:
                out_id = ins["_outputs"][-1] if more[1] == "latest" else int(more[1])
                out = emu.output_schemas.get(out_id)
                if out is None:
                    return 404, "No such output schema"
                last = more[2:]
                if not last:
                    return 200, emu.output_doc(out)
                if last == ["rows"]:
                    return 200, _row_page(out, query)
                if last == ["errors"]:
                    return 200, _error_page(out, ins, query)
                if len(last) == 2 and last[0] == "validate_row_id":
                    col = next((c for c in out["output_columns"] if str(c["transform"]["id"]) == last[1]), None)
                    if col is None:
                        return 404, "No such transform"
                    values = [r.get(col["field_name"]) for r in out["_rows"]]
                    valid = None not in values and len(set(values)) == len(values) and not out["_error_rows"]
                    return 200, {"valid": valid}
        return 404, "No route"


def _row_page(out: dict, query: dict) -> list:
    offset, limit = int(query.get("offset", 0)), int(query.get("limit", 500))
    cols = sorted(out["output_columns"], key=lambda c: c["position"])
    rows = out["_rows"][offset:offset + limit]
    return [{"output_columns": cols}] + [{"row": [{"ok": r.get(c["field_name"])} for c in cols]} for r in rows]


def _error_page(out: dict, ins: dict, query: dict) -> list:
    offset, limit = int(query.get("offset", 0)), int(query.get("limit", 500))
    cols = sorted(out["output_columns"], key=lambda c: c["position"])
    page = out["_error_rows"][offset:offset + limit]
    return [{"output_columns": cols}] + [
        {"row": [{"error": {"message": "Unable to convert"}} if c["transform"]["error_count"] else {"ok": None}
                 for c in cols]} for _ in page]


DsmapiEmulator.handler = _Handler
