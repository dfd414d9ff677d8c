"""Scenario 3 in a real browser: a daily feed with a pseudonymous ID (the DOC pre-trial admissions).

IDENTIFIER links a person across days: the app flags it as a direct identifier; the Transform page
replaces it with a keyed anonymous ID (the key comes from CTOPEN_PSEUDONYM_KEY, set by the e2e server).
OFFENSE is sensitive: the Risk page shows its l-diversity. After generalizing the admission date to month
and removing the few records still in small groups, the gate passes and the bundle's CSV holds no
original IDENTIFIER value, and the same person gets the same anonymous ID on every admission.
"""
import io
import re
import zipfile

import pandas as pd
from playwright.sync_api import expect

from ctopen.transform import pseudonym
from tests.conftest import PRETRIAL, real_file
from tests.e2e.conftest import (card, describe_required, download_bundle, generalize, go, no_exception, pick, shot,
                                 upload, visible, wait_idle)

KEY = b"e2e-test-key-0123456789"   # the e2e server's CTOPEN_PSEUDONYM_KEY (tests/e2e/conftest.py)
ID = "IDENTIFIER"
DATE = "LATEST ADMISSION DATE"


def test_pretrial_pseudonymous_id(page, tmp_path):
    original = pd.read_csv(real_file(PRETRIAL), dtype=str)
    upload(page, "Spreadsheet to review", real_file(PRETRIAL))
    page.get_by_text("16,134", exact=True).first.wait_for()
    wait_idle(page)
    no_exception(page)

    go(page, "Identify")
    expect(page.get_by_text(f"point directly at a person or household: {ID}", exact=False).first).to_be_visible()
    page.get_by_role("button", name=re.compile("Accept the roles shown")).click()
    wait_idle(page)

    # Risk: OFFENSE is the sensitive attribute; its l-diversity is shown
    go(page, "Risk")
    diversity = page.get_by_test_id("stDataFrame").filter(has_text="Sensitive attribute").first
    expect(diversity).to_contain_text("OFFENSE")
    shot(page, "pretrial-1-risk")

    # Transform: keyed anonymous ID, admission date to month, remove what is still in small groups
    go(page, "Transform")
    pick(page, ID, "Replace with an anonymous ID", lambda: card(page, ID).get_by_text("anonymous ID made with a secret key", exact=False))
    generalize(page, DATE, "month")
    visible(page.get_by_text("Remove the records still in groups smaller than k")).click()
    wait_idle(page, timeout=120)
    k_shown = page.get_by_test_id("stMetric").filter(has_text="Smallest group (k)").first.get_by_test_id("stMetricValue")
    expect(k_shown).to_have_text(re.compile(r"^([5-9]|\d{2,}|\d{1,3}(,\d{3})+)$"), timeout=120_000)   # k >= 5
    no_exception(page)
    shot(page, "pretrial-2-transform")

    go(page, "Describe")
    describe_required(page, "Pre-trial Admissions 2018",
                      "People admitted to Department of Correction facilities and held pre-trial in 2018, one row per "
                      "admission, with an anonymous ID that is the same for the same person.",
                      "Department of Correction", "doc.data@ct.gov", "Public Safety", "Daily")

    go(page, "Publish")
    expect(page.get_by_text("Passed", exact=False).first).to_be_visible()
    shot(page, "pretrial-3-publish")
    path = download_bundle(page, tmp_path)
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".csv"))
        release = pd.read_csv(io.BytesIO(zf.read(name)), dtype=str, keep_default_na=False)

    assert 15_000 < len(release) <= len(original)          # a few records in small groups removed
    released_ids = set(release[ID])
    assert not released_ids & set(original[ID].dropna())    # no original IDENTIFIER value is published
    assert all(re.fullmatch(r"[0-9a-f]{16}", v) for v in released_ids)
    expected = {v: pseudonym(v, KEY) for v in original[ID].dropna().unique()}
    assert released_ids <= set(expected.values())           # each is the keyed ID of a real person
    # the same person keeps the same ID on every admission
    repeat = original[ID].value_counts()
    person = repeat.index[0]
    assert repeat.iloc[0] >= 5
    assert (release[ID] == expected[person]).sum() >= 2
    assert release[ID].nunique() < len(release)
