"""The real Pulumi CLI against the emulator: one project copy, backend, passphrase and emulator per test."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from providers.settings import CLIENT_SECRET, DESIRED_VALUE
from tests.conftest import emulator_config
from tests.emulator import App, Emulator, Tenant
from tests.support.leaks import LeakCheck

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "requirements.txt")


@pytest.fixture(scope="session")
def pulumi_bin() -> str:
    """The directory with `pulumi`: from PATH when new enough, else built once (scripts/ensure-pulumi.sh)."""
    result = subprocess.run(
        [str(REPO / "scripts" / "ensure-pulumi.sh")], capture_output=True, text=True, check=False, timeout=1800
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/ensure-pulumi.sh failed:\n{result.stderr}", pytrace=False)
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def pulumi_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PULUMI_HOME of the test run's own, so no user's login or plugins leak in."""
    return tmp_path_factory.mktemp("pulumi-home")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh emulator for each engine test (overrides the session-wide one)."""
    emulator = Emulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def leaks(emulator: Emulator, pulumi_home: Path) -> Iterator[LeakCheck]:
    """Every end-to-end test ends by looking for every credential in everything its run left.

    Tests add what they configured (a passphrase, a key) and where they wrote (backend,
    project); the emulator's credentials, PULUMI_HOME and this test's discovery cache are
    always looked at.
    """
    check = LeakCheck(roots=[pulumi_home, Path(os.environ["XDG_CACHE_HOME"])])
    yield check
    check.secrets |= emulator.credentials()
    findings = check.findings()
    assert not findings, "secrets leaked:\n" + "\n".join(findings)


def copy_project(root: Path) -> Path:
    """A copy of the project (the real files, the repo's virtualenv, no stacks) at `root`."""
    root.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(REPO / name, root / name)
    shutil.copytree(REPO / "providers", root / "providers", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "stacks").mkdir()
    (root / ".venv").symlink_to(REPO / ".venv")
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """This test's copy of the project."""
    return copy_project(tmp_path / "project")


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

    def outputs(self) -> dict[str, object]:
        """The stack outputs."""
        return dict(json.loads(self.pulumi("stack", "output", "--json").output))


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
    stack: Stack, emulator: Emulator, tenant: Tenant, app: App, secret: str, desired: str = "false", **config: str
) -> Stack:
    """`stack init`, then config for the emulator's tenant, with the secret set by `config set --secret`."""
    stack.pulumi("stack", "init")
    stack.configure(
        {**emulator_config(emulator, tenantId=tenant.id, clientId=app.client_id), DESIRED_VALUE.key: desired, **config},
        secret={CLIENT_SECRET.key: secret},
    )
    return stack


NewStack = Callable[..., Deployment]


@pytest.fixture
def new_stack(
    pulumi_bin: str, pulumi_home: Path, project: Path, tmp_path: Path, emulator: Emulator, leaks: LeakCheck
) -> NewStack:
    """Make `Deployment`s: stack NAME for a new tenant, with a client secret set by `config set --secret`."""
    env = engine_env(pulumi_bin, pulumi_home, tmp_path / "backend", emulator)
    leaks.add_secret(env["PULUMI_CONFIG_PASSPHRASE"], "the stacks' passphrase")
    leaks.roots += [tmp_path / "backend", project]

    def make(
        name: str = "tenant",
        desired: str = "false",
        bitlocker: bool = True,
        env_extra: dict[str, str] | None = None,
        **config: str,
    ) -> Deployment:
        tenant = emulator.add_tenant(bitlocker=bitlocker)
        app = tenant.add_app()
        secret = app.add_secret()
        # Tests drift the tenant right after an `up`; with the default window each preview would
        # re-read for 30 s before calling it drift. The window itself has tests of its own.
        config = {"bitlocker-policy:consistencyWindowSeconds": "0", **config}
        stack = Stack(name, project, {**env, **(env_extra or {})}, leaks)
        stack = init_stack(stack, emulator, tenant, app, secret, desired, **config)
        return Deployment(emulator, tenant, app, secret, stack)

    return make
