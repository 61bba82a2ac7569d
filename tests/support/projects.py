"""Projects the in-process fleet tests run on: stack files naming tenants, no engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator import Emulator, Tenant

__all__ = ["drift_ready", "stacks_project"]


def stacks_project(tmp_path: Path, emulator: Emulator, tenants: dict[str, str]) -> Path:
    """A project whose stacks/ has one config file per stack, each naming a tenant."""
    (tmp_path / "Pulumi.yaml").write_text("name: bitlocker-policy\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    for stack, tenant in tenants.items():
        (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(
            f"config:\n  azuread:tenantId: {tenant}\n  bitlocker-policy:authorityHost: {emulator.url}\n"
        )
    return tmp_path


def drift_ready(tmp_path: Path, emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose one stack, `good`, `fleet drift` can read (an app with a secret in the environment)."""
    app = tenant.add_app()
    monkeypatch.setenv("ARM_CLIENT_ID", app.client_id)
    monkeypatch.setenv("ARM_CLIENT_SECRET", app.add_secret())
    root = stacks_project(tmp_path, emulator, {"good": tenant.id})
    path = root / "stacks" / "Pulumi.good.yaml"
    path.write_text(
        path.read_text() + f"  bitlocker-policy:graphEndpoint: {emulator.url}\n"
        '  bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice: "true"\n'
    )
    return root
