"""Terminal progress for the long commands: the phase and the rows read, on one line of stderr.

Silent unless the CLI turned it on (`enable(as_json)`, from `ctopen.cli.main`), and then only when stderr is a
terminal and the command was not asked for JSON: a pipe, a log file, the app and the tests never see it, and
stdout never does (the line is written to stderr and cleared before the CLI prints its result or an error).

The engine marks its phases; every call is a no-op when progress is off, so library code calls it freely:

    from ctopen import progress
    progress.phase("Counting the classes")            # a new phase, drawn at once
    progress.rows(2_500_000)                          # rows read so far (redrawn at most 10 times a second)
    with progress.watching(connection, "Writing the release", total=rows):
        connection.execute("COPY ... TO ...")          # DuckDB's own progress of the running query, polled
    progress.done()                                   # clears the line (cli.emit does this before printing)

`cli.main` calls `enable` before the command and `stop` after it.

The line reads `ctopen: Counting the classes · 10,000,000 rows · 43% · 12 s`.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

REFRESH = 0.1          # seconds between two redraws of the same phase
POLL = 0.2             # seconds between two reads of a DuckDB query's progress
DISABLE_ENV = "CTOPEN_NO_PROGRESS"   # set to anything to keep a terminal quiet


class _Line:
    """The one progress line. Drawn only when `on`; all state under a lock (the query watcher is a thread)."""

    def __init__(self, stream=None, on: bool = False):
        self.stream = stream
        self.on = on
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        self.name = ""
        self.count = None
        self.total = None
        self.share = None
        self.started = time.monotonic()
        self.phase_started = self.started
        self.drawn_at = 0.0
        self.width = 0

    def text(self) -> str:
        parts = [f"ctopen: {self.name}" if self.name else "ctopen"]
        if self.count is not None:
            parts.append(f"{self.count:,} rows" + (f" of {self.total:,}" if self.total and self.total >= self.count
                                                   else ""))
        if self.share is not None:
            parts.append(f"{min(max(self.share, 0.0), 1.0):.0%}")
        parts.append(f"{time.monotonic() - self.started:.0f} s")
        return " · ".join(parts)

    def draw(self, force: bool = False) -> None:
        if not self.on:
            return
        now = time.monotonic()
        if not force and now - self.drawn_at < REFRESH:
            return
        self.drawn_at = now
        line = self.text()
        columns = _columns(self.stream)
        if len(line) > columns - 1:
            line = line[:columns - 2] + "…"
        try:
            # \r to the line's start, the text, then erase what a longer previous line left (ESC [ K)
            self.stream.write("\r" + line + "\x1b[K")
            self.stream.flush()
        except (OSError, ValueError):
            self.on = False     # the terminal went away: stop drawing, never fail the command for it
            return
        self.width = len(line)

    def clear(self) -> None:
        if self.on and self.width:
            try:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            except (OSError, ValueError):
                self.on = False
        self.width = 0


def _columns(stream) -> int:
    """The terminal's width; a terminal that reports none (0) is taken as $COLUMNS or 100 wide."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        columns = 0
    if columns <= 0:
        try:
            columns = int(os.environ.get("COLUMNS") or 100)
        except ValueError:
            columns = 100
    return max(20, columns)


_line = _Line()


def enable(as_json: bool = False, stream=None) -> bool:
    """Turn progress on for this command when `stream` (stderr) is a terminal, the output is not JSON and
    $CTOPEN_NO_PROGRESS is unset; returns whether it is on. Called once per command by `ctopen.cli.main`."""
    global _line
    stream = sys.stderr if stream is None else stream
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        tty = False
    done()
    _line = _Line(stream, on=tty and not as_json and not os.environ.get(DISABLE_ENV))
    return _line.on


def active() -> bool:
    return _line.on


def _printable(text: str) -> str:
    """A file or column name as plain text: a control character (an escape sequence hidden in a file name would
    drive the terminal) is shown as '?'."""
    return "".join("?" if (ord(c) < 32 or 127 <= ord(c) < 160) else c for c in str(text))


def phase(name: str, rows: int | None = None, total: int | None = None) -> None:
    """Start a phase ("Reading data.csv", "Counting the classes"); rows/total when already known."""
    with _line.lock:
        _line.name = _printable(name)
        _line.share = None
        _line.phase_started = time.monotonic()
        if rows is not None:
            _line.count = int(rows)
        if total is not None:
            _line.total = int(total)
        _line.draw(force=True)


def rows(count: int, total: int | None = None) -> None:
    """Rows read (or written) so far in this phase."""
    with _line.lock:
        _line.count = int(count)
        if total is not None:
            _line.total = int(total)
        _line.draw()


def share(fraction: float) -> None:
    """How far the current phase is, 0..1 (shown as a percentage)."""
    with _line.lock:
        _line.share = float(fraction)
        _line.draw()


def done() -> None:
    """Clear the line (before the command prints its result or an error). Safe to call at any time."""
    with _line.lock:
        _line.clear()
        _line.reset()


def stop() -> None:
    """Clear the line and turn progress off (the end of a command)."""
    global _line
    done()
    _line = _Line()


# The DuckDB engine's phases (ctopen.engine.duck calls `progress(phase, rows)`), in words.
ENGINE_PHASES = {"read": "Checking the cells as the loader does", "classes": "Counting the classes",
                 "combinations": "Measuring the combinations of quasi-identifiers", "write": "Writing the release"}


def engine(name: str, count: int | None = None) -> None:
    """The engine's progress callback: its phase names in words, with the rows when it knows them."""
    name = str(name)
    if name.startswith("l-diversity "):
        text = f"Measuring l-diversity of {name[len('l-diversity '):]}"
    else:
        text = ENGINE_PHASES.get(name) or (name[:1].upper() + name[1:])
    phase(text, rows=count)


@contextlib.contextmanager
def watching(connection, name: str | None = None, total: int | None = None):
    """While the block runs a DuckDB query on `connection`, show the query's own progress (DuckDB's
    `query_progress()`, polled from a thread every POLL seconds): the percentage, and the rows read so far as
    that share of `total` when the number of rows is known. Does nothing (no thread) when progress is off."""
    if name is not None:
        phase(name, total=total)
    if not _line.on or connection is None or not hasattr(connection, "query_progress"):
        yield
        return
    try:    # DuckDB measures a query's progress only with its progress bar on (printed by us, not by DuckDB)
        connection.execute("SET enable_progress_bar = true")
        connection.execute("SET enable_progress_bar_print = false")
    except Exception:       # noqa: BLE001 - not DuckDB, or an older one: the percentage stays unknown
        pass
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(POLL):
            try:
                value = connection.query_progress()
            except Exception:       # noqa: BLE001 - a finished or closed query: nothing to show, never an error
                continue
            if value is None or value < 0:
                continue
            with _line.lock:
                _line.share = value / 100.0
                if total:
                    _line.count = int(total * min(value, 100.0) / 100.0)
                _line.draw()

    thread = threading.Thread(target=poll, name="ctopen-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=1.0)
