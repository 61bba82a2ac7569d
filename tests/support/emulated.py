"""What in-process tests need around the emulator: config that points at it, an app, recorded waits, the stand-in `az`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest

from emulator import App, Emulator, Tenant
from emulator.project import emulator_config
from providers.bitlocker import BitlockerKeyAccessProvider

__all__ = [
    "AzureCliStandIn",
    "Configure",
    "Registered",
    "ServeCommand",
    "Sleeps",
    "assertion_subjects",
    "emulator_config",
    "set_env",
]

Configure = Callable[[dict[str, str]], BitlockerKeyAccessProvider]
"""Make a provider as a new provider process does: `configure(req)` with the stack config (the `configure` fixture)."""
ServeCommand = Callable[[str], None]
"""Make this test's provider processes serve `pulumi ARGS` (the `serve_command` fixture)."""


class Sleeps(list[float]):
    """Records the waits instead of taking them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass
class Registered:
    """An app registration with a client secret."""

    app: App
    secret: str


@dataclass
class AzureCliStandIn:
    """The stand-in `az` on PATH, and the accounts it is signed in to."""

    bin_dir: Path
    state: Path

    def sign_in(self, tokens: dict[str, str]) -> None:
        """`az login`: the access token `az` hands out per tenant."""
        self.state.write_text(json.dumps({"tokens": tokens}))

    def hang(self, pidfile: Path) -> None:
        """Make `az` hang, with a child of its own (whose pid goes to `pidfile`) holding its output open."""
        self.state.write_text(json.dumps({"hang": str(pidfile)}))

    def env(self, path: str) -> dict[str, str]:
        """What a process whose PATH is `path` needs to find this `az` first."""
        return {"PATH": f"{self.bin_dir}{os.pathsep}{path}", "FAKE_AZ_STATE": str(self.state)}


def assertion_subjects(emulator: Emulator, tenant: Tenant) -> list[str]:
    """The `sub` of every client assertion Entra accepted for `tenant` (answered 200), in order."""
    subjects = []
    for request in emulator.token_requests(tenant):
        form = parse_qs(request.body.decode())
        if request.status == 200 and "client_assertion" in form:
            subjects.append(jwt.decode(form["client_assertion"][0], options={"verify_signature": False})["sub"])
    return subjects


def set_env(monkeypatch: pytest.MonkeyPatch, values: Mapping[str, str]) -> None:
    """Set every variable of `values` for this test (an emulated machine's or CI job's environment)."""
    for name, value in values.items():
        monkeypatch.setenv(name, value)
