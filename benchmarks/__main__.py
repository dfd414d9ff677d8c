"""Run every benchmark module's main() (or only those named: `python -m benchmarks load risk`)."""
import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

wanted = set(sys.argv[1:])
here = Path(__file__).resolve().parent
for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
    if not info.name.startswith("bench_"):
        continue
    topic = info.name.removeprefix("bench_")
    if wanted and topic not in wanted:
        continue
    print(f"\n=== {topic} ===", flush=True)
    start = time.perf_counter()
    importlib.import_module(f"benchmarks.{info.name}").main()
    print(f"({topic}: {time.perf_counter() - start:.0f} s in all)", flush=True)
