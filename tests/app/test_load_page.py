"""AppTest for the Load page: upload, sample, sheet choice, a clear error for a bad file."""
import io

import openpyxl

from tests.app.helpers import app, errors, loaded
from tests.conftest import LICENSES, real_file


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def test_empty_state_invites_an_upload():
    at = app().run()
    assert not errors(at)
    assert any("Upload a file or try the sample" in i.value for i in at.info)
    assert at.file_uploader[0].label.startswith("Spreadsheet to review")


def test_sample_loads_with_its_row_count_and_profile():
    at = loaded()
    assert not errors(at)
    assert _metric(at, "Rows") == "5,105" and _metric(at, "Columns") == "41"
    assert any(df.value.shape[0] == 41 for df in at.dataframe)   # one profile row per column


def test_upload_a_real_file():
    at = app().run()
    at.file_uploader[0].upload(LICENSES, real_file(LICENSES).read_bytes(), "text/csv").run()
    assert not errors(at)
    assert _metric(at, "Rows") == "1,000" and _metric(at, "Columns") == "21"


def _two_sheet_workbook() -> bytes:
    wb = openpyxl.Workbook()
    wb.active.title = "Towns"
    for r in [["town", "count"], ["Avon", 3], ["Bethel", 9]]:
        wb.active.append(r)
    ws = wb.create_sheet("People")
    for r in [["name", "zip", "age"], ["Ann", "06810", 31], ["Bo", "06811", 40], ["Cy", "06812", 52], ["Di", "06813", 64]]:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_sheet_choice_reloads_the_other_sheet():
    at = app().run()
    at.file_uploader[0].upload("two.xlsx", _two_sheet_workbook(), "application/vnd.ms-excel").run()
    assert not errors(at)
    assert _metric(at, "Rows") == "2"
    assert any("only the first tab" in w.value for w in at.warning)
    at.selectbox[0].set_value("People").run()
    assert not errors(at)
    assert _metric(at, "Rows") == "4" and _metric(at, "Columns") == "3"


def test_bad_file_shows_one_error_sentence_and_keeps_the_previous_file():
    at = loaded()
    at.file_uploader[0].upload("broken.xlsx", b"not a workbook", "application/vnd.ms-excel").run()
    assert not errors(at)
    assert any("not a valid Excel workbook" in e.value for e in at.error)
    assert _metric(at, "Rows") == "5,105"   # nothing lost
