"""A local, stateful stand-in for the ArcGIS Online sharing API (and a hosted feature layer's query), served over
HTTPS on 127.0.0.1 with the DSMAPI emulator's test certificate (tests/dsmapi_emulator.make_certificate), driven by
the real client (ctopen.publish.arcgis). It answers as ArcGIS does: JSON with `f=json`, and an error as
`{"error": {"code", "message", "details"}}` with HTTP 200.

    POST /sharing/rest/generateToken                              username, password, client=referer -> token
    GET  /sharing/rest/community/self                             the account: username, groups
    POST /sharing/rest/content/users/{u}/addItem                  a GeoJSON file item (multipart), private
    POST /sharing/rest/content/users/{u}/publish                  itemId, filetype, publishParameters[, overwrite]
    GET  /sharing/rest/content/users/{u}/items/{id}/status        the publish job (finishes after `job_polls` reads)
    POST /sharing/rest/content/users/{u}/items/{id}/update        properties, and a new file
    POST /sharing/rest/content/users/{u}/items/{id}/share|unshare|delete
    GET  /sharing/rest/content/items/{id}[/groups|/relatedItems]
    GET  /arcgis/rest/services/{name}/FeatureServer/0/query       the layer's features (f=geojson)

What matters for a publisher: every item is created private; a publish (or an overwrite) is a job that changes the
layer all at once when it completes and not at all when it fails; an overwrite keeps the layer's item id, URL and
sharing; sharing with everyone makes the item public, unsharing and everyone=false make it private again; a
private layer's features are served only with a valid token.

Faults: `fail(kind, method, path, times, processed, delay)` answers matching requests with an HTTP status, an
ArcGIS error in a 200 (`"error:500"`), or a time-out (the server waits `delay` seconds and closes the connection;
with `processed=True` it does the work first). `fail_job(times)` makes the next publish jobs fail;
`expire_tokens()` makes every token issued so far invalid (code 498); `ignore_share = True` answers a share as done
without doing it (a portal that does not confirm).
"""
from __future__ import annotations

import email.parser
import email.policy
import json
import secrets as _secrets
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from tests.dsmapi_emulator import make_certificate  # noqa: F401  (the one test certificate, re-exported)
from tests.loopback_server import LoopbackServer

REST = "/sharing/rest"


@dataclass
class Fault:
    kind: int | str                 # HTTP status, "error:CODE" (an ArcGIS error in a 200) or "timeout"
    method: str | None = None
    path: str | None = None         # a run of whole segments of the path ("/publish", "/content/items")
    times: int = 1
    processed: bool = False         # timeout only: do the work, then answer too late
    delay: float = 2.0

    def matches(self, method: str, path: str) -> bool:
        # whole path segments: "/publish" matches .../publish but not .../users/publisher_x/addItem
        return (self.method is None or self.method == method) and (
            self.path is None or "/" + self.path.strip("/") + "/" in path.rstrip("/") + "/")


class ArcgisEmulator(LoopbackServer):
    """`with ArcgisEmulator(cert, key) as emu:`; `emu.url` is the portal (https://127.0.0.1:PORT)."""

    handler = None     # the request handler, set below its definition (start, stop, url: LoopbackServer)

    def __init__(self, certfile: str, keyfile: str, username: str = "publisher_ctgeo",
                 password: str = "s3cret-Geo-Pa55", api_key: str | None = None, job_polls: int = 1,
                 groups: list[dict] | None = None):
        self.certfile, self.keyfile = certfile, keyfile
        self.username, self.password, self.api_key = username, password, api_key
        self.job_polls = job_polls
        self.groups = {g["id"]: dict(g) for g in (groups if groups is not None else [
            {"id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "title": "CT Geo Data Portal content", "isOpenData": True},
            {"id": "ffeeddccbbaa99887766554433221100", "title": "DSS staff", "isOpenData": False}])}
        self.items: dict[str, dict] = {}
        self.files: dict[str, bytes] = {}
        self.layers: dict[str, dict] = {}        # layer item id -> {"name", "source", "features"}
        self.jobs: dict[str, dict] = {}
        self.tokens: dict[str, str] = {}         # token -> username
        self.faults: list[Fault] = []
        self.failing_jobs = 0
        self.ignore_share = False
        self.service_host: str | None = None     # the host named in serviceurl (default: this server)
        self.requests: list[dict] = []           # {"method", "path", "headers", "body"}
        self.lock = threading.RLock()

    # --- test helpers ---------------------------------------------------------------------------
    def fail(self, kind, method=None, path=None, times=1, processed=False, delay=2.0) -> None:
        with self.lock:
            self.faults.append(Fault(kind, method, path, times, processed, delay))

    def fail_job(self, times: int = 1) -> None:
        with self.lock:
            self.failing_jobs += times

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def shared(self, item_id: str) -> dict:
        item = self.items[item_id]
        return {"access": item["access"], "everyone": item["everyone"], "org": item["org"],
                "groups": sorted(item["groups"])}

    def public_ids(self) -> list[str]:
        return [i for i, it in self.items.items() if it["access"] != "private"]

    def layer_ids(self) -> list[str]:
        return list(self.layers)

    def features(self, layer_id: str) -> list[dict]:
        return [dict(f) for f in self.layers[layer_id]["features"]]

    def add_layer(self, title: str, collection: dict, public: bool = True) -> str:
        """An existing layer published from a GeoJSON item (for update tests)."""
        src = self._new_item({"title": title, "type": "GeoJson"})
        self.files[src] = json.dumps(collection).encode()
        lid = self._new_item({"title": title, "type": "Feature Service"})
        name = f"existing_{lid[:8]}"
        self.items[lid].update(name=name, url=self._service_url(name))
        self.layers[lid] = {"name": name, "source": src, "features": _features(collection)}
        if public:
            self.items[lid].update(access="public", everyone=True)
        return lid

    # --- state ----------------------------------------------------------------------------------
    def _service_url(self, name: str) -> str:
        return f"{self.service_host or self.url}/arcgis/rest/services/{name}/FeatureServer"

    def _new_item(self, props: dict) -> str:
        ident = uuid.uuid4().hex
        now = int(time.time() * 1000)
        self.items[ident] = {"id": ident, "owner": self.username, "title": props.get("title") or "",
                             "type": props.get("type") or "", "snippet": props.get("snippet") or "",
                             "description": props.get("description") or "",
                             "tags": [t for t in str(props.get("tags") or "").split(",") if t],
                             "licenseInfo": props.get("licenseInfo") or "",
                             "accessInformation": props.get("accessInformation") or "", "access": "private",
                             "everyone": False, "org": False, "groups": set(), "created": now, "modified": now,
                             "url": None, "name": None}
        return ident

    def item_json(self, ident: str) -> dict:
        item = dict(self.items[ident])
        item.pop("everyone"), item.pop("org")
        item.pop("groups")
        return item

    def _update_access(self, item: dict) -> None:
        item["access"] = ("public" if item["everyone"] else "org" if item["org"] else
                          "shared" if item["groups"] else "private")

    def _finish(self, job: dict) -> None:
        layer = self.layers.get(job["layer"])
        if job["fail"]:
            job["status"] = "failed"
            if job["new"] and job["layer"] in self.items:      # ArcGIS leaves a failed, empty layer item
                self.items[job["layer"]]["title"] += " (failed)"
            return
        try:
            features = _features(json.loads(self.files[job["source"]]))
        except (ValueError, KeyError, TypeError) as exc:
            job["status"], job["message"] = "failed", f"The file is not valid GeoJSON: {exc}"
            return
        if layer is not None:
            layer["features"] = features                      # all at once
            self.items[job["layer"]]["modified"] = int(time.time() * 1000)
        job["status"] = "completed"


def _features(collection) -> list[dict]:
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise ValueError("not a FeatureCollection")
    out = []
    for i, feature in enumerate(collection.get("features") or [], start=1):
        geometry = feature.get("geometry")
        if feature.get("type") != "Feature" or not isinstance(geometry, dict) or geometry.get("type") not in (
                "Point", "MultiPoint", "Polygon", "MultiPolygon", "LineString", "MultiLineString"):
            raise ValueError(f"feature {i} has no supported geometry")
        out.append({"type": "Feature", "id": i, "geometry": geometry,
                    "properties": {**(feature.get("properties") or {}), "OBJECTID": i}})
    return out


class _Handler(BaseHTTPRequestHandler):
    emulator: ArcgisEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status: int, body=None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _form(self, body: bytes) -> tuple[dict, dict]:
        """(fields, files) of a form or multipart body."""
        ctype = self.headers.get("Content-Type") or ""
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            fields, files = {}, {}
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                if part.get_filename() is not None:
                    files[name] = (part.get_filename(), payload)
                else:
                    fields[name] = payload.decode("utf-8")
            return fields, files
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}, {}

    def _handle(self, method: str) -> None:
        emu = self.emulator
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parsed = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(parsed.query, keep_blank_values=True).items()}
        with emu.lock:
            emu.requests.append({"method": method, "path": self.path, "headers": dict(self.headers), "body": body})
            fault = next((f for f in emu.faults if f.times > 0 and f.matches(method, parsed.path)), None)
            if fault:
                fault.times -= 1
        fields, files = self._form(body) if method == "POST" else ({}, {})
        if fault is not None:
            if fault.kind == "timeout":
                if fault.processed:
                    with emu.lock:
                        self._route(method, parsed.path, {**query, **fields}, files)
                time.sleep(fault.delay)
                self.close_connection = True
                return
            if isinstance(fault.kind, str) and fault.kind.startswith("error:"):
                code = int(fault.kind.split(":", 1)[1])
                self._send(200, {"error": {"code": code, "message": f"Injected error {code}", "details": []}})
                return
            self._send(int(fault.kind), {"error": {"code": int(fault.kind), "message": f"Injected fault {fault.kind}"}})
            return
        with emu.lock:
            status, payload = self._route(method, parsed.path, {**query, **fields}, files)
        self._send(status, payload)

    # --- auth -----------------------------------------------------------------------------------
    def _user(self, args: dict) -> str | None:
        emu = self.emulator
        header = self.headers.get("X-Esri-Authorization") or ""
        token = header[7:] if header.startswith("Bearer ") else args.get("token")
        if not token:
            return None
        if emu.api_key and token == emu.api_key:
            return emu.username
        return emu.tokens.get(token)

    @staticmethod
    def _err(code: int, message: str, details: list | None = None):
        return 200, {"error": {"code": code, "message": message, "details": details or []}}

    def _route(self, method: str, path: str, args: dict, files: dict):
        emu = self.emulator
        if path.startswith("/arcgis/rest/services/"):
            return self._query(path, args)
        if not path.startswith(REST + "/"):
            return 404, {"error": {"code": 404, "message": "Not found"}}
        if args.get("f") not in ("json", "pjson"):
            return 400, {"error": {"code": 400, "message": "Only f=json is served here"}}
        parts = [p for p in path[len(REST) + 1:].split("/") if p]
        if parts == ["generateToken"]:
            if method != "POST":
                return self._err(405, "generateToken needs POST")
            if args.get("username") != emu.username or args.get("password") != emu.password:
                return self._err(400, "Unable to generate token.", ["Invalid username or password."])
            if args.get("client") != "referer" or not args.get("referer"):
                return self._err(400, "Unable to generate token.", ["'referer' must be specified."])
            token = _secrets.token_urlsafe(24)
            emu.tokens[token] = emu.username
            return 200, {"token": token, "expires": int(time.time() * 1000) + 3_600_000, "ssl": True}
        user = self._user(args)
        if user is None:
            had = self.headers.get("X-Esri-Authorization") or args.get("token")
            return self._err(498, "Invalid token.") if had else self._err(499, "Token Required")
        if parts == ["community", "self"]:
            return 200, {"username": user, "orgId": "ctorg", "role": "org_publisher",
                         "groups": [dict(g) for g in emu.groups.values()]}
        if parts[:2] == ["content", "items"] and len(parts) >= 3:
            item = emu.items.get(parts[2])
            if item is None:
                return self._err(400, "Item does not exist or is inaccessible.")
            tail = parts[3:]
            if not tail:
                return 200, emu.item_json(item["id"])
            if tail == ["groups"]:
                return 200, {"admin": [], "member": [dict(emu.groups[g]) for g in sorted(item["groups"])], "other": []}
            if tail == ["relatedItems"]:
                if args.get("relationshipType") != "Service2Data" or args.get("direction") != "forward":
                    return 200, {"total": 0, "relatedItems": []}
                layer = emu.layers.get(item["id"])
                related = [emu.item_json(layer["source"])] if layer and layer["source"] in emu.items else []
                return 200, {"total": len(related), "relatedItems": related}
            return 404, {"error": {"code": 404, "message": "No route"}}
        if parts[:2] == ["content", "users"] and len(parts) >= 3:
            if parts[2] != user:
                return self._err(403, "You do not have permissions to access this resource or perform this operation.")
            return self._user_content(method, parts[3:], args, files)
        return 404, {"error": {"code": 404, "message": "No route"}}

    def _user_content(self, method: str, rest: list[str], args: dict, files: dict):
        emu = self.emulator
        if rest == ["addItem"] and method == "POST":
            if args.get("type") != "GeoJson" or "file" not in files:
                return self._err(400, "Unable to add item.", ["A GeoJSON file item needs type=GeoJson and a file."])
            ident = emu._new_item(args)
            emu.files[ident] = files["file"][1]
            return 200, {"success": True, "id": ident, "folder": None}
        if rest == ["publish"] and method == "POST":
            return self._publish(args)
        if len(rest) >= 3 and rest[0] == "items":
            item = emu.items.get(rest[1])
            if item is None:
                return self._err(400, "Item does not exist or is inaccessible.")
            op = rest[2]
            if op == "status" and method == "GET":
                job = emu.jobs.get(args.get("jobId") or "")
                if job is None or job["layer"] != item["id"]:
                    return 200, {"status": "completed", "itemId": item["id"]}
                if job["status"] == "processing":
                    job["polls"] -= 1
                    if job["polls"] <= 0:
                        emu._finish(job)
                out = {"status": job["status"], "itemId": item["id"]}
                if job.get("message") or job["status"] == "failed":
                    out["statusMessage"] = job.get("message") or "Job failed."
                return 200, out
            if method != "POST":
                return 404, {"error": {"code": 404, "message": "No route"}}
            if op == "update":
                for key in ("title", "snippet", "description", "licenseInfo", "accessInformation"):
                    if key in args:
                        item[key] = args[key]
                if "tags" in args:
                    item["tags"] = [t for t in args["tags"].split(",") if t]
                if "file" in files:
                    emu.files[item["id"]] = files["file"][1]
                item["modified"] = int(time.time() * 1000)
                return 200, {"success": True, "id": item["id"]}
            if op == "share":
                if emu.ignore_share:
                    return 200, {"notSharedWith": [], "itemId": item["id"]}
                wanted = [g for g in (args.get("groups") or "").split(",") if g]
                refused = [g for g in wanted if g not in emu.groups]
                item["everyone"] = args.get("everyone") == "true"
                item["org"] = args.get("org") == "true" or item["everyone"]
                item["groups"] |= {g for g in wanted if g in emu.groups}
                emu._update_access(item)
                return 200, {"notSharedWith": refused, "itemId": item["id"]}
            if op == "unshare":
                wanted = [g for g in (args.get("groups") or "").split(",") if g]
                item["groups"] -= set(wanted)
                emu._update_access(item)
                return 200, {"notUnsharedFrom": [], "itemId": item["id"]}
            if op == "delete":
                emu.items.pop(item["id"])
                emu.files.pop(item["id"], None)
                emu.layers.pop(item["id"], None)
                return 200, {"success": True, "itemId": item["id"]}
        return 404, {"error": {"code": 404, "message": "No route"}}

    def _publish(self, args: dict):
        emu = self.emulator
        source = emu.items.get(args.get("itemId") or args.get("itemid") or "")
        if source is None:
            return self._err(400, "Item does not exist or is inaccessible.")
        if source["type"] != "GeoJson" or (args.get("filetype") or "").lower() != "geojson":
            return self._err(400, "Unable to publish item.", ["filetype does not match the item."])
        try:
            params = json.loads(args.get("publishParameters") or "{}")
        except ValueError:
            return self._err(400, "Invalid publishParameters.")
        name = str(params.get("name") or "")
        if not name or not name.replace("_", "").isalnum():
            return self._err(400, "Invalid service name.", [f"{name!r}: letters, digits and underscores only."])
        existing = next((lid for lid, layer in emu.layers.items() if layer["name"].lower() == name.lower()), None)
        overwrite = args.get("overwrite") == "true"
        if overwrite:
            if existing is None or emu.layers[existing]["source"] != source["id"]:
                return 200, {"services": [{"success": False, "error": {
                    "code": 400, "message": "Unable to overwrite: no layer published from this item with this name."}}]}
            layer_id, new = existing, False
        else:
            if existing is not None:
                return 200, {"services": [{"success": False, "error": {
                    "code": 409, "message": f"Service name '{name}' already exists for '{emu.username}'"}}]}
            layer_id, new = emu._new_item({**{k: source[k] for k in ("title", "snippet", "description",
                                                                       "licenseInfo", "accessInformation")},
                                           "tags": ",".join(source["tags"]), "type": "Feature Service"}), True
            emu.items[layer_id].update(name=name, url=emu._service_url(name))
            emu.layers[layer_id] = {"name": name, "source": source["id"], "features": []}
        job_id = uuid.uuid4().hex
        fail = emu.failing_jobs > 0
        if fail:
            emu.failing_jobs -= 1
        emu.jobs[job_id] = {"layer": layer_id, "source": source["id"], "polls": emu.job_polls, "status": "processing",
                            "fail": fail, "new": new}
        url = emu.items[layer_id]["url"]
        return 200, {"services": [{"type": "Feature Service", "serviceurl": url, "encodedServiceURL": url,
                                   "size": len(emu.files.get(source["id"], b"")), "jobId": job_id,
                                   "serviceItemId": layer_id}]}

    def _query(self, path: str, args: dict):
        emu = self.emulator
        parts = [p for p in path.split("/") if p]
        # arcgis rest services NAME FeatureServer 0 query
        if len(parts) != 7 or parts[4] != "FeatureServer" or parts[5] != "0" or parts[6] != "query":
            return 404, {"error": {"code": 404, "message": "No route"}}
        lid = next((i for i, layer in emu.layers.items() if layer["name"] == parts[3]), None)
        if lid is None:
            return self._err(400, "Invalid URL")
        if emu.items[lid]["access"] != "public" and self._user(args) is None:
            return self._err(499, "Token Required")
        features = emu.features(lid)
        if args.get("returnCountOnly") == "true":
            return 200, {"count": len(features)}
        return 200, {"type": "FeatureCollection", "features": features}


ArcgisEmulator.handler = _Handler
