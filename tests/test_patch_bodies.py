"""Every PATCH the product sends is the one field: the guarantee the README's security section gives
for an app that holds Policy.ReadWrite.Authorization, which could write the whole authorization policy.

A tenant's life under the product, as the engine drives the providers (adoption, a drift corrected,
a new declared value, destroy's restore), and every PATCH the emulator received: each body is exactly
`{"defaultUserRolePermissions": {"allowedToReadBitlockerKeysForOwnedDevice": <bool>}}`, and nothing
else of the policy moved.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator import Emulator, Tenant
from tests.support.emulated import Configure, ServeCommand
from tests.support.provider import DESIRED, adoption_beside, inputs, preview, up


@pytest.fixture(autouse=True)
def under_pulumi_up(serve_command: ServeCommand) -> None:
    serve_command("up --yes")


def test_every_patch_of_a_tenants_life_is_the_one_field_and_nothing_else_moves(
    configure: Configure, configured: dict[str, str], emulator: Emulator, tenant: Tenant
) -> None:
    before: dict[str, Any] = json.loads(json.dumps(tenant.policy))
    configured = {**configured, "bitlocker-policy:consistencyWindowSeconds": "0"}  # the portal's flip is drift at once
    outs = up(configure(configured), tenant, False)  # adoption: the tenant allowed, the stack blocks
    emulator.set_bitlocker(tenant, True)  # an admin flips it in the portal
    for declared in (False, True, False):  # the drift corrected, then a new declared value, and back
        process = configure(configured)
        checked, _ = preview(process, outs, inputs(tenant, declared, adopted=outs["adoptedValue"]))
        outs = process.update("id", outs, checked).outs or {}
    process = configure(configured)
    process.delete("id", outs)  # destroy: the adopted value goes back
    adoption_beside(process).delete("id", {"tenantId": tenant.id, "adoptedValue": True, "stack": "test"})

    bodies = [json.loads(patch.body) for patch in emulator.graph_requests("PATCH", tenant)]
    assert [body["defaultUserRolePermissions"][DESIRED] for body in bodies] == [False, False, True, False, True]
    assert all(body == {"defaultUserRolePermissions": {DESIRED: body["defaultUserRolePermissions"][DESIRED]}} for body in bodies)
    assert tenant.policy == before  # restored, and every other property of the policy as it was
