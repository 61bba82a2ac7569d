"""The authorization policy as Graph v1.0 shows it, and the rules a PATCH body must follow."""

from __future__ import annotations

from typing import Any

BITLOCKER = "allowedToReadBitlockerKeysForOwnedDevice"

_BOOL_PROPS = {
    "allowedToSignUpEmailBasedSubscriptions",
    "allowedToUseSSPR",
    "allowEmailVerifiedUsersToJoinOrganization",
    "allowUserConsentForRiskyApps",
    "blockMsolPowerShell",
}
_STRING_PROPS = {"allowInvitesFrom", "description", "displayName", "guestUserRoleId"}
_PERMISSION_BOOLS = {
    "allowedToCreateApps",
    "allowedToCreateSecurityGroups",
    "allowedToCreateTenants",
    BITLOCKER,
    "allowedToReadOtherUsers",
}


def default_policy(bitlocker: bool) -> dict[str, Any]:
    """The v1.0 authorization policy of a new tenant, with documented casing."""
    return {
        "id": "authorizationPolicy",
        "allowInvitesFrom": "everyone",
        "allowedToSignUpEmailBasedSubscriptions": True,
        "allowedToUseSSPR": True,
        "allowEmailVerifiedUsersToJoinOrganization": False,
        "allowUserConsentForRiskyApps": False,
        "blockMsolPowerShell": False,
        "description": "Used to manage authorization related settings across the company.",
        "displayName": "Authorization Policy",
        "guestUserRoleId": "10dae51f-b6af-4016-8d66-8c2a99b929b3",
        "defaultUserRolePermissions": {
            "allowedToCreateApps": True,
            "allowedToCreateSecurityGroups": True,
            "allowedToCreateTenants": True,
            BITLOCKER: bitlocker,
            "allowedToReadOtherUsers": True,
            "permissionGrantPoliciesAssigned": ["ManagePermissionGrantsForSelf.microsoft-user-default-legacy"],
        },
    }


def _properties(body: dict[str, Any]) -> dict[str, Any]:
    """The body without OData control information and annotations ("@odata.type", "name@ns.term"),
    which a receiver must not fail on (OData JSON Format 4.01, section 4.5, "Control Information");
    Graph's SDKs send "@odata.type" in every PATCH (msgraph-sdk-python, models/entity.py serialize)."""
    return {name: value for name, value in body.items() if "@" not in name}


def apply_patch(policy: dict[str, Any], changes: dict[str, Any]) -> str | None:
    """Apply a PATCH body with case-insensitive names; the 400 message, or None when valid."""
    canonical = {name.lower(): name for name in policy if name != "id"}
    for name, value in _properties(changes).items():
        prop = canonical.get(name.lower())
        if prop is None:
            return f"Invalid property '{name}'."
        if prop == "defaultUserRolePermissions":
            if not isinstance(value, dict):
                return f"Invalid value for property '{name}'."
            problem = _apply_permissions(policy[prop], value)
            if problem:
                return problem
        elif prop in _BOOL_PROPS and not isinstance(value, bool):
            return f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'."
        elif prop in _STRING_PROPS and not isinstance(value, str):
            return f"Cannot convert the literal '{value}' to the expected type 'Edm.String'."
        else:
            policy[prop] = value
    return None


def _apply_permissions(permissions: dict[str, Any], changes: dict[str, Any]) -> str | None:
    canonical = {name.lower(): name for name in (*_PERMISSION_BOOLS, "permissionGrantPoliciesAssigned")}
    for name, value in _properties(changes).items():
        prop = canonical.get(name.lower())
        if prop is None:
            return f"Invalid property '{name}'."
        if prop in _PERMISSION_BOOLS and not isinstance(value, bool):
            return f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'."
        if prop == "permissionGrantPoliciesAssigned" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return f"Invalid value for property '{name}'."
        permissions[prop] = value
    return None
