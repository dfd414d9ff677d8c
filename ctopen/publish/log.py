"""The publish log: what was published, when, where, with which recipe (its hash), by whom, with what result.

A SQLite file in `ctopen.settings.state_dir()`. It also remembers a dataset created by a publish that
failed half-way, so the next try continues with that dataset instead of creating a second one.
With the Data Management API it records the revision that carried the rows (its number on the dataset, as in
the portal's address /d/ID/revisions/N) and its job's outcome; `api` says which writer published.
Never holds credentials: callers pass the reviewer's name, not the portal account.
"""
from __future__ import annotations

import getpass
import hashlib
import json
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from ctopen import settings

FILE_NAME = "publish_log.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS publishes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    portal TEXT NOT NULL,
    target TEXT NOT NULL,          -- what the publish is about: the dataset id or, for a new one, its title
    dataset_id TEXT,
    mode TEXT,
    status TEXT NOT NULL,          -- started | created | private | public | updated | bundle | blocked | failed
    rows INTEGER,
    public INTEGER,
    recipe_sha256 TEXT,
    by TEXT,
    message TEXT,
    api TEXT,                      -- dsmapi | soda
    revision_id INTEGER,           -- dsmapi: the revision's number on the dataset
    job TEXT                       -- dsmapi: its job's outcome (successful | failure | submitted_for_approval)
)
"""
# columns added since the first version: a log written before them gets them on first use
_ADDED = {"api": "TEXT", "revision_id": "INTEGER", "job": "TEXT"}


@dataclass
class Entry:
    id: int
    at: str
    portal: str
    target: str
    dataset_id: str | None
    mode: str | None
    status: str
    rows: int | None
    public: bool | None
    recipe_sha256: str | None
    by: str | None
    message: str | None
    api: str | None = None
    revision_id: int | None = None
    job: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def path() -> Path:
    return settings.state_dir() / FILE_NAME


def _connect() -> sqlite3.Connection:
    con = sqlite3.connect(path(), timeout=10)
    con.execute(_SCHEMA)
    have = {row[1] for row in con.execute("PRAGMA table_info(publishes)")}
    for name, kind in _ADDED.items():
        if name not in have:
            try:
                con.execute(f"ALTER TABLE publishes ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError:   # added meanwhile by another process
                pass
    return con


def recipe_hash(recipe: dict) -> str:
    """sha256 of the recipe as canonical JSON (keys sorted)."""
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


def default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def record(*, portal: str, target: str, status: str, dataset_id: str | None = None, mode: str | None = None,
           rows: int | None = None, public: bool | None = None, recipe_sha256: str | None = None,
           by: str | None = None, message: str | None = None, api: str | None = None,
           revision_id: int | None = None, job: str | None = None) -> int:
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with closing(_connect()) as con, con:
        cur = con.execute(
            "INSERT INTO publishes (at, portal, target, dataset_id, mode, status, rows, public, recipe_sha256, by,"
            " message, api, revision_id, job) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (at, portal, target, dataset_id, mode, status, rows, None if public is None else int(public),
             recipe_sha256, by or default_user(), message, api, revision_id, job))
        return int(cur.lastrowid)


def entries(limit: int = 100, portal: str | None = None, target: str | None = None) -> list[Entry]:
    query, args = ("SELECT id, at, portal, target, dataset_id, mode, status, rows, public, recipe_sha256, by, message,"
                   " api, revision_id, job FROM publishes"), []
    where = []
    if portal:
        where.append("portal = ?")
        args.append(portal)
    if target:
        where.append("target = ?")
        args.append(target)
    if where:
        query += " WHERE " + " AND ".join(where)
    query += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    with closing(_connect()) as con:
        rows = con.execute(query, args).fetchall()
    return [Entry(*r[:8], None if r[8] is None else bool(r[8]), *r[9:]) for r in rows]


def unfinished(portal: str, target: str) -> str | None:
    """The id of a dataset created for this portal and target by a publish that did not finish, if any."""
    for entry in entries(limit=50, portal=portal, target=target):
        if entry.status in ("private", "public", "updated"):
            return None       # the last creation finished
        if entry.dataset_id and entry.status in ("created", "failed"):
            return entry.dataset_id
    return None
