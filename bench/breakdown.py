"""Where an engine run's CPU goes, per stack and per process, on a converged fleet.

    .venv/bin/python -m bench.breakdown [--stacks 8] [--rounds 5] [--json bench/breakdown.json]

Three commands, interleaved for --rounds rounds against one emulator at 0 ms latency (bench/fleet.py's
converged fleet, cloned checkpoints): `python -m fleet preview --workers 1` over --stacks stacks (the
Automation API, inline program), `pulumi preview` of one of those stacks with the project's
`__main__.py`, and `pulumi preview` of bench/noop (one dynamic resource whose provider makes no
request: the floor of a Python dynamic provider under the CLI).

CPU, not wall time: the machine is shared, and a process's user + system seconds barely move
with other load while its wall time does. The whole tree's CPU is exact (the rusage of reaped
children, os.wait4 semantics through RUSAGE_CHILDREN); its split per process comes from sampling
/proc/PID/stat (utime + stime, in clock ticks) of every descendant every --interval seconds,
so each process loses the CPU of its last interval: that loss is the "unattributed" row. The
emulator runs in this process: its CPU is this process's own less the sampler thread's.

Then the provider process's stages, in-process in fresh interpreters (time.process_time between
steps, same order as a provider process: interpreter start, `import pulumi.dynamic`, the
product's package, httpx and the Graph modules, msal, configuration, TLS context and client,
sign-in, the GET), and `python -X importtime` of the same imports, self time per top-level package.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench.coldstart import noop_project
from bench.fleet import build_fleet, timed
from emulator.project import REPO

__all__ = ["ProcessTree", "main"]

TICK = os.sysconf("SC_CLK_TCK")
PROVIDER_STAGES = """
import time
marks = [("interpreter start (site, venv)", time.process_time())]
def mark(label):
    marks.append((label, time.process_time()))
import pulumi.dynamic
mark("import pulumi.dynamic (pulumi, grpc, protobuf, dill)")
import providers
mark("import providers (the product's resources)")
from providers.session import Session, new_http_client
from providers.graph import GraphClient
mark("import httpx and the product's Graph modules")
import providers.tokens
mark("import msal (providers.tokens)")
import json, os
from providers.settings import Sources
from providers.authorization_policy import BITLOCKER_KEYS
config = json.loads(os.environ["BREAKDOWN_CONFIG"])
http = new_http_client()
mark("TLS context and HTTP client")
session = Session(Sources(config, dict(os.environ)), lambda: http)
session.configuration
mark("configuration resolved")
graph = session.graph_client(config["azuread:tenantId"])
graph.caller_ids()
mark("sign-in (TLS handshake, token POST)")
graph.read(BITLOCKER_KEYS)
mark("the GET")
print(json.dumps(marks[:1] + [(label, after - before) for (_, before), (label, after) in zip(marks, marks[1:])]))
"""
IMPORTS = "import pulumi.dynamic, providers, providers.session, providers.graph, providers.tokens"


@dataclass
class ProcessTree:
    """CPU seconds per role of every process under `root`, sampled from /proc until stopped."""

    root: int
    interval: float
    seen: dict[tuple[int, int], tuple[str, float]] = field(default_factory=dict)  # (pid, start) -> (role, cpu)
    outside: set[int] = field(default_factory=set)
    sampler_cpu: float = 0.0

    def run(self, stop: threading.Event) -> None:
        """Sample until `stop` is set; then record this thread's own CPU."""
        members = {self.root}
        while not stop.is_set():
            for name in os.listdir("/proc"):
                if not name.isdigit() or int(name) in self.outside:
                    continue
                pid = int(name)
                stat = _stat(pid)
                if stat is None:
                    continue
                ppid, start, cpu = stat
                if pid not in members and ppid not in members:
                    self.outside.add(pid)
                    continue
                members.add(pid)
                # The role again each time (a fork is its parent until it execs), kept once a zombie has no command line.
                key = (pid, start)
                role = _role(pid) or (self.seen[key][0] if key in self.seen else "unknown")
                self.seen[key] = (role, cpu)
            stop.wait(self.interval)
        self.sampler_cpu = time.thread_time()

    def by_role(self) -> dict[str, float]:
        """CPU seconds per role, as last sampled."""
        roles: dict[str, float] = defaultdict(float)
        for role, cpu in self.seen.values():
            roles[role] += cpu
        return dict(roles)


def _stat(pid: int) -> tuple[int, int, float] | None:
    """(ppid, start time, user + system seconds) from /proc/PID/stat; None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # state is fields[0]; see proc_pid_stat(5)
    return int(fields[1]), int(fields[19]), (int(fields[11]) + int(fields[12])) / TICK


def _role(pid: int) -> str | None:
    """What a process is, from its command line; None when it has none (gone, or a zombie)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    line = " ".join(argv)
    if "pulumi.dynamic" in line or "pulumi-resource-pulumi-python" in line:
        return "provider process (python -m pulumi.dynamic)"
    if "pulumi-language-python-exec" in line:
        return "program process (python, __main__.py)"
    if "-m fleet" in line:
        return "fleet process (python -m fleet)"
    executable = Path(argv[0]).name
    if executable == "pulumi":
        words = [word for word in argv[1:3] if word and not word.startswith("-")]
        return f"pulumi CLI: {' '.join(words[:2]) if words[:1] == ['stack'] else ' '.join(words[:1])}"
    return executable or None


def children_cpu() -> float:
    """User + system seconds of every reaped descendant of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    """User + system seconds of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measured(command: list[str], cwd: Path, env: dict[str, str], interval: float) -> dict[str, float]:
    """Run `command` to success; CPU seconds per role, the tree's exact total, and the emulator's."""
    before_children, before_self = children_cpu(), self_cpu()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tree = ProcessTree(process.pid, interval)
    stop = threading.Event()
    sampler = threading.Thread(target=tree.run, args=(stop,))
    sampler.start()
    output, _ = process.communicate()
    stop.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"`{' '.join(command)}` exited {process.returncode}:\n{output.decode()[-3000:]}")
    roles = tree.by_role()
    total = children_cpu() - before_children
    roles["unattributed (each process's last sampling interval)"] = total - sum(roles.values())
    roles["total (exact)"] = total
    roles["emulator (this process less the sampler)"] = self_cpu() - before_self - tree.sampler_cpu
    return roles


def provider_stages(env: dict[str, str], config: dict[str, str], runs: int) -> dict[str, float]:
    """Median CPU seconds of each step a provider process takes, over `runs` fresh interpreters."""
    samples: dict[str, list[float]] = defaultdict(list)
    child_env = {**env, "BREAKDOWN_CONFIG": json.dumps(config), "PYTHONPATH": str(REPO)}
    for _ in range(runs):
        done = subprocess.run(
            [str(REPO / ".venv" / "bin" / "python"), "-c", PROVIDER_STAGES],
            cwd=REPO,
            env=child_env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"the provider's steps failed:\n{done.stderr[-3000:]}")
        for label, seconds in json.loads(done.stdout.splitlines()[-1]):
            samples[label].append(seconds)
    return {label: statistics.median(values) for label, values in samples.items()}


def import_times(env: dict[str, str], runs: int) -> dict[str, float]:
    """Median self seconds of `python -X importtime` per top-level package, for the provider's imports."""
    samples: list[dict[str, float]] = []
    for _ in range(runs):
        done = subprocess.run(
            [str(REPO / ".venv" / "bin" / "python"), "-X", "importtime", "-c", IMPORTS],
            cwd=REPO,
            env={**env, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            check=True,
        )
        packages: dict[str, float] = defaultdict(float)
        for line in done.stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
            if match:
                packages[match.group(2).lstrip(".").split(".")[0]] += int(match.group(1)) / 1e6
        samples.append(packages)
    return dict(sorted(medians(samples).items(), key=lambda item: -item[1]))


def medians(rounds: list[dict[str, float]], per: int = 1) -> dict[str, float]:
    """Median of each role's seconds over rounds (0 where a round lacks it), divided by `per`."""
    roles = {role for r in rounds for role in r}
    return {role: statistics.median(r.get(role, 0.0) for r in rounds) / per for role in sorted(roles)}


def main() -> None:
    """Measure, print the tables, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stacks", type=int, default=8, help="stacks in the fleet preview")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.005, help="seconds between /proc samples")
    parser.add_argument("--json", type=Path, help="write every round and the medians to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-breakdown-") as scratch:
        work = Path(scratch)
        fleet = build_fleet(work, args.stacks)
        project = fleet.project(work, args.stacks)
        noop = noop_project(work / "noop")
        env = {**fleet.env, "XDG_CACHE_HOME": str(work / "cache")}
        for command in (["stack", "init", "noop"], ["up", "--yes", "--skip-preview", "--stack", "noop"]):
            timed(["pulumi", *command, "--non-interactive"], noop, env)
        commands: dict[str, tuple[list[str], Path, int]] = {
            f"fleet preview, {args.stacks} stacks (per stack)": (
                [sys.executable, "-m", "fleet", "preview", "--project", str(project), "--workers", "1"],
                REPO,
                args.stacks,
            ),
            "pulumi preview, the product": (["pulumi", "preview", "--stack", "t0000", "--non-interactive"], project, 1),
            "pulumi preview, bench/noop": (["pulumi", "preview", "--stack", "noop", "--non-interactive"], noop, 1),
        }
        rounds: dict[str, list[dict[str, float]]] = defaultdict(list)
        for round_ in range(args.rounds):
            for label in list(commands)[:: 1 if round_ % 2 == 0 else -1]:
                command, cwd, _ = commands[label]
                rounds[label].append(measured(command, cwd, env, args.interval))
        summary = {label: medians(rounds[label], commands[label][2]) for label in commands}
        config = yaml.safe_load(fleet.stack_files["t0000"])["config"]
        stages = provider_stages(env, config, args.rounds)
        imports = import_times(env, args.rounds)
        fleet.emulator.stop()
    for label, roles in summary.items():
        print(f"\n{label}: CPU seconds, median of {args.rounds} rounds")
        for role, seconds in roles.items():
            print(f"  {role:60} {seconds:6.3f}")
    print("\nprovider process, step by step (CPU seconds, median of fresh interpreters)")
    for label, seconds in stages.items():
        print(f"  {label:60} {seconds:6.3f}")
    print("\npython -X importtime, self seconds per top-level package (one run)")
    for package, seconds in list(imports.items())[:15]:
        print(f"  {package:60} {seconds:6.3f}")
    if args.json:
        data = {"stacks": args.stacks, "rounds": dict(rounds), "medians": summary}
        args.json.write_text(json.dumps(data | {"provider_stages": stages, "import_self_s": imports}, indent=1) + "\n")


if __name__ == "__main__":
    main()
