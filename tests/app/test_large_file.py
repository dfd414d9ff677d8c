"""The app, given a file too large to load in memory (issue 20): it never loads it whole; it reviews it on DuckDB
with a clear note (risk over every record, roles from a sample, a saved recipe applied by the engine to a file to
download, the exact CLI commands). The threshold is a setting (ENGINE_AUTO_MB): the tests make it tiny."""
from __future__ import annotations

import json
import os

import pytest

import ctopen.load
from ctopen import settings
from ctopen.load import load
from ctopen.risk import assess
from tests.app.helpers import app, errors
from tests.conftest import ROOT

SAMPLE = ROOT / "tests" / "data" / "drug_deaths_600.csv"
QUASI = ["Age", "Sex", "Race", "ResidenceCity"]
RECIPE = {"version": 1, "roles": {"ID": "direct"}, "steps": [
    {"op": "drop", "column": "ID"},
    {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2, "top_code": 80},
    {"op": "generalize", "column": "ResidenceCity", "hierarchy": "ct_town", "level": 1},
    {"op": "suppress", "k": 5, "columns": QUASI, "max_share": 0.2},
]}


@pytest.fixture
def tiny_threshold(monkeypatch):
    """Files over 10 KB count as too large; and the loader must never be called for them."""
    monkeypatch.setattr(settings, "ENGINE_AUTO_MB", 0.01)
    calls = []
    real = ctopen.load.load

    def spy(*args, **kwargs):
        calls.append(args[1] if len(args) > 1 else kwargs.get("name"))
        return real(*args, **kwargs)

    monkeypatch.setattr(ctopen.load, "load", spy)
    return calls


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def _upload_large(at):
    at.file_uploader[0].upload(SAMPLE.name, SAMPLE.read_bytes(), "text/csv").run()
    assert not errors(at)
    return at


def test_a_large_upload_is_reviewed_on_duckdb_and_never_loaded(tiny_threshold):
    at = _upload_large(app().run())
    assert tiny_threshold == []                                      # ctopen.load.load never ran
    assert "table" not in at.session_state                          # no table held in the session
    note = next(i.value for i in at.info if "reviewed on DuckDB" in i.value)
    assert "ENGINE_AUTO_MB" in note and "roles proposed from a sample" in note
    assert _metric(at, "Rows") == "600" and _metric(at, "Columns") == "41"
    assert any("detection read all 600 rows" in c.value for c in at.caption)
    # the direct identifier proposed by detection is masked in the first rows
    head = next(d.value for d in at.dataframe if "ID" in d.value.columns and len(d.value) == 20)
    assert not set(head["ID"].dropna()) & set(load(SAMPLE).df["ID"].head(20).dropna())
    # the copy of the upload is on the disk, in the state folder
    saved = list((settings.state_dir() / "large-files").iterdir())
    assert len(saved) == 1 and saved[0].read_bytes() == SAMPLE.read_bytes()


def test_risk_figures_come_from_the_engine_and_equal_the_in_memory_ones(tiny_threshold):
    at = _upload_large(app().run())
    at.multiselect(key="large_quasi").set_value(QUASI)
    at.multiselect(key="large_sensitive").set_value(["MannerofDeath"]).run()
    next(b for b in at.button if b.label == "Compute the risk figures on DuckDB").click().run()
    assert not errors(at)
    expected = assess(load(SAMPLE).df, QUASI, ["MannerofDeath"], k=5)
    assert _metric(at, "Smallest group (k)") == f"{expected.k_min:,}"
    assert _metric(at, "Records at risk (groups < 5)") == f"{expected.records_at_risk:,}"
    assert _metric(at, "Unique records") == f"{expected.uniques:,}"
    assert tiny_threshold == []


def test_a_saved_recipe_is_applied_by_the_engine_to_a_release_file(tiny_threshold, tmp_path):
    from ctopen.cli import main
    at = _upload_large(app().run())
    at.multiselect(key="large_quasi").set_value(QUASI).run()
    at.file_uploader(key="large_recipe").upload("recipe.json", json.dumps(RECIPE).encode(), "application/json").run()
    at.radio(key="large_fmt").set_value("CSV (what `ctopen apply` writes)").run()
    next(b for b in at.button if b.label.startswith("Apply recipe.json on DuckDB")).click().run()
    assert not errors(at)
    done = at.session_state["large_applied"]
    written = settings.state_dir() / "releases" / "drug_deaths_600-release.csv"
    assert done["out"] == str(written) and written.exists()
    assert any("records written" in s.value for s in at.success)
    assert any(b.label.startswith("Download the release") for b in at.get("download_button"))
    assert tiny_threshold == []                     # the app never loaded the file
    # the file is the one `ctopen apply` writes from the in-memory path
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(RECIPE), encoding="utf-8")
    assert main(["apply", str(SAMPLE), "--recipe", str(recipe), "--out", str(tmp_path / "pandas.csv"),
                 "--engine", "pandas", "--json"]) == 0
    assert written.read_bytes() == (tmp_path / "pandas.csv").read_bytes()
    # and its risk, measured on the release over the remaining quasi-identifiers, is shown
    assert any("release's risk" in m.value for m in at.markdown)


def test_the_exact_commands_are_shown(tiny_threshold):
    at = _upload_large(app().run())
    at.multiselect(key="large_quasi").set_value(["Age", "Sex"]).run()
    code = [" ".join(c.value.replace("\\\n", " ").split()) for c in at.code]      # one line each
    saved = next((settings.state_dir() / "large-files").iterdir())
    assert any(c.startswith(f"python -m ctopen risk {saved}") and "--qi Age --qi Sex" in c
               and c.endswith("--engine duckdb") for c in code)
    assert any("apply" in c and "--engine duckdb" in c for c in code)
    assert any("ctopen sql --recipe recipe.json" in c and "--dialect spark" in c for c in code)


def test_a_path_outside_the_allowed_folders_is_refused(tiny_threshold, monkeypatch, tmp_path):
    monkeypatch.delenv("CTOPEN_DATA_FOLDERS", raising=False)
    at = app().run()
    at.text_input(key="large_path").set_value(str(SAMPLE))
    next(b for b in at.button if b.label == "Open this file").click().run()
    assert not errors(at)
    assert any("CTOPEN_DATA_FOLDERS" in e.value for e in at.error)
    assert "large_file" not in at.session_state


def test_a_path_inside_an_allowed_folder_is_opened_on_duckdb(tiny_threshold, monkeypatch, tmp_path):
    folder = tmp_path / "extracts"
    folder.mkdir()
    (folder / "claims.csv").write_bytes(SAMPLE.read_bytes())
    monkeypatch.setenv("CTOPEN_DATA_FOLDERS", str(folder))
    at = app().run()
    at.text_input(key="large_path").set_value(str(folder / "claims.csv"))
    next(b for b in at.button if b.label == "Open this file").click().run()
    assert not errors(at)
    assert at.session_state["large_file"]["path"] == str((folder / "claims.csv").resolve())
    assert _metric(at, "Rows") == "600"
    assert tiny_threshold == []
    # a symbolic link out of the folder is judged by where it leads
    os.symlink(SAMPLE, folder / "link.csv")
    at.text_input(key="large_path").set_value(str(folder / "link.csv"))
    next(b for b in at.button if b.label == "Open this file").click().run()
    assert any("CTOPEN_DATA_FOLDERS" in e.value for e in at.error)


def test_an_ordinary_file_after_a_large_one_is_loaded_as_usual(tiny_threshold, monkeypatch):
    at = _upload_large(app().run())
    monkeypatch.setattr(settings, "ENGINE_AUTO_MB", 300)
    next(b for b in at.button if b.label.startswith("Try a sample")).click().run()
    assert not errors(at)
    assert "large_file" not in at.session_state and "table" in at.session_state
    assert not any("reviewed on DuckDB" in i.value for i in at.info)
    assert list((settings.state_dir() / "large-files").iterdir()) == []      # the upload's disk copy is gone


def test_a_large_file_duckdb_cannot_read_gets_one_sentence(tiny_threshold, tmp_path, monkeypatch):
    """A Windows-1252 CSV over the threshold: DuckDB reads UTF-8 only; the page says so and what to do."""
    data = ("Name,Town\n" + "".join(f"Zoë {i},Norwalk\n" for i in range(2000))).encode("cp1252")
    at = app().run()
    at.file_uploader[0].upload("latin.csv", data, "text/csv").run()
    assert not errors(at)
    message = next(e.value for e in at.error)
    assert "UTF-8" in message and "--engine pandas" in message
    assert tiny_threshold == []
    # under MAX_FILE_MB, the officer may load it into the app as usual (the loader reads Windows-1252)
    next(b for b in at.button if b.label.startswith("Load it into the app instead")).click().run()
    assert not errors(at)
    assert "table" in at.session_state and "large_file" not in at.session_state
    assert at.session_state["table"].df.shape == (2000, 2)
    assert list((settings.state_dir() / "large-files").iterdir()) == []


def test_a_path_to_a_workbook_is_refused_with_what_to_do(tiny_threshold, monkeypatch, tmp_path):
    folder = tmp_path / "extracts"
    folder.mkdir()
    (folder / "claims.xlsx").write_bytes(b"PK\x03\x04" + b"\0" * 20_000)
    monkeypatch.setenv("CTOPEN_DATA_FOLDERS", str(folder))
    at = app().run()
    at.text_input(key="large_path").set_value(str(folder / "claims.xlsx"))
    next(b for b in at.button if b.label == "Open this file").click().run()
    assert not errors(at)
    assert any("not a CSV or Parquet file" in e.value for e in at.error)
    at.text_input(key="large_path").set_value("claims.csv")
    next(b for b in at.button if b.label == "Open this file").click().run()
    assert any("is not a full path" in e.value for e in at.error)
