"""The program: for the stack's tenant, the adoption record and the BitlockerKeyAccess setting it feeds.

A function, as Pulumi's Automation API takes a program (pulumi/automation-api-examples,
python/inline_local_hybrid): `__main__.py` calls it for the CLI, and `fleet` passes it as
`program=` to run every stack inline.
"""

from __future__ import annotations

import os

import pulumi

from providers import BitlockerAdoption, BitlockerKeyAccess
from providers.properties import ADOPTION_NAME, SETTING_NAME, StackOutputs, names
from providers.settings import DESIRED_VALUE, TENANT_ID, Setting, Sources, parse_declared

__all__ = ["declare"]


def declare() -> None:
    """Declare the stack's resources and export what pipelines read (StackOutputs)."""
    tenant_id = _setting(TENANT_ID) or ""
    # Read-only, and checkpointed by the engine before the setting is even checked: the value
    # found at adoption is in state before the first PATCH, whatever happens after.
    adoption = BitlockerAdoption(ADOPTION_NAME, tenant_id=tenant_id)
    raw = _setting(DESIRED_VALUE)
    declared = parse_declared(raw)
    access = BitlockerKeyAccess(
        SETTING_NAME,
        tenant_id=tenant_id,
        allowed=declared if declared is not None else raw,  # type: ignore[arg-type]  # `check` names what it is
        adopted_value=adoption.adoptedValue,
        adoption_record=adoption.id,
    )
    for name in names(StackOutputs):
        pulumi.export(name, getattr(access, name))


def _setting(wanted: Setting) -> str | None:
    """The stack config value, else the setting's environment variables."""
    namespace, name = wanted.key.split(":", 1)
    return Sources({wanted.key: pulumi.Config(namespace).get(name)}, os.environ).get(wanted)
