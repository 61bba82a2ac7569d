"""The program: one BitlockerKeyAccess resource for the stack's tenant."""

from __future__ import annotations

import os

import pulumi

from providers import BitlockerKeyAccess
from providers.settings import DESIRED_VALUE, RETAIN_ON_DELETE, TENANT_ID, Setting, Sources


def setting(wanted: Setting) -> str | None:
    """The stack config value, else the setting's environment variables."""
    namespace, name = wanted.key.split(":", 1)
    return Sources({wanted.key: pulumi.Config(namespace).get(name)}, os.environ).get(wanted)


def parse_bool(raw: str | None) -> bool | str | None:
    """true/false as a bool; anything else passes through for the provider's check to name."""
    return {"true": True, "false": False}.get((raw or "").strip().lower(), raw)


access = BitlockerKeyAccess(
    "bitlocker-key-access",
    tenant_id=setting(TENANT_ID) or "",
    allowed=parse_bool(setting(DESIRED_VALUE)),  # type: ignore[arg-type]
    opts=pulumi.ResourceOptions(retain_on_delete=parse_bool(setting(RETAIN_ON_DELETE)) is True),
)

pulumi.export("tenantId", access.tenantId)
pulumi.export("allowedToReadBitlockerKeysForOwnedDevice", access.allowedToReadBitlockerKeysForOwnedDevice)
pulumi.export("liveValue", access.liveValue)
pulumi.export("adoptedValue", access.adoptedValue)
pulumi.export("lastPatchRequestId", access.lastPatchRequestId)
