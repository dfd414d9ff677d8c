"""Terminal progress (ctopen.progress): drawn on a terminal's stderr only, never with --json, never in stdout."""
from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from ctopen import progress

ROOT = Path(__file__).resolve().parent.parent


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _quiet_after(monkeypatch):
    monkeypatch.delenv(progress.DISABLE_ENV, raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    yield
    progress.stop()


def test_off_unless_stderr_is_a_terminal():
    pipe = io.StringIO()
    assert progress.enable(stream=pipe) is False
    progress.phase("Reading claims.csv", rows=10)
    progress.rows(20)
    progress.share(0.5)
    progress.done()
    assert pipe.getvalue() == ""


def test_off_with_json_and_with_the_environment_switch(monkeypatch):
    term = Terminal()
    assert progress.enable(as_json=True, stream=term) is False
    progress.phase("Counting the classes")
    monkeypatch.setenv(progress.DISABLE_ENV, "1")
    assert progress.enable(stream=term) is False
    progress.phase("Counting the classes")
    assert term.getvalue() == ""


def test_a_phase_is_drawn_at_once_and_cleared():
    term = Terminal()
    assert progress.enable(stream=term) is True
    progress.phase("Reading claims.csv", rows=1_234_567, total=10_000_000)
    text = term.getvalue()
    assert text.startswith("\r") and text.endswith("\x1b[K")
    assert "ctopen: Reading claims.csv · 1,234,567 rows of 10,000,000 · 0 s" in text
    progress.phase("Counting the classes")         # a new phase is never held back by the refresh limit
    assert "Counting the classes" in term.getvalue()
    progress.done()
    assert term.getvalue().endswith("\r\x1b[K")    # the line is erased before the result is printed
    size = len(term.getvalue())
    progress.done()                                # nothing drawn since: nothing to erase
    assert len(term.getvalue()) == size


def test_a_name_cannot_drive_the_terminal():
    """A file or column name holding an escape sequence is printed with its control characters as '?'."""
    term = Terminal()
    progress.enable(stream=term)
    progress.phase("Reading \x1b]0;owned\x07claims\x9b2J.csv")
    drawn = term.getvalue()
    assert "\x07" not in drawn and "\x9b" not in drawn and "\x1b]" not in drawn
    assert "Reading ?]0;owned?claims?2J.csv" in drawn
    assert drawn.count("\x1b") == 1                       # only the line's own erase-to-end (ESC [ K)


def test_rows_are_redrawn_at_most_ten_times_a_second():
    term = Terminal()
    progress.enable(stream=term)
    progress.phase("Reading")
    start = time.monotonic()
    for n in range(20_000):
        progress.rows(n)
    elapsed = time.monotonic() - start
    draws = term.getvalue().count("\r")
    assert draws <= 2 + elapsed / progress.REFRESH + 1
    progress.share(0.43)
    time.sleep(progress.REFRESH * 1.5)
    progress.rows(20_000)
    assert "20,000 rows · 43%" in term.getvalue()


def test_a_long_line_fits_the_terminal_and_a_closed_terminal_stops_the_drawing():
    term = Terminal()
    progress.enable(stream=term)
    progress.phase("x" * 500)
    drawn = term.getvalue().split("\r")[-1].removesuffix("\x1b[K")
    assert len(drawn) < 100                         # 100 columns when the size cannot be read (nor $COLUMNS)

    class Gone(Terminal):
        def write(self, text):
            raise OSError("terminal closed")

    progress.enable(stream=Gone())
    progress.phase("Counting")                      # no exception: the command goes on without progress
    assert progress.active() is False


def test_watching_a_query_shows_its_share_and_the_rows_read():
    class Query:
        """Stands in for a DuckDB connection running a query: its progress rises to 100 %."""
        def __init__(self):
            self.calls = 0

        def query_progress(self):
            self.calls += 1
            return -1 if self.calls == 1 else min(100.0, 25.0 * (self.calls - 1))

    term = Terminal()
    progress.enable(stream=term)
    query = Query()
    with progress.watching(query, "Counting the classes", total=8_000_000):
        deadline = time.monotonic() + 10                   # the poller's third read, however busy the machine
        while query.calls < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    text = term.getvalue()
    assert "Counting the classes" in text
    assert re.search(r"[1-8],000,000 rows of 8,000,000 · (25|50|75|100)%", text), text
    assert not any(t.name == "ctopen-progress" for t in threading.enumerate())   # the poller has ended


def test_watching_does_nothing_when_off():
    class Query:
        def query_progress(self):
            raise AssertionError("polled while progress is off")

    progress.enable(stream=io.StringIO())
    with progress.watching(Query(), "Counting"):
        time.sleep(progress.POLL * 2)


# --- the commands, on a pseudo-terminal ------------------------------------------------------------------------

SAMPLE = ROOT / "tests" / "data" / "drug_deaths_600.csv"


def _run(args: list[str], terminal: bool, tmp_path) -> tuple[str, str, int]:
    """`python -m ctopen ARGS` with stderr on a pseudo-terminal (or a pipe) and stdout on a pipe:
    (stdout, stderr, exit code)."""
    env = {**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "", "CTOPEN_STATE_DIR": str(tmp_path / "state")}
    env.pop(progress.DISABLE_ENV, None)
    if not terminal:
        done = subprocess.run([sys.executable, "-m", "ctopen", *args], cwd=ROOT, env=env, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=300)
        return done.stdout.decode(), done.stderr.decode(), done.returncode
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))    # a 120-column terminal
    child = subprocess.Popen([sys.executable, "-m", "ctopen", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(child.stdout.read()), daemon=True)
    reader.start()
    err = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:            # EIO: the child closed its end
                break
            if not data:
                break
            err += data
        elif child.poll() is not None:
            break
    os.close(master)
    child.wait(timeout=60)
    reader.join(timeout=60)
    return b"".join(out).decode(), err.decode(errors="replace"), child.returncode


def test_risk_on_duckdb_shows_its_phases_and_rows_on_a_terminal(tmp_path):
    out, err, code = _run(["risk", str(SAMPLE), "--qi", "Age", "Sex", "Race", "--sensitive", "MannerofDeath",
                           "--engine", "duckdb"], True, tmp_path)
    assert code == 0, err
    assert "ctopen: Reading drug_deaths_600.csv" in err
    assert "ctopen: Counting the classes · 600 rows" in err
    assert "Measuring l-diversity of MannerofDeath" in err
    assert err.rstrip("\n").endswith("\r\x1b[K")           # the line is erased before the result is printed
    assert "Smallest group (k)" in out and "\x1b" not in out and "ctopen:" not in out


def test_apply_on_duckdb_shows_each_step(tmp_path):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"version": 1, "steps": [
        {"op": "drop", "column": "ID"},
        {"op": "generalize", "column": "Age", "hierarchy": "age", "level": 2},
        {"op": "suppress", "k": 5, "columns": ["Age", "Sex", "Race"], "max_share": 0.1}]}), encoding="utf-8")
    out, err, code = _run(["apply", str(SAMPLE), "--recipe", str(recipe), "--out", str(tmp_path / "r.parquet"),
                           "--engine", "duckdb"], True, tmp_path)
    assert code == 0, err
    for phase_text in ("Step 1 of 3: drop", "Step 2 of 3: generalize", "Step 3 of 3: suppress", "Writing the release"):
        assert phase_text in err
    assert "\x1b" not in out


def test_no_progress_with_json_or_without_a_terminal(tmp_path):
    args = ["risk", str(SAMPLE), "--qi", "Age", "Sex", "--engine", "duckdb"]
    out, err, code = _run(args + ["--json"], True, tmp_path)
    assert code == 0 and "ctopen:" not in err and "\x1b" not in err
    assert json.loads(out)["k_min"] >= 1                      # stdout is exactly one JSON object
    out, err, code = _run(args, False, tmp_path)
    assert code == 0 and "ctopen:" not in err and "\x1b" not in err and "Smallest group (k)" in out


def test_an_error_clears_the_line_before_its_message(tmp_path):
    out, err, code = _run(["risk", str(SAMPLE), "--qi", "NoSuchColumn", "--engine", "duckdb"], True, tmp_path)
    assert code == 2
    last = err.rstrip("\r\n").split("\x1b[K")[-1]
    assert last.lstrip("\r\n").startswith("error: ") and "NoSuchColumn" in last


def test_recommend_on_duckdb_names_its_search(tmp_path):
    out, err, code = _run(["recommend", str(SAMPLE), "--qi", "Age", "Sex", "Race", "--engine", "duckdb"], True,
                          tmp_path)
    assert code == 0, err
    assert "ctopen: Reading drug_deaths_600.csv" in err
    assert re.search(r"Searching the generalizations over [0-9,]+ distinct combinations", err)
    assert err.rstrip("\n").endswith("\r\x1b[K") and "\x1b" not in out
