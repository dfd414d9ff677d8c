"""Publish a release table to a Socrata portal (the CT Open Data Portal): the shared parts, and the legacy
writer (sodapy, SODA: `--api soda`).

Two writers sit behind `publish_logged` / `make_public_logged` (the CLI and the Publish page call these):
the Data Management API through socrata-py (`ctopen.publish.dsmapi`, revisions: the default) and the legacy
SODA calls through sodapy below (for a site that still needs them, chosen with `--api soda`,
$CTOPEN_PUBLISH_API=soda or the app's `[socrata] api = "soda"`). `resolve_api` decides. sodapy also stays for
reading (the CT Data Catalog, an existing dataset's columns and rows).

The legacy writer with sodapy:

The handbook's order: create the dataset **private**, send its rows, publish it (still private), let the
team review it, and only then make it public — a separate, explicit call (`make_public`).
For a dataset that already exists, `publish(..., dataset_id=ID, mode="replace"|"upsert")` replaces or
upserts its rows and updates its metadata (the monthly update); its permission is left as it is.

Safety:
- Nothing is made public unless asked, and never before every other step succeeded. The dataset is set
  private explicitly right after it is created (we do not rely on the portal's default).
- 429 and 5xx answers and time-outs are retried with exponential backoff; other failures are reported at
  once. Every failure raises `PublishError` with one sentence (what happened, what to do) and, when a
  dataset was already created, its id in `exc.dataset_id`: the next try continues with it (the publish log
  remembers it too), so a retry never creates a second dataset.
- Rows are sent as a replace sequence (PUT the first chunk, POST the others), so re-sending them after a
  failure never duplicates a row. A dataset that is already public is updated in one request, so the public
  never sees a half-updated table; an update whose columns the dataset lacks is refused before any change.
- A make-public that fails is followed by a set-private (a time-out may have taken effect).
- Credentials live only in the sodapy session; no message, log record or result ever contains them.
"""
from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping

import pandas as pd

from ctopen import settings
from ctopen.errors import ConfigError, PublishError

log = logging.getLogger(__name__)

CHUNK_ROWS = 5000
RETRIES = 4              # tries after the first one, for 429 / 5xx / time-outs
BACKOFF_SECONDS = 2.0    # first wait; doubles each time
TIMEOUT_SECONDS = 60

Progress = Callable[[float, str], None]

API_ENV = "CTOPEN_PUBLISH_API"    # the writer when neither --api nor the app's setting names one
APIS = ("dsmapi", "soda")


# --- credentials --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Credentials:
    """Portal credentials: username and password, or an API key id and secret (sent the same way).

    repr() never shows the secret parts; use `secrets()` to list the values to scrub from any output.
    """
    username: str = field(repr=False)
    password: str = field(repr=False)
    app_token: str | None = field(default=None, repr=False)
    kind: str = "password"   # "password" or "api_key"

    def secrets(self) -> list[str]:
        return [s for s in (self.username, self.password, self.app_token) if s]

    @classmethod
    def from_mapping(cls, values: Mapping | None) -> "Credentials | None":
        """From a mapping with keys username/password or key_id/key_secret (+ app_token): env or st.secrets."""
        if not values:
            return None
        get = lambda k: (values.get(k) or "").strip() or None  # noqa: E731
        token = get("app_token")
        if get("key_id") and get("key_secret"):
            return cls(get("key_id"), get("key_secret"), token, "api_key")
        if get("username") and get("password"):
            return cls(get("username"), get("password"), token, "password")
        if get("username") or get("password") or get("key_id") or get("key_secret"):
            raise ConfigError("The portal credentials are incomplete: give both the username and the password "
                              "(or both the API key id and the key secret).")
        return None

    @classmethod
    def from_env(cls, environ: Mapping | None = None) -> "Credentials | None":
        environ = os.environ if environ is None else environ
        return cls.from_mapping({k: environ.get(v) for k, v in settings.SOCRATA_ENV.items()})


def configured_secrets(environ: Mapping | None = None) -> list[str]:
    """The secret values this machine is configured with (a portal password or API key secret, the app token,
    the pseudonym key, the ArcGIS password or API key): masked wherever ctopen writes text, even when someone pasted one into metadata."""
    environ = os.environ if environ is None else environ
    names = (settings.SOCRATA_ENV["password"], settings.SOCRATA_ENV["key_secret"], settings.SOCRATA_ENV["app_token"],
             settings.PSEUDONYM_KEY_ENV, settings.ARCGIS_ENV["password"], settings.ARCGIS_ENV["api_key"])
    return [v for v in (str(environ.get(n) or "").strip() for n in names) if len(v) >= 4]


def scrub(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """`text` with every secret value (4 characters or more) replaced by ***."""
    import json as _json
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        # the secret as written, and as JSON or repr() escape it (a password holding \\ or a quote)
        for form in {secret, _json.dumps(secret)[1:-1], _json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1]}:
            text = text.replace(form, "***")
    return text


# --- portal addresses ---------------------------------------------------------------------------

def portal_parts(portal: str | None) -> tuple[str, str]:
    """(scheme, host[:port]) of a portal given as a domain ("data.ct.gov") or a URL ("http://127.0.0.1:8123")."""
    from ctopen.socrata_client import split_portal

    scheme, host = split_portal(portal or settings.DEFAULT_PORTAL)
    if "@" in host:
        raise ConfigError("Do not put credentials in the portal address: use the environment variables "
                          "or the app's secrets.")
    if scheme == "http" and not is_loopback(host):
        raise ConfigError(f"The portal {host} is given with http://: credentials and data would travel in clear. "
                          "Use https:// (http:// is accepted only for a local test address such as 127.0.0.1).")
    return scheme, host


def is_loopback(host: str) -> bool:
    """Whether host[:port] names this machine (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    name = host.rsplit("@", 1)[-1]
    if name.startswith("["):
        name = name[1:name.find("]")]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def same_portal(a: str | None, b: str | None) -> bool:
    return portal_parts(a)[1].lower() == portal_parts(b)[1].lower()


def dataset_url(portal: str | None, dataset_id: str) -> str:
    scheme, host = portal_parts(portal)
    return f"{scheme}://{host}/d/{dataset_id}"


def check_dataset_id(dataset_id: str) -> str:
    dataset_id = (dataset_id or "").strip()
    if not re.fullmatch(r"[a-z0-9]{4}-[a-z0-9]{4}", dataset_id):
        raise ConfigError(f"{dataset_id!r} is not a portal dataset id: it looks like abcd-1234 "
                          "(the last part of the dataset's address).")
    return dataset_id


# --- the table as the portal sees it ------------------------------------------------------------

def portal_type(series: pd.Series) -> str:
    """Socrata column type a release column is sent as: number, calendar_date, checkbox or text.

    Decided in one place, `ctopen.metadata.portal_type`, so the Describe and Publish previews, the bundle
    and what is sent always agree (ISO dates, plain numbers, true/false count; 03/21/2013 is text)."""
    from ctopen.metadata import portal_type as decide
    return decide(series)


def field_names(columns: list[str]) -> dict[str, str]:
    """Column -> Socrata API field name (lower case, words joined by "_", unique), the rule ctopen.metadata
    uses for its column payload, so the preview, the bundle and the portal agree."""
    try:
        from ctopen.metadata import field_name
    except ImportError:  # metadata not installed: the same rule
        def field_name(column, taken):
            name = re.sub(r"[^0-9a-z]+", "_", str(column).lower()).strip("_") or "column"
            name = ("_" + name if name[0].isdigit() else name)[:63]
            base, n = name, 2
            while name in taken:
                name, n = f"{base}_{n}", n + 1
            taken.add(name)
            return name
    taken: set[str] = set()
    return {col: field_name(col, taken) for col in columns}


def columns_payload(df: pd.DataFrame, descriptions: Mapping[str, str] | None = None) -> list[dict]:
    descriptions = descriptions or {}
    names = field_names(list(df.columns))
    return [{"name": str(col), "fieldName": names[col], "dataTypeName": portal_type(df[col]),
             "description": str(descriptions.get(col) or "")} for col in df.columns]


def rows_payload(df: pd.DataFrame) -> list[dict]:
    """Rows keyed by field name, values as text; a missing value is left out (null on the portal)."""
    names = field_names(list(df.columns))
    frame = df.rename(columns=names).astype(object)
    frame = frame.where(frame.notna(), None)
    return [{k: v if isinstance(v, str) else str(v) for k, v in record.items() if v is not None}
            for record in frame.to_dict("records")]


# --- result -------------------------------------------------------------------------------------

@dataclass
class PortalResult:
    status: str            # private | public | updated
    dataset_id: str
    url: str
    rows: int
    public: bool
    steps: list[str] = field(default_factory=list)   # what was done, in order (no secrets)
    api: str = "soda"                # the writer: dsmapi (revisions) or soda (legacy)
    revision_id: int | None = None   # dsmapi: the revision that carried the rows (or the metadata)
    job: str | None = None           # dsmapi: its job's outcome (successful, failure, submitted_for_approval)

    def to_dict(self) -> dict:
        return asdict(self)


# --- the client ---------------------------------------------------------------------------------

class Portal:
    """A sodapy client for one portal, with retries and plain-language errors."""

    def __init__(self, portal: str | None, credentials: Credentials | None, timeout: float | None = None,
                 retries: int | None = None, backoff: float | None = None, sleep: Callable[[float], None] | None = None):
        if credentials is None:
            raise ConfigError("No portal credentials: set SOCRATA_USERNAME and SOCRATA_PASSWORD (or "
                              "SOCRATA_KEY_ID and SOCRATA_KEY_SECRET), or write a bundle instead.")
        from ctopen.socrata_client import client as socrata_client

        scheme, host = portal_parts(portal)
        self.portal = f"{scheme}://{host}"
        self.credentials = credentials
        self.retries = RETRIES if retries is None else retries
        self.backoff = BACKOFF_SECONDS if backoff is None else backoff
        self.timeout = TIMEOUT_SECONDS if timeout is None else timeout
        self.public_ids: set[str] = set()   # datasets already public before this run touched them
        self.sleep = sleep or time.sleep
        # sodapy builds every address as uri_prefix + domain + path; ctopen.socrata_client mounts an http://
        # adapter for an http portal (a local test server).
        self.client = socrata_client(self.portal, app_token=credentials.app_token or None,
                                     username=credentials.username, password=credentials.password, timeout=self.timeout)
        self.client.session.trust_env = False  # no credentials from ~/.netrc, no proxies picked up silently

    def close(self) -> None:
        self.client.close()

    # every call goes through here
    def call(self, what: str, fn, *args, dataset_id: str | None = None, retry: bool = True, **kwargs):
        import requests

        attempt = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except requests.exceptions.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else 0
                if retry and (status == 429 or status >= 500) and attempt < self.retries:
                    self._wait(attempt, exc.response)
                    attempt += 1
                    continue
                raise self._error(what, status, dataset_id, attempt) from None
            except requests.exceptions.Timeout:
                if retry and attempt < self.retries:
                    self._wait(attempt, None)
                    attempt += 1
                    continue
                raise self._error(what, "timeout", dataset_id, attempt) from None
            except requests.exceptions.ConnectionError:
                if retry and attempt < self.retries:
                    self._wait(attempt, None)
                    attempt += 1
                    continue
                raise self._error(what, "connection", dataset_id, attempt) from None

    def _wait(self, attempt: int, response) -> None:
        delay = self.backoff * (2 ** attempt)
        retry_after = response.headers.get("Retry-After") if response is not None else None
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 300.0))
        self.sleep(delay)

    def _error(self, what: str, status, dataset_id: str | None, attempts: int) -> PublishError:
        tries = f" after {attempts + 1} tries" if attempts else ""
        if status == 401:
            msg = (f"The portal {self.portal} did not accept the credentials while {what} (HTTP 401): check "
                   "SOCRATA_USERNAME and SOCRATA_PASSWORD (or the API key id and secret) and try again.")
        elif status == 403:
            msg = (f"The account is not allowed to do this on {self.portal} while {what} (HTTP 403): ask the "
                   "portal administrator for publishing rights on this dataset.")
        elif status == 404:
            msg = (f"The portal {self.portal} has no dataset {dataset_id} (HTTP 404) while {what}: check the "
                   "dataset id (the last part of its address, like abcd-1234)." if dataset_id else
                   f"The portal {self.portal} did not find the address while {what} (HTTP 404): check the portal address.")
        elif status == 429:
            msg = (f"The portal {self.portal} refused too many requests{tries} while {what} (HTTP 429): wait "
                   "a few minutes and try again.")
        elif status == "timeout":
            msg = (f"The portal {self.portal} did not answer within {self.timeout:g} seconds{tries} while {what}: "
                   "try again later.")
        elif status == "connection":
            msg = (f"The portal {self.portal} could not be reached{tries} while {what}: check the portal "
                   "address and the network connection.")
        elif isinstance(status, int) and status >= 500:
            msg = (f"The portal {self.portal} had a server error (HTTP {status}){tries} while {what}: try again "
                   "later; if it persists, contact the portal's support.")
        else:
            msg = (f"The portal {self.portal} rejected the request while {what} (HTTP {status}): check the "
                   "release table's columns and the metadata.")
        if dataset_id and dataset_id in self.public_ids:
            msg += (f" The dataset {dataset_id} was already public: it still shows its previous rows (the update "
                    "did not go through); the next try sends the whole release again.")
        elif dataset_id:
            msg += f" Nothing was made public; the dataset {dataset_id} stays private and the next try continues with it."
        else:
            msg += " Nothing was made public."
        err = PublishError(scrub(msg, self.credentials.secrets()))
        err.public = bool(dataset_id and dataset_id in self.public_ids)
        err.dataset_id = dataset_id
        err.http_status = status
        return err

    # --- steps ------------------------------------------------------------------------------
    def view(self, dataset_id: str) -> dict:
        return self.call("reading the dataset", self.client.get_metadata, dataset_id, dataset_id=dataset_id)

    def is_public(self, dataset_id: str) -> bool:
        return is_public_view(self.view(dataset_id))

    def create(self, view: dict) -> str:
        payload = {k: v for k, v in view.items() if k != "name"}
        # a create that times out may have happened: never re-send it blindly (it would make a duplicate);
        # only a 429 (the portal did nothing) is retried.
        result = self._create_retry_429(view["name"], payload)
        dataset_id = result.get("id") if isinstance(result, dict) else None
        if not dataset_id:
            raise PublishError(f"The portal {self.portal} did not return the new dataset's id: check the "
                               "portal's catalog for a private dataset with this title before trying again.")
        return dataset_id

    def _create_retry_429(self, name: str, payload: dict):
        import requests

        attempt = 0
        while True:
            try:
                return self.client.create(name, **payload)
            except requests.exceptions.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else 0
                if status == 429 and attempt < self.retries:
                    self._wait(attempt, exc.response)
                    attempt += 1
                    continue
                raise self._error("creating the dataset", status, None, attempt) from None
            except requests.exceptions.Timeout:
                err = self._error("creating the dataset", "timeout", None, attempt)
                err.message = scrub(err.message + " The dataset may have been created anyway: look for a private "
                                    f"dataset titled {name!r} in your portal profile and, if it is there, run again "
                                    "with its id (--dataset-id) to continue.", self.credentials.secrets())
                raise err from None
            except requests.exceptions.ConnectionError:
                raise self._error("creating the dataset", "connection", None, attempt) from None

    def set_private(self, dataset_id: str) -> None:
        self.call("keeping the dataset private", self.client.set_permission, dataset_id, "private",
                  dataset_id=dataset_id)

    def set_public(self, dataset_id: str) -> None:
        """Make public; if that fails (a time-out may still have changed it), set private again so that a
        failure never leaves the dataset public, and say so when even that cannot be confirmed."""
        try:
            self.call("making the dataset public", self.client.set_permission, dataset_id, "public",
                      dataset_id=dataset_id)
        except PublishError as exc:
            try:
                self.set_private(dataset_id)
            except PublishError:
                err = PublishError(f"Making the dataset {dataset_id} public failed and the portal {self.portal} did "
                                   "not confirm that it is still private: check its permission on the portal now "
                                   f"({self.portal}/d/{dataset_id}) and set it back to private if needed.")
                err.dataset_id, err.http_status = dataset_id, getattr(exc, "http_status", None)
                raise err from None
            raise

    def update_metadata(self, dataset_id: str, view: dict) -> None:
        fields = {k: v for k, v in view.items() if k != "columns"}
        self.call("updating the metadata", self.client.update_metadata, dataset_id, fields, dataset_id=dataset_id)

    def publish(self, dataset_id: str) -> str:
        """Publish (the permission stays private). Already published (a retried publish that had in fact
        gone through, or a continued creation) counts as done."""
        try:
            result = self.call("publishing the dataset (as private)", self.client.publish, dataset_id,
                               dataset_id=dataset_id)
        except PublishError as exc:
            status = getattr(exc, "http_status", None)
            if isinstance(status, int) and 400 <= status < 500 and status not in (401, 403, 404, 429):
                if self.view(dataset_id).get("publicationStage") == "published":
                    return dataset_id
            raise
        return (result.get("id") if isinstance(result, dict) else None) or dataset_id

    def send_rows(self, dataset_id: str, rows: list[dict], mode: str, chunk: int = CHUNK_ROWS,
                  progress: Progress | None = None) -> int:
        """Send every row in chunks. mode "replace": PUT the first chunk, POST the rest; on a retryable
        failure the whole sequence starts again (so no row is sent twice). mode "upsert": POST each chunk
        (idempotent on the row identifier), retrying the chunk."""
        chunks = [rows[i:i + chunk] for i in range(0, len(rows), chunk)] or [[]]
        total = len(chunks)
        if mode == "upsert":
            for i, part in enumerate(chunks):
                self.call(f"sending rows {i * chunk + 1}-{i * chunk + len(part)}", self.client.upsert,
                          dataset_id, part, dataset_id=dataset_id)
                if progress:
                    progress((i + 1) / total, f"Sent {min((i + 1) * chunk, len(rows)):,} of {len(rows):,} rows")
            return len(rows)
        attempt = 0
        while True:
            try:
                for i, part in enumerate(chunks):
                    fn = self.client.replace if i == 0 else self.client.upsert
                    self.call(f"sending rows {i * chunk + 1}-{i * chunk + len(part)}", fn, dataset_id, part,
                              dataset_id=dataset_id, retry=False)
                    if progress:
                        progress((i + 1) / total, f"Sent {min((i + 1) * chunk, len(rows)):,} of {len(rows):,} rows")
                return len(rows)
            except PublishError as exc:
                status = getattr(exc, "http_status", None)
                retryable = status in ("timeout", "connection") or (isinstance(status, int) and (status == 429 or status >= 500))
                if not retryable or attempt >= self.retries:
                    if attempt:
                        exc.message = exc.message.replace(" while sending", f" (after {attempt + 1} tries) while sending", 1)
                    raise
                self._wait(attempt, None)
                attempt += 1
                if progress:
                    progress(0.0, "The portal did not take a part of the rows; sending them again from the start")


def is_public_view(view: dict) -> bool:
    for grant in view.get("grants") or []:
        if "public" in (grant.get("flags") or []):
            return True
    return False


# --- the operations -----------------------------------------------------------------------------

def publish(df: pd.DataFrame, view: dict, portal: str | None, credentials: Credentials | None, *,
            dataset_id: str | None = None, mode: str = "create", make_public: bool = False,
            row_identifier: str | None = None, chunk: int = CHUNK_ROWS, progress: Progress | None = None,
            on_created: Callable[[str], None] | None = None, client: Portal | None = None) -> PortalResult:
    """Send a release table to the portal. `view` is the Socrata view payload (name, description, category,
    tags, metadata, ...); its columns are built from the table when it has none.

    mode "create" without a dataset id creates a new private dataset; with an id (a retry of a creation
    that failed half-way) it continues with that dataset. "replace"/"upsert" need the id of an existing
    dataset. `on_created(id)` is called as soon as a new dataset exists (the publish log remembers it).
    """
    if mode not in ("create", "replace", "upsert"):
        raise ConfigError(f"Unknown publish mode {mode!r}: use create, replace or upsert.")
    if mode in ("replace", "upsert") and not dataset_id:
        raise ConfigError(f"Mode {mode} updates an existing dataset: give its id (--dataset-id abcd-1234).")
    if dataset_id:
        dataset_id = check_dataset_id(dataset_id)
    if not view.get("name"):
        raise ConfigError("The dataset has no title: fill in the title on the Describe page (metadata.title).")
    names = field_names(list(df.columns))
    view = dict(view)
    if not view.get("columns"):
        view["columns"] = columns_payload(df)
    if mode == "upsert":
        if not row_identifier:
            raise ConfigError("Upsert needs a row identifier: name the column whose value is unique per row "
                              "(recipe target.row_identifier), or use mode replace.")
        if row_identifier not in names and row_identifier not in names.values():
            raise ConfigError(f"The row identifier {row_identifier!r} is not a column of the release table.")
        row_identifier = names.get(row_identifier, row_identifier)
        meta = dict(view.get("metadata") or {})
        meta["rowIdentifier"] = row_identifier
        view["metadata"] = meta
    rows = rows_payload(df)
    own = client is None
    portal_client = client or Portal(portal, credentials)
    steps: list[str] = []
    say = progress or (lambda share, text: None)
    try:
        if mode == "create":
            continued = bool(dataset_id)
            if continued:   # continuing a creation that failed half-way
                existing = portal_client.view(dataset_id)
                steps.append(f"continued with dataset {dataset_id}")
                was_public = is_public_view(existing)
                if not was_public:
                    portal_client.set_private(dataset_id)
                portal_client.update_metadata(dataset_id, view)
            else:
                say(0.0, "Creating the dataset (private)")
                dataset_id = portal_client.create(view)
                steps.append(f"created dataset {dataset_id}")
                if on_created:
                    on_created(dataset_id)
                was_public = False
                portal_client.set_private(dataset_id)
                steps.append("set private")
            portal_client.send_rows(dataset_id, rows, "replace", chunk, progress)
            steps.append(f"sent {len(rows)} rows")
            if continued and existing.get("publicationStage") == "published":
                published_id = dataset_id
            else:
                published_id = portal_client.publish(dataset_id)
            if published_id != dataset_id:   # a published copy under another id: keep it private too
                dataset_id = published_id
                portal_client.set_private(dataset_id)
            steps.append("published (private)")
            status = "private"
        else:
            existing = portal_client.view(dataset_id)
            was_public = is_public_view(existing)
            if was_public:
                portal_client.public_ids.add(dataset_id)
            known = {c.get("fieldName") for c in existing.get("columns") or [] if isinstance(c, dict)}
            missing = [c["name"] for c in view["columns"] if known and c["fieldName"] not in known]
            if missing:   # checked before anything changes: a half-replaced dataset helps no one
                raise ConfigError(f"The dataset {dataset_id} has no column for {', '.join(missing)}: add the "
                                  "column(s) on the portal first, or publish the release as a new dataset.")
            if was_public:
                # one request: a public dataset never shows a half-updated table (a part of the rows can hold
                # groups smaller than k even when the whole release does not)
                chunk = max(chunk, len(rows), 1)
            portal_client.send_rows(dataset_id, rows, "replace" if mode == "replace" else "upsert", chunk, progress)
            steps.append(f"{'replaced' if mode == 'replace' else 'upserted'} {len(rows)} rows")
            portal_client.update_metadata(dataset_id, view)   # after the rows: metadata never describes rows not sent
            steps.append("updated metadata")
            status = "updated"
        public = was_public
        if make_public and not was_public:
            portal_client.set_public(dataset_id)
            steps.append("made public")
            public = True
        if mode == "create" and public:
            status = "public"
        say(1.0, "Done")
        return PortalResult(status, dataset_id, dataset_url(portal, dataset_id), len(rows), public, steps)
    finally:
        if own:
            portal_client.close()


def make_public(dataset_id: str, portal: str | None, credentials: Credentials | None,
                client: Portal | None = None) -> PortalResult:
    """The separate, explicit step after the review: make a (published, private) dataset public."""
    dataset_id = check_dataset_id(dataset_id)
    own = client is None
    portal_client = client or Portal(portal, credentials)
    try:
        view = portal_client.view(dataset_id)
        if not is_public_view(view):
            portal_client.set_public(dataset_id)
        rows = int(view.get("rowCount") or 0)
        return PortalResult("public", dataset_id, dataset_url(portal, dataset_id), rows, True, ["made public"])
    finally:
        if own:
            portal_client.close()


# --- metadata -> the Socrata view payload --------------------------------------------------------

def view_payload(metadata: Mapping | None, df: pd.DataFrame) -> dict:
    """The Socrata view for a release table: ctopen.metadata's rendering, with the columns' portal types and
    descriptions built from the release table (only columns that are released)."""
    from ctopen.metadata import to_socrata

    metadata = dict(metadata or {})
    view = dict(to_socrata(metadata))
    descriptions = dict(metadata.get("columns") or {})
    for col in view.get("columns") or []:       # descriptions the metadata module put on the columns
        if isinstance(col, dict) and col.get("name") and col.get("description"):
            descriptions.setdefault(col["name"], col["description"])
    view["columns"] = columns_payload(df, descriptions)
    return view


@dataclass
class PortalView:
    """Exactly what would be sent to the portal (and written in a bundle): the rows (the release table, with
    formula-like cells and headers neutralised), the view (name, metadata and the columns with their field
    names and portal types)."""
    rows: pd.DataFrame
    view: dict
    formulas: dict = field(default_factory=dict)          # {column: cells given a leading apostrophe}
    formula_headers: list = field(default_factory=list)   # headers given a leading apostrophe
    formulas_kept: list = field(default_factory=list)     # columns the officer keeps as they are, on purpose

    @property
    def columns(self) -> list[dict]:
        return list(self.view.get("columns") or [])

    def types(self) -> dict[str, str]:
        """{column: portal type}, as sent."""
        return {c["name"]: c["dataTypeName"] for c in self.columns}


def portal_view(release: pd.DataFrame, recipe: Mapping) -> PortalView:
    from ctopen.checks import neutralise_formulas

    kept = [c for c in recipe.get("keep_formulas") or [] if c in release.columns]
    rows, cells, headers = neutralise_formulas(release, keep=kept)
    return PortalView(rows, view_payload(recipe.get("metadata") or {}, rows), cells, headers, kept)


# --- the whole publish, logged (shared by the CLI and the Publish page) --------------------------

def credentials_from(secrets: Mapping | None = None, environ: Mapping | None = None) -> "Credentials | None":
    """Environment variables first (they win, as .streamlit/secrets.toml.example says), else the app's
    secrets section [socrata] given as a mapping."""
    return Credentials.from_env(environ) or Credentials.from_mapping(secrets)


def resolve_api(api: str | None, portal: str | None, client=None) -> str:
    """The writer: the one asked for (`--api`, the app's setting), else $CTOPEN_PUBLISH_API, else the Data
    Management API ("dsmapi"). socrata-py speaks https only, so a portal given as http:// (a loopback test server,
    the only http address accepted) is written to with the legacy API ("soda") unless dsmapi is asked for, which
    is then an error. A client passed in decides by its kind."""
    if client is not None:
        return getattr(client, "api", "soda")
    chosen = str(api or os.environ.get(API_ENV) or "").strip().lower()
    if chosen and chosen not in APIS:
        raise ConfigError(f"Unknown publishing API {chosen!r}: use dsmapi (the Data Management API, the default) or "
                          "soda (the legacy API, for a site that still needs it).")
    scheme, host = portal_parts(portal)
    if chosen == "dsmapi" and scheme != "https":
        raise ConfigError(f"The Data Management API is reached over https only, and the portal is given as "
                          f"{scheme}://{host}: give it as https://{host}, or use --api soda for a local http test server.")
    return chosen or ("dsmapi" if scheme == "https" else "soda")


def publish_logged(release: pd.DataFrame, recipe: Mapping, portal: str | None, credentials: Credentials | None, *,
                   dataset_id: str | None = None, mode: str = "create", make_public: bool = False,
                   by: str | None = None, progress: Progress | None = None, client=None,
                   api: str | None = None) -> PortalResult:
    """`publish` (dsmapi or soda, see `resolve_api`) with the publish log: a creation that failed half-way is
    continued (same dataset) by the next try for the same portal and title; every outcome is recorded with the
    recipe's hash, the writer, and (dsmapi) the revision and its job's outcome."""
    from ctopen.publish import log as plog

    api = resolve_api(api, portal, client)
    metadata = recipe.get("metadata") or {}
    target = recipe.get("target") or {}
    portal_key = portal_parts(portal)[1]
    title = metadata.get("title") or ""
    log_target = dataset_id or title
    if mode == "create" and not dataset_id:
        dataset_id = plog.unfinished(portal_key, log_target)
    digest = plog.recipe_hash(dict(recipe))
    common = dict(portal=portal_key, target=log_target, mode=mode, rows=len(release), recipe_sha256=digest, by=by,
                  api=api)
    view = view_payload(metadata, release)
    plog.record(status="started", dataset_id=dataset_id, **common)

    def created(new_id: str, revision: int | None = None) -> None:
        plog.record(status="created", dataset_id=new_id, public=False, revision_id=revision, **common)

    kwargs = dict(dataset_id=dataset_id, mode=mode, make_public=make_public,
                  row_identifier=target.get("row_identifier"), progress=progress, on_created=created, client=client)
    try:
        if api == "dsmapi":
            from ctopen.publish import dsmapi
            result = dsmapi.publish(release, view, portal, credentials, **kwargs)
        else:
            if mode not in ("create", "replace", "upsert"):
                raise ConfigError(f"Mode {mode} needs the Data Management API: run it without --api soda.")
            result = publish(release, view, portal, credentials, **kwargs)
    except PublishError as exc:
        plog.record(status="failed", dataset_id=getattr(exc, "dataset_id", None) or dataset_id,
                    public=bool(getattr(exc, "public", False)), revision_id=getattr(exc, "revision_id", None),
                    job=getattr(exc, "job", None), message=str(exc), **common)
        raise
    plog.record(status=result.status, dataset_id=result.dataset_id, public=result.public,
                revision_id=result.revision_id, job=result.job, message="; ".join(result.steps), **common)
    return result


def make_public_logged(dataset_id: str, portal: str | None, credentials: Credentials | None, *, by: str | None = None,
                       client=None, api: str | None = None, progress: Progress | None = None) -> PortalResult:
    """The explicit make-public step, through the chosen writer (dsmapi: a revision whose permission is public),
    logged."""
    from ctopen.publish import log as plog

    api = resolve_api(api, portal, client)
    common = dict(portal=portal_parts(portal)[1], target=dataset_id, dataset_id=dataset_id, mode="make-public",
                  by=by, api=api)
    try:
        if api == "dsmapi":
            from ctopen.publish import dsmapi
            result = dsmapi.make_public(dataset_id, portal, credentials, progress=progress, client=client)
        else:
            result = make_public(dataset_id, portal, credentials, client=client)
    except PublishError as exc:
        plog.record(status="failed", public=getattr(exc, "public", None), message=str(exc), **common)
        raise
    plog.record(status=result.status, public=result.public, revision_id=result.revision_id, job=result.job,
                message="make public after review: " + "; ".join(result.steps), **common)
    return result


def portal_fields(view: Mapping) -> list[tuple[str, str]]:
    """The view's metadata as the portal's "About this dataset" lists it: (label, value) pairs."""
    labels = [("category", "Category"), ("tags", "Tags"), ("attribution", "Data provided by"),
              ("attributionLink", "Source link"), ("license", "License")]
    out = []
    for key, label in labels:
        value = view.get(key)
        if isinstance(value, Mapping):
            value = value.get("name")
        if value:
            out.append((label, ", ".join(value) if isinstance(value, (list, tuple)) else str(value)))
    meta = view.get("metadata") or {}
    if meta.get("rowLabel"):
        out.append(("Row label", str(meta["rowLabel"])))
    for group, fields in (meta.get("custom_fields") or {}).items():
        for name, value in (fields or {}).items():
            if value:
                out.append((f"{group}: {name}", str(value)))
    return out


def columns_table(view: Mapping) -> list[dict]:
    """The view's columns as the preview lists them."""
    return [{"Column": c["name"], "Portal field name": c["fieldName"], "Portal type": c["dataTypeName"],
             "Description": c.get("description") or "(none yet)"} for c in view.get("columns") or []]
