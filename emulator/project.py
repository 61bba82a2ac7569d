"""The project against the emulator through the real Pulumi CLI: a project copy, a stack of it, its runs.

Shared by the tests (tests/support/engine.py adds their leak check), the benchmarks (bench/) and
anyone trying the product by hand; nothing here knows about pytest.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from urllib.request import url2pathname

import yaml

from providers.config.settings import CLIENT_SECRET, DESIRED_VALUE

from .server import Emulator
from .state import App, Tenant

__all__ = [
    "REPO",
    "Run",
    "Stack",
    "UnexpectedExitError",
    "copy_project",
    "emulator_config",
    "engine_env",
    "init_stack",
    "pulumi_bin",
]

REPO = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "program.py", "requirements.txt", "requirements.lock", "pyproject.toml")


class UnexpectedExitError(AssertionError):
    """A CLI run ended with another exit code than the caller expected (its output is in the message)."""


def pulumi_bin() -> str:
    """The directory holding `pulumi`: from PATH when new enough, else built once (scripts/ensure-pulumi.sh)."""
    done = subprocess.run([str(REPO / "scripts" / "ensure-pulumi.sh")], capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise UnexpectedExitError(f"scripts/ensure-pulumi.sh failed:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def emulator_config(emulator: Emulator, **extra: str) -> dict[str, str]:
    """Stack config that points the product at the emulator, plus `extra` keys (azuread:*)."""
    return {
        "bitlocker-policy:graphEndpoint": emulator.url,
        "bitlocker-policy:authorityHost": emulator.url,
        **{f"azuread:{key}": value for key, value in extra.items()},
    }


def copy_project(root: Path, *, venv: bool = True, extra: tuple[str, ...] = ()) -> Path:
    """A copy of the project at `root`: its files (and `extra` ones), `providers/` and `fleet/` with the
    bytecode Python already compiled for them (checked against the sources' times, so a stale file is
    recompiled), an empty `stacks/`, and (with `venv`) the repo's virtualenv linked in; a CI runner's
    checkout has none."""
    root.mkdir()
    for name in (*PROJECT_FILES, *extra):
        shutil.copy2(REPO / name, root / name)
    for package in ("providers", "fleet"):
        shutil.copytree(REPO / package, root / package)
    (root / "stacks").mkdir()
    if venv:
        (root / ".venv").symlink_to(REPO / ".venv")
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
    runs: list[Run] = field(default_factory=list, kw_only=True)

    def record(self, args: tuple[str, ...], run: Run) -> Run:
        """Keep what a run printed."""
        self.runs.append(run)
        return run

    def pulumi(self, *args: str, expect: int | None = 0, cwd: Path | None = None) -> Run:
        """Run `pulumi ARGS --stack NAME`; raise UnexpectedExitError on another exit code than `expect`."""
        command = ["pulumi", *args, "--stack", self.name, "--non-interactive", "--color", "never"]
        done = subprocess.run(
            command, cwd=cwd or self.project, env=self.env, capture_output=True, text=True, check=False, timeout=600
        )
        run = self.record(args, Run(done.returncode, done.stdout + done.stderr))
        if expect is not None and run.code != expect:
            raise UnexpectedExitError(f"`{' '.join(command)}` exited {run.code}, expected {expect}:\n{run.output}")
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


def engine_env(pulumi_bin: str, pulumi_home: Path, backend: Path, emulator: Emulator) -> dict[str, str]:
    """The environment of one CLI run: its own backend and passphrase, trusting the emulator's CA."""
    backend.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,  # the tests' autouse fixture has already scrubbed ARM_*, AZURE_*, PULUMI_*
        "PATH": f"{pulumi_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PULUMI_HOME": str(pulumi_home),
        "PULUMI_BACKEND_URL": backend.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(12),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "SSL_CERT_FILE": str(emulator.ca_path),
    }


AnyStack = TypeVar("AnyStack", bound=Stack)


def init_stack(
    stack: AnyStack,
    emulator: Emulator,
    tenant: Tenant,
    app: App,
    secret: str,
    desired: str = "false",
    *,
    config_secret: bool = False,
    **config: str,
) -> AnyStack:
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
