"""The detection rules, as data a reviewer can read and extend.

Everything `ctopen.detect` decides comes from the tables below:

- ENTITIES: every kind of data ctopen recognises, its plain-words label and the role it gives a column.
- HEADER_WORDS: words (and agency abbreviations) in a column header that point at a kind of data.
  Words of 4+ letters also match inside run-together headers ("credentialnumber", "ResidenceCity");
  shorter ones (DOB, SSN, Nm, Ph, Dx, ...) only as a whole word of the header.
- HEADER_VETO: header words that rule a kind out ("BusinessName" is not a person's name).
- VALUE_WORDS: words that, found inside the values, show a health or criminal-justice attribute.
- RAISED_ROLE: kinds whose role is raised by the columns around them (a given name beside a surname, a
  map point that is nearly unique per record).
- Name-frequency lists (ctopen/data/us_given_names.csv, us_surnames.csv; ctopen/data/README.md says
  where they come from) find given names, surnames, middle names and suffixes in columns of their own.
- Thresholds: how much of a sample must match before a column is called something.

To extend: add a word to a list (a new abbreviation, a drug, an offense), or a new entity with its
role; `tests/test_detect.py` shows the expected results on the real CT files.
"""
from __future__ import annotations

from dataclasses import dataclass

ROLES = ("direct", "quasi", "sensitive", "other")

ROLE_LABELS = {
    "direct": "Direct identifier",
    "quasi": "Quasi-identifier",
    "sensitive": "Sensitive attribute",
    "other": "Other",
}

ROLE_HELP = {
    "direct": "names, numbers or addresses that point at one person or household: remove, pseudonymize or justify",
    "quasi": "harmless alone, identifying in combination (date, age, sex, race, town, ZIP): generalize until k-anonymous",
    "sensitive": "what must not be learned about a person (health, money, criminal justice): protect with l-diversity",
    "other": "describes the record, not the person",
}


@dataclass(frozen=True)
class Entity:
    code: str     # stable name used in JSON, recipes and other modules (hierarchies pick by it)
    label: str    # plain words for the page
    role: str     # the role a column holding this gets
    plural: str = ""   # "412 of 500 sampled values are {plural}"


_ENTITY_LIST = [
    # direct identifiers
    Entity("person_name", "person name", "direct", "person names"),
    Entity("surname", "surname (last name)", "direct", "common US surnames"),
    Entity("email", "email address", "direct", "email addresses"),
    Entity("phone", "phone number", "direct", "phone numbers"),
    Entity("ssn", "Social Security number", "direct", "Social Security numbers"),
    Entity("street_address", "street address", "direct", "street addresses"),
    Entity("record_id", "record or case number", "direct", "case or record numbers"),
    Entity("credit_card", "credit card number", "direct", "credit card numbers"),
    Entity("ip_address", "IP address", "direct", "IP addresses"),
    Entity("free_text_pii", "free text with personal data", "direct"),
    # quasi-identifiers
    Entity("date_of_birth", "date of birth", "quasi", "dates of birth"),
    Entity("date", "date of an event", "quasi", "dates"),
    Entity("zip", "ZIP code", "quasi", "ZIP codes"),
    Entity("town", "town or city", "quasi", "Connecticut town or village names"),
    Entity("county", "county", "quasi", "Connecticut county names"),
    Entity("state", "state", "quasi", "US states"),
    Entity("sex", "sex or gender", "quasi", "sex or gender values"),
    Entity("race", "race", "quasi", "race categories"),
    Entity("ethnicity", "ethnicity", "quasi", "ethnicity categories"),
    Entity("age", "age", "quasi"),
    Entity("coordinates", "geographic coordinates", "quasi", "map coordinates"),
    Entity("given_name", "given (first) name", "quasi", "common US given names"),
    Entity("middle_name", "middle name or initial", "quasi", "given names or initials"),
    Entity("name_suffix", "name suffix (Jr., Sr., III)", "quasi", "name suffixes"),
    # sensitive attributes
    Entity("health", "health (diagnosis, cause of death, drug finding)", "sensitive"),
    Entity("financial", "financial (money paid, owed, earned or received)", "sensitive"),
    Entity("criminal_justice", "criminal justice (offense, bond, sentence)", "sensitive"),
    # other
    Entity("record_date", "record-keeping date (updated, refreshed)", "other", "dates"),
    Entity("row_number", "row number", "other"),
    Entity("amount", "amount or measure", "other"),
    Entity("count", "count", "other"),
    Entity("flag", "yes/no flag", "other"),
    Entity("category", "category or status", "other"),
    Entity("organization", "organization name", "other"),
    Entity("free_text", "free text (no personal data found)", "other"),
    Entity("constant", "one value in every row", "other"),
    Entity("empty", "empty column", "other"),
    Entity("text", "text", "other"),
]
ENTITIES: dict[str, Entity] = {e.code: e for e in _ENTITY_LIST}


def role_of(entity: str) -> str:
    return ENTITIES[entity].role if entity in ENTITIES else "other"


def label_of(entity: str) -> str:
    return ENTITIES[entity].label if entity in ENTITIES else entity


def plural_of(entity: str) -> str:
    e = ENTITIES.get(entity)
    return (e.plural or e.label) if e else entity


# Presidio entity names -> ours. Only these Presidio entities are asked for (the noisy ones, such as
# US_DRIVER_LICENSE or US_BANK_NUMBER, match almost any code and would drown the rest).
PRESIDIO_ENTITIES = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "US_SSN": "ssn",
    "CREDIT_CARD": "credit_card",
    "IP_ADDRESS": "ip_address",
    "DATE_TIME": "date",
    "PERSON": "person_name",         # only with a spaCy model (NER)
    "LOCATION": "town",              # only with a spaCy model (NER)
    # ctopen's own recognizers (ctopen.recognizers)
    "CT_ZIP": "zip",
    "DATE_OF_BIRTH": "date_of_birth",
    "SEX": "sex",
    "CT_TOWN": "town",
    "CT_COUNTY": "county",
    "US_STATE": "state",
    "RACE": "race",
    "ETHNICITY": "ethnicity",
    "RECORD_NUMBER": "record_id",
    "STREET_ADDRESS": "street_address",
    "COORDINATES": "coordinates",
    "TITLED_NAME": "person_name",
    "LISTED_NAME": "person_name",    # a given name + surname from the name lists, inside text
}

# A column's role is raised above its kind's when the columns around it say so (ctopen.detect):
# a given name beside a surname is a name (both direct); a full middle name beside them too; map points
# nearly unique per record are a household's location.
RAISED_ROLE = {"given_name": "direct", "middle_name": "direct", "coordinates": "direct"}

# Words in a header -> kind of data. Lowercase. Words of 1-3 letters match whole header words only.
HEADER_WORDS: dict[str, list[str]] = {
    "person_name": ["name", "nm", "fullname", "decedent", "patientname", "clientname"],
    # name parts (agency prefixes: mbr, pt, pat, clt, emp, mem, ... need no entry: "Mbr First", "PT_LNAME")
    "given_name": ["first", "firstname", "first name", "fname", "f nm", "fnm", "frst", "fst", "given",
                   "givenname", "forename", "1st name"],
    "surname": ["last", "lastname", "last name", "lname", "l nm", "lnm", "lst", "surname", "surnm",
                "family name", "familyname", "maiden", "maidenname"],
    "middle_name": ["middle", "middlename", "mname", "m nm", "mnm", "mi", "mid init", "midinit",
                    "middleinitial", "middle initial"],
    "name_suffix": ["suffix", "sfx", "sufx", "namesuffix", "name suffix", "generation"],
    "email": ["email", "e-mail", "emailaddress", "mail"],
    "phone": ["phone", "ph", "tel", "telephone", "mobile", "cell", "fax", "phn"],
    "ssn": ["ssn", "social security", "socialsecurity", "socsec", "ss#", "ssno"],
    "street_address": ["address", "addr", "adr", "street", "streetaddress", "residenceaddress", "location address"],
    "record_id": ["id", "identifier", "case", "casenumber", "record", "number", "no", "num", "nbr", "#", "mrn",
                  "docket", "accession", "account", "acct", "serial", "credentialnumber", "license number",
                  "permit", "booking", "inmate", "uid", "guid", "key"],
    "date_of_birth": ["dob", "birth", "birthdate", "born", "bdate", "dateofbirth", "bday", "yob"],
    "date": ["date", "dt", "dod", "day", "time", "admission", "admitted", "discharge", "issued", "expiration",
             "year", "yr", "fy", "month"],
    "record_date": ["refreshed", "refresh", "updated", "update", "modified", "loaded", "extracted", "asof",
                    "run date", "rundate", "recordrefreshedon"],
    "zip": ["zip", "zipcode", "postal", "postcode", "zcta", "zip5"],
    "town": ["town", "city", "municipality", "muni", "twn", "village", "cty", "res"],   # "res": residence (town)
    "county": ["county", "cnty", "cnty_nm"],
    "state": ["state", "province"],
    "sex": ["sex", "gender", "gndr", "sx"],
    "race": ["race", "racial"],
    "ethnicity": ["ethnicity", "eth", "ethnic", "hispanic", "ethn"],
    "age": ["age", "ageyears", "ageatdeath", "age_yrs", "yrs"],
    "coordinates": ["geo", "lat", "latitude", "lon", "lng", "long", "longitude", "coordinates", "coord",
                    "geolocation", "point", "xy"],
    "health": ["cod", "causeofdeath", "cause", "diagnosis", "dx", "icd", "condition", "disease", "illness",
               "injury", "drug", "overdose", "toxicology", "medication", "prescription", "rx", "hiv",
               "mental", "disability", "pregnancy", "pregnant", "treatment", "symptom", "mannerofdeath",
               "manner", "significan", "substance", "opioid", "opiate"],
    # money paid, owed, earned or received
    "financial": ["income", "salary", "wage", "wages", "earnings", "earned", "benefit", "benefits", "pension",
                  "compensation", "debt", "loan", "arrears", "bankruptcy", "welfare", "snap", "tanf", "wic",
                  "creditscore", "paycheck", "alimony", "child support", "balance", "account balance",
                  "paid", "payment", "payments", "pay", "pmt", "pymt", "pd amt", "billed", "bill amt",
                  "amount billed", "charges", "charge amt", "charged", "chg amt", "owed", "owing", "amt due",
                  "amount due", "reimbursement", "reimbursed", "reimb", "copay", "coinsurance", "deductible",
                  "premium", "allowed amt", "allowed amount", "cost", "costs", "expense", "expenses",
                  "expenditure", "overtime", "gross pay", "net pay", "refund", "restitution", "fine amt", "fines"],
    "criminal_justice": ["offense", "offence", "charge", "charges", "crime", "arrest", "bond", "bail",
                         "sentence", "conviction", "convicted", "probation", "parole", "incarceration",
                         "custody", "warrant", "violation", "disposition", "plea", "verdict", "statute"],
    "amount": ["amount", "amt", "value", "price", "rate", "percent", "pct", "ratio", "sum", "avg",
               "mean", "median", "fee", "sales", "tax", "assessed", "assessment", "per", "score", "acres",
               "sqft", "weight", "height"],
    "count": ["count", "total", "numberof", "number of", "cases", "deaths", "tests", "tested", "positives",
              "negatives", "indeterminates", "population", "pop", "quantity", "qty", "people", "persons"],
    "category": ["status", "type", "category", "class", "kind", "reason", "level", "group", "place",
                 "location", "datetype", "subcategory", "credential"],
    "organization": ["business", "businessname", "company", "dba", "employer", "agency", "facility",
                     "organization", "vendor", "provider", "school", "corporation", "firm"],
}

# Drug names: a column named after one of these (a drug-finding flag) is a health attribute.
DRUG_WORDS = [
    "heroin", "cocaine", "fentanyl", "fent", "oxycodone", "oxycod", "oxymorphone", "ethanol", "alcohol",
    "hydrocodone", "hydrocod", "benzodiazepine", "benzo", "methadone", "amphet", "amphetamine", "tramad",
    "tramadol", "morphine", "hydromorphone", "hydromorph", "opiate", "opioid", "buprenorphine", "bupren",
    "marijuana", "cannabis", "xylazine", "methamphetamine", "gabapentin", "lsd", "pcp", "ketamine",
    "anyopioid", "opiatenos",
]
HEADER_WORDS["health"] = HEADER_WORDS["health"] + DRUG_WORDS

# A header word here rules the kind out, whatever else the header says.
HEADER_VETO: dict[str, list[str]] = {
    "person_name": HEADER_WORDS["organization"] + ["street", "town", "city", "county", "drug", "product",
                                                    "file", "site", "place", "location", "program", "type",
                                                    "credential", "dba", "dog", "pet", "animal", "breed", "species",
                                                    "vessel", "boat", "team", "brand", "model", "road"],
    # "InjuryCity", "DeathCounty", "InjuryPlace": where it happened is geography, not a health attribute
    "health": ["city", "town", "county", "state", "place", "geo", "date", "location", "zip", "type"],
    "record_id": ["numberof", "number of", "count", "total", "amount", "value", "rate"],
    "date": ["refreshed", "updated", "update", "modified"],
    "count": ["account", "county", "counter"],
    # "Paid Date", "Benefit Type", "Payment Count", "Cost per test": a date, a code, a count or a measure
    # (whole words of the header only: "AccountBalance" holds "count", "AdministrationCost" "ratio")
    "financial": ["date", "dt", "year", "yr", "fy", "month", "day", "days", "type", "code", "cd", "id", "status",
                  "flag", "ind", "indicator", "count", "cnt", "number of", "number", "num", "nbr", "no",
                  "units", "hours", "hrs", "weeks", "months", "qty", "quantity", "per", "pct", "percent", "ratio", "avg",
                  "average", "mean", "median", "index", "center", "method", "frequency", "freq", "source", "reason", "desc", "description", "category", "plan", "rank", "score"],
}
# a part of a name under a provider's or employer's header is still a person's ("Provider First Name")
HEADER_VETO["given_name"] = HEADER_VETO["surname"] = HEADER_VETO["middle_name"] = [
    "street", "town", "city", "county", "drug", "product", "file", "site", "place", "location", "program", "type",
    "credential", "dba", "business", "businessname", "company", "corporation", "firm", "organization"]
WHOLE_WORD_VETO = {"financial"}     # kinds whose veto words count only as whole words of the header
HEADER_VETO["name_suffix"] = ["street", "st", "road", "address", "addr", "unit", "file", "zip"]

# Drug stems as medical examiners abbreviate them ("bupren", "hydromorph", "h-morph"): a trailing * matches
# any ending. Used inside values only.
DRUG_STEMS = ["bupre*", "buprn*", "hydromor*", "morph*", "fentan*", "carfent*", "oxycod*", "hydrocod*", "benzod*",
              "cocain*", "methadon*", "amphet*", "methamph*", "tramad*", "opiat*", "opioid*", "codein*",
              "tapentad*", "meperid*", "loperam*", "diphenhyd*", "zolpid*", "alprazol*", "clonazep*", "diazep*",
              "lorazep*", "gabapent*", "xylaz*", "ketamin*", "mdma", "ghb", "u-47700", "u47700", "anpp", "6-mam",
              "6mam", "mitrag*", "mirtag*", "kratom", "cathinon*", "pentylon*", "butalbit*", "paroxet*", "sertral*",
              "duster", "difluoro*", "difluro*", "naloxon*", "suboxon*", "xanax", "phencyclid*", "pcp"]

# Words inside values that show a health or criminal-justice attribute.
VALUE_WORDS: dict[str, list[str]] = {
    "health": DRUG_WORDS + DRUG_STEMS + [
        "intoxication", "toxicity", "overdose", "poisoning", "acute", "chronic", "disease", "cancer", "diabetes",
        "hypertension", "cardiovascular", "pneumonia", "hiv", "aids", "hepatitis", "asthma", "depression",
        "schizophrenia", "bipolar", "dementia", "alcoholism", "substance", "abuse", "ingestion", "injection",
        "inhalation", "drug", "drugs", "pills", "medication", "narcotic", "atherosclerotic", "obesity",
        "suicide", "homicide", "accident", "disorder", "syndrome", "infection",
    ],
    "criminal_justice": [
        "assault", "larceny", "burglary", "robbery", "homicide", "murder", "manslaughter", "failure to appear",
        "violation of probation", "probation", "parole", "dui", "dwi", "possession", "narcotics", "theft",
        "trespass", "breach of peace", "criminal", "mischief", "kidnapping", "sexual assault", "risk of injury",
        "weapon", "firearm", "threatening", "harassment", "interfering", "disorderly", "forgery",
        "fraud", "arson", "stalking", "strangulation", "reckless", "evading", "felony",
        "misdemeanor", "protective order", "restraining order",
    ],
}

# Name suffixes (lowercase, without dots) in a column of their own.
NAME_SUFFIXES = ["jr", "sr", "ii", "iii", "iv", "v", "vi", "2nd", "3rd", "4th", "esq", "junior", "senior"]
# Surname particles: "De La Cruz", "Van Buren", "O Brien" are one surname.
SURNAME_PARTICLES = ["de", "del", "della", "la", "las", "los", "le", "da", "das", "dos", "di", "du", "van", "von",
                     "der", "den", "ter", "st", "ste", "san", "santa", "mc", "mac", "o", "d", "al", "el", "bin",
                     "ben", "y"]

# Values that mean "missing": not counted in shares.
MISSING_VALUES = {"", "na", "n/a", "nan", "none", "null", "unknown", "unk", "not reported", "not available",
                  "missing", "-", "--", "?", "."}

# Values of a yes/no flag column (lowercase).
FLAG_VALUES = {"y", "n", "yes", "no", "true", "false", "t", "f", "0", "1", "x"}

# Sex/gender values (lowercase) for the SEX recognizer.
SEX_VALUES = ["m", "f", "male", "female", "man", "woman", "men", "women", "boy", "girl", "x", "nonbinary",
              "non-binary", "transgender", "trans", "intersex", "other gender"]

RACE_VALUES = ["white", "black", "african american", "black or african american", "asian", "asian indian",
               "chinese", "filipino", "japanese", "korean", "vietnamese", "american indian", "alaska native",
               "american indian or alaska native", "native american", "native hawaiian", "pacific islander",
               "native hawaiian or other pacific islander", "multiracial", "multi-racial", "two or more races",
               "other race", "some other race", "hispanic", "latino", "hispanic or latino", "caucasian",
               "indian", "other", "asian, other", "hispanic, white", "hispanic, black", "amer indian",
               "asian/pacific islander", "white hispanic", "black hispanic", "hisp"]

ETHNICITY_VALUES = ["hispanic", "non-hispanic", "not hispanic", "latino", "latina", "latinx",
                    "hispanic or latino", "not hispanic or latino", "non hispanic", "puerto rican",
                    "mexican", "cuban", "dominican"]

CT_COUNTIES = ["Fairfield", "Hartford", "Litchfield", "Middlesex", "New Haven", "New London", "Tolland",
               "Windham"]

US_STATES = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
    "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH",
    "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "PR",
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware",
    "Florida", "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky", "Louisiana",
    "Maine", "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi", "Missouri", "Montana",
    "Nebraska", "Nevada", "New Hampshire", "New Jersey", "New Mexico", "New York", "North Carolina",
    "North Dakota", "Ohio", "Oklahoma", "Oregon", "Pennsylvania", "Rhode Island", "South Carolina",
    "South Dakota", "Tennessee", "Texas", "Utah", "Vermont", "Virginia", "Washington", "West Virginia",
    "Wisconsin", "Wyoming", "Puerto Rico", "District of Columbia",
]

STREET_SUFFIXES = [
    "street", "st", "road", "rd", "avenue", "ave", "av", "lane", "ln", "drive", "dr", "court", "ct", "place",
    "pl", "boulevard", "blvd", "way", "terrace", "ter", "terr", "circle", "cir", "highway", "hwy", "parkway",
    "pkwy", "turnpike", "tpke", "tpk", "square", "sq", "trail", "trl", "path", "row", "walk", "run",
    "crossing", "xing", "extension", "ext", "hill", "ridge", "rdg", "heights", "hts", "park", "pike",
    "green", "grn", "commons", "point", "pt", "landing", "lndg", "loop", "alley", "aly", "close", "cove",
    "crescent", "cres", "glen", "hollow", "knoll", "meadow", "meadows", "mews", "pass", "plaza", "plz",
    "post road", "brook", "farm", "view", "wood", "woods", "bnd", "bend", "grove",
]

# Thresholds (shares of sampled non-empty values)
MIN_SCORE = 0.4           # a Presidio match counts when its score (after header context) reaches this
VALUE_SHARE = 0.6         # values alone: at least this share must match
VALUE_SHARE_WITH_HEADER = 0.3   # values plus a header that agrees
NAME_SHARE = 0.6          # person names (offline check) without a header that says "name"
NAME_SHARE_WITH_HEADER = 0.35
VOCAB_SHARE = 0.3         # health / criminal-justice words inside the values
UNIQUE_RECORD_ID = 0.95   # share of distinct values that makes a code column a record identifier
ID_WITH_HEADER = 0.3      # ... when the header says id/case/record/number
FREE_TEXT_WORDS = 4.0     # mean words per value from which a column is free text
FREE_TEXT_PII_CELLS = 1     # free-text cells holding an email, phone, SSN, card or IP number that make the column direct
FREE_TEXT_WEAK_SHARE = 0.01  # ... or this share (at least 2 cells) holding a titled name, a street address or a NER name
SAMPLE_ROWS = 500         # rows sampled per column (settings.DETECT_SAMPLE_SIZE overrides)
NER_VALUES = 50          # of those, values a spaCy model's NER reads (when one is installed)
MAX_SCAN_CHARS = 2_000     # a longer cell is read up to here (bounds time on long free text)
PRESIDIO_VALUES = 100     # distinct sampled values sent to Presidio per column
EXACT_UNIQUE_ROWS = 300_000  # up to this many rows, uniqueness is counted exactly; above, estimated
UNIQUE_SAMPLE_ROWS = 20_000  # rows the estimate is made on
NAME_PART_SHARE = 0.7     # name parts (given names, surnames) from the values alone, without a header word
NAME_PART_SHARE_WITH_HEADER = 0.4   # ... with a header word (first, last, fname, surname, mi, suffix)
NAME_PART_MIN_DISTINCT = 20   # distinct sampled values a name-part column needs without a header word
NAME_PART_MIN_DISTINCT_WITH_HEADER = 5
NAME_PART_MAX_WORDS = 1.6     # mean words a value: a name part is one or two words
NAME_LIST_MIN_BIRTHS = 20_000  # inside free text, a given name must be at least this common (SSA births)
NAME_LIST_COMMON_SURNAME = 20  # ... and a surname that is also a word ("White", "Hill") this common (per 100,000)
HOME_POINT_SHARE = 0.5        # distinct map points per non-empty record from which points are households
HOME_POINT_MIN = 200          # ... and at least this many points (CT has 169 towns: fewer could be town centres)
HOME_POINT_DECIMALS = 3       # ... written with at least this many decimals (about 100 m)
# Points that repeat are households too when they are not town centres and each holds few records (several claims
# of one member at the member's home): counted on distinct points at HOME_POINT_DECIMALS or more, away from every
# town point (ctopen/data/ct_town_points.csv) by more than HOME_TOWN_CENTRE_DEGREES
HOME_REPEAT_MIN = 20          # distinct points in Connecticut that are not town centres (and half the points at least)
HOME_REPEAT_MAX_RECORDS = 20  # records per distinct point, on average, at most (a school or a clinic holds more)
HOME_TOWN_CENTRE_DEGREES = 0.005   # about 500 m: a town's geocoded centre
