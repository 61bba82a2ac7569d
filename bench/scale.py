"""Thousands of tenants from one runner: `fleet drift`, `report` and `history` against the tenants.

    .venv/bin/python -m bench.scale [--sizes 100,500,1000,2000,5000] [--latency 100] [--workers 64]
                                    [--commands drift,report,history] [--cached] [--plot docs/fleet-thousands.png] [--append]

bench/fleet.py's converged fleet (one emulator, one multi-tenant app consented in every tenant,
one stack brought up by the real CLI and its checkpoint cloned for the others, in a DIY backend on
disk), at --latency ms added to every emulator answer, from an empty discovery cache (and with
--cached, `drift` again on the cache the runs before left). Each row is
one run of the command as a user types it (`python -m fleet COMMAND --workers N`): its wall time;
the CPU seconds of that process and its children (rusage of the reaped child: the fleet process
and any `pulumi` it starts); the emulator's CPU seconds apart (this process's own, whose main
thread only waits: the emulator shares the machine and is not the product's cost); and the
requests per tenant by kind (discovery, token, Graph GET, audit read).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.fleet import Fleet, build_fleet, numbers
from bench.harness import save_results
from emulator.project import REPO


def cpu(who: int) -> float:
    """User + system CPU seconds of this process (RUSAGE_SELF) or its reaped children (RUSAGE_CHILDREN)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def kinds(fleet: Fleet, since: int) -> Counter[str]:
    """The emulator's requests since `since`, by kind; an audit read apart from other Graph requests."""
    found: Counter[str] = Counter()
    for request in fleet.emulator.directory.requests[since:]:
        found["audit" if request.path.lower().endswith("/directoryaudits") else request.kind] += 1
    return found


def measure(fleet: Fleet, project: Path, command: str, workers: int, work: Path, cached: bool = False) -> dict[str, object]:
    """One run of `python -m fleet COMMAND` with its costs: from a cold discovery cache, or with `cached`
    from the one the run before left (a runner that keeps it, as the pipelines do)."""
    if not cached:
        shutil.rmtree(work / "cache", ignore_errors=True)
    env = {**fleet.env, "XDG_CACHE_HOME": str(work / "cache")}
    args = [sys.executable, "-m", "fleet", command, "--project", str(project), "--workers", str(workers)]
    if command == "report":
        args += ["--out", str(work / "pages")]
    since = len(fleet.emulator.directory.requests)
    children, own, started = cpu(resource.RUSAGE_CHILDREN), cpu(resource.RUSAGE_SELF), time.perf_counter()
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    fleet_cpu, emulator_cpu = cpu(resource.RUSAGE_CHILDREN) - children, cpu(resource.RUSAGE_SELF) - own
    if done.returncode != 0:
        raise SystemExit(f"`{' '.join(args)}` exited {done.returncode}:\n{done.stderr[-3000:]}")
    stacks = len(list((project / "stacks").glob("Pulumi.*.yaml")))
    requests = {kind: count / stacks for kind, count in sorted(kinds(fleet, since).items())}
    return {
        "command": f"fleet {command}" + (", discovery cached" if cached else ""),
        "stacks": stacks,
        "latency_ms": round(fleet.emulator.faults.latency * 1000),
        "workers": workers,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(fleet_cpu, 2),
        "cpu_ms_per_tenant": round(1000 * fleet_cpu / stacks, 2),
        "emulator_cpu_seconds": round(emulator_cpu, 2),
        "requests_per_tenant": requests,
        "load_average": os.getloadavg()[0],
    }


def plot(results: list[dict[str, object]], path: Path) -> None:
    """Wall seconds against tenants, a line per command (and workers), log-log, with the minute marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    series: dict[str, list[tuple[int, float]]] = {}
    for r in results:
        series.setdefault(f"{r['command']}, {r['workers']} workers", []).append((int(str(r["stacks"])), float(str(r["seconds"]))))
    for label, points in sorted(series.items()):
        xs, ys = zip(*sorted(points), strict=True)
        axis.plot(xs, ys, marker="o", label=label)
    axis.axhline(60, color="grey", linestyle="--", linewidth=0.8, label="one minute")
    latency = sorted({int(str(r["latency_ms"])) for r in results})
    axis.set(
        xscale="log",
        yscale="log",
        xlabel="tenants",
        ylabel="wall seconds",
        title=f"{'/'.join(map(str, latency))} ms a request",
    )
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    """Measure, print a Markdown table, write the JSON beside the PNG."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=numbers, default=[100, 500, 1000, 2000, 5000])
    parser.add_argument("--latency", type=int, default=100, help="ms added to every emulator answer")
    parser.add_argument("--workers", type=numbers, default=[64])
    parser.add_argument("--commands", default="drift,report,history")
    parser.add_argument("--cached", action="store_true", help="also `drift` again on the discovery cache the runs left")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "fleet-thousands.png")
    parser.add_argument("--append", action="store_true", help="keep the earlier results in the JSON beside --plot")
    args = parser.parse_args()
    results: list[dict[str, object]] = []
    print("| command | tenants | workers | wall s | CPU s | CPU ms a tenant | emulator CPU s | requests a tenant | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        work = Path(scratch)
        fleet = build_fleet(work, max(args.sizes))
        fleet.emulator.faults.latency = args.latency / 1000
        try:
            for size in args.sizes:
                project = fleet.project(work, size)
                runs = [(command, False) for command in args.commands.split(",")] + [("drift", True)] * args.cached
                for command, cached in runs:
                    for workers in args.workers:
                        r = measure(fleet, project, command, workers, work, cached)
                        results.append(r)
                        asked = ", ".join(f"{kind} {count:g}" for kind, count in r["requests_per_tenant"].items())  # type: ignore[attr-defined]
                        print(
                            f"| {r['command']} | {size} | {workers} | {r['seconds']} | {r['cpu_seconds']} | "
                            f"{r['cpu_ms_per_tenant']} | {r['emulator_cpu_seconds']} | {asked} | {r['load_average']:.1f} |",
                            flush=True,
                        )
                shutil.rmtree(project)
        finally:
            fleet.emulator.stop()
    save_results(results, args.plot, ("command", "stacks", "workers"), plot, append=args.append)


if __name__ == "__main__":
    os.environ.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    main()
