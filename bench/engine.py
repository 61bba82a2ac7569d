"""Wall time and Graph requests of `pulumi preview` and `pulumi up` under the real CLI.

    .venv/bin/python -m bench.engine [--runs 5]

A stack configured like the demo's (client secret, emulator endpoints) on a fresh emulator;
each command runs --runs times against a converged tenant, after one `up` that adopts it.
Reports min and median seconds and the requests each command made. Numbers depend on the
machine: compare runs on one machine, never across machines.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.harness import product_stack
from emulator import Emulator

COMMANDS = {
    "preview (converged)": ("preview",),
    "up --skip-preview (converged)": ("up", "--yes", "--skip-preview"),
    "up (converged, with its preview)": ("up", "--yes"),
}


def main() -> None:
    """Measure and print a table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, Emulator() as emulator:
        stack = product_stack(Path(tmp), emulator, "bench", allowed=True)
        started = time.perf_counter()
        stack.pulumi("up", "--yes", "--skip-preview")
        print(f"first up (adopts, 1 PATCH): {time.perf_counter() - started:.2f}s")
        print(f"{'command':36} {'min s':>6} {'median s':>9}  requests per run")
        for label, args in COMMANDS.items():
            seconds = []
            emulator.directory.requests.clear()
            for _ in range(runs):
                started = time.perf_counter()
                stack.pulumi(*args)
                seconds.append(time.perf_counter() - started)
            counts = Counter(f"{r.method} {r.kind}" for r in emulator.directory.requests)
            per_run = ", ".join(f"{n / runs:g} {k}" for k, n in sorted(counts.items()))
            print(f"{label:36} {min(seconds):6.2f} {statistics.median(seconds):9.2f}  {per_run}")


if __name__ == "__main__":
    main()
