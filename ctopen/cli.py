"""`python -m ctopen COMMAND ...`: the same engine as the app, without the UI.

Each command lives in ctopen/commands/<name>.py with `register(subparsers)`; the parser it adds
sets `func=run`. A CtopenError prints one line on stderr and exits with its exit code (2, or 3
for a blocked privacy gate). Anything else is a bug and surfaces with its traceback.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys

from ctopen import progress
from ctopen.errors import CtopenError

COMMANDS = ["profile", "detect", "risk", "apply", "recommend", "check", "metadata", "publish", "inventory", "hierarchy", "sql"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ctopen", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"ctopen.commands.{name}").register(sub)
    return parser


def emit(obj, as_json: bool, text: str | None = None) -> None:
    """Print a result: JSON when asked, else the given human text (or indented JSON). A configured secret
    (portal password, app token, pseudonym key) is never printed, even when it was pasted into metadata."""
    from ctopen.publish.socrata import configured_secrets, scrub
    progress.done()   # the terminal's progress line (stderr) is cleared before the result is printed
    if as_json or text is None:
        out = json.dumps(obj, indent=None if as_json else 2, default=str, ensure_ascii=False)
    else:
        out = text
    print(scrub(out, configured_secrets()))


def _safe_output() -> None:
    """Text that cannot be encoded (a file name that is not UTF-8 arrives as lone surrogates) is written escaped
    (\\udce9) instead of ending the command with a UnicodeEncodeError, whatever the terminal's encoding."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass   # not a text stream that can be reconfigured (a test's capture, a closed stream)


def main(argv: list[str] | None = None) -> int:
    _safe_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    progress.enable(as_json=bool(getattr(args, "json", False)))   # stderr only, and only on a terminal
    try:
        return int(args.func(args) or 0)
    except CtopenError as exc:
        progress.done()
        from ctopen.publish.socrata import configured_secrets, scrub
        print(scrub(f"error: {exc}", configured_secrets()), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        progress.done()
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        progress.stop()
