"""Scenario 4 in a real browser: counts instead of records, on the drug-deaths sample.

Build counts by county, year, sex and race on the Transform page's tab "Publish counts instead of
records": small cells (1-5) and the complementary cells are suppressed. A coarser table (county, year)
loses fewer cells than the finer one; both are listed under "Tables tried". Use the counts in the recipe,
fill the metadata, and the Publish gate passes (a count table under the state rule); the bundle's CSV is
the count table, with suppressed cells empty and flagged.
"""
import io
import json
import re
import zipfile

import pandas as pd
from playwright.sync_api import expect

from tests.e2e.conftest import describe_required, download_bundle, go, metric, no_exception, shot, visible, wait_idle


def count_by(page, columns: list[str]) -> None:
    """Set the "Count by" multiselect to exactly these columns, in this order."""
    box = visible(page.get_by_test_id("stMultiSelect").filter(has_text="Count by"))
    clear = box.get_by_role("button", name=re.compile("Clear all", re.I))
    if clear.count():
        clear.first.click()
        wait_idle(page)
    for col in columns:
        box = visible(page.get_by_test_id("stMultiSelect").filter(has_text="Count by"))
        box.locator("input").first.click()
        page.keyboard.type(col)
        page.get_by_role("option", name=col, exact=True).first.click()
        wait_idle(page, timeout=120)
        page.keyboard.press("Escape")
    no_exception(page)


def cells(page, expected: str) -> tuple[int, int]:
    """(cells, suppressed) once the table has `expected` cells (metrics shown during a rerun are stale)."""
    box = page.get_by_test_id("stMetric").filter(has_text="Cells").first.get_by_test_id("stMetricValue")
    expect(box).to_have_text(expected, timeout=60_000)
    wait_idle(page, timeout=120)
    return int(metric(page, "Cells").replace(",", "")), int(metric(page, "Suppressed").replace(",", ""))


def test_counts_by_county_year_sex_race(page, tmp_path):
    page.get_by_role("button", name=re.compile("Try a sample")).click()
    page.get_by_text("5,105", exact=True).first.wait_for()
    wait_idle(page)
    go(page, "Identify")
    page.get_by_role("button", name=re.compile("Accept the roles shown")).click()
    wait_idle(page)

    go(page, "Transform")
    page.get_by_role("tab", name="Publish counts instead of records").click()
    wait_idle(page)
    # coarser first: county and year
    count_by(page, ["ResidenceCity", "Date"])      # towns -> CT counties and dates -> years by default
    expect(visible(page.get_by_text("Date: level", exact=True))).to_be_visible()
    expect(visible(page.get_by_text("ResidenceCity: level", exact=True))).to_be_visible()
    coarse = cells(page, "99")          # 9 county values (out of state: *) + total, by 7 years + total
    # finer: county, year, sex and race
    count_by(page, ["ResidenceCity", "Date", "Sex", "Race"])
    fine = cells(page, "6,435")
    assert fine[0] > coarse[0] and fine[1] > 0
    assert fine[1] / fine[0] > coarse[1] / max(coarse[0], 1)     # the finer table loses a larger share
    assert int(metric(page, "Small counts").replace(",", "")) > 0
    assert int(metric(page, "Suppressed to protect them").replace(",", "")) > 0
    visible(page.get_by_text("Tables tried (coarser and finer)")).click()
    no_exception(page)
    shot(page, "counts-1-table")

    visible(page.get_by_role("button", name="Use these counts in the recipe")).click()
    wait_idle(page, timeout=120)
    expect(page.get_by_text("count table of", exact=False).first).to_be_visible()
    no_exception(page)

    go(page, "Describe")
    describe_required(page, "Accidental Drug Related Deaths by County, Year, Sex and Race",
                      "Counts of accidental drug overdose deaths investigated by the Office of the Chief Medical Examiner, "
                      "by county of residence, year, sex and race; counts of 1 to 5 are suppressed.",
                      "Office of the Chief Medical Examiner", "ocme.data@ct.gov", "Health and Human Services", "Monthly")

    go(page, "Publish")
    expect(page.get_by_text("Passed", exact=False).first).to_be_visible()
    shot(page, "counts-2-publish")
    path = download_bundle(page, tmp_path)
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".csv"))
        table = pd.read_csv(io.BytesIO(zf.read(name)), dtype=str, keep_default_na=False)
        recipe = json.loads(zf.read(next(n for n in zf.namelist() if n.endswith("recipe.json"))))
    town = next(s for s in recipe["steps"] if s.get("op") == "generalize" and s["column"] == "ResidenceCity")
    assert town["state_column"] == "ResidenceState"     # "WARREN", "ME" is not counted in Litchfield County
    assert recipe["steps"][-1]["op"] == "aggregate" and recipe["steps"][-1]["by"] == ["ResidenceCity", "Date", "Sex", "Race"]
    assert {"ResidenceCity", "Date", "Sex", "Race", "count", "count_suppressed"} <= set(table.columns)
    assert "ID" not in table.columns and len(table) == fine[0]
    flagged = table["count_suppressed"].str.lower() == "true"
    assert flagged.sum() == fine[1] and (table.loc[flagged, "count"] == "").all()
    shown = pd.to_numeric(table.loc[~flagged, "count"])
    assert not shown.between(1, 5).any()                          # no count of 1 to 5 is published
    assert set(table["Date"]) <= {str(y) for y in range(2012, 2019)} | {"Total", "(blank)"}
    assert "Hartford" in set(table["ResidenceCity"])
