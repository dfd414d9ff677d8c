"""A new file starts a new review, in a real browser (issue 14, item 3).

Review file A (the drug-deaths trim): answer eligibility questions with a note, type a title, an agency and
tags, add a recipe step. Then load file B (the licenses trim): nothing of A shows or counts: Evaluate's
answers are empty, the metadata is empty, the recipe has no steps, and the sidebar's status shows B's file and
figures. Screenshots in test-artifacts/ (new-file-*.png).
"""
import re

from playwright.sync_api import expect

from tests.conftest import ROOT
from tests.e2e.conftest import card, fill, go, no_exception, pick, shot, upload, wait_idle

A = ROOT / "tests" / "data" / "drug_deaths_600.csv"
B = ROOT / "tests" / "data" / "licenses_zip_300.csv"
TITLE, AGENCY, NOTE = "Accidental Drug Related Deaths in Connecticut", "Office of the Chief Medical Examiner", "OCME owns it"


def sidebar(page) -> str:
    return page.get_by_test_id("stSidebar").inner_text()


def answer(page, question: str, label: str) -> None:
    group = page.get_by_role("radiogroup", name=question)
    group.get_by_text(label, exact=True).click()
    wait_idle(page)


def checked_answers(page) -> int:
    return page.locator('[data-testid="stRadio"] input[type="radio"]:checked').count()


def test_a_new_file_carries_nothing_of_the_previous_review(page):
    # --- file A: answers, metadata, a recipe step ---------------------------------------------------
    upload(page, "Spreadsheet to review", A)
    page.get_by_text("600", exact=True).first.wait_for()
    wait_idle(page)
    go(page, "Evaluate")
    answer(page, "Does the data belong to your agency?", "Yes")
    answer(page, "Can the data be given out with no fee for access, use or adaptation?", "Yes")
    fill(page, "Note on ownership", NOTE)
    assert checked_answers(page) == 2
    go(page, "Describe")
    fill(page, "Title", TITLE)
    fill(page, "Agency", AGENCY)
    tags = page.get_by_test_id("stMultiSelect").filter(has_text="Tags").first
    tags.locator("input").first.click()
    page.keyboard.type("overdose")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    wait_idle(page)
    go(page, "Transform")
    pick(page, "ID", "Remove the column", lambda: card(page, "ID").get_by_text("left out of the release"))
    expect(page.get_by_text("1 step in the recipe").first).to_be_visible()
    status_a = sidebar(page)
    assert "drug_deaths_600.csv (600 rows)" in status_a and "1 step in the recipe" in status_a
    assert re.search(r"Evaluate · To do: Not finished: [23] of 5 questions not answered", status_a)
    shot(page, "new-file-1-review-of-A")

    # --- file B --------------------------------------------------------------------------------------
    go(page, "Load")
    upload(page, "Spreadsheet to review", B)
    page.get_by_text("licenses_zip_300.csv (300 rows)").first.wait_for()
    wait_idle(page)
    no_exception(page)
    status_b = sidebar(page)
    assert "licenses_zip_300.csv (300 rows)" in status_b and "drug_deaths_600" not in status_b
    assert "No change made yet" in status_b and "step in the recipe" not in status_b
    assert "Not finished: 5 of 5 questions not answered" in status_b
    assert "Metadata not started" in status_b          # nothing typed for B yet: no completeness carried over
    shot(page, "new-file-2-B-loaded")

    go(page, "Evaluate")
    assert checked_answers(page) == 0
    expect(page.get_by_label("Note on ownership", exact=True)).to_have_value("")
    expect(page.get_by_text(NOTE)).to_have_count(0)
    shot(page, "new-file-3-B-evaluate")

    go(page, "Describe")
    expect(page.get_by_label("Title", exact=True)).to_have_value("")
    expect(page.get_by_label("Agency", exact=True)).to_have_value("")
    tags = page.get_by_test_id("stMultiSelect").filter(has_text="Tags").first
    assert "overdose" not in tags.inner_text()
    expect(page.get_by_text(TITLE)).to_have_count(0)
    shot(page, "new-file-4-B-describe")

    go(page, "Transform")
    expect(page.get_by_text("No steps yet: the file would be published as it is.").first).to_be_visible()
    assert not re.search(r"\bID\b", page.get_by_test_id("stMain").inner_text().split("The recipe")[-1])
    no_exception(page)
    shot(page, "new-file-5-B-transform")
    assert "drug_deaths_600" not in sidebar(page)
