"""Publish through Socrata's Data Management API (DSMAPI) with socrata-py: revisions, the path the portal supports.

A dataset changes only through a *revision*: the release is uploaded to a *source*, the portal reads it into an
*output schema* (each column's type, and the rows it could not read), and the revision is *applied* as a *job*
that changes the dataset all at once, with the revision's permission. The calls, in socrata-py's words:

- create: `POST /api/publishing/v1/revision` {metadata, action: {type: update, permission: private}} (as
  `Socrata.new`, with the permission set explicitly) -> the new dataset's id; `revision.create_upload` +
  `source.csv` (initiate, chunks, commit); `input_schema.transform` (every column's field name, display name,
  description and type: to_text / to_number / to_floating_timestamp / to_boolean); `output_schema.wait_for_finish`;
  the schema checked; `revision.apply(output_schema)`; `job.wait_for_finish` and the job's final status.
- replace: `view.revisions.create_replace_revision(metadata)` (permission left as it is), then the same data path;
  the dataset's row identifier is kept (`output_schema.set_row_id`).
- upsert: `create_update_revision(metadata)`; the identifier checked (`validate_row_id`) and set on the output
  schema (`set_row_id`).
- delete: `create_delete_revision()`; only the identifier column is uploaded; the identifier set on the schema.
- metadata only: `create_update_revision(metadata)` applied without a source; when column names or
  descriptions changed, `create_replace_revision(metadata)` with `revision.source_from_dataset()` (the dataset
  itself, not loaded) and `output_schema.change_column_metadata(...).run()`, as socrata-py documents it.
- make public: `create_update_revision(permission="public")` applied without a source, its own explicit step,
  never in the revision that carries rows; if it fails and the dataset turns out public, a private revision
  sets it back.

Faults: requests answered 429 are sent again after Retry-After (the portal did nothing); a step that is safe to
repeat (reading, uploading into a new source, transforming, waiting, opening a revision on an existing dataset)
is retried with exponential backoff after a time-out, a lost connection or a 5xx; creating a dataset and applying
a revision are not repeated blindly: after an unclear failure the revision is read to see whether a job started.
A revision that is not applied changes nothing, so a failure leaves a new dataset private and an existing one
with its previous rows and permission. TLS is always verified: against REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE)
when set, else the system's certificate store. Credentials live in socrata-py's Authorization object only.

socrata-py (1.2.0) calls `requests.get/post/...` inside `socrata.http` with a five-minute time-out and no way
to pass a session; `_Transport` stands in for that module there, so a call made for one of our clients goes
through its session (our time-out, TLS bundle, app token, 429 handling). Calls made for anyone else pass through
unchanged.
"""
from __future__ import annotations

import email.utils
import json
import os
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import requests

from ctopen.errors import ConfigError, PublishError
from ctopen.publish import socrata as soda


RETRIES = 4                 # tries after the first one, for what is safe to repeat
BACKOFF_SECONDS = 2.0       # first wait; doubles each time (at least Retry-After)
MAX_RETRY_AFTER = 300.0     # a longer Retry-After is not waited for
TIMEOUT_SECONDS = 60        # one request
POLL_SECONDS = 1.0          # between reads of a schema or a job
SCHEMA_TIMEOUT = 3600       # the portal reading the upload
JOB_TIMEOUT = 4 * 3600      # a job applying a revision
UPLOAD_NAME = "release.csv"

MODES = ("create", "replace", "upsert", "delete", "metadata")
TRANSFORMS = {"text": "to_text", "number": "to_number", "calendar_date": "to_floating_timestamp",
              "checkbox": "to_boolean"}

Progress = Callable[[float, str], None]


# --- the transport socrata-py calls --------------------------------------------------------------

_clients: dict[int, "Client"] = {}
_clients_lock = threading.Lock()


class _Transport:
    """Takes the place of the `requests` module inside `socrata.http` (see the module docstring)."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def request(self, method: str, url: str, **kwargs):
        client = _clients.get(id(kwargs.get("auth")))
        if client is None:
            return self._real.request(method, url, **kwargs)
        return client.send(method, url, **kwargs)

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)

    def put(self, url, **kwargs):
        return self.request("PUT", url, **kwargs)

    def patch(self, url, **kwargs):
        return self.request("PATCH", url, **kwargs)

    def delete(self, url, **kwargs):
        return self.request("DELETE", url, **kwargs)


def _install() -> None:
    import socrata.http as http

    if not isinstance(http.requests, _Transport):
        http.requests = _Transport(http.requests)


def ca_bundle() -> str | bool:
    """What TLS certificates are checked against: $REQUESTS_CA_BUNDLE (or $CURL_CA_BUNDLE), e.g. an agency
    proxy's certificate; else the system's store; else certifi's. Never False."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = (os.environ.get(name) or "").strip()
        if value:
            if not Path(value).exists():
                raise ConfigError(f"{name} names {value}, which does not exist: give the path of the certificate "
                                  "file (PEM) to trust, or unset it to use the system's certificates.")
            return value
    paths = ssl.get_default_verify_paths()
    if paths.cafile and Path(paths.cafile).is_file():
        return paths.cafile
    if paths.capath and Path(paths.capath).is_dir():
        return paths.capath
    return True


class _StepFailed(Exception):
    """A step failed after its retries: what, the HTTP status or "timeout"/"connection"/"tls"/"wait", tries."""

    def __init__(self, what: str, status, attempts: int):
        super().__init__(what)
        self.what, self.status, self.attempts = what, status, attempts


class _Refused(Exception):
    """The revision is not applied, for a reason the message gives (a schema with errors, a job that failed)."""


# --- the client ----------------------------------------------------------------------------------

class Client:
    """socrata-py for one portal, with retries, our time-out, verified TLS and plain-language errors."""

    api = "dsmapi"

    def __init__(self, portal: str | None, credentials: "soda.Credentials | None", *, timeout: float | None = None,
                 retries: int | None = None, backoff: float | None = None, poll: float | None = None,
                 sleep: Callable[[float], None] | None = None, schema_timeout: float | None = None,
                 job_timeout: float | None = None):
        if credentials is None:
            raise ConfigError("No portal credentials: set SOCRATA_USERNAME and SOCRATA_PASSWORD (or "
                              "SOCRATA_KEY_ID and SOCRATA_KEY_SECRET), or write a bundle instead.")
        scheme, host = soda.portal_parts(portal)
        if scheme != "https":
            raise ConfigError(f"The Data Management API is reached over https only, and the portal is given as "
                              f"{scheme}://{host}: give it as https://{host}, or publish to a local http test "
                              "server with --api soda.")
        from socrata import Socrata
        from socrata.authorization import Authorization

        _install()
        self.portal, self.host = f"https://{host}", host
        self.credentials = credentials
        self.timeout = TIMEOUT_SECONDS if timeout is None else timeout
        self.retries = RETRIES if retries is None else retries
        self.backoff = BACKOFF_SECONDS if backoff is None else backoff
        self.poll = POLL_SECONDS if poll is None else poll
        self.schema_timeout = SCHEMA_TIMEOUT if schema_timeout is None else schema_timeout
        self.job_timeout = JOB_TIMEOUT if job_timeout is None else job_timeout
        self.sleep = sleep or time.sleep
        self.verify = ca_bundle()
        self.auth = Authorization(host, username=credentials.username, password=credentials.password)
        self.session = requests.Session()
        self.session.trust_env = False    # no credentials from ~/.netrc, no proxies picked up silently
        self.socrata = Socrata(self.auth)
        self._local = threading.local()
        with _clients_lock:
            _clients[id(self.auth.basic)] = self

    def close(self) -> None:
        with _clients_lock:
            _clients.pop(id(self.auth.basic), None)
        self.session.close()

    # --- every HTTP request socrata-py makes for us ---------------------------------------------
    def send(self, method: str, url: str, **kwargs):
        if kwargs.get("verify") is False or self.auth.verify is False:
            raise ConfigError("TLS certificate checks were turned off for the portal: ctopen never publishes "
                              "that way. Trust an agency certificate with REQUESTS_CA_BUNDLE instead.")
        kwargs["verify"] = self.verify
        kwargs["timeout"] = self.timeout
        headers = dict(kwargs.pop("headers", None) or {})
        if self.credentials.app_token:
            headers["X-App-Token"] = self.credentials.app_token
        attempt = 0
        while True:
            response = self.session.request(method, url, headers=headers, **kwargs)
            if response.status_code == 429 and attempt < self.retries:   # the portal did nothing: send again
                self.wait(attempt, response.headers.get("Retry-After"))
                attempt += 1
                continue
            self._local.retry_after = response.headers.get("Retry-After") if response.status_code >= 500 else None
            return response

    def wait(self, attempt: int, retry_after: str | None = None) -> None:
        delay = self.backoff * (2 ** attempt)
        seconds = _retry_after_seconds(retry_after)
        if seconds is not None:
            delay = max(delay, min(seconds, MAX_RETRY_AFTER))
        self.sleep(delay)

    # --- every step goes through here -----------------------------------------------------------
    def call(self, what: str, fn, *args, retry: bool = True, **kwargs):
        """`fn(*args, **kwargs)`; a time-out, lost connection or 5xx is retried with backoff when `retry`
        (the step is safe to repeat); anything else, or the last try, raises _StepFailed."""
        from socrata.http import TimeoutException, UnexpectedResponseException

        attempt = 0
        while True:
            self._local.retry_after = None
            try:
                return fn(*args, **kwargs)
            except requests.exceptions.SSLError:
                raise _StepFailed(what, "tls", attempt) from None
            except UnexpectedResponseException as exc:
                status = exc.status
            except requests.exceptions.Timeout:
                status = "timeout"
            except requests.exceptions.ConnectionError:
                status = "connection"
            except TimeoutException:
                raise _StepFailed(what, "wait", attempt) from None
            retryable = status in ("timeout", "connection") or (isinstance(status, int) and (status == 429 or status >= 500))
            if retry and retryable and attempt < self.retries:
                self.wait(attempt, getattr(self._local, "retry_after", None))
                attempt += 1
                continue
            raise _StepFailed(what, status, attempt) from None

    def message(self, failed: _StepFailed, dataset_id: str | None = None) -> str:
        what, status = failed.what, failed.status
        tries = f" after {failed.attempts + 1} tries" if failed.attempts else ""
        if status == 401:
            return (f"The portal {self.portal} did not accept the credentials while {what} (HTTP 401): check "
                    "SOCRATA_USERNAME and SOCRATA_PASSWORD (or the API key id and secret) and try again.")
        if status == 403:
            return (f"The account is not allowed to do this on {self.portal} while {what} (HTTP 403): ask the "
                    "portal administrator for publishing rights on this dataset.")
        if status == 404:
            return (f"The portal {self.portal} has no dataset {dataset_id} (HTTP 404) while {what}: check the "
                    "dataset id (the last part of its address, like abcd-1234)." if dataset_id else
                    f"The portal {self.portal} did not find the address while {what} (HTTP 404): check the portal address.")
        if status == 429:
            return (f"The portal {self.portal} refused too many requests{tries} while {what} (HTTP 429): wait a few "
                    "minutes and try again.")
        if status == "timeout":
            return (f"The portal {self.portal} did not answer within {self.timeout:g} seconds{tries} while {what}: "
                    "try again later.")
        if status == "connection":
            return (f"The portal {self.portal} could not be reached{tries} while {what}: check the portal address "
                    "and the network connection.")
        if status == "tls":
            return (f"The certificate of {self.portal} could not be verified while {what}: if your agency's network "
                    "uses a proxy with its own certificate, set REQUESTS_CA_BUNDLE to that certificate file (PEM) "
                    "and try again (ctopen never turns certificate checks off).")
        if status == "wait":
            return (f"The portal {self.portal} did not finish {what} in time: look at the dataset's revisions on the "
                    "portal, and try again later.")
        if isinstance(status, int) and status >= 500:
            return (f"The portal {self.portal} had a server error (HTTP {status}){tries} while {what}: try again "
                    "later; if it persists, contact the portal's support.")
        return (f"The portal {self.portal} rejected the request while {what} (HTTP {status}): check the release "
                "table's columns and the metadata.")

    # --- socrata-py calls -----------------------------------------------------------------------
    def view(self, dataset_id: str) -> dict:
        return self.call("reading the dataset", self.socrata.views.lookup, dataset_id).attributes

    def revisions(self, dataset_id: str):
        from socrata.revisions import Revisions
        return Revisions(dataset_id, self.auth)

    def new_dataset(self, metadata: dict):
        """A new dataset, private, through its first revision (socrata-py's Socrata.new, with the permission).
        Not repeated after a time-out or a 5xx: it may have created a dataset (a 429 is repeated: it did not)."""
        from socrata.http import post
        from socrata.revisions import Revision

        body = {"metadata": metadata, "action": {"type": "update", "permission": "private"}}
        path = f"https://{self.auth.domain}/api/publishing/v1/revision"
        response = self.call("creating the dataset", post, path, auth=self.auth, data=json.dumps(body), retry=False)
        return Revision(self.auth, response)


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_public(view: dict) -> bool:
    scope = (view.get("permissions") or {}).get("scope")
    return scope == "public" or soda.is_public_view(view)


# --- what a run knows (for its messages and the log) ---------------------------------------------

@dataclass
class _Run:
    client: Client
    dataset_id: str | None = None
    new: bool = False               # this run (or the one it continues) created the dataset
    was_public: bool = False
    revision: int | None = None     # the revision carrying the rows (or the metadata)
    job: str | None = None          # its job's outcome: successful | failure | submitted_for_approval | None
    applied: bool = False           # that job succeeded
    public: bool = False
    seen: bool = False              # the dataset was created by this run or its state read
    permission_revision: int | None = None   # the revision that made it public (or private again)
    permission_job: str | None = None
    open_revisions: list = field(default_factory=list)   # opened on an existing dataset, not applied yet
    steps: list[str] = field(default_factory=list)

    def failure(self, message: str, *, status=None) -> PublishError:
        ident = self.dataset_id
        if ident is None:
            message += " Nothing was made public."
        elif not self.seen:
            message += f" Nothing was changed on the portal: the dataset {ident}, if it exists, is as it was."
        elif self.applied:
            message += (f" The dataset {ident} is public." if self.public else
                        f" The dataset {ident} stays private: nothing was made public"
                        + (f" (its rows were applied with revision {self.revision})" if self.revision is not None else "")
                        + ".")
        elif self.new:
            message += f" Nothing was made public; the dataset {ident} stays private and the next try continues with it."
        elif self.was_public:
            message += (f" The dataset {ident} is public and still shows its previous rows and metadata (the revision "
                        "was not applied); the next try sends the release again.")
        else:
            message += (f" The dataset {ident} keeps its previous rows and stays private (the revision was not "
                        "applied); the next try sends the release again.")
        err = PublishError(soda.scrub(message, self.client.credentials.secrets()))
        err.dataset_id, err.http_status, err.public = ident, status, self.public
        err.revision_id, err.job = self.revision, self.job
        return err

    def fail(self, failed: _StepFailed) -> PublishError:
        text = self.client.message(failed, self.dataset_id)
        unclear = failed.status in ("timeout", "connection") or (isinstance(failed.status, int) and failed.status >= 500)
        if failed.what == "creating the dataset" and unclear:
            text += (" The dataset may have been created anyway: look for a private dataset with this title in your "
                     "portal profile and, if it is there, run again with its id (--dataset-id) to continue.")
        return self.failure(text, status=failed.status)


# --- the release as it is uploaded -------------------------------------------------------------

@dataclass
class _Column:
    name: str
    field: str
    type: str
    description: str


def _columns(df: pd.DataFrame, view: dict) -> list[_Column]:
    """The view's columns (field names and portal types as the Review's portal view has them), in the table's order."""
    given = {c.get("name"): c for c in view.get("columns") or [] if isinstance(c, dict)}
    built = {c["name"]: c for c in soda.columns_payload(df)}
    out = []
    for col in df.columns:
        c = given.get(str(col)) or built[col]
        kind = c.get("dataTypeName") or "text"
        if kind not in TRANSFORMS:
            raise ConfigError(f"The column {col} has the portal type {kind!r}, which ctopen does not send: use "
                              "text, number, calendar_date or checkbox.")
        out.append(_Column(str(col), c.get("fieldName") or built[col]["fieldName"], kind, str(c.get("description") or "")))
    return out


def _csv(df: pd.DataFrame, columns: list[_Column]) -> bytes:
    """The rows as CSV under their field names, values as text; a missing value is an empty cell (null)."""
    from ctopen.publish.bundle import csv_bytes

    frame = df.copy()
    frame.columns = [c.field for c in columns]
    frame = frame.astype(object).where(frame.notna(), "")
    return csv_bytes(frame)


class _Reader:
    """The CSV for socrata-py's chunked upload (read from its upload threads); `offset`: bytes read so far."""

    def __init__(self, data: bytes):
        self.data, self.offset = data, 0
        self.lock = threading.Lock()

    def read(self, size: int = -1) -> bytes:
        with self.lock:
            end = len(self.data) if size is None or size < 0 else min(len(self.data), self.offset + size)
            part, self.offset = self.data[self.offset:end], end
        return part


def _forward_only(progress: Progress | None) -> Progress:
    """The progress callback with a share that never goes back (a retried upload, the permission step)."""
    furthest = [0.0]

    def say(share: float, text: str) -> None:
        furthest[0] = max(furthest[0], min(max(share, 0.0), 1.0))
        if progress:
            progress(furthest[0], text)
    return say


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


# --- the steps -----------------------------------------------------------------------------------

def _upload(run: _Run, revision, data: bytes, rows: int, say: Progress):
    """A new source in the revision with the CSV, read by the portal: its input schema (retried as a whole: a
    second source in the same revision changes nothing). socrata-py reads the file from its upload threads, so
    the upload runs in a thread of its own and progress is reported from the caller's thread (the app's progress
    bar can only be drawn from there)."""
    c = run.client
    current: dict = {}

    def attempt():
        source = revision.create_upload(UPLOAD_NAME)
        current["reader"] = reader = _Reader(data)
        source = source.csv(reader, max_retries=c.retries, backoff_seconds=c.backoff)
        source = source.wait_for_schema(timeout=c.schema_timeout, sleeptime=c.poll)
        input_schema = source.get_latest_input_schema()
        return input_schema.wait_for_schema(timeout=c.schema_timeout, sleeptime=c.poll)

    def report():
        reader = current.get("reader")
        if reader is not None:
            sent = reader.offset
            share = sent / len(data) if data else 1.0
            say(0.1 + 0.5 * share, f"Uploading: {_size(sent)} of {_size(len(data))} "
                                   f"(about {int(rows * share):,} of {rows:,} rows)")

    from socrata.resource import ResourceFailedException
    try:
        return _in_background(lambda: c.call("uploading the release", attempt), report)
    except ResourceFailedException:
        raise _Refused("The portal could not read the uploaded release as a CSV file: download the bundle and "
                       "check that it opens as a table, then try again.") from None


def _in_background(fn, report: Callable[[], None], every: float = 0.25):
    """fn() in a thread while this thread calls report() every `every` seconds; fn's result or exception."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread as it is
            box["error"] = exc

    worker = threading.Thread(target=target, name="ctopen-dsmapi-upload", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(every)
        report()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _shape(run: _Run, input_schema, columns: list[_Column], row_identifier: str | None):
    """The output schema: every column with its field name, display name, description and type, the row
    identifier set on it (socrata-py's set_row_id), read to the end by the portal."""
    from socrata.resource import ResourceFailedException

    c = run.client
    wanted = {"output_columns": [
        {"field_name": col.field, "display_name": col.name, "description": col.description, "position": i + 1,
         "is_primary_key": False, "transform": {"transform_expr": f"{TRANSFORMS[col.type]}(`{col.field}`)"}}
        for i, col in enumerate(columns)]}
    try:
        output = c.call("setting the column types", input_schema.transform, wanted)
        output = c.call("reading the release on the portal", output.wait_for_finish, timeout=c.schema_timeout,
                        sleeptime=c.poll)
        if row_identifier:
            valid = c.call("checking the row identifier", output.validate_row_id, row_identifier)
            if not valid:
                name = next((col.name for col in columns if col.field == row_identifier), row_identifier)
                raise _Refused(f"The column {name} cannot be the row identifier: the portal finds a value in it "
                               "twice or an empty one. Choose a column whose value is unique in every row.")
            output = c.call("setting the row identifier", output.set_row_id, row_identifier)
            output = c.call("reading the release on the portal", output.wait_for_finish, timeout=c.schema_timeout,
                            sleeptime=c.poll)
    except ResourceFailedException:
        raise _Refused("The portal failed to convert the release's columns: look at the revision on the portal, "
                       "then try again.") from None
    return output


def check_schema(attributes: dict, columns: list[_Column], rows: int) -> list[str]:
    """What is wrong with the portal's reading of the release (empty: nothing): a column missing or read as
    another type, rows of a column it could not read, a row count that differs from the release."""
    from ctopen.metadata import PORTAL_TYPE_LABELS as LABELS

    problems = []
    by_field = {oc.get("field_name"): oc for oc in attributes.get("output_columns") or []}
    for col in columns:
        oc = by_field.get(col.field)
        if oc is None:
            problems.append(f"the column {col.name} is missing")
            continue
        transform = oc.get("transform") or {}
        soql = transform.get("output_soql_type")
        if soql and soql != col.type:
            problems.append(f"the column {col.name} would be {LABELS.get(soql, soql)} instead of "
                            f"{LABELS.get(col.type, col.type)}")
        errors = int(transform.get("error_count") or 0)
        if errors:
            problems.append(f"{errors:,} row{'s' if errors != 1 else ''} of the column {col.name} could not be read "
                            f"as {LABELS.get(col.type, col.type)}")
        if transform.get("failed_at"):
            problems.append(f"the portal failed to convert the column {col.name}")
    extra = [f for f in by_field if f not in {c.field for c in columns}]
    if extra:
        problems.append(f"the portal added column(s) {', '.join(sorted(map(str, extra)))}")
    total = attributes.get("total_rows")
    if total is not None and int(total) != rows:
        problems.append(f"the portal read {int(total):,} rows, the release has {rows:,}")
    if not problems and int(attributes.get("error_count") or 0):
        problems.append(f"{int(attributes['error_count']):,} rows could not be read")
    return problems


def _apply(run: _Run, revision, output_schema, say: Progress, what: str = "applying the revision") -> None:
    """Apply the revision and wait for its job; a job that finishes as failed is a failure. After an unclear
    failure (time-out, lost connection, 5xx) the revision is read: a job that started is followed, else the
    apply is sent again."""
    c = run.client
    seq = revision.attributes.get("revision_seq")
    attempt, job = 0, None
    while job is None:
        try:
            job = c.call(what, revision.apply, output_schema=output_schema, retry=False)
        except _StepFailed as failed:
            unclear = failed.status in ("timeout", "connection") or (isinstance(failed.status, int) and failed.status >= 500)
            started = _started_job(run, revision)
            if started is not None:
                return _follow_revision(run, revision, say, what)
            if isinstance(failed.status, int) and 400 <= failed.status < 500 and failed.status not in (401, 403, 404, 429):
                raise          # refused for a reason a retry does not change
            if not unclear or attempt >= c.retries:
                raise
            c.wait(attempt)
            attempt += 1
    if revision in run.open_revisions:
        run.open_revisions.remove(revision)
    say(0.8, f"Applying revision {seq}: the portal is writing the dataset")
    from socrata.resource import ResourceFailedException
    try:
        job = c.call(what.replace("applying", "waiting for the portal to apply"), job.wait_for_finish,
                     progress=lambda j: say(0.85, f"Applying revision {seq}: {j.attributes.get('status') or 'working'}"),
                     timeout=c.job_timeout, sleeptime=c.poll)
    except ResourceFailedException as exc:
        _job_failed(run, seq, _job_reason((exc.body.attributes if hasattr(exc.body, "attributes") else {}) or {}))
    _job_outcome(run, seq, job.attributes, submitted=job.submitted_for_approval())


def _started_job(run: _Run, revision) -> dict | None:
    try:
        run.client.call("reading the revision", revision.show)
    except _StepFailed:
        return None
    jobs = revision.attributes.get("task_sets") or revision.attributes.get("upsert_jobs") or []
    return jobs[-1] if jobs else None


def _follow_revision(run: _Run, revision, say: Progress, what: str) -> None:
    """Wait for the job of a revision whose apply answer was lost, reading the revision."""
    c = run.client
    seq = revision.attributes.get("revision_seq")
    if revision in run.open_revisions:
        run.open_revisions.remove(revision)
    started = time.monotonic()
    while True:
        c.call("reading the revision", revision.show)     # a revision that cannot be read ends the wait
        jobs = revision.attributes.get("task_sets") or revision.attributes.get("upsert_jobs") or []
        job = jobs[-1] if jobs else {}
        if job.get("finished_at") or job.get("status") in ("successful", "failure"):
            return _job_outcome(run, seq, job)
        if time.monotonic() - started > c.job_timeout:
            raise _StepFailed(what.replace("applying", "waiting for the portal to apply"), "wait", 0)
        say(0.85, f"Applying revision {seq}: {job.get('status') or 'working'}")
        c.sleep(c.poll)


def _job_outcome(run: _Run, seq, attributes: dict, submitted: bool = False) -> None:
    status = "submitted_for_approval" if submitted else attributes.get("status")
    run.job = status
    if status == "successful":
        return
    if status == "submitted_for_approval":
        run.steps.append(f"revision {seq} submitted for the portal's approval")
        return
    _job_failed(run, seq, _job_reason(attributes))


def _job_reason(attributes: dict) -> str:
    for entry in attributes.get("log") or []:
        details = entry.get("details") if isinstance(entry, dict) else None
        if isinstance(details, dict) and isinstance(details.get("reason"), str):
            return details["reason"][:200]
    return ""


def _job_failed(run: _Run, seq, reason: str) -> None:
    run.job = "failure"
    where = f"{run.client.portal}/d/{run.dataset_id}/revisions/{seq}"
    raise _Refused(f"The portal's job applying revision {seq} finished as failed"
                   f"{' (' + reason.rstrip('.') + ')' if reason else ''}: look at {where} for the portal's reason, then "
                   "try again.")


def _open(run: _Run, dataset_id: str, kind: str, metadata: dict, permission: str | None):
    """A revision on an existing dataset (safe to retry: a revision that is not applied changes nothing)."""
    revisions = run.client.revisions(dataset_id)
    make = {"replace": revisions.create_replace_revision, "update": revisions.create_update_revision,
            "delete": revisions.create_delete_revision}[kind]
    revision = run.client.call("opening a revision", make, metadata=metadata, permission=permission)
    run.open_revisions.append(revision)
    return revision


def _draft_revision(run: _Run, dataset_id: str):
    """The open, never-applied revision of a dataset that was created but never applied (to continue it)."""
    revisions = run.client.call("reading the dataset's revisions", run.client.revisions(dataset_id).list)
    for revision in reversed(revisions):
        attrs = revision.attributes
        if not attrs.get("closed_at") and not (attrs.get("task_sets") or attrs.get("upsert_jobs")):
            return revision
    return None


def _discard_open(run: _Run) -> None:
    """Best effort: a revision opened by this run and not applied is discarded (it would change nothing)."""
    for revision in list(run.open_revisions):
        try:
            run.client.call("discarding the revision", revision.discard, retry=False)
        except _StepFailed:
            pass
        run.open_revisions.remove(revision)


def _row_identifier(view: dict) -> str | None:
    ident = view.get("rowIdentifierColumnId")
    for col in view.get("columns") or []:
        if ident is not None and col.get("id") == ident:
            return col.get("fieldName")
    return (view.get("metadata") or {}).get("rowIdentifier")


def _set_permission(run: _Run, public: bool, say: Progress) -> str | None:
    """A revision whose only change is the permission, applied; the dataset's permission read back."""
    c, ident = run.client, run.dataset_id
    word = "public" if public else "private"
    revision = _open(run, ident, "update", {}, word)
    seq = revision.attributes.get("revision_seq")
    saved = (run.revision, run.job, run.applied)
    try:
        _apply(run, revision, None, say, what=f"making the dataset {word} (revision {seq})")
    finally:
        job, (run.revision, run.job, run.applied) = run.job, saved
        run.permission_revision, run.permission_job = seq, job
    if job == "submitted_for_approval":      # the portal's approval workflow decides; nothing is public yet
        run.steps.append(f"submitted to be made {word} (revision {seq}): the portal's approvers decide")
        return job
    if is_public(c.view(ident)) != public:
        raise _Refused(f"The portal applied revision {seq} but the dataset {ident} is not {word}: check its "
                       f"permission on the portal ({c.portal}/d/{ident}).")
    run.steps.append(f"made {word} (revision {seq}, job {job})")
    return job


def _make_public(run: _Run, say: Progress) -> None:
    """The separate, explicit step. A failure that leaves the dataset public (an answer lost after the portal
    did it) is undone with a private revision; when even that fails, the message says to check now."""
    c, ident = run.client, run.dataset_id
    say(0.9, "Making the dataset public")
    try:
        run.public = _set_permission(run, True, say) == "successful"
    except (_StepFailed, _Refused) as exc:
        _discard_open(run)
        try:
            now_public = is_public(c.view(ident))
            if now_public:
                _set_permission(run, False, say)
        except (_StepFailed, _Refused):
            err = PublishError(f"Making the dataset {ident} public failed and the portal {c.portal} did not confirm "
                               f"that it is still private: check its permission on the portal now ({c.portal}/d/{ident}) "
                               "and set it back to private if needed.")
            err.dataset_id, err.public, err.revision_id, err.job = ident, None, run.revision, run.job
            raise err from None
        run.public = False
        if isinstance(exc, _StepFailed):
            raise run.fail(exc) from None
        raise run.failure(str(exc)) from None


# --- the operations ------------------------------------------------------------------------------

def publish(df: pd.DataFrame, view: dict, portal: str | None, credentials: "soda.Credentials | None", *,
            dataset_id: str | None = None, mode: str = "create", make_public: bool = False,
            row_identifier: str | None = None, progress: Progress | None = None,
            on_created: Callable[[str, int | None], None] | None = None, client: Client | None = None) -> "soda.PortalResult":
    """Send a release table through a revision. `view` is the Review's portal view (name, metadata, columns
    with field names and portal types). mode "create" without a dataset id creates a new private dataset;
    with one (a creation that failed half-way, from the publish log) it continues with it. "replace",
    "upsert", "delete" (rows whose row identifier is in the table) and "metadata" (no rows) change an
    existing dataset, whose permission stays as it is. `make_public` adds the separate public revision.
    `on_created(id, revision)` is called as soon as a new dataset exists."""
    if mode not in MODES:
        raise ConfigError(f"Unknown publish mode {mode!r}: use {', '.join(MODES)}.")
    if mode != "create" and not dataset_id:
        raise ConfigError(f"Mode {mode} changes an existing dataset: give its id (--dataset-id abcd-1234).")
    if dataset_id:
        dataset_id = soda.check_dataset_id(dataset_id)
    if not view.get("name"):
        raise ConfigError("The dataset has no title: fill in the title on the Describe page (metadata.title).")
    columns = _columns(df, view)
    ident_field = None
    if mode in ("upsert", "delete"):
        if not row_identifier:
            raise ConfigError(f"{mode.capitalize()} needs a row identifier: name the column whose value is unique per "
                              "row (recipe target.row_identifier), or use mode replace.")
        match = [c for c in columns if row_identifier in (c.name, c.field)]
        if not match:
            raise ConfigError(f"The row identifier {row_identifier!r} is not a column of the release table.")
        ident_field = match[0].field
    metadata = {k: v for k, v in view.items() if k != "columns"}
    say = _forward_only(progress)
    own = client is None
    c = client or Client(portal, credentials)
    run = _Run(c)
    try:
        try:
            if mode == "create" and not dataset_id:
                rows = _send_new(run, df, columns, metadata, say, on_created)
            else:
                rows = _send_existing(run, df, columns, metadata, dataset_id, mode, ident_field, say)
            if make_public and not run.public:
                _make_public(run, say)
        except _StepFailed as failed:
            _discard_open(run)
            raise run.fail(failed) from None
        except _Refused as refused:
            _discard_open(run)
            raise run.failure(str(refused)) from None
        status = ("public" if run.public else "private") if run.new else "updated"
        say(1.0, "Done")
        return soda.PortalResult(status, run.dataset_id, soda.dataset_url(portal, run.dataset_id), rows, run.public,
                                 run.steps, api="dsmapi", revision_id=run.revision, job=run.job)
    finally:
        if own:
            c.close()


def _send_new(run: _Run, df, columns, metadata, say, on_created) -> int:
    say(0.0, "Creating the dataset (private)")
    revision = run.client.new_dataset(metadata)
    run.dataset_id, run.new, run.seen = revision.view_id(), True, True
    run.revision = revision.attributes.get("revision_seq")
    run.steps.append(f"created dataset {run.dataset_id} (private, revision {run.revision})")
    if on_created:
        on_created(run.dataset_id, run.revision)
    return _send_rows(run, revision, df, columns, None, say)


def _send_existing(run: _Run, df, columns, metadata, dataset_id, mode, ident_field, say) -> int:
    c = run.client
    run.dataset_id = dataset_id
    say(0.0, f"Reading the dataset {dataset_id}")
    view = c.view(dataset_id)
    run.was_public = run.public = is_public(view)
    run.seen = True
    draft = view.get("publicationStage") not in (None, "published")
    known = {col.get("fieldName") for col in view.get("columns") or [] if isinstance(col, dict)}
    existing_ident = _row_identifier(view)
    if mode == "create" or draft:   # continuing a creation that failed half-way (the publish log has its id)
        if draft and mode in ("delete", "metadata"):
            raise ConfigError(f"The dataset {dataset_id} was never published: publish its rows first (mode create "
                              "or replace).")
        run.new = not run.was_public
        run.steps.append(f"continued with dataset {dataset_id}")
        revision = _draft_revision(run, dataset_id) if draft else None
        if revision is not None:
            revision = c.call("updating the revision's metadata", revision.update, {"metadata": metadata})
        else:
            revision = _open(run, dataset_id, "replace", metadata, None if run.was_public else "private")
        run.revision = revision.attributes.get("revision_seq")
        keep = ident_field or (existing_ident if existing_ident in {col.field for col in columns} else None)
        return _send_rows(run, revision, df, columns, keep, say)
    if mode in ("upsert", "delete"):
        missing = [col.name for col in columns if known and col.field not in known]
        if missing and mode == "upsert":   # checked before anything changes
            raise ConfigError(f"The dataset {dataset_id} has no column for {', '.join(missing)}: add the column(s) on "
                              "the portal first, or replace the dataset's rows (mode replace).")
        if existing_ident and existing_ident != ident_field:
            raise ConfigError(f"The dataset {dataset_id} identifies its rows by {existing_ident}, not "
                              f"{ident_field}: give that column as the row identifier.")
        if mode == "delete" and not existing_ident:
            raise ConfigError(f"The dataset {dataset_id} has no row identifier, so rows cannot be deleted by one: set "
                              "its row identifier on the portal (or upsert with one first).")
    if mode == "metadata":
        return _send_metadata(run, view, columns, metadata, say)
    kind = {"replace": "replace", "upsert": "update", "delete": "delete"}[mode]
    revision = _open(run, dataset_id, kind, {} if mode == "delete" else metadata, None)
    run.revision = revision.attributes.get("revision_seq")
    if mode == "delete":
        id_col = next(col for col in columns if col.field == ident_field)
        typed = {c.get("fieldName"): c.get("dataTypeName") for c in view.get("columns") or [] if isinstance(c, dict)}
        id_col = _Column(id_col.name, id_col.field, typed.get(id_col.field) or id_col.type, id_col.description)
        return _send_rows(run, revision, df[[id_col.name]], [id_col], ident_field, say, verb="deleted")
    keep = ident_field if mode == "upsert" else (existing_ident if existing_ident in {col.field for col in columns} else None)
    return _send_rows(run, revision, df, columns, keep, say, verb="upserted" if mode == "upsert" else "replaced")


def _send_metadata(run: _Run, view: dict, columns: list[_Column], metadata: dict, say: Progress) -> int:
    """A revision without rows. Column names and descriptions that changed go through a source that is the
    dataset itself (socrata-py's source_from_dataset, not loaded: no row is read or written) whose output
    schema changes them (change_column_metadata); the rest is the revision's metadata."""
    c, ident = run.client, run.dataset_id
    current = {col.get("fieldName"): col for col in view.get("columns") or [] if isinstance(col, dict)}
    missing = [col.name for col in columns if col.field not in current]
    if missing:
        raise ConfigError(f"The dataset {ident} has no column for {', '.join(missing)}: a metadata update cannot add "
                          "columns; replace the dataset's rows instead (mode replace).")
    changes = [(col.field, attr, value) for col in columns
               for attr, value, old in (("display_name", col.name, current[col.field].get("name")),
                                        ("description", col.description, current[col.field].get("description")))
               if value != (old or "")]
    revision = _open(run, ident, "replace" if changes else "update", metadata, None)
    run.revision = revision.attributes.get("revision_seq")
    output = None
    if changes:
        say(0.3, "Changing the column names and descriptions")

        def column_changes():
            source = revision.source_from_dataset()
            source = source.wait_for_schema(timeout=c.schema_timeout, sleeptime=c.poll)
            input_schema = source.get_latest_input_schema().wait_for_schema(timeout=c.schema_timeout, sleeptime=c.poll)
            changed = input_schema.get_latest_output_schema()
            for field_name, attr, value in changes:
                changed = changed.change_column_metadata(field_name, attr).to(value)
            return changed.run()

        output = c.call("changing the column descriptions", column_changes)
    say(0.5, f"Applying revision {run.revision} (metadata only)")
    _apply(run, revision, output, say)
    run.applied = run.job == "successful"
    run.steps.append(f"updated metadata{' and ' + str(len(changes)) + ' column field(s)' if changes else ''} "
                     f"(revision {run.revision}, job {run.job})")
    return 0


def _send_rows(run: _Run, revision, df, columns, row_identifier, say, verb: str = "sent") -> int:
    data = _csv(df, columns)
    rows = len(df)
    say(0.1, f"Uploading {rows:,} rows ({_size(len(data))})")
    input_schema = _upload(run, revision, data, rows, say)
    say(0.6, "Checking how the portal reads each column")
    output = _shape(run, input_schema, columns, row_identifier)
    problems = check_schema(output.attributes, columns, rows)
    if problems:
        raise _Refused("The portal's reading of the release has errors, so the revision was not applied: "
                       + "; ".join(problems) + ". Correct these values (Transform page or recipe) and publish again.")
    seq = revision.attributes.get("revision_seq")
    say(0.7, f"Applying revision {seq}")
    _apply(run, revision, output, say)
    run.applied = run.job == "successful"
    run.steps.append(f"{verb} {rows} rows (revision {seq}, job {run.job})")
    return rows


def make_public(dataset_id: str, portal: str | None, credentials: "soda.Credentials | None", *,
                progress: Progress | None = None, client: Client | None = None) -> "soda.PortalResult":
    """The separate, explicit step after the review: a revision whose permission is public."""
    dataset_id = soda.check_dataset_id(dataset_id)
    say = _forward_only(progress)
    own = client is None
    c = client or Client(portal, credentials)
    run = _Run(c, dataset_id=dataset_id, applied=True)
    try:
        try:
            view = c.view(dataset_id)
            run.was_public = run.public = is_public(view)
            run.seen = True
            if not run.public:
                _make_public(run, say)
        except _StepFailed as failed:
            run.applied = False
            raise run.fail(failed) from None
        rows = int(view.get("rowCount") or 0)
        return soda.PortalResult("public" if run.public else "private", dataset_id, soda.dataset_url(portal, dataset_id),
                                 rows, run.public, run.steps or ["already public"], api="dsmapi",
                                 revision_id=run.permission_revision, job=run.permission_job)
    finally:
        if own:
            c.close()
