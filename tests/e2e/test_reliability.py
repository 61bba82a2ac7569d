"""The fault matrix: every fault x operation under the real CLI, written to docs/reliability.md.

For every cell: the operation ends in success after bounded retries or in one clear line;
afterwards state claims no value the tenant lacks and keeps the true original as
`adoptedValue`; and a plain rerun converges with no manual step of ours. The last test
fails when the committed docs/reliability.md differs from what this run wrote.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from providers.discovery_cache import default_path
from tests.e2e.conftest import REPO, Deployment, NewStack, Run
from tests.emulator import Emulator

pytestmark = pytest.mark.engine

TABLE = REPO / "docs" / "reliability.md"
OPERATIONS = ("first up", "up on drift", "refresh", "destroy")
ORIGINAL, DECLARED = True, False  # every tenant starts allowing; every stack declares "block"


@dataclass(frozen=True)
class Fault:
    """How to arm one fault against the emulator, and what it needs."""

    arm: Callable[[Emulator, Deployment], None]
    writes: bool = False  # only meets an operation that PATCHes (refresh never does)
    kills_cli: bool = False  # the DIY backend's lock then needs `pulumi cancel` before a rerun
    config: tuple[tuple[str, str], ...] = ()


def _kill_provider(deployment: Deployment) -> None:
    """SIGKILL the dynamic-provider process of this stack's project (found through /proc)."""
    for pid in _project_processes(deployment, "pulumi.dynamic"):
        os.kill(pid, signal.SIGKILL)


def _project_processes(deployment: Deployment, marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if marker in cmdline and cwd == str(deployment.stack.project):
            found.append(int(entry.name))
    return found


def _discovery_outage(emulator: Emulator, _: Deployment) -> None:
    """A 503 from discovery, met because the cached document is gone (as after a day)."""
    default_path().unlink(missing_ok=True)
    emulator.faults.fail(503, endpoint="discovery")


def _storm(emulator: Emulator, _: Deployment) -> None:
    """Four 5xx in a row: the first try and all three retries."""
    emulator.faults.fail(503, 2, retry_after="1")
    emulator.faults.fail(504, 2, retry_after="1")


FAULTS: dict[str, Fault] = {
    "429, Retry-After in seconds": Fault(lambda e, _: e.faults.throttle(1, retry_after="1")),
    "429, Retry-After as an HTTP date": Fault(
        lambda e, _: e.faults.throttle(1, retry_after=formatdate(time.time() + 2, usegmt=True))
    ),
    "429 without Retry-After": Fault(lambda e, _: e.faults.throttle(1, retry_after=None)),
    "503/504 storm past the retry budget": Fault(_storm),
    "connection dropped before the PATCH is applied": Fault(lambda e, _: e.faults.drop(1, method="PATCH"), writes=True),
    "connection dropped after the PATCH is applied": Fault(lambda e, _: e.faults.applied(0), writes=True),
    "PATCH applied, then 504 on every try": Fault(lambda e, _: e.faults.applied(504, 4, retry_after="1"), writes=True),
    "200 instead of 204": Fault(lambda e, _: e.faults.applied(200), writes=True),
    "token endpoint 503": Fault(lambda e, _: e.faults.fail(503, endpoint="token")),
    "OIDC discovery 503 (its day-long cache expired)": Fault(_discovery_outage),
    "stale reads after a write": Fault(
        lambda e, _: setattr(e.faults, "stale_reads_ms", 3000), config=(("bitlocker-policy:consistencyWindowSeconds", "30"),)
    ),
    "slow body past the deadline": Fault(
        lambda e, _: e.faults.slow(seconds=20, count=8), config=(("bitlocker-policy:deadlineSeconds", "4"),)
    ),
    "CLI killed after the PATCH": Fault(lambda e, _: None, writes=True, kills_cli=True),
    "provider killed after the PATCH": Fault(
        lambda e, d: setattr(e.faults, "after_write", lambda: _kill_provider(d)), writes=True
    ),
}


@dataclass
class Cell:
    """What one fault did to one operation."""

    outcome: str
    retries: int
    seconds: float
    rerun: str

    def row(self) -> str:
        return f"{self.outcome}; {self.retries} retried request(s); {_bucket(self.seconds)}; rerun: {self.rerun}"


RESULTS: dict[tuple[str, str], Cell | str] = {}


def _bucket(seconds: float) -> str:
    """Wall time in a bucket wide enough to be the same on every run."""
    return next(f"≤ {limit} s" for limit in (15, 60, 180, 10_000) if seconds <= limit)


def _prepare(deployment: Deployment, operation: str) -> None:
    """Bring the stack to where the operation starts: nothing, adopted, or adopted and drifted."""
    if operation != "first up":
        deployment.stack.pulumi("up", "--yes", "--skip-preview")
    if operation in ("up on drift", "refresh"):
        deployment.emulator.set_bitlocker(deployment.tenant, ORIGINAL)
    deployment.emulator.directory.requests.clear()


def _command(operation: str) -> tuple[str, ...]:
    return {
        "first up": ("up", "--yes", "--skip-preview"),
        "up on drift": ("up", "--yes", "--skip-preview"),
        "refresh": ("refresh", "--yes", "--skip-preview"),
        "destroy": ("destroy", "--yes", "--skip-preview"),
    }[operation]


def _run(deployment: Deployment, operation: str, kill_cli: bool) -> Run:
    """Run the operation; with `kill_cli`, SIGKILL the CLI the moment a PATCH has landed."""
    stack = deployment.stack
    command = ["pulumi", *_command(operation), "--stack", stack.name, "--non-interactive", "--color", "never"]
    process = subprocess.Popen(
        command, cwd=stack.project, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if kill_cli:
        deployment.emulator.faults.after_write = process.kill
    output, _ = process.communicate(timeout=600)
    return stack.record(_command(operation), Run(process.returncode, output))


def _state(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """Outputs per resource type in the stack's state."""
    exported = json.loads(deployment.stack.pulumi("stack", "export").output)
    return {
        r["type"].rsplit(":", 1)[-1]: r.get("outputs", {})
        for r in exported["deployment"].get("resources") or []
        if r["type"].startswith("pulumi-python:dynamic/")
    }


def _error_label(run: Run) -> str:
    """The one line a user meets, as a stable label; fails the test on a traceback or several lines."""
    if run.code == -signal.SIGKILL:
        return "CLI killed"
    if "error reading from server: EOF" in run.output:
        # The engine lost the provider process; Pulumi then interrupts the program, whose
        # KeyboardInterrupt traceback the CLI prints: the engine's own output, not ours.
        return "engine: the provider process ended"
    assert "Traceback" not in run.output, run.output
    lines = {line.split("error: ", 1)[-1].strip() for line in run.output.splitlines() if "error: " in line}
    ours = [line for line in lines if "bitlocker-policy" in line or "Graph" in line or "Entra" in line or "deadline" in line]
    labels = {
        "retries ran out": "Graph throttled past the retries",
        "deadline": "the operation's deadline, said so",
        "kept failing": "Entra outage past the retries",
    }
    for needle, label in labels.items():
        if any(needle in line for line in lines):
            assert len(ours) == 1, run.output  # one clear line of ours
            return f"one line: {label}"
    raise AssertionError(f"unexpected failure:\n{run.output}")


def _converged(deployment: Deployment, operation: str) -> str:
    """Whether the stack and the tenant agree with what the operation was for."""
    state = _state(deployment)
    setting, adoption = state.get("BitlockerKeyAccess"), state.get("BitlockerAdoption")
    if operation == "destroy":
        assert (state, deployment.tenant.bitlocker) == ({}, ORIGINAL)
        return "converged"
    assert setting is not None
    assert adoption is not None
    assert setting["adoptedValue"] is ORIGINAL
    assert adoption["adoptedValue"] is ORIGINAL
    assert setting["liveValue"] == deployment.tenant.bitlocker
    if operation != "refresh":
        assert deployment.tenant.bitlocker is DECLARED
        deployment.stack.pulumi("preview", "--expect-no-changes")
    return "converged"


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("fault_name", list(FAULTS))
def test_cell(new_stack: NewStack, fault_name: str, operation: str) -> None:
    fault = FAULTS[fault_name]
    if fault.writes and operation == "refresh":
        RESULTS[(fault_name, operation)] = "n/a: refresh never writes"
        return
    deployment = new_stack(**dict(fault.config))
    _prepare(deployment, operation)
    before = _state(deployment).get("BitlockerKeyAccess", {}).get("liveValue")
    fault.arm(deployment.emulator, deployment)
    started = time.monotonic()
    run = _run(deployment, operation, fault.kills_cli)
    seconds = time.monotonic() - started
    emulator = deployment.emulator
    retries = sum(1 for r in emulator.directory.requests if "retry-attempt" in r.headers)
    outcome = "ok" if run.code == 0 else _error_label(run)
    emulator.faults.clear()
    for pid in _project_processes(deployment, "pulumi.dynamic"):  # what a killed CLI left running
        os.kill(pid, signal.SIGKILL)

    # State never claims a value the tenant lacks: unchanged, or what the tenant has.
    setting = _state(deployment).get("BitlockerKeyAccess")
    if setting is not None:
        assert setting["liveValue"] in (before, deployment.tenant.bitlocker)
        assert setting["adoptedValue"] is ORIGINAL
    if fault_name == "stale reads after a write" and run.code == 0 and operation.startswith(("first up", "up")):
        deployment.stack.pulumi("preview", "--expect-no-changes")  # no false alarm after our own write

    rerun = "nothing to do" if run.code == 0 else "plain rerun"
    if fault.kills_cli and run.code != 0:
        deployment.stack.pulumi("cancel", "--yes")  # the DIY backend's lock, left by the killed CLI
        rerun = "`pulumi cancel` (Pulumi's lock), then a plain rerun"
    deployment.stack.pulumi(*_command(operation))
    _converged(deployment, operation)
    RESULTS[(fault_name, operation)] = Cell(outcome, retries, seconds, rerun)


def render() -> str:
    """docs/reliability.md for the cells of this run."""
    lines = [
        "# Reliability: every fault x operation under the real CLI",
        "",
        "Generated by `tests/e2e/test_reliability.py` (part of `make test`); do not edit by hand.",
        "Each cell: the outcome, how many requests were retried, the wall time, and what the next",
        "run needed. After every cell the test checked that state claimed no value the tenant",
        "lacked, that `adoptedValue` was still the tenant's original value, and that the rerun",
        "converged (`preview --expect-no-changes` clean; `destroy` restored the original).",
        "",
        "| fault | " + " | ".join(OPERATIONS) + " |",
        "|---|" + "---|" * len(OPERATIONS),
    ]
    for fault_name in FAULTS:
        cells = [RESULTS[(fault_name, op)] for op in OPERATIONS]
        lines.append(f"| {fault_name} | " + " | ".join(c if isinstance(c, str) else c.row() for c in cells) + " |")
    done = [c for c in RESULTS.values() if isinstance(c, Cell)]
    ok = sum(1 for c in done if c.outcome == "ok")
    ours = sum(1 for c in done if c.outcome.startswith("one line"))
    lines += [
        "",
        f"Totals: {len(RESULTS)} cells; {ok} succeeded (after bounded retries where a fault was met), "
        f"{ours} ended in one clear line of ours, {len(done) - ok - ours} were a killed CLI or provider "
        f"(Pulumi's own output), {len(RESULTS) - len(done)} cannot occur; every rerun converged.",
        "",
    ]
    return "\n".join(lines)


def test_the_committed_table_is_this_runs() -> None:
    expected = len(FAULTS) * len(OPERATIONS)
    if len(RESULTS) != expected:
        pytest.skip(f"only {len(RESULTS)} of {expected} cells ran in this session")
    committed = TABLE.read_text() if TABLE.exists() else ""
    table = render()
    TABLE.parent.mkdir(exist_ok=True)
    TABLE.write_text(table)
    assert re.sub(r"\s+", " ", committed) == re.sub(r"\s+", " ", table), "docs/reliability.md changed: review and commit it"
