"""The real Pulumi CLI against the emulator: one project copy, backend, passphrase and emulator per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import Emulator
from tests.support.engine import Deployment, NewStack, Stack, copy_project, engine_env, init_stack
from tests.support.leaks import LeakCheck


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


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """This test's copy of the project."""
    return copy_project(tmp_path / "project")


@pytest.fixture
def new_stack(
    pulumi_bin: str, pulumi_home: Path, project: Path, tmp_path: Path, emulator: Emulator, leaks: LeakCheck
) -> NewStack:
    """Make `Deployment`s: stack NAME for a new tenant, its app's client secret in the stack's environment
    (ARM_CLIENT_SECRET) or, with `config_secret=True`, set by `pulumi config set --secret`."""
    env = engine_env(pulumi_bin, pulumi_home, tmp_path / "backend", emulator)
    leaks.add_secret(env["PULUMI_CONFIG_PASSPHRASE"], "the stacks' passphrase")
    leaks.roots += [tmp_path / "backend", project]

    def make(
        name: str = "tenant",
        desired: str = "false",
        bitlocker: bool = True,
        env_extra: dict[str, str] | None = None,
        config_secret: bool = False,
        **config: str,
    ) -> Deployment:
        tenant = emulator.add_tenant(bitlocker=bitlocker)
        app = tenant.add_app()
        secret = app.add_secret()
        # Tests drift the tenant right after an `up`; with the default window each preview would
        # re-read for 30 s before calling it drift. The window itself has tests of its own.
        config = {"bitlocker-policy:consistencyWindowSeconds": "0", **config}
        stack = Stack(name, project, {**env, **(env_extra or {})}, leaks)
        stack = init_stack(stack, emulator, tenant, app, secret, desired, config_secret=config_secret, **config)
        return Deployment(emulator, tenant, app, secret, stack)

    return make
