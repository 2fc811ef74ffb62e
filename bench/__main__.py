"""`make bench` / `python -m bench [TABLE OPTIONS]`: the benchmark table first, then every other benchmark.

The table (bench/bench_table.py) gets this command's arguments (e.g. ``--quick``); the other bench_*.py
scripts (recorder, queries, cache, PostgreSQL) run after it with their defaults, one after another.
Exit status 1 when any of them failed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIRST = HERE / "bench_table.py"


def main(argv: list[str]) -> int:
    scripts = [FIRST] + sorted(p for p in HERE.glob("bench_*.py") if p != FIRST)
    if {"-h", "--help"} & set(argv):
        scripts = [FIRST]  # the table's options; the others take none from here
    failed = 0
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        args = argv if script == FIRST else []
        failed += subprocess.call([sys.executable, str(script), *args], cwd=HERE.parent) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
