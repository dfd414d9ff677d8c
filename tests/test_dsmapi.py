"""Publishing through the Data Management API (revisions) with the real socrata-py, against the local HTTPS
DSMAPI emulator (tests/dsmapi_emulator.py) whose test certificate is trusted through REQUESTS_CA_BUNDLE.
End states on the 'portal': datasets, their rows, columns, metadata, permission, revisions and jobs."""
from __future__ import annotations

import json
import logging
import sqlite3

import pandas as pd
import pytest

from ctopen.errors import ConfigError, PublishError
from ctopen.publish import dsmapi, log as plog, socrata

pytest.importorskip("cryptography")   # the emulator's test certificate
from tests.dsmapi_emulator import DsmapiEmulator, make_certificate  # noqa: E402

PASSWORD = "Tr0ub4dor-and-3-horses"
USER = "publisher@ct.gov"
TOKEN = "app-token-7Hq2xZ"


@pytest.fixture(scope="session")
def tls(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def trust(tls, monkeypatch):
    """The test certificate is trusted the way an agency proxy's would be: REQUESTS_CA_BUNDLE."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls[0])
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.delenv(socrata.API_ENV, raising=False)


@pytest.fixture
def emu(tls):
    with DsmapiEmulator(*tls, username=USER, password=PASSWORD) as e:
        yield e


@pytest.fixture
def creds():
    return socrata.Credentials(USER, PASSWORD, TOKEN)


def client(emu, creds, **kw):
    kw.setdefault("backoff", 0)
    kw.setdefault("poll", 0.01)
    kw.setdefault("timeout", 5)
    return dsmapi.Client(emu.url, creds, **kw)


def release_df(n: int = 7) -> pd.DataFrame:
    towns = ["Hartford", "New Haven", "Avon", None, "Bristol", "Essex", "Lyme"]
    return pd.DataFrame({
        "Town": [towns[i % 7] for i in range(n)],
        "Year": [str(2015 + i % 3) for i in range(n)],
        "Deaths": [str(i) for i in range(n)],
        "ZIP": ["06010" if i % 2 else "06103" for i in range(n)],
        "Reported": [None if i == 3 else f"2020-0{1 + i % 9}-1{i % 10}" for i in range(n)],
    }, dtype="str")


META = {"title": "Drug deaths by town", "description": "Counts of accidental drug deaths by town and year.",
        "category": "Health and Human Services", "tags": ["overdose", "deaths"],
        "columns": {"Deaths": "Number of deaths", "ZIP": "ZIP code of residence"}}


def view_of(df, **meta):
    return socrata.view_payload({**META, **meta}, df)


def portal_rows(df: pd.DataFrame) -> list[dict]:
    """The release as SODA2 serves it back: missing values left out, dates as floating timestamps."""
    rows = socrata.rows_payload(df)
    types = {socrata.field_names(list(df.columns))[c]: socrata.portal_type(df[c]) for c in df.columns}
    for row in rows:
        for key, value in row.items():
            if types[key] == "calendar_date" and "T" not in value:
                row[key] = value + "T00:00:00.000"
    return rows


def jobs(emu, status=None):
    return [j for j in emu.jobs.values() if status is None or j["status"] == status]


def untouched_draft(emu, ident):
    """A dataset created by a revision that was never applied: private, no rows, no successful job."""
    ds = emu.datasets[ident]
    return not ds.public and not ds.published and ds.rows == [] and not [
        j for j in jobs(emu, "successful") if j["_revision"]["fourfour"] == ident]


# --- the actions --------------------------------------------------------------------------------

def test_create_is_private_with_rows_and_metadata_as_entered(emu, creds):
    df = release_df()
    result = dsmapi.publish(df, view_of(df), emu.url, creds, client=client(emu, creds))
    ds = emu.datasets[result.dataset_id]
    assert (result.status, result.public, result.api) == ("private", False, "dsmapi")
    assert (result.revision_id, result.job) == (0, "successful")
    assert result.url == f"{emu.url}/d/{result.dataset_id}"
    assert ds.public is False and ds.published is True and emu.public_ids() == []
    assert ds.rows == portal_rows(df)                                  # 06010 stays 06010 (sent as text)
    assert ds.view["name"] == META["title"] and ds.view["description"] == META["description"]
    assert ds.view["category"] == META["category"] and ds.view["tags"] == META["tags"]
    cols = {c["name"]: c for c in ds.columns}
    assert list(cols) == list(df.columns)
    assert {n: c["dataTypeName"] for n, c in cols.items()} == {"Town": "text", "Year": "number", "Deaths": "number",
                                                               "ZIP": "text", "Reported": "calendar_date"}
    assert cols["Deaths"]["description"] == "Number of deaths" and cols["ZIP"]["fieldName"] == "zip"
    # through a revision created private, never through the legacy endpoints
    first_method, first_path = emu.requests[0]
    assert (first_method, first_path) == ("POST", "/api/publishing/v1/revision")
    assert json.loads(emu.bodies[0])["action"] == {"type": "update", "permission": "private"}
    assert not [p for m, p in emu.requests if p.startswith("/resource/") or p == "/api/views.json"]
    assert [j["status"] for j in jobs(emu)] == ["successful"]


def test_private_even_where_the_portal_default_is_public(tls, creds):
    with DsmapiEmulator(*tls, username=USER, password=PASSWORD, default_public=True) as emu:
        result = dsmapi.publish(release_df(), view_of(release_df()), emu.url, creds, client=client(emu, creds))
        assert emu.datasets[result.dataset_id].public is False and result.public is False


def test_make_public_is_its_own_revision(emu, creds):
    df = release_df()
    created = dsmapi.publish(df, view_of(df), emu.url, creds, client=client(emu, creds))
    assert emu.public_ids() == []
    done = dsmapi.make_public(created.dataset_id, emu.url, creds, client=client(emu, creds))
    assert done.public is True and emu.public_ids() == [created.dataset_id]
    data_rev, public_rev = emu.datasets[created.dataset_id].revisions
    assert data_rev["action"]["permission"] == "private" and data_rev["output_schema_id"] is not None
    assert public_rev["action"] == {"type": "update", "permission": "public"}
    assert public_rev["output_schema_id"] is None and public_rev["metadata"] == {}     # no rows, no metadata
    assert emu.datasets[created.dataset_id].rows == portal_rows(df)


def test_make_public_held_for_the_portals_approvers_is_not_called_public(emu, creds):
    emu.approval = True
    created = dsmapi.publish(release_df(), view_of(release_df()), emu.url, creds, client=client(emu, creds))
    done = dsmapi.make_public(created.dataset_id, emu.url, creds, client=client(emu, creds))
    assert (done.status, done.public, done.job, done.revision_id) == ("private", False, "submitted_for_approval", 1)
    assert any("approvers decide" in s for s in done.steps) and emu.public_ids() == []


def test_make_public_in_the_same_run_only_when_asked_and_after_the_rows(emu, creds):
    df = release_df()
    private = dsmapi.publish(df, view_of(df), emu.url, creds, client=client(emu, creds))
    public = dsmapi.publish(df, view_of(df), emu.url, creds, make_public=True, client=client(emu, creds))
    assert (private.status, private.public) == ("private", False)
    assert (public.status, public.public, public.revision_id) == ("public", True, 0)
    assert emu.public_ids() == [public.dataset_id]
    revs = emu.datasets[public.dataset_id].revisions
    assert [r["action"]["permission"] for r in revs] == ["private", "public"]
    assert any("made public (revision 1" in s for s in public.steps)


def _existing(emu, df, public=True, row_identifier=None, rows=None):
    cols = socrata.columns_payload(df)
    return emu.add_dataset("Old title", cols, rows=rows if rows is not None else
                           [{"town": "Old", "year": "1999", "deaths": "9"}], public=public, row_identifier=row_identifier)


@pytest.mark.parametrize("public", [True, False])
def test_replace_swaps_rows_and_metadata_and_keeps_the_permission(emu, creds, public):
    df = release_df()
    ident = _existing(emu, df, public=public)
    result = dsmapi.publish(df, view_of(df), emu.url, creds, dataset_id=ident, mode="replace", client=client(emu, creds))
    ds = emu.datasets[ident]
    assert (result.status, result.public, result.job) == ("updated", public, "successful")
    assert ds.rows == portal_rows(df) and ds.view["name"] == META["title"] and ds.public is public
    rev = ds.revisions[-1]
    assert rev["action"] == {"type": "replace", "permission": None}      # permission left as it is
    assert len(emu.datasets) == 1


def test_upsert_by_row_identifier_set_on_the_output_schema(emu, creds):
    df = pd.DataFrame({"Case": ["A1", "A2"], "Town": ["Avon", "Lyme"]}, dtype="str")
    ident = emu.add_dataset("Cases", socrata.columns_payload(df), rows=[{"case": "A1", "town": "Essex"},
                                                                        {"case": "A0", "town": "Salem"}],
                            public=False, row_identifier="case")
    result = dsmapi.publish(df, view_of(df), emu.url, creds, dataset_id=ident, mode="upsert", row_identifier="Case",
                            client=client(emu, creds))
    assert result.status == "updated" and result.job == "successful"
    assert sorted(emu.datasets[ident].rows, key=lambda r: r["case"]) == [
        {"case": "A0", "town": "Salem"}, {"case": "A1", "town": "Avon"}, {"case": "A2", "town": "Lyme"}]
    rev = emu.datasets[ident].revisions[-1]
    assert rev["action"]["type"] == "update"
    applied = emu.output_schemas[rev["output_schema_id"]]
    assert [c["field_name"] for c in applied["output_columns"] if c["is_primary_key"]] == ["case"]
    assert any("validate_row_id" in p for _, p in emu.requests)
    dsmapi.publish(df, view_of(df), emu.url, creds, dataset_id=ident, mode="upsert", row_identifier="Case",
                   client=client(emu, creds))
    assert len(emu.datasets[ident].rows) == 3                             # idempotent on the identifier


def test_upsert_refuses_an_identifier_that_is_not_unique_before_applying(emu, creds):
    df = pd.DataFrame({"Case": ["A1", "A1"], "Town": ["Avon", "Lyme"]}, dtype="str")
    ident = emu.add_dataset("Cases", socrata.columns_payload(df), rows=[{"case": "A1", "town": "Essex"}],
                            public=True, row_identifier="case")
    with pytest.raises(PublishError, match="cannot be the row identifier") as err:
        dsmapi.publish(df, view_of(df), emu.url, creds, dataset_id=ident, mode="upsert", row_identifier="Case",
                       client=client(emu, creds))
    assert "is public and still shows its previous rows" in str(err.value)
    assert emu.datasets[ident].rows == [{"case": "A1", "town": "Essex"}] and jobs(emu) == []
    assert emu.open_revisions(ident) == []                                 # the unapplied revision was discarded


def test_delete_rows_by_identifier(emu, creds):
    df = pd.DataFrame({"Case": ["A1", "A3"], "Town": ["Avon", "Lyme"]}, dtype="str")
    rows = [{"case": f"A{i}", "town": "Essex"} for i in (1, 2, 3)]
    ident = emu.add_dataset("Cases", socrata.columns_payload(df), rows=rows, public=True, row_identifier="case")
    result = dsmapi.publish(df, view_of(df), emu.url, creds, dataset_id=ident, mode="delete", row_identifier="Case",
                            client=client(emu, creds))
    assert emu.datasets[ident].rows == [{"case": "A2", "town": "Essex"}]
    assert result.job == "successful" and result.public is True and emu.datasets[ident].public
    rev = emu.datasets[ident].revisions[-1]
    assert rev["action"]["type"] == "delete"
    assert [c["field_name"] for c in emu.output_schemas[rev["output_schema_id"]]["output_columns"]] == ["case"]
    # a dataset without a row identifier cannot lose rows by one: refused before anything is opened
    other = emu.add_dataset("No id", socrata.columns_payload(df), rows=rows, public=False)
    with pytest.raises(ConfigError, match="no row identifier"):
        dsmapi.publish(df, view_of(df), emu.url, creds, dataset_id=other, mode="delete", row_identifier="Case",
                       client=client(emu, creds))
    assert emu.datasets[other].revisions == []


def test_metadata_only_revision(emu, creds):
    df = release_df()
    ident = _existing(emu, df, public=True)
    before = [dict(r) for r in emu.datasets[ident].rows]
    result = dsmapi.publish(df, view_of(df, title="New title", description="New words.", columns={}), emu.url, creds,
                            dataset_id=ident, mode="metadata", client=client(emu, creds))
    ds = emu.datasets[ident]
    assert (ds.view["name"], ds.view["description"]) == ("New title", "New words.")
    assert ds.rows == before and ds.public and result.rows == 0 and result.job == "successful"
    assert not [p for _, p in emu.requests if "/source" in p]             # no upload at all
    assert ds.revisions[-1]["output_schema_id"] is None


def test_metadata_only_changes_column_descriptions_without_touching_rows(emu, creds):
    df = release_df()
    ident = _existing(emu, df, public=True)
    before = [dict(r) for r in emu.datasets[ident].rows]
    meta = {"columns": {"Deaths": "Deaths counted by the medical examiner", "ZIP": "ZIP code of residence"}}
    dsmapi.publish(df, view_of(df, **meta), emu.url, creds, dataset_id=ident, mode="metadata",
                   client=client(emu, creds))
    ds = emu.datasets[ident]
    cols = {c["name"]: c for c in ds.columns}
    assert cols["Deaths"]["description"] == "Deaths counted by the medical examiner"
    assert cols["ZIP"]["description"] == "ZIP code of residence" and cols["Deaths"]["dataTypeName"] == "number"
    assert ds.rows == before and ds.public and ds.view["name"] == META["title"]
    source = next(s for s in emu.sources.values() if s["_revision"] is ds.revisions[-1])
    assert source["source_type"] == {"type": "view", "fourfour": ident, "loaded": False}   # not an upload
    assert not [p for _, p in emu.requests if "/chunk/" in p]


# --- the output schema is checked before applying -----------------------------------------------

def test_rows_the_portal_cannot_read_are_refused_naming_column_and_count(emu, creds):
    df = release_df(4)
    df.loc[1, "Reported"] = "2020-02-30"          # an ISO-looking date that is not a date
    df.loc[2, "Reported"] = "2021-13-01"
    assert socrata.portal_type(df["Reported"]) == "calendar_date"
    with pytest.raises(PublishError) as err:
        dsmapi.publish(df, view_of(df), emu.url, creds, client=client(emu, creds))
    message = str(err.value)
    assert "2 rows of the column Reported could not be read as Date" in message and "not applied" in message
    assert "stays private" in message and "\n" not in message
    (ident,) = emu.datasets
    assert untouched_draft(emu, ident) and jobs(emu) == []


def test_a_column_the_portal_reads_as_another_type_is_refused(emu, creds):
    emu.mistype["zip"] = "number"
    df = release_df()
    ident = _existing(emu, df, public=True)
    with pytest.raises(PublishError, match="the column ZIP would be Number instead of Text"):
        dsmapi.publish(df, view_of(df), emu.url, creds, dataset_id=ident, mode="replace", client=client(emu, creds))
    assert emu.datasets[ident].rows == [{"town": "Old", "year": "1999", "deaths": "9"}] and jobs(emu) == []


# --- the job's final status ---------------------------------------------------------------------

def test_a_job_that_finishes_as_failed_is_reported_as_failed(emu, creds):
    df = release_df()
    ident = _existing(emu, df, public=True)
    emu.fail_job()
    recipe = {"version": 1, "steps": [], "metadata": META}
    with pytest.raises(PublishError, match="finished as failed") as err:
        socrata.publish_logged(df, recipe, emu.url, creds, dataset_id=ident, mode="replace", client=client(emu, creds))
    assert err.value.job == "failure" and err.value.revision_id == 0
    assert "is public and still shows its previous rows" in str(err.value)
    assert f"/d/{ident}/revisions/0" in str(err.value)
    assert emu.datasets[ident].rows == [{"town": "Old", "year": "1999", "deaths": "9"}] and emu.datasets[ident].public
    last = plog.entries(limit=1)[0]
    assert (last.status, last.api, last.revision_id, last.job) == ("failed", "dsmapi", 0, "failure")


def test_a_failed_job_seen_while_waiting_is_a_failure_too(tls, creds):
    with DsmapiEmulator(*tls, username=USER, password=PASSWORD, job_polls=3) as emu:
        emu.fail_job()
        with pytest.raises(PublishError, match="finished as failed") as err:
            dsmapi.publish(release_df(), view_of(release_df()), emu.url, creds, client=client(emu, creds))
        assert err.value.job == "failure" and emu.public_ids() == []


# --- faults: nothing public, nothing half-applied, one plain sentence ---------------------------

FAULTS = [
    (401, "POST", "/source", "did not accept the credentials"),
    (403, "POST", "/chunk/", "not allowed"),
    (429, "POST", "/chunk/", "too many requests"),
    (500, "POST", "/commit/", "server error"),
    ("timeout", "POST", "/chunk/", "did not answer"),
    (401, "PUT", "/apply", "did not accept the credentials"),
    (403, "PUT", "/apply", "not allowed"),
    (429, "PUT", "/apply", "too many requests"),
    (500, "PUT", "/apply", "server error"),
    ("timeout", "PUT", "/apply", "did not answer"),
    (500, "POST", "/schema/", "server error"),
]


@pytest.mark.parametrize("kind, method, path, words", FAULTS)
def test_a_fault_on_upload_or_apply_leaves_a_new_dataset_private_and_unapplied(emu, creds, kind, method, path, words):
    emu.fail(kind, method=method, path=path, times=1000, delay=1.0, retry_after=0 if kind == 429 else None)
    df = release_df()
    with pytest.raises(PublishError) as err:
        dsmapi.publish(df, view_of(df), emu.url, creds, make_public=True,
                       client=client(emu, creds, retries=1, timeout=0.5))
    message = str(err.value)
    assert words in message and "\n" not in message
    assert "Nothing was made public" in message and "stays private and the next try continues with it" in message
    assert PASSWORD not in message and USER not in message and TOKEN not in message
    assert emu.public_ids() == [] and len(emu.datasets) == 1
    (ident,) = emu.datasets
    assert err.value.dataset_id == ident and untouched_draft(emu, ident)


@pytest.mark.parametrize("kind, method, path, words", FAULTS)
def test_a_fault_on_upload_or_apply_leaves_an_existing_dataset_as_it_was(emu, creds, kind, method, path, words):
    df = release_df()
    ident = _existing(emu, df, public=True)
    emu.fail(kind, method=method, path=path, times=1000, delay=1.0, retry_after=0 if kind == 429 else None)
    with pytest.raises(PublishError, match=words) as err:
        dsmapi.publish(df, view_of(df), emu.url, creds, dataset_id=ident, mode="replace",
                       client=client(emu, creds, retries=1, timeout=0.5))
    assert "is public and still shows its previous rows" in str(err.value) and err.value.public is True
    ds = emu.datasets[ident]
    assert ds.rows == [{"town": "Old", "year": "1999", "deaths": "9"}] and ds.view["name"] == "Old title" and ds.public
    assert not jobs(emu, "successful")


PERMISSION_FAULTS = [
    (401, "did not accept the credentials"),
    (403, "not allowed"),
    (429, "too many requests"),
    (500, "server error"),
    ("timeout", "did not answer"),
]


@pytest.mark.parametrize("kind, words", PERMISSION_FAULTS)
def test_a_fault_on_the_permission_revision_leaves_nothing_public(emu, creds, kind, words):
    df = release_df()
    created = dsmapi.publish(df, view_of(df), emu.url, creds, client=client(emu, creds))
    emu.fail(kind, method="PUT", path="/apply", times=1000, delay=1.0, retry_after=1 if kind == 429 else None)
    waits = []
    with pytest.raises(PublishError, match=words) as err:
        dsmapi.make_public(created.dataset_id, emu.url, creds,
                           client=client(emu, creds, retries=1, timeout=0.5, sleep=waits.append))
    assert "nothing was made public" in str(err.value) and "\n" not in str(err.value)
    assert emu.public_ids() == [] and emu.datasets[created.dataset_id].rows == portal_rows(df)
    assert emu.open_revisions(created.dataset_id) == []           # the unapplied permission revision discarded
    if kind == 429:
        assert 1.0 in waits                                        # Retry-After was waited for
    # the same step again, once the portal is well, goes through
    emu.clear_faults()
    assert dsmapi.make_public(created.dataset_id, emu.url, creds, client=client(emu, creds)).public
    assert emu.public_ids() == [created.dataset_id]


def test_a_make_public_that_took_effect_unseen_is_rolled_back(tls, creds):
    with DsmapiEmulator(*tls, username=USER, password=PASSWORD, job_polls=0) as emu:
        created = dsmapi.publish(release_df(), view_of(release_df()), emu.url, creds, client=client(emu, creds))
        ident = created.dataset_id
        # the portal applies the public revision, but its answer is lost and the revision cannot be read back
        emu.fail("timeout", method="PUT", path="/apply", times=1, processed=True, delay=1.0)
        emu.fail(500, method="GET", path=f"/revision/{ident}/1", times=1000)
        with pytest.raises(PublishError, match="nothing was made public"):
            dsmapi.make_public(ident, emu.url, creds, client=client(emu, creds, retries=1, timeout=0.5))
        assert emu.public_ids() == []
        assert [r["action"]["permission"] for r in emu.datasets[ident].revisions] == ["private", "public", "private"]


def test_a_permission_that_cannot_be_confirmed_says_check_it_now(emu, creds):
    emu.fail(500, method="GET", path="/api/views/", times=1000)     # the permission cannot be read back
    with pytest.raises(PublishError, match="check its permission on the portal now") as err:
        dsmapi.publish(release_df(), view_of(release_df()), emu.url, creds, make_public=True,
                       client=client(emu, creds, retries=0))
    assert err.value.public is None and "\n" not in str(err.value)


def test_429_and_5xx_are_retried_with_backoff_and_retry_after_without_duplicating(emu, creds):
    waits = []
    emu.fail(429, method="POST", path="/api/publishing/v1/revision", times=1, retry_after=7)   # even the creation
    emu.fail(503, method="POST", path="/source", times=1, retry_after=3)
    emu.fail(500, method="POST", path="/chunk/", times=2)          # socrata-py retries a chunk itself
    emu.fail(429, method="PUT", path="/apply", times=2, retry_after=5)
    emu.fail(502, method="GET", path="/task_set/", times=1)
    df = release_df(30)
    result = dsmapi.publish(df, view_of(df), emu.url, creds, client=client(emu, creds, backoff=0.01, sleep=waits.append))
    assert len(emu.datasets) == 1 and emu.datasets[result.dataset_id].rows == portal_rows(df)
    assert [m for m, p in emu.requests if p == "/api/publishing/v1/revision"] == ["POST", "POST"]
    assert waits.count(7.0) == 1 and waits.count(5.0) == 2 and 3.0 in waits
    assert len(jobs(emu)) == 1 and result.job == "successful"


def test_an_apply_whose_answer_is_lost_is_followed_not_sent_twice(emu, creds):
    emu.fail("timeout", method="PUT", path="/apply", times=1, processed=True, delay=1.0)
    result = dsmapi.publish(release_df(), view_of(release_df()), emu.url, creds,
                            client=client(emu, creds, timeout=0.5))
    assert result.job == "successful" and len(jobs(emu)) == 1
    assert [p for m, p in emu.requests if p.endswith("/apply")] == [f"/api/publishing/v1/revision/{result.dataset_id}/0/apply"]


def test_a_creation_that_times_out_is_not_sent_again(emu, creds):
    emu.fail("timeout", method="POST", path="/api/publishing/v1/revision", times=1, processed=True, delay=1.0)
    with pytest.raises(PublishError, match="may have been created anyway") as err:
        dsmapi.publish(release_df(), view_of(release_df()), emu.url, creds, client=client(emu, creds, timeout=0.5))
    assert len(emu.datasets) == 1 and err.value.dataset_id is None and emu.public_ids() == []


def test_an_unknown_dataset_is_named_and_nothing_changes(emu, creds):
    with pytest.raises(PublishError, match="has no dataset zzzz-9999.*Nothing was changed"):
        dsmapi.publish(release_df(), view_of(release_df()), emu.url, creds, dataset_id="zzzz-9999", mode="replace",
                       client=client(emu, creds))
    assert emu.datasets == {}


def test_wrong_password_creates_nothing(emu):
    bad = socrata.Credentials(USER, "not-the-password")
    with pytest.raises(PublishError, match="did not accept the credentials"):
        dsmapi.publish(release_df(), view_of(release_df()), emu.url, bad, client=client(emu, bad))
    assert emu.datasets == {}


# --- a re-run resumes ---------------------------------------------------------------------------

def test_a_rerun_after_a_failed_apply_continues_the_same_dataset(emu, creds):
    recipe = {"version": 1, "steps": [], "metadata": META}
    df = release_df()
    emu.fail(500, method="PUT", path="/apply", times=1000)
    with pytest.raises(PublishError):
        socrata.publish_logged(df, recipe, emu.url, creds, client=client(emu, creds, retries=0))
    (ident,) = emu.datasets
    assert untouched_draft(emu, ident)
    emu.clear_faults()
    result = socrata.publish_logged(df, recipe, emu.url, creds, by="Reviewer", client=client(emu, creds))
    assert result.dataset_id == ident and list(emu.datasets) == [ident]
    assert emu.datasets[ident].rows == portal_rows(df) and emu.public_ids() == []
    assert len(emu.datasets[ident].revisions) == 1          # the draft revision was reused, not a second one
    entries = plog.entries()
    assert [e.status for e in entries][:2] == ["private", "started"]
    assert {e.status for e in entries} >= {"created", "failed"}
    assert (entries[0].api, entries[0].revision_id, entries[0].job) == ("dsmapi", 0, "successful")


def test_a_rerun_after_a_failed_job_continues_the_same_dataset(emu, creds):
    recipe = {"version": 1, "steps": [], "metadata": META}
    emu.fail_job()
    with pytest.raises(PublishError, match="finished as failed"):
        socrata.publish_logged(release_df(), recipe, emu.url, creds, client=client(emu, creds))
    (ident,) = emu.datasets
    result = socrata.publish_logged(release_df(), recipe, emu.url, creds, client=client(emu, creds))
    assert result.dataset_id == ident and len(emu.datasets) == 1 and result.status == "private"
    assert emu.datasets[ident].rows == portal_rows(release_df())
    # a later, deliberate creation with the same title makes a new dataset (the last one finished)
    again = socrata.publish_logged(release_df(), recipe, emu.url, creds, client=client(emu, creds))
    assert again.dataset_id != ident and len(emu.datasets) == 2


# --- progress, TLS, the writer chosen ------------------------------------------------------------

def test_upload_progress_reports_bytes_and_rows(tls, creds):
    with DsmapiEmulator(*tls, username=USER, password=PASSWORD, chunk_size=2048) as emu:
        df = release_df(6000)
        seen = []
        dsmapi.publish(df, view_of(df), emu.url, creds, progress=lambda s, t: seen.append((s, t)),
                       make_public=True, client=client(emu, creds))
        uploads = [t for _, t in seen if t.startswith("Uploading:")]
        assert uploads and "of 6,000 rows" in uploads[-1] and "KB" in uploads[-1]
        shares = [s for s, _ in seen]
        assert shares == sorted(shares) and shares[-1] == 1.0
        assert any(t == "Making the dataset public" for _, t in seen)
        assert len([p for _, p in emu.requests if "/chunk/" in p]) > 10


def test_tls_is_verified_and_an_untrusted_certificate_is_refused(emu, creds, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")                      # the system store does not know the test CA
    with pytest.raises(PublishError, match="could not be verified.*REQUESTS_CA_BUNDLE"):
        dsmapi.publish(release_df(), view_of(release_df()), emu.url, creds, client=client(emu, creds))
    assert emu.datasets == {} and emu.requests == []
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/agency-proxy.pem")
    with pytest.raises(ConfigError, match="REQUESTS_CA_BUNDLE names"):
        dsmapi.Client(emu.url, creds)


def test_tls_verification_cannot_be_turned_off(emu, creds):
    c = client(emu, creds)
    c.auth.live_dangerously()               # socrata-py's switch: refused, not obeyed
    with pytest.raises(ConfigError, match="never publishes"):
        dsmapi.publish(release_df(), view_of(release_df()), emu.url, creds, client=c)
    assert emu.datasets == {}


def test_the_writer_chosen(monkeypatch):
    assert socrata.resolve_api(None, "data.ct.gov") == "dsmapi"
    assert socrata.resolve_api(None, "https://127.0.0.1:8443") == "dsmapi"
    assert socrata.resolve_api("soda", "data.ct.gov") == "soda"
    assert socrata.resolve_api(None, "http://127.0.0.1:8123") == "soda"     # socrata-py speaks https only
    with pytest.raises(ConfigError, match="https only"):
        socrata.resolve_api("dsmapi", "http://127.0.0.1:8123")
    with pytest.raises(ConfigError, match="Unknown publishing API"):
        socrata.resolve_api("odata", "data.ct.gov")
    monkeypatch.setenv(socrata.API_ENV, "soda")
    assert socrata.resolve_api(None, "data.ct.gov") == "soda"
    assert socrata.resolve_api("dsmapi", "data.ct.gov") == "dsmapi"


def test_app_token_is_sent_and_credentials_never_logged(emu, creds, caplog):
    caplog.set_level(logging.DEBUG)
    dsmapi.publish(release_df(), view_of(release_df()), emu.url, creds, make_public=True, client=client(emu, creds))
    assert all(h.get("X-App-Token") == TOKEN for h in emu.headers)
    emu.fail(401, times=5)
    with pytest.raises(PublishError) as err:
        dsmapi.publish(release_df(), view_of(release_df()), emu.url, creds, client=client(emu, creds))
    assert caplog.records
    for secret in (PASSWORD, TOKEN, USER):
        assert secret not in caplog.text and secret not in str(err.value) and secret not in repr(err.value)


def test_an_old_publish_log_gains_the_new_columns(tmp_path):
    with sqlite3.connect(plog.path()) as con:
        con.execute("CREATE TABLE publishes (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, portal TEXT NOT NULL,"
                    " target TEXT NOT NULL, dataset_id TEXT, mode TEXT, status TEXT NOT NULL, rows INTEGER, public INTEGER,"
                    " recipe_sha256 TEXT, by TEXT, message TEXT)")
        con.execute("INSERT INTO publishes (at, portal, target, status) VALUES ('2026-01-01', 'p', 'T', 'private')")
    con.close()
    plog.record(portal="p", target="T", status="failed", dataset_id="abcd-1234", api="dsmapi", revision_id=3,
                job="failure")
    new, old = plog.entries(limit=2)
    assert (new.api, new.revision_id, new.job) == ("dsmapi", 3, "failure")
    assert (old.status, old.api, old.revision_id) == ("private", None, None)


# --- the CLI ------------------------------------------------------------------------------------

from ctopen.cli import main  # noqa: E402


@pytest.fixture
def source_file(tmp_path):
    df = pd.DataFrame({"Name": [f"Person {i}" for i in range(12)], "Town": ["Avon", "Lyme"] * 6, "Sex": ["F"] * 12,
                       "Count": [str(i) for i in range(12)]})
    path = tmp_path / "source.csv"
    df.to_csv(path, index=False)
    return path


def write_recipe(tmp_path, **extra):
    recipe = {"version": 1, "steps": [{"op": "drop", "column": "Name"}],
              "roles": {"Name": "direct", "Town": "quasi", "Sex": "quasi", "Count": "other"},
              "metadata": {"title": "Counts by town", "description": "Counts by town and sex.",
                           "category": "Health and Human Services"}}
    recipe.update(extra)
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    return path


@pytest.fixture
def env_creds(monkeypatch):
    monkeypatch.setenv("SOCRATA_USERNAME", USER)
    monkeypatch.setenv("SOCRATA_PASSWORD", PASSWORD)
    monkeypatch.setenv("SOCRATA_APP_TOKEN", TOKEN)
    for v in ("SOCRATA_KEY_ID", "SOCRATA_KEY_SECRET", "SOCRATA_DOMAIN"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setattr(dsmapi, "BACKOFF_SECONDS", 0)
    monkeypatch.setattr(dsmapi, "POLL_SECONDS", 0.01)


def run_cli(capsys, *argv):
    code = main(["publish", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_creates_private_through_a_revision_then_replaces_and_makes_public(tmp_path, emu, env_creds, capsys,
                                                                            source_file):
    recipe = write_recipe(tmp_path)
    code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert {"status", "dataset_id", "url", "rows", "public", "gate", "api", "revision_id", "job"} <= set(res)
    assert (res["status"], res["public"], res["rows"], res["api"]) == ("private", False, 12, "dsmapi")
    assert (res["revision_id"], res["job"]) == (0, "successful")
    ident = res["dataset_id"]
    ds = emu.datasets[ident]
    assert not ds.public and len(ds.rows) == 12 and "name" not in ds.rows[0] and ds.view["name"] == "Counts by town"
    assert err == ""                                    # no progress line: stderr is not a terminal
    code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--dataset-id", ident,
                             "--make-public", "--json")
    res2 = json.loads(out)
    assert code == 0, err
    assert (res2["status"], res2["public"], res2["revision_id"], res2["job"]) == ("updated", True, 1, "successful")
    assert emu.public_ids() == [ident] and len(emu.datasets) == 1 and len(emu.datasets[ident].rows) == 12
    assert [r["action"]["type"] for r in emu.datasets[ident].revisions] == ["update", "replace", "update"]
    assert not [p for m, p in emu.requests if p.startswith("/resource/")]
    entry = plog.entries(limit=1)[0]
    assert (entry.api, entry.revision_id, entry.job, entry.public) == ("dsmapi", 1, "successful", True)


def test_cli_metadata_only_and_soda_refuses_it(tmp_path, emu, env_creds, capsys, source_file):
    recipe = write_recipe(tmp_path)
    code, out, _ = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json")
    ident = json.loads(out)["dataset_id"]
    changed = write_recipe(tmp_path, metadata={"title": "Counts by town, 2026", "description": "New words.",
                                               "category": "Health and Human Services"})
    code, out, err = run_cli(capsys, source_file, "--recipe", changed, "--portal", emu.url, "--dataset-id", ident,
                             "--mode", "metadata", "--json")
    assert code == 0, err and json.loads(out)["status"] == "updated"
    assert emu.datasets[ident].view["name"] == "Counts by town, 2026" and len(emu.datasets[ident].rows) == 12
    code, out, err = run_cli(capsys, source_file, "--recipe", changed, "--portal", emu.url, "--dataset-id", ident,
                             "--mode", "metadata", "--api", "soda", "--json")
    assert code == 2 and "needs the Data Management API" in err


def test_cli_failure_is_one_line_and_a_rerun_resumes(tmp_path, emu, env_creds, capsys, source_file, monkeypatch):
    monkeypatch.setattr(dsmapi, "RETRIES", 0)
    emu.fail(500, method="PUT", path="/apply", times=1000)
    recipe = write_recipe(tmp_path)
    code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json")
    (ident,) = emu.datasets
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1
    assert "server error" in err and ident in err and "next try continues with it" in err
    emu.clear_faults()
    code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json")
    assert code == 0, err and json.loads(out)["dataset_id"] == ident
    assert list(emu.datasets) == [ident] and len(emu.datasets[ident].rows) == 12 and emu.public_ids() == []


def test_cli_credentials_appear_nowhere(tmp_path, emu, env_creds, capsys, source_file, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(dsmapi, "RETRIES", 1)
    recipe = write_recipe(tmp_path)
    produced = []
    for args in ([], ["--make-public"]):
        code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json", *args)
        assert code == 0, err
        produced += [out, err]
    emu.fail_job()
    code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json")
    produced += [out, err]
    emu.fail(401, times=100)
    code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json")
    assert code == 2
    produced += [out, err]
    blob = "\n".join(produced + [caplog.text]).encode() + plog.path().read_bytes() + recipe.read_bytes()
    with sqlite3.connect(plog.path()) as con:
        blob += repr(con.execute("SELECT * FROM publishes").fetchall()).encode()
    for secret in (PASSWORD, TOKEN, USER):
        assert secret.encode() not in blob


def test_cli_refuses_dsmapi_over_http(tmp_path, env_creds, capsys, source_file):
    code, out, err = run_cli(capsys, source_file, "--recipe", write_recipe(tmp_path), "--portal",
                             "http://127.0.0.1:9", "--api", "dsmapi", "--json")
    assert code == 2 and "https only" in err


# --- the Publish page (AppTest): the same one click, now through revisions -----------------------

def test_the_publish_page_publishes_privately_then_makes_public_through_revisions(emu, monkeypatch):
    from tests.app.test_publish_page import DROP, app, button

    monkeypatch.setenv("SOCRATA_USERNAME", USER)
    monkeypatch.setenv("SOCRATA_PASSWORD", PASSWORD)
    for v in ("SOCRATA_KEY_ID", "SOCRATA_KEY_SECRET", "SOCRATA_APP_TOKEN"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setattr(dsmapi, "POLL_SECONDS", 0.01)
    at = app(steps=DROP, target={"portal": emu.url})
    button(at, "Publish privately").click()
    at.run()
    assert not at.exception and not at.error
    (ident, ds), = emu.datasets.items()
    assert not ds.public and ds.published and len(ds.rows) == 10 and "name" not in ds.rows[0]
    assert ds.view["name"] == "People by town" and ds.revisions[0]["action"]["permission"] == "private"
    assert f"Dataset {ident} is private" in at.success[-1].value
    at.checkbox(key="pub_reviewed").check()
    at.run()
    button(at, "Make public").click()
    at.run()
    assert not at.exception and emu.public_ids() == [ident] and len(emu.datasets) == 1
    assert [r["action"]["permission"] for r in emu.datasets[ident].revisions] == ["private", "public"]
    entries = plog.entries()
    assert [(e.status, e.api) for e in entries[:2]] == [("public", "dsmapi"), ("private", "dsmapi")]
    assert entries[1].revision_id == 0 and entries[1].job == "successful"


def test_the_publish_page_shows_a_failed_job_with_its_next_step(emu, monkeypatch):
    from tests.app.test_publish_page import DROP, app, button

    monkeypatch.setenv("SOCRATA_USERNAME", USER)
    monkeypatch.setenv("SOCRATA_PASSWORD", PASSWORD)
    monkeypatch.setattr(dsmapi, "POLL_SECONDS", 0.01)
    emu.fail_job()
    at = app(steps=DROP, target={"portal": emu.url})
    button(at, "Publish privately").click()
    at.run()
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "finished as failed" in shown and "try again" in shown and PASSWORD not in shown
    assert emu.public_ids() == []


def test_cli_progress_line_on_a_terminal_only(tmp_path, emu, env_creds, capsys, source_file, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = run_cli(capsys, source_file, "--recipe", write_recipe(tmp_path), "--portal", emu.url, "--json")
    assert code == 0 and json.loads(out)["status"] == "private"             # stdout stays one JSON object
    assert err.startswith("\r") and err.endswith("\n") and err.count("\n") == 1
    assert "Creating the dataset (private)" in err and "Uploading" in err and "100%  Done" in err
