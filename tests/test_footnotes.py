"""Footnotes and notes below the table (issue 15): skipped like the title rows above the header, named in what the
loader reports, never silently; a data row is never taken for a note."""
import pytest

from ctopen.load import load

HEAD = "Member ID,Age,Town,Paid Amt\n"
ROWS = "".join(f"M{i:04d},{20 + i % 50},{['Avon', 'Bethel', 'Canaan'][i % 3]},{12.5 * i:.2f}\n" for i in range(300))


@pytest.mark.parametrize("tail, notes", [
    ('"Source: MMIS extract, run 07/01/2024. Counts are preliminary."\n', 1),                 # one quoted cell
    ("Source: MMIS extract, run 07/01/2024. Counts are preliminary.\n", 1),                   # a comma: two cells
    ("\nSource: MMIS extract, run 07/01/2024. Counts are preliminary.\n", 1),                 # a blank line before
    ("Note: amounts are in dollars, not adjusted.\n* Preliminary\nPrepared by DSS, Office of Research.\n", 3),
    ("Data as of 06/30/2024\n", 1),
    ("The figures exclude claims that were denied, voided, or still pending review.\n", 1),  # a sentence
])
def test_notes_below_the_table_are_skipped_and_reported(tail, notes):
    t = load((HEAD + ROWS + tail).encode(), name="claims.csv")
    assert len(t.df) == 300
    said = [s for s in t.source.skipped if "note or footnote" in s["what"]]
    assert said and said[0]["what"].startswith(f"{notes} note")


@pytest.mark.parametrize("last", ["M0300,,Avon,10.00\n", "M0300,45,,\n", "Note,45,Avon,1.00\n"])
def test_a_data_row_with_empty_cells_is_never_taken_for_a_note(last):
    t = load((HEAD + ROWS + last).encode(), name="claims.csv")
    assert len(t.df) == 301
    assert not [s for s in t.source.skipped if "note or footnote" in s["what"]]


def test_the_real_files_keep_every_record():
    from tests.conftest import DRUG, LICENSES, real_file
    assert len(load(real_file(DRUG)).df) == 5105
    assert len(load(real_file(LICENSES)).df) == 1000
