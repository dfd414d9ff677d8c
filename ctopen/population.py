"""Risk in the population: how many of the N people a file was drawn from are unique on its quasi-identifiers.

The file's own figures (ctopen.risk) say whether a record is alone *in the file*. A record alone in a
5,000-record sample of Hartford County may share its values with hundreds of residents. Given N, the
number of people the file's records are a sample of (sampling fraction pi = n / N), this module
estimates U, the number of people unique in the population on the quasi-identifiers, from the file's
class-size histogram (f_j = number of classes of size j in the file, u = number of classes, c1 = f_1),
with the three models of Dankar, El Emam, Neisa & Roffey (2012), "Estimating the re-identification risk
of clinical data sets" (BMC Medical Informatics and Decision Making 12:66), as ARX implements them
(org.deidentifier.arx.risk: ModelPitman, ModelZayatz, ModelSNB, RiskModelPopulationUniqueness):

- **Pitman** (Hoshino 2001): the class sizes follow the Pitman sampling formula with parameters
  theta and alpha, estimated by maximum likelihood,
      L = sum_{i=1}^{u-1} log(theta + i alpha) - sum_{i=1}^{n-1} log(theta + i)
          + sum_{j>=2} f_j sum_{i=1}^{j-1} log(i - alpha),
  over theta > 0, alpha < 1 and theta + (u - 1) alpha > 0 (as ARX, whose solver only asks theta >= 0, a
  negative alpha is allowed: a finite number of classes); then U = the expected number of classes of one
  among N, N (theta + alpha)_(N-1) / (theta + 1)_(N-1) (rising factorials), whose large-N limit is the
  Gamma(theta + 1) / Gamma(theta + alpha) N^alpha ARX computes (the limit can exceed N when N is not far
  above theta; the expectation never does). Solved by a damped Newton ascent on L from ARX's starting
  point and then a fixed grid of others (ARX restarts at random points; here the restarts are fixed, so
  the figure is reproducible); the gradient at the answer is checked by direct sums, as ARX does. When L
  has no maximum (every record unique: theta runs off to infinity) the model did not converge.
- **Zayatz** (1991): the share of the file's uniques that are unique in the population is
      P(1 | 1) (c1 / u) / sum_j (f_j / u) P(1 | j),
  P(1 | j) the hypergeometric chance of drawing exactly one of j people when drawing n of N (as in
  ARX, the sample class size j stands for the population class size); U = c1 * that share / pi.
  Computed in log space (no overflow for any N).
- **SNB**, shifted negative binomial (Chen & Keller-McNulty 1998): population class sizes F with
  F - 1 ~ NegBin(alpha, beta) over K non-empty classes; K is estimated with Haas and Stokes's Shlosser
  estimator (Sh3), alpha and beta by matching the expected numbers of file classes of size 1 and 2 to
  c1 and c2; U = K beta^alpha. Two corrections to ARX's code, both checked by direct summation in
  tests/test_population.py: ARX writes (1 - d)^(alpha + 2) in the size-2 equation where the expectation
  has (1 - d)^-(alpha + 2) (d = (1 - pi)(1 - beta)), and subtracts 1 per histogram entry in the Sh3
  denominator (an operator-precedence slip) where the estimator has sum_j ((1 - pi^2)^j - (1 - pi)^j) f_j.
- **Decision rule** (Dankar et al., as ARX): pi <= 0.1: Pitman, or Zayatz when Pitman did not converge;
  pi > 0.1: the smaller of Zayatz and SNB, or Zayatz when SNB did not converge. No unique record in the
  file: U = 0 (model "none"). N = n: the file is the whole population and the figures are the file's
  own, exactly (model "sample").

What follows from U (ctopen's estimates, in El Emam's terms, with population class sizes estimated by
rescaling F = f / pi for classes of 2 or more, and, of the c1 file uniques, min(c1, U pi) population
uniques and the others in classes of max(2, 1 / pi)):
- `population_unique_records`: the expected number of the file's records that are unique among the N;
- `journalist_records_at_risk`: the expected records whose group among the N is smaller than k
  (someone who knows a person is among the N and finds one matching record);
- `marketer_risk`: the expected share of records an intruder linking the whole file to a register of
  the N people matches correctly.
At N = n these are the file's uniques, records at risk and average risk.

Numerical care: every result is finite (no NaN, no infinity) and 0 <= U <= N; a model that fails is
named in `notes` with the model used instead.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from ctopen import settings
from ctopen.errors import CtopenError

MODELS = ("pitman", "zayatz", "snb")
SMALL_FRACTION = 0.1          # Dankar et al.: Pitman at sampling fractions up to this, else Zayatz / SNB
MAX_POPULATION = 10 ** 12     # more people than this is not a population a file is drawn from
TOLERANCE = 1e-7              # first-order conditions / moment equations, relative


class PopulationError(CtopenError):
    """The population size does not fit the file."""


# --- the result ----------------------------------------------------------------------------------

@dataclass
class ModelResult:
    """One model's estimate of the population uniques (None when it did not converge or gave no usable value)."""
    uniques: float | None
    converged: bool
    detail: str = ""
    parameters: dict = field(default_factory=dict)


@dataclass
class PopulationRisk:
    size: int                        # N: the people the file's records could be about
    records: int                     # n: records assessed
    sampling_fraction: float         # n / N
    model: str                       # "pitman" | "zayatz" | "snb" | "sample" (N = n) | "none" (no unique record)
    uniques: float                   # estimated people unique in the population
    sample_uniques: int              # records unique in the file (c1)
    estimates: dict[str, ModelResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    population_unique_records: float = 0.0
    journalist_records_at_risk: float = 0.0
    marketer_risk: float = 0.0
    k: int = settings.DEFAULT_K

    @property
    def uniques_share(self) -> float:
        """Estimated population uniques / N (ARX's "fraction of unique tuples")."""
        return self.uniques / self.size if self.size else 0.0

    @property
    def journalist_records_at_risk_share(self) -> float:
        return self.journalist_records_at_risk / self.records if self.records else 0.0

    def to_dict(self) -> dict:
        return {
            "size": int(self.size),
            "sampling_fraction": _finite(self.sampling_fraction),
            "model": self.model,
            "uniques": _finite(self.uniques),
            "uniques_share": _finite(self.uniques_share),
            "sample_uniques": int(self.sample_uniques),
            "population_unique_records": _finite(self.population_unique_records),
            "journalist_records_at_risk": _finite(self.journalist_records_at_risk),
            "marketer_risk": _finite(self.marketer_risk),
            "estimates": {m: (None if r.uniques is None else _finite(r.uniques)) for m, r in self.estimates.items()},
            "notes": list(self.notes),
        }

    def sentence(self) -> str:
        """One sentence for people."""
        if self.model == "sample":
            return (f"The file is the whole population ({self.size:,} people): {self.sample_uniques:,} of them are "
                    f"unique ({_pct(self.uniques_share)}).")
        if self.model == "none":
            return (f"No record is unique in the file, so none is estimated unique among the {self.size:,} people "
                    "it could be about.")
        return (f"About {_count(self.uniques)} of the {self.size:,} people the file could be about are estimated to be "
                f"unique on these columns ({_pct(self.uniques_share)}, {MODEL_NAMES[self.model]} model); "
                f"{_count(self.population_unique_records)} of the file's {self.sample_uniques:,} unique records are "
                "expected to be unique among them too.")


MODEL_NAMES = {"pitman": "Pitman", "zayatz": "Zayatz", "snb": "SNB", "sample": "the file itself", "none": "no model"}


def _finite(x: float) -> float:
    x = float(x)
    return x if math.isfinite(x) else 0.0


def _pct(x: float) -> str:
    """A share for people: one decimal, or two significant digits below 0.1% (0.00023%)."""
    if 0 < x < 0.001:
        return f"{100 * x:.2g}%"
    return f"{100 * x:.1f}%"


def _count(x: float) -> str:
    return f"{x:,.0f}" if x >= 10 else f"{x:,.1f}"


# --- entry points ---------------------------------------------------------------------------------

def check_size(population: Any, records: int) -> int:
    """N as a whole number of at least the records assessed (PopulationError otherwise)."""
    if isinstance(population, bool) or population is None:
        raise PopulationError("The population size must be a whole number of people.")
    try:
        value = float(population)
    except (TypeError, ValueError):
        raise PopulationError(f"The population size must be a whole number of people, not {population!r}.") from None
    if not math.isfinite(value) or value != int(value):
        raise PopulationError(f"The population size must be a whole number of people, not {population!r}.")
    value = int(value)
    if value < max(int(records), 1):
        raise PopulationError(f"The population ({value:,} people) cannot be smaller than the {int(records):,} records "
                              "in the file: give the number of people the records could be about.")
    if value > MAX_POPULATION:
        raise PopulationError(f"A population of {value:,} people is more than ctopen can take ({MAX_POPULATION:,}).")
    return value


def from_report(report, population: int) -> PopulationRisk:
    """The population figures of a ctopen.risk.RiskReport (its class sizes, records and threshold k)."""
    sizes = report.record_class_size
    if sizes is None:
        raise PopulationError("The risk figures hold no group sizes; assess the table first.")
    return estimate(class_sizes_of_records(sizes), population, k=report.k_threshold)


def class_sizes_of_records(record_class_size) -> np.ndarray:
    """Each class's size from each record's class size (a class of size s holds s records of size s)."""
    per_size = np.bincount(np.asarray(record_class_size, dtype=np.int64))
    sizes = np.flatnonzero(per_size)
    classes = per_size[sizes] // np.maximum(sizes, 1)
    return np.repeat(sizes, classes)


def estimate(class_sizes, population: int, k: int = settings.DEFAULT_K) -> PopulationRisk:
    """Population uniques from the file's class sizes (one entry per class) and the population size N."""
    sizes = np.asarray(class_sizes, dtype=np.int64)
    sizes = sizes[sizes > 0]
    n = int(sizes.sum())
    big_n = check_size(population, n)
    hist = _histogram(sizes)
    c1 = int(hist.get(1, 0))
    pi = n / big_n if big_n else 1.0
    out = PopulationRisk(size=big_n, records=n, sampling_fraction=pi, model="none", uniques=0.0, sample_uniques=c1,
                         k=int(k))
    if n == 0:
        out.notes.append("No records: nothing to estimate.")
        return out
    if big_n == n:
        out.model, out.uniques = "sample", float(c1)
    elif c1 == 0:
        out.model, out.uniques = "none", 0.0
    else:
        out.model, out.uniques = _decide(hist, n, big_n, out)
    _follow(out, hist)
    return out


def _histogram(sizes: np.ndarray) -> dict[int, int]:
    if not len(sizes):
        return {}
    counts = np.bincount(sizes)
    return {int(j): int(counts[j]) for j in np.flatnonzero(counts)}


def _decide(hist: dict[int, int], n: int, big_n: int, out: PopulationRisk) -> tuple[str, float]:
    """Dankar et al.'s decision rule (as ARX's RiskModelPopulationUniqueness)."""
    pi = n / big_n
    zay = zayatz(hist, n, big_n)
    out.estimates["zayatz"] = zay
    zay_value = zay.uniques if zay.uniques is not None else 0.0
    if pi <= SMALL_FRACTION:
        pit = pitman(hist, n, big_n)
        out.estimates["pitman"] = pit
        if pit.uniques is not None and pit.uniques > 0:
            return "pitman", pit.uniques
        out.notes.append(f"The Pitman model did not converge ({pit.detail}); the Zayatz model was used instead.")
        return "zayatz", zay_value
    snb_result = snb(hist, n, big_n)
    out.estimates["snb"] = snb_result
    if snb_result.uniques is not None and snb_result.uniques > 0:
        if zay_value < snb_result.uniques:
            return "zayatz", zay_value
        return "snb", snb_result.uniques
    out.notes.append(f"The SNB model did not converge ({snb_result.detail}); the Zayatz model was used instead.")
    return "zayatz", zay_value


def _follow(out: PopulationRisk, hist: dict[int, int]) -> None:
    """The journalist and marketer figures that follow from U (module docstring)."""
    n, pi, k = out.records, out.sampling_fraction, out.k
    c1 = out.sample_uniques
    unique_pop = min(float(c1), max(0.0, out.uniques * pi))
    if out.model == "sample":
        unique_pop = float(c1)
    rest = c1 - unique_pop                           # file uniques in population classes of 2 or more
    rest_size = max(2.0, 1.0 / pi) if pi > 0 else math.inf
    at_risk = (unique_pop if k > 1 else 0.0) + (rest if rest_size < k else 0.0)
    marketer = unique_pop + rest / rest_size
    for j, count in hist.items():
        if j < 2:
            continue
        if j / pi < k:
            at_risk += j * count
        marketer += count * min(1.0, pi)             # each class: f / F = pi
    out.population_unique_records = unique_pop
    out.journalist_records_at_risk = min(float(n), at_risk)
    out.marketer_risk = min(1.0, marketer / n) if n else 0.0


# --- Zayatz ---------------------------------------------------------------------------------------

def _log_p_one(sizes: np.ndarray, n: int, big_n: int) -> np.ndarray:
    """log P(exactly one of a population class of size j is among n drawn of N), per j in sizes.

    P = (j n / N) prod_{i=0}^{j-2} (N - n - i) / (N - 1 - i), summed in log space."""
    sizes = np.asarray(sizes, dtype=np.int64)
    top = int(sizes.max()) if len(sizes) else 1
    i = np.arange(max(top - 1, 0), dtype=np.float64)
    num = (big_n - n) - i
    den = (big_n - 1) - i
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where((num > 0) & (den > 0), np.log(np.where(num > 0, num, 1.0)) - np.log(np.where(den > 0, den, 1.0)),
                         -np.inf)
    cum = np.concatenate([[0.0], np.cumsum(terms)]) if len(terms) else np.zeros(1)
    base = np.log(sizes.astype(np.float64)) + math.log(n) - math.log(big_n)
    return base + cum[sizes - 1]


def zayatz(hist: dict[int, int], n: int, big_n: int) -> ModelResult:
    c1 = hist.get(1, 0)
    if c1 == 0:
        return ModelResult(0.0, True)
    sizes = np.array(sorted(hist), dtype=np.int64)
    counts = np.array([hist[j] for j in sizes], dtype=np.float64)
    logp = _log_p_one(sizes, n, big_n)
    top = float(np.max(logp))                        # the size-1 term is finite, so top is finite
    weights = counts * np.exp(logp - top)
    share = (c1 * math.exp(float(logp[0]) - top)) / float(weights.sum())
    uniques = c1 * share / (n / big_n)
    if not math.isfinite(uniques):
        return ModelResult(None, False, "its figures overflowed")
    return ModelResult(min(max(uniques, 0.0), float(big_n)), True, parameters={"conditional_uniqueness": share})


# --- special functions (numpy has none; scipy is not a dependency) -----------------------------

def digamma(x):
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    x = x.copy()
    for _ in range(10):                    # shift up to x >= 10: the series' next term is below 1e-13
        small = x < 10
        if not small.any():
            break
        out[small] -= 1.0 / x[small]
        x[small] += 1.0
    inv = 1.0 / x
    inv2 = inv * inv
    out += (np.log(x) - 0.5 * inv
            - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 * (1 / 132))))))
    return out


def trigamma(x):
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    x = x.copy()
    for _ in range(10):                    # shift up to x >= 10: the series' next term is below 1e-13
        small = x < 10
        if not small.any():
            break
        out[small] += 1.0 / (x[small] * x[small])
        x[small] += 1.0
    inv = 1.0 / x
    inv2 = inv * inv
    out += inv + 0.5 * inv2 + inv * inv2 * (1 / 6 - inv2 * (1 / 30 - inv2 * (1 / 42 - inv2 * (1 / 30 - inv2 * 5 / 66))))
    return out


_lgamma = np.vectorize(math.lgamma, otypes=[np.float64])
_STIRLING = 30.0    # from here on, differences of lgamma / digamma / trigamma by their asymptotic series


def lgamma_diff(x: float, m: float) -> float:
    """log Gamma(x + m) - log Gamma(x) for x > 0, m >= 0, without the cancellation of two huge values
    (x = theta / alpha can be 1e10: each lgamma is then 2e11 and their difference would lose every digit)."""
    if m == 0:
        return 0.0
    if x < _STIRLING:
        return math.lgamma(x + m) - math.lgamma(x)
    y = x + m
    # Stirling: (z - 1/2) log z - z + 1/(12 z) - 1/(360 z^3) + 1/(1260 z^5), differenced term by term
    out = (x - 0.5) * math.log1p(m / x) + m * math.log(y) - m
    out += -m / (12.0 * x * y)
    out -= (1.0 / y ** 3 - 1.0 / x ** 3) / 360.0
    out += (1.0 / y ** 5 - 1.0 / x ** 5) / 1260.0
    return out


def digamma_diff(x: float, m: float) -> float:
    """psi(x + m) - psi(x) (= sum_{i=0}^{m-1} 1 / (x + i) for whole m), stable for large x."""
    if m == 0:
        return 0.0
    if x < _STIRLING:
        return float(digamma(np.array([x + m]))[0] - digamma(np.array([x]))[0])
    y = x + m
    # psi(z) = log z - 1/(2z) - 1/(12 z^2) + 1/(120 z^4) - 1/(252 z^6)
    out = math.log1p(m / x) + m / (2.0 * x * y)
    out += m * (x + y) / (12.0 * x * x * y * y)
    out += (1.0 / y ** 4 - 1.0 / x ** 4) / 120.0
    out -= (1.0 / y ** 6 - 1.0 / x ** 6) / 252.0
    return out


def trigamma_diff(x: float, m: float) -> float:
    """psi'(x) - psi'(x + m) (= sum_{i=0}^{m-1} 1 / (x + i)^2 for whole m), stable for large x."""
    if m == 0:
        return 0.0
    if x < _STIRLING:
        return float(trigamma(np.array([x]))[0] - trigamma(np.array([x + m]))[0])
    y = x + m
    # psi'(z) = 1/z + 1/(2 z^2) + 1/(6 z^3) - 1/(30 z^5) + 1/(42 z^7)
    out = m / (x * y) + m * (x + y) / (2.0 * x * x * y * y)
    out += (1.0 / x ** 3 - 1.0 / y ** 3) / 6.0
    out -= (1.0 / x ** 5 - 1.0 / y ** 5) / 30.0
    out += (1.0 / x ** 7 - 1.0 / y ** 7) / 42.0
    return out


# --- Pitman ---------------------------------------------------------------------------------------

DIRECT_SUMS_MAX = 200_000   # up to this many classes, the sums over the classes are summed directly


class _Pitman:
    """The Pitman log-likelihood of a class-size histogram, its gradient and Hessian.

    The sums over the u classes, sum_{i=1}^{u-1} log(theta + i alpha) and their derivatives, are summed
    directly (ARX's "iterative" form) up to DIRECT_SUMS_MAX classes, so alpha may be 0 or negative as in
    ARX (whose solver only asks theta >= 0); beyond that, closed forms with the digamma and trigamma
    functions (ARX's getMasterFunctionClosed), for 0 < alpha < 1. The sum over the n records,
    sum_{i=1}^{n-1} log(theta + i), is always in closed form (stable differences for large theta)."""

    def __init__(self, hist: dict[int, int], n: int):
        self.n = n
        self.u = sum(hist.values())
        big = [(j, c) for j, c in hist.items() if j >= 2]
        self.j = np.array([j for j, _ in big], dtype=np.float64)
        self.f = np.array([c for _, c in big], dtype=np.float64)
        self.direct = self.u <= DIRECT_SUMS_MAX
        self.i = np.arange(1, self.u, dtype=np.float64) if self.direct else None

    def inside(self, t: float, a: float) -> bool:
        """theta > 0, alpha < 1 and every theta + i alpha > 0 (alpha > 0 for the closed forms)."""
        if not (t > 0 and a < 1):
            return False
        if not self.direct:
            return a > 0
        return t + (self.u - 1) * a > 0

    def value(self, t: float, a: float) -> float:
        u, n = self.u, self.n
        if self.direct:
            part = float(np.sum(np.log(t + self.i * a)))
        else:
            part = (u - 1) * math.log(a) + lgamma_diff(t / a + 1, u - 1)      # sum_{i=1}^{u-1} log(t + i a)
        part -= lgamma_diff(t + 1, n - 1)                                    # sum_{i=1}^{n-1} log(t + i)
        if len(self.j):
            part += float(self.f @ (_lgamma(self.j - a) - math.lgamma(1 - a)))
        return part

    def _class_sums(self, t: float, a: float):
        """sum 1/(t+ia), sum i/(t+ia), sum 1/(t+ia)^2, sum i/(t+ia)^2, sum i^2/(t+ia)^2 over i = 1..u-1."""
        u = self.u
        if self.direct:
            d = t + self.i * a
            inv = 1.0 / d
            inv2 = inv * inv
            return (float(inv.sum()), float((self.i * inv).sum()), float(inv2.sum()), float((self.i * inv2).sum()),
                    float((self.i * self.i * inv2).sum()))
        x = t / a
        s1 = digamma_diff(x + 1, u - 1)        # sum_{i=1}^{u-1} 1 / (x + i)
        s2 = trigamma_diff(x + 1, u - 1)       # sum_{i=1}^{u-1} 1 / (x + i)^2
        return (s1 / a, ((u - 1) - x * s1) / a, s2 / (a * a), (s1 - x * s2) / (a * a),
                ((u - 1) - 2 * x * s1 + x * x * s2) / (a * a))

    def grad_hess(self, t: float, a: float):
        n = self.n
        c0, c1, c2, c3, c4 = self._class_sums(t, a)
        r1 = digamma_diff(t + 1, n - 1)        # sum_{i=1}^{n-1} 1 / (t + i)
        r2 = trigamma_diff(t + 1, n - 1)       # sum_{i=1}^{n-1} 1 / (t + i)^2
        g_t = c0 - r1
        if len(self.j):
            d1a, t1a = digamma(np.array([1 - a]))[0], trigamma(np.array([1 - a]))[0]
            g_a = c1 - float(self.f @ (digamma(self.j - a) - d1a))
            h_aa_classes = float(self.f @ (trigamma(self.j - a) - t1a))
        else:
            g_a, h_aa_classes = c1, 0.0
        h_tt = -c2 + r2
        h_ta = -c3
        h_aa = -c4 + h_aa_classes
        return np.array([g_t, g_a]), np.array([[h_tt, h_ta], [h_ta, h_aa]])

    def grad_direct(self, t: float, a: float) -> np.ndarray:
        """The gradient by direct sums over every record (ARX's iterative check of the closed form)."""
        i = np.arange(1, self.u, dtype=np.float64)
        g_t = float(np.sum(1.0 / (t + i * a))) - float(np.sum(1.0 / (t + np.arange(1, self.n, dtype=np.float64))))
        g_a = float(np.sum(i / (t + i * a)))
        for j, f in zip(self.j, self.f):
            g_a -= f * float(np.sum(1.0 / (np.arange(1, int(j), dtype=np.float64) - a)))
        return np.array([g_t, g_a])


def _pitman_start(hist: dict[int, int], n: int) -> tuple[float, float] | None:
    """ARX's starting point (moment-like estimates of theta and alpha)."""
    c1 = float(hist.get(1, 0))
    c2 = float(hist.get(2, 0)) or 1.0                # ARX: "overestimate"
    u = float(sum(hist.values()))
    c = c1 * (c1 - 1) / c2
    den = (2 * c1 * u + c1 * c) - n * c
    if den == 0:
        return None
    t = (n * u * c - c1 * (n - 1) * (2 * u + c)) / den
    a = (t * (c1 - n) + (n - 1) * c1) / (n * u)
    if not (math.isfinite(t) and math.isfinite(a)):
        return None
    return t, a


def _ascend(model: _Pitman, start: tuple[float, float], iterations: int = 200) -> tuple[np.ndarray, bool, str]:
    """Damped Newton ascent of the log-likelihood from `start`, staying where it is defined: the
    Newton step where the Hessian is negative definite, else (or when it leaves the domain) a scaled
    gradient step, each halved until the likelihood does not decrease."""
    p = np.array(start, dtype=np.float64)
    value = model.value(*p)
    for _ in range(iterations):
        g, h = model.grad_hess(*p)
        if not np.all(np.isfinite(g)) or not np.all(np.isfinite(h)):
            return p, False, "its derivatives overflowed"
        scale = 1.0 + abs(value)
        if abs(g[0]) * max(p[0], 1.0) <= 1e-3 * TOLERANCE * scale and abs(g[1]) <= 1e-3 * TOLERANCE * scale:
            return p, True, ""
        directions = []
        if h[0, 0] < 0 and h[0, 0] * h[1, 1] - h[0, 1] * h[1, 0] > 0:      # negative definite: Newton
            with np.errstate(all="ignore"):
                newton = -np.linalg.solve(h, g)
            if np.all(np.isfinite(newton)) and float(newton @ g) > 0:
                directions.append(newton)
        directions.append(g / (np.abs(np.diag(h)) + 1e-12))
        moved = False
        for step in directions:
            t = 1.0
            for _ in range(60):
                q = p + t * step
                if model.inside(*q):
                    v = model.value(*q)
                    if math.isfinite(v) and v >= value - 1e-14 * scale:
                        moved = True
                        break
                t *= 0.5
            if moved:
                break
        if not moved:
            return p, False, "no step improved the likelihood"
        if q[0] > 1e15:
            return q, False, "theta grew without bound: the likelihood has no maximum (too many unique records)"
        if np.all(np.abs(q - p) <= 1e-15 * np.abs(p)):
            g2, _ = model.grad_hess(*q)
            ok = abs(g2[0]) * max(q[0], 1.0) <= 1e-5 * scale and abs(g2[1]) <= 1e-5 * scale
            return q, bool(ok), "" if ok else "the steps stalled"
        p, value = q, v
    return p, False, f"no convergence in {iterations} iterations"


def pitman_log_uniques(t: float, a: float, big_n: int) -> float:
    """log of the expected number of classes of one among N people under Pitman(theta, alpha):
    E = N (theta + alpha)_(N-1) / (theta + 1)_(N-1) (rising factorials). Its large-N limit is Hoshino's
    Gamma(theta + 1) / Gamma(theta + alpha) * N^alpha, which ARX uses; the limit can exceed N when N is not
    far above theta (and alpha < 0), the exact expectation never does."""
    return math.log(big_n) + lgamma_diff(t + a, big_n - 1) - lgamma_diff(t + 1, big_n - 1)


def pitman(hist: dict[int, int], n: int, big_n: int) -> ModelResult:
    c1 = hist.get(1, 0)
    if c1 == 0:
        return ModelResult(0.0, True)
    u = sum(hist.values())
    if u < 2 or c1 == n:
        return ModelResult(None, False, "every record is unique, or all are in one group: the likelihood has no maximum")
    model = _Pitman(hist, n)
    starts = []
    arx = _pitman_start(hist, n)
    if arx is not None and model.inside(*arx):
        starts.append(arx)
    starts += [(t, a) for t in (1.0, 10.0, 100.0, 1000.0) for a in (0.1, 0.5, 0.9)]
    best, why = None, "no starting point converged"
    for s in starts:                  # the first start that converges (the maximum is unique when it exists)
        p, ok, detail = _ascend(model, s)
        if ok:
            best = (p, model.value(*p))
            break
        why = detail or why
        if detail.startswith("theta grew"):    # the likelihood's own shape: other starts end there too
            break
    if best is None:
        return ModelResult(None, False, why)
    t, a = (float(v) for v in best[0])
    check = model.grad_direct(t, a)                      # ARX checks the closed form against direct sums
    scale = 1.0 + abs(best[1])
    if not np.all(np.isfinite(check)) or abs(check[0]) * max(t, 1.0) > 1e-4 * scale or abs(check[1]) > 1e-4 * scale:
        return ModelResult(None, False, "the solution failed the direct-sum check", {"theta": t, "alpha": a})
    if t + a <= 0:
        return ModelResult(None, False, "its parameters leave Gamma(theta + alpha) undefined", {"theta": t, "alpha": a})
    log_u = pitman_log_uniques(t, a, big_n)
    if not math.isfinite(log_u) or log_u > math.log(big_n) + 1e-9:
        return ModelResult(None, False, "its estimate exceeded the population", {"theta": t, "alpha": a})
    return ModelResult(min(math.exp(log_u), float(big_n)), True, parameters={"theta": t, "alpha": a})


# --- SNB ------------------------------------------------------------------------------------------

def shlosser_classes(hist: dict[int, int], big_n: int, n: int) -> float:
    """K: the non-empty classes in the population, by Haas and Stokes's Shlosser estimator (Sh3)."""
    q = n / big_n
    u = float(sum(hist.values()))
    c1 = float(hist.get(1, 0))
    if q >= 1:
        return u
    j = np.array(sorted(hist), dtype=np.float64)
    f = np.array([hist[int(x)] for x in j], dtype=np.float64)
    log1q = math.log1p(-q)
    log1q2 = math.log1p(-q * q)
    a1 = float(np.sum(j * q * q * np.exp((j - 1) * log1q2) * f))
    a2 = float(np.sum((np.exp(j * log1q2) - np.exp(j * log1q)) * f))
    a3 = float(np.sum(np.exp(j * log1q) * f))
    a4 = float(np.sum(j * q * np.exp((j - 1) * log1q) * f))
    if a2 <= 0 or a4 <= 0 or a3 <= 0:
        return u
    k = u + c1 * (a1 / a2) * (a3 / a4) ** 2
    return k if math.isfinite(k) else u


def snb_equations(a: float, b: float, k: float, f: float, c1: float, c2: float) -> tuple[float, float]:
    """Expected file classes of size 1 and 2 under SNB(alpha=a, beta=b) over K classes, minus c1 and c2:
    E f1 = K f (b / (1 - d))^a (a d / (1 - d) + 1),
    E f2 = K a b^a f^2 (1 - b) / 2 (1 - d)^-(a + 2) (2 - (1 - a) d), with d = (1 - f)(1 - b)."""
    d = (1 - f) * (1 - b)
    e1 = k * f * (b / (1 - d)) ** a * (a * d / (1 - d) + 1)
    e2 = k * a * b ** a * f * f * (1 - b) / 2 * (1 - d) ** (-(a + 2)) * (2 - (1 - a) * d)
    return e1 - c1, e2 - c2


def _difference(resid, point, i: int, h: float, here):
    """d resid / d point[i]: central where both sides are in the domain, else one-sided."""
    up, down = list(point), list(point)
    up[i] += h
    down[i] -= h
    r_up, r_down = resid(*up), resid(*down)
    if r_up is not None and r_down is not None:
        return ((r_up[0] - r_down[0]) / (2 * h), (r_up[1] - r_down[1]) / (2 * h))
    if r_up is not None:
        return ((r_up[0] - here[0]) / h, (r_up[1] - here[1]) / h)
    if r_down is not None:
        return ((here[0] - r_down[0]) / h, (here[1] - r_down[1]) / h)
    return None


def snb(hist: dict[int, int], n: int, big_n: int) -> ModelResult:
    c1 = float(hist.get(1, 0))
    c2 = float(hist.get(2, 0))
    if c1 == 0:
        return ModelResult(0.0, True)
    f = n / big_n
    k = shlosser_classes(hist, big_n, n)
    s1, s2 = max(c1, 1.0), max(c2, 1.0)

    def resid(a: float, b: float) -> tuple[float, float] | None:
        if not (a > 0 and 0 < b <= 1):
            return None
        try:
            r1, r2 = snb_equations(a, b, k, f, c1, c2)
        except (OverflowError, ZeroDivisionError, ValueError):
            return None
        r1, r2 = r1 / s1, r2 / s2
        return (r1, r2) if math.isfinite(r1) and math.isfinite(r2) else None

    def inside(a: float, b: float) -> bool:
        return a > 0 and 0 < b <= 1

    starts = [(1.0, 1.0 - 1e-9)] + [(a, b) for a in (0.5, 1.0, 2.0, 0.1, 5.0) for b in (0.3, 0.05, 0.6, 0.9)]
    why = "no starting point converged"
    for start in starts:                  # ARX's start (1, 1) first, then a fixed grid (ARX restarts at random)
        a, b = start
        r = resid(a, b)
        ok = False
        for _ in range(200):
            if r is None:
                why = "its equations overflowed"
                break
            norm = max(abs(r[0]), abs(r[1]))
            if norm <= TOLERANCE:
                ok = True
                break
            ha, hb = 1e-7 * max(abs(a), 1e-3), 1e-7 * max(abs(b), 1e-3)
            ja, jb = _difference(resid, (a, b), 0, ha, r), _difference(resid, (a, b), 1, hb, r)
            if ja is None or jb is None:
                why = "its equations overflowed"
                break
            (j11, j21), (j12, j22) = ja, jb
            det = j11 * j22 - j12 * j21
            if det == 0 or not math.isfinite(det):
                why = "its equations were singular"
                break
            da = -(j22 * r[0] - j12 * r[1]) / det
            db = -(-j21 * r[0] + j11 * r[1]) / det
            t, moved = 1.0, False
            for _ in range(50):
                qa, qb = a + t * da, b + t * db
                if inside(qa, qb):
                    rq = resid(qa, qb)
                    if rq is not None and max(abs(rq[0]), abs(rq[1])) < norm:
                        moved = True
                        break
                t *= 0.5
            if not moved:
                why = "no step reduced the error"
                break
            a, b, r = qa, qb, rq
        if ok:
            uniques = k * math.exp(a * math.log(b))
            if math.isfinite(uniques) and 0 < uniques <= big_n * (1 + 1e-9):
                return ModelResult(min(uniques, float(big_n)), True, parameters={"alpha": a, "beta": b, "K": k})
            why = "its estimate fell outside 0 to the population"
    return ModelResult(None, False, why, {"K": k})


# --- populations of Connecticut (ctopen/data/ct_towns.csv, 2020 Census) ---------------------------

@lru_cache(maxsize=1)
def places() -> pd.DataFrame:
    """Connecticut, its 8 counties, 9 planning regions and 169 towns with their 2020 population
    (columns name, kind, population), from ctopen/data/ct_towns.csv (sums of its towns)."""
    towns = pd.read_csv(settings.TOWNS_FILE, dtype={"pop_2020": "int64"}, keep_default_na=False)
    rows = [("Connecticut", "state", int(towns["pop_2020"].sum()))]
    for county, pop in towns.groupby("county_legacy")["pop_2020"].sum().items():
        rows.append((f"{county} County", "county", int(pop)))
    for region, pop in towns.groupby("planning_region_full")["pop_2020"].sum().items():
        rows.append((str(region), "planning region", int(pop)))
    for t in towns.itertuples():
        rows.append((t.town, "town", int(t.pop_2020)))
    return pd.DataFrame(rows, columns=["name", "kind", "population"])


def ct_population() -> int:
    return int(places().iloc[0]["population"])


PLACE_WORDS = re.compile(r"town|city|municipal|county|residence|place|location", re.IGNORECASE)


def covered_place(df: pd.DataFrame, columns=None) -> tuple[str, int] | None:
    """(name, population) of the one town or county a file's records all lie in, when a column of CT towns
    (or of counties) says so; None when no column does or the records span several."""
    from ctopen.hierarchies import normalize_place, town_table

    table = town_table()
    counties = {normalize_place([c])[0]: c for c in table["county"].unique() if c}
    pops = places().set_index(["kind", "name"])["population"]
    if columns is None:              # the columns whose header says they hold a place (a few reads, not one per column)
        columns = [c for c in df.columns if PLACE_WORDS.search(str(c))]
    for col in columns:
        values = df[col].dropna()
        if values.empty:
            continue
        distinct = values.value_counts()
        if len(distinct) > 300:
            continue
        keys = normalize_place(pd.Series(distinct.index, dtype="str"))
        keys_county = keys.str.replace(r"\s+COUNTY$", "", regex=True)
        weights = distinct.to_numpy()
        in_town = keys.isin(table.index).to_numpy()
        if weights[in_town].sum() >= 0.95 * weights.sum():
            towns = set(table.loc[keys[in_town], "town"])
            if len(towns) == 1 and " or " not in next(iter(towns)):
                town = next(iter(towns))
                if ("town", town) in pops.index:
                    return town, int(pops[("town", town)])
            found = set(table.loc[keys[in_town], "county"])
            if len(found) == 1 and "" not in found:
                county = next(iter(found))
                return f"{county} County", int(pops[("county", f"{county} County")])
            continue
        in_county = keys_county.isin(counties).to_numpy()
        if weights[in_county].sum() >= 0.95 * weights.sum():
            found = {counties[k] for k in keys_county[in_county]}
            if len(found) == 1:
                county = next(iter(found))
                return f"{county} County", int(pops[("county", f"{county} County")])
    return None


# --- the recipe key and the gate ------------------------------------------------------------------

def recipe_settings(recipe: dict | None) -> dict | None:
    """The recipe's "population" key, checked: {"size": N, "max_uniques_share": share or None, "place": text}.
    None when the recipe has none. PopulationError when it is malformed."""
    value = (recipe or {}).get("population")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PopulationError("The recipe's \"population\" must be an object such as "
                              "{\"size\": 3605944, \"max_uniques_share\": 0.001}.")
    unknown = sorted(set(value) - {"size", "max_uniques_share", "place"})
    if unknown:
        raise PopulationError(f"The recipe's \"population\" has unknown keys: {', '.join(map(repr, unknown))} "
                              "(known: size, max_uniques_share, place).")
    size = value.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise PopulationError("The recipe's \"population.size\" must be a whole number of people of at least 1.")
    share = value.get("max_uniques_share")
    if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float))
                              or not math.isfinite(share) or not 0 <= share <= 1):
        raise PopulationError("The recipe's \"population.max_uniques_share\" must be a share between 0 and 1 "
                              "(0.001 = 0.1%).")
    place = value.get("place")
    if place is not None and not isinstance(place, str):
        raise PopulationError("The recipe's \"population.place\" must be text (where the number comes from).")
    return {"size": size, "max_uniques_share": None if share is None else float(share), "place": place}


def of_review(review) -> PopulationRisk | None:
    """The population figures of a Review's release (its risk report) for the recipe's population size;
    None without one, or for a count table (its cells are protected by small-cell suppression)."""
    conf = recipe_settings(review.recipe)
    if conf is None or any(s.get("op") in ("aggregate", "spatial_aggregate") for s in review.recipe.get("steps") or []):
        return None
    return from_report(review.risk, conf["size"])


def population_problem(review) -> str | None:
    """Why the release fails the recipe's population threshold (one sentence), or None.

    Reads the recipe's "population": {"size": N, "max_uniques_share": share}. No key, no share, or a
    count table: None. A malformed key, or a size smaller than the records released, is a problem (the
    threshold cannot be judged). Otherwise the estimated population uniques / N must not exceed the share."""
    try:
        conf = recipe_settings(review.recipe)
        if conf is None or conf["max_uniques_share"] is None:
            return None
        result = of_review(review)
    except PopulationError as exc:
        return str(exc)
    if result is None:
        return None
    limit = conf["max_uniques_share"]
    if result.uniques_share <= limit + 1e-15:
        return None
    where = f" ({conf['place']})" if conf.get("place") else ""
    return (f"About {_count(result.uniques)} of the {result.size:,} people{where} the release could be about are "
            f"estimated to be unique on its quasi-identifiers ({_pct(result.uniques_share)}, "
            f"{MODEL_NAMES[result.model]} model), above the limit of {_pct(limit)}: generalize or suppress further.")
