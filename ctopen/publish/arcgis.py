"""Publish a map release to ArcGIS Online (or ArcGIS Enterprise) through the ArcGIS REST API: the CT Geo Data
Portal (geodata.ct.gov) is an ArcGIS Hub site whose items live in an ArcGIS Online organisation.

The calls (the portal's sharing API, `{portal}/sharing/rest`; every one answers JSON, and an error may come
with HTTP 200 as `{"error": {"code", "message", "details"}}`):

    POST generateToken                                   username, password, client=referer -> token (or an API key)
    GET  community/self                                  the account: its username and groups
    POST content/users/{user}/addItem                    the release as a GeoJSON file item (type GeoJson)
    POST content/users/{user}/publish                    itemId, filetype=geojson, publishParameters -> a hosted
                                                         feature layer (serviceItemId, serviceurl, jobId)
    GET  content/users/{user}/items/{id}/status          jobId, jobType=publish -> processing | completed | failed
    POST content/users/{user}/items/{id}/update          item properties (and, for an update, the new file)
    GET  content/items/{id}                              the item: type, owner, access (private | shared | org | public)
    GET  content/items/{id}/groups                       the groups it is shared with
    GET  content/items/{id}/relatedItems                 Service2Data, forward: the file a layer was published from
    POST content/users/{user}/items/{id}/share           everyone, org, groups -> notSharedWith
    POST content/users/{user}/items/{id}/unshare         groups
    POST content/users/{user}/items/{id}/delete          (clean-up of a creation that failed half-way)

The order is the handbook's, as on Socrata: the file item and its layer are created **private** (ArcGIS creates
every item private; the layer's access is read back and set private if it is not), the team reviews the layer on
the portal, and only then is it shared: with everyone and with the organisation's open-data group (the Hub site's
content group, $ARCGIS_GROUP), in one call, read back; a share that fails or cannot be confirmed is undone.

Regular updates overwrite the layer (publish with overwrite=true, after the file item is updated with the new
release), rather than truncate + append or applyEdits on the feature service: the overwrite job swaps the whole
layer at once when it completes and changes nothing when it fails (a public layer never shows a half-replaced
table, where a part of the rows could hold cells smaller than the threshold); it keeps the item id, the URL and the
sharing; a change of columns goes through; and every call goes to the portal, so the token never travels to the
feature service's host (services*.arcgis.com on ArcGIS Online), which a recipe or the portal could name.

Credentials ($ARCGIS_USERNAME and $ARCGIS_PASSWORD, or $ARCGIS_API_KEY; or the app's [arcgis] secrets) go only to
the portal named by --portal or $ARCGIS_URL, never to a host a recipe names; http:// only for a loopback test
address. The token is sent in the X-Esri-Authorization header, never in an address. No message, log record or
result holds the password, the key or a token. A 429, a 5xx, a time-out or a lost connection is retried with
backoff where repeating the call is safe; adding an item and publishing a new layer are retried only after a 429
(the portal did nothing), since a repeat after a time-out could create a second one.
"""
from __future__ import annotations

import html
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping
from urllib.parse import urlsplit

import requests

from ctopen import settings
from ctopen.errors import ConfigError, PublishError

Progress = Callable[[float, str], None]

RETRIES = 4              # tries after the first one, for what is safe to repeat
BACKOFF_SECONDS = 2.0    # first wait; doubles each time (at least Retry-After)
TIMEOUT_SECONDS = 120    # one request (an upload of a large GeoJSON takes a while)
POLL_SECONDS = 2.0       # between reads of a publish job's status
ITEM_ID = re.compile(r"[0-9a-f]{32}")
SNIPPET_CHARS = 2048     # ArcGIS's limit for an item's summary
# ArcGIS error codes (in the JSON body, HTTP status often 200)
INVALID_TOKEN = (498, 499)


# --- credentials --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Credentials:
    """A named user's username and password (a token is generated with them), or an API key (used as the token).
    repr() never shows them; `secrets()` lists the values to scrub from any output."""
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return "api_key" if self.api_key else "password"

    def secrets(self) -> list[str]:
        return [s for s in (self.password, self.api_key) if s]

    @classmethod
    def from_mapping(cls, values: Mapping | None) -> "Credentials | None":
        """From a mapping with keys username/password or api_key: the environment or the app's [arcgis] secrets."""
        if not values:
            return None
        get = lambda k: (str(values.get(k) or "")).strip() or None  # noqa: E731
        if get("api_key"):
            return cls(api_key=get("api_key"))
        if get("username") and get("password"):
            return cls(get("username"), get("password"))
        if get("username") or get("password"):
            raise ConfigError(f"The ArcGIS credentials are incomplete: give both {settings.ARCGIS_ENV['username']} and "
                              f"{settings.ARCGIS_ENV['password']} (or {settings.ARCGIS_ENV['api_key']}).")
        return None

    @classmethod
    def from_env(cls, environ: Mapping | None = None) -> "Credentials | None":
        environ = os.environ if environ is None else environ
        return cls.from_mapping({k: environ.get(v) for k, v in settings.ARCGIS_ENV.items()
                                 if k in ("username", "password", "api_key")})


def credentials_from(secrets: Mapping | None = None, environ: Mapping | None = None) -> "Credentials | None":
    """Environment variables first (they win), else the app's secrets section [arcgis] given as a mapping."""
    return Credentials.from_env(environ) or Credentials.from_mapping(secrets)


def setting(name: str, secrets: Mapping | None = None, environ: Mapping | None = None) -> str | None:
    """A non-secret ArcGIS setting ("url", "group"): the environment, else the app's [arcgis] secrets."""
    environ = os.environ if environ is None else environ
    value = str(environ.get(settings.ARCGIS_ENV[name]) or "").strip()
    if not value and secrets:
        value = str(secrets.get(name) or "").strip()
    return value or None


# --- the portal's address -----------------------------------------------------------------------

def portal_parts(portal: str | None) -> tuple[str, str, str]:
    """(scheme, host[:port], path) of an ArcGIS portal given as a domain ("myorg.maps.arcgis.com") or a URL
    ("https://gis.example.gov/portal", "http://127.0.0.1:8123"). A trailing /home, /sharing or /sharing/rest is
    dropped: the same portal however it was copied."""
    from ctopen.publish.socrata import is_loopback

    text = (portal or "").strip()
    if not text:
        raise ConfigError(f"No ArcGIS portal is set: give it with --portal or {settings.ARCGIS_ENV['url']} (your "
                          "organisation's address, such as https://myorg.maps.arcgis.com).")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"The ArcGIS portal address {portal!r} is not a web address such as https://myorg.maps.arcgis.com.")
    if parts.username or parts.password or "@" in parts.netloc:
        raise ConfigError("Do not put credentials in the portal address: use the environment variables or the app's secrets.")
    if parts.query or parts.fragment:
        raise ConfigError(f"The ArcGIS portal address {portal!r} must be the portal itself, without ?… or #…")
    path = re.sub(r"/+", "/", parts.path).rstrip("/")
    for tail in ("/sharing/rest", "/sharing", "/home/index.html", "/home"):
        if path.lower().endswith(tail):
            path = path[: -len(tail)]
            break
    if parts.scheme == "http" and not is_loopback(parts.netloc):
        raise ConfigError(f"The ArcGIS portal {parts.netloc} is given with http://: credentials and data would travel "
                          "in clear. Use https:// (http:// is accepted only for a local test address such as 127.0.0.1).")
    return parts.scheme, parts.netloc, path


def portal_url(portal: str | None) -> str:
    scheme, host, path = portal_parts(portal)
    return f"{scheme}://{host}{path}"


def same_portal(a: str | None, b: str | None) -> bool:
    pa, pb = portal_parts(a), portal_parts(b)
    return pa[1].lower() == pb[1].lower() and pa[2].lower() == pb[2].lower()


def item_url(portal: str | None, item_id: str) -> str:
    """The item's page on the portal (where the team reviews the private layer)."""
    return f"{portal_url(portal)}/home/item.html?id={item_id}"


def check_item_id(item_id: str | None) -> str:
    text = (item_id or "").strip().lower()
    if not ITEM_ID.fullmatch(text):
        raise ConfigError(f"{item_id!r} is not an ArcGIS item id: it is 32 letters and digits, the id=… part of the "
                          "layer's page address (…/home/item.html?id=…).")
    return text


# --- item metadata ------------------------------------------------------------------------------

def _paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(p.strip()).replace(chr(10), '<br>')}</p>"
                   for p in re.split(r"\n\s*\n", text or "") if p.strip())


def snippet_of(description: str, title: str = "") -> str:
    """The item's summary: the description's first sentence (ArcGIS shows it under the title; at most 2,048
    characters), else the title."""
    text = " ".join((description or "").split())
    if not text:
        return title[:SNIPPET_CHARS]
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    first = match.group(1) if match else text
    return first[:SNIPPET_CHARS]


def item_properties(meta: Mapping | None, columns: list[str] | None = None) -> dict:
    """The ArcGIS item's metadata from the review's metadata (recipe["metadata"]): title, snippet, description
    (HTML: the description, the notes and limitations of use, the column descriptions, the update frequency and the
    contact), tags (a list), licenseInfo (the license, linked), accessInformation (the credits: who provides the
    data). One rendering, used for what is sent and for arcgis_item.json in a map bundle. `columns`: the release's
    columns, to describe only those that are published."""
    from ctopen.metadata import license_info, publishable

    m = publishable(dict(meta or {}))
    title = m["title"]
    parts = [_paragraphs(m["description"])]
    if m["notes"]:
        parts.append("<p><strong>Notes and limitations of use</strong></p>" + _paragraphs(m["notes"]))
    described = {c: d for c, d in m["columns"].items() if columns is None or c in columns}
    if described:
        parts.append("<p><strong>Fields</strong></p><ul>" + "".join(
            f"<li><strong>{html.escape(c)}</strong>: {html.escape(d)}</li>" for c, d in described.items()) + "</ul>")
    facts = [(label, m[key]) for key, label in (("update_frequency", "Update frequency"),
                                                ("temporal_coverage", "Temporal coverage"),
                                                ("geographic_unit", "Geographic unit"), ("agency", "Agency"))
             if m.get(key)]
    if m["contact_email"]:
        facts.append(("Contact", m["contact_email"]))
    if facts:
        parts.append("<ul>" + "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in facts) + "</ul>")
    _, url = license_info(m["license"])
    license_html = ""
    if m["license"]:
        name = html.escape(m["license"])
        license_html = f'<a href="{html.escape(url)}">{name}</a>' if url else name
    tags = [t.replace(",", " ").strip() for t in m["tags"] if t.replace(",", " ").strip()]
    if m["category"] and m["category"].lower() not in (t.lower() for t in tags):
        tags.append(m["category"])
    return {
        "type": "GeoJson",
        "title": title,
        "snippet": snippet_of(m["description"], title),
        "description": "".join(p for p in parts if p),
        "tags": tags,
        "licenseInfo": license_html,
        "accessInformation": m["data_provided_by"] or m["agency"] or "",
    }


def _form(props: Mapping) -> dict:
    """Item properties as the REST API takes them in a form (tags comma-separated)."""
    out = {}
    for key, value in props.items():
        if key == "type":
            continue
        out[key] = ",".join(value) if isinstance(value, (list, tuple)) else str(value or "")
    return out


def service_name(title: str, item_id: str) -> str:
    """The hosted layer's service name: the title in letters, digits and underscores (ArcGIS allows no other
    characters), made unique in the organisation with the start of the file item's id."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", title or "").strip("_")[:60] or "layer"
    if not base[0].isalpha():
        base = "layer_" + base
    return f"{base}_{item_id[:8]}"


# --- result -------------------------------------------------------------------------------------

@dataclass
class LayerResult:
    status: str                 # private | public | updated
    item_id: str                # the hosted feature layer's item (what is shared and updated)
    url: str                    # its page on the portal
    features: int
    public: bool
    source_item_id: str | None = None   # the GeoJSON file item it is published from (stays private)
    layer_url: str | None = None        # the feature service's address, as the portal gives it
    group: str | None = None            # the open-data group it is shared with (when public)
    job: str | None = None              # the publish job's outcome (completed)
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


# --- the client ---------------------------------------------------------------------------------

class _Failed(Exception):
    def __init__(self, status, detail: str = "", attempts: int = 0):
        super().__init__(str(status))
        self.status, self.detail, self.attempts = status, detail, attempts


class Client:
    """One ArcGIS portal, signed in: every call goes through `call` (retries, error JSON, secrets scrubbed)."""

    def __init__(self, portal: str | None, credentials: Credentials | None, *, timeout: float | None = None,
                 retries: int | None = None, backoff: float | None = None, poll: float | None = None,
                 job_timeout: float | None = None, sleep: Callable[[float], None] | None = None):
        if credentials is None:
            raise ConfigError(f"No ArcGIS credentials: set {settings.ARCGIS_ENV['username']} and "
                              f"{settings.ARCGIS_ENV['password']} (or {settings.ARCGIS_ENV['api_key']}), or write a "
                              "bundle instead.")
        from ctopen.publish.dsmapi import ca_bundle

        self.portal = portal_url(portal)
        self.root = self.portal + "/sharing/rest"
        self.credentials = credentials
        self.timeout = TIMEOUT_SECONDS if timeout is None else timeout
        self.retries = RETRIES if retries is None else retries
        self.backoff = BACKOFF_SECONDS if backoff is None else backoff
        self.poll = POLL_SECONDS if poll is None else poll
        self.job_timeout = settings.ARCGIS_JOB_TIMEOUT if job_timeout is None else job_timeout
        self.sleep = sleep or time.sleep
        self.session = requests.Session()
        self.session.trust_env = False        # no ~/.netrc credentials, no proxy picked up silently
        self.session.verify = ca_bundle()
        self.session.headers["User-Agent"] = "ctopen"
        self._token: str | None = credentials.api_key
        self._secrets = list(credentials.secrets())
        self._user: dict | None = None

    def close(self) -> None:
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- plumbing ---------------------------------------------------------------------------
    def scrub(self, text: str) -> str:
        from ctopen.publish.socrata import scrub
        return scrub(text, self._secrets)

    def _sign_in(self) -> None:
        """A token for a named user (client=referer, the portal as referer: the token is valid only there)."""
        if self.credentials.api_key:
            self._token = self.credentials.api_key
            return
        data = {"username": self.credentials.username, "password": self.credentials.password, "client": "referer",
                "referer": self.portal, "expiration": str(settings.ARCGIS_TOKEN_MINUTES), "f": "json"}
        answer = self._send("POST", "generateToken", data=data, auth=False)
        token = answer.get("token") if isinstance(answer, dict) else None
        if not token:
            raise _Failed("no-token")
        self._token = str(token)
        self._secrets.append(self._token)

    def _send(self, method: str, path: str, *, params: dict | None = None, data: dict | None = None,
              files: dict | None = None, auth: bool = True):
        url = f"{self.root}/{path}"
        headers = {"Referer": self.portal}
        if auth:
            headers["X-Esri-Authorization"] = f"Bearer {self._token}"
        params = {**(params or {}), "f": "json"} if method == "GET" else params
        if method == "POST":
            data = {**(data or {}), "f": "json"}
        try:
            response = self.session.request(method, url, params=params, data=data, files=files, headers=headers,
                                            timeout=self.timeout, allow_redirects=False)
        except requests.exceptions.SSLError:
            raise _Failed("tls") from None
        except requests.exceptions.Timeout:
            raise _Failed("timeout") from None
        except requests.exceptions.ConnectionError:
            raise _Failed("connection") from None
        if 300 <= response.status_code < 400:
            raise _Failed("redirect")   # a redirect could carry the token elsewhere: never followed
        if response.status_code >= 400:
            raise _Failed(response.status_code, _error_text(response), 0) from None
        try:
            answer = response.json()
        except ValueError:
            raise _Failed("not-json") from None
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            err = answer["error"]
            code = err.get("code")
            raise _Failed(int(code) if isinstance(code, int) or str(code).isdigit() else 400, _detail(err))
        return answer

    def call(self, what: str, method: str, path: str, *, retry: str = "all", **kwargs):
        """One request with its retries: retry "all" (429, 5xx, time-out, lost connection), "429" (only a 429: the
        portal did nothing) or "none". An expired token is renewed once. Raises PublishError (one line)."""
        if self._token is None:
            self._authenticate(what)
        attempt, renewed = 0, False
        while True:
            try:
                return self._send(method, path, **kwargs)
            except _Failed as failed:
                status = failed.status
                if status in INVALID_TOKEN and not renewed and not self.credentials.api_key:
                    renewed = True
                    self._authenticate(what)
                    continue
                retryable = status == 429 or (retry == "all" and (
                    status in ("timeout", "connection") or (isinstance(status, int) and status >= 500)))
                if retry != "none" and retryable and attempt < self.retries:
                    self.sleep(self.backoff * (2 ** attempt))
                    attempt += 1
                    continue
                failed.attempts = attempt
                raise self.error(what, failed) from None

    def _authenticate(self, what: str) -> None:
        attempt = 0
        while True:
            try:
                self._sign_in()
                return
            except _Failed as failed:
                if (failed.status in (429, "timeout", "connection") or (isinstance(failed.status, int)
                                                                       and failed.status >= 500)) \
                        and attempt < self.retries:
                    self.sleep(self.backoff * (2 ** attempt))
                    attempt += 1
                    continue
                failed.attempts = attempt
                if failed.status in (400, 401, 403, "no-token") or failed.status in INVALID_TOKEN:
                    raise PublishError(self.scrub(
                        f"The ArcGIS portal {self.portal} did not accept the credentials while signing in (for "
                        f"{what}): check {settings.ARCGIS_ENV['username']} and {settings.ARCGIS_ENV['password']} "
                        f"(or {settings.ARCGIS_ENV['api_key']})." + (" Nothing was sent or shared." if self._user is None
                                                                     else ""))) from None
                err = self.error("signing in", failed)
                if self._user is None:          # the first sign-in: nothing was sent to the portal yet
                    err.message = str(err).rstrip(".") + ". Nothing was sent or shared."
                raise err from None

    def error(self, what: str, failed: _Failed) -> PublishError:
        status, tries = failed.status, (f" after {failed.attempts + 1} tries" if failed.attempts else "")
        detail = f" ({failed.detail})" if failed.detail else ""
        if status in INVALID_TOKEN or status == 401:
            msg = (f"The ArcGIS portal {self.portal} did not accept the sign-in while {what}{detail}: check the "
                   f"credentials ({settings.ARCGIS_ENV['username']}/{settings.ARCGIS_ENV['password']} or "
                   f"{settings.ARCGIS_ENV['api_key']}).")
        elif status == 403:
            msg = (f"The ArcGIS account is not allowed to do this on {self.portal} while {what}{detail}: it needs "
                   "the publisher role (create content, publish hosted feature layers, share).")
        elif status == 404:
            msg = f"The ArcGIS portal {self.portal} did not find what was asked while {what}{detail}: check the item id."
        elif status == 429:
            msg = f"The ArcGIS portal {self.portal} refused too many requests{tries} while {what}: wait a few minutes and try again."
        elif status == "timeout":
            msg = f"The ArcGIS portal {self.portal} did not answer within {self.timeout:g} seconds{tries} while {what}: try again later."
        elif status == "connection":
            msg = f"The ArcGIS portal {self.portal} could not be reached{tries} while {what}: check the portal address and the network."
        elif status == "tls":
            msg = (f"The ArcGIS portal {self.portal} did not present a certificate this machine trusts while {what}: "
                   "check the address, or set REQUESTS_CA_BUNDLE to your agency's certificate file.")
        elif status == "redirect":
            msg = (f"The ArcGIS portal {self.portal} answered with a redirect while {what}: give its exact address "
                   "(the one its pages use); ctopen does not follow redirects with credentials.")
        elif status == "not-json":
            msg = f"The ArcGIS portal {self.portal} did not answer in JSON while {what}: check that the address is an ArcGIS portal."
        elif isinstance(status, int) and status >= 500:
            msg = f"The ArcGIS portal {self.portal} had a server error (HTTP {status}){tries} while {what}{detail}: try again later."
        else:
            msg = f"The ArcGIS portal {self.portal} refused the request while {what} (code {status}){detail}."
        err = PublishError(self.scrub(msg))
        err.http_status = status
        return err

    # --- the account ------------------------------------------------------------------------
    def user(self) -> dict:
        if self._user is None:
            me = self.call("reading the account", "GET", "community/self")
            if not isinstance(me, dict) or not me.get("username"):
                raise PublishError(f"The ArcGIS portal {self.portal} did not say which account signed in: an API key "
                                   "must belong to a user who may publish (or use a username and password).")
            self._user = me
        return self._user

    @property
    def username(self) -> str:
        return str(self.user()["username"])

    def _u(self, tail: str) -> str:
        from urllib.parse import quote
        return f"content/users/{quote(self.username, safe='')}/{tail}"

    def open_data_group(self, wanted: str | None) -> dict:
        """The group a public layer is shared with: $ARCGIS_GROUP (an id, or a title among the account's
        groups), else the account's one group marked as open data. Anything else is a clear error, before any
        sharing."""
        groups = [g for g in self.user().get("groups") or [] if isinstance(g, dict) and g.get("id")]
        if wanted:
            wanted = wanted.strip()
            for g in groups:
                if g["id"].lower() == wanted.lower() or str(g.get("title") or "").strip().lower() == wanted.lower():
                    return g
            names = ", ".join(repr(g.get("title")) for g in groups) or "none"
            raise ConfigError(f"The account is not a member of the group {wanted!r} ({settings.ARCGIS_ENV['group']}): "
                              f"its groups are {names}. Ask the portal administrator to add it, or set the right one.")
        marked = [g for g in groups if g.get("isOpenData")]
        if len(marked) == 1:
            return marked[0]
        names = ", ".join(repr(g.get("title")) for g in groups) or "none"
        raise ConfigError(f"Set {settings.ARCGIS_ENV['group']} to the organisation's open-data group (the Hub site's "
                          f"content group: its id or its title) before making a layer public; the account's groups are "
                          f"{names}.")

    # --- items ------------------------------------------------------------------------------
    def item(self, item_id: str) -> dict:
        answer = self.call("reading the item", "GET", f"content/items/{item_id}")
        if not isinstance(answer, dict) or answer.get("id") != item_id:
            raise PublishError(f"The ArcGIS portal {self.portal} did not return the item {item_id}.")
        return answer

    def item_groups(self, item_id: str) -> set[str]:
        answer = self.call("reading the item's groups", "GET", f"content/items/{item_id}/groups")
        return {g.get("id") for key in ("admin", "member", "other") for g in (answer or {}).get(key) or []
                if isinstance(g, dict)}

    def add_item(self, props: dict, geojson: bytes, filename: str) -> str:
        data = {**_form(props), "type": "GeoJson"}
        files = {"file": (filename, geojson, "application/geo+json")}
        try:
            answer = self.call("adding the GeoJSON item", "POST", self._u("addItem"), data=data, files=files, retry="429")
        except PublishError as exc:
            if getattr(exc, "http_status", None) in ("timeout", "connection"):
                exc.message = (str(exc) + f" The item may have been added anyway: look for a private GeoJSON item titled "
                               f"{props.get('title')!r} in your content and delete it before trying again.")
            raise
        item_id = answer.get("id") if isinstance(answer, dict) and answer.get("success") else None
        if not item_id:
            raise PublishError(f"The ArcGIS portal {self.portal} did not return the new item's id: look for a private "
                               f"GeoJSON item titled {props.get('title')!r} in your content before trying again.")
        return _portal_id(item_id, "a new item's id", self.portal)

    def update_item(self, item_id: str, props: dict, geojson: bytes | None = None, filename: str | None = None) -> None:
        files = {"file": (filename or "release.geojson", geojson, "application/geo+json")} if geojson is not None else None
        answer = self.call("updating the item" if geojson is None else "sending the new file", "POST",
                           self._u(f"items/{item_id}/update"), data=_form(props), files=files)
        if not (isinstance(answer, dict) and answer.get("success")):
            raise PublishError(f"The ArcGIS portal {self.portal} did not confirm the update of the item {item_id}.")

    def publish(self, source_id: str, name: str, overwrite: bool = False) -> dict:
        params = {"name": name, "hasStaticData": False, "maxRecordCount": 2000,
                  "layerInfo": {"capabilities": "Query"}}
        data = {"itemId": source_id, "filetype": "geojson", "publishParameters": json.dumps(params)}
        if overwrite:
            data["overwrite"] = "true"
        answer = self.call("overwriting the layer" if overwrite else "publishing the hosted feature layer", "POST",
                           self._u("publish"), data=data, retry="all" if overwrite else "429")
        services = answer.get("services") if isinstance(answer, dict) else None
        service = services[0] if services and isinstance(services[0], dict) else None
        if service is None or service.get("success") is False or not service.get("serviceItemId"):
            why = _detail((service or {}).get("error") or {}) if service else ""
            raise PublishError(self.scrub(f"The ArcGIS portal {self.portal} did not publish the layer"
                                          f"{' (' + why + ')' if why else ''}: check that the release is valid GeoJSON "
                                          "and that the account may publish hosted feature layers."))
        service = dict(service)
        service["serviceItemId"] = _portal_id(service["serviceItemId"], "a layer id", self.portal)
        return service

    def wait_for_job(self, item_id: str, job_id: str | None, say: Progress) -> str:
        """Poll the publish job until it completes (or fails, or runs past the job time-out)."""
        started = time.monotonic()
        while True:
            params = {"jobType": "publish", **({"jobId": job_id} if job_id else {})}
            answer = self.call("waiting for the publish job", "GET", self._u(f"items/{item_id}/status"), params=params)
            status = str((answer or {}).get("status") or "").lower()
            if status in ("completed", "succeeded"):
                return "completed"
            if status in ("failed", "cancelled", "canceled", "timedout"):
                why = str((answer or {}).get("statusMessage") or "").strip()
                raise PublishError(self.scrub(f"The ArcGIS portal's publish job {status}"
                                              f"{': ' + why if why else ''}."))
            if time.monotonic() - started > self.job_timeout:
                raise PublishError(f"The ArcGIS portal's publish job did not finish within {self.job_timeout:g} "
                                   f"seconds (last status: {status or 'unknown'}).")
            say(0.6, f"The portal is building the layer ({status or 'processing'})")
            self.sleep(self.poll)

    def related_source(self, item_id: str) -> dict | None:
        answer = self.call("finding the layer's file item", "GET", f"content/items/{item_id}/relatedItems",
                           params={"relationshipType": "Service2Data", "direction": "forward"})
        for rel in (answer or {}).get("relatedItems") or []:
            if isinstance(rel, dict) and rel.get("type") == "GeoJson":
                return {**rel, "id": _portal_id(rel.get("id"), "the layer's file item id", self.portal)}
        return None

    def share(self, item_id: str, group_id: str) -> None:
        answer = self.call("sharing the layer", "POST", self._u(f"items/{item_id}/share"),
                           data={"everyone": "true", "org": "true", "groups": group_id})
        if (answer or {}).get("notSharedWith"):
            raise PublishError(f"The ArcGIS portal {self.portal} did not share the layer with the group {group_id}: "
                               "the account must be a member who may share with it.")

    def unshare(self, item_id: str, group_id: str | None) -> None:
        """Back to private: everyone and the organisation off (when the item is shared that way), every group the
        item is shared with removed (and `group_id`, in case the portal lists it late)."""
        if str(self.item(item_id).get("access") or "private") in ("public", "org"):
            self.call("keeping the layer private", "POST", self._u(f"items/{item_id}/share"),
                      data={"everyone": "false", "org": "false", "groups": ""})
        groups = self.item_groups(item_id) | ({group_id} if group_id else set())
        if groups - {None, ""}:
            self.call("keeping the layer private", "POST", self._u(f"items/{item_id}/unshare"),
                      data={"groups": ",".join(sorted(g for g in groups if g))})

    def delete(self, item_id: str) -> None:
        self.call("removing an unfinished item", "POST", self._u(f"items/{item_id}/delete"), retry="all")


def _portal_id(value, what: str, portal: str) -> str:
    """An item id the portal returned, checked before it goes into an address (ArcGIS ids are 32 hex digits)."""
    text = str(value or "").strip().lower()
    if not ITEM_ID.fullmatch(text):
        raise PublishError(f"The ArcGIS portal {portal} returned {what} that is not an item id: check the portal address.")
    return text


def _detail(err: Mapping) -> str:
    parts = [str(err.get("message") or "").strip()] + [str(d).strip() for d in err.get("details") or [] if str(d).strip()]
    return "; ".join(p for p in parts if p)[:300]


def _error_text(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    err = body.get("error") if isinstance(body, dict) else None
    return _detail(err) if isinstance(err, dict) else ""


# --- the operations -----------------------------------------------------------------------------

def geojson_bytes(collection: Mapping) -> bytes:
    """The FeatureCollection as sent (UTF-8 JSON, RFC 7946)."""
    if not isinstance(collection, Mapping) or collection.get("type") != "FeatureCollection":
        raise ConfigError("The map release is not a GeoJSON FeatureCollection.")
    return json.dumps(collection, ensure_ascii=False, allow_nan=False).encode("utf-8")


def _is_private(item: Mapping) -> bool:
    return str(item.get("access") or "private") == "private"


def publish(collection: Mapping, props: Mapping, portal: str | None, credentials: Credentials | None, *,
            item_id: str | None = None, make_public: bool = False, group: str | None = None,
            progress: Progress | None = None, client: Client | None = None) -> LayerResult:
    """Send a map release (a GeoJSON FeatureCollection) to the portal with the item metadata `props`
    (`item_properties`). Without `item_id`: a new GeoJSON item and its hosted feature layer, private (a creation
    that fails half-way removes what it made, or names what is left, still private). With `item_id` (the layer's
    item): its data replaced by an overwrite, its sharing kept. `make_public`: shared afterwards (`share_public`)."""
    data = geojson_bytes(collection)
    features = len(collection.get("features") or [])
    if not props.get("title"):
        raise ConfigError("The layer has no title: fill in the title on the Describe page (metadata.title).")
    if item_id:
        item_id = check_item_id(item_id)
    say = progress or (lambda share, text: None)
    own = client is None
    c = client or Client(portal, credentials)
    filename = re.sub(r"[^A-Za-z0-9_-]+", "_", props["title"]).strip("_")[:60] or "release"
    filename += ".geojson"
    steps: list[str] = []
    try:
        say(0.05, "Signing in")
        c.user()
        if make_public:
            c.open_data_group(group)     # a missing or unknown group is refused before anything is created
        if item_id is None:
            say(0.15, "Adding the GeoJSON item (private)")
            try:
                source = c.add_item(dict(props), data, filename)
            except PublishError as exc:
                if "anyway" not in str(exc):
                    exc.message = str(exc).rstrip(".") + ". Nothing was created or shared."
                raise
            steps.append(f"added GeoJSON item {source}")
            made = [source]
            try:
                say(0.35, "Publishing the hosted feature layer (private)")
                service = c.publish(source, service_name(props["title"], source))
                layer = str(service["serviceItemId"])
                made.insert(0, layer)
                job = c.wait_for_job(layer, service.get("jobId"), say)
                steps.append(f"published layer {layer}")
                say(0.8, "Writing the layer's metadata")
                c.update_item(layer, {k: v for k, v in props.items() if k != "type"})
                for ident in (layer, source):      # read back: nothing of this is shared
                    if not _is_private(c.item(ident)):
                        c.unshare(ident, None)
                steps.append("kept private")
            except (PublishError, ConfigError) as exc:
                raise _cleaned(c, made, exc) from None
            result = LayerResult("private", layer, item_url(c.portal, layer), features, False, source,
                                 service.get("serviceurl") or service.get("serviceUrl"), None, job, steps)
        else:
            layer = item_id
            info = c.item(layer)
            if info.get("type") != "Feature Service":
                raise ConfigError(f"The item {layer} is a {info.get('type') or 'item'} item, not a hosted feature "
                                  "layer: give the id of the layer to update.")
            was_public = str(info.get("access")) == "public"
            src = c.related_source(layer)
            if src is None:
                raise ConfigError(f"The layer {layer} was not published from a GeoJSON item, so it cannot be "
                                  "overwritten with this release: publish it as a new layer (without --dataset-id).")
            source = str(src["id"])
            say(0.2, "Sending the new release to the layer's GeoJSON item")
            c.update_item(source, {k: v for k, v in props.items() if k != "type"}, data, filename)
            steps.append(f"updated GeoJSON item {source}")
            say(0.4, "Overwriting the layer (it changes all at once when the job completes)")
            service = c.publish(source, str(info.get("name") or service_name(props["title"], source)), overwrite=True)
            if str(service["serviceItemId"]) != layer:
                raise PublishError(f"The ArcGIS portal overwrote another layer ({service['serviceItemId']}) than {layer}: "
                                   "check the layer on the portal.")
            try:
                job = c.wait_for_job(layer, service.get("jobId"), say)
            except PublishError as exc:
                exc.message = exc.message + (" The layer keeps its previous data" + (" and stays public." if was_public
                                                                                    else " and stays private."))
                raise
            steps.append(f"overwrote layer {layer}")
            c.update_item(layer, {k: v for k, v in props.items() if k != "type"})
            steps.append("updated metadata")
            result = LayerResult("updated", layer, item_url(c.portal, layer), features, was_public, source,
                                 info.get("url"), None, job, steps)
        if make_public and not result.public:
            say(0.9, "Sharing the layer")
            try:
                shared = share_public(layer, portal, credentials, group=group, client=c)
            except (PublishError, ConfigError) as exc:
                if getattr(exc, "public", False) is None:    # not even the undo was confirmed: that message stands
                    exc.message = str(exc).rstrip(".") + f". The layer was {'published' if result.status == 'private' else 'updated'} first."
                else:
                    done = "published privately" if result.status == "private" else "updated and stays private"
                    exc.message = (str(exc).rstrip(".") + f". The layer {layer} was {done} ({result.url}): make it "
                                   f"public after checking it (--dataset-id {layer} --make-public, or the Publish page).")
                exc.dataset_id = layer
                raise
            result.public, result.group = True, shared.group
            result.steps.append(f"shared with everyone and the group {shared.group}")
            if result.status == "private":
                result.status = "public"
        say(1.0, "Done")
        return result
    finally:
        if own:
            c.close()


def _cleaned(c: Client, made: list[str], exc: Exception) -> PublishError:
    """A creation failed half-way: remove the private items it made (the layer first), and say so in one line."""
    left = []
    for ident in made:
        try:
            c.delete(ident)
        except (PublishError, ConfigError):
            left.append(ident)
    base = str(exc).rstrip(".")
    if left:
        tail = (f" Nothing was shared; the private item(s) {', '.join(left)} could not be removed: delete them from your "
                "content on the portal before trying again.")
    else:
        tail = " Nothing was shared, and the private items this try created were removed: run it again."
    err = PublishError(c.scrub(base + "." + tail))
    err.http_status = getattr(exc, "http_status", None)
    err.dataset_id = left[0] if left else None
    return err


def share_public(item_id: str, portal: str | None, credentials: Credentials | None, *, group: str | None = None,
                 client: Client | None = None) -> LayerResult:
    """The separate, explicit step after the review: share the layer with everyone and the open-data group, then
    read it back. If the share fails or is not confirmed, it is undone (everyone, org and the group removed); if even
    that cannot be confirmed, the message says to check the layer now."""
    item_id = check_item_id(item_id)
    own = client is None
    c = client or Client(portal, credentials)
    try:
        info = c.item(item_id)
        if info.get("type") != "Feature Service":
            raise ConfigError(f"The item {item_id} is not a hosted feature layer: give the id of the layer to share.")
        chosen = c.open_data_group(group)        # a missing or unknown group: refused before any sharing
        gid = str(chosen["id"])
        try:
            c.share(item_id, gid)
            after = c.item(item_id)
            if str(after.get("access")) != "public" or gid not in c.item_groups(item_id):
                raise PublishError(f"The ArcGIS portal {c.portal} did not confirm that the layer {item_id} is shared "
                                   f"with everyone and the group {chosen.get('title') or gid}.")
        except PublishError as exc:
            try:
                c.unshare(item_id, gid)
                still = c.item(item_id)
                if not _is_private(still):
                    raise PublishError("still shared")
            except PublishError:
                err = PublishError(c.scrub(f"Sharing the layer {item_id} failed and the portal {c.portal} did not "
                                           f"confirm that it is still private: check its sharing on the portal now "
                                           f"({item_url(c.portal, item_id)}) and set it back to private if needed."))
                err.http_status, err.public = getattr(exc, "http_status", None), None
                raise err from None
            err = PublishError(c.scrub(str(exc).rstrip(".") + f". The layer {item_id} was set back to private."))
            err.http_status, err.public = getattr(exc, "http_status", None), False
            raise err from None
        return LayerResult("public", item_id, item_url(c.portal, item_id), 0, True, None, after.get("url"),
                           str(chosen.get("title") or gid), None, [f"shared with everyone and the group {chosen.get('title') or gid}"])
    finally:
        if own:
            c.close()


# --- logged (shared by the CLI and the Publish page) -------------------------------------------

def publish_logged(collection: Mapping, recipe: Mapping, portal: str | None, credentials: Credentials | None, *,
                   item_id: str | None = None, make_public: bool = False, group: str | None = None,
                   by: str | None = None, rows: int | None = None, progress: Progress | None = None,
                   client: Client | None = None, columns: list[str] | None = None) -> LayerResult:
    """`publish` with the publish log (writer "arcgis"; dataset_id is the layer's item id). `columns`: the release's
    columns (as a map bundle's arcgis_item.json is written), else those of the features' properties."""
    from ctopen.publish import log as plog

    metadata = recipe.get("metadata") or {}
    if columns is None and collection.get("features"):
        columns = sorted({k for f in collection["features"] for k in (f.get("properties") or {})})
    props = item_properties(metadata, columns)
    host = portal_parts(portal)[1]
    mode = "replace" if item_id else "create"
    common = dict(portal=host, target=item_id or props["title"], mode=mode, rows=rows, by=by, api="arcgis",
                  recipe_sha256=plog.recipe_hash(dict(recipe)))
    plog.record(status="started", dataset_id=item_id, **common)
    try:
        result = publish(collection, props, portal, credentials, item_id=item_id, make_public=make_public,
                         group=group, progress=progress, client=client)
    except (PublishError, ConfigError) as exc:
        plog.record(status="failed", dataset_id=getattr(exc, "dataset_id", None) or item_id,
                    public=getattr(exc, "public", False), message=str(exc), **common)
        raise
    plog.record(status=result.status, dataset_id=result.item_id, public=result.public, job=result.job,
                message="; ".join(result.steps), **common)
    return result


def share_public_logged(item_id: str, portal: str | None, credentials: Credentials | None, *, group: str | None = None,
                        by: str | None = None, client: Client | None = None) -> LayerResult:
    from ctopen.publish import log as plog

    common = dict(portal=portal_parts(portal)[1], target=item_id, dataset_id=item_id, mode="make-public", by=by,
                  api="arcgis")
    try:
        result = share_public(item_id, portal, credentials, group=group, client=client)
    except (PublishError, ConfigError) as exc:
        plog.record(status="failed", public=getattr(exc, "public", None), message=str(exc), **common)
        raise
    plog.record(status="public", public=True, message="make public after review: " + "; ".join(result.steps), **common)
    return result
