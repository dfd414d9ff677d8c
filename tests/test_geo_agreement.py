"""Agreement for map releases (issue 19): for random geo recipes (hexagons at any resolution, towns, counties, `by`
columns, thresholds, spatial_k, renames after counting, a k) on a trim of the claims file, the core Review,
`publish --dry-run --json` to both portals, `apply --out OUT.geojson`, the bundle's map.geojson and its report give
the same verdict, the same k, the same rows and the same features; the app's Publish page gives the same verdict
and feature count for a passing and a blocked map.

CTOPEN_AGREEMENT_EXAMPLES sets the number of random recipes (default 20 for the other agreement test; here a third)."""
from __future__ import annotations

import io
import json
import os
import zipfile
from contextlib import redirect_stderr, redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ctopen import cli, geo
from ctopen.detect import detect
from ctopen.errors import CtopenError
from ctopen.load import load
from ctopen.review import Review
from tests.conftest import ROOT
from tests.test_agreement import _report_figures

CLAIMS = ROOT / "tests" / "data" / "geo" / "claims_homes.csv"
EXAMPLES = max(int(os.environ.get("CTOPEN_AGREEMENT_EXAMPLES", "20")) // 3, 6)
ROWS = 600
ENV = ("ARCGIS_URL", "ARCGIS_USERNAME", "ARCGIS_PASSWORD", "ARCGIS_API_KEY", "SOCRATA_USERNAME", "SOCRATA_PASSWORD",
       "SOCRATA_KEY_ID", "SOCRATA_KEY_SECRET")
META = {"title": "Claims by home hexagon", "description": "Claims counted by the member's home."}


@pytest.fixture(scope="module")
def trim(tmp_path_factory):
    path = tmp_path_factory.mktemp("geo-agreement") / "claims_600.csv"
    lines = CLAIMS.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[: ROWS + 1]), encoding="utf-8")
    table = load(path)
    return path, table, detect(table.df)


@pytest.fixture(autouse=True)
def no_portal(monkeypatch, tmp_path):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CTOPEN_STATE_DIR", str(tmp_path / "state"))


@st.composite
def geo_recipes(draw):
    steps = [{"op": "drop", "column": "MemberName"}, {"op": "drop", "column": "ClaimID"}]
    kind = draw(st.sampled_from(["h3", "town", "county", "spatial_k"]))
    if kind == "spatial_k":
        for c in draw(st.lists(st.sampled_from(["ServiceDate", "Age", "Diagnosis", "PaidAmount", "ResidenceTown"]),
                               unique=True, max_size=5)):
            steps.append({"op": "drop", "column": c})
        steps.append({"op": "spatial_k", "lat": "ResidenceLat", "lon": "ResidenceLon", "k": draw(st.integers(2, 12)),
                      "min_decimals": draw(st.integers(0, 3))})
    else:
        # small cubes only (a hexagon by date by age has millions of cells: the same code, minutes of GeoJSON)
        by = draw(st.sampled_from([[], ["Sex"], ["Diagnosis"], ["Sex", "Diagnosis"], ["Age"], ["ServiceDate"]]))
        step = {"op": "spatial_aggregate", "method": kind, "by": by, "threshold": draw(st.integers(1, 6))}
        if kind == "h3":
            step.update(lat="ResidenceLat", lon="ResidenceLon", resolution=draw(st.integers(4, 9 if len(by) < 1 or by == ["Sex"] else 8)))
        else:
            step["town"] = "ResidenceTown"
        steps.append(step)
        if draw(st.booleans()):
            steps.append({"op": "rename", "column": "count", "to": "claims"})
    recipe = {"version": 1, "steps": steps, "metadata": META}
    if draw(st.booleans()):
        recipe["k"] = draw(st.sampled_from([3, 5, 8]))
    return recipe


def _cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def _features(collection: dict) -> list:
    return json.loads(json.dumps(collection["features"]))


def _case(trim, recipe, tmp_path) -> str:
    path, table, detection = trim
    rfile = tmp_path / "recipe.json"
    rfile.write_text(json.dumps(recipe))
    try:
        core = Review(table.df, json.loads(json.dumps(recipe)), detection=detection)
        gate = core.gate
        rows = core.portal_view.rows
    except CtopenError as exc:      # refused by the core: every path refuses it with the same sentence
        for args in (("publish", path, "--recipe", rfile, "--dry-run", "--json"),
                     ("publish", path, "--recipe", rfile, "--to", "arcgis", "--dry-run", "--json"),
                     ("apply", path, "--recipe", rfile, "--out", tmp_path / "x.geojson")):
            code, _out, err = _cli(*args)
            assert code == 2 and str(exc) in err and "Traceback" not in err
        return "refused"
    located = geo.map_location(rows, recipe)
    want = _features(geo.to_geojson(rows)) if located is not None else None
    for to in ("socrata", "arcgis"):
        code, out, err = _cli("publish", path, "--recipe", rfile, "--to", to, "--dry-run", "--json")
        if to == "arcgis" and gate.passed and located is None:
            assert code == 2 and "no location to put on a map" in err
            continue
        got = json.loads(out)
        assert code == (0 if gate.passed else 3), (to, err)
        assert got["gate"]["passed"] == gate.passed and got["gate"]["k"] == gate.k, to
        assert got["gate"]["reasons"] == gate.reasons and got["rows"] == len(rows), to
        if to == "arcgis" and gate.passed:
            assert got["features"] == len(want)
    # apply writes the same layer (it does not judge: it writes what the recipe makes)
    code, out, err = _cli("apply", path, "--recipe", rfile, "--out", tmp_path / "out.geojson", "--json")
    if located is None and geo.release_location(rows) is None:
        assert code == 2 and "no location to map" in err
    else:
        assert code == 0, err
        written = json.loads((tmp_path / "out.geojson").read_text(encoding="utf-8"))
        assert json.loads(out)["rows"] == len(rows) == len(written["features"])
        if want is not None:
            assert written["features"] == want
    if gate.passed:                 # the bundle holds the same layer and a report with the same verdict
        code, out, err = _cli("publish", path, "--recipe", rfile, "--to", "arcgis" if located else "socrata",
                              "--bundle", tmp_path / "b.zip", "--json")
        assert code == 0, err
        with zipfile.ZipFile(tmp_path / "b.zip") as z:
            names = set(z.namelist())
            html = next(z.read(n).decode() for n in names if n.endswith(".html"))
            if want is not None:
                assert json.loads(z.read("map.geojson"))["features"] == want
            else:
                assert "map.geojson" not in names
        rep = _report_figures(html)
        assert rep["passed"] and rep["k"] == gate.k
    else:
        rep = _report_figures(core.report())
        assert not rep["passed"] and rep["k"] == gate.k
    return "passed" if gate.passed else "blocked"


OUTCOMES: dict[str, int] = {}


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(recipe=geo_recipes())
def test_core_cli_apply_and_bundle_agree_on_map_releases(recipe, trim, tmp_path):
    outcome = _case(trim, recipe, tmp_path)
    OUTCOMES[outcome] = OUTCOMES.get(outcome, 0) + 1


HEX = {"op": "spatial_aggregate", "lat": "ResidenceLat", "lon": "ResidenceLon", "method": "h3", "resolution": 6,
       "by": [], "threshold": 5}


@pytest.mark.parametrize("steps, passed", [
    ([HEX], True),
    ([{**HEX, "resolution": 7, "by": ["Sex", "Diagnosis"]}], False),     # nearly a cell per record
    ([{**HEX, "resolution": 9}], False),                                    # hexagons that point at houses
], ids=["hexagons", "hexagons-by-sex-diagnosis", "resolution-9"])
def test_the_app_gives_the_same_verdict_and_features(trim, tmp_path, steps, passed):
    from streamlit.testing.v1 import AppTest
    path, table, detection = trim
    recipe = {"version": 1, "steps": [{"op": "drop", "column": "MemberName"}, {"op": "drop", "column": "ClaimID"}]
              + steps, "metadata": META}
    assert _case(trim, recipe, tmp_path) == ("passed" if passed else "blocked")
    core = Review(table.df, json.loads(json.dumps(recipe)), detection=detection)
    at = AppTest.from_file(str(ROOT / "pages" / "publish.py"), default_timeout=120)
    at.session_state["table"] = table
    at.session_state["detection"] = detection
    at.session_state["detection_for"] = table.source.sha256
    at.session_state["recipe"] = json.loads(json.dumps(recipe))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = any(s.value.startswith("Passed") for s in at.success)
    blocked = any(e.value.startswith("Blocked") for e in at.error)
    assert (shown, blocked) == (passed, not passed)
    assert at.session_state["_review_obj"].gate.reasons == core.gate.reasons
    preview = at.dataframe[0].value                  # a suppressed count is shown empty, as it is published
    assert preview["count"].isna().sum() == 0 and (preview["count"] == "").sum() == core.release["count"].head(20).isna().sum()
    features = len(geo.to_geojson(core.portal_view.rows)["features"])
    assert any(f"{features:,} features" in c.value for c in at.caption), [c.value for c in at.caption]


def test_report_outcomes(capsys):
    """Prints how many cases ended in each outcome (for the closing note)."""
    with capsys.disabled():
        print(f"\ngeo agreement cases: {sum(OUTCOMES.values())} {OUTCOMES}")
