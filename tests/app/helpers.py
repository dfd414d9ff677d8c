"""AppTest helpers: the whole app (navigation included) started on a page, with or without a loaded file."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

APP = str(ROOT / "app.py")


def app(timeout: int = 120) -> AppTest:
    return AppTest.from_file(APP, default_timeout=timeout)


def loaded(page: str | None = None, timeout: int = 120) -> AppTest:
    """The app with the sample (drug deaths) loaded, switched to `page` (e.g. "pages/risk.py")."""
    at = app(timeout).run()
    sample = next(b for b in at.button if b.label.startswith("Try a sample"))
    sample.click().run()
    if page:
        at.switch_page(page).run()
    return at


def errors(at: AppTest) -> list[str]:
    """Exceptions (tracebacks) rendered anywhere: must be empty."""
    return [e.value for e in at.exception]


def empty(page: str, timeout: int = 60) -> AppTest:
    """The whole app switched to `page` with no file loaded; checks the shared empty state and returns it."""
    at = app(timeout)
    at.switch_page(page)
    at.run()
    assert not at.exception
    assert any("No file is loaded yet" in i.value for i in at.info)
    return at
