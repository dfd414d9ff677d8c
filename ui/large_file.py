"""The Load page's path for a file too large to load in memory (issue 20): the file is never read whole into the
app. DuckDB (ctopen.engine) reads it from the disk in pieces, within its memory limit:

- the risk figures are the engine's, over every record (`ctopen.engine.risk_report`);
- the roles are proposed by detection on a sample (`duck.engine_roles`: the first ENGINE_DETECT_ROWS rows, or a
  repeatable uniform sample of that many), with the recipe's recorded decisions winning as in the Review;
- a saved recipe is applied by the engine to the whole file (`ctopen.engine.apply_to`), written to a file the
  officer downloads (or finds on the disk when it is too large for a browser download), with its own risk figures;
- the exact CLI commands do the same from a terminal, or (`ctopen sql`) in a warehouse.

"Too large" is the engine's own rule (`ctopen.engine.choose`): a CSV or Parquet file over
`settings.ENGINE_AUTO_MB`. A browser upload over it is copied to the disk (state_dir()/large-files) and reviewed the
same way; a file larger than an upload may be opened by its path, from a folder the server allows
($CTOPEN_DATA_FOLDERS, `os.pathsep`-separated; by default state_dir()/data only), so that the app, if it is ever
served to others, never reads a path outside those folders.

Session keys: `large_file` {path, name, size, uploaded}; `large_info` (columns, rows, roles...) for that file;
`large_risk`, `large_applied` the last results. Loading an ordinary file removes them (ui.state.set_table).
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from ctopen import recipe as recipes
from ctopen import settings
from ctopen.errors import CtopenError
from ui import state

FOLDERS_ENV = "CTOPEN_DATA_FOLDERS"
ENGINE_SUFFIXES = ("csv", "tsv", "txt", "parquet")      # what ctopen.engine.choose sends to DuckDB
PREVIEW_ROWS = 20
DOWNLOAD_MAX_MB = settings.MAX_FILE_MB                   # a larger release is left on the disk, its path shown


class LargeFileError(CtopenError):
    """A large file that cannot be opened here (outside the allowed folders, not CSV/Parquet, missing)."""


# --- which files, from where --------------------------------------------------------------------------------

def threshold_bytes() -> int:
    return int(float(settings.ENGINE_AUTO_MB) * 2**20)


def too_large(name: str, size: int) -> bool:
    """The engine's rule (ctopen.engine.choose) for a file known by its name and size (an upload not yet on disk)."""
    return Path(str(name)).suffix.lower().lstrip(".") in ENGINE_SUFFIXES and int(size) > threshold_bytes()


def allowed_folders() -> list[Path]:
    raw = os.environ.get(FOLDERS_ENV, "")
    folders = [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]
    if not folders:
        default = settings.state_dir() / "data"
        default.mkdir(parents=True, exist_ok=True)      # a place to put large files, there from the start
        folders = [default]
    return [f.resolve() for f in folders]


def check_path(text: str) -> Path:
    """The file at `text`, when it is a CSV or Parquet file inside an allowed folder (symbolic links resolved)."""
    raw = str(text or "").strip().strip('"').strip("'")
    if not raw:
        raise LargeFileError("Type the full path of the file on this computer.")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise LargeFileError(f"“{raw}” is not a full path: give it from the top folder (such as /data/claims.csv).")
    resolved = path.resolve()
    folders = allowed_folders()
    if not any(resolved.is_relative_to(f) for f in folders):
        listed = "; ".join(str(f) for f in folders)
        raise LargeFileError(f"The app opens files by path only from the folders its server allows ({listed}). Move "
                             f"the file there, or add its folder to {FOLDERS_ENV} before starting the app.")
    if not resolved.is_file():
        raise LargeFileError(f"There is no file at {resolved}.")
    if resolved.suffix.lower().lstrip(".") not in ENGINE_SUFFIXES:
        raise LargeFileError(f"{resolved.name} is not a CSV or Parquet file: DuckDB reads those two kinds; save it as "
                             "CSV (UTF-8) first, or upload it if it is small enough.")
    return resolved


def save_upload(uploaded) -> Path:
    """An upload over the threshold, copied to state_dir()/large-files once (named by its content's digest)."""
    folder = settings.state_dir() / "large-files"
    folder.mkdir(parents=True, exist_ok=True)
    data = uploaded.getbuffer()                   # the upload's own buffer: no copy of its bytes in memory
    digest = hashlib.sha256(data).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(uploaded.name).name)[-120:]
    path = folder / f"{digest}-{safe}"
    if not path.exists():
        part = path.with_name(path.name + f".{os.getpid()}.part")
        with part.open("wb") as fh:
            fh.write(data)
        os.replace(part, path)
    return path


def open_large(path: Path, name: str, uploaded: bool) -> None:
    """Start a review of a large file: like a new file (ui.state.set_table), every key of the previous review
    goes, and no table is held."""
    _forget_upload(st.session_state.get("large_file"), keep=path)
    for key in [k for k in list(st.session_state) if k not in state.KEEP_ON_NEW_FILE and not str(k).startswith("$$")]:
        st.session_state.pop(key, None)
    for key in ("table", "file_bytes", "load_error"):
        st.session_state.pop(key, None)
    st.session_state["recipe"] = {"version": 1, "source": {"file": name}, "roles": {}, "steps": [], "metadata": {},
                                  "target": {}, "eligibility": {}}
    st.session_state["large_file"] = {"path": str(path), "name": name, "size": path.stat().st_size,
                                      "uploaded": uploaded}


def _forget_upload(previous: dict | None, keep: Path | None = None) -> None:
    """The disk copy of the previous large upload goes when another file is opened (a copy per upload would fill
    the disk); a file opened by its path is the officer's own and is never touched."""
    if not previous or not previous.get("uploaded"):
        return
    old = Path(previous["path"])
    if old != keep and old.parent == settings.state_dir() / "large-files":
        old.unlink(missing_ok=True)


def forget_upload() -> None:
    """Before an ordinary file is loaded: the previous large upload's disk copy is removed."""
    _forget_upload(st.session_state.get("large_file"))


def current() -> dict | None:
    return st.session_state.get("large_file") if state.table() is None else None


# --- the engine's work (outside the page, so that tests can call it) ----------------------------------------------

def inspect(path: Path, detector=None) -> dict:
    """Columns, rows, the first rows, and roles proposed by detection on the whole table up to
    ENGINE_DETECT_ROWS rows, else on a repeatable uniform sample of that many (in file order); the recipe's
    recorded decisions win as in the Review (`review.decide_roles`). These are proposals for the officer to
    choose the quasi-identifiers: the engine never suppresses by roles found on a sample (duck.engine_roles)."""
    from ctopen.detect import detect
    from ctopen.engine import duck
    from ctopen.review import decide_roles
    start = time.perf_counter()
    with duck.Workspace() as ws:
        src = duck.open_source(ws, path)
        cols = ", ".join('"' + c.replace('"', '""') + '"' for c in src.columns)
        limit = int(settings.ENGINE_DETECT_ROWS)
        if src.rows <= limit:
            rows = f"SELECT {cols} FROM {src.name} ORDER BY {duck.ROW}"
            said = f"detection read all {src.rows:,} rows"
        else:
            rows = (f"SELECT {cols} FROM (SELECT * FROM {src.name} USING SAMPLE reservoir({limit} ROWS) "
                    f"REPEATABLE (20)) ORDER BY {duck.ROW}")
            said = (f"detection read a uniform sample of {limit:,} of the {src.rows:,} rows (the same sample every "
                    "time)")
        sample = duck._frame(ws.arrow(rows), src.columns)
        found = detector(sample) if detector else detect(sample)
        roles = {c: r.role for c, r in decide_roles(src.columns, found, state.recipe()).items()}
        head = duck._frame(ws.arrow(f"SELECT {cols} FROM {src.name} ORDER BY {duck.ROW} LIMIT {PREVIEW_ROWS}"),
                           src.columns)
        del sample
    return {"columns": list(src.columns), "rows": int(src.rows), "roles": roles, "said": said, "head": head,
            "format": src.format, "notes": list(src.notes), "seconds": time.perf_counter() - start}


def detect_roles(df):
    """Detection with the app's one Presidio engine (built once per server)."""
    from ctopen.detect import detect
    return detect(df, engine=state.analyzer_engine())


def release_quasi(recipe: dict, quasi: list[str], columns: list[str]) -> list[str]:
    """The release's names of the source's quasi-identifiers (a rename followed, a dropped column gone)."""
    renamed = recipes.renames(recipe)
    return [renamed.get(q, q) for q in quasi if renamed.get(q, q) in columns]


def commands(path: str, quasi: list[str], sensitive: list[str], k: int, recipe_name: str = "recipe.json",
             out: str = "release.parquet") -> dict[str, str]:
    """The CLI commands doing what this panel does (quoted for a POSIX shell)."""
    q = shlex.quote
    risk = ["python", "-m", "ctopen", "risk", q(path)] + [x for c in quasi for x in ("--qi", q(c))]
    risk += [x for c in sensitive for x in ("--sensitive", q(c))] + (["--k", str(k)] if k != settings.DEFAULT_K else [])
    risk += ["--engine", "duckdb"]
    apply = ["python", "-m", "ctopen", "apply", q(path), "--recipe", q(recipe_name), "--out", q(out), "--engine",
             "duckdb"]
    table = "".join(c if c.isalnum() else "_" for c in Path(path).stem).strip("_").lower() or "extract"
    sql = ["python", "-m", "ctopen", "sql", "--recipe", q(recipe_name), "--table", table, "--dialect", "spark"]
    return {"risk": _wrap(risk), "apply": _wrap(apply), "sql": _wrap(sql)}


def _wrap(words: list[str], width: int = 100) -> str:
    """A command over several lines (a shell's backslash continuation), never splitting an option from its value."""
    groups, i = [], 0
    while i < len(words):
        if words[i].startswith("--") and i + 1 < len(words) and not words[i + 1].startswith("--"):
            groups.append(f"{words[i]} {words[i + 1]}")
            i += 2
        else:
            groups.append(words[i])
            i += 1
    lines, line = [], ""
    for g in groups:
        if line and len(line) + 1 + len(g) > width:
            lines.append(line)
            line = "    " + g
        else:
            line = f"{line} {g}" if line else g
    lines.append(line)
    return " \\\n".join(lines)


# --- the panel ------------------------------------------------------------------------------------------------

def _size(n: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,} bytes"


def note(info: dict) -> None:
    """What this path is, in one box: why, what the figures are, what is not done here."""
    st.info(
        f"**{info['name']} ({_size(info['size'])}) is reviewed on DuckDB, not loaded into the app.** "
        f"Files over {settings.ENGINE_AUTO_MB:g} MB (ENGINE_AUTO_MB in ctopen/settings.py) are read from the disk "
        "in pieces, so the app never holds the whole table in memory. What you get here:\n"
        "- **risk figures computed by DuckDB over every record**;\n"
        "- **roles proposed from a sample** of the rows (below: which rows);\n"
        "- **a saved recipe applied by DuckDB to the whole file**, as a release file to download;\n"
        "- **the exact commands** to do the same from a terminal or in a warehouse.\n\n"
        "The other steps (Evaluate to Publish) work on a file the app loads: build the recipe on a smaller extract "
        "of the same columns, apply it here, then load the release if it is small enough.",
        icon=":material/database:")


def render(info: dict) -> None:
    path = Path(info["path"])
    note(info)
    key = (info["path"], info["size"])
    if st.session_state.get("large_info_for") != key:
        try:
            with st.spinner(f"DuckDB is reading {info['name']}..."):
                st.session_state["large_info"] = inspect(path, detector=lambda df: detect_roles(df))
        except CtopenError as exc:
            st.error(str(exc), icon=":material/error:")
            _offer_memory(path, info)
            return
        st.session_state["large_info_for"] = key
        for k in ("large_risk", "large_applied"):
            st.session_state.pop(k, None)
    data = st.session_state["large_info"]

    st.subheader(info["name"])
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Rows", f"{data['rows']:,}", help="Counted by DuckDB: every data row of the file.")
    c2.metric("Columns", f"{len(data['columns']):,}")
    c3.metric("Format", str(data["format"]).upper())
    c4.metric("Size", _size(info["size"]))
    st.caption(f"Read by DuckDB in {data['seconds']:.1f} s" + (" (a copy of your upload kept on this computer)."
                                                               if info.get("uploaded") else f" from {path}."))
    for n in data["notes"]:
        st.warning(n, icon=":material/warning:")

    roles = data["roles"]
    direct = [c for c, r in roles.items() if r == "direct"]
    st.subheader("First rows")
    from ui.masking import mask_frame
    st.caption(f"The first {min(PREVIEW_ROWS, data['rows'])} of {data['rows']:,} rows"
               + (" (values of columns proposed as direct identifiers are masked)." if direct else "."))
    st.dataframe(mask_frame(data["head"], direct), hide_index=True, width="stretch")

    st.subheader("Roles proposed from a sample")
    st.caption(f"Detection on this file: {data['said']}.")
    st.dataframe(pd.DataFrame({"Column": list(roles), "Proposed role": list(roles.values())}), hide_index=True,
                 width="stretch")
    quasi = st.multiselect("Quasi-identifiers for the risk figures", data["columns"],
                           default=[c for c, r in roles.items() if r == "quasi"], key="large_quasi")
    sensitive = st.multiselect("Sensitive attributes (l-diversity)", [c for c in data["columns"] if c not in quasi],
                               default=[c for c, r in roles.items() if r == "sensitive" and c not in quasi],
                               key="large_sensitive")
    k = int(st.number_input("Smallest group allowed (k)", min_value=2, max_value=1000, value=settings.DEFAULT_K,
                            key="large_k"))

    st.subheader("Risk over every record")
    if st.button("Compute the risk figures on DuckDB", icon=":material/query_stats:", disabled=not quasi):
        from ctopen.engine import risk_report
        try:
            with st.spinner(f"DuckDB is grouping {data['rows']:,} records..."):
                st.session_state["large_risk"] = (tuple(quasi), risk_report(path, quasi, sensitive, k=k))
        except CtopenError as exc:
            st.error(str(exc), icon=":material/error:")
    done = st.session_state.get("large_risk")
    if done and list(done[0]) == list(quasi):
        from ui import risk_panel
        risk_panel.verdict(done[1])
        risk_panel.metrics(done[1])
        risk_panel.histogram(done[1])
    elif not quasi:
        st.caption("Choose the quasi-identifiers first.")

    _apply_panel(path, info, data, quasi, sensitive, k)

    st.subheader("The same from a terminal, or in a warehouse")
    named = st.session_state.get("large_recipe")
    cmd = commands(str(path), quasi, sensitive, k, recipe_name=getattr(named, "name", None) or "recipe.json")
    st.markdown("Risk figures (DuckDB, within its memory limit; `--memory-limit 1GB --temp-dir DIR` to set them):")
    st.code(cmd["risk"], language="bash")
    st.markdown("Apply a saved recipe to the whole file (`.csv` or `.parquet`):")
    st.code(cmd["apply"], language="bash")
    st.markdown("The recipe as SQL for Spark (or `--dialect trino`, `duckdb`), to run where the data lives; "
                "docs/large-files.md says how and what it cannot express:")
    st.code(cmd["sql"], language="bash")
    st.caption("A recipe with a suppress step also needs `--order-by COL`, a column of the warehouse table numbering "
               "the records in the extract's order (which groups go first when the suppression cap is reached).")


def _offer_memory(path: Path, info: dict) -> None:
    """A file DuckDB cannot read but small enough for the loader (under MAX_FILE_MB) may be loaded as usual."""
    if info["size"] > settings.MAX_FILE_MB * 2**20:
        st.caption(f"It is over {settings.MAX_FILE_MB} MB, the most the app loads into memory: save it as UTF-8 CSV "
                   "or Parquet, or split it, and open it again.")
        return
    if st.button(f"Load it into the app instead ({_size(info['size'])}, under {settings.MAX_FILE_MB} MB)",
                 icon=":material/upload_file:"):
        from ctopen.load import load
        data = path.read_bytes()
        try:
            with st.spinner(f"Reading {info['name']}..."):
                table = load(data, name=info["name"])
        except CtopenError as exc:
            st.error(str(exc), icon=":material/error:")
            return
        forget_upload()
        state.set_table(table, data)
        st.rerun()


def _apply_panel(path: Path, info: dict, data: dict, quasi: list[str], sensitive: list[str], k: int) -> None:
    st.subheader("Apply a saved recipe to the whole file")
    up = st.file_uploader("A saved recipe (JSON, from the Transform page or `ctopen recommend`)", type=["json"],
                          key="large_recipe")
    fmt = st.radio("Release file", ["Parquet (smaller, keeps every value as text)", "CSV (what `ctopen apply` writes)"],
                   horizontal=True, key="large_fmt")
    if up is None:
        st.caption("Upload the recipe to apply it here.")
        return
    try:
        recipe = recipes.loads(up.getvalue(), name=up.name)
        recipes.validate(recipe, columns=data["columns"])
    except CtopenError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    suffix = ".parquet" if fmt.startswith("Parquet") else ".csv"
    out_dir = settings.state_dir() / "releases"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(info["name"]).stem)[-100:] or "release"
    out = out_dir / f"{stem}-release{suffix}"
    if st.button(f"Apply {up.name} on DuckDB", icon=":material/play_arrow:", type="primary"):
        from ctopen.engine import apply_to, risk_report
        try:
            with st.spinner(f"DuckDB is applying {len(recipe.get('steps') or [])} step(s) to {data['rows']:,} "
                            "records..."):
                summary = apply_to(path, recipe, out, key=state.pseudonym_key())
                aggregated = any(s.get("op") == "aggregate" for s in recipe.get("steps") or [])
                rq = [] if aggregated else release_quasi(recipe, quasi, summary["columns"])
                rs = [c for c in release_quasi(recipe, sensitive, summary["columns"]) if c not in rq]
                report = risk_report(out, rq, rs, k=k, suppressed=summary["suppressed"]) if rq else None
            st.session_state["large_applied"] = {"summary": summary, "report": report, "out": str(out),
                                                 "recipe": up.name, "aggregated": aggregated}
        except CtopenError as exc:
            st.error(str(exc), icon=":material/error:")
    done = st.session_state.get("large_applied")
    if not done or done["recipe"] != up.name or not Path(done["out"]).exists():
        return
    s = done["summary"]
    st.success(f"**{s['rows']:,} records written** to the release ({s['suppressed']:,} suppressed, "
               f"{len(s['columns'])} columns).", icon=":material/check_circle:")
    with st.expander("What each step did"):
        st.dataframe(pd.DataFrame([{"Step": i + 1, "What": e.get("op"), "Column": e.get("column")
                                    or ", ".join(e.get("columns") or []), "What it did": e.get("message")}
                                   for i, e in enumerate(s["log"])]), hide_index=True, width="stretch")
    if done["report"] is not None:
        from ui import risk_panel
        st.markdown("**The release's risk** (computed by DuckDB on the file just written):")
        risk_panel.verdict(done["report"])
        risk_panel.metrics(done["report"])
    elif done["aggregated"]:
        st.caption("The release is a count table: its small cells were suppressed by the aggregate step's rule.")
    out = Path(done["out"])
    size = out.stat().st_size
    if size <= DOWNLOAD_MAX_MB * 2**20:
        st.download_button(f"Download the release ({_size(size)})", out.read_bytes(), file_name=out.name,
                           mime="application/octet-stream" if out.suffix == ".parquet" else "text/csv",
                           icon=":material/download:")
    else:
        st.info(f"The release ({_size(size)}) is larger than a browser download the app offers "
                f"({DOWNLOAD_MAX_MB} MB): it is at {out}.", icon=":material/folder:")
    st.download_button("Download the step log (JSON)", json.dumps(s, indent=2, default=str, ensure_ascii=False),
                       file_name=f"{out.stem}-log.json", mime="application/json")
