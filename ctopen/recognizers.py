"""Presidio recognizers ctopen adds for CT agency files, and the engine that runs them.

Presidio (presidio-analyzer) brings email, phone, SSN, credit card, IP address and date recognizers.
This module adds what it lacks for this data — ZIP (CT ZIPs known by name), date of birth, sex/gender,
race, ethnicity, CT towns (169 towns plus village names), CT counties, US states, case/record numbers,
street addresses, coordinates and names after a title (Mr., Dr.) — as ordinary Presidio
`PatternRecognizer`s, built from the word lists in `ctopen.rules`.

The engine works offline with no spaCy model: Presidio's no-op NLP engine (no download), with the
column header passed to `analyze()` as context words, so a header such as "Zip" or "DOB" raises the
score of matching values. When a spaCy model is installed (en_core_web_lg/md/sm/trf), its NER adds
PERSON and LOCATION (see `Engine`).

`person_name_share()` is the offline person-name check (probablepeople), used on column values.
"""
from __future__ import annotations

import csv
import functools
import logging
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

from ctopen import rules, settings

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # presidio must not reach the network

from presidio_analyzer import (AnalyzerEngine, LocalRecognizer, Pattern, PatternRecognizer,  # noqa: E402
                               RecognizerResult)
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer  # noqa: E402
from presidio_analyzer.nlp_engine import NoOpNlpEngine  # noqa: E402
from presidio_analyzer.predefined_recognizers import PhoneRecognizer  # noqa: E402

logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)

SPACY_MODELS = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm", "en_core_web_trf")


# --- reference data ---------------------------------------------------------------------------

@functools.cache
def ct_towns() -> dict[str, str]:
    """Lowercase name -> official town: the 169 towns, plus villages (ct_villages.csv) mapped to their town."""
    names: dict[str, str] = {}
    with open(settings.TOWNS_FILE, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            names[row["town"].strip().lower()] = row["town"].strip()
    villages = settings.DATA_DIR / "ct_villages.csv"
    if villages.exists():
        with open(villages, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                name = (row.get("village") or "").strip()
                town = (row.get("towns") or row.get("town") or "").split(";")[0].strip()
                if name and name.lower() not in names:
                    names[name.lower()] = town or name
    return names


@functools.cache
def ct_zips() -> frozenset[str]:
    with open(settings.ZIP_FILE, newline="", encoding="utf-8") as fh:
        return frozenset(row["zip"].strip().zfill(5) for row in csv.DictReader(fh))


# --- recognizers --------------------------------------------------------------------------------

class CtZipRecognizer(PatternRecognizer):
    """5- or 9-digit ZIP codes; a known Connecticut ZIP scores higher than any other 5 digits."""

    def __init__(self):
        super().__init__(
            supported_entity="CT_ZIP", name="CtZipRecognizer",
            patterns=[Pattern("zip", r"\b\d{5}(?:-?\d{4})?\b", 0.3),
                      # a CT ZIP whose leading zero a spreadsheet dropped (6001 for 06001): only with a header
                      Pattern("zip-lost-zero", r"\b6\d{3}(?:-?\d{4})?\b", 0.05)],
            context=["zip", "zipcode", "postal", "postcode", "zcta"],
        )

    def validate_result(self, pattern_text: str):  # None keeps the score, True raises it to 1.0
        return None

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        known = ct_zips()
        for r in results:
            if text[r.start:r.start + 5] in known:
                r.score = max(r.score, 0.6)
        return results


_DATE = (r"(?:\b\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z?)?"
         r"|\b\d{1,2}[/-]\d{1,2}[/-](?:\d{4}|\d{2})\b(?:\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*[AP]M)?)?"
         r"|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+\d{4}\b"
         r"|\b\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{4}\b)")


def _recognizers() -> list:
    towns = sorted(ct_towns(), key=len, reverse=True)
    words = lambda xs: sorted(set(xs), key=len, reverse=True)  # noqa: E731 - longest first for alternation
    out = [
        CtZipRecognizer(),
        # dates Presidio's DATE_TIME misses: ISO with time ("2011-06-07T00:00:00.000"), "March 3, 2019"
        PatternRecognizer(supported_entity="DATE_TIME", name="CtopenDateRecognizer",
                          patterns=[Pattern("date", _DATE, 0.6)]),
        # a date is a date of birth only with a header or a word nearby that says so
        PatternRecognizer(supported_entity="DATE_OF_BIRTH", name="DateOfBirthRecognizer",
                          patterns=[Pattern("date", _DATE, 0.05)],
                          context=["dob", "birth", "born", "birthdate", "bdate", "bday"]),
        PatternRecognizer(supported_entity="SEX", name="SexRecognizer", deny_list=words(rules.SEX_VALUES),
                          deny_list_score=0.5, context=["sex", "gender"]),
        PatternRecognizer(supported_entity="RACE", name="RaceRecognizer", deny_list=words(rules.RACE_VALUES),
                          deny_list_score=0.5, context=["race"]),
        PatternRecognizer(supported_entity="ETHNICITY", name="EthnicityRecognizer",
                          deny_list=words(rules.ETHNICITY_VALUES), deny_list_score=0.4,
                          context=["ethnicity", "ethnic", "eth"]),
        PatternRecognizer(supported_entity="CT_TOWN", name="CtTownRecognizer", deny_list=towns,
                          deny_list_score=0.6, context=["town", "city", "municipality", "residence"]),
        PatternRecognizer(supported_entity="CT_COUNTY", name="CtCountyRecognizer",
                          deny_list=words(rules.CT_COUNTIES + [c + " County" for c in rules.CT_COUNTIES]),
                          deny_list_score=0.3, context=["county", "cnty"]),
        PatternRecognizer(supported_entity="US_STATE", name="UsStateRecognizer",
                          deny_list=words(rules.US_STATES), deny_list_score=0.3, context=["state"]),
        PatternRecognizer(
            supported_entity="RECORD_NUMBER", name="RecordNumberRecognizer",
            patterns=[Pattern("year-serial", r"\b(?:19|20)?\d{2}-\d{3,8}\b", 0.3),
                      Pattern("prefix-code", r"\b[A-Z]{1,6}[-.]?\d{3,12}\b", 0.3),
                      Pattern("long-digits", r"\b\d{6,12}\b", 0.1)],
            context=["id", "identifier", "case", "record", "number", "mrn", "docket", "accession", "file",
                     "credential", "license", "permit", "account", "serial"]),
        PatternRecognizer(
            supported_entity="STREET_ADDRESS", name="StreetAddressRecognizer",
            patterns=[Pattern("street", r"\b\d{1,6}[A-Z]?(?:-\d{1,5})?\s+(?:[NSEW]\.?\s+)?(?:[A-Za-z0-9'.-]+\s+){0,4}?"
                                        r"(?:" + "|".join(re.escape(s) for s in words(rules.STREET_SUFFIXES))
                                        + r")\b\.?(?:\s+(?:north|south|east|west|[NSEW]))?"
                                          r"(?:,?\s*(?:apt|unit|ste|suite|fl|#)\.?\s*[A-Z0-9-]+)?", 0.5),
                      Pattern("po-box", r"\bP\.?\s?O\.?\s+Box\s+\d+\b", 0.5)],
            context=["address", "addr", "street", "residence"]),
        PatternRecognizer(
            supported_entity="COORDINATES", name="CoordinatesRecognizer",
            patterns=[Pattern("lat-lon", r"\(?\s*-?\d{1,3}\.\d{3,}\s*,\s*-?\d{1,3}\.\d{3,}\s*\)?", 0.6),
                      Pattern("wkt-point", r"POINT\s*\(\s*-?\d{1,3}\.\d+\s+-?\d{1,3}\.\d+\s*\)", 0.8)],
            context=["geo", "location", "lat", "lon", "coordinates", "point"]),
        PatternRecognizer(
            supported_entity="TITLED_NAME", name="TitledNameRecognizer",
            patterns=[Pattern("title-name", r"\b(?:Mr|Mrs|Ms|Miss|Dr|Rev|Sgt|Officer|Det)\.?\s+[A-Z][a-z'-]+"
                                            r"(?:\s+[A-Z][a-z'-]+)?", 0.6)],
            global_regex_flags=re.DOTALL | re.MULTILINE),
        ListedNameRecognizer(),
    ]
    return out


class HeaderContextEnhancer(LemmaContextAwareEnhancer):
    """Presidio's context rule for context words passed to `analyze()` (the column header): a match whose
    recognizer lists one of them gains `context_similarity_factor` (0.35), to at least 0.4.

    Same rule as Presidio's LemmaContextAwareEnhancer with the no-op NLP engine (no surrounding words),
    without its deep copy of every result: a column sample can give thousands of matches.
    """

    def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):
        words = [w.lower() for w in (context or [])]
        if not words:
            return raw_results
        by_id = {r.id: r for r in recognizers}
        support: dict[str, str] = {}
        for result in raw_results:
            rid = (result.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY)
            recognizer = by_id.get(rid)
            if recognizer is None or not recognizer.context:
                continue
            if (result.recognition_metadata or {}).get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                continue
            if rid not in support:
                support[rid] = self._find_supportive_word_in_context(words, recognizer.context, self.context_matching_mode)
            if support[rid]:
                result.score = min(1.0, max(result.score + self.context_similarity_factor,
                                            self.min_score_with_context_similarity))
                if result.analysis_explanation is not None:
                    result.analysis_explanation.set_supportive_context_word(support[rid])
                    result.analysis_explanation.set_improved_score(result.score)
        return raw_results


# --- engine ---------------------------------------------------------------------------------------

@dataclass
class Engine:
    """The Presidio engines ctopen uses, and what they are, in words for the page and the CLI.

    `analyzer` runs the pattern recognizers on a column's sampled values joined in one text, with the
    header as context words (Presidio's no-op NLP engine: no model, nothing to download; context passed
    to `analyze()` still raises a match's score). `ner`, only when a spaCy model is installed, runs the
    model's named-entity recognition (PERSON, LOCATION) value by value.
    """
    analyzer: AnalyzerEngine
    model: str | None = None       # spaCy model name, or None
    ner: AnalyzerEngine | None = None
    description: str = ""

    @property
    def has_ner(self) -> bool:
        return self.ner is not None

    def analyze(self, text: str, entities: list[str], context: list[str] | None = None) -> list[RecognizerResult]:
        return self.analyzer.analyze(text, language="en", entities=entities, context=context or None)

    def analyze_ner(self, texts: list[str], context: list[str] | None = None) -> list[list[RecognizerResult]]:
        """The model's PERSON and LOCATION findings in each text (spaCy's batched pipe)."""
        if self.ner is None:
            return [[] for _ in texts]
        from presidio_analyzer import BatchAnalyzerEngine
        batch = BatchAnalyzerEngine(analyzer_engine=self.ner)
        return list(batch.analyze_iterator(texts, language="en", batch_size=64, entities=["PERSON", "LOCATION"],
                                           context=context or None))

    def entities(self) -> list[str]:
        """Presidio entity names asked of the pattern recognizers."""
        return [e for e in rules.PRESIDIO_ENTITIES if e not in ("PERSON", "LOCATION")]


def installed_spacy_model() -> str | None:
    try:
        import spacy
    except ImportError:  # pragma: no cover - spaCy is a dependency of presidio-analyzer
        return None
    forced = os.environ.get("CTOPEN_SPACY_MODEL")
    if forced is not None:
        return forced or None      # CTOPEN_SPACY_MODEL="" forces the offline engine
    for name in SPACY_MODELS:
        if spacy.util.is_package(name):
            return name
    return None


def build_engine(model: str | None = "auto") -> Engine:
    """Build the engines once (callers cache them): NER from a spaCy model when one is installed."""
    if model == "auto":
        model = installed_spacy_model()
    nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    nlp.load()
    with warnings.catch_warnings():   # "no tokens with NoOpNlpEngine": we pass the context explicitly
        warnings.simplefilter("ignore", UserWarning)
        analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"],
                                  context_aware_enhancer=HeaderContextEnhancer())
    # CT files hold US numbers: matching the 8 regions Presidio tries by default costs 8 times as much
    analyzer.registry.remove_recognizer("PhoneRecognizer")
    analyzer.registry.add_recognizer(PhoneRecognizer(supported_regions=("US",)))
    for rec in _recognizers():
        analyzer.registry.add_recognizer(rec)
    ner = None
    if model:
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer
        if not spacy_package(model):
            from ctopen.errors import ConfigError
            raise ConfigError(f"The spaCy model {model} is not installed; install it or unset CTOPEN_SPACY_MODEL.")
        nlp_engine = NlpEngineProvider(nlp_configuration={
            "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}).create_engine()
        ner = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])
        ner.registry.recognizers = [r for r in ner.registry.recognizers if isinstance(r, SpacyRecognizer)]
        description = (f"Presidio with spaCy model {Path(model).name}: pattern recognizers, context words "
                       "and named-entity recognition (PERSON, LOCATION)")
    else:
        description = ("Presidio with no language model: pattern recognizers and context words "
                       "(person names are found by an offline name check on whole values, given names and "
                       "surnames by US name lists, and inside free text after a title such as Mr. or Dr. or "
                       "as a listed given name and surname)")
    return Engine(analyzer=analyzer, model=model or None, ner=ner, description=description)


def spacy_package(name: str) -> bool:
    """An installed spaCy package, or the folder of a saved pipeline."""
    import spacy
    return bool(spacy.util.is_package(name)) or (Path(name) / "config.cfg").exists()


# --- person names (offline) -------------------------------------------------------------------------

_NAME_TOKEN = re.compile(r"^[A-Za-z][A-Za-z'.-]*,?$")


@functools.cache
def _not_name_words() -> frozenset[str]:
    words = {w.lower() for w in rules.RACE_VALUES + rules.SEX_VALUES + rules.CT_COUNTIES}
    for key in ("health", "criminal_justice"):
        words |= set(rules.VALUE_WORDS[key])
    words |= {s.lower() for s in rules.US_STATES}
    words |= {"hospital", "residence", "other", "unknown", "home", "park", "street", "motel", "hotel",
              "school", "church", "center", "inc", "llc", "corp", "company", "co", "association", "club",
              "the", "of", "and", "for", "registered", "nurse", "active", "inactive", "pending", "expired",
              "license", "permit", "employee", "class", "dept", "department", "services", "group", "care"}
    return frozenset(words)


def looks_like_person_name(value: str) -> bool:
    """Two to four name-like words that probablepeople reads as a person's given name and surname."""
    import probablepeople

    tokens = value.split()
    if not 2 <= len(tokens) <= 5 or not all(_NAME_TOKEN.match(t) for t in tokens):
        return False
    if value.lower().strip() in ct_towns():           # "NEW HAVEN", "SANDY HOOK"
        return False
    stop = _not_name_words()                          # a town word alone ("SHARON SMITH") does not disqualify
    if any(t.lower().strip(",.") in stop for t in tokens):
        return False
    try:
        tags, kind = probablepeople.tag(value)
    except probablepeople.RepeatedLabelError:
        return False
    if kind != "Person":
        return False
    has_given = any(k in tags for k in ("GivenName", "FirstInitial"))
    return has_given and "Surname" in tags


def person_name_share(values) -> tuple[int, int]:
    """(how many look like person names, how many were checked)."""
    values = [v for v in values if v]
    return sum(looks_like_person_name(v) for v in values), len(values)


# --- name-frequency lists (offline) ------------------------------------------------------------------
# US given names (SSA) and surnames (Census 1990): ctopen/data/README.md says where each comes from.

_KEY = re.compile(r"[^a-z]")


def name_key(text: str) -> str:
    """A name as the lists hold it: lowercase letters only, accents dropped ("O'Brien" -> "obrien",
    "ANN-MARIE" -> "annmarie", "José" -> "jose")."""
    text = str(text).lower()
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _KEY.sub("", text)


@functools.cache
def given_names() -> dict[str, float]:
    """Given name (name_key) -> people per 100,000 born 1910-2015 who got it (SSA baby names)."""
    with open(settings.DATA_DIR / "us_given_names.csv", newline="", encoding="utf-8") as fh:
        rows = [(name_key(r["name"]), int(r["births"])) for r in csv.DictReader(fh)]
    total = sum(n for _, n in rows) or 1
    return {k: n * 100_000 / total for k, n in rows}


@functools.cache
def surnames() -> dict[str, float]:
    """Surname (name_key) -> people per 100,000 who hold it (Census 1990)."""
    with open(settings.DATA_DIR / "us_surnames.csv", newline="", encoding="utf-8") as fh:
        return {name_key(r["name"]): float(r["per_100k"]) for r in csv.DictReader(fh)}


@functools.cache
def _not_name_values() -> frozenset[str]:
    """Whole values that are never counted as a name part: towns, states, counties, categories, places."""
    words = set(_not_name_words()) | set(ct_towns())
    words |= {w.lower() for w in rules.STREET_SUFFIXES} | set(rules.MISSING_VALUES) | set(rules.FLAG_VALUES)
    words |= {"others", "single", "married", "divorced", "widowed", "separated", "child", "adult", "spouse",
              "self", "parent", "mother", "father", "son", "daughter", "member", "patient", "client", "staff",
              "total", "all", "none", "north", "south", "east", "west", "central", "new", "old", "red", "blue",
              "green", "white", "black", "brown", "gray", "grey", "gold", "silver", "orange", "yellow", "purple",
              "pink", "violet", "rose", "amber", "ruby", "pearl", "january", "february", "march", "april", "may",
              "june", "july", "august", "september", "october", "november", "december", "monday", "tuesday",
              "wednesday", "thursday", "friday", "saturday", "sunday", "spring", "summer", "autumn", "fall",
              "winter", "day", "night", "morning", "evening", "christmas", "easter", "king", "queen", "prince"}
    return frozenset(words)


@dataclass
class NameParts:
    """Shares of a column's sampled values (weighted by how often each was sampled) by kind of name part."""
    given: float = 0.0            # a listed given name
    surname: float = 0.0          # a listed surname
    given_first: float = 0.0      # a given name more common as a given name than as a surname
    surname_first: float = 0.0    # a surname more common as a surname than as a given name
    initial: float = 0.0          # one letter ("J", "J.")
    suffix: float = 0.0           # Jr., Sr., III
    distinct: int = 0             # distinct values counted


def _is_given(parts: list[str], g: dict) -> bool:
    keys = [name_key(p) for p in parts]
    return bool(keys) and all(k in g for k in keys) or name_key("".join(parts)) in g


def _is_surname(parts: list[str], s: dict) -> bool:
    if name_key("".join(parts)) in s:                   # "De La Cruz" -> "delacruz", "O'Brien" -> "obrien"
        return True
    keys = [name_key(p) for p in parts if name_key(p)]
    core = [k for k in keys if k not in rules.SURNAME_PARTICLES]
    return bool(core) and all(k in s for k in core) and len(core) <= 2


def name_part_shares(counts) -> NameParts:
    """How many of a column's values (a Counter: value -> times sampled) are given names, surnames,
    initials or suffixes, by the name lists. Towns, states, categories and colours count as none."""
    g, s, stop = given_names(), surnames(), _not_name_values()
    suffixes = set(rules.NAME_SUFFIXES)
    total = sum(counts.values()) or 1
    out = NameParts(distinct=len(counts))
    for value, n in counts.items():
        v = str(value).strip()
        low = v.lower().strip(" .,")
        if not low:
            continue
        if low.replace(".", "") in suffixes:
            out.suffix += n
            if len(low) > 1:
                continue
        if len(low) == 1 and low.isalpha():
            out.initial += n
            continue
        if low in stop or any(c.isdigit() for c in v):
            continue
        parts = [p for p in re.split(r"[\s-]+", v) if p]
        if not 1 <= len(parts) <= 3:
            continue
        given, surname = _is_given(parts, g), _is_surname(parts, s)
        whole = name_key("".join(parts))
        gf, sf = g.get(whole, g.get(name_key(parts[0]), 0.0)), s.get(whole, s.get(name_key(parts[-1]), 0.0))
        if given:
            out.given += n
            if gf >= sf:
                out.given_first += n
        if surname:
            out.surname += n
            if sf > gf or not given:
                out.surname_first += n
    for f in ("given", "surname", "given_first", "surname_first", "initial", "suffix"):
        setattr(out, f, getattr(out, f) / total)
    return out


class ListedNameRecognizer(LocalRecognizer):
    """A given name followed by a surname inside text, without a title: "met with Maria Lopez today".

    Capitalised words only (Title Case), two or three in a row (given, optional middle name or initial,
    surname); the given name must be common and more often a given name than a surname, the surname listed.
    A run that is a town ("Rocky Hill"), a street ("14 Jennifer Lane", "Daniel Webster Hwy"), a place
    ("Grace Church") or part of a longer capitalised run (an organisation's name) is not a name. A surname
    that is also a word is kept when it is a common surname ("John White", "James Hill").
    """

    _RUN = re.compile(r"(?<![A-Za-z'.-])(?:[A-Z][a-z]+(?:['’-][A-Z]?[a-z]+)?|[A-Z]\.?)(?:[ \t]+(?:[A-Z][a-z]+(?:['’-][A-Z]?[a-z]+)?|Mc[A-Z][a-z]+|O'[A-Z][a-z]+|[A-Z]\.?))+(?![A-Za-z'-])")

    def __init__(self):
        super().__init__(supported_entities=["LISTED_NAME"], name="ListedNameRecognizer")

    def load(self) -> None:
        pass

    @staticmethod
    @functools.cache
    def _stops() -> tuple[frozenset, frozenset, frozenset]:
        """Words that end a name's chance: as the given name, as the surname, and street types after it."""
        s = surnames()
        common = lambda w: s.get(name_key(w), 0.0) >= rules.NAME_LIST_COMMON_SURNAME  # noqa: E731
        not_given = frozenset(_not_name_words())
        not_surname = frozenset(w for w in _not_name_words() if not common(w))
        street_types = frozenset(w.lower() for w in rules.STREET_SUFFIXES if not common(w))
        return not_given, not_surname, street_types

    def analyze(self, text, entities, nlp_artifacts=None):
        g, s = given_names(), surnames()
        not_given, not_surname, street_types = self._stops()
        streets = {w.lower() for w in rules.STREET_SUFFIXES}
        towns = ct_towns()
        common = rules.NAME_LIST_MIN_BIRTHS * 100_000 / 330_000_000
        out = []
        for m in self._RUN.finditer(text):
            words, start = m.group(0).split(), m.start()
            before = text[max(0, start - 3):start].strip()
            if len(words) >= 3 and name_key(words[0]) not in g and (not before or before[-1] in ".!?:;\n"):
                start = m.start() + m.group(0).index(words[1], len(words[0]))
                words = words[1:]                  # the first word of a sentence: "Called Maria Lopez"
            if not 2 <= len(words) <= 3 or len(words[0]) < 2 or len(words[-1]) < 2:
                continue
            after = text[m.end():m.end() + 12].strip().split(" ")[0].lower().strip(".,")
            before = text[max(0, start - 12):start].split()
            if after in streets or " ".join(words).lower() in towns or (before and before[-1][:1].isdigit()):
                continue                       # "Daniel Webster Hwy", "Rocky Hill", "14 Jennifer Lane"
            first, last = name_key(words[0]), name_key(words[-1])
            if first in not_given or last in not_surname or last in street_types:
                continue
            if g.get(first, 0.0) < common or g.get(first, 0.0) < s.get(first, 0.0) or last not in s:
                continue
            if len(words) == 3 and not (len(words[1].rstrip(".")) == 1 or name_key(words[1]) in g):
                continue
            out.append(RecognizerResult("LISTED_NAME", start, m.end(), 0.6))
        return out
