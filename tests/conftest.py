"""Shared fixtures: a clean environment, the HTTPS emulator, a tenant and an app in it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from providers import session
from tests.emulator import App, Emulator, Tenant

# Variables that would let a developer's or CI's own Azure setup leak into a test.
_AMBIENT_PREFIXES = ("ARM_", "AZURE_", "ACTIONS_ID_TOKEN_", "IDENTITY_", "MSI_", "IMDS_", "PULUMI_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ambient credentials, no custom CA, and a fresh per-process session."""
    for name in list(os.environ):
        if name.startswith(_AMBIENT_PREFIXES) or name == "SSL_CERT_FILE":
            monkeypatch.delenv(name)
    monkeypatch.setattr(session, "_sources", None)
    monkeypatch.setattr(session, "_http", None)
    monkeypatch.setattr(session, "_clients", {})
    yield
    if session._http is not None:
        session._http.close()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """The product's HTTP client (system trust store or SSL_CERT_FILE), closed after the test."""
    with session.new_http_client() as client:
        yield client


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """One emulator for the in-process tests; each test gets its own tenant."""
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


@dataclass
class Registered:
    """An app registration with a client secret."""

    app: App
    secret: str


@pytest.fixture
def registered(tenant: Tenant) -> Registered:
    """An app with Policy.ReadWrite.Authorization and a client secret."""
    app = tenant.add_app()
    return Registered(app, app.add_secret())


def emulator_config(emulator: Emulator, **extra: str) -> dict[str, str]:
    """Stack config that points the product at the emulator, plus `extra` keys (azuread:*)."""
    return {
        "bitlocker-policy:graphEndpoint": emulator.url,
        "bitlocker-policy:authorityHost": emulator.url,
        **{f"azuread:{key}": value for key, value in extra.items()},
    }


@pytest.fixture
def configured(emulator: Emulator, registered: Registered, trust_emulator: None) -> dict[str, str]:
    """The session configured as `configure(req)` would, with a client secret."""
    config = emulator_config(emulator, clientId=registered.app.client_id, clientSecret=registered.secret)
    session.configure(config)
    return config
