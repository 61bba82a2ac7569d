"""Shared fixtures: a clean environment, the HTTPS emulator, a tenant and an app in it.

The controller of a parallel run imports this file too and runs no test: what only fixtures use
(the emulator, the providers, Pulumi's SDK) is imported by the fixture, so workers start 0.7 s sooner.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import reliability_doc

if TYPE_CHECKING:
    import httpx

    from emulator import Emulator, Tenant
    from providers.bitlocker import BitlockerKeyAccessProvider
    from providers.session import Session
    from tests.support.emulated import AzureCliStandIn, Configure, Registered, ServeCommand, Sleeps
    from tests.support.real_az import RealAzureCli

_MADE_CELLS = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    """One directory for this run's reliability cells, shared with xdist's workers (tests/support/reliability_doc.py)."""
    config.stash[_MADE_CELLS] = reliability_doc.start()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in tests/e2e is an engine test, so `make unit` leaves the directory out without reading it."""
    e2e = Path(__file__).parent / "e2e"
    unmarked = [item.nodeid for item in items if item.path.is_relative_to(e2e) and not item.get_closest_marker("engine")]
    if unmarked:
        raise pytest.UsageError(f"mark {', '.join(unmarked)} engine (pytest.mark.engine): tests/e2e holds engine tests only")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In the run's controller: write docs/reliability.md from every cell; fail the run when it changed."""
    if hasattr(session.config, "workerinput"):  # an xdist worker: its controller does this once
        return
    if any(Path(os.environ[reliability_doc.CELLS]).glob("*.jsonl")):  # a reliability test ran
        message = reliability_doc.finish()
        if message:
            session.config.get_terminal_writer().line(f"\nerror: {message}", red=True, bold=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if session.config.stash.get(_MADE_CELLS, False):
        reliability_doc.end()


# Variables that would let a developer's or CI's own Azure setup leak into a test.
_AMBIENT_PREFIXES = ("ARM_", "AZURE_", "ACTIONS_ID_TOKEN_", "IDENTITY_", "MSI_", "IMDS_", "PULUMI_", "SYSTEM_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No ambient credentials, no custom CA, no proxy, and no developer's own `az` on PATH."""
    for name in list(os.environ):
        if name.startswith(_AMBIENT_PREFIXES) or name == "SSL_CERT_FILE" or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    no_az = os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep) if not os.path.exists(os.path.join(d, "az")))
    monkeypatch.setenv("PATH", no_az)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))  # a discovery cache per test


@pytest.fixture
def sleeps() -> Sleeps:
    from tests.support.emulated import Sleeps

    return Sleeps()


@pytest.fixture
def http(sleeps: Sleeps) -> Iterator[httpx.Client]:
    """The product's HTTP client (system trust store or SSL_CERT_FILE), retry waits recorded, not taken."""
    from providers.graph.retry import RetryPolicy
    from providers.session import new_http_client

    with new_http_client(retry=RetryPolicy(base_delay=0.01), sleep=sleeps) as client:
        yield client


@pytest.fixture(scope="session")
def pulumi_bin() -> str:
    """The directory with `pulumi`: from PATH when new enough, else built once (scripts/ensure-pulumi.sh)."""
    from emulator.project import UnexpectedExitError
    from emulator.project import pulumi_bin as find_pulumi

    try:
        return find_pulumi()
    except UnexpectedExitError as failed:
        pytest.fail(str(failed), pytrace=False)


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """One emulator for the in-process tests; each test gets its own tenant."""
    from emulator import Emulator

    emulator = Emulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def trust_emulator(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust the emulator's CA the way users trust a custom CA: SSL_CERT_FILE."""
    monkeypatch.setenv("SSL_CERT_FILE", str(emulator.ca_path))


@pytest.fixture(autouse=True)
def calm_emulator(emulator: Emulator) -> Iterator[None]:
    """Faults switched on by one test end with it."""
    yield
    emulator.faults.clear()


@pytest.fixture
def tenant(emulator: Emulator) -> Tenant:
    """A tenant whose device owners may read their keys (the Entra default)."""
    return emulator.add_tenant(bitlocker=True)


@pytest.fixture
def registered(tenant: Tenant) -> Registered:
    """An app with Policy.ReadWrite.Authorization and a client secret."""
    from tests.support.emulated import Registered

    app = tenant.add_app()
    return Registered(app, app.add_secret())


@pytest.fixture
def configured(emulator: Emulator, registered: Registered, trust_emulator: None) -> dict[str, str]:
    """Stack config for the emulator with a client secret."""
    from tests.support.emulated import emulator_config

    return emulator_config(emulator, clientId=registered.app.client_id, clientSecret=registered.secret)


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    """Make a provider as a new provider process does: `configure(req)` with the stack config."""
    from pulumi.dynamic import ConfigureRequest
    from pulumi.dynamic.config import Config

    from providers import provider_base
    from providers.bitlocker import BitlockerKeyAccessProvider

    monkeypatch.setattr(sys, "tracebacklimit", 1000, raising=False)  # configure sets it to 0

    made: list[Session] = []

    def make(config: dict[str, str]) -> BitlockerKeyAccessProvider:
        monkeypatch.setattr(provider_base, "_sessions", {})  # a new process starts with none
        provider = BitlockerKeyAccessProvider()
        provider.configure(ConfigureRequest(Config(config, "bitlocker-policy")))
        made.append(provider.session)
        return provider

    yield make
    for session in made:
        session.close()


@pytest.fixture
def provider(configure: Configure, configured: dict[str, str]) -> BitlockerKeyAccessProvider:
    """A provider configured with a client secret for the emulator."""
    return configure(configured)


@pytest.fixture
def serve_command(monkeypatch: pytest.MonkeyPatch) -> ServeCommand:
    """Make this test's provider processes serve `pulumi ARGS` (in-process, no CLI is their ancestor)."""
    from providers.config import invocation

    def serve(args: str) -> None:
        command = invocation.PulumiCommand(("pulumi", *args.split()))
        monkeypatch.setattr(invocation, "pulumi_command", lambda: command)

    return serve


@pytest.fixture
def real_az(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RealAzureCli:
    """The real Azure CLI first on PATH, with a configuration of its own pointed at the emulator (signed out)."""
    from tests.support.emulated import set_env
    from tests.support.real_az import RealAzureCli
    from tests.support.tools import ensure_tool

    cli = RealAzureCli(ensure_tool("azure-cli"), tmp_path / "azure-config", emulator)
    set_env(monkeypatch, cli.env(os.environ["PATH"]))
    return cli


@pytest.fixture
def azure_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AzureCliStandIn:
    """A signed-out stand-in `az` (tests/support/fake_az.py) first on PATH, for what the real CLI cannot
    show here: user accounts (`az login` as a person needs a browser or a device code)."""
    from tests.support.emulated import AzureCliStandIn, set_env

    bin_dir = tmp_path / "az-bin"
    bin_dir.mkdir()
    script = bin_dir / "az"
    script.write_text(f"#!{sys.executable}\n" + (Path(__file__).parent / "support" / "fake_az.py").read_text())
    script.chmod(0o755)
    stand_in = AzureCliStandIn(bin_dir, tmp_path / "az-state.json")
    set_env(monkeypatch, stand_in.env(os.environ["PATH"]))
    return stand_in
