"""Fleet scale: `fleet drift` and `fleet preview` over many tenant stacks, and the CLI loop they replace.

    .venv/bin/python -m bench.fleet [--sizes 1,20,100,500] [--latencies 0,100] [--workers 1,4,16]
                                    [--preview-sizes 1,20,100] [--loop-sizes 20] [--plot docs/fleet-scale.png] [--append]

One emulator serves every tenant (Nagle off; --latencies are added to each of its answers);
one multi-tenant app is consented in each, and each tenant already has its declared value
(a converged fleet: the daily case). The stacks are real: one is brought up by the real CLI,
and its checkpoint is cloned for the others (stack name and tenant GUID replaced), so
`preview` runs the engine against real state without 500 `up`s first. The discovery cache
starts empty for every run (a fresh CI runner). Every measurement is one run of the command
as a user types it (`python -m fleet ...`, `pulumi preview --stack ...` in a loop), wall time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import save_results
from emulator import Emulator
from emulator.project import REPO, copy_project, emulator_config, engine_env, pulumi_bin

DECLARED = "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice"


@dataclass
class Fleet:
    """N tenants consented to one app, a stack file for each, and cloned state in one file backend."""

    emulator: Emulator
    env: dict[str, str]
    stack_files: dict[str, str]  # stack name -> its config file's text

    def project(self, root: Path, size: int) -> Path:
        """A project copy holding the first `size` stacks."""
        project = copy_project(root / f"project-{size}")
        for name in list(self.stack_files)[:size]:
            (project / "stacks" / f"Pulumi.{name}.yaml").write_text(self.stack_files[name])
        return project


def build_fleet(work: Path, size: int) -> Fleet:
    """The emulator, `size` converged tenants, and their stacks: t0000 up for real, the rest cloned."""
    emulator = Emulator().start()
    home = emulator.add_tenant()
    app = home.add_app()
    env = {
        **engine_env(pulumi_bin(), work / "home", work / "backend", emulator),
        "ARM_CLIENT_SECRET": app.add_secret(),
        "PULUMI_CONFIG_PASSPHRASE": "bench",
    }
    tenants = [emulator.add_tenant(bitlocker=False) for _ in range(size)]
    for tenant in tenants:
        tenant.consent(app)
    names = [f"t{index:04d}" for index in range(size)]

    def stack_file(tenant_id: str) -> str:
        config = {**emulator_config(emulator, tenantId=tenant_id, clientId=app.client_id), DECLARED: "false"}
        return "config:\n" + "".join(f'  {key}: "{value}"\n' for key, value in config.items())

    template = copy_project(work / "template")
    (template / "stacks" / "Pulumi.t0000.yaml").write_text(stack_file(tenants[0].id))
    for args in (["stack", "init", "t0000"], ["up", "--yes", "--stack", "t0000"]):
        timed(["pulumi", *args, "--non-interactive"], template, env)
    salt = re.search(r"^encryptionsalt: .*$", (template / "stacks" / "Pulumi.t0000.yaml").read_text(), re.M)
    assert salt is not None
    checkpoints = work / "backend" / ".pulumi" / "stacks" / "bitlocker-policy"
    state = (checkpoints / "t0000.json").read_text()
    files = {}
    for name, tenant in zip(names, tenants, strict=True):
        files[name] = f"{stack_file(tenant.id)}{salt.group(0)}\n"
        if name != "t0000":
            (checkpoints / f"{name}.json").write_text(state.replace("t0000", name).replace(tenants[0].id, tenant.id))
    return Fleet(emulator, env, files)


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall seconds of one run of `command` (which must succeed: a converged fleet exits 0)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"`{' '.join(command)}` exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds


def fleet_run(fleet: Fleet, project: Path, command: str, workers: int, cache: Path) -> float:
    """`python -m fleet COMMAND --workers N` from a cold discovery cache."""
    shutil.rmtree(cache, ignore_errors=True)
    env = {**fleet.env, "XDG_CACHE_HOME": str(cache)}
    args = [sys.executable, "-m", "fleet", command, "--project", str(project), "--workers", str(workers)]
    return timed(args, REPO, env)


def cli_loop(fleet: Fleet, project: Path, cache: Path) -> float:
    """`pulumi preview --stack S` for each stack in turn: what a pipeline without the fleet runs."""
    shutil.rmtree(cache, ignore_errors=True)
    env = {**fleet.env, "XDG_CACHE_HOME": str(cache)}
    started = time.perf_counter()
    for path in sorted((project / "stacks").glob("Pulumi.*.yaml")):
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        timed(["pulumi", "preview", "--stack", stack, "--non-interactive", "--expect-no-changes"], project, env)
    return time.perf_counter() - started


def plot(results: list[dict[str, object]], path: Path) -> None:
    """Seconds against stacks, one line per command and workers, one panel per latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latencies = sorted({int(str(r["latency_ms"])) for r in results})
    figure, axes = plt.subplots(1, len(latencies), figsize=(6 * len(latencies), 4.5), squeeze=False)
    for axis, latency in zip(axes[0], latencies, strict=True):
        series: dict[tuple[str, int], list[tuple[int, float]]] = {}
        for r in results:
            if r["latency_ms"] == latency:
                key = (str(r["command"]), int(str(r["workers"])))
                series.setdefault(key, []).append((int(str(r["stacks"])), float(str(r["seconds"]))))
        for (command, workers), points in sorted(series.items()):
            xs, ys = zip(*sorted(points), strict=True)
            axis.plot(xs, ys, marker="o", label=f"{command}, {workers} workers" if workers else command)
        axis.set(xscale="log", yscale="log", xlabel="tenant stacks", ylabel="wall seconds", title=f"{latency} ms latency")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def numbers(text: str) -> list[int]:
    """`1,20,100` -> [1, 20, 100]."""
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    """Measure, print a Markdown table, write JSON beside the PNG."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=numbers, default=[1, 20, 100, 500], help="stack counts for drift")
    parser.add_argument("--preview-sizes", type=numbers, default=[1, 20, 100], help="stack counts for preview")
    parser.add_argument("--loop-sizes", type=numbers, default=[20], help="stack counts for the sequential CLI loop")
    parser.add_argument("--latencies", type=numbers, default=[0, 100], help="ms added to every emulator answer")
    parser.add_argument("--workers", type=numbers, default=[1, 4, 16])
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "fleet-scale.png")
    parser.add_argument("--append", action="store_true", help="keep the earlier results in the JSON beside --plot")
    args = parser.parse_args()
    results: list[dict[str, object]] = []

    def record(command: str, stacks: int, latency: int, workers: int, seconds: float) -> None:
        results.append({"command": command, "stacks": stacks, "latency_ms": latency, "workers": workers, "seconds": seconds})
        print(f"| {command} | {stacks} | {latency} | {workers or '-'} | {seconds:.1f} | {seconds / stacks:.3f} |", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as scratch:
        work = Path(scratch)
        fleet = build_fleet(work, max(args.sizes + args.preview_sizes + args.loop_sizes))
        projects = {size: fleet.project(work, size) for size in {*args.sizes, *args.preview_sizes, *args.loop_sizes}}
        print("| command | stacks | latency ms | workers | seconds | seconds per stack |\n|---|---|---|---|---|---|")
        try:
            for latency in args.latencies:
                fleet.emulator.faults.latency = latency / 1000
                for size in args.sizes:
                    for workers in args.workers:
                        seconds = fleet_run(fleet, projects[size], "drift", workers, work / "cache")
                        record("fleet drift", size, latency, workers, seconds)
                for size in args.loop_sizes:
                    record("pulumi preview loop", size, latency, 0, cli_loop(fleet, projects[size], work / "cache"))
                for size in args.preview_sizes:
                    for workers in args.workers:
                        seconds = fleet_run(fleet, projects[size], "preview", workers, work / "cache")
                        record("fleet preview", size, latency, workers, seconds)
        finally:
            fleet.emulator.stop()
    save_results(results, args.plot, ("command", "stacks", "latency_ms", "workers"), plot, append=args.append)


if __name__ == "__main__":
    os.environ.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    main()
