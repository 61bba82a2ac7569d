"""Entra's authorization policy as this product knows it: where Graph serves it, what the audit log
calls a change of it, and the fields of it this product manages, each named once.

The policy is a singleton of every tenant (learn.microsoft.com/graph/api/resources/authorizationpolicy).
A field here is a boolean of its `defaultUserRolePermissions`; the v1.0 CSDL declares those
Edm.Boolean *nullable* (microsoftgraph/msgraph-metadata, clean_v10_metadata/cleanMetadata.xml,
complex type defaultUserRolePermissions), so null is a legal value. A sibling field is one more
entry beside BITLOCKER_KEYS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["BITLOCKER_KEYS", "CHANGE_ACTIVITY", "PERMISSIONS", "POLICY_PATH", "PolicyField"]

POLICY_PATH = "/v1.0/policies/authorizationPolicy"
# The audit log's activity for any change of the policy (learn.microsoft.com/entra/identity/
# monitoring-health/reference-audit-activities, Core Directory).
CHANGE_ACTIVITY = "Update authorization policy"
PERMISSIONS = "defaultUserRolePermissions"


@dataclass(frozen=True)
class PolicyField:
    """A boolean of the policy's defaultUserRolePermissions, named as Graph names it.

    The name is also the resource's property in state and the stack's config key
    (`bitlocker-policy:<name>`). The audit log names a changed field flattened and capitalised,
    `DefaultUserRolePermissions.<Name>` (seen in tenants' Sentinel queries; Microsoft documents no
    sample for these fields), compared without regard to case (providers/audit.py).
    """

    name: str

    @property
    def path(self) -> str:
        """Where the field is in the policy, for messages: `defaultUserRolePermissions.<name>`."""
        return f"{PERMISSIONS}.{self.name}"

    @property
    def audit_name(self) -> str:
        """The field's `displayName` among an audit event's modifiedProperties."""
        return f"{_capitalised(PERMISSIONS)}.{_capitalised(self.name)}"

    def value_in(self, policy: Any) -> Any:
        """The field's value in a policy as Graph answers it; KeyError or TypeError when it is not there."""
        return policy[PERMISSIONS][self.name]

    def patch(self, value: bool) -> dict[str, Any]:
        """A PATCH body that sets this field alone (learn.microsoft.com/graph/api/authorizationpolicy-update)."""
        return {PERMISSIONS: {self.name: value}}


def _capitalised(name: str) -> str:
    return name[:1].upper() + name[1:]


# Whether device owners may read their own devices' BitLocker recovery keys.
BITLOCKER_KEYS = PolicyField("allowedToReadBitlockerKeysForOwnedDevice")
