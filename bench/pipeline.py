"""The pipelines' cost at 10, 200 and 1,000 stacks: jobs per run and runner-minutes, per template and event.

    .venv/bin/python -m bench.pipeline [--sizes 10,200,1000] [--latency 100] [--up-sizes 200,500]

Measured here, on this machine: each job's setup (a fresh virtualenv with requirements.txt,
with an empty and with a warm pip cache; the Pulumi CLI unpacked from a release-style archive)
and each job's fleet command, as the template runs it, on a converged fleet of N stacks at the
given latency (bench/fleet.py's cloned checkpoints; the template's default workers). The jobs
a template starts for an event follow its YAML: `plan`, a job per shard that holds a stack (the
fleet's own hash, FLEET_SHARDS = 4), `summary` when the template has one. A run's
runner-minutes are the sum of its jobs' setup and command times. Not measured, and the same
for every job: the runner's queue and boot, the checkout, and the CLI's download (no network
here). Also `fleet up` (every stack through the engine) at --up-sizes. Results go to
docs/pipeline-scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.fleet import Fleet, build_fleet, numbers, timed
from emulator.project import REPO, pulumi_bin
from fleet.selection import shard_of

SHARDS = 4  # the templates' FLEET_SHARDS / fleetShards
EVENTS = ("pull request, one stack", "pull request, program", "push to main", "schedule")


def setup_seconds(work: Path) -> dict[str, float]:
    """A job's setup: the virtualenv from an empty and from a warm pip cache; the CLI from its archive."""
    cache = work / "pip-cache"

    def venv(name: str) -> float:
        started = time.perf_counter()
        target = work / name
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
        pip = [str(target / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt"]
        subprocess.run(pip, cwd=REPO, env={**os.environ, "PIP_CACHE_DIR": str(cache)}, check=True)
        return time.perf_counter() - started

    archive = work / "pulumi.tar.gz"
    with tarfile.open(archive, "w:gz") as packed:
        packed.add(pulumi_bin(), arcname="pulumi")
    started = time.perf_counter()
    with tarfile.open(archive) as packed:
        packed.extractall(work / "cli", filter="data")
    cli = time.perf_counter() - started
    return {"venv, empty pip cache": venv("venv-cold"), "venv, warm pip cache": venv("venv-warm"), "CLI from its archive": cli}


def shards(names: list[str]) -> dict[int, list[str]]:
    """The shards that hold stacks, as the templates' plan job lists them."""
    held: dict[int, list[str]] = {}
    for name in names:
        held.setdefault(shard_of(name, SHARDS), []).append(name)
    return dict(sorted(held.items()))


@dataclass
class Measured:
    """The seconds of every command the templates run for one fleet size, each timed as its own job."""

    stacks: int
    shard_sizes: dict[int, int]
    matrix: float
    preview_one_stack: float
    preview_per_shard: dict[int, float]
    preview_one_job: float
    up_only_drifted_per_shard: dict[int, float]
    up_only_drifted_one_job: float
    summary: float
    drift: float


def measure(fleet: Fleet, project: Path, work: Path, size: int) -> Measured:
    """Every command the templates run for `size` stacks, timed as its own job would run it."""
    cache = work / "cache"

    def fleet_seconds(*args: str) -> float:
        shutil.rmtree(cache, ignore_errors=True)  # a fresh runner: an empty discovery cache
        command = [sys.executable, "-m", "fleet", *args, "--project", str(project)]
        return timed(command, REPO, {**fleet.env, "XDG_CACHE_HOME": str(cache)})

    names = sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in (project / "stacks").glob("Pulumi.*"))
    held = shards(names)
    runs = work / f"runs-{size}"
    runs.mkdir()
    preview = {index: fleet_seconds("preview", "--shard", f"{index}/{SHARDS}") for index in held}
    up = {}
    for index in held:
        up[index] = fleet_seconds("up", "--only-drifted", "--shard", f"{index}/{SHARDS}", "--json", str(runs / f"{index}.json"))
    started = time.perf_counter()
    summary = [sys.executable, "-m", "fleet", "summary", *map(str, sorted(runs.glob("*.json"))), "--markdown", str(runs / "s.md")]
    subprocess.run(summary, cwd=REPO, capture_output=True, check=True)
    summary_seconds = time.perf_counter() - started
    return Measured(
        stacks=size,
        shard_sizes={index: len(members) for index, members in held.items()},
        matrix=fleet_seconds("matrix", "--shards", str(SHARDS)),
        preview_one_stack=fleet_seconds("preview", "--stacks", names[0]),
        preview_per_shard=preview,
        preview_one_job=fleet_seconds("preview"),
        up_only_drifted_per_shard=up,
        up_only_drifted_one_job=fleet_seconds("up", "--only-drifted"),
        summary=summary_seconds,
        drift=fleet_seconds("drift"),
    )


def model(setup: dict[str, float], m: Measured) -> list[tuple[str, str, int, float]]:
    """(template, event, jobs, runner-minutes) for one fleet size, from the measured seconds."""
    venv = setup["venv, warm pip cache"]  # the templates cache pip
    engine = venv + setup["CLI from its archive"]
    plan, summary = venv + m.matrix, venv + m.summary
    previews = [engine + seconds for seconds in m.preview_per_shard.values()]
    ups = [engine + seconds for seconds in m.up_only_drifted_per_shard.values()]
    github_summary = [summary] if len(previews) > 1 else []  # a lone shard reports for itself
    runs = {
        "GitHub Actions": (
            [plan, engine + m.preview_one_stack],
            [plan, *previews, *github_summary],
            [plan, *ups, *github_summary],
            [engine + m.drift],
        ),
        "Azure Pipelines": (
            [plan, engine + m.preview_one_stack],
            [plan, *previews],
            [plan, *ups, summary],
            [engine + m.drift],
        ),
        "GitLab CI": (
            [engine + m.preview_one_stack],
            [engine + m.preview_one_job],
            [engine + m.up_only_drifted_one_job],
            [engine + m.drift],
        ),
    }
    return [
        (template, event, len(jobs), sum(jobs) / 60)
        for template, per_event in runs.items()
        for event, jobs in zip(EVENTS, per_event, strict=True)
    ]


def main() -> None:
    """Measure, print the tables, write docs/pipeline-scale.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=numbers, default=[10, 200, 1000])
    parser.add_argument("--up-sizes", type=numbers, default=[200, 500], help="stack counts for `fleet up` of every stack")
    parser.add_argument("--latency", type=int, default=100, help="ms added to every emulator answer")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "pipeline-scale.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        work = Path(scratch)
        setup = setup_seconds(work)
        print("| setup | seconds |\n|---|---|\n" + "".join(f"| {k} | {v:.1f} |\n" for k, v in setup.items()), flush=True)
        fleet = build_fleet(work, max(args.sizes + args.up_sizes))
        fleet.emulator.faults.latency = args.latency / 1000
        measured, full_up = [], {}
        try:
            for size in args.sizes:
                measured.append(measure(fleet, fleet.project(work, size), work, size))
                print(json.dumps(asdict(measured[-1])), flush=True)
            for size in args.up_sizes:
                (work / "up").mkdir(exist_ok=True)
                project = fleet.project(work / "up", size)
                full_up[size] = timed([sys.executable, "-m", "fleet", "up", "--project", str(project)], REPO, fleet.env)
                print(f"fleet up, {size} stacks: {full_up[size]:.1f} s", flush=True)
        finally:
            fleet.emulator.stop()
    print("\n| template | event | " + " | ".join(f"{m.stacks} stacks: jobs, runner-min" for m in measured) + " |")
    print("|---|---|" + "---|" * len(measured))
    tables = [model(setup, m) for m in measured]
    for index, (template, event, _, _) in enumerate(tables[0]):
        cells = " | ".join(f"{t[index][2]}, {t[index][3]:.1f}" for t in tables)
        print(f"| {template} | {event} | {cells} |")
    args.out.write_text(
        json.dumps(
            {"latency_ms": args.latency, "setup": setup, "measured": [asdict(m) for m in measured], "fleet up": full_up},
            indent=1,
        )
        + "\n"
    )
    print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    main()
