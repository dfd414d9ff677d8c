"""The foundation in a real browser: upload a real file, see its row count, visit every page without an exception."""
from tests.conftest import LICENSES, real_file
from tests.e2e.conftest import no_exception, shot, upload, wait_idle
from ui.layout import PAGES


def test_upload_real_file_and_visit_every_page(page):
    upload(page, "Spreadsheet to review", real_file(LICENSES))
    page.get_by_text("1,000", exact=True).first.wait_for()
    wait_idle(page)
    no_exception(page)
    shot(page, "foundation-load")
    for info in PAGES[1:]:
        page.get_by_role("link", name=info.title, exact=True).first.click()
        page.get_by_role("heading", name=info.title).first.wait_for()
        wait_idle(page)
        no_exception(page)
        shot(page, f"foundation-{info.url}")
