"""Publishing against the local SODA emulator: end states on the 'portal', faults, retries, the gate,
the bundle, the publish log and the CLI. No test here reaches a real portal."""
from __future__ import annotations

import io
import json
import sqlite3
import zipfile

import pandas as pd
import pytest

from ctopen.errors import RecipeError, ConfigError, PublishError
from ctopen.publish import bundle, gate, log as plog, socrata
from tests.soda_emulator import SodaEmulator

PASSWORD = "Tr0ub4dor-and-3-horses"
USER = "publisher@ct.gov"
TOKEN = "app-token-7Hq2xZ"


@pytest.fixture
def emu():
    with SodaEmulator(username=USER, password=PASSWORD) as e:
        yield e


@pytest.fixture
def creds():
    return socrata.Credentials(USER, PASSWORD, TOKEN)


def client(emu, creds, **kw):
    kw.setdefault("backoff", 0)
    kw.setdefault("timeout", 5)
    return socrata.Portal(emu.url, creds, **kw)


def release_df(n=7) -> pd.DataFrame:
    towns = ["Hartford", "New Haven", "Avon", None, "Bristol", "Essex", "Lyme"]
    return pd.DataFrame({
        "Town": [towns[i % 7] for i in range(n)],
        "Year": [str(2015 + i % 3) for i in range(n)],
        "Deaths": [str(i) for i in range(n)],
        "ZIP": ["06010" if i % 2 else "06103" for i in range(n)],
    }, dtype="str")


VIEW = {"name": "Drug deaths by town", "description": "Counts of accidental drug deaths by town and year.",
        "category": "Health and Human Services", "tags": ["overdose", "deaths"]}


def as_portal_rows(df: pd.DataFrame) -> list[dict]:
    return socrata.rows_payload(df)


# --- creating: private until made public -------------------------------------------------------

def test_create_is_private_published_with_rows_and_metadata(emu, creds):
    df = release_df()
    view = socrata.view_payload({"title": VIEW["name"], "description": VIEW["description"],
                                 "category": VIEW["category"], "tags": VIEW["tags"],
                                 "columns": {"Deaths": "Number of deaths"}}, df)
    result = socrata.publish(df, view, emu.url, creds, client=client(emu, creds))
    ds = emu.datasets[result.dataset_id]
    assert result.status == "private" and result.public is False
    assert ds.public is False and ds.published is True
    assert ds.rows == as_portal_rows(df)
    assert ds.view["name"] == VIEW["name"] and ds.view["description"] == VIEW["description"]
    assert ds.view["category"] == VIEW["category"] and ds.view["tags"] == VIEW["tags"]
    cols = {c["name"]: c for c in ds.view["columns"]}
    assert cols["Deaths"]["description"] == "Number of deaths"
    assert cols["Deaths"]["dataTypeName"] == "number"
    assert cols["ZIP"]["dataTypeName"] == "text"        # leading zeros stay text
    assert result.url == f"{emu.url}/d/{result.dataset_id}"
    assert emu.public_ids() == []
    # then the separate, explicit step
    done = socrata.make_public(result.dataset_id, emu.url, creds, client=client(emu, creds))
    assert done.public is True and emu.public_ids() == [result.dataset_id]


def test_private_is_set_explicitly_before_any_row_even_if_portal_default_is_public(creds):
    with SodaEmulator(username=USER, password=PASSWORD, default_public=True) as emu:
        result = socrata.publish(release_df(), VIEW, emu.url, creds, client=client(emu, creds))
        assert emu.datasets[result.dataset_id].public is False
        paths = [p for _, p in emu.requests]
        private_at = next(i for i, p in enumerate(paths) if "setPermission&value=private" in p)
        first_rows = next(i for i, p in enumerate(paths) if p.startswith("/resource/"))
        assert private_at < first_rows


def test_rows_go_in_chunks_with_progress(emu, creds):
    df = release_df(7)
    seen = []
    result = socrata.publish(df, VIEW, emu.url, creds, chunk=3, progress=lambda s, t: seen.append(s),
                             client=client(emu, creds))
    row_calls = [(m, p) for m, p in emu.requests if p.startswith("/resource/")]
    assert [m for m, _ in row_calls] == ["PUT", "POST", "POST"]
    assert emu.datasets[result.dataset_id].rows == as_portal_rows(df)
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_make_public_in_the_same_run_only_when_asked(emu, creds):
    r1 = socrata.publish(release_df(), VIEW, emu.url, creds, client=client(emu, creds))
    r2 = socrata.publish(release_df(), VIEW, emu.url, creds, make_public=True, client=client(emu, creds))
    assert (r1.status, r1.public) == ("private", False)
    assert (r2.status, r2.public) == ("public", True)
    assert emu.public_ids() == [r2.dataset_id]


# --- faults: nothing public, one plain sentence ------------------------------------------------

@pytest.mark.parametrize("kind, method, path, words", [
    (401, "POST", "/api/views.json", "did not accept the credentials"),
    (403, "PUT", "setPermission", "not allowed"),
    (403, "PUT", "/resource/", "not allowed"),
    (404, "POST", "publication", "has no dataset"),
    (429, None, "/resource/", "too many requests"),
    (500, None, "publication", "server error"),
    (503, None, "value=public.read", "server error"),
    ("timeout", None, "/resource/", "did not answer"),
])
def test_fault_leaves_nothing_public_and_says_what_to_do(emu, creds, kind, method, path, words):
    emu.fail(kind, method=method, path=path, times=100, delay=0.6)
    portal = client(emu, creds, retries=2, timeout=0.3)
    with pytest.raises(PublishError) as err:
        socrata.publish(release_df(), VIEW, emu.url, creds, make_public=True, client=portal)
    message = str(err.value)
    assert words in message
    assert "Nothing was made public" in message
    assert "\n" not in message and PASSWORD not in message and USER not in message
    assert emu.public_ids() == []
    assert len(emu.datasets) <= 1


def test_make_public_that_times_out_after_taking_effect_is_rolled_back(emu, creds):
    emu.fail("timeout", path="value=public.read", times=100, processed=True, delay=0.6)
    with pytest.raises(PublishError, match="did not answer") as err:
        socrata.publish(release_df(), VIEW, emu.url, creds, make_public=True,
                        client=client(emu, creds, retries=1, timeout=0.3))
    assert err.value.dataset_id in emu.datasets
    assert emu.public_ids() == []          # the server made it public, then the rollback made it private


def test_make_public_failure_that_cannot_be_rolled_back_says_check_now(emu, creds):
    emu.fail("timeout", path="setPermission", times=100, processed=True, delay=0.6)
    result_id = emu.add_dataset("Reviewed", [], public=False)
    with pytest.raises(PublishError, match="check its permission on the portal now"):
        socrata.make_public(result_id, emu.url, creds, client=client(emu, creds, retries=0, timeout=0.3))


def test_wrong_password_is_401_and_nothing_is_created(emu):
    bad = socrata.Credentials(USER, "not-the-password")
    with pytest.raises(PublishError, match="credentials"):
        socrata.publish(release_df(), VIEW, emu.url, bad, client=client(emu, bad))
    assert emu.datasets == {}


def test_429_and_5xx_are_retried_with_backoff_without_duplicating(emu, creds):
    waits = []
    emu.fail(429, path="/resource/", times=2)
    emu.fail(503, path="publication", times=1)
    emu.fail(500, method="POST", path="/resource/", times=1)   # a later chunk fails: the sequence restarts
    portal = socrata.Portal(emu.url, creds, backoff=0.01, sleep=waits.append)
    df = release_df(7)
    result = socrata.publish(df, VIEW, emu.url, creds, chunk=3, client=portal)
    assert len(emu.datasets) == 1
    assert emu.datasets[result.dataset_id].rows == as_portal_rows(df)   # every row exactly once
    assert len(waits) == 4          # 2 x 429, 1 x 503, 1 x 500: each waited before trying again
    assert emu.datasets[result.dataset_id].published and not emu.datasets[result.dataset_id].public


def test_retry_after_a_failure_continues_with_the_created_dataset(emu, creds):
    emu.fail(500, path="publication", times=100)
    with pytest.raises(PublishError) as err:
        socrata.publish(release_df(), VIEW, emu.url, creds, client=client(emu, creds, retries=1))
    created = err.value.dataset_id
    assert created in emu.datasets and "continues with it" in str(err.value)
    emu.faults.clear()
    result = socrata.publish(release_df(), VIEW, emu.url, creds, dataset_id=created, client=client(emu, creds))
    assert result.dataset_id == created and list(emu.datasets) == [created]
    assert emu.datasets[created].rows == as_portal_rows(release_df())
    assert not emu.datasets[created].public


def test_create_timeout_is_not_resent_blindly(emu, creds):
    emu.fail("timeout", path="/api/views.json", times=1, processed=True, delay=0.6)
    with pytest.raises(PublishError, match="may have been created") as err:
        socrata.publish(release_df(), VIEW, emu.url, creds, client=client(emu, creds, timeout=0.3))
    assert len(emu.datasets) == 1           # created once by the server, never a second time
    assert emu.public_ids() == []
    assert err.value.dataset_id is None


# --- existing datasets: the monthly update -----------------------------------------------------

def _existing(emu, df, public=True, row_identifier=None):
    cols = socrata.columns_payload(df)
    return emu.add_dataset("Old title", cols, rows=[{"town": "Old", "year": "1999", "deaths": "9"}],
                           public=public, row_identifier=row_identifier)


def test_replace_rows_and_update_metadata_keeps_permission(emu, creds):
    df = release_df()
    ident = _existing(emu, df, public=True)
    result = socrata.publish(df, VIEW, emu.url, creds, dataset_id=ident, mode="replace", client=client(emu, creds))
    ds = emu.datasets[ident]
    assert result.status == "updated" and result.public is True
    assert ds.rows == as_portal_rows(df) and ds.view["name"] == VIEW["name"]
    assert len(emu.datasets) == 1


def test_a_failed_update_of_a_public_dataset_says_it_is_public_with_its_old_rows(emu, creds):
    df = release_df()
    ident = _existing(emu, df, public=True)
    emu.fail(400, "PUT", f"/resource/{ident}.json")
    with pytest.raises(PublishError) as info:
        socrata.publish(df, VIEW, emu.url, creds, dataset_id=ident, mode="replace", client=client(emu, creds))
    message = str(info.value)
    assert "was already public" in message and "previous rows" in message and "stays private" not in message
    assert info.value.public is True
    ds = emu.datasets[ident]
    assert ds.view["name"] == "Old title" and ds.rows == [{"town": "Old", "year": "1999", "deaths": "9"}]   # untouched


def test_replace_on_a_private_dataset_stays_private(emu, creds):
    ident = _existing(emu, release_df(), public=False)
    result = socrata.publish(release_df(), VIEW, emu.url, creds, dataset_id=ident, mode="replace",
                             client=client(emu, creds))
    assert result.public is False and emu.public_ids() == []


def test_upsert_updates_rows_by_identifier(emu, creds):
    df = pd.DataFrame({"Case": ["A1", "A2"], "Town": ["Avon", "Lyme"]}, dtype="str")
    ident = emu.add_dataset("Cases", socrata.columns_payload(df), rows=[{"case": "A1", "town": "Essex"}],
                            public=False, row_identifier="case")
    socrata.publish(df, VIEW, emu.url, creds, dataset_id=ident, mode="upsert", row_identifier="Case",
                    client=client(emu, creds))
    assert sorted(emu.datasets[ident].rows, key=lambda r: r["case"]) == [{"case": "A1", "town": "Avon"},
                                                                          {"case": "A2", "town": "Lyme"}]
    # again: an upsert is idempotent on the identifier
    socrata.publish(df, VIEW, emu.url, creds, dataset_id=ident, mode="upsert", row_identifier="Case",
                    client=client(emu, creds))
    assert len(emu.datasets[ident].rows) == 2


def test_upsert_needs_a_row_identifier_and_replace_an_id(emu, creds):
    with pytest.raises(ConfigError, match="row identifier"):
        socrata.publish(release_df(), VIEW, emu.url, creds, dataset_id="abcd-1234", mode="upsert",
                        client=client(emu, creds))
    with pytest.raises(ConfigError, match="existing dataset"):
        socrata.publish(release_df(), VIEW, emu.url, creds, mode="replace", client=client(emu, creds))
    with pytest.raises(ConfigError, match="not a portal dataset id"):
        socrata.publish(release_df(), VIEW, emu.url, creds, dataset_id="https://x", mode="replace",
                        client=client(emu, creds))
    assert emu.requests == []


def test_unknown_dataset_id_is_404_named(emu, creds):
    with pytest.raises(PublishError, match="has no dataset zzzz-9999"):
        socrata.publish(release_df(), VIEW, emu.url, creds, dataset_id="zzzz-9999", mode="replace",
                        client=client(emu, creds))


# --- credentials -------------------------------------------------------------------------------

def test_credentials_from_environment(monkeypatch):
    for v in ("SOCRATA_USERNAME", "SOCRATA_PASSWORD", "SOCRATA_KEY_ID", "SOCRATA_KEY_SECRET", "SOCRATA_APP_TOKEN"):
        monkeypatch.delenv(v, raising=False)
    assert socrata.Credentials.from_env() is None
    monkeypatch.setenv("SOCRATA_KEY_ID", "keyid123")
    monkeypatch.setenv("SOCRATA_KEY_SECRET", "keysecret456")
    c = socrata.Credentials.from_env()
    assert (c.username, c.password, c.kind) == ("keyid123", "keysecret456", "api_key")
    assert "keysecret456" not in repr(c) and "keyid123" not in repr(c)
    monkeypatch.delenv("SOCRATA_KEY_SECRET")
    with pytest.raises(ConfigError, match="incomplete"):
        socrata.Credentials.from_env()


def test_app_token_is_sent(emu, creds):
    socrata.publish(release_df(), VIEW, emu.url, creds, client=client(emu, creds))
    assert all(h.get("X-App-token") == TOKEN or h.get("X-App-Token") == TOKEN for h in emu.headers)


def test_portal_address():
    assert socrata.portal_parts("data.ct.gov") == ("https", "data.ct.gov")
    assert socrata.portal_parts("http://127.0.0.1:8080/") == ("http", "127.0.0.1:8080")
    with pytest.raises(ConfigError):
        socrata.portal_parts("ftp://data.ct.gov")
    with pytest.raises(ConfigError):
        socrata.portal_parts("https://user:pw@data.ct.gov")


def test_field_names_are_unique_and_valid():
    names = socrata.field_names(["Total cases ", "Total-Cases", "2020 count", "Date"])
    assert names == {"Total cases ": "total_cases", "Total-Cases": "total_cases_2", "2020 count": "_2020_count",
                     "Date": "date"}


@pytest.mark.parametrize("values, expected", [
    (["1", "2.5", "-3"], "number"), (["06010", "06103"], "text"), (["2020-01-01", "2021-12-31T00:00:00"], "calendar_date"),
    (["01/02/2020"], "text"), (["true", "False"], "checkbox"), (["35-39", "40-44"], "text"), ([None, None], "text"),
])
def test_portal_types(values, expected):
    assert socrata.portal_type(pd.Series(values, dtype="str")) == expected


# --- the gate ----------------------------------------------------------------------------------

def _roles(df, **roles):
    return {c: roles.get(c, "other") for c in df.columns}


def _gate(df, recipe, detection=None):
    from ctopen.review import Review
    return Review(df, {"version": 1, **recipe}, detection=detection).gate


def test_gate_blocks_a_direct_identifier_left():
    df = pd.DataFrame({"Name": ["A", "B"] * 3, "Town": ["X", "X"] * 3}, dtype="str")
    g = _gate(df, {"roles": {"Name": "direct", "Town": "other"}, "steps": []})
    assert not g.passed and "Name" in g.reasons[0] and g.direct == ["Name"]


def test_gate_blocks_small_groups_and_passes_when_k_reached():
    df = pd.DataFrame({"Age": ["30"] * 5 + ["40"], "Sex": ["F"] * 5 + ["M"]}, dtype="str")
    recipe = {"roles": {"Age": "quasi", "Sex": "quasi"}, "steps": []}
    blocked = _gate(df, recipe)
    assert not blocked.passed and blocked.k == 1 and "k = 5" in blocked.reasons[0]
    passed = _gate(df[df.Age == "30"], recipe)
    assert passed.passed and passed.k == 5


def test_gate_threshold_from_recipe_else_default():
    df = pd.DataFrame({"Age": ["30"] * 6}, dtype="str")
    assert _gate(df, {"roles": {"Age": "quasi"}, "steps": []}).passed    # default k = 5
    assert not _gate(df, {"roles": {"Age": "quasi"}, "steps": [], "k": 7}).passed
    assert not _gate(df.head(4), {"roles": {"Age": "quasi"}, "steps": [], "k": 4}).passed   # lower: an exception


EXC = {"justification": "A public register of state licenses; it serves a clear public good.",
       "by": "J. Officer", "at": "2026-11-24T10:00:00+00:00", "covers": {"direct": ["Name"], "k": 6}}


def test_gate_accepts_a_written_exception_and_says_so():
    df = pd.DataFrame({"Name": ["A", "B"] * 3}, dtype="str")
    g = _gate(df, {"roles": {"Name": "direct"}, "steps": [], "exception": EXC})
    assert g.passed and g.exception == EXC
    assert any("exception" in r and "public register" in r and "J. Officer" in r for r in g.reasons)
    assert any("Name" in r for r in g.reasons)   # what the exception lets through is still said


@pytest.mark.parametrize("exc", [{**EXC, "justification": "because"}, {**EXC, "by": ""}, {**EXC, "at": ""},
                                 {k: v for k, v in EXC.items() if k != "covers"}, "yes", {}])
def test_gate_refuses_an_incomplete_exception(exc):
    df = pd.DataFrame({"Name": ["A", "B"] * 3}, dtype="str")
    try:
        g = _gate(df, {"roles": {"Name": "direct"}, "steps": [], "exception": exc})
    except RecipeError as err:      # not an object at all: refused when the recipe is read
        assert "exception" in str(err)
    else:
        assert not g.passed


def test_gate_pseudonymized_column_is_not_a_direct_identifier(monkeypatch):
    monkeypatch.setenv("CTOPEN_PSEUDONYM_KEY", "a long random key for the tests only")
    df = pd.DataFrame({"ID": ["a1f", "b2e", "c3d", "d4c", "e5b"]}, dtype="str")
    recipe = {"roles": {"ID": "direct"}, "steps": [{"op": "pseudonymize", "column": "ID"}]}
    assert _gate(df, recipe).passed


def test_gate_roles_from_detection_where_recipe_is_silent():
    class Col:
        def __init__(self, name, role):
            self.name, self.role = name, role

    class Det:
        columns = [Col("Email", "direct"), Col("Town", "quasi")]

    df = pd.DataFrame({"Email": ["a@x.org"] * 5, "Town": ["Avon"] * 5}, dtype="str")
    g = _gate(df, {"roles": {"Town": "quasi"}, "steps": []}, detection=Det())
    assert not g.passed and g.direct == ["Email"]
    assert g.roles_from == {"Town": "reviewer", "Email": "detection"}
    # the user's decision wins (records not about people) when its reason is recorded
    lowered = {"roles": {"Email": "other"}, "steps": [], "decisions": [
        {"column": "Email", "role": "other", "by": "Pat", "reason": "shared office mailboxes, not people"}]}
    assert _gate(df, lowered, detection=Det()).passed
    assert not _gate(df, {"roles": {"Email": "other"}, "steps": []}, detection=Det()).passed


# --- bundle ------------------------------------------------------------------------------------

def test_bundle_zip_holds_release_metadata_recipe_report(tmp_path):
    df = release_df()
    recipe = {"version": 1, "steps": [], "metadata": {"title": "Deaths by town", "update_frequency": "Monthly",
                                                     "columns": {"Deaths": "Number of deaths"}},
              "target": {"portal": "data.ct.gov", "password": PASSWORD, "app_token": TOKEN}}
    b = bundle.write(tmp_path / "out.zip", df, recipe, report_html="<html>report</html>", secrets=[PASSWORD, TOKEN])
    zf = zipfile.ZipFile(tmp_path / "out.zip")
    assert set(zf.namelist()) == set(bundle.FILES)
    got = pd.read_csv(io.BytesIO(zf.read("data.csv")), dtype=str, keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(got, df, check_dtype=False)
    socrata_md = json.loads(zf.read("metadata-socrata.json"))
    assert socrata_md["name"] == "Deaths by town"
    assert {c["name"]: c["description"] for c in socrata_md["columns"]}["Deaths"] == "Number of deaths"
    dcat = json.loads(zf.read("metadata-dcat.json"))
    assert dcat["title"] == "Deaths by town" and dcat["accrualPeriodicity"] == "R/P1M"
    saved = json.loads(zf.read("recipe.json"))
    assert saved["target"] == {"portal": "data.ct.gov"}
    for name in zf.namelist():
        assert PASSWORD.encode() not in zf.read(name) and TOKEN.encode() not in zf.read(name)
    assert b.rows == len(df)


def test_bundle_folder(tmp_path):
    bundle.write(tmp_path / "folder", release_df(), {"version": 1, "steps": []})
    assert (tmp_path / "folder" / "data.csv").exists() and (tmp_path / "folder" / "recipe.json").exists()
    assert not (tmp_path / "folder" / "report.html").exists()


def test_bundle_refuses_a_secret_in_the_data(tmp_path):
    df = pd.DataFrame({"note": [f"pw {PASSWORD}"]}, dtype="str")
    with pytest.raises(ConfigError, match="credential"):
        bundle.write(tmp_path / "x.zip", df, {"version": 1, "steps": []}, secrets=[PASSWORD])


# --- publish log -------------------------------------------------------------------------------

def test_publish_log_records_and_remembers_unfinished():
    h = plog.recipe_hash({"version": 1, "steps": []})
    plog.record(portal="p", target="T", status="started", recipe_sha256=h, by="me")
    plog.record(portal="p", target="T", status="created", dataset_id="abcd-1234", by="me")
    plog.record(portal="p", target="T", status="failed", dataset_id="abcd-1234", by="me", message="500")
    assert plog.unfinished("p", "T") == "abcd-1234"
    assert plog.unfinished("p", "other") is None
    plog.record(portal="p", target="T", status="private", dataset_id="abcd-1234", by="me")
    assert plog.unfinished("p", "T") is None
    last = plog.entries(limit=1)[0]
    assert (last.status, last.dataset_id, last.by) == ("private", "abcd-1234", "me")
    assert plog.path().parent.name == "state"      # in settings.state_dir() (conftest points it at tmp)


# --- the CLI -----------------------------------------------------------------------------------

from ctopen.cli import main  # noqa: E402


@pytest.fixture
def source_file(tmp_path):
    df = pd.DataFrame({
        "Name": [f"Person {i}" for i in range(12)],
        "Town": ["Avon", "Lyme"] * 6,
        "Sex": ["F"] * 12,
        "Count": [str(i) for i in range(12)],
    })
    path = tmp_path / "source.csv"
    df.to_csv(path, index=False)
    return path


def write_recipe(tmp_path, **extra):
    recipe = {"version": 1, "steps": [{"op": "drop", "column": "Name"}],
              "roles": {"Name": "direct", "Town": "quasi", "Sex": "quasi", "Count": "other"},
              "metadata": {"title": "Counts by town", "description": "Counts by town and sex.", "category": "Health and Human Services"}}
    recipe.update(extra)
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    return path


@pytest.fixture
def env_creds(monkeypatch):
    monkeypatch.setenv("SOCRATA_USERNAME", USER)
    monkeypatch.setenv("SOCRATA_PASSWORD", PASSWORD)
    monkeypatch.setenv("SOCRATA_APP_TOKEN", TOKEN)
    for v in ("SOCRATA_KEY_ID", "SOCRATA_KEY_SECRET"):
        monkeypatch.delenv(v, raising=False)


@pytest.fixture
def no_creds(monkeypatch):
    for v in ("SOCRATA_USERNAME", "SOCRATA_PASSWORD", "SOCRATA_KEY_ID", "SOCRATA_KEY_SECRET", "SOCRATA_APP_TOKEN"):
        monkeypatch.delenv(v, raising=False)


def run_cli(capsys, *argv):
    code = main(["publish", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


KEYS = {"status", "dataset_id", "url", "rows", "public", "gate"}


def test_cli_publishes_private_then_public(tmp_path, emu, env_creds, capsys, source_file):
    recipe = write_recipe(tmp_path)
    code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert KEYS <= set(res) and res["status"] == "private" and res["public"] is False and res["rows"] == 12
    assert res["gate"]["passed"] is True and {"passed", "reasons", "k", "threshold", "roles"} <= set(res["gate"])
    assert res["gate"]["roles"]["Name"] == {"role": "direct", "from": "reviewer", "detected": "other"}
    ds = emu.datasets[res["dataset_id"]]
    assert not ds.public and len(ds.rows) == 12 and "name" not in ds.rows[0]
    assert ds.view["name"] == "Counts by town"
    code, out, _ = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--dataset-id",
                           res["dataset_id"], "--make-public", "--json")
    res2 = json.loads(out)
    assert code == 0 and res2["status"] == "updated" and res2["public"] is True
    assert emu.public_ids() == [res["dataset_id"]] and len(emu.datasets) == 1
    assert len(emu.datasets[res["dataset_id"]].rows) == 12     # replaced, not appended


def test_cli_blocked_gate_prints_json_and_exits_3(tmp_path, emu, env_creds, capsys, source_file):
    recipe = write_recipe(tmp_path, steps=[])          # the names stay in
    code, out, _ = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json")
    assert code == 3
    res = json.loads(out)
    assert res["status"] == "blocked" and res["gate"]["passed"] is False and "Name" in res["gate"]["reasons"][0]
    assert emu.requests == []
    assert plog.entries(limit=1)[0].status == "blocked"


def test_cli_exception_lets_it_through(tmp_path, emu, env_creds, capsys, source_file):
    exc = {"justification": "A public register of license holders; names are the point.", "by": "A. Officer",
           "at": "2026-11-24", "covers": {"direct": ["Name"], "quasi": ["Town", "Sex"], "k": 6}}
    recipe = write_recipe(tmp_path, steps=[], exception=exc)
    code, out, _ = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json")
    res = json.loads(out)
    assert code == 0 and res["status"] == "private" and any("public register" in r for r in res["gate"]["reasons"])


def test_cli_dry_run_sends_nothing(tmp_path, emu, env_creds, capsys, source_file):
    code, out, _ = run_cli(capsys, source_file, "--recipe", write_recipe(tmp_path), "--portal", emu.url, "--dry-run", "--json")
    assert code == 0 and json.loads(out)["status"] == "dry-run" and emu.requests == []


def test_cli_without_credentials_writes_a_bundle(tmp_path, no_creds, capsys, source_file):
    code, out, _ = run_cli(capsys, source_file, "--recipe", write_recipe(tmp_path), "--json")
    res = json.loads(out)
    assert code == 0 and res["status"] == "bundle" and res["dataset_id"] is None and res["public"] is False
    zf = zipfile.ZipFile(res["bundle"])
    assert "report.html" in zf.namelist() and "Counts by town" in zf.read("report.html").decode()


def test_cli_user_errors_exit_2(tmp_path, emu, env_creds, capsys, source_file):
    code, out, err = run_cli(capsys, source_file, "--recipe", tmp_path / "missing.json", "--json")
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1
    code, _, err = run_cli(capsys, source_file, "--recipe", write_recipe(tmp_path), "--dataset-id", "nope", "--json")
    assert code == 2 and "abcd-1234" in err
    code, _, err = run_cli(capsys, source_file, "--recipe", write_recipe(tmp_path), "--mode", "upsert", "--json")
    assert code == 2


def test_cli_retry_continues_with_the_created_dataset(tmp_path, emu, env_creds, capsys, source_file, monkeypatch):
    monkeypatch.setattr(socrata, "RETRIES", 0)
    emu.fail(500, path="publication", times=5)
    recipe = write_recipe(tmp_path)
    code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json")
    assert code == 2 and "server error" in err and len(emu.datasets) == 1
    first = next(iter(emu.datasets))
    assert first in err
    emu.faults.clear()
    code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json")
    res = json.loads(out)
    assert code == 0 and res["dataset_id"] == first and len(emu.datasets) == 1
    assert len(emu.datasets[first].rows) == 12 and not emu.datasets[first].public


def test_cli_credentials_appear_nowhere(tmp_path, emu, env_creds, capsys, source_file, monkeypatch):
    monkeypatch.setattr(socrata, "RETRIES", 1)
    monkeypatch.setattr(socrata, "BACKOFF_SECONDS", 0)
    recipe = write_recipe(tmp_path)
    produced = []
    for args in ([], ["--bundle", tmp_path / "b.zip"], ["--make-public"]):
        code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json", *args)
        produced += [out, err]
    emu.fail(401, times=10)
    code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json")
    assert code == 2
    produced += [out, err]
    blob = "\n".join(produced).encode()
    zipped = zipfile.ZipFile(tmp_path / "b.zip")
    blob += b"".join(zipped.read(n) for n in zipped.namelist())
    blob += plog.path().read_bytes()
    with sqlite3.connect(plog.path()) as con:
        blob += repr(con.execute("SELECT * FROM publishes").fetchall()).encode()
    blob += recipe.read_bytes()
    for secret in (PASSWORD, TOKEN, USER):
        assert secret.encode() not in blob


def test_portal_fields_list_what_the_portal_shows():
    view = socrata.view_payload({"title": "T", "category": "Government", "tags": ["a", "b"], "agency": "DPH",
                                 "update_frequency": "Monthly", "row_label": "Death"}, release_df())
    fields = dict(socrata.portal_fields(view))
    assert fields["Category"] == "Government" and fields["Tags"] == "a, b" and fields["Row label"] == "Death"
    assert any(v == "Monthly" for v in fields.values())


def test_publish_logged_continues_an_unfinished_creation(emu, creds):
    recipe = {"version": 1, "steps": [], "metadata": {"title": "Logged"}}
    emu.fail(503, path="publication", times=100)
    with pytest.raises(PublishError):
        socrata.publish_logged(release_df(), recipe, emu.url, creds, client=client(emu, creds, retries=0))
    first = next(iter(emu.datasets))
    emu.faults.clear()
    result = socrata.publish_logged(release_df(), recipe, emu.url, creds, by="Reviewer", client=client(emu, creds))
    assert result.dataset_id == first and len(emu.datasets) == 1
    statuses = [e.status for e in plog.entries()]
    assert statuses[:2] == ["private", "started"] and "failed" in statuses and "created" in statuses
    # a later, deliberate creation with the same title makes a new dataset (the last one finished)
    again = socrata.publish_logged(release_df(), recipe, emu.url, creds, client=client(emu, creds))
    assert again.dataset_id != first and len(emu.datasets) == 2


def test_record_exception():
    recipe = {"steps": []}
    assert "words" in gate.record_exception(recipe, "because", "Me") and "exception" not in recipe
    # without the verdict it is about, an exception would cover nothing: refused
    assert "covers" in gate.record_exception(recipe, "A public register: names are the point.", "Me")
    df = pd.DataFrame({"Name": ["A", "B"] * 3}, dtype="str")
    recipe = {"steps": [], "roles": {"Name": "direct"}}
    verdict = _gate(df, recipe)
    assert gate.record_exception(recipe, "  A public register:\n names are the point. ", "Me", at="2026-11-24",
                                 verdict=verdict) is None
    assert recipe["exception"] == {"justification": "A public register: names are the point.", "by": "Me",
                                   "at": "2026-11-24", "covers": {"direct": ["Name"], "quasi": [], "k": 6,
                                                                  "free_text": [], "l": {}}}
    assert _gate(df, recipe).passed


def test_no_credentials_in_logs_even_at_debug(emu, creds, caplog):
    import logging
    caplog.set_level(logging.DEBUG)
    socrata.publish(release_df(), VIEW, emu.url, creds, make_public=True, client=client(emu, creds))
    emu.fail(401, times=5)
    with pytest.raises(PublishError):
        socrata.publish(release_df(), VIEW, emu.url, creds, client=client(emu, creds))
    assert caplog.records                      # requests/urllib3 did log at debug level
    text = caplog.text
    for secret in (PASSWORD, TOKEN):
        assert secret not in text


def test_replace_refuses_columns_the_dataset_lacks_before_changing_anything(emu, creds):
    old = pd.DataFrame({"Town": ["Avon"]}, dtype="str")
    ident = emu.add_dataset("Old", socrata.columns_payload(old), rows=[{"town": "Avon"}], public=True)
    with pytest.raises(ConfigError, match="no column for Year, Deaths, ZIP"):
        socrata.publish(release_df(), VIEW, emu.url, creds, dataset_id=ident, mode="replace", client=client(emu, creds))
    assert emu.datasets[ident].rows == [{"town": "Avon"}] and emu.datasets[ident].view["name"] == "Old"


def test_public_dataset_is_replaced_in_one_request(emu, creds):
    df = release_df(7)
    ident = _existing(emu, df, public=True)
    emu.fail(500, method="PUT", path="/resource/", times=100)
    with pytest.raises(PublishError):
        socrata.publish(df, VIEW, emu.url, creds, dataset_id=ident, mode="replace", chunk=2,
                        client=client(emu, creds, retries=1))
    assert emu.datasets[ident].rows == [{"town": "Old", "year": "1999", "deaths": "9"}]   # untouched, not half-new
    emu.faults.clear()
    socrata.publish(df, VIEW, emu.url, creds, dataset_id=ident, mode="replace", chunk=2, client=client(emu, creds))
    calls = [m for m, p in emu.requests if p.startswith("/resource/")]
    assert "POST" not in calls and emu.datasets[ident].rows == as_portal_rows(df)


def test_cli_asked_to_publish_without_credentials_fails_instead_of_bundling(tmp_path, no_creds, capsys, source_file):
    recipe = write_recipe(tmp_path, target={"dataset_id": "abcd-1234"})      # a monthly update's recipe
    code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--json")
    assert code == 2 and out == "" and "No portal credentials" in err
    assert not list(tmp_path.glob("*bundle*"))
    code, out, _ = run_cli(capsys, source_file, "--recipe", recipe, "--bundle", tmp_path / "b", "--json")
    assert code == 0 and json.loads(out)["status"] == "bundle"


def test_publish_that_went_through_but_timed_out_is_not_an_error(emu, creds):
    emu.fail("timeout", path="publication", times=1, processed=True, delay=0.6)
    result = socrata.publish(release_df(), VIEW, emu.url, creds, client=client(emu, creds, timeout=0.3))
    ds = emu.datasets[result.dataset_id]
    assert ds.published and not ds.public and len(emu.datasets) == 1
    # continuing a dataset that is already published skips the publication step
    again = socrata.publish(release_df(), VIEW, emu.url, creds, dataset_id=result.dataset_id, client=client(emu, creds))
    assert again.dataset_id == result.dataset_id and again.status == "private"


def test_public_dataset_is_upserted_in_one_request(emu, creds):
    df = pd.DataFrame({"Case": [f"A{i}" for i in range(5)], "Town": ["Avon"] * 5}, dtype="str")
    ident = emu.add_dataset("Cases", socrata.columns_payload(df), public=True, row_identifier="case")
    socrata.publish(df, VIEW, emu.url, creds, dataset_id=ident, mode="upsert", row_identifier="Case", chunk=2,
                    client=client(emu, creds))
    assert [m for m, p in emu.requests if p.startswith("/resource/")] == ["POST"]
    assert len(emu.datasets[ident].rows) == 5


# --- credentials go only where the person running ctopen says -----------------------------------------

def test_a_recipe_cannot_send_credentials_to_the_host_it_names(tmp_path, emu, env_creds, capsys, source_file):
    other = SodaEmulator(username=USER, password=PASSWORD)
    other.start()
    try:
        recipe = write_recipe(tmp_path, target={"portal": other.url})
        # no --portal: the recipe's host is not used, and the run is refused before anything is sent
        code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--json")
        assert code == 2 and "credentials are sent only to the portal given with --portal" in err
        # --portal names another host than the recipe: refused too
        code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--portal", emu.url, "--json")
        assert code == 2 and other.url.split("//")[1] in err
        assert other.requests == [] and emu.requests == []
        # the person running it names the recipe's portal on purpose: published there
        code, out, err = run_cli(capsys, source_file, "--recipe", recipe, "--portal", other.url, "--json")
        assert code == 0 and json.loads(out)["status"] == "private" and other.requests
    finally:
        other.stop()


def test_the_portal_from_the_environment_is_where_credentials_go(tmp_path, emu, env_creds, capsys, source_file,
                                                                   monkeypatch):
    monkeypatch.setenv("SOCRATA_DOMAIN", emu.url)
    code, out, _ = run_cli(capsys, source_file, "--recipe", write_recipe(tmp_path), "--json")
    assert code == 0 and json.loads(out)["status"] == "private" and emu.requests


@pytest.mark.parametrize("portal", ["http://data.ct.gov", "http://10.0.0.5:8080", "http://example.org"])
def test_http_is_refused_except_for_a_loopback_test_address(portal):
    with pytest.raises(ConfigError, match="http://"):
        socrata.portal_parts(portal)
    assert socrata.portal_parts("http://127.0.0.1:8123") == ("http", "127.0.0.1:8123")
    assert socrata.portal_parts("http://localhost:8123")[0] == "http"
    assert socrata.portal_parts("data.ct.gov") == ("https", "data.ct.gov")
