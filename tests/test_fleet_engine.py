"""fleet/engine.py without the CLI: the Automation API as published, what a locked stack says, how long --lock-wait waits."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pulumi.automation import CommandResult, errors

from fleet import engine as engine_module
from fleet.engine import Engine, lock_failure
from fleet.outcome import FAILED, NONE, Outcome

# What the DIY backend writes when it finds locks (pulumi/pulumi pkg/backend/diy/lock.go, checkForLock),
# and Pulumi Cloud's answer (pulumi/automation/errors.py, conflict_text).
DIY_LOCKED = (
    "error: the stack is currently locked by 2 lock(s). Either wait for the other process(es) to end or delete the lock "
    "file with `pulumi cancel`.\n"
    "  file:///state/.pulumi/locks/organization/bitlocker-policy/contoso/1.json: created by runner@ci-7 (pid 4242) at "
    "2026-12-07T10:00:00Z\n"
    "  file:///state/.pulumi/locks/organization/bitlocker-policy/contoso/2.json: created by ann@laptop (pid 77) at "
    "2026-12-07T10:05:00Z\n"
)
CLOUD_LOCKED = "error: [409] Conflict: Another update is currently in progress.\n"
HOLDERS = "runner@ci-7, pid 4242, since 2026-12-07T10:00:00Z; ann@laptop, pid 77, since 2026-12-07T10:05:00Z"


def test_the_engine_uses_the_automation_api_as_published() -> None:
    """No import of a private module of Pulumi's, no subclass of its classes: upgrades keep their promises."""
    tree = ast.parse(Path(str(engine_module.__file__)).read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert [name for name in imported if name.startswith("pulumi") and "._" in name] == []
    bases = [ast.unparse(base) for node in ast.walk(tree) if isinstance(node, ast.ClassDef) for base in node.bases]
    assert [base for base in bases if base.startswith(("auto.", "pulumi"))] == []


def conflict(stderr: str) -> errors.CommandError:
    """The error the Automation API raises for `stderr` (it must be a ConcurrentUpdateError)."""
    error = errors.create_command_error(CommandResult("", stderr, 255))
    assert isinstance(error, errors.ConcurrentUpdateError)
    return error


@pytest.mark.parametrize(
    ("stderr", "by"),
    [
        (
            DIY_LOCKED,
            "by another run (runner@ci-7, pid 4242, since 2026-12-07T10:00:00Z; ann@laptop, pid 77, since 2026-12-07T10:05:00Z)",
        ),
        (CLOUD_LOCKED, "by another update"),
        (DIY_LOCKED.replace("runner@ci-7", "runner@ci-7\u202e"), "by another run (runner@ci-7 , pid 4242, since"),
    ],
    ids=["diy", "pulumi cloud", "hostile holder"],
)
def test_a_locked_stack_says_by_whom_and_names_pulumi_cancel(stderr: str, by: str) -> None:
    assert lock_failure("contoso", conflict(stderr)).startswith(f"stack contoso is locked {by}")
    assert lock_failure("contoso", conflict(stderr)).endswith(
        ": let that run finish (or wait for it with --lock-wait SECONDS); "
        "if it was killed, release the lock with `pulumi cancel --stack contoso`"
    )


class _Locked:
    """An Engine._run_once that finds the stack locked `times` times, then runs."""

    def __init__(self, times: int):
        self.times = times
        self.calls = 0

    def __call__(self, outcome: Outcome, command: str) -> object:
        self.calls += 1
        if self.calls <= self.times:
            raise conflict(DIY_LOCKED)
        return "events"


@pytest.mark.parametrize(
    ("lock_wait", "times", "sleeps", "result"),
    [
        (0.0, 1, [], None),  # the default: fail at once
        (100.0, 3, [1.0, 2.0, 4.0], "events"),  # waits with growing pauses, then runs
        (10.0, 99, [1.0, 2.0, 4.0, 3.0], None),  # the wait is bounded: the last pause is what is left
    ],
    ids=["no wait", "lock released", "wait over"],
)
def test_lock_wait_retries_a_locked_stack_within_its_bound(
    monkeypatch: pytest.MonkeyPatch, lock_wait: float, times: int, sleeps: list[float], result: object
) -> None:
    clock = [0.0]
    monkeypatch.setattr("fleet.engine.time.monotonic", lambda: clock[0])
    slept: list[float] = []
    said: list[str] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    engine = Engine(Path("."), lambda: None, lock_wait=lock_wait, say=said.append, sleep=sleep)
    monkeypatch.setattr(engine, "_run_once", _Locked(times))
    outcome = Outcome("contoso", "tenant")
    assert engine._run(outcome, "up") == result
    assert slept == sleeps
    assert said == ([f"stack contoso is locked by another run ({HOLDERS}): waiting up to {lock_wait:.0f} s"] if sleeps else [])
    assert (outcome.action, outcome.error is not None) == ((NONE, False) if result else (FAILED, True))
