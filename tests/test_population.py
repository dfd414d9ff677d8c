"""ctopen.population: the Pitman, Zayatz and SNB models against hand-worked cases and their formulas,
Dankar et al.'s decision rule, N = n giving the file's own figures exactly, and finite figures (no NaN,
no overflow) on large populations and files where every record is unique."""
from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ctopen import population as P
from ctopen.load import load
from ctopen.risk import assess

DATA = Path(__file__).resolve().parent / "data"
EULER = 0.5772156649015329


@pytest.fixture(scope="module")
def drug():
    return load(DATA / "drug_deaths_600.csv").df


def hist_of(sizes) -> dict:
    return P._histogram(np.asarray(sizes, dtype=np.int64))


# --- special functions --------------------------------------------------------------------------------

def test_special_functions_match_known_values_and_direct_sums():
    assert P.digamma(np.array([1.0]))[0] == pytest.approx(-EULER, abs=1e-12)
    assert P.digamma(np.array([0.5]))[0] == pytest.approx(-EULER - 2 * math.log(2), abs=1e-12)
    assert P.trigamma(np.array([1.0]))[0] == pytest.approx(math.pi ** 2 / 6, abs=1e-12)
    assert P.trigamma(np.array([0.5]))[0] == pytest.approx(math.pi ** 2 / 2, abs=1e-11)
    for x, m in [(0.3, 7), (29.0, 5), (31.0, 5), (1e4, 300), (1e10, 4000), (2.5, 2000)]:
        i = np.arange(m, dtype=np.float64)
        assert P.lgamma_diff(x, m) == pytest.approx(float(np.sum(np.log(x + i))), rel=1e-12)
        assert P.digamma_diff(x, m) == pytest.approx(float(np.sum(1 / (x + i))), rel=1e-9)
        assert P.trigamma_diff(x, m) == pytest.approx(float(np.sum(1 / (x + i) ** 2)), rel=1e-9)


# --- Zayatz: a case worked by hand ---------------------------------------------------------------------

def test_zayatz_hand_worked():
    """Classes of sizes 1, 1, 2 (n = 4) drawn from N = 8. P(exactly one of a class of j among 4 of 8):
    j = 1: 4/8 = 1/2; j = 2: C(2,1) C(6,3) / C(8,4) = 40/70 = 4/7. The share of file uniques unique in the
    population: (2/3 * 1/2) / (2/3 * 1/2 + 1/3 * 4/7) = 7/11; U = 2 * 7/11 / (4/8) = 28/11."""
    result = P.zayatz({1: 2, 2: 1}, 4, 8)
    assert result.converged
    assert result.uniques == pytest.approx(28 / 11, rel=1e-12)
    # the log-space probabilities equal the combinatorial ones
    logp = P._log_p_one(np.array([1, 2, 3]), 4, 8)
    exact = [j * math.comb(8 - j, 3) / math.comb(8, 4) for j in (1, 2, 3)]
    assert np.exp(logp) == pytest.approx(exact, rel=1e-12)


def test_zayatz_probabilities_stay_finite_for_any_population():
    logp = P._log_p_one(np.array([1, 2, 50, 5000]), 5000, 10 ** 12)
    assert np.all(np.isfinite(logp))
    assert P._log_p_one(np.array([1, 2]), 10, 10)[1] == -np.inf     # N = n: nobody is left out


# --- Pitman: the likelihood, its derivatives and the estimate ------------------------------------------

def pitman_loglik(hist: dict, n: int, t: float, a: float) -> float:
    """Hoshino's log-likelihood of the Pitman sampling formula, by direct sums."""
    u = sum(hist.values())
    out = sum(math.log(t + i * a) for i in range(1, u)) - sum(math.log(t + i) for i in range(1, n))
    for j, f in hist.items():
        out += f * sum(math.log(i - a) for i in range(1, j))
    return out


def test_pitman_likelihood_and_derivatives_match_direct_sums_and_differences():
    hist = {1: 30, 2: 12, 3: 5, 7: 2}
    n = sum(j * f for j, f in hist.items())
    model = P._Pitman(hist, n)
    for t, a in [(5.0, 0.3), (40.0, 0.7), (0.5, 0.05), (200.0, -0.3), (30.0, 0.0)]:
        assert model.value(t, a) == pytest.approx(pitman_loglik(hist, n, t, a), rel=1e-12)
        g, h = model.grad_hess(t, a)
        assert g == pytest.approx(model.grad_direct(t, a), rel=1e-9, abs=1e-9)
        e = 1e-6
        num_g = [(model.value(t + e, a) - model.value(t - e, a)) / (2 * e),
                 (model.value(t, a + e) - model.value(t, a - e)) / (2 * e)]
        assert g == pytest.approx(num_g, rel=1e-5, abs=1e-6)
        num_h = np.column_stack([(model.grad_hess(t + e, a)[0] - model.grad_hess(t - e, a)[0]) / (2 * e),
                                 (model.grad_hess(t, a + e)[0] - model.grad_hess(t, a - e)[0]) / (2 * e)])
        assert h == pytest.approx(num_h, rel=1e-4, abs=1e-5)


def test_pitman_estimate_is_the_likelihood_maximum_and_hoshinos_formula():
    hist = {1: 60, 2: 25, 3: 10, 4: 6, 8: 3, 20: 1}
    n = sum(j * f for j, f in hist.items())
    big_n = 50_000
    result = P.pitman(hist, n, big_n)
    assert result.converged
    t, a = result.parameters["theta"], result.parameters["alpha"]
    assert t > 0 and a < 1
    g = P._Pitman(hist, n).grad_direct(t, a)
    assert abs(g[0]) < 1e-6 and abs(g[1]) < 1e-6
    best = pitman_loglik(hist, n, t, a)
    for dt, da in [(0.01 * t, 0), (-0.01 * t, 0), (0, 0.01), (0, -0.01)]:
        assert pitman_loglik(hist, n, t + dt, a + da) < best
    # the expected classes of one among N: N (t + a)_(N-1) / (t + 1)_(N-1) (rising factorials) ...
    exact = math.exp(math.log(big_n) + math.lgamma(t + a + big_n - 1) - math.lgamma(t + a)
                     - math.lgamma(t + big_n) + math.lgamma(t + 1))
    assert result.uniques == pytest.approx(exact, rel=1e-8)
    # ... whose large-N limit is Hoshino's Gamma(t + 1) / Gamma(t + a) N^a (ARX's formula)
    hoshino = math.exp(math.lgamma(t + 1) - math.lgamma(t + a)) * big_n ** a
    assert result.uniques == pytest.approx(hoshino, rel=0.01)
    far = math.exp(P.pitman_log_uniques(t, a, 10 ** 10))
    assert far == pytest.approx(math.exp(math.lgamma(t + 1) - math.lgamma(t + a)) * 1e10 ** a, rel=1e-5)


def test_pitman_does_not_converge_when_every_record_is_unique():
    result = P.pitman({1: 500}, 500, 100_000)
    assert not result.converged and result.uniques is None and result.detail


# --- SNB: the moment equations against direct summation --------------------------------------------

@pytest.mark.parametrize("a,b,f", [(0.7, 0.3, 0.2), (2.0, 0.05, 0.5), (0.2, 0.8, 0.9)])
def test_snb_equations_are_the_expected_class_counts(a, b, f):
    """E f1 and E f2 of an SNB population (F - 1 ~ NegBin(a, b)) sampled with fraction f, summed term by
    term: the equations ctopen solves (ARX's size-2 equation has (1 - d)^(a + 2), which is not)."""
    k = 1000.0

    def p_size(j):
        m = j - 1
        return math.exp(math.lgamma(m + a) - math.lgamma(a) - math.lgamma(m + 1) + a * math.log(b) + m * math.log(1 - b))

    e1 = k * sum(p_size(j) * j * f * (1 - f) ** (j - 1) for j in range(1, 4000))
    e2 = k * sum(p_size(j) * j * (j - 1) / 2 * f * f * (1 - f) ** (j - 2) for j in range(2, 4000))
    r1, r2 = P.snb_equations(a, b, k, f, 0.0, 0.0)
    assert r1 == pytest.approx(e1, rel=1e-9) and r2 == pytest.approx(e2, rel=1e-9)


def test_shlosser_estimator_hand_worked():
    """Sh3 on sizes {1: 3, 2: 1} with q = 1/2: a1 = 3/4*... worked term by term."""
    q = 0.5
    hist = {1: 3, 2: 1}
    a1 = 1 * q * q * 3 + 2 * q * q * (1 - q * q) * 1
    a2 = ((1 - q * q) - (1 - q)) * 3 + ((1 - q * q) ** 2 - (1 - q) ** 2) * 1
    a3 = (1 - q) * 3 + (1 - q) ** 2 * 1
    a4 = 1 * q * 3 + 2 * q * (1 - q) * 1
    expected = 4 + 3 * (a1 / a2) * (a3 / a4) ** 2
    assert P.shlosser_classes(hist, 10, 5) == pytest.approx(expected, rel=1e-12)
    assert P.shlosser_classes(hist, 5, 5) == 4          # q = 1: every class is in the file


def test_snb_solution_meets_its_equations():
    hist = {1: 120, 2: 40, 3: 15, 4: 8, 6: 4, 10: 2}
    n = sum(j * f for j, f in hist.items())
    result = P.snb(hist, n, 2 * n)
    assert result.converged
    a, b, k = (result.parameters[x] for x in ("alpha", "beta", "K"))
    r1, r2 = P.snb_equations(a, b, k, 0.5, 120, 40)
    assert abs(r1) < 1e-5 * 120 and abs(r2) < 1e-5 * 40
    assert result.uniques == pytest.approx(k * b ** a, rel=1e-12)


# --- the decision rule ---------------------------------------------------------------------------------

def _stub(value):
    return lambda hist, n, big_n: P.ModelResult(value, value is not None, "" if value is not None else "stub failed")


@pytest.mark.parametrize("fraction,pitman,zayatz,snb,model,uniques,note", [
    (0.05, 12.0, 30.0, 5.0, "pitman", 12.0, False),      # small fraction: Pitman
    (0.05, None, 30.0, 5.0, "zayatz", 30.0, True),       # Pitman did not converge: Zayatz, said so
    (0.10, 12.0, 30.0, 5.0, "pitman", 12.0, False),      # 0.1 itself is "small"
    (0.5, 12.0, 30.0, 5.0, "snb", 5.0, False),           # larger: the smaller of Zayatz and SNB
    (0.5, 12.0, 3.0, 5.0, "zayatz", 3.0, False),
    (0.5, 12.0, 30.0, None, "zayatz", 30.0, True),       # SNB did not converge: Zayatz, said so
])
def test_decision_rule_picks_the_model_dankar_et_al_pick(monkeypatch, fraction, pitman, zayatz, snb, model, uniques,
                                                         note):
    monkeypatch.setattr(P, "pitman", _stub(pitman))
    monkeypatch.setattr(P, "zayatz", _stub(zayatz))
    monkeypatch.setattr(P, "snb", _stub(snb))
    sizes = [1] * 10 + [2] * 45           # n = 100
    out = P.estimate(sizes, round(100 / fraction))
    assert out.model == model and out.uniques == uniques
    assert bool(out.notes) == note
    if note:
        assert "did not converge" in out.notes[0] and "Zayatz model was used instead" in out.notes[0]


def test_decision_rule_on_a_real_trim_matches_each_models_own_estimate(drug):
    report = assess(drug, ["Age", "Sex", "Race"], combinations=False)
    n = report.records
    small = P.from_report(report, 100 * n)       # fraction 0.01
    assert small.model == "pitman" and small.uniques == pytest.approx(small.estimates["pitman"].uniques)
    large = P.from_report(report, 2 * n)          # fraction 0.5
    pair = {m: large.estimates[m].uniques for m in ("zayatz", "snb") if large.estimates[m].uniques}
    assert large.model == min(pair, key=pair.get) and large.uniques == min(pair.values())


def test_no_unique_record_means_no_population_unique():
    out = P.estimate([2, 3, 5, 5], 1000)
    assert out.model == "none" and out.uniques == 0 and out.population_unique_records == 0


# --- N = n: the file's own figures, exactly ----------------------------------------------------------

@pytest.mark.parametrize("quasi", [["Age", "Sex", "Race"], ["Sex", "Race"], ["Date", "Age", "Sex", "ResidenceCity"]])
@pytest.mark.parametrize("k", [2, 5])
def test_population_equal_to_the_file_gives_the_files_figures(drug, quasi, k):
    report = assess(drug, quasi, k=k, combinations=False, population=len(drug))
    p = report.population
    assert p.model == "sample" and p.sampling_fraction == 1.0
    assert p.uniques == report.uniques and p.uniques_share == report.uniques_share
    assert p.population_unique_records == report.uniques
    assert p.journalist_records_at_risk == report.records_at_risk
    assert p.marketer_risk == pytest.approx(report.average_risk, abs=1e-15)


# --- no NaN, no overflow -------------------------------------------------------------------------------

def _finite_everywhere(p: P.PopulationRisk) -> None:
    d = p.to_dict()
    json.dumps(d, allow_nan=False)                 # raises on NaN or infinity
    assert 0 <= d["uniques"] <= d["size"]
    assert 0 <= d["uniques_share"] <= 1 and 0 <= d["marketer_risk"] <= 1
    assert 0 <= d["journalist_records_at_risk"] <= p.records
    assert 0 <= d["population_unique_records"] <= p.sample_uniques


@pytest.mark.parametrize("big_n", [1000, 1001, 1100, 10_000, 3_605_944, 10 ** 9, 10 ** 12])
def test_every_record_unique_stays_finite(big_n):
    out = P.estimate([1] * 1000, big_n)
    _finite_everywhere(out)
    if big_n > 1000:
        assert out.uniques > 0
        if big_n / 1000 >= 10:     # small fraction: Pitman has no maximum here, and says so
            assert out.estimates["pitman"].uniques is None and out.notes


@pytest.mark.parametrize("big_n", [10 ** 9, 10 ** 12])
def test_large_populations_stay_finite(drug, big_n):
    for quasi in (["Age", "Sex", "Race"], ["Date", "Age", "Sex"], ["Sex"]):
        report = assess(drug, quasi, combinations=False, population=big_n)
        _finite_everywhere(report.population)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 60), min_size=1, max_size=200), st.floats(1.0, 1e7))
def test_any_histogram_and_population_give_finite_figures(sizes, factor):
    n = sum(sizes)
    out = P.estimate(sizes, max(n, int(n * factor)))
    _finite_everywhere(out)
    for result in out.estimates.values():
        assert result.uniques is None or math.isfinite(result.uniques)


def test_population_smaller_than_the_file_or_not_whole_is_refused():
    with pytest.raises(P.PopulationError, match="cannot be smaller"):
        P.estimate([1, 2], 2)
    with pytest.raises(P.PopulationError, match="whole number"):
        P.estimate([1, 2], 10.5)
    with pytest.raises(P.PopulationError, match="more than"):
        P.estimate([1, 2], 10 ** 13)


# --- places, the CLI, the gate ------------------------------------------------------------------------

def test_connecticut_and_its_counties_from_the_town_table():
    places = P.places()
    assert P.ct_population() == 3_605_944                      # 2020 Census
    counties = places[places["kind"] == "county"]
    assert len(counties) == 8 and counties["population"].sum() == 3_605_944
    assert len(places[places["kind"] == "town"]) == 169
    assert len(places[places["kind"] == "planning region"]) == 9


def test_covered_place_names_the_one_town_or_county():
    hartford = pd.DataFrame({"Town": ["Hartford", "HARTFORD", "Hartford"], "x": ["1", "2", "3"]})
    name, pop = P.covered_place(hartford)
    assert name == "Hartford" and pop == int(P.places().query("name == 'Hartford'")["population"].iloc[0])
    county = pd.DataFrame({"City": ["Hartford", "West Hartford", "Enfield"]})
    assert P.covered_place(county)[0] == "Hartford County"
    assert P.covered_place(pd.DataFrame({"City": ["Hartford", "New Haven"]})) is None


def _cli(argv):
    from ctopen.cli import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(argv)
    return code, buf.getvalue()


def test_cli_population_keys_and_absence_without_it():
    path = str(DATA / "drug_deaths_600.csv")
    code, out = _cli(["risk", path, "--qi", "Age", "Sex", "Race", "--population", "3,605,944", "--json"])
    assert code == 0
    d = json.loads(out)
    assert {"size", "sampling_fraction", "model", "uniques", "uniques_share"} <= set(d["population"])
    assert d["population"]["size"] == 3_605_944
    assert d["population"]["uniques_share"] == pytest.approx(d["population"]["uniques"] / 3_605_944)
    assert d["population"]["model"] in ("pitman", "zayatz", "snb")
    code, out = _cli(["risk", path, "--qi", "Age", "Sex", "Race", "--json"])
    assert code == 0 and "population" not in json.loads(out)
    code, out = _cli(["risk", path, "--qi", "Age", "Sex", "Race", "--population", "600"])
    assert code == 0 and "whole population" in out
    assert _cli(["risk", path, "--qi", "Age", "--population", "10"])[0] == 2


def _review(df, recipe):
    from ctopen.review import Review

    roles = {c: "other" for c in df.columns}
    roles.update({"Age": "quasi", "Sex": "quasi", "Race": "quasi"})
    return Review(df, {"version": 1, "steps": [], "roles": roles, **recipe}, detection=None,
                  detector=lambda d: _no_detection(d))


def _no_detection(df):
    from ctopen.detect import Detection

    return Detection(rows=len(df), engine="none", columns=[])


def test_population_problem_for_the_gate(drug):
    base = assess(drug, ["Age", "Sex", "Race"], combinations=False, population=P.ct_population()).population
    assert P.population_problem(_review(drug, {})) is None                              # no key
    assert P.population_problem(_review(drug, {"population": {"size": 3_605_944}})) is None    # no limit
    loose = {"population": {"size": 3_605_944, "max_uniques_share": base.uniques_share * 2}}
    assert P.population_problem(_review(drug, loose)) is None
    tight = {"population": {"size": 3_605_944, "max_uniques_share": base.uniques_share / 2, "place": "Connecticut"}}
    text = P.population_problem(_review(drug, tight))
    assert text and "Connecticut" in text and "above the limit" in text
    assert "cannot be smaller" in P.population_problem(_review(drug, {"population": {"size": 10,
                                                                                     "max_uniques_share": 0.1}}))
    assert "max_uniques_share" in P.population_problem(_review(drug, {"population": {"size": 10 ** 6,
                                                                                     "max_uniques_share": 2}}))
    counts = {"steps": [{"op": "aggregate", "by": ["Sex"]}], "population": {"size": 10 ** 6, "max_uniques_share": 0.0}}
    assert P.population_problem(_review(drug, counts)) is None                          # a count table
