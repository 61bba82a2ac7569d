"""Who changed the setting, and when: Entra's directory audit log, read through Graph.

`GET /v1.0/auditLogs/directoryAudits` (learn.microsoft.com/graph/api/directoryaudit-list), newest
first, filtered to the activity a change of the authorization policy writes, "Update authorization
policy" (learn.microsoft.com/entra/identity/monitoring-health/reference-audit-activities, Core
Directory). Each such event names the changed fields as modifiedProperties; a field of
defaultUserRolePermissions appears flattened, as `DefaultUserRolePermissions.<Field>` (seen in
tenants' Sentinel queries; Microsoft documents no sample for this field), its values `true`,
`"[true]"` or `"\"true\""` depending on the service's vintage, all read here.

It needs the application permission AuditLog.Read.All (Microsoft's table also lists
Directory.Read.All; directoryaudit-list, "Permissions"). Without it, or when the log cannot be
read, the answer says so and nothing fails: who changed a setting is context, not the setting.
Events appear minutes after the change (learn.microsoft.com/entra/identity/monitoring-health/
reference-log-latency) and are kept 7 days (30 with Entra ID P1/P2; reference-reports-data-retention).

Requests: one GET of up to PAGE events; a further page only while fewer changes of this field
than asked for have been found, at most PAGES in all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import BitlockerPolicyError, ForbiddenError
from .graph import GraphClient
from .outside_text import one_line

__all__ = ["AUDIT_PERMISSION", "Change", "ChangeLookup", "changes", "last_change"]

AUDIT_PATH = "/v1.0/auditLogs/directoryAudits"
AUDIT_PERMISSION = "AuditLog.Read.All"
ACTIVITY = "Update authorization policy"
FIELD = "DefaultUserRolePermissions.AllowedToReadBitlockerKeysForOwnedDevice"
PAGE = 50
PAGES = 3


@dataclass(frozen=True)
class Change:
    """One change of the setting, as the audit log recorded it."""

    at: str  # activityDateTime, ISO 8601 UTC
    by: str  # a user's UPN (or name), or an app's name and id
    ours: bool  # made by the app this product signs in as
    old: bool | None
    new: bool | None

    def describe(self) -> str:
        """ "changed by alice@contoso.com at 2026-11-29 08:00 UTC"."""
        who = f"this product's app ({self.by})" if self.ours else self.by
        return f"changed by {who} at {self.at[:16].replace('T', ' ')} UTC"


@dataclass(frozen=True)
class ChangeLookup:
    """The changes found (newest first), or why the log could not tell; none of either: the log holds none."""

    changes: tuple[Change, ...] = ()
    unknown: str | None = None  # why the log could not tell (a permission to grant, an error)

    @property
    def change(self) -> Change | None:
        """The newest change found."""
        return self.changes[0] if self.changes else None

    def describe(self) -> str:
        """One line on the newest change, for a table's note or a provider's diagnostic."""
        if self.change:
            return self.change.describe()
        return self.unknown or "who changed it is not in Entra's audit log (kept 7 days, 30 with P1/P2; events take minutes)"


def last_change(graph: GraphClient, live: bool | None) -> ChangeLookup:
    """The newest change of the setting *to the live value* in the tenant's audit log.

    An event takes minutes to appear: until the change that made the live value shows, the newest
    event may be an older one (our own write, say), which must not take the blame.
    """
    found = changes(graph, most=1, to=live)
    if found.changes or found.unknown:
        return found
    return ChangeLookup(
        unknown=f"the change to {'null' if live is None else str(live).lower()} is not in Entra's audit log "
        "(events take minutes; it keeps 7 days, 30 with P1/P2)"
    )


_ANY: Any = object()


def changes(graph: GraphClient, most: int, to: Any = _ANY) -> ChangeLookup:
    """Up to `most` changes of the setting (with `to`: only those to that value), newest first, reading
    no more pages than that needs (PAGES at most). Ours are told by the caller's app id or service principal."""
    params: dict[str, str] | None = {
        "$filter": f"activityDisplayName eq '{ACTIVITY}'",
        "$orderby": "activityDateTime desc",
        "$top": str(PAGE),
    }
    path, found, ours = AUDIT_PATH, [], graph.caller_ids()
    try:
        for _ in range(PAGES):
            page = graph.get_json(path, params, AUDIT_PERMISSION)
            events = page.get("value") if isinstance(page, dict) else None
            for event in events if isinstance(events, list) else []:
                change = _change(event, ours)
                found += [change] if change and (to is _ANY or change.new == to) else []
            link = page.get("@odata.nextLink") if isinstance(page, dict) else None
            if len(found) >= most or not isinstance(link, str):
                return ChangeLookup(tuple(found[:most]))
            path, params = link, None
    except ForbiddenError as error:
        ids = f"request-id {error.request_id or 'none'}"
        return ChangeLookup(unknown=f"who changed it is unknown: grant the app the Graph permission {AUDIT_PERMISSION} ({ids})")
    except BitlockerPolicyError as error:
        return ChangeLookup(unknown=f"who changed it is unknown: the audit log could not be read ({one_line(str(error))})")
    if found:
        return ChangeLookup(tuple(found[:most]))
    return ChangeLookup(unknown=f"who changed it is not among the newest {PAGE * PAGES} policy changes in the audit log")


def _change(event: Any, ours: frozenset[str]) -> Change | None:
    """The event's change of the setting, or None when it changed other fields (or is not understood)."""
    if not isinstance(event, dict):
        return None
    for target in event.get("targetResources") or []:
        for row in (target.get("modifiedProperties") or []) if isinstance(target, dict) else []:
            if isinstance(row, dict) and str(row.get("displayName", "")).lower() == FIELD.lower():
                who, by_us = _initiator(event.get("initiatedBy"), ours)
                at = event.get("activityDateTime")
                return Change(one_line(str(at), 40), who, by_us, _value(row.get("oldValue")), _value(row.get("newValue")))
    return None


def _initiator(initiated: Any, ours: frozenset[str]) -> tuple[str, bool]:
    """Who: the user's UPN (else name, else id), or the app's name and id; and whether the app is ours.

    An app is ours when its appId is our client id, or its servicePrincipalId our service principal
    (exported events leave appId null and fill servicePrincipalId: splunk/attack_data,
    azure_ad_bypass_admin_consent.log). A `user` with nothing to name falls through to `app`.
    """
    initiated = initiated if isinstance(initiated, dict) else {}
    user, app = initiated.get("user"), initiated.get("app")
    named = (user.get("userPrincipalName") or user.get("displayName") or user.get("id")) if isinstance(user, dict) else None
    if named:
        return one_line(str(named), 120), False
    if isinstance(app, dict):
        app_id = app.get("appId") or app.get("servicePrincipalId")
        name = app.get("displayName") or app.get("servicePrincipalName")
        shown = f"{name} (app {app_id})" if name and app_id else str(name or f"app {app_id}")
        ids = {str(app.get(key) or "").lower() for key in ("appId", "servicePrincipalId")} - {""}
        return one_line(shown, 160), bool(ids & ours)
    return "an unknown initiator", False


def _value(raw: Any) -> bool | None:
    """`true`, `"[true]"` or `"\\"true\\""` as True (likewise false); anything else (null included) as None."""
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if isinstance(value, str):
            value = json.loads(value)
    except ValueError:
        return None
    return value if isinstance(value, bool) else None
