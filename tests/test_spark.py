"""The recipe as SQL runs on Spark (issue 20): the query `ctopen sql --dialect spark` prints for a saved recipe,
run by pyspark in local mode on a sample of a real CT file, gives exactly the release `ctopen apply` writes (same
rows, same order, same values), for every hierarchy; and the risk queries give ctopen.risk's figures.

One Spark session for the whole test run (its start-up costs seconds). Spark needs Java 17 or later: scripts/test
installs Debian's default-jre-headless when it is missing; without it the tests say once why they are skipped
(and CI, which never skips, fails)."""
from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ctopen import hierarchies
from ctopen.engine import UnsupportedStep, pseudonym_params, risk_sql, sql_for_recipe
from ctopen.load import load
from ctopen.review import Review
from ctopen.risk import assess

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
KEY = b"spark-test-key-0123456789abcdef"
ORDER = "__row"          # the file's row order, for the suppress step's tie-break and the release's order


def _why_no_spark() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -r requirements-dev.txt)"
    java = shutil.which("java", path=os.path.join(os.environ["JAVA_HOME"], "bin") if os.environ.get("JAVA_HOME")
                        else None)
    if not java:
        return "Java is not installed (scripts/test installs Debian's default-jre-headless when run as root)"
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    found = re.search(r'version "(\d+)', out.stderr + out.stdout)
    if not found or int(found.group(1)) < 17:
        return f"Spark 4 needs Java 17 or later; {java} is {found.group(1) if found else 'of unknown version'}"
    return None


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    reason = _why_no_spark()
    if reason:
        pytest.skip(reason)
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"            # loopback only
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession
    work = tmp_path_factory.mktemp("spark")
    # one core, one partition, expressions interpreted rather than compiled: a few hundred rows through queries of
    # thousands of lines (the date and number patterns) run in about a second each instead of ten
    session = (SparkSession.builder.master("local[1]").appName("ctopen-test")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.sql.shuffle.partitions", "1").config("spark.default.parallelism", "1")
               .config("spark.sql.codegen.wholeStage", "false").config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.warehouse.dir", str(work / "warehouse"))
               .config("spark.driver.memory", "1g")
               # a short-lived JVM: its quick compiler only (the first query of thousands of lines compiles sooner)
               .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def spark_table(spark, df: pd.DataFrame, name: str) -> None:
    """The loaded table (every column text, missing = NULL) as a Spark view, with the file's row order."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType
    schema = StructType([StructField(ORDER, LongType(), False)]
                        + [StructField(c, StringType(), True) for c in df.columns])
    rows = [(i, *[None if pd.isna(v) else str(v) for v in row])
            for i, row in enumerate(df.itertuples(index=False, name=None))]
    spark.createDataFrame(rows, schema).createOrReplaceTempView(name)


def run_recipe(spark, table, recipe: dict, key: bytes | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(`ctopen apply`'s release, Spark's release of the emitted SQL, the SQL) for a loaded table."""
    review = Review(table.df, recipe, source=table.source.to_dict(), key=key)
    expected = review.applied.df
    view = "t_" + re.sub(r"\W", "_", table.source.file)
    spark_table(spark, table.df, view)
    sql = sql_for_recipe(recipe, view, "spark", list(table.df.columns), roles=review.roles, order_by=ORDER)
    args = pseudonym_params(key, "spark") if key else None
    result = spark.sql(sql, args=args) if args else spark.sql(sql)
    rows = result.collect()
    got = pd.DataFrame([[None if v is None else v for v in r] for r in rows], columns=result.columns, dtype=object)
    return expected, got, sql


def assert_same_release(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    want = [[None if pd.isna(v) else str(v) for v in row] for row in expected.itertuples(index=False, name=None)]
    have = [list(row) for row in got.itertuples(index=False, name=None)]
    assert len(have) == len(want)
    for i, (w, h) in enumerate(zip(want, have)):
        assert h == w, f"row {i}: Spark {h} != ctopen apply {w}"


# --- the samples: real CT files, every hierarchy ---------------------------------------------------------------

@pytest.fixture(scope="module")
def drug():
    return load(DATA / "drug_deaths_600.csv")


@pytest.fixture(scope="module")
def estate():
    return load(DATA / "real_estate_head_400.csv")


@pytest.fixture(scope="module")
def licenses():
    return load(DATA / "licenses_zip_300.csv")


def race_table() -> dict:
    return hierarchies.read_arx_csv(DATA / "hierarchy_race_arx.csv")


# Spark inlines a CTE wherever it is read, and a suppress step reads the table before it three times (groups, total,
# rows): the date hierarchy's patterns (the longest SQL) are kept out of the recipes that suppress, which keeps the
# test to seconds; the DuckDB engine runs every combination (tests/test_sql.py, tests/test_engine.py).
RECIPES = {
    # date (US dates with a time), age (top-coded), ct_town by county with a state column, a table hierarchy,
    # category; drop, rename, reorder
    "drug": lambda: {
        "version": 1,
        "roles": {"ID": "direct", "Date": "quasi", "Age": "quasi", "Sex": "quasi", "Race": "quasi",
                  "ResidenceCity": "quasi", "COD": "sensitive"},
        "steps": [
            {"op": "drop", "column": "ID"},
            {"op": "generalize", "column": "Date", "hierarchy": "date", "level": 2},
            {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2, "top_code": 80},
            {"op": "generalize", "column": "ResidenceCity", "hierarchy": "ct_town", "level": 1,
             "state_column": "ResidenceState"},
            {"op": "generalize", "column": "Race", "hierarchy": "table", "level": 1, "table": race_table()},
            {"op": "generalize", "column": "MannerofDeath", "hierarchy": "category", "level": 1, "min_count": 5},
            {"op": "rename", "column": "ResidenceCity", "to": "Residence County"},
            {"op": "reorder", "columns": ["Sex", "Age"]},
        ],
    },
    # suppress by class size where the cap is reached (k not reached: smallest groups first, ties by file order)
    "drug_suppress": lambda: {
        "version": 1,
        "steps": [
            {"op": "generalize", "column": "Race", "hierarchy": "table", "level": 1, "table": race_table()},
            {"op": "suppress", "k": 5, "columns": ["Sex", "Race", "ResidenceCounty", "MannerofDeath"],
             "max_share": 0.03},
        ],
    },
    # number (thousands separators, top and bottom codes) twice, ct_town by planning region, category; suppress
    # without columns (the roles' quasi-identifiers)
    "estate": lambda: {
        "version": 1,
        "roles": {"Serial Number": "other", "Address": "direct", "Town": "quasi", "Property Type": "quasi",
                  "Sale Amount": "quasi", "Date Recorded": "other", "Assessed Value": "sensitive",
                  "List Year": "other"},
        "steps": [
            {"op": "drop", "column": "Address"},
            {"op": "generalize", "column": "Sale Amount", "hierarchy": "number", "level": 2, "width": 50000,
             "top": 1000000, "bottom": 10000},
            {"op": "generalize", "column": "Assessed Value", "hierarchy": "number", "level": 1, "width": 100000,
             "steps": 3},
            {"op": "generalize", "column": "Town", "hierarchy": "ct_town", "level": 1, "via": "planning_region"},
            {"op": "generalize", "column": "Property Type", "hierarchy": "category", "level": 1, "min_count": 10},
            {"op": "suppress", "k": 5, "max_share": 0.1},
        ],
    },
    # zip (3-digit prefix and state), ISO dates with a time by month, m/d/yyyy dates by year, ct_town with a state
    # column (towns outside CT)
    "licenses": lambda: {
        "version": 1,
        "steps": [
            {"op": "generalize", "column": "zip", "hierarchy": "zip", "level": 1},
            {"op": "generalize", "column": "issuedate", "hierarchy": "date", "level": 1},
            {"op": "generalize", "column": "city", "hierarchy": "ct_town", "level": 1, "state_column": "state"},
        ],
    },
    "estate_dates": lambda: {
        "version": 1,
        "steps": [{"op": "generalize", "column": "Date Recorded", "hierarchy": "date", "level": 3},
                  {"op": "generalize", "column": "List Year", "hierarchy": "number", "level": 1, "width": 5}],
    },
}
TABLES = {"drug": "drug", "drug_suppress": "drug", "estate": "estate", "estate_dates": "estate",
          "licenses": "licenses"}


SPARK_REFUSES = {"coordinates"}     # Python's decimal text of truncated degrees has no exact Spark SQL equivalent


def test_every_hierarchy_is_covered():
    used = {s["hierarchy"] for make in RECIPES.values() for s in make()["steps"] if s["op"] == "generalize"}
    assert used | SPARK_REFUSES == set(hierarchies.HIERARCHIES)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_the_spark_sql_gives_the_release_of_ctopen_apply(spark, name, request):
    table = request.getfixturevalue(TABLES[name])
    expected, got, sql = run_recipe(spark, table, RECIPES[name]())
    assert_same_release(expected, got)
    assert len(expected) > 50                                     # a real release, not an empty table
    if any(s["op"] == "suppress" for s in RECIPES[name]()["steps"]):
        assert len(expected) < len(table.df)                      # the suppression removed records


def test_a_generalize_step_at_level_0_and_at_the_top(spark, drug):
    recipe = {"version": 1, "steps": [
        {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 0, "top_code": 90},
        {"op": "generalize", "column": "Date", "hierarchy": "date", "level": "*"},
        {"op": "generalize", "column": "ResidenceState", "hierarchy": "category", "level": 0},
    ]}
    expected, got, _ = run_recipe(spark, drug, recipe)
    assert_same_release(expected, got)
    assert set(got["Date"]) == {"*"}


def test_pseudonymize_on_spark_equals_the_keyed_hash_and_the_key_is_not_in_the_sql(spark, drug):
    recipe = {"version": 1, "steps": [{"op": "pseudonymize", "column": "ID"},
                                      {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 1}]}
    expected, got, sql = run_recipe(spark, drug, recipe, key=KEY)
    assert_same_release(expected, got)
    assert KEY.decode() not in sql and KEY.hex() not in sql
    for value in pseudonym_params(KEY, "spark").values():
        assert value not in sql


def test_risk_queries_on_spark_give_ctopen_risk_figures(spark, drug):
    quasi, sensitive = ["Age", "Sex", "Race", "ResidenceCity"], ["MannerofDeath"]
    spark_table(spark, drug.df, "drug_risk")
    text = risk_sql("drug_risk", quasi, "spark", sensitive, k=5)
    results = {}
    for part in [p.strip() for p in text.split(";") if p.strip()]:
        label = re.match(r"--\s*(\w+)", part).group(1)
        results[label] = spark.sql(re.sub(r"^--.*\n", "", part)).collect()
    report = assess(drug.df, quasi, sensitive, k=5, combinations=True)
    sizes = {int(r["group_size"]): int(r["classes"]) for r in results["class_sizes"]}
    assert sum(sizes.values()) == report.classes
    assert min(sizes) == report.k_min
    assert sizes.get(1, 0) == report.uniques
    assert sum(s * c for s, c in sizes.items() if s < 5) == report.records_at_risk
    l_row = results["l_MannerofDeath"][0]
    assert int(l_row["distinct_l"]) == report.l_diversity["MannerofDeath"].distinct
    assert math.isclose(math.exp(l_row["min_entropy"]), report.l_diversity["MannerofDeath"].entropy, rel_tol=1e-9)
    combos = results["qi_combinations"]
    assert len(combos) == 2 ** len(quasi) - 1
    whole = next(r for r in combos if int(r["grouping_id"]) == 0)     # no column left out: the whole key
    assert (int(whole["uniques"]), int(whole["k_min"]), int(whole["records_at_risk"])) == (
        report.uniques, report.k_min, report.records_at_risk)


def test_a_step_spark_cannot_express_is_refused_naming_it(drug):
    """Refused, never emitted wrong: the message names the step and the dialect."""
    recipe = {"version": 1, "steps": [{"op": "titlecase", "column": "ResidenceCity"}]}
    with pytest.raises(UnsupportedStep, match=r"(?i)step 1 \(titlecase\).*spark"):
        sql_for_recipe(recipe, "t", "spark", list(drug.df.columns))
    recipe = {"version": 1, "steps": [{"op": "generalize", "column": "Age", "hierarchy": "age", "level": 1},
                                      {"op": "generalize", "column": "DeathCityGeo", "hierarchy": "coordinates",
                                       "level": 2}]}
    with pytest.raises(UnsupportedStep, match=r"(?i)step 2 \(generalize\).*coordinates.*spark"):
        sql_for_recipe(recipe, "t", "spark", list(drug.df.columns))
