"""Scenario 2 in a real browser: the State Licenses and Credentials register, published with identifiers on purpose.

Load the real file; Identify finds the names and street addresses as direct identifiers and does not call
license status or type identifiers; the officer accepts the roles; Publish is blocked (no bundle) until the
officer records the exception and why; then it passes by exception, and the bundle's report carries the
justification and the officer's name, its recipe keeps every column's role (also 'credentialid' and the
other columns whose names contain 'credential'), and its CSV keeps ALL CAPS names and 9-digit ZIPs with
their leading zero as they are. Screenshots go to test-artifacts/ (look at them).
"""
import io
import json
import re
import zipfile

import pandas as pd
from playwright.sync_api import expect

from tests.conftest import real_file
from tests.e2e.conftest import fill, go, no_exception, shot, upload, wait_idle

WHY = "A public register of license holders: publishing who holds a state license serves a clear public good."
OFFICER = "Pat Officer"


def test_license_register_published_by_a_recorded_exception(page, tmp_path):
    upload(page, "Spreadsheet to review", real_file("ct_state_licenses_credentials_ngch-56tr.csv"))
    page.get_by_text("1,000", exact=True).first.wait_for()
    wait_idle(page)
    no_exception(page)

    # Identify: names and addresses are direct identifiers; license status and type are not
    go(page, "Identify")
    warning = page.get_by_text(re.compile(r"column\(s\) point directly at a person")).first
    expect(warning).to_be_visible()
    listed = re.search(r"household: (.*?)\. ", warning.inner_text()).group(1).split(", ")
    assert "name" in listed and "address" in listed, listed
    assert not {"status", "type", "credentialtype", "statusreason", "active"} & set(listed), listed
    expect(warning).to_contain_text("Publish page")   # a public register is an exception, not a role change
    page.get_by_role("button", name=re.compile("Accept the roles shown")).click()
    wait_idle(page)
    shot(page, "licenses-1-identify")

    # Publish: blocked, no bundle, until the exception is recorded
    go(page, "Publish")
    expect(page.get_by_text("Blocked: this release may not be published").first).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("publication bundle"))).to_have_count(0)
    expect(page.get_by_text("once the privacy gate").first).to_be_visible()
    fill(page, "Why must these identifiers be published?", WHY)
    fill(page, "Your name (recorded with the exception)", OFFICER)
    page.get_by_role("button", name="Record the exception").click()
    wait_idle(page)
    no_exception(page)
    expect(page.get_by_text("Passed by a recorded exception").first).to_be_visible()
    expect(page.get_by_text(f"Published by exception, recorded by {OFFICER}").first).to_be_visible()
    expect(page.get_by_label("Reviewer's name (for the report and the publish log)")).to_have_value(OFFICER)
    shot(page, "licenses-2-publish")

    button = page.get_by_role("button", name=re.compile("publication bundle")).first
    with page.expect_download() as info:
        button.click()
    path = tmp_path / "bundle.zip"
    info.value.save_as(path)
    with zipfile.ZipFile(path) as zf:
        report = zf.read("report.html").decode("utf-8")
        recipe = json.loads(zf.read("recipe.json"))
        data = pd.read_csv(io.BytesIO(zf.read("data.csv")), dtype=str, keep_default_na=False)

    # the report carries the exception, its justification and who made it
    assert "PASSED BY EXCEPTION" in report
    assert "publishing who holds a state license serves a clear public good" in report
    assert f"Reviewed by {OFFICER}" in report
    # the recipe keeps the exception and every column's reviewed role, for next month's run
    assert recipe["exception"]["justification"] == WHY and recipe["exception"]["by"] == OFFICER
    assert recipe["roles"]["name"] == "direct" and recipe["roles"]["address"] == "direct"
    assert recipe["roles"]["credentialid"] == "direct" and recipe["roles"]["credentialtype"] == "other"
    assert set(recipe["roles"]) == set(data.columns)
    # ALL CAPS names and 9-digit ZIPs with a leading zero are published as they are
    assert data.loc[0, "name"] == "FADEL BALAWI" and data.loc[0, "zip"] == "060012101"
    source = pd.read_csv(real_file("ct_state_licenses_credentials_ngch-56tr.csv"), dtype=str, keep_default_na=False)
    assert data["zip"].tolist() == source["zip"].tolist() and data["name"].tolist() == source["name"].tolist()
