"""The real Pulumi CLI against the emulator, for the end-to-end tests: emulator/project.py's stack, whose every
run is leak-checked and whose unexpected exit fails the test with the CLI's output."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emulator import App, Emulator, Tenant, project
from emulator.project import REPO, Run, copy_project, engine_env, init_stack
from tests.support.leaks import LeakCheck

__all__ = [
    "REPO",
    "Deployment",
    "NewStack",
    "Run",
    "Stack",
    "copy_project",
    "copy_project_with_pack",
    "engine_env",
    "fleet",
    "init_stack",
]


@dataclass
class Stack(project.Stack):
    """A stack whose every CLI run is leak-checked, and whose unexpected exit code fails the test."""

    leaks: LeakCheck = field(default_factory=LeakCheck)

    def record(self, args: tuple[str, ...], run: Run) -> Run:
        """Keep what a run printed, for the test and for its leak check."""
        self.leaks.printed(" ".join(("pulumi", *args[:2], *(a for a in args if a == "--show-secrets"))), run.output)
        return super().record(args, run)

    def pulumi(self, *args: str, expect: int | None = 0, cwd: Path | None = None) -> Run:
        """Run `pulumi ARGS --stack NAME`; fail the test on an unexpected exit code."""
        try:
            return super().pulumi(*args, expect=expect, cwd=cwd)
        except project.UnexpectedExitError as unexpected:
            pytest.fail(str(unexpected), pytrace=False)


def copy_project_with_pack(root: Path, pack_venv: Path) -> Path:
    """A project copy (copy_project) with its policy pack, the pack's own virtualenv linked in."""
    copy_project(root)
    shutil.copytree(REPO / "policy", root / "policy", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    (root / "policy" / "venv").symlink_to(pack_venv)
    return root


@dataclass
class Deployment:
    """A tenant in the emulator, an app allowed to change its policy, and a stack for it."""

    emulator: Emulator
    tenant: Tenant
    app: App
    secret: str
    stack: Stack

    def graph_calls(self) -> list[str]:
        """Methods of the Graph requests for this tenant so far."""
        return [r.method for r in self.emulator.graph_requests(tenant=self.tenant)]


NewStack = Callable[..., Deployment]


def fleet(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m fleet ARGS` in the project (stderr is a pipe, as in a CI log)."""
    command = [sys.executable, "-m", "fleet", *args]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False, timeout=600)
