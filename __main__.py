"""The program: for the stack's tenant, the adoption record and the BitlockerKeyAccess setting it feeds."""

from __future__ import annotations

import os

import pulumi

from providers import BitlockerAdoption, BitlockerKeyAccess
from providers.adoption import ADOPTION_NAME
from providers.settings import DESIRED_VALUE, TENANT_ID, Setting, Sources


def setting(wanted: Setting) -> str | None:
    """The stack config value, else the setting's environment variables."""
    namespace, name = wanted.key.split(":", 1)
    return Sources({wanted.key: pulumi.Config(namespace).get(name)}, os.environ).get(wanted)


def parse_bool(raw: str | None) -> bool | str | None:
    """true/false as a bool; anything else passes through for the provider's check to name."""
    return {"true": True, "false": False}.get((raw or "").strip().lower(), raw)


tenant_id = setting(TENANT_ID) or ""
# Read-only, and checkpointed by the engine before the setting is even checked: the value
# found at adoption is in state before the first PATCH, whatever happens after.
adoption = BitlockerAdoption(ADOPTION_NAME, tenant_id=tenant_id)
access = BitlockerKeyAccess(
    "bitlocker-key-access",
    tenant_id=tenant_id,
    allowed=parse_bool(setting(DESIRED_VALUE)),  # type: ignore[arg-type]
    adopted_value=adoption.adoptedValue,
    adoption_record=adoption.id,
)

pulumi.export("tenantId", access.tenantId)
pulumi.export("allowedToReadBitlockerKeysForOwnedDevice", access.allowedToReadBitlockerKeysForOwnedDevice)
pulumi.export("liveValue", access.liveValue)
pulumi.export("adoptedValue", access.adoptedValue)
pulumi.export("lastPatchRequestId", access.lastPatchRequestId)
pulumi.export("lastPatchAt", access.lastPatchAt)
