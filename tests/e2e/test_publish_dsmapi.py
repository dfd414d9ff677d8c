"""Publishing through DSMAPI from the app in a real browser (issue 17): the Publish page of a running app whose portal
is the HTTPS DSMAPI emulator, trusted through REQUESTS_CA_BUNDLE. It has its own app server: the shared one strips
portal credentials."""
from __future__ import annotations

from ctopen.publish import socrata
from tests.dsmapi_emulator import DsmapiEmulator, make_certificate

PASSWORD = "Tr0ub4dor-and-3-horses"
USER = "publisher@ct.gov"


def test_the_app_publishes_privately_then_public_through_revisions_in_a_browser(browser, tmp_path_factory, tmp_path,
                                                                                   monkeypatch):
    """Load a small count file, accept its roles, describe it, publish privately and make public from the Publish
    page of a running app whose portal is the HTTPS DSMAPI emulator (trusted through REQUESTS_CA_BUNDLE)."""
    import os
    import re

    from tests.e2e.conftest import describe_required, go, no_exception, serve_app, shot, upload, wait_idle
    from playwright.sync_api import expect

    tls = make_certificate(tmp_path_factory.mktemp("tls"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls[0])

    source = tmp_path / "people.csv"
    source.write_text("Town,Year,Count\n" + "".join(f"{['Hartford', 'Avon'][i % 2]},2020,{i}\n" for i in range(12)))
    with DsmapiEmulator(*tls, username=USER, password=PASSWORD) as emu:
        env = {**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "", "CTOPEN_STATE_DIR": str(tmp_path / "state"),
               "SOCRATA_USERNAME": USER, "SOCRATA_PASSWORD": PASSWORD, "REQUESTS_CA_BUNDLE": tls[0]}
        for k in ("SOCRATA_KEY_ID", "SOCRATA_KEY_SECRET", "SOCRATA_APP_TOKEN", "SOCRATA_DOMAIN", socrata.API_ENV):
            env.pop(k, None)
        # its own app server (the shared one strips credentials); the session's browser, a context of its own
        with serve_app(env, tmp_path / "streamlit.log") as url:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(60_000)
            try:
                page.goto(url)
                page.get_by_text("Load", exact=True).first.wait_for()
                upload(page, "Spreadsheet to review", source)
                page.get_by_text("12", exact=True).first.wait_for()
                wait_idle(page)
                go(page, "Identify")
                page.get_by_role("button", name=re.compile("Accept the roles shown")).click()
                wait_idle(page)
                go(page, "Describe")
                describe_required(page, "People by town", "Counts of people by town, for the browser test.",
                                  "Office of Policy and Management", "data@ct.gov", "Government", "Monthly")
                go(page, "Publish")
                expect(page.get_by_text("Passed", exact=False).first).to_be_visible()
                portal = page.get_by_label("Portal", exact=True).first
                portal.fill(emu.url)
                portal.press("Tab")
                wait_idle(page)
                reviewer = page.get_by_label("Reviewer's name (for the report and the publish log)", exact=True)
                reviewer.fill("Jane Reviewer")
                reviewer.press("Tab")
                wait_idle(page)
                page.get_by_role("button", name=re.compile("Publish privately")).click()
                expect(page.get_by_text(re.compile(r"is private on the portal")).first).to_be_visible(timeout=120_000)
                wait_idle(page)
                no_exception(page)
                (ident, ds), = emu.datasets.items()
                assert not ds.public and len(ds.rows) == 12 and set(ds.rows[0]) == {"town", "year", "count"}
                shot(page, "dsmapi-publish-private")
                page.get_by_text("The team has reviewed the private dataset on the portal").click()
                wait_idle(page)
                page.get_by_role("button", name=re.compile("Make public")).click()
                expect(page.get_by_text(re.compile(rf"Dataset {ident} is public")).first).to_be_visible(timeout=120_000)
                no_exception(page)
                shot(page, "dsmapi-publish-public")
                assert emu.public_ids() == [ident] and len(emu.datasets) == 1
                assert [r["action"]["permission"] for r in emu.datasets[ident].revisions] == ["private", "public"]
                assert PASSWORD not in page.content()
            except BaseException:
                shot(page, "FAILED-dsmapi-browser")
                raise
            finally:
                context.close()
