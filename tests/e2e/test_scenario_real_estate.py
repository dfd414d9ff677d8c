"""Scenario 5 in a real browser: Real Estate Sales (list year 2021), properties rather than people.

Load the real file (40,946 sales); Identify finds the street addresses as a direct identifier; the officer
decides that the sales are public records about properties and records it (Address, Town and Date Recorded
set to Other, with a name and a reason); Describe flags the amounts written "295,000" and each is fixed in
one click; Publish passes, says the verdict rests on the officer's decisions, and the bundle's CSV holds
plain numbers while its recipe and report carry the decisions and their reason.
Screenshots go to test-artifacts/ (look at them).
"""
import io
import json
import re
import zipfile

import pandas as pd
from playwright.sync_api import expect

from tests.conftest import real_file
from tests.e2e.conftest import fill, go, no_exception, shot, upload, wait_idle

REASON = "Properties, not people: each sale is a public record at the town clerk and names no buyer or seller."
OFFICER = "Robin Assessor"
DECIDED = ("Address", "Town", "Date Recorded")


def test_property_sales_decided_by_the_officer_and_amounts_fixed_in_one_click(page, tmp_path):
    upload(page, "Spreadsheet to review", real_file("ct_real_estate_sales_2021_listyear.csv"))
    page.get_by_text("40,946", exact=True).first.wait_for()
    wait_idle(page, timeout=120)
    no_exception(page)

    # Identify: the street address is found; the officer decides, with a name and a reason
    go(page, "Identify")
    expect(page.get_by_text(re.compile(r"point directly at a person or household: Address\.")).first).to_be_visible()
    name = page.get_by_label("Your name (recorded with each change)", exact=True)
    name.fill(OFFICER)
    name.press("Tab")
    wait_idle(page)
    form = page.get_by_test_id("stForm")
    columns = form.get_by_test_id("stMultiSelect").first
    for column in DECIDED:
        columns.locator("input").first.click()
        page.keyboard.type(column)
        page.get_by_role("option", name=column, exact=True).first.click()
    page.keyboard.press("Escape")
    form.get_by_test_id("stSelectbox").first.locator("input").first.click()
    page.keyboard.type("Other")
    page.get_by_role("option", name=re.compile("^Other")).first.click()
    form.get_by_label("Reason for the change", exact=True).fill(REASON)
    form.get_by_role("button", name="Record the change").click()
    wait_idle(page)
    no_exception(page)
    expect(page.get_by_text("Decisions recorded").first).to_be_visible()
    expect(page.get_by_text("No direct identifier is left among the columns").first).to_be_visible()
    shot(page, "real-estate-1-identify")

    # Describe: the amounts written "295,000" are flagged, and each is fixed in one click
    go(page, "Describe")
    expect(page.get_by_text(re.compile(r"data-preparation problem\(s\) to fix")).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"'Sale Amount' are written with thousands separators \(e\.g\. '295,000'")).first).to_be_visible()
    for column in ("Sale Amount", "Assessed Value"):
        page.get_by_role("button", name=f"Write '{column}' as plain numbers").click()
        wait_idle(page, timeout=120)
        no_exception(page)
        expect(page.get_by_role("button", name=f"Write '{column}' as plain numbers")).to_have_count(0)
    # the sale dates are written 1/1/2022: the portal reads only ISO dates as dates
    page.get_by_role("button", name="Write the dates of 'Date Recorded' as YYYY-MM-DD").click()
    wait_idle(page, timeout=120)
    no_exception(page)
    expect(page.get_by_text("No formatting problems found.").first).to_be_visible()
    shot(page, "real-estate-2-describe")

    # Publish: passes on the officer's decisions, and says so
    go(page, "Publish")
    expect(page.get_by_text("Passed:", exact=False).first).to_be_visible()
    expect(page.get_by_text(re.compile("This rests on your decisions on the Identify page")).first).to_contain_text(OFFICER)
    shot(page, "real-estate-3-publish")
    with page.expect_download() as info:
        page.get_by_role("button", name=re.compile("publication bundle")).first.click()
    path = tmp_path / "bundle.zip"
    info.value.save_as(path)
    with zipfile.ZipFile(path) as zf:
        data = pd.read_csv(io.BytesIO(zf.read("data.csv")), dtype=str, keep_default_na=False)
        recipe = json.loads(zf.read("recipe.json"))
        report = zf.read("report.html").decode("utf-8")

    # the CSV holds plain numbers: the first sale is 295000, no amount keeps a comma
    assert len(data) == 40_946
    assert data.loc[0, "Sale Amount"] == "295000" and data.loc[0, "Assessed Value"] == "114400"
    assert data["Date Recorded"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    for column in ("Sale Amount", "Assessed Value"):
        assert not data[column].str.contains(",").any()
        assert pd.to_numeric(data[column], errors="coerce").notna().all()
    assert data.loc[0, "Address"] == "14 BUGBEE LANE"   # the officer kept the addresses
    # the decisions and their reason are recorded in the recipe and the report
    assert {"op": "format_number", "column": "Sale Amount"} in recipe["steps"]
    decided = {d["column"]: d for d in recipe["decisions"]}
    assert set(decided) == set(DECIDED)
    assert all(d["by"] == OFFICER and d["reason"] == REASON and d["role"] == "other" for d in decided.values())
    assert decided["Address"]["previous"] == "direct"
    assert "names no buyer or seller" in report and OFFICER in report
    assert "The verdict relies on these decisions of the reviewer" in report
    assert re.search(r"Smallest group \(k\)</td><td>[\d,]+</td><td>[\d,]+</td><td>1</td>", report)   # as detected: k = 1
    assert "Write &#x27;Sale Amount&#x27; as plain numbers" in report or "Write 'Sale Amount' as plain numbers" in report
