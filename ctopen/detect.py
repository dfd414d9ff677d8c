"""Column roles with evidence: which columns identify a person, which help to, which are sensitive.

For each column, a random sample of rows (settings.DETECT_SAMPLE_SIZE, 500) is profiled; its distinct
values (up to rules.PRESIDIO_VALUES) go to Presidio in one call, with the column header as context.
The column's kind of data comes from the SHARE of sampled values that match (the coverage rule), never
from a single hit, combined with the header words, an offline person-name check (probablepeople), the
values' shape, their uniqueness, and word lists for health and criminal-justice attributes. The rules are
data in `ctopen.rules`; the recognizers in `ctopen.recognizers`. Time is bounded by the sample, not the rows.

Parts of a name in columns of their own (given name, surname, middle name, suffix) are read with
offline name-frequency lists (SSA given names, Census surnames); some roles depend on the other columns
(`_across_columns`): a given name beside a surname is a person's name (both direct), and map points that
are nearly unique per record are a household's location (direct), while repeated points (a town's centre)
stay quasi-identifiers. Amounts of money paid, owed, earned or received are sensitive (financial).

A row-number column (the values are exactly 0..n-1 or 1..n in file order, like pandas' "Unnamed: 0")
is `other`: it only says where a row sits in this file and links to nothing outside it. If the same
number is used elsewhere (a register's serial number), the reviewer marks it `direct`.
"""
from __future__ import annotations

import bisect
import functools
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ctopen import rules, settings

MASK = "•"

# ---------------------------------------------------------------------------------------------------
# results


@dataclass
class TextScan:
    """Personal data found inside the cells of a free-text column."""
    cells_sampled: int
    cells_with_pii: int
    found: dict[str, int]              # entity code -> cells holding it
    examples: list[str]                # cell snippets with the personal data masked

    @property
    def summary(self) -> str:
        if not self.cells_with_pii:
            return f"No personal data found in {self.cells_sampled:,} sampled cells."
        kinds = ", ".join(f"{n:,} {rules.label_of(e)}" for e, n in sorted(self.found.items(), key=lambda x: -x[1]))
        return f"{self.cells_with_pii:,} of {self.cells_sampled:,} sampled cells hold personal data ({kinds})."

    def to_dict(self) -> dict:
        return {**asdict(self), "summary": self.summary}


@dataclass
class ColumnRole:
    name: str
    role: str                  # direct | quasi | sensitive | other
    entity: str                # rules.ENTITIES code
    confidence: float          # 0..1
    evidence: list[str]        # plain sentences
    label: str = ""            # the entity in plain words
    examples: list[str] = field(default_factory=list)   # masked when the column is a direct identifier
    non_empty: int = 0
    distinct_share: float = 0.0
    text_scan: TextScan | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["text_scan"] = self.text_scan.to_dict() if self.text_scan else None
        return d


@dataclass
class Detection:
    rows: int
    engine: str
    columns: list[ColumnRole]
    seconds: float = 0.0

    def roles(self) -> dict[str, str]:
        return {c.name: c.role for c in self.columns}

    def column(self, name: str) -> ColumnRole:
        return next(c for c in self.columns if c.name == name)

    def by_role(self, role: str) -> list[str]:
        return [c.name for c in self.columns if c.role == role]

    @property
    def text_findings(self) -> list[ColumnRole]:
        """Columns whose cells were scanned for personal data inside free text."""
        return [c for c in self.columns if c.text_scan is not None]

    def to_dict(self) -> dict:
        return {"rows": self.rows, "engine": self.engine, "seconds": round(self.seconds, 3),
                "columns": [c.to_dict() for c in self.columns]}


# ---------------------------------------------------------------------------------------------------
# masking


def mask(value) -> str:
    """Mask a value for display: its first character, then a fixed run of bullets (the length stays hidden).

    "John Smith" -> "J••••", "860-555-0100" -> "8••••"; a value of 1-2 characters is all bullets.
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    text = str(value).strip()
    if not text:
        return ""
    if len(text) <= 2:
        return MASK * 4
    return text[0] + MASK * 4


def mask_spans(text: str, spans: list[tuple[int, int]], width: int = 80) -> str:
    """A snippet of free text around the first span, with every span masked."""
    out, last = [], 0
    for start, end in sorted(spans):
        if start < last:
            continue
        out.append(text[last:start])
        out.append(mask(text[start:end]))
        last = end
    out.append(text[last:])
    masked = "".join(out).replace("\n", " ")
    if len(masked) > width:
        first = max(0, sorted(spans)[0][0] - width // 3) if spans else 0
        masked = ("…" if first else "") + masked[first:first + width] + "…"
    return masked


# ---------------------------------------------------------------------------------------------------
# engine

_ENGINE = None


def build_engine(model: str | None = "auto"):
    """The Presidio engine (a `ctopen.recognizers.Engine`), built once per process and reused."""
    global _ENGINE
    if model != "auto":
        from ctopen.recognizers import build_engine as build
        return build(model)
    if _ENGINE is None:
        from ctopen.recognizers import build_engine as build
        _ENGINE = build()
    return _ENGINE


# ---------------------------------------------------------------------------------------------------
# header words

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")
_ID_SUFFIX_EXCEPTIONS = {"paid", "valid", "invalid", "void", "fluid", "liquid", "humid", "rapid", "solid",
                         "avoid", "covid", "acid", "lucid", "vivid", "timid", "hybrid", "squid", "david",
                         "android", "steroid", "opioid", "thyroid", "unpaid", "prepaid", "medicaid", "overpaid",
                         "said", "laid", "raid", "maid", "aid", "bid", "did", "hid", "kid", "lid", "mid", "rid",
                         "grid", "skid", "amid", "arid", "braid", "staid", "afraid", "pyramid", "candid"}


def header_tokens(name: str) -> tuple[list[str], str]:
    """Words of a header ("ResidenceCity" -> ["residence", "city"]) and its run-together lowercase form."""
    spaced = _CAMEL.sub(" ", str(name))
    tokens = [t for t in re.split(r"[^A-Za-z0-9#]+", spaced.lower()) if t]
    compact = re.sub(r"[^a-z0-9#]", "", str(name).lower())
    return tokens, compact


def _word_in_header(word: str, tokens: list[str], compact: str, spaced: str) -> bool:
    if " " in word:
        return word in spaced or word.replace(" ", "") in compact
    if len(word) <= 3:
        if word in tokens:
            return True
        # run-together lowercase headers: "credentialid", "casenum"
        if word in ("id", "no", "num", "nbr", "dob", "ssn", "zip") and compact.endswith(word) \
                and len(compact) > len(word) + 3 and compact not in _ID_SUFFIX_EXCEPTIONS \
                and not any(compact.endswith(x) for x in _ID_SUFFIX_EXCEPTIONS if len(x) >= 5):
            return True
        return False
    return word in compact


# header words that make a 1..n column a record number of a person rather than a row number ("Serial Number" and
# "ID" alone stay row numbers: an export's running count)
ROW_NUMBER_ID_WORDS = ("mrn", "medical record", "record", "case", "patient", "client", "member", "inmate", "booking",
                       "docket", "account", "acct", "ssn", "license")


def header_hits(name: str) -> dict[str, str]:
    """Kinds of data the header points at -> the header word that says so (vetoes applied)."""
    tokens, compact = header_tokens(name)
    spaced = " ".join(tokens)
    hits: dict[str, str] = {}
    for entity, words in rules.HEADER_WORDS.items():
        for w in words:
            if _word_in_header(w, tokens, compact, spaced):
                hits[entity] = w
                break
    for entity, vetoes in rules.HEADER_VETO.items():
        if entity not in hits:
            continue
        if entity in rules.WHOLE_WORD_VETO:
            if any((f" {v} " in f" {spaced} ") for v in vetoes):
                del hits[entity]
        elif any(_word_in_header(v, tokens, compact, spaced) for v in vetoes):
            del hits[entity]
    if hits.get("town") == "res" and hits.keys() & {"county", "state", "zip", "street_address", "coordinates",
                                                     "date", "race", "sex", "ethnicity", "age"}:
        del hits["town"]          # "Res" alone is the town of residence; "ResCnty", "ResZip" say what of it
    return hits


# ---------------------------------------------------------------------------------------------------
# column profile

_NUM = re.compile(r"^[-+]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?$")
_INT = re.compile(r"^[-+]?\d+$")
_THOUSANDS_OR_DECIMAL = re.compile(r"^[-+]?\$?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d*\.\d+)%?$|^\$")
_CODE = re.compile(r"^(?=.*[A-Za-z0-9])[A-Za-z0-9]+(?:[-./_#:][A-Za-z0-9]+){0,4}$")
_AGE = re.compile(r"^(?:\d{1,3}(?:\s*(?:-|to)\s*\d{1,3})?\+?|\d{1,3}\s*(?:years?|yrs?|y)\.?)$", re.I)
_YEAR = re.compile(r"^(?:1[89]|20)\d{2}$")
_DECIMAL_COORD = re.compile(r"^-?\d{1,3}\.\d{3,}$")


@dataclass
class Profile:
    rows: int
    non_empty: int
    values: list[str]             # sampled non-empty values (rows, with repeats)
    counts: Counter               # distinct sampled value -> times sampled
    distinct_share: float         # distinct / non-empty (exact, or estimated on a sample for large columns)
    distinct_exact: bool
    numeric: float = 0.0          # shares of sampled values
    integer: float = 0.0
    measured: float = 0.0         # thousands separators, decimals, $ or %
    code_like: float = 0.0
    alpha: float = 0.0
    flag: float = 0.0
    age_like: float = 0.0
    coord_like: float = 0.0
    mean_words: float = 0.0
    leading_zero: float = 0.0
    fixed_width: bool = False
    row_number: bool = False
    constant: bool = False

    @property
    def n(self) -> int:
        return len(self.values)


def _share(values, pred) -> float:
    """Share of values for which pred holds; `values` a list, or a Counter (each distinct value tested once)."""
    if isinstance(values, Counter):
        total = sum(values.values())
        return sum(n for v, n in values.items() if pred(v)) / total if total else 0.0
    return sum(1 for v in values if pred(v)) / len(values) if values else 0.0


def _is_missing(v: str) -> bool:
    return v.strip().lower() in rules.MISSING_VALUES


def _positions(rng: np.random.Generator, rows: int, k: int) -> np.ndarray:
    """k distinct random row positions, sorted (cheap on a million rows: no full permutation)."""
    if rows <= k:
        return np.arange(rows)
    pos = np.unique(rng.integers(0, rows, size=k + k // 8 + 16))
    while len(pos) < k:
        pos = np.unique(np.concatenate([pos, rng.integers(0, rows, size=k)]))
    return np.sort(rng.permutation(pos)[:k])


def profile(series: pd.Series, sample_rows: int, rng: np.random.Generator) -> Profile:
    rows = len(series)
    s = series if series.dtype == "str" else series.astype("str")
    # sample rows at random positions; a sparse column falls back to its non-empty values
    take = min(rows, sample_rows + sample_rows // 2)
    pos = _positions(rng, rows, take)
    # a short column (every row is in the sample: a wide file has thousands) is read as a plain list, which gives
    # what the pandas calls below give without their fixed cost per call
    every = [v for v in s.tolist() if isinstance(v, str)] if rows <= take else None
    if every is not None and len(every) >= min(sample_rows, rows) // 2:
        picked = every
    else:
        found = s.iloc[pos].dropna()
        if len(found) < min(sample_rows, rows) // 2:
            nonnull = s.dropna()
            found = nonnull.sample(min(len(nonnull), sample_rows * 3), random_state=1) if len(nonnull) else nonnull
        picked = found.tolist()
    values = [v.strip() for v in picked if not _is_missing(v)][:sample_rows]
    if every is not None:
        non_empty = len(every)
    else:
        non_empty = int(s.notna().sum()) if rows <= rules.EXACT_UNIQUE_ROWS else int(round(rows * (s.iloc[pos].notna().mean() if take else 0)))
    counts = Counter(values)
    if rows <= rules.EXACT_UNIQUE_ROWS:
        nun = len(set(every)) if every is not None else s.nunique(dropna=True)
        distinct_share, exact = (nun / non_empty if non_empty else 0.0), True
    elif len(counts) < 0.3 * len(values):
        # few distinct values in the sample: the column is far from unique (a sample overstates uniqueness)
        distinct_share, exact = (len(counts) / len(values) if values else 0.0), False
    else:
        block = s.iloc[_positions(rng, rows, rules.UNIQUE_SAMPLE_ROWS)].dropna()
        distinct_share, exact = (block.nunique() / len(block) if len(block) else 0.0), False
    p = Profile(rows=rows, non_empty=non_empty, values=values, counts=counts,
                distinct_share=distinct_share, distinct_exact=exact)
    if not values:
        return p
    p.numeric = _share(counts, _NUM.match)
    p.integer = _share(counts, _INT.match)
    p.measured = _share(counts, _THOUSANDS_OR_DECIMAL.match)
    p.code_like = _share(counts, lambda v: bool(_CODE.match(v)) and len(v) >= 3 and not _THOUSANDS_OR_DECIMAL.match(v))
    p.alpha = _share(counts, lambda v: any(c.isalpha() for c in v) and not any(c.isdigit() for c in v))
    p.flag = _share(counts, lambda v: v.lower() in rules.FLAG_VALUES or v.lower().startswith("y "))
    p.age_like = _share(counts, lambda v: bool(_AGE.match(v)) and int(re.match(r"\d+", v).group()) <= 120)
    p.coord_like = _share(counts, lambda v: bool(_DECIMAL_COORD.match(v)) and abs(float(v)) <= 180)
    p.mean_words = sum(len(v.split()) for v in values) / len(values)
    p.leading_zero = _share(counts, lambda v: len(v) > 1 and v[0] == "0" and v.isdigit())
    p.fixed_width = len({len(v) for v in counts}) == 1
    # every row holds the same value (a column of "Y" or empty is a flag, not a constant)
    p.constant = len(counts) == 1 and non_empty == rows and (distinct_share * non_empty <= 1.0 if exact else True)
    if p.integer == 1.0 and rows > 1:
        check = np.unique(np.concatenate([[0, rows - 1], pos[:200]]))
        got = s.iloc[check].tolist()
        for base in (0, 1):
            if all(isinstance(v, str) and v.strip().lstrip("0") == str(i + base).lstrip("0") for i, v in zip(check, got)):
                p.row_number = True
    return p


# ---------------------------------------------------------------------------------------------------
# Presidio on the sample

_DIGIT_ENTITIES = {"PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IP_ADDRESS", "DATE_TIME", "CT_ZIP", "DATE_OF_BIRTH",
                   "RECORD_NUMBER", "STREET_ADDRESS", "COORDINATES"}
_ALPHA_ENTITIES = {"SEX", "RACE", "ETHNICITY", "CT_TOWN", "CT_COUNTY", "US_STATE", "TITLED_NAME", "PERSON",
                   "LOCATION", "EMAIL_ADDRESS", "STREET_ADDRESS", "LISTED_NAME"}
_CONTAINS = {"COORDINATES"}          # a value counts when it holds one (e.g. "Norwalk, CT\n(41.1, -73.4)")
_STRONG_TEXT_PII = {"EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IP_ADDRESS"}  # one cell is enough
_TEXT_PII = {"EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IP_ADDRESS", "TITLED_NAME", "PERSON",
             "STREET_ADDRESS", "LISTED_NAME"}
SEP = "\n\n"
_EMAIL_HINT = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_TEXT_ENTITIES = {"free_text", "free_text_pii", "health", "criminal_justice", "financial", "text", "category",
                  "organization"}
_PHONE_HINT = re.compile(r"(?<![\d.])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?![\d.])|\+\d")


@dataclass
class Scan:
    analyzed: list[str]
    weights: list[int]
    full: dict[str, set[int]]            # our entity -> indexes of values it covers
    inside: dict[str, set[int]]          # Presidio entity -> indexes of values holding one somewhere
    spans: dict[int, list[tuple[int, int, str]]]


def presidio_scan(engine, values: list[str], counts: Counter, header: str, limit: int) -> Scan:
    distinct = [v[:rules.MAX_SCAN_CHARS] for v in dict.fromkeys(values)][:limit]
    use_ner = engine.has_ner and sum(any(c.isalpha() for c in v) for v in distinct) >= len(distinct) / 2
    if use_ner:
        distinct = distinct[:rules.NER_VALUES]       # every share is taken over the values the model read
    weights = [counts[v] for v in list(dict.fromkeys(values))[:len(distinct)]]
    wanted = set(engine.entities())
    if not any(any(c.isdigit() for c in v) for v in distinct):
        wanted -= _DIGIT_ENTITIES - _ALPHA_ENTITIES
    if all(_NUM.match(v) for v in distinct):
        wanted -= _ALPHA_ENTITIES
    if not any("@" in v for v in distinct):
        wanted.discard("EMAIL_ADDRESS")
    elif sum(bool(_EMAIL_HINT.match(v)) for v in distinct) >= 0.8 * len(distinct):
        wanted &= {"EMAIL_ADDRESS"}         # a column of email addresses: nothing else can cover them
    if not any(_PHONE_HINT.search(v) for v in distinct):
        wanted.discard("PHONE_NUMBER")      # phonenumbers is slow: run it only where a phone could be
    scan = Scan(distinct, weights, {}, {}, {})
    if not distinct or not wanted:
        return scan
    text = SEP.join(distinct)
    starts, at = [], 0
    for v in distinct:
        starts.append(at)
        at += len(v) + len(SEP)
    tokens, compact = header_tokens(header)
    context = list(dict.fromkeys(tokens + [compact]))
    results = engine.analyze(text, entities=sorted(wanted), context=context)
    if use_ner:
        for i, found in enumerate(engine.analyze_ner(distinct, context=context)):
            for r in found:                             # the model's NER, value by value
                r.start, r.end = r.start + starts[i], r.end + starts[i]
                results.append(r)
    covered: dict[tuple[int, str], int] = {}
    for r in results:
        if r.score < rules.MIN_SCORE:
            continue
        i = bisect.bisect_right(starts, r.start) - 1
        if i < 0 or r.end > starts[i] + len(distinct[i]):
            continue                      # a match across two values
        scan.inside.setdefault(r.entity_type, set()).add(i)
        scan.spans.setdefault(i, []).append((r.start - starts[i], r.end - starts[i], r.entity_type))
        ours = rules.PRESIDIO_ENTITIES.get(r.entity_type)
        if ours:
            covered[(i, ours)] = covered.get((i, ours), 0) + (r.end - r.start)
            if r.entity_type in _CONTAINS:
                covered[(i, ours)] = 10 ** 6
    for (i, ours), n in covered.items():
        if n >= 0.6 * len(distinct[i].strip()):
            scan.full.setdefault(ours, set()).add(i)
    return scan


def _text_pii_spans(scan: Scan) -> dict[int, list[tuple[int, int, str]]]:
    """Direct identifiers inside cell text, leaving out digits that belong to a date or coordinates."""
    out = {}
    for i, spans in scan.spans.items():
        shields = [(a, b) for a, b, e in spans if e in ("COORDINATES", "DATE_TIME")]
        keep = [(a, b, e) for a, b, e in spans if e in _TEXT_PII
                and not any(a < y and x < b for x, y in shields)]
        if keep:
            out[i] = keep
    return out


def _weighted(scan: Scan, idx: set[int]) -> int:
    return sum(scan.weights[i] for i in idx)


# ---------------------------------------------------------------------------------------------------
# decision


@dataclass
class Candidate:
    entity: str
    confidence: float
    evidence: list[str]


_ROLE_RANK = {"direct": 3, "sensitive": 2, "quasi": 1, "other": 0}


def _pct(x: float) -> str:
    return f"{x:.0%}" if x < 0.995 or x == 1 else f"{x:.1%}"


def _vocab_share(values: list[str], words: list[str]) -> float:
    """Share of values holding one of the words (a word ending in * matches any ending: "bupre*")."""
    return _share(values, _vocab_pattern(tuple(words)).search)


@functools.lru_cache(maxsize=256)
def _vocab_pattern(words: tuple[str, ...]) -> re.Pattern:
    alts = [re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w)
            for w in sorted(set(words), key=len, reverse=True)]
    return re.compile(r"\b(?:" + "|".join(alts) + r")\b", re.I)


def _compatible(entity: str, p: Profile) -> bool:
    """May a header's word be believed for these values? (A header alone is weaker than the values.)"""
    distinct = len(p.counts)
    if entity in ("person_name", "organization"):
        return p.alpha >= 0.8 and p.flag < 0.5
    if entity in ("email", "phone", "ssn", "street_address"):
        return p.flag < 0.5 and p.measured < 0.5
    if entity in ("town", "county", "state"):
        return p.alpha >= 0.8 or (p.integer >= 0.95 and distinct <= 200 and p.measured == 0)
    if entity in ("sex", "race", "ethnicity"):
        return distinct <= 30
    if entity == "age":
        return p.age_like >= 0.9
    if entity == "coordinates":
        return p.coord_like >= 0.9
    if entity in ("amount", "count"):
        return p.numeric >= 0.8
    if entity in ("health", "criminal_justice"):
        return p.numeric < 0.5
    if entity == "financial":            # amounts, not yes/no flags or years ("Paid" Y/N, "Pay Year")
        return p.numeric >= 0.5 and p.flag < 0.9 and _share(p.counts, _YEAR.match) < 0.9
    if entity == "category":
        return distinct <= 100 or p.distinct_share <= 0.05
    return False


_NAME_PARTS = ("given_name", "surname", "middle_name", "name_suffix")
_WEAK_PART_WORDS = {"first", "last", "middle", "given", "maiden", "mi", "lst", "fst", "frst", "generation"}


def _name_part_candidates(name: str, p: Profile, hits: dict[str, str]) -> list[Candidate]:
    """Given name, surname, middle name or suffix: the share of values the name lists know, and the header."""
    parts = {e: hits[e] for e in _NAME_PARTS if e in hits}
    if not p.counts or p.alpha < 0.8 or p.flag >= 0.5 or p.mean_words > rules.NAME_PART_MAX_WORDS:
        return []
    from ctopen.recognizers import name_part_shares
    sh = name_part_shares(p.counts)
    header = f"header '{name}'"

    def said(e: str) -> str:
        return f"{header} reads as {rules.label_of(e)} ('{parts[e]}')"

    if "name_suffix" in parts and sh.suffix >= rules.NAME_PART_SHARE_WITH_HEADER:
        return [Candidate("name_suffix", 0.6 + 0.3 * sh.suffix,
                          [f"{_pct(sh.suffix)} of sampled values are name suffixes (Jr., Sr., III)", said("name_suffix")])]
    with_header = bool(parts.keys() & {"given_name", "surname", "middle_name"})
    if not with_header:            # values alone: not under a header that names no person ("School", "Dog Name")
        tokens, compact = header_tokens(name)
        if any(_word_in_header(v, tokens, compact, " ".join(tokens)) for v in rules.HEADER_VETO["person_name"]):
            return []
    if "given_name" in parts:
        kind = "given_name"
    elif "surname" in parts:
        kind = "surname"
    elif "middle_name" in parts:
        kind = "middle_name"
    else:
        kind = "given_name" if sh.given_first > sh.surname_first else "surname"
    share = {"given_name": sh.given, "surname": sh.surname, "middle_name": sh.given + sh.initial}[kind]
    primary = {"given_name": sh.given_first, "surname": sh.surname_first, "middle_name": share}[kind]
    need = rules.NAME_PART_SHARE_WITH_HEADER if with_header else rules.NAME_PART_SHARE
    enough = sh.distinct >= (rules.NAME_PART_MIN_DISTINCT_WITH_HEADER if with_header else rules.NAME_PART_MIN_DISTINCT)
    if enough and share >= need and (with_header or primary >= 0.5):
        if kind == "middle_name" and sh.initial >= sh.given:
            ev = [f"{_pct(share)} of sampled values are initials or given names ({_pct(sh.initial)} initials)"]
        else:
            ev = [f"{_pct(share)} of sampled values are {rules.plural_of(kind)}"]
        if kind in parts:
            ev.append(said(kind))
        elif "person_name" in hits:
            ev.append(f"{header} reads as a person's name ('{hits['person_name']}')")
        return [Candidate(kind, 0.55 + 0.35 * share + (0.1 if with_header else 0), ev)]
    # a header that plainly says so ("LastName", "PT_FNAME"), over words the lists do not know
    strong = [e for e in ("given_name", "surname", "middle_name") if e in parts and parts[e] not in _WEAK_PART_WORDS]
    if strong and sh.initial < 0.5:
        return [Candidate(strong[0], 0.55, [said(strong[0])])]
    return []


def _money_shape(p: Profile) -> tuple[str, bool]:
    """The values' shape in words ("amounts from 12.50 to 48,200.00, 96% with cents"), and whether it is money's."""
    from ctopen.values import parse_numbers
    values = list(p.counts)
    nums = parse_numbers(values).dropna()
    if nums.empty:
        return "the values are numbers", False
    cents = _share(p.counts, re.compile(r"\.\d{2}$").search)
    dollar = _share(p.counts, lambda v: "$" in v)
    text = f"the values are amounts from {nums.min():,.2f} to {nums.max():,.2f}"
    if dollar >= 0.5:
        text += f", {_pct(dollar)} with a $ sign"
    if cents >= 0.5:
        text += f", {_pct(cents)} with cents"
    if p.distinct_share >= 0.5:
        text += f"; {_pct(p.distinct_share)} distinct: an amount can also single a record out"
    return text, dollar >= 0.5 or cents >= 0.5 or p.measured >= 0.5


def decide(name: str, p: Profile, scan: Scan, hits: dict[str, str]) -> tuple[list[Candidate], TextScan | None]:
    cands: list[Candidate] = []
    n = sum(scan.weights) or 1
    header = f"header '{name}'"

    # 1. values matched by Presidio recognizers (the coverage rule)
    for ent, idx in scan.full.items():
        if ent == "record_id":
            continue
        k = _weighted(scan, idx)
        share = k / n
        agrees = ent in hits
        if share >= (rules.VALUE_SHARE_WITH_HEADER if agrees else rules.VALUE_SHARE):
            ev = [f"{k:,} of {n:,} sampled values are {rules.plural_of(ent)} ({_pct(share)})"]
            conf = 0.5 + 0.4 * share
            if agrees:
                ev.append(f"{header} also reads as {rules.label_of(ent)} ('{hits[ent]}')")
                conf += 0.1
            cands.append(Candidate(ent, conf, ev))
    # town and county share names (Hartford, Windham, ...): a column of county names only is a county
    names = {c.entity for c in cands}
    if {"town", "county"} <= names and "town" not in hits:
        county_idx = scan.full["county"]
        if len(county_idx) == len(scan.full.get("town", ())) and len(scan.analyzed) <= 12:
            cands = [c for c in cands if c.entity != "town"]

    # 2. person names (offline check; NER adds PERSON above when a model is installed)
    if p.alpha >= 0.5:
        from ctopen.recognizers import looks_like_person_name
        k = sum(w for v, w in zip(scan.analyzed, scan.weights) if looks_like_person_name(v))
        share = k / n
        agrees = "person_name" in hits
        if share >= (rules.NAME_SHARE_WITH_HEADER if agrees else rules.NAME_SHARE) and (agrees or p.distinct_share >= 0.2):
            ev = [f"{k:,} of {n:,} sampled values read as a person's given name and surname ({_pct(share)})"]
            if agrees:
                ev.append(f"{header} reads as a person's name ('{hits['person_name']}')")
            cands.append(Candidate("person_name", 0.5 + 0.35 * share + (0.1 if agrees else 0), ev))

    # 2b. parts of a name in columns of their own (name-frequency lists, helped by the header)
    if not any(c.entity == "person_name" for c in cands):
        cands += _name_part_candidates(name, p, hits)

    # 3. record/case numbers: (nearly) unique codes, or an identifier header over many distinct codes
    measure = p.measured >= 0.5 or any(e in hits for e in ("amount", "count", "financial"))
    flaglike = p.flag >= 0.9
    if not measure and not flaglike and not p.row_number and p.n:
        plain_int = p.integer >= 0.95
        code_ok = p.code_like >= 0.8 and (not plain_int or "record_id" in hits or p.leading_zero >= 0.5
                                           or (p.fixed_width and len(next(iter(p.counts))) >= 5))
        uniq = f"{_pct(p.distinct_share)} of values are unique" + ("" if p.distinct_exact else f" (estimated on {rules.UNIQUE_SAMPLE_ROWS:,} sampled rows)")
        pattern_k = _weighted(scan, scan.full.get("record_id", set()))
        if code_ok and p.distinct_share >= rules.UNIQUE_RECORD_ID:
            ev = [uniq, "the values are codes, not measured amounts"]
            conf = 0.85
            if "record_id" in hits:
                ev.append(f"{header} reads as an identifier ('{hits['record_id']}')")
                conf += 0.1
            cands.append(Candidate("record_id", conf, ev))
        elif code_ok and "record_id" in hits and p.distinct_share >= rules.ID_WITH_HEADER and len(p.counts) >= 20:
            ev = [f"{header} reads as an identifier ('{hits['record_id']}')", uniq + ": each code marks few records"]
            cands.append(Candidate("record_id", 0.75, ev))
        elif plain_int and p.distinct_share >= rules.UNIQUE_RECORD_ID and not hits and min(len(v) for v in p.counts) >= 4:
            cands.append(Candidate("record_id", 0.6, [uniq, "whole numbers with no header word for a measure: read as record numbers"]))
        if pattern_k and cands and cands[-1].entity == "record_id":
            cands[-1].evidence.append(f"{pattern_k:,} of {n:,} sampled values look like case or record numbers")

    # 4. health and criminal-justice words inside the values; drug-finding flags
    for ent in ("health", "criminal_justice"):
        share = _vocab_share(list(p.counts), rules.VALUE_WORDS[ent]) if p.counts else 0.0
        if share >= rules.VOCAB_SHARE and p.numeric < 0.5 and "town" not in {c.entity for c in cands}:
            cands.append(Candidate(ent, 0.6 + 0.3 * share + (0.05 if ent in hits else 0),
                                   [f"{_pct(share)} of distinct sampled values name a {rules.label_of(ent).split(' (')[0]} matter"]))
    if "health" in hits and flaglike:
        cands.append(Candidate("health", 0.9, [f"{header} names a drug or condition ('{hits['health']}') and the values are "
                                               "yes/no findings: a health attribute of the person"]))

    # 5. header words alone (weaker), when the values do not contradict them
    have = {c.entity for c in cands}
    for ent, word in hits.items():
        if ent in have or ent in ("record_id", "date", "date_of_birth", "record_date", "zip", "email", "phone", "ssn") \
                or ent in _NAME_PARTS:
            continue
        if _compatible(ent, p):
            base = {"age": 0.8, "coordinates": 0.8, "health": 0.7, "criminal_justice": 0.7, "financial": 0.7, "amount": 0.65, "count": 0.65,
                    "category": 0.45, "organization": 0.5}.get(ent, 0.55)
            if ent == "financial":
                shape, money = _money_shape(p)
                cands.append(Candidate(ent, base + (0.05 if money else 0),
                                       [f"{header} names money paid, owed, earned or received ('{word}')", shape]))
                continue
            cands.append(Candidate(ent, base, [f"{header} reads as {rules.label_of(ent)} ('{word}')"]))
    if not have & {"date", "date_of_birth"} and _share(p.counts, _YEAR.match) >= 0.95:
        ent = "date_of_birth" if "date_of_birth" in hits else "date" if "date" in hits else None
        if ent:                   # a date kept to the year (year of birth, of death, of admission)
            cands.append(Candidate(ent, 0.7, [f"{header} and the values are years ('{hits[ent]}'): "
                                              f"{rules.label_of(ent)} at year level"]))
            have.add(ent)
    if "date" in have and "record_date" in hits:
        for c in cands:
            if c.entity == "date":
                c.entity = "record_date"
                c.evidence.append(f"{header} says it records when the data was kept ('{hits['record_date']}'), not an event about a person")
    if "date_of_birth" in have:
        cands = [c for c in cands if c.entity != "date"]     # the dates are the dates of birth
    elif "date" in have and "date_of_birth" in hits:
        for c in cands:
            if c.entity == "date":
                c.entity, c.confidence = "date_of_birth", c.confidence + 0.05
                c.evidence.append(f"{header} reads as date of birth ('{hits['date_of_birth']}')")

    # 6. free text: personal data inside the cells
    text_scan = None
    if p.mean_words >= 2.5 and len(p.counts) >= 5:
        pii = _text_pii_spans(scan)
        found: Counter = Counter()
        for i, spans in pii.items():
            for e in {e for _, _, e in spans}:
                found[rules.PRESIDIO_ENTITIES.get(e, e)] += scan.weights[i]
        k = _weighted(scan, set(pii))
        examples = [mask_spans(scan.analyzed[i], [(a, b) for a, b, _ in pii[i]]) for i in sorted(pii)[:3]]
        text_scan = TextScan(cells_sampled=n, cells_with_pii=k, found=dict(found), examples=examples)
        if p.mean_words >= rules.FREE_TEXT_WORDS:
            strong = _weighted(scan, {i for i, spans in pii.items() if any(e in _STRONG_TEXT_PII for _, _, e in spans)})
            if strong >= rules.FREE_TEXT_PII_CELLS or k >= max(2, rules.FREE_TEXT_WEAK_SHARE * n):
                cands.append(Candidate("free_text_pii", 0.8, [f"free text: {text_scan.summary}"]))
            else:
                cands.append(Candidate("free_text", 0.4, [f"free text (on average {p.mean_words:.1f} words a value); {text_scan.summary}"]))

    # 7. shape of the values
    if flaglike:
        cands.append(Candidate("flag", 0.7, ["the values are yes/no flags"]))
    if p.numeric >= 0.95 and not any(c.entity in ("amount", "count") for c in cands):
        kind = "count" if p.integer >= 0.95 and p.measured < 0.5 else "amount"
        cands.append(Candidate(kind, 0.5, ["the values are numbers" + (" with thousands separators or decimals" if p.measured >= 0.5 else "")]))
    if len(p.counts) <= 50 and p.distinct_share <= 0.05 and not cands:
        cands.append(Candidate("category", 0.45, [f"{len(p.counts)} different values repeat across the rows: a category"]))
    return cands, text_scan


def classify(name: str, series: pd.Series, engine, rng, sample_rows: int, presidio_values: int) -> ColumnRole:
    p = profile(series, sample_rows, rng)
    if not p.values:
        return ColumnRole(name, "other", "empty", 1.0, ["the column has no values"], rules.label_of("empty"))
    hits = header_hits(name)
    base = [f"{p.non_empty:,} non-empty values, {_pct(p.distinct_share)} distinct"
            + ("" if p.distinct_exact else " (estimated)")]
    tokens, _compact = header_tokens(name)
    strong = [w for w in ROW_NUMBER_ID_WORDS if w in tokens or w in " ".join(tokens)]
    if p.row_number and strong:
        # 1..n in file order, but the header says it numbers people's records (a medical record number, a case
        # number): such numbers are used outside this file too, so it is not a harmless row number
        return ColumnRole(name, "direct", "record_id", 0.7,
                          [f"the values run 1..n in file order, but the header names a record of a person "
                           f"('{strong[0]}'): a number used elsewhere points at one person"],
                          rules.label_of("record_id"), examples=[mask(v) for v in list(p.counts)[:3]],
                          non_empty=p.non_empty, distinct_share=p.distinct_share)
    if p.row_number:
        return ColumnRole(name, "other", "row_number", 0.8,
                          ["the values are the row positions (0..n-1 or 1..n in file order): a row number that "
                           "links to nothing outside this file; mark it direct if the same number is used elsewhere"],
                          rules.label_of("row_number"), examples=list(p.counts)[:3], non_empty=p.non_empty,
                          distinct_share=p.distinct_share)
    scan = presidio_scan(engine, p.values, p.counts, name, presidio_values)
    cands, text_scan = decide(name, p, scan, hits)
    if p.measured >= 0.5 or p.flag >= 0.9:         # no count, amount or flag column is a direct identifier
        cands = [c for c in cands if rules.role_of(c.entity) != "direct" or c.entity in ("phone", "ssn")]
    if p.constant:
        if not any(rules.role_of(c.entity) == "direct" for c in cands):
            cands = [Candidate("constant", 0.9, [f"every row holds the same value: it cannot tell people apart"])]
    if not cands:
        cands = [Candidate("text", 0.3, ["no recognizer, header word or value shape matched"])]
    best = max(cands, key=lambda c: (round(min(c.confidence, 0.99), 2), _ROLE_RANK[rules.role_of(c.entity)]))
    others = [f"also considered: {rules.label_of(c.entity)} ({c.confidence:.0%})"
              for c in sorted(cands, key=lambda c: -c.confidence) if c is not best and c.entity != best.entity][:2]
    role = rules.role_of(best.entity)
    shown = list(p.counts)[:3]
    if role == "direct":
        shown = [mask(v) for v in shown]
    else:                        # personal data inside an example cell is masked all the same
        pii = _text_pii_spans(scan)
        shown = [mask_spans(v, [(a, b) for a, b, _ in pii[i]], width=10 ** 6) if i in pii else v
                 for i, v in enumerate(shown)]
    if best.entity == "free_text_pii" and text_scan:
        shown = text_scan.examples
    if best.entity not in _TEXT_ENTITIES:
        text_scan = None         # values of one kind (addresses, coordinates): the column itself is the finding
    return ColumnRole(name=name, role=role, entity=best.entity, confidence=round(min(best.confidence, 0.99), 2),
                      evidence=best.evidence + base + others, label=rules.label_of(best.entity), examples=shown,
                      non_empty=p.non_empty, distinct_share=round(p.distinct_share, 4), text_scan=text_scan)


# ---------------------------------------------------------------------------------------------------
# roles that depend on the other columns


def _raise(c: ColumnRole, evidence: str) -> None:
    """Raise a column to its kind's raised role (rules.RAISED_ROLE), saying why; its examples get masked."""
    c.role = rules.RAISED_ROLE[c.entity]
    c.evidence.insert(1, evidence)
    if c.role == "direct":
        c.examples = [e if MASK in e else mask(e) for e in c.examples]


def _series(df: pd.DataFrame, columns: list[ColumnRole], c: ColumnRole) -> pd.Series:
    return df.iloc[:, next(j for j, x in enumerate(columns) if x is c)]


def _names_across(df: pd.DataFrame, columns: list[ColumnRole]) -> None:
    """A given name beside a surname is a person's name: both direct, and a full middle name with them."""
    given = [c for c in columns if c.entity == "given_name"]
    last = [c for c in columns if c.entity == "surname"]
    if not last:
        for c in given:
            c.evidence.insert(1, "no surname column beside it: a given name alone is a quasi-identifier "
                                 "(with a surname it names the person)")
    if not given or not last:
        return
    for c in given:
        c.evidence[0] += f"; beside {', '.join(repr(x.name) for x in last)}"
        _raise(c, "a given name beside a surname names the person: a direct identifier")
    for c in last:
        c.evidence[0] += f"; beside {', '.join(repr(x.name) for x in given)}"
    pair = f"{given[0].name!r} and {last[0].name!r}"
    for c in columns:
        if c.entity == "middle_name":
            values = _series(df, columns, c).dropna().astype(str).str.strip().str.rstrip(".")
            values = values[values != ""]
            if len(values) and (values.str.len() == 1).mean() < 0.5:
                _raise(c, f"a middle name beside {pair}: part of the person's name")
            else:
                c.evidence.insert(1, f"initials beside {pair}: alone they do not name anyone")
        elif c.entity == "name_suffix":
            c.evidence.insert(1, f"a suffix beside {pair}: alone it does not name anyone")


_LAT = re.compile(r"latitude|lat|^y$|ycoord|y_coord|northing", re.I)
_LON = re.compile(r"longitude|long|lon|lng|^x$|xcoord|x_coord|easting", re.I)
_COORD_NUMBER = re.compile(r"-?\d{1,3}\.(\d+)")


def _decimals(values) -> int:
    """Median decimals of the coordinates written in the values."""
    found = [len(m.group(1)) for v in values for m in _COORD_NUMBER.finditer(str(v))]
    return int(np.median(found)) if found else 0


_PRECISION = {0: "about 100 km", 1: "about 10 km", 2: "about 1 km", 3: "about 100 m", 4: "about 10 m"}


def _points(df: pd.DataFrame, columns: list[ColumnRole]) -> list[tuple[list[ColumnRole], pd.DataFrame]]:
    """Map points: a column holding both numbers ("(41.3, -72.9)", "POINT (-72.9 41.3)"), or a pair of
    latitude and longitude columns (paired by their headers' other words, or the only two)."""
    coords = [c for c in columns if c.entity == "coordinates"]
    out, axes = [], []
    for c in coords:
        sample = _series(df, columns, c).dropna().head(50).astype(str)
        if len(sample) and sample.str.fullmatch(r"\s*-?\d{1,3}\.\d+\s*").mean() >= 0.9:
            axes.append(c)
        else:
            out.append(([c], pd.DataFrame({0: _series(df, columns, c).to_numpy()})))
    key = lambda c, rx: rx.sub("", re.sub(r"[^a-z]", "", c.name.lower()))  # noqa: E731
    lats = [c for c in axes if _LAT.search(c.name) and not _LON.search(c.name)]
    lons = [c for c in axes if _LON.search(c.name) and c not in lats]
    for a in lats:
        mate = [b for b in lons if key(b, _LON) == key(a, _LAT)] or (list(lons) if len(lats) == len(lons) == 1 else [])
        if mate:
            lons.remove(mate[0])
            out.append(([a, mate[0]], pd.DataFrame({0: _series(df, columns, a).to_numpy(),
                                                    1: _series(df, columns, mate[0]).to_numpy()})))
    return out


def _homes_across(df: pd.DataFrame, columns: list[ColumnRole], rng: np.random.Generator) -> None:
    """Map points nearly unique per record are a household's location (direct); repeated points stay quasi."""
    for cols, frame in _points(df, columns):
        frame = frame.dropna(how="any")
        if len(frame) > rules.EXACT_UNIQUE_ROWS:
            frame = frame.iloc[_positions(rng, len(frame), rules.UNIQUE_SAMPLE_ROWS)]
        records = len(frame)
        if not records:
            continue
        points = len(frame.drop_duplicates())
        decimals = _decimals(frame.iloc[:200].to_numpy().ravel())
        share = points / records
        where = " and ".join(repr(c.name) for c in cols)
        said = f"{points:,} distinct points among {records:,} records ({_pct(share)}), {decimals} decimals"
        if share >= rules.HOME_POINT_SHARE and points > rules.HOME_POINT_MIN and decimals >= rules.HOME_POINT_DECIMALS:
            precision = _PRECISION.get(decimals, "about 1 m")
            for c in cols:
                _raise(c, f"{said} ({precision}): about one point per record, a household's location when the "
                          f"records are people, as precise as a street address ({where}); coarsen to the town or to "
                          f"2 decimals (about 1 km), or drop")
        elif share < rules.HOME_POINT_SHARE and decimals >= rules.HOME_POINT_DECIMALS and \
                records / points <= rules.HOME_REPEAT_MAX_RECORDS and \
                (homes := _not_town_centres(frame)) >= rules.HOME_REPEAT_MIN and homes >= rules.HOME_POINT_SHARE * points:
            # the points repeat, but most are not towns' centres and each holds a few records: one household's
            # records (several claims of one member) at its home; counting records would call it k = 5
            for c in cols:
                _raise(c, f"{said}: the points repeat, but {homes:,} are not town centres and each holds about "
                          f"{records / points:.1f} records: a household's records (several claims of one person) at "
                          f"its home ({where}); coarsen to the town or to 2 decimals (about 1 km), or drop")
        else:
            why = ("points repeat across records: places such as a town's centre, not homes"
                   if share < rules.HOME_POINT_SHARE else
                   f"{points:,} points or fewer than {rules.HOME_POINT_DECIMALS} decimals: could be towns' centres")
            for c in cols:
                c.evidence.insert(1, f"{said}: {why}")


def _not_town_centres(frame: pd.DataFrame) -> int:
    """Distinct points of a point frame (one "(lat, lon)" column, or lat and lon) in Connecticut and farther than
    rules.HOME_TOWN_CENTRE_DEGREES from every town's point (a city elsewhere is a city's centre, not a home here)."""
    from ctopen import geo
    if frame.shape[1] == 1:
        lat, lon = geo.parse_points(frame.iloc[:, 0].astype("str"))
    else:
        lat, lon = geo.parse_numbers(frame.iloc[:, 0]), geo.parse_numbers(frame.iloc[:, 1])
    pts = pd.DataFrame({"lat": lat, "lon": lon}).dropna().drop_duplicates().to_numpy()
    if not len(pts):
        return 0
    towns = geo.town_points()[["lat", "lon"]].to_numpy()
    near = np.zeros(len(pts), dtype=bool)
    for start in range(0, len(pts), 5000):          # bounded memory: 5,000 points x 169 towns at a time
        block = pts[start:start + 5000]
        d = np.maximum(np.abs(block[:, None, 0] - towns[None, :, 0]), np.abs(block[:, None, 1] - towns[None, :, 1]))
        near[start:start + 5000] = (d <= rules.HOME_TOWN_CENTRE_DEGREES).any(axis=1)
    return int((~near & ~geo.outside_ct(pts[:, 0], pts[:, 1])).sum())


def _across_columns(df: pd.DataFrame, columns: list[ColumnRole], rng: np.random.Generator) -> None:
    _names_across(df, columns)
    _homes_across(df, columns, rng)


def detect(df: pd.DataFrame, engine=None, sample_size: int | None = None,
           presidio_values: int | None = None, seed: int = 0) -> Detection:
    """Propose a role for every column of `df` (values as text), with the evidence for it."""
    t0 = time.perf_counter()
    engine = engine or build_engine()
    rng = np.random.default_rng(seed)
    sample_size = sample_size or getattr(settings, "DETECT_SAMPLE_SIZE", rules.SAMPLE_ROWS)
    presidio_values = presidio_values or rules.PRESIDIO_VALUES
    columns = [classify(str(name), df.iloc[:, j], engine, rng, sample_size, presidio_values)
               for j, name in enumerate(df.columns)]
    _across_columns(df, columns, rng)
    return Detection(rows=len(df), engine=engine.description, columns=columns, seconds=time.perf_counter() - t0)
