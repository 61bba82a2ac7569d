"""The providers driven in-process as the engine drives them: the setting's inputs, a first `up`, a later preview.

Shared by the provider's tests and the tests that run it over hostile audit logs and whole tenant lives.
"""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from emulator import Tenant
from providers.adoption import BitlockerAdoptionProvider
from providers.bitlocker import BitlockerKeyAccessProvider
from providers.properties import DECLARED_PROPERTY

__all__ = ["DESIRED", "adoption_beside", "inputs", "preview", "up"]

DESIRED = DECLARED_PROPERTY


def inputs(tenant: Tenant, desired: Any, spelling: str | None = None, adopted: Any = True) -> dict[str, Any]:
    """The setting's inputs as the program declares them."""
    return {
        "tenantId": spelling or tenant.id,
        DESIRED: desired,
        "adoptedValue": adopted,
        "adoptionRecord": f"{tenant.id}/adoption",
        "stack": "test",
        "liveValue": None,
    }


def adoption_beside(provider: BitlockerKeyAccessProvider) -> BitlockerAdoptionProvider:
    """The adoption provider of the same provider process, configured as the host configures it."""
    adoption = BitlockerAdoptionProvider()
    adoption.configure(ConfigureRequest(Config(dict(provider.session.sources.config), "bitlocker-policy")))
    assert adoption.session is provider.session  # one process, one Session
    return adoption


def up(provider: BitlockerKeyAccessProvider, tenant: Tenant, desired: bool, spelling: str | None = None) -> dict[str, Any]:
    """A first `up` in one provider process: adoption create, then the setting's check and create."""
    found = adoption_beside(provider).create({"tenantId": spelling or tenant.id}).outs or {}
    checked = provider.check({}, inputs(tenant, desired, spelling, adopted=found["adoptedValue"])).inputs
    return provider.create(checked).outs or {}


def preview(provider: BitlockerKeyAccessProvider, outs: dict[str, Any], news: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A later run in a new provider process: check, then diff; the checked inputs and whether it changes."""
    checked = provider.check({}, news).inputs
    return checked, bool(provider.diff("id", outs, checked).changes)
