"""What the Automation API's own CLI processes cost per stack, on a converged fleet at 0 ms latency.

    .venv/bin/python -m bench.automation [--sizes 20,100] [--rounds 8] [--out docs/automation-cost.json]

Asked in interleaved rounds (the order reversed every other round) in this process, as the fleet's
engine drives the CLI (`program.declare` inline, the project directory as workspace):
- finding a stack: `auto.Stack.select` (one `pulumi stack select`) against one `pulumi stack ls
  --json` (`LocalWorkspace.list_stacks`) shared by every stack of the backend;
- `up`'s follow-ups alone: `LocalWorkspace.stack_outputs` and `Stack.history(page_size=1)`
  with and without `show_secrets`;
- `up`: `Stack.up` as published, which follows the update with two `pulumi stack output` and one
  `pulumi stack history` (pulumi/automation/_stack.py, Stack.up; _local_workspace.py,
  stack_outputs); the same with `show_secrets=False` (its `stack history` then decrypts
  nothing); the same with those three answered in this process (what a subclass did); and
  `pulumi up` run by the CLI with the project's `__main__.py`, the one way to call `up` without
  the follow-ups and without a private import (the inline program's server is private).
Each size is a backend of its own holding that many stacks (bench/fleet.py's cloned checkpoints).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pulumi import automation as auto

from bench.fleet import build_fleet, numbers
from program import declare

FIND = ("select", "list")
FOLLOW_UPS = ("stack_outputs", "history_show_secrets", "history")
UP = ("up", "up_show_secrets_false", "up_without_follow_ups", "cli_up_local_program")


def seconds(action: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def up_alone(stack: auto.Stack) -> None:
    """`stack.up` with its follow-ups (outputs, info) answered here instead of by three CLI processes."""
    summary = auto.UpdateSummary(kind="update", start_time=datetime.now(UTC), message="", environment={}, config={}, result="")
    stack.outputs = lambda: {}  # type: ignore[method-assign]
    stack.info = lambda show_secrets=True: summary  # type: ignore[method-assign]
    stack.up(on_event=lambda _event: None, color="never")


def steps(name: str, workspace: auto.LocalWorkspace, env: dict[str, str], scratch: Path) -> dict[str, Callable[[], object]]:
    """What one round times, for stack `name`, keyed as FIND + FOLLOW_UPS + UP."""

    def select() -> auto.Stack:
        return auto.Stack.select(name, workspace)

    stack = select()

    def cli_up() -> None:
        log = scratch / "events.jsonl"  # as the engine would read it; --event-log is shown with PULUMI_DEBUG_COMMANDS
        command = ["pulumi", "up", "--yes", "--skip-preview", "--non-interactive", "--stack", name, "--event-log", str(log)]
        done = subprocess.run(
            command,
            cwd=workspace.work_dir,
            env={**env, "PULUMI_DEBUG_COMMANDS": "true"},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"`{' '.join(command)}` exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        log.unlink()

    return {
        "select": select,
        "list": workspace.list_stacks,
        "stack_outputs": lambda: workspace.stack_outputs(name),  # what Stack.outputs runs: 2 processes
        "history_show_secrets": lambda: stack.history(page_size=1, show_secrets=True),  # Stack.info, as up calls it
        "history": lambda: stack.history(page_size=1, show_secrets=False),
        "up": lambda: select().up(on_event=lambda _event: None, color="never"),
        "up_show_secrets_false": lambda: select().up(on_event=lambda _event: None, color="never", show_secrets=False),
        "up_without_follow_ups": lambda: up_alone(select()),
        "cli_up_local_program": cli_up,
    }


def measure(size: int, rounds: int, work: Path) -> dict[str, object]:
    """Each round's seconds for a backend of `size` converged stacks."""
    work.mkdir(parents=True)
    fleet = build_fleet(work, size)
    try:
        os.environ.update(fleet.env)
        project = fleet.project(work, size)
        workspace = auto.LocalWorkspace(
            work_dir=str(project), program=declare, env_vars={"PULUMI_RUNTIME_VIRTUALENV": sys.prefix}
        )
        measured: dict[str, list[float]] = {key: [] for key in FIND + FOLLOW_UPS + UP}
        for turn in range(rounds):
            timed = steps(list(fleet.stack_files)[turn % size], workspace, fleet.env, work)
            for key in list(timed) if turn % 2 == 0 else list(timed)[::-1]:
                measured[key].append(seconds(timed[key]))
            print(f"{size} stacks, round {turn + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in measured.items()), flush=True)
    finally:
        fleet.emulator.stop()
    return {"stacks": size, **measured}


def table(results: list[dict[str, object]]) -> str:
    """The Markdown table: medians of each round's seconds, and of each round's difference from `up` as published."""
    rows = [
        "| stacks | `stack select` | `stack ls` once, per stack | 2 `stack output` | `stack history`, with secrets; without "
        "| `up` as published | minus with `show_secrets=False` | minus `up` without the follow-ups "
        "| minus `pulumi up`, local program |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        size = int(str(r["stacks"]))
        runs: dict[str, list[float]] = {key: r[key] for key in FIND + FOLLOW_UPS + UP}  # type: ignore[misc]
        med = {key: statistics.median(values) for key, values in runs.items()}
        saved = [statistics.median(a - b for a, b in zip(runs["up"], runs[key], strict=True)) for key in UP[1:]]
        rows.append(
            f"| {size} | {med['select']:.2f} | {med['list'] / size:.3f} ({med['list']:.2f} in all) | {med['stack_outputs']:.2f} "
            f"| {med['history_show_secrets']:.2f}; {med['history']:.2f} | {med['up']:.2f} | "
            + " | ".join(f"{value:+.2f}" for value in saved)
            + " |"
        )
    return "\n".join(rows)


def main() -> None:
    """Measure, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=numbers, default=[20, 100], help="stacks in the backend")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "automation-cost.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-automation-") as scratch:
        results = [measure(size, args.rounds, Path(scratch) / str(size)) for size in args.sizes]
    print(table(results))
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    main()
