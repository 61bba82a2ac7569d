"""The real Pulumi CLI against the emulator: a project copy, a stack of it, and what each CLI run printed.

Used by the end-to-end tests (tests/e2e/) and by the benchmarks (bench/).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest
import yaml

from providers.config.settings import CLIENT_SECRET, DESIRED_VALUE
from tests.emulator import App, Emulator, Tenant
from tests.support.emulated import emulator_config
from tests.support.leaks import LeakCheck
from tests.support.paths import REPO

__all__ = [
    "PROJECT_FILES",
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

PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "program.py", "requirements.txt", "requirements.lock", "pyproject.toml")


def copy_project(root: Path, *, venv: bool = True, extra: tuple[str, ...] = ()) -> Path:
    """A copy of the project at `root`: its files (and `extra` ones), `providers/` and `fleet/`, an empty
    `stacks/`, and (with `venv`) the repo's virtualenv linked in; a CI runner's checkout has none."""
    root.mkdir()
    for name in (*PROJECT_FILES, *extra):
        shutil.copy2(REPO / name, root / name)
    for package in ("providers", "fleet"):
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "stacks").mkdir()
    if venv:
        (root / ".venv").symlink_to(REPO / ".venv")
    return root


def copy_project_with_pack(root: Path, pack_venv: Path) -> Path:
    """A project copy (copy_project) with its policy pack, the pack's own virtualenv linked in."""
    copy_project(root)
    shutil.copytree(REPO / "policy", root / "policy", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    (root / "policy" / "venv").symlink_to(pack_venv)
    return root


@dataclass
class Run:
    """One CLI invocation: exit code and everything it printed."""

    code: int
    output: str


@dataclass
class Stack:
    """A stack of the project copy, driven through the real CLI."""

    name: str
    project: Path
    env: dict[str, str]
    leaks: LeakCheck = field(default_factory=LeakCheck)  # tests pass theirs; bench runs need none
    runs: list[Run] = field(default_factory=list)

    def record(self, args: tuple[str, ...], run: Run) -> Run:
        """Keep what a run printed, for the test and for its leak check."""
        self.runs.append(run)
        self.leaks.printed(" ".join(("pulumi", *args[:2], *(a for a in args if a == "--show-secrets"))), run.output)
        return run

    def pulumi(self, *args: str, expect: int | None = 0, cwd: Path | None = None) -> Run:
        """Run `pulumi ARGS --stack NAME`; fail the test on an unexpected exit code."""
        command = ["pulumi", *args, "--stack", self.name, "--non-interactive", "--color", "never"]
        done = subprocess.run(
            command, cwd=cwd or self.project, env=self.env, capture_output=True, text=True, check=False, timeout=600
        )
        run = self.record(args, Run(done.returncode, done.stdout + done.stderr))
        if expect is not None and run.code != expect:
            pytest.fail(f"`{' '.join(command)}` exited {run.code}, expected {expect}:\n{run.output}", pytrace=False)
        return run

    def configure(self, plaintext: dict[str, str], secret: dict[str, str] | None = None) -> None:
        """`pulumi config set-all` for these keys (secret ones with --secret)."""
        args = [f"--plaintext={k}={v}" for k, v in plaintext.items()]
        args += [f"--secret={k}={v}" for k, v in (secret or {}).items()]
        self.pulumi("config", "set-all", *args)

    def resources(self) -> list[dict[str, Any]]:
        """The resources in the stack's state, read from the file backend's checkpoint: what
        `pulumi stack export` prints under `deployment`, without a CLI run (secrets stay encrypted)."""
        backend = Path(url2pathname(urlsplit(self.env["PULUMI_BACKEND_URL"]).path))
        project = yaml.safe_load((self.project / "Pulumi.yaml").read_text())["name"]
        checkpoint = json.loads((backend / ".pulumi" / "stacks" / project / f"{self.name}.json").read_text())
        return list((checkpoint["checkpoint"].get("latest") or {}).get("resources") or [])

    def outputs(self) -> dict[str, Any]:
        """The stack outputs (the Stack resource's outputs in state, as `pulumi stack output` shows them)."""
        stack = next((r for r in self.resources() if r["type"] == "pulumi:pulumi:Stack"), {})
        return dict(stack.get("outputs") or {})


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


def engine_env(pulumi_bin: str, pulumi_home: Path, backend: Path, emulator: Emulator) -> dict[str, str]:
    """The environment of one CLI run: its own backend and passphrase, trusting the emulator's CA."""
    backend.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,  # already scrubbed of ARM_*, AZURE_*, PULUMI_* by the autouse fixture
        "PATH": f"{pulumi_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PULUMI_HOME": str(pulumi_home),
        "PULUMI_BACKEND_URL": backend.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(12),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "SSL_CERT_FILE": str(emulator.ca_path),
    }


def init_stack(
    stack: Stack,
    emulator: Emulator,
    tenant: Tenant,
    app: App,
    secret: str,
    desired: str = "false",
    *,
    config_secret: bool = False,
    **config: str,
) -> Stack:
    """`stack init`, then the config for the emulator's tenant written into the stack's file, as a user edits it.

    The client secret is ARM_CLIENT_SECRET in the stack's environment, or with `config_secret`
    set by `pulumi config set --secret` (the one part of the file only the CLI can write).
    """
    stack.pulumi("stack", "init")
    plain = {**emulator_config(emulator, tenantId=tenant.id, clientId=app.client_id), DESIRED_VALUE.key: desired, **config}
    stack_file = stack.project / "stacks" / f"Pulumi.{stack.name}.yaml"
    content = yaml.safe_load(stack_file.read_text()) or {}
    stack_file.write_text(yaml.safe_dump({**content, "config": {**(content.get("config") or {}), **plain}}))
    if config_secret:
        stack.configure({}, secret={CLIENT_SECRET.key: secret})
    else:
        stack.env["ARM_CLIENT_SECRET"] = secret
    return stack


NewStack = Callable[..., Deployment]


def fleet(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m fleet ARGS` in the project (stderr is a pipe, as in a CI log)."""
    command = [sys.executable, "-m", "fleet", *args]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False, timeout=600)
