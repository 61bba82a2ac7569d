"""A read of a device's BitLocker recovery key, as Entra's audit log records it (until the emulator has its own).

Activity "Read BitLocker key", category KeyManagement (learn.microsoft.com/entra/architecture/
security-operations-devices, "BitLocker key retrieval"); the key in targetResources[0].displayName
and the reader in initiatedBy.user.userPrincipalName (Azure/Azure-Sentinel, Hunting Queries/
AuditLogs/BitLockerKeyRetrieval.yaml). Another change gives the emulator `Emulator.read_key(tenant,
by, device)` with this signature; the lab then calls that and this module goes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from .server import Emulator
from .state import Tenant

__all__ = ["read_key"]


def read_key(emulator: Emulator, tenant: Tenant, by: str, device: str = "LAPTOP-01") -> str:
    """`by` (a UPN) reads `device`'s recovery key, in the portal say: the audit log records it. The key's id."""
    key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant.id}/{device}"))
    now = datetime.now(UTC)
    correlation = str(uuid.uuid4())
    user = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, by)), "displayName": by.split("@")[0].title(), "userPrincipalName": by}
    event: dict[str, Any] = {
        "id": f"Directory_{correlation}_{uuid.uuid4().hex[:5].upper()}_{int(now.timestamp()) % 10**9}",
        "category": "KeyManagement",
        "correlationId": correlation,
        "result": "success",
        "resultReason": "",
        "activityDisplayName": "Read BitLocker key",
        "activityDateTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "loggedByService": "Core Directory",
        "operationType": None,
        "initiatedBy": {"user": {**user, "ipAddress": "203.0.113.7"}, "app": None},
        "targetResources": [
            {
                "id": device,
                "displayName": key_id,
                "type": "Device",
                "userPrincipalName": None,
                "groupType": None,
                "modifiedProperties": [],
            }
        ],
        "additionalDetails": [],
    }
    with emulator.directory.lock:
        tenant.audit.record(event, now)
    return key_id
