"""Agreement: for random recipes (with and without roles, decisions, a k, an exception, an aggregate) on a real
file, the app (AppTest: the Publish page and the sidebar), `ctopen publish --dry-run --json`, the report inside
the bundle and the core Review give the same roles, the same k and the same verdict (issue 14).

CTOPEN_AGREEMENT_EXAMPLES sets the number of random recipes (default 20, for CI)."""
from __future__ import annotations

import io
import json
import os
import re
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ctopen import cli
from ctopen.detect import detect
from ctopen.load import load
from ctopen.review import Review
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data" / "drug_deaths_600.csv"
EXAMPLES = int(os.environ.get("CTOPEN_AGREEMENT_EXAMPLES", "20"))
KEEP = ["Age", "Sex", "Race", "ResidenceCity"]          # the quasi-identifiers the recipes work on
AT = "2026-11-29T10:00:00+00:00"


@pytest.fixture(scope="module")
def table():
    return load(DATA)


@pytest.fixture(scope="module")
def detection(table):
    return detect(table.df)


def _other_quasi(detection) -> list[str]:
    """The drug-deaths file's quasi-identifiers and identifiers outside the ones the recipes work on."""
    if not any(c.name == "ResidenceCity" for c in detection.columns):
        return []
    return [c.name for c in detection.columns if c.role in ("quasi", "direct") and c.name not in KEEP + ["ID"]]


@st.composite
def recipes(draw):
    """A recipe on the drug-deaths trim: the quasi-identifiers outside KEEP are dropped (by name, filled in by
    the test), the others generalized at random levels, maybe suppressed or counted; maybe roles (some lowering
    a detected role, with or without a recorded reason), a k, an exception."""
    steps = []
    if draw(st.booleans()):
        steps.append({"op": "drop", "column": "ID"})
    elif draw(st.booleans()):
        steps.append({"op": "rename", "column": "ID", "to": "Case"})
    age = draw(st.integers(0, 4))
    if age:
        steps.append({"op": "generalize", "column": "Age", "hierarchy": "age", "level": age})
    race = draw(st.integers(0, 2))
    if race:
        steps.append({"op": "generalize", "column": "Race", "hierarchy": "category", "level": race, "min_count": 5})
    town = draw(st.integers(0, 3))
    if town:
        steps.append({"op": "generalize", "column": "ResidenceCity", "hierarchy": "ct_town", "level": town})
    if draw(st.booleans()):
        steps.append({"op": "drop", "column": "Sex"})
    last = draw(st.sampled_from(["none", "suppress", "suppress_all", "aggregate"]))
    if last == "suppress":
        steps.append({"op": "suppress", "k": draw(st.integers(2, 8)), "max_share": draw(st.sampled_from([0.05, 0.5, 1.0]))})
    elif last == "suppress_all":
        steps.append({"op": "suppress", "k": draw(st.integers(2, 8)), "max_share": 1.0,
                      "columns": [c for c in KEEP if not any(s.get("op") == "drop" and s.get("column") == c for s in steps)]})
    elif last == "aggregate":
        by = [c for c in ("ResidenceCity", "Sex") if not any(s.get("op") == "drop" and s.get("column") == c for s in steps)]
        steps.append({"op": "aggregate", "by": by or ["Race"]})
    recipe = {"version": 1, "steps": steps}
    roles = draw(st.dictionaries(st.sampled_from(KEEP + ["ID", "COD"]),
                                 st.sampled_from(["direct", "quasi", "sensitive", "other"]), max_size=3))
    if roles:
        recipe["roles"] = roles
        if draw(st.booleans()):
            recipe["decisions"] = [{"column": c, "role": r, "by": "Pat", "at": AT,
                                    "reason": draw(st.sampled_from(["x", "coded values, not the real ones"]))}
                                   for c, r in roles.items()]
    if draw(st.booleans()):
        recipe["k"] = draw(st.sampled_from([3, 5, 6, 10]))
    if draw(st.booleans()):
        recipe["exception"] = {"justification": "counts of a statewide program that are published by statute",
                               "by": "Pat", "at": AT,
                               "covers": {"direct": draw(st.sampled_from([[], ["ID"], ["Case"]])),
                                          "quasi": draw(st.sampled_from([[], KEEP])), "k": draw(st.integers(1, 5))}}
    return recipe


def _cli(*args) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return code, out.getvalue() or err.getvalue()


def _report_figures(html: str) -> dict:
    body = re.sub(r"\s+", " ", html)
    verdict = re.search(r"<p class='verdict'>(\w+)", body).group(1)
    k_after = re.search(r"Smallest group \(k\)</td><td>[^<]*</td><td>([^<]*)</td>", body).group(1)
    roles = dict(re.findall(r"<tr><td>([^<]+)</td><td>(direct|quasi|sensitive|other)</td>", body))
    return {"passed": verdict == "PASSED", "k": None if k_after == "n/a" else int(k_after.replace(",", "")),
            "roles": roles}


def _app(table, recipe, detection) -> dict:
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["table"] = table
    at.session_state["recipe"] = json.loads(json.dumps(recipe))
    at.session_state["detection"] = detection
    at.session_state["detection_for"] = table.source.sha256
    at.run()      # the first run draws the sidebar (AppTest re-runs only the page script after it)
    assert not at.exception, [e.value for e in at.exception]
    side = [m.value for m in at.sidebar.markdown]
    at.switch_page("pages/publish.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if any("cannot be published" in e.value or "recipe" in e.value.lower() for e in at.error) and not at.success \
            and not any("Blocked" in e.value for e in at.error):
        return {"error": True}
    passed = any(s.value.startswith("Passed") for s in at.success) or \
        any(w.value.startswith("Passed by a recorded exception") for w in at.warning)
    blocked = any(e.value.startswith("Blocked") for e in at.error)
    assert passed != blocked
    risk_line = next(m for m in side if m.startswith(":material/") and "**Risk**" in m)
    k = re.search(r"(?:k = |at least )(\d[\d,]*)", risk_line)
    return {"passed": passed, "k": int(k.group(1).replace(",", "")) if k else None, "risk_line": risk_line,
            "review": at.session_state["_review_obj"]}


def _case(table, detection, recipe, tmp_path, with_app, data=DATA):
    drops = [{"op": "drop", "column": c} for c in _other_quasi(detection)]
    recipe = {**recipe, "steps": drops + recipe["steps"]}
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    try:
        core = Review(table.df, json.loads(json.dumps(recipe)), detection=detection)
        gate = core.gate
    except Exception as exc:        # a recipe the core refuses: every path refuses it with the same sentence
        from ctopen.errors import CtopenError
        assert isinstance(exc, CtopenError)
        code, text = _cli("publish", data, "--recipe", path, "--dry-run", "--json")
        assert code == 2 and str(exc) in text
        return "refused"
    code, text = _cli("publish", data, "--recipe", path, "--dry-run", "--json")
    out = json.loads(text)
    assert code == (0 if gate.passed else 3)
    assert out["gate"]["passed"] == gate.passed and out["gate"]["k"] == gate.k
    assert out["gate"]["roles"] == json.loads(json.dumps(core.roles_json()))
    assert out["rows"] == len(core.release)
    if not gate.counts and gate.k is not None and gate.quasi:
        assert gate.k == core.risk.k_min                     # the verdict's k is the risk figure
    # the report inside the bundle (written only when the gate passes), else the report the app offers
    if gate.passed:
        code, text = _cli("publish", data, "--recipe", path, "--bundle", tmp_path / "b.zip", "--json")
        assert code == 0
        with zipfile.ZipFile(tmp_path / "b.zip") as z:
            html = next(z.read(n).decode() for n in z.namelist() if n.endswith(".html"))
    else:
        html = core.report()
    rep = _report_figures(html)
    assert rep["passed"] == gate.passed and rep["k"] == gate.k
    assert rep["roles"] == core.roles
    if with_app:
        app = _app(table, recipe, detection)
        assert app["passed"] == gate.passed and app["k"] == gate.k, (app["risk_line"], gate.reasons)
        assert app["review"].roles == core.roles
    return "passed" if gate.passed else "blocked"


OUTCOMES: dict[str, int] = {}


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(recipe=recipes())
def test_app_cli_report_and_core_agree(recipe, table, detection, tmp_path):
    outcome = _case(table, detection, recipe, tmp_path, with_app=True)
    OUTCOMES[outcome] = OUTCOMES.get(outcome, 0) + 1


@st.composite
def generated(draw):
    """A generated file (names or codes, ages, ZIPs, sex, a note) and a recipe over it."""
    import numpy as np
    import pandas as pd
    n = draw(st.integers(20, 300))
    rng = np.random.default_rng(draw(st.integers(0, 10_000)))
    first = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda"]
    last = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis"]
    df = pd.DataFrame({
        "Client Name": [f"{rng.choice(first)} {rng.choice(last)}" for _ in range(n)],
        "Age": rng.integers(18, 90, n).astype(str),
        "ZIP": rng.choice(["06010", "06103", "06105", "06450", "06511", "06810"], n),
        "Sex": rng.choice(["M", "F"], n),
        "Visits": rng.integers(0, 4, n).astype(str)})
    steps = []
    if draw(st.booleans()):
        steps.append({"op": "drop", "column": "Client Name"})
    if age := draw(st.integers(0, 4)):
        steps.append({"op": "generalize", "column": "Age", "hierarchy": "age", "level": age})
    if z := draw(st.integers(0, 3)):
        steps.append({"op": "generalize", "column": "ZIP", "hierarchy": "zip", "level": z})
    if draw(st.booleans()):
        steps.append({"op": "suppress", "k": draw(st.integers(2, 6)), "max_share": draw(st.sampled_from([0.1, 1.0]))})
    recipe = {"version": 1, "steps": steps}
    if draw(st.booleans()):
        recipe["roles"] = {"ZIP": draw(st.sampled_from(["quasi", "other"])), "Visits": "other"}
    return df, recipe


@settings(max_examples=max(EXAMPLES // 2, 5), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=generated())
def test_generated_files_cli_report_and_core_agree(case, tmp_path):
    df, recipe = case
    path = tmp_path / "generated.csv"
    df.to_csv(path, index=False)
    table = load(path)
    outcome = _case(table, detect(table.df), recipe, tmp_path, with_app=False, data=path)
    OUTCOMES[outcome] = OUTCOMES.get(outcome, 0) + 1


def test_each_outcome_is_reached_and_agrees(table, detection, tmp_path):
    """Three fixed recipes (a pass, a block, a refusal) through every path: the agreement is not about one
    verdict."""
    passing = {"version": 1, "steps": [{"op": "drop", "column": "ID"}, {"op": "drop", "column": "Sex"},
                                        {"op": "drop", "column": "Race"},
                                        {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 4},
                                        {"op": "generalize", "column": "ResidenceCity", "hierarchy": "ct_town", "level": 2}]}
    blocked = {"version": 1, "steps": [{"op": "drop", "column": "ID"}]}
    refused = {"version": 1, "steps": [{"op": "rename", "column": "ID", "to": "Age"}]}
    assert [_case(table, detection, r, tmp_path, with_app=True) for r in (passing, blocked, refused)] == \
        ["passed", "blocked", "refused"]


def test_report_outcomes(capsys):
    """Prints how many cases ended in each outcome (for the closing note)."""
    with capsys.disabled():
        print(f"\nagreement cases: {sum(OUTCOMES.values())} {OUTCOMES}")
