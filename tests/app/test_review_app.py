"""AppTest for the review as a whole: restore after a reload, and the sidebar status.

Note: AppTest re-runs only the page script after the first run of a navigation app, so the sidebar
(drawn by app.py: status, save and open a review) is checked on first runs here; opening a saved review
and a real reload are tested in the browser (tests/e2e/test_whole_review.py)."""
from ctopen import review, settings
from ctopen.load import load
from tests.app.helpers import app, errors
from ui import persist


def _sidebar_text(at) -> str:
    return " | ".join(m.value for m in at.sidebar.markdown)


def _sample_review(**extra) -> dict:
    t = load(settings.SAMPLE_FILE)
    doc = {"version": 1, "source": t.source.to_dict(), "roles": {"ID": "direct", "Age": "quasi"},
           "steps": [{"op": "drop", "column": "ID"}], "metadata": {"title": "Accidental drug related deaths"}}
    doc.update(extra)
    return doc


def test_a_reload_restores_the_review_from_the_url():
    t = load(settings.SAMPLE_FILE)
    recipe = _sample_review()
    persist._REVIEWS["reload-test"] = {"table": t, "recipe": recipe, "reviewer": "Pat"}
    at = app()
    at.query_params["review"] = "reload-test"
    at.run()
    assert not errors(at)
    assert at.session_state["recipe"] is recipe and at.session_state["reviewer"] == "Pat"
    assert next(m.value for m in at.metric if m.label == "Rows") == "5,105"
    side = _sidebar_text(at)
    assert "**Load** · Done" in side and "1 step in the recipe" in side


def test_an_unknown_review_id_starts_a_new_review():
    at = app()
    at.query_params["review"] = "no-such-review"
    at.run()
    assert not errors(at)
    assert "table" not in at.session_state and at.session_state["_review_id"] != "no-such-review"
    assert "No file loaded yet" in _sidebar_text(at)
