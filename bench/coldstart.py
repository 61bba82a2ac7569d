"""Cold start: the product against a no-op dynamic resource, under the real CLI.

    .venv/bin/python -m bench.coldstart [--runs 8] [--latencies 0,100] [--json bench/coldstart.json]

Two stacks on one machine and one emulator: the product's (client secret, converged tenant)
and bench/noop's (one dynamic resource whose provider makes no request). For each emulator
latency, each command runs --runs times for both, paired and interleaved (the order flips
every round), and the table gives the median of the per-pair ratios product / no-op, for wall
time and for CPU time (the user + system seconds of the whole process tree, from the rusage of
reaped children: far less sensitive than wall time to other load on a shared machine). Then,
per command, the requests the product made against the minimum (token + GET for a preview,
token + GET + PATCH for drift), and the peak RSS of each Python process (VmHWM, sampled from
/proc) against the no-op's. With --json, every pair and the summaries go to that file.
Numbers depend on the machine: compare on one machine only.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.harness import product_stack
from emulator import Emulator
from emulator.project import REPO, Stack

COMMANDS = {
    "preview": ("preview",),
    "up --skip-preview": ("up", "--yes", "--skip-preview"),
    "up": ("up", "--yes"),
}
MINIMUM = {  # requests the product cannot do without, per command on a converged tenant
    "preview": Counter({"POST token": 1, "GET graph": 1}),
    "up --skip-preview": Counter({"POST token": 1, "GET graph": 1}),
    "up": Counter({"POST token": 2, "GET graph": 2}),  # its preview runs in a provider process of its own
}


def noop_project(root: Path) -> Path:
    """A copy of bench/noop with the repo's virtualenv."""
    shutil.copytree(REPO / "bench" / "noop", root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / ".venv").symlink_to(REPO / ".venv")
    return root


@contextmanager
def peak_rss(projects: tuple[Path, ...]) -> Iterator[dict[str, int]]:
    """Peak RSS in KiB per role (program, provider) of the Python processes running in `projects`."""
    peaks: dict[str, int] = defaultdict(int)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for entry in Path("/proc").iterdir():
                try:
                    if not entry.name.isdigit() or Path(entry / "cwd").resolve() not in projects:
                        continue
                    cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    status = (entry / "status").read_text()
                except OSError:
                    continue
                if "python" not in cmdline:
                    continue
                role = "provider" if "pulumi.dynamic" in cmdline else "program"
                hwm = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
                peaks[role] = max(peaks[role], hwm)
            stop.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        stop.set()
        thread.join()


def children_cpu() -> float:
    """User + system seconds of every reaped descendant of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(stack: Stack, args: tuple[str, ...]) -> tuple[float, float]:
    """Wall and CPU seconds of one `pulumi ARGS` (the CLI and every process under it)."""
    cpu, started = children_cpu(), time.perf_counter()
    stack.pulumi(*args)
    return time.perf_counter() - started, children_cpu() - cpu


def main() -> None:
    """Measure and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--latencies", default="0,100", help="emulator latency per request, in ms, comma-separated")
    parser.add_argument("--json", type=Path, help="write the pairs and the summaries to this file")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp, Emulator() as emulator:
        work = Path(tmp)
        product = product_stack(work, emulator, "product", allowed=False)
        noop = Stack("noop", noop_project(work / "noop"), product.env)
        noop.pulumi("stack", "init")
        for stack in (product, noop):
            stack.pulumi("up", "--yes", "--skip-preview")
        print(f"{'latency':>7}  {'command':18} {'wall s':>9} {'no-op':>8} {'ratio':>6} {'cpu s':>6} {'no-op':>6} {'ratio':>6}")
        requests: dict[str, Counter[str]] = {}
        rss: dict[str, dict[str, int]] = {}
        for latency in (int(ms) for ms in args.latencies.split(",")):
            emulator.faults.latency = latency / 1000
            for label, command in COMMANDS.items():
                pairs: list[dict[str, tuple[float, float]]] = []
                for round_ in range(args.runs):
                    emulator.directory.requests.clear()
                    order = (product, noop) if round_ % 2 == 0 else (noop, product)
                    with peak_rss((product.project, noop.project)) as peaks:
                        seconds = {stack.name: timed(stack, command) for stack in order}
                    pairs.append(seconds)
                    if latency == 0 and round_ == 0:
                        requests[label] = Counter(f"{r.method} {r.kind}" for r in emulator.directory.requests)
                if latency == 0:
                    with peak_rss((product.project,)) as product_peaks:
                        product.pulumi(*command)
                    with peak_rss((noop.project,)) as noop_peaks:
                        noop.pulumi(*command)
                    rss[label] = {f"{k} product": v for k, v in product_peaks.items()} | {
                        f"{k} no-op": v for k, v in noop_peaks.items()
                    }
                row = {"latency_ms": latency, "command": label, "pairs": pairs}
                for kind, index in (("wall", 0), ("cpu", 1)):
                    row[f"{kind}_ratio"] = statistics.median(p["product"][index] / p["noop"][index] for p in pairs)
                    row[f"{kind}_product_s"] = statistics.median(p["product"][index] for p in pairs)
                    row[f"{kind}_noop_s"] = statistics.median(p["noop"][index] for p in pairs)
                rows.append(row)
                print(
                    f"{latency:>5}ms  {label:18} {row['wall_product_s']:9.2f} {row['wall_noop_s']:8.2f} "
                    f"{row['wall_ratio']:6.2f} {row['cpu_product_s']:6.2f} {row['cpu_noop_s']:6.2f} {row['cpu_ratio']:6.2f}",
                    flush=True,
                )
        print("\nrequests per command (0 ms), product vs minimum:")
        for label, seen in requests.items():
            extra = seen - MINIMUM[label]
            print(f"  {label:18} {dict(sorted(seen.items()))}  beyond the minimum: {dict(extra) or 'none'}")
        print("\npeak RSS (MiB) per Python process:")
        for label, peaks in rss.items():
            print(f"  {label:18} " + ", ".join(f"{k} {v / 1024:.1f}" for k, v in sorted(peaks.items())))
        if args.json:
            summary = {"runs": args.runs, "results": rows, "requests": {k: dict(v) for k, v in requests.items()}}
            args.json.write_text(json.dumps(summary | {"peak_rss_kib": rss}, indent=1) + "\n")


if __name__ == "__main__":
    main()
