"""Fuzz the loader through the CLI: every input must end in exit 0, or exit 2 with one line on stderr,
within a time limit and under a memory cap. Prints | area | tried | clean | traceback | hang | memory |.

    scripts/fuzz                       # the default corpus (about 2,160 files), two at a time
    scripts/fuzz --per-seed 200 --seed 7 --jobs 2 --timeout 60 --memory-mb 2048 --subprocess

By default each input runs in a child forked from one process that has already imported ctopen
(`ctopen.cli.main(["profile", FILE])`, stdout strict UTF-8 as on a server): the same code as
`python -m ctopen profile FILE` without paying the interpreter start for every file. --subprocess runs
the real command instead (slower). The child gets RLIMIT_AS = --memory-mb and is killed after --timeout.

Outcomes: clean (exit 0, or exit 2 with exactly one "error: ..." line on stderr); traceback (anything else
printed or any other exit: a traceback, a Rust panic message, "Exception ignored ..." before the message, a
crash by signal); hang (killed at the timeout); memory (MemoryError, a failed allocation, or killed by the
kernel). Failures are listed with the file kept in --keep (default: a temporary folder that is removed).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = ["clean", "traceback", "hang", "memory"]


@dataclass
class Result:
    area: str
    label: str
    path: bytes
    outcome: str
    rc: int | None
    seconds: float
    max_rss_mb: float
    stderr: str = ""


@dataclass
class Job:
    area: str
    label: str
    path: bytes
    pid: int = 0
    start: float = 0.0
    out: bytes = b""
    err: bytes = b""
    proc: subprocess.Popen | None = field(default=None, repr=False)


def classify(rc: int | None, stderr: str, timed_out: bool, signal_no: int | None) -> str:
    if timed_out:
        return "hang"
    if "MemoryError" in stderr or "memory allocation of" in stderr or signal_no in (signal.SIGKILL,) \
            or (signal_no == signal.SIGABRT and "alloc" in stderr):
        return "memory"
    lines = [line for line in stderr.splitlines() if line.strip()]
    if rc == 0 and not lines:
        return "clean"
    if rc == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr:
        return "clean"
    return "traceback"


def _child(path: bytes, out_path: str, err_path: str, memory: int) -> None:
    """In the forked child: cap memory, send output to files (stdout strict UTF-8), run the CLI, exit."""
    code = 1
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        os.environ["RUST_BACKTRACE"] = "1"
        out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="strict")
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                                      line_buffering=True)
        from ctopen.cli import main
        try:
            code = main(["profile", os.fsdecode(path)])
        except SystemExit as exc:       # what `raise SystemExit(main())` would do with a non-int
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:           # noqa: BLE001 - report it exactly as the interpreter would
            import traceback
            traceback.print_exc()
            code = 1
        try:
            sys.stdout.flush()
        except BaseException:           # noqa: BLE001 - the interpreter prints this at exit too
            import traceback
            print("Exception ignored on flushing sys.stdout:", file=sys.stderr)
            traceback.print_exc()
            code = 120
        sys.stderr.flush()
    finally:
        os._exit(code)


def write_cases(cases, workdir: Path) -> list[tuple[str, str, bytes]]:
    """Write (area, label, file name as bytes, data) cases to workdir/NNNNN/NAME, one at a time (nothing kept in
    memory); return (area, label, path) for run_all."""
    base = os.fsencode(str(workdir))
    entries = []
    for i, (area, label, name, data) in enumerate(cases):
        folder = os.path.join(base, b"%05d" % i)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        entries.append((area, label, path))
    return entries


def run_all(entries, *, jobs: int = 2, timeout: float = 60.0, memory_mb: int = 2048, use_subprocess: bool = False,
            progress: bool = True) -> list[Result]:
    """entries: (area, label, path) of files already written (write_cases). Runs them `jobs` at a time.

    In fork mode the children inherit this process's address space, which counts against RLIMIT_AS: keep the
    corpus out of it (scripts/fuzz writes it from another process) so that a child starts as a fresh
    `python -m ctopen` would."""
    memory = memory_mb * 2**20
    pending = list(entries)
    running: list[Job] = []
    results: list[Result] = []
    total = len(pending)
    if not use_subprocess:
        import ctopen.cli  # noqa: F401 - imported once, before forking
        import ctopen.load  # noqa: F401
        import ctopen.profile  # noqa: F401
    # strict UTF-8 output as on a server; Rust backtraces on, so that a panic message that gets through shows
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict", TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="", RUST_BACKTRACE="1")
    while pending or running:
        while pending and len(running) < jobs:
            area, label, path = pending.pop(0)
            folder = os.path.dirname(path)
            job = Job(area, label, path)
            out_path, err_path = os.path.join(folder, b"stdout"), os.path.join(folder, b"stderr")
            job.out, job.err = out_path, err_path
            job.start = time.monotonic()
            if use_subprocess:
                def limit(memory=memory):
                    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
                with open(out_path, "wb") as o, open(err_path, "wb") as e:
                    job.proc = subprocess.Popen([sys.executable, "-m", "ctopen", "profile", os.fsdecode(path)],
                                                stdout=o, stderr=e, cwd=ROOT, env=env, preexec_fn=limit)
                job.pid = job.proc.pid
            else:
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(path, os.fsdecode(out_path), os.fsdecode(err_path), memory)
                job.pid = pid
            running.append(job)
        time.sleep(0.005)
        for job in list(running):
            pid, status, usage = os.wait4(job.pid, os.WNOHANG)
            elapsed = time.monotonic() - job.start
            timed_out = False
            if pid == 0:
                if elapsed < timeout:
                    continue
                os.kill(job.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(job.pid, 0)
                timed_out = True
            running.remove(job)
            if job.proc is not None:
                job.proc.returncode = 0   # reaped above; keep Popen from waiting again
            rc = os.waitstatus_to_exitcode(status)
            sig = -rc if rc < 0 else None
            with open(job.err, "rb") as f:
                stderr = f.read().decode("utf-8", "backslashreplace")
            outcome = classify(rc if rc >= 0 else None, stderr, timed_out, sig)
            results.append(Result(job.area, job.label, job.path, outcome, rc, elapsed, usage.ru_maxrss / 1024, stderr))
            if progress and len(results) % 100 == 0:
                print(f"  {len(results):,} / {total:,}", file=sys.stderr, flush=True)
    return results


def table(results: list[Result]) -> str:
    areas: dict[str, dict[str, int]] = {}
    for r in results:
        row = areas.setdefault(r.area, dict.fromkeys(["tried", *OUTCOMES], 0))
        row["tried"] += 1
        row[r.outcome] += 1
    total = dict.fromkeys(["tried", *OUTCOMES], 0)
    lines = ["| area | tried | clean | traceback | hang | memory |", "|---|---|---|---|---|---|"]
    for area, row in areas.items():
        lines.append(f"| {area} | {row['tried']:,} | " + " | ".join(f"{row[o]:,}" for o in OUTCOMES) + " |")
        for k in total:
            total[k] += row[k]
    lines.append(f"| **total** | {total['tried']:,} | " + " | ".join(f"{total[o]:,}" for o in OUTCOMES) + " |")
    return "\n".join(lines)


def iter_corpus(seed: int, per_seed: int):
    """(area, label, file name as bytes, data) of every input, generated one at a time."""
    from tests.fuzz import corpus

    for c in corpus.seed_files():
        yield c.area, f"seed {c.name}", c.name.encode(), c.data
    for c in corpus.hostile_cases():
        yield "named hostile cases", f"{c.name}: {c.note}", c.name.encode(), c.data
    for name, data in corpus.odd_names():
        yield "file names", f"name {name!r}", name, data
    for c in corpus.iter_mutated(seed, per_seed):
        yield c.area, c.note, c.name.encode(), c.data


def write_corpus(workdir: Path, seed: int, per_seed: int) -> list[tuple[str, str, bytes]]:
    """Write the corpus from a separate process (its memory never enters the runner's) and read its manifest."""
    manifest = workdir / "manifest.jsonl"
    subprocess.run([sys.executable, "-m", "tests.fuzz.run", "--write-corpus", str(workdir), "--seed", str(seed),
                    "--per-seed", str(per_seed)], cwd=ROOT, check=True)
    entries = []
    with open(manifest, encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            entries.append((e["area"], e["label"], bytes.fromhex(e["path"])))
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=16, help="random seed of the mutations (default 16)")
    parser.add_argument("--per-seed", type=int, default=140, help="mutations of each seed file (default 140)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before an input counts as a hang")
    parser.add_argument("--memory-mb", type=int, default=2048, help="RLIMIT_AS of each run")
    parser.add_argument("--subprocess", action="store_true", help="run `python -m ctopen profile` for every input")
    parser.add_argument("--keep", type=Path, help="keep the files (and outputs) in this folder")
    parser.add_argument("--show", type=int, default=20, help="failures to list (default 20)")
    parser.add_argument("--write-corpus", type=Path, help=argparse.SUPPRESS)   # internal: the corpus writer
    args = parser.parse_args(argv)

    if args.write_corpus:
        entries = write_cases(iter_corpus(args.seed, args.per_seed), args.write_corpus)
        with open(args.write_corpus / "manifest.jsonl", "w", encoding="utf-8") as f:
            for area, label, path in entries:
                f.write(json.dumps({"area": area, "label": label, "path": path.hex()}) + "\n")
        return 0
    started = time.monotonic()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="ctopen-fuzz-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        entries = write_corpus(workdir, args.seed, args.per_seed)
        print(f"{len(entries):,} inputs (seed {args.seed}, {args.per_seed} mutations per seed file); "
              f"{args.jobs} at a time, {args.timeout:g} s and {args.memory_mb:,} MB each", file=sys.stderr, flush=True)
        results = run_all(entries, jobs=args.jobs, timeout=args.timeout, memory_mb=args.memory_mb,
                          use_subprocess=args.subprocess)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(results))
    slowest = max(results, key=lambda r: r.seconds)
    biggest = max(results, key=lambda r: r.max_rss_mb)
    print(f"\n{len(results):,} inputs in {time.monotonic() - started:,.0f} s; slowest {slowest.seconds:.1f} s "
          f"({slowest.label}); largest peak memory {biggest.max_rss_mb:,.0f} MB ({biggest.label})")
    bad = [r for r in results if r.outcome != "clean"]
    for r in bad[:args.show]:
        tail = " / ".join(line for line in r.stderr.strip().splitlines()[-3:])
        print(f"- {r.outcome}: {r.area}: {r.label} (exit {r.rc}, {r.seconds:.1f} s): {tail[:300]}"
              + (f" [{os.fsdecode(r.path)}]" if args.keep else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
