"""Data Access Plan workbook: add or update the dataset's row, keeping everything else."""
from __future__ import annotations

import io

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill

from ctopen import dap

RECIPE = {
    "version": 1,
    "roles": {"Age": "quasi", "Name": "direct"},
    "steps": [{"op": "drop", "column": "Name"}, {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2}],
    "metadata": {"title": "Accidental Drug Related Deaths", "agency": "Office of the Chief Medical Examiner",
                 "description": "Deaths from accidental drug overdoses.", "update_frequency": "Monthly",
                 "contact_email": "ocme@ct.gov"},
}


def agency_plan() -> bytes:
    """A plan as an agency keeps it: a cover sheet, a title row above the header, other datasets, styles."""
    wb = Workbook()
    cover = wb.active
    cover.title = "Cover"
    cover["A1"] = "Department of Public Health - Data Access Plan 2026"
    cover["A1"].font = Font(bold=True, size=16)
    ws = wb.create_sheet("Plan")
    ws["A1"] = "Datasets planned for the portal"
    headers = ["Agency", "Dataset title", "Description", "Portal", "Status", "URL", "Update frequency",
               "Contains personal data", "De-identification method", "Date", "Contact"]
    for c, h in enumerate(headers, start=1):
        cell = ws.cell(3, c, h)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="FFDDEEFF")
    ws.append(["DPH", "Births by town", "Counts", "Open Data", "public", "https://data.ct.gov/d/aaaa-1111",
               "Annually", "No", "", "2025-01-01", "dph@ct.gov"])
    ws.append(["DPH", "Accidental Drug Related Deaths", "old text", "Open Data", "planned", "", "Monthly", "Yes",
               "", "2025-06-01", "old@ct.gov"])
    for c in range(1, 12):
        ws.cell(5, c).fill = PatternFill("solid", fgColor="FFFFF2CC")
    ws.column_dimensions["B"].width = 40
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_new_plan_has_the_columns_and_the_row():
    row = dap.row_from_recipe(RECIPE, status="private", url="https://data.ct.gov/d/abcd-1234", on="2026-11-24")
    result = dap.update_plan(None, row)
    ws = load_workbook(io.BytesIO(result.content))[result.sheet]
    assert [c.value for c in ws[1]] == dap.COLUMNS
    values = dict(zip(dap.COLUMNS, [c.value for c in ws[2]]))
    assert values["Dataset Title"] == "Accidental Drug Related Deaths"
    assert values["Status"] == "private" and values["Portal"] == "Open Data"
    assert values["Contains Personal Data"] == "Yes"
    assert "Remove the column “Name”" in values["De-identification Method"] and "Age" in values["De-identification Method"]
    assert values["Update Frequency"] == "Monthly" and values["Contact"] == "ocme@ct.gov" and values["Date"] == "2026-11-24"
    assert result.added and result.row == 2


def test_existing_row_is_updated_and_everything_else_kept():
    row = dap.row_from_recipe(RECIPE, status="public", url="https://data.ct.gov/d/abcd-1234", on="2026-11-24")
    result = dap.update_plan(agency_plan(), row)
    wb = load_workbook(io.BytesIO(result.content))
    assert wb.sheetnames == ["Cover", "Plan"]
    assert wb["Cover"]["A1"].value.startswith("Department of Public Health") and wb["Cover"]["A1"].font.bold
    ws = wb["Plan"]
    assert not result.added and result.row == 5 and ws.max_row == 5
    assert ws["A1"].value == "Datasets planned for the portal"
    assert [c.value for c in ws[4]][:2] == ["DPH", "Births by town"]       # the other dataset untouched
    assert ws["E5"].value == "public" and ws["F5"].value == "https://data.ct.gov/d/abcd-1234"
    assert ws["C5"].value == "Deaths from accidental drug overdoses."
    assert ws["B3"].font.bold and ws["B3"].fill.fgColor.rgb == "FFDDEEFF"    # header formatting kept
    assert ws["A5"].fill.fgColor.rgb == "FFFFF2CC" and ws.column_dimensions["B"].width == 40


def test_new_row_appended_styled_like_the_one_above():
    recipe = {**RECIPE, "metadata": {**RECIPE["metadata"], "title": "Pretrial inmates"}}
    row = dap.row_from_recipe(recipe, status="planned")
    result = dap.update_plan(agency_plan(), row)
    ws = load_workbook(io.BytesIO(result.content))["Plan"]
    assert result.added and result.row == 6 and ws["B6"].value == "Pretrial inmates"
    assert ws["A6"].fill.fgColor.rgb == "FFFFF2CC"
    assert ws["B5"].value == "Accidental Drug Related Deaths"        # the earlier row unchanged
    assert ws["E5"].value == "planned"


def test_update_twice_is_still_one_row():
    row = dap.row_from_recipe(RECIPE, status="private")
    first = dap.update_plan(None, row)
    second = dap.update_plan(first.content, dap.row_from_recipe(RECIPE, status="public"))
    ws = load_workbook(io.BytesIO(second.content))[second.sheet]
    assert ws.max_row == 2 and ws["E2"].value == "public"


def test_sheet_without_plan_columns_gets_a_plan_sheet():
    wb = Workbook()
    wb.active.title = "Notes"
    wb.active["A1"] = "something else"
    buf = io.BytesIO()
    wb.save(buf)
    result = dap.update_plan(buf.getvalue(), dap.row_from_recipe(RECIPE, status="planned"))
    out = load_workbook(io.BytesIO(result.content))
    assert out.sheetnames == ["Notes", dap.SHEET_NAME] and out["Notes"]["A1"].value == "something else"


def test_no_personal_data_needs_no_method():
    recipe = {"version": 1, "steps": [], "roles": {"Town": "other"}, "metadata": {"title": "COVID counts"}}
    row = dap.row_from_recipe(recipe, status="planned")
    assert row.personal_data == "No" and row.deidentification == "not needed"


@pytest.mark.parametrize("change, words", [
    ({"title": ""}, "no title"), ({"portal": "Portal X"}, "portal"), ({"status": "published"}, "status"),
])
def test_bad_rows_are_refused(change, words):
    row = dap.row_from_recipe(RECIPE, status="planned")
    for k, v in change.items():
        setattr(row, k, v)
    with pytest.raises(dap.PlanError, match=words):
        dap.update_plan(None, row)


def test_not_a_workbook_is_a_plain_error():
    with pytest.raises(dap.PlanError, match="not a readable Excel workbook"):
        dap.update_plan(b"not a zip", dap.row_from_recipe(RECIPE, status="planned"))
