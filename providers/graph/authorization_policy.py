"""Entra's authorization policy as this product knows it: where Graph serves it, what the audit log
calls a change of it, and the fields of it this product manages, each named once.

The policy is a singleton of every tenant (learn.microsoft.com/graph/api/resources/authorizationpolicy).
A field here is a boolean of its `defaultUserRolePermissions`; the v1.0 CSDL declares those
Edm.Boolean *nullable* (microsoftgraph/msgraph-metadata, clean_v10_metadata/cleanMetadata.xml,
complex type defaultUserRolePermissions), so null is a legal value. A sibling field is one more
entry beside BITLOCKER_KEYS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["BITLOCKER_KEYS", "CHANGE_ACTIVITY", "INCLUDED_ROW", "PERMISSIONS", "POLICY_PATH", "PolicyField"]

POLICY_PATH = "/v1.0/policies/authorizationPolicy"
# The audit log's activity for any change of the policy (learn.microsoft.com/entra/identity/
# monitoring-health/reference-audit-activities, Core Directory).
CHANGE_ACTIVITY = "Update authorization policy"
PERMISSIONS = "defaultUserRolePermissions"
# The row of an "Update authorization policy" event that lists the names of the rows changed
# (splunk/security_content, data_sources/azure_active_directory_update_authorization_policy.yml).
INCLUDED_ROW = "Included Updated Properties"


@dataclass(frozen=True)
class PolicyField:
    """A boolean of the policy's defaultUserRolePermissions, named as Graph names it.

    The name is also the resource's property in state and the stack's config key
    (`bitlocker-policy:<name>`). The audit log names changed properties by the directory's internal
    names, not Graph's (splunk/security_content, data_sources/azure_active_directory_update_authorization_policy.yml:
    `PermissionGrantPolicyIdsAssignedToDefaultUserRole` for `permissionGrantPoliciesAssigned`), and no
    published event shows a row of these fields: `DefaultUserRolePermissions.<Name>` is one tenant's
    Sentinel query's (alexverboon/AnythingAboutITBlog, 2022/11/users-can-create-azuread-tenants), so
    every plausible shape is read (values_in_row, named_in), names compared without regard to case.
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

    def values_in_row(self, row_name: str, old: Any, new: Any) -> tuple[Any, Any] | None:
        """This field's (old, new) in an audit row, from its decoded values; None when the row is another field's.

        A row whose name holds the field's name (dotted or bare, any case) carries the values
        themselves; a `DefaultUserRolePermissions` row carries the permissions as a JSON object (or a
        one-element array of one), the field among its keys.
        """
        if self.name.lower() in row_name.lower():
            return old, new
        if row_name.lower() != PERMISSIONS.lower():
            return None
        found = [_member(value, self.name) for value in (old, new)]
        if found[0] is _ABSENT and found[1] is _ABSENT:
            return None
        old_value, new_value = (None if value is _ABSENT else value for value in found)
        return old_value, new_value

    def hidden_in(self, row_name: str, *values: Any) -> bool:
        """Whether a row may hold this field without showing it: a `DefaultUserRolePermissions` row whose
        decoded values hold no object, or an Included Updated Properties list naming that row alone."""
        names = {name.lower() for name in re.findall(r"[\w.]+", row_name)}
        return PERMISSIONS.lower() in names and not any(isinstance(_member_of(value), dict) for value in values)

    def named_in(self, listed: str) -> bool:
        """Whether an `Included Updated Properties` value names this field (any case)."""
        return self.name.lower() in listed.lower()

    def value_in(self, policy: Any) -> Any:
        """The field's value in a policy as Graph answers it; KeyError or TypeError when it is not there."""
        return policy[PERMISSIONS][self.name]

    def patch(self, value: bool) -> dict[str, Any]:
        """A PATCH body that sets this field alone (learn.microsoft.com/graph/api/authorizationpolicy-update)."""
        return {PERMISSIONS: {self.name: value}}


_ABSENT: Any = object()  # the field is not among a row object's keys


def _member_of(value: Any) -> Any:
    """A one-element array's element; any other value as itself."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _member(value: Any, name: str) -> Any:
    """`value[name]`, compared without regard to case, in an object or a one-element array of one; else _ABSENT."""
    value = _member_of(value)
    if not isinstance(value, dict):
        return _ABSENT
    return next((member for key, member in value.items() if isinstance(key, str) and key.lower() == name.lower()), _ABSENT)


def _capitalised(name: str) -> str:
    return name[:1].upper() + name[1:]


# Whether device owners may read their own devices' BitLocker recovery keys.
BITLOCKER_KEYS = PolicyField("allowedToReadBitlockerKeysForOwnedDevice")
