"""The whole review in a real browser, on the real drug-deaths file (issue 8).

Load the sample, accept the detected roles, see k = 1, generalize Date to year, Age to 10-year bands and
the towns to counties, suppress what remains under k = 5, see k >= 5, fill the required metadata, reach
Publish and download the bundle. A screenshot of each page is saved in test-artifacts/ (look at them).
Then: save the review, reload the tab (restored), open the saved review in a new tab (re-applied).
"""
import json
import re
import zipfile

from playwright.sync_api import expect

from tests.e2e.conftest import (card, describe_required, download_bundle, fill, generalize, go, metric, no_exception,
                                 pick, shot, upload, visible, wait_idle)


def test_whole_review_on_drug_deaths(page, tmp_path):
    # Load
    page.get_by_role("button", name=re.compile("Try a sample")).click()
    page.get_by_text("5,105", exact=True).first.wait_for()
    wait_idle(page)
    no_exception(page)
    shot(page, "review-1-load")

    # Evaluate (answered later; visiting it must work)
    go(page, "Evaluate")
    shot(page, "review-2-evaluate")

    # Identify: the detected roles are accepted as they are
    go(page, "Identify")
    expect(page.get_by_text("Direct identifiers").first).to_be_visible()
    page.get_by_role("button", name=re.compile("Accept the roles shown")).click()
    wait_idle(page)
    expect(page.get_by_role("button", name=re.compile("Accept the roles shown"))).to_have_count(0)
    shot(page, "review-3-identify")

    # Risk: k = 1 on the file as loaded
    go(page, "Risk")
    assert metric(page, "Smallest group (k)") == "1"
    shot(page, "review-4-risk")

    # Transform
    go(page, "Transform")
    pick(page, "ID", "Remove the column", lambda: card(page, "ID").get_by_text("left out of the release"))
    generalize(page, "Date", "year")
    generalize(page, "Age", "10-year")
    for town in ("ResidenceCity", "DeathCity", "InjuryCity"):
        generalize(page, town, "county")
    for geo in ("DeathCityGeo", "ResidenceCityGeo", "InjuryCityGeo"):
        pick(page, geo, "Remove the column", lambda: card(page, geo).get_by_text("left out of the release"))
    assert int(metric(page, "Smallest group (k)").replace(",", "")) < 5
    visible(page.get_by_text("Remove the records still in groups smaller than k")).click()
    wait_idle(page, timeout=120)
    share = visible(page.get_by_label("At most this % of records", exact=True))
    share.fill("60")
    share.press("Enter")
    k_shown = page.get_by_test_id("stMetric").filter(has_text="Smallest group (k)").first.get_by_test_id("stMetricValue")
    expect(k_shown).to_have_text(re.compile(r"^([5-9]|\d{2,}|\d{1,3}(,\d{3})+)$"), timeout=120_000)   # k >= 5
    wait_idle(page, timeout=120)
    no_exception(page)
    assert int(metric(page, "Smallest group (k)").replace(",", "")) >= 5
    shot(page, "review-5-transform")

    # Describe: the required metadata
    go(page, "Describe")
    describe_required(page, "Accidental Drug Related Deaths in Connecticut",
                      "Deaths from accidental drug overdoses investigated by the Office of the Chief Medical Examiner, "
                      "one row per death, generalized to protect privacy.",
                      "Office of the Chief Medical Examiner", "ocme.data@ct.gov", "Health and Human Services", "Monthly")
    no_exception(page)
    shot(page, "review-6-describe")

    # Publish: the gate passes, the bundle downloads
    go(page, "Publish")
    expect(page.get_by_text("Passed", exact=False).first).to_be_visible()
    shot(page, "review-7-publish")
    path = download_bundle(page, tmp_path)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert any(n.endswith(".csv") for n in names) and any("report" in n for n in names)
        recipe = json.loads(zf.read(next(n for n in names if n.endswith("recipe.json"))))
    assert recipe["metadata"]["title"] == "Accidental Drug Related Deaths in Connecticut"
    assert {"op": "drop", "column": "ID"} in recipe["steps"]

    # The sidebar status says what is done
    side = page.get_by_test_id("stSidebar").inner_text()
    assert "No direct identifier left" in side and "target 5" in side

    # Save the review, reload the tab: the review is restored
    with page.expect_download() as info:
        page.get_by_role("button", name="Save this review").click()
    saved = tmp_path / "review.json"
    info.value.save_as(saved)
    assert json.loads(saved.read_text())["metadata"]["agency"] == "Office of the Chief Medical Examiner"
    page.reload()
    page.get_by_role("heading", name="Publish").first.wait_for()
    wait_idle(page, timeout=120)
    no_exception(page)
    expect(page.get_by_text("Passed", exact=False).first).to_be_visible()

    # Open the saved review in a fresh tab: the sample is loaded and the review re-applied
    fresh = page.context.browser.new_context(viewport={"width": 1400, "height": 1000})
    other = fresh.new_page()
    other.goto(page.url.split("?")[0].rsplit("/", 1)[0] + "/")
    other.get_by_text("Load", exact=True).first.wait_for()
    wait_idle(other)
    upload(other, "Open a saved review", saved)
    other.get_by_text("Review opened").first.wait_for()
    wait_idle(other)
    no_exception(other)
    side = other.get_by_test_id("stSidebar").inner_text()
    assert "steps in the recipe" in side
    shot(other, "review-8-reopened")
    fresh.close()
