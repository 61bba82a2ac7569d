"""The program: for the stack's tenant, the adoption record and the BitlockerKeyAccess setting it feeds.

A function, as Pulumi's Automation API takes a program (pulumi/automation-api-examples,
python/inline_local_hybrid): `__main__.py` calls it for the CLI, and `fleet` passes it as
`program=` to run every stack inline.
"""

from __future__ import annotations

import os

import pulumi

from providers import BitlockerAdoption, BitlockerKeyAccess
from providers.config.settings import DESIRED_VALUE, TENANT_ID, Sources, parse_bool
from providers.properties import ADOPTION_NAME, SETTING_NAME, StackOutputs, names

__all__ = ["declare"]


def declare() -> None:
    """Declare the stack's resources and export what pipelines read (StackOutputs)."""
    # The stack's config as the CLI hands the program (secrets decrypted, Pulumi.yaml's values,
    # `--config-file`), then the environment: read as the provider and the fleet read it.
    settings = Sources({key: pulumi.runtime.get_config(key) for key in (TENANT_ID.key, DESIRED_VALUE.key)}, os.environ)
    tenant_id = settings.get(TENANT_ID) or ""
    # Read-only, and checkpointed by the engine before the setting is even checked: the value
    # found at adoption is in state before the first PATCH, whatever happens after.
    adoption = BitlockerAdoption(ADOPTION_NAME, tenant_id=tenant_id)
    raw = settings.get(DESIRED_VALUE)
    declared = parse_bool(raw)
    access = BitlockerKeyAccess(
        SETTING_NAME,
        tenant_id=tenant_id,
        allowed=declared if declared is not None else raw,  # type: ignore[arg-type]  # `check` names what it is
        adopted_value=adoption.adoptedValue,
        adoption_record=adoption.id,
    )
    for name in names(StackOutputs):
        pulumi.export(name, getattr(access, name))
