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
