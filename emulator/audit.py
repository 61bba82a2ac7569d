"""Entra's directory audit log as Microsoft Graph v1.0 serves it: `GET /v1.0/auditLogs/directoryAudits`.

Modelled from Microsoft's own sources, each cited where it is used:
- the resource: microsoftgraph/msgraph-metadata, schemas/v1.0-Prod.csdl, EntityType
  `directoryAudit` (only id, activityDateTime, activityDisplayName, category and initiatedBy
  are non-nullable) and the complex types auditActivityInitiator, appIdentity, userIdentity,
  targetResource, modifiedProperty;
- the event a change of the authorization policy writes: learn.microsoft.com/entra/identity/
  monitoring-health/reference-audit-activities ("Core Directory": category AuthorizationPolicy,
  activity "Update authorization policy"); its conventions from an exported event (splunk/security_content,
  data_sources/azure_active_directory_update_authorization_policy.yml, example_log: target `type`
  "Other", displayName "Authorization Policy", a GUID id, rows named by the directory's internal
  names with JSON-array values `"[false]"`, a trailing "Included Updated Properties" row listing them,
  `additionalDetails` with a `User-Agent`, seven fractional digits in times). No published event
  shows this field's row, so the emulator serves each plausible shape (SHAPES; `Tenant.audit.shape`);
  the dotted name is one tenant's Sentinel query's (`DefaultUserRolePermissions.AllowedToCreateTenants`:
  alexverboon/AnythingAboutITBlog, 2022/11/users-can-create-azuread-tenants);
- a read of a recovery key: activity "Read BitLocker key", category KeyManagement (learn.microsoft.com/
  entra/architecture/security-operations-devices, "BitLocker key retrieval"), the key in
  targetResources[0].displayName, the reader in initiatedBy.user.userPrincipalName (Azure/Azure-Sentinel,
  Hunting Queries/AuditLogs/BitLockerKeyRetrieval.yaml);
- the query: learn.microsoft.com/graph/api/directoryaudit-list, "Optional query parameters", and
  graph/api/resources/directoryaudit: `$filter` (activityDateTime eq/ge/le; activityDisplayName and
  initiatedBy/user/userPrincipalName eq/startswith; loggedByService, initiatedBy/app/appId eq), clauses
  joined by `and`/`or` as OData's grammar joins them, `$top`, `$orderby`, `skiptoken`; paging by
  `@odata.nextLink`;
- retention: learn.microsoft.com/entra/identity/monitoring-health/reference-reports-data-retention
  ("Audit logs | Seven days | 30 days | 30 days", Free | P1 | P2);
- the delay before an event shows: no figure on today's page (reference-log-latency); the retired
  reference-reports-latencies page gave 2 min (P95) and 5 min (P99) for audit logs;
- without the permission: 403 `Authentication_MSGraphPermissionMissing`, "Calling principal does not
  have required MSGraph permissions AuditLog.Read.All" (microsoftgraph/microsoft-graph-docs-contrib#8997).

Answers the log itself would not give (throttling, outages, a body that never ends, bytes of any
shape) come from the emulator's faults for the endpoint `audit` (emulator/state.py, Faults),
which reach this endpoint alone: `fail(429, retry_after="100", endpoint="audit")`,
`mangle("audit", ...)`; an event of the wrong shape is an edited `AuditEvent.document`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

__all__ = ["AUDIT_ROLE", "SHAPES", "AuditEvent", "AuditLog", "QueryError", "key_read", "policy_update"]

AUDIT_ROLE = "AuditLog.Read.All"
ACTIVITY = "Update authorization policy"
KEY_READ = "Read BitLocker key"
FIELD = "AllowedToReadBitlockerKeysForOwnedDevice"
BITLOCKER_ROW = f"DefaultUserRolePermissions.{FIELD}"
INCLUDED = "Included Updated Properties"
USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36"


def _rows(
    name: str, encode: Callable[[bool | None], str], listed: bool = True
) -> Callable[[bool | None, bool | None], list[dict[str, Any]]]:
    """A shape: the row `name` with values encoded by `encode`, then the Included Updated Properties row."""

    def rows(old: bool | None, new: bool | None) -> list[dict[str, Any]]:
        return [{"displayName": name, "oldValue": encode(old), "newValue": encode(new)}, _included(name)]

    return rows


def _included(names: str) -> dict[str, Any]:
    return {"displayName": INCLUDED, "oldValue": None, "newValue": f'"{names}"'}


def _permissions(value: bool | None) -> str:
    """The whole defaultUserRolePermissions as the directory might log it: a JSON array of one object."""
    return json.dumps([{"AllowedToCreateApps": True, "AllowedToCreateSecurityGroups": True, FIELD: value}])


# Every plausible row of this field in an "Update authorization policy" event, by name.
SHAPES: dict[str, Callable[[bool | None, bool | None], list[dict[str, Any]]]] = {
    "dotted, [true]": _rows(BITLOCKER_ROW, lambda v: json.dumps([v])),  # the published event's value encoding
    "dotted, true": _rows(BITLOCKER_ROW, json.dumps),
    'dotted, "true"': _rows(BITLOCKER_ROW, lambda v: json.dumps(json.dumps(v))),
    "bare, any case": _rows("AllowedToReadBitLockerKeysForOwnedDevice", lambda v: json.dumps([v])),
    "internal name holding it": _rows(f"DefaultUserRole{FIELD}", lambda v: json.dumps([v])),
    "DefaultUserRolePermissions object": _rows("DefaultUserRolePermissions", _permissions),
    "Included Updated Properties only": lambda old, new: [_included(FIELD)],
    "no setting named": lambda old, new: [_included("")],
}
RETENTION_DAYS = {False: 7, True: 30}  # without / with Entra ID P1 or P2
DEFAULT_PAGE = 50  # not documented; any page size the product must page through
_FIELDS = "activityDisplayName|activityDateTime|loggedByService|initiatedBy/user/userPrincipalName|initiatedBy/app/appId"
_CLAUSE = re.compile(rf"^(?P<field>{_FIELDS}) (?P<op>eq|ge|le) (?P<value>'(?:[^']|'')*'|\d{{4}}-\d\d-\d\dT[\d:.]+Z)$")
_STARTSWITH = re.compile(
    r"^startswith\((?P<field>activityDisplayName|initiatedBy/user/userPrincipalName), ?(?P<value>'(?:[^']|'')*')\)$"
)


class QueryError(ValueError):
    """A query Graph would refuse with 400 (the message Graph gives)."""


@dataclass
class AuditEvent:
    """One directoryAudit, as recorded; visible from `visible_at` (the log's delay)."""

    document: dict[str, Any]
    at: datetime
    visible_at: datetime


@dataclass
class AuditLog:
    """One tenant's directory audit log."""

    premium: bool = False  # Entra ID P1/P2: 30 days of retention instead of 7
    delay: timedelta = timedelta(0)  # how long an event takes to appear (2 to 5 minutes in the field)
    shape: str = "dotted, [true]"  # how a change of the field is logged (SHAPES)
    app_id_null: bool = (
        False  # an app's change with initiatedBy.app.appId null, servicePrincipalId set, as exported events have it
    )
    events: list[AuditEvent] = field(default_factory=list)

    def record(self, document: dict[str, Any], at: datetime) -> None:
        """Keep an event; it shows after the delay."""
        self.events.append(AuditEvent(document, at, at + self.delay))

    def query(self, params: dict[str, str], now: datetime, url: str) -> dict[str, Any]:
        """One page of the answer to GET directoryAudits?{params}: `value` and, when more remain, `@odata.nextLink`."""
        kept = now - timedelta(days=RETENTION_DAYS[self.premium])
        passes = _compiled(params.get("$filter"))
        found = [e for e in self.events if e.visible_at <= now and e.at >= kept and passes(e.document)]
        order = params.get("$orderby", "activityDateTime desc").strip()
        if order not in ("activityDateTime", "activityDateTime asc", "activityDateTime desc"):
            raise QueryError(f"OrderBy not supported for the property in '{order}'.")
        found.sort(key=lambda event: event.at, reverse=order.endswith("desc"))
        top = params.get("$top", str(DEFAULT_PAGE))
        if not top.isdigit() or not 1 <= int(top) <= 999:
            raise QueryError(f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.")
        start = int(params.get("$skiptoken", "0") or 0)
        page = found[start : start + int(top)]
        answer: dict[str, Any] = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits",
            "value": [event.document for event in page],
        }
        if start + int(top) < len(found):
            answer["@odata.nextLink"] = f"{url}?{urlencode({**params, '$skiptoken': str(start + int(top))})}"
        return answer


def _compiled(expression: str | None) -> Callable[[dict[str, Any]], bool]:
    """A `$filter` of the documented clauses joined by `and` and `or` (`and` binding tighter), as a test of one
    event; QueryError for any other."""
    if not expression:
        return lambda document: True
    alternatives = [
        [_one(clause.strip()) for clause in re.split(r"\s+and\s+", part)] for part in re.split(r"\s+or\s+", expression.strip())
    ]
    return lambda document: any(all(test(document) for test in tests) for tests in alternatives)


def _one(clause: str) -> Callable[[dict[str, Any]], bool]:
    starts = _STARTSWITH.match(clause)
    if starts:
        return _clause(starts["field"], "startswith", starts["value"])
    matched = _CLAUSE.match(clause)
    if matched is None:
        raise QueryError(f"Invalid filter clause: {clause}")
    if matched["field"] != "activityDateTime" and matched["op"] != "eq":
        raise QueryError(f"Invalid filter clause: '{matched['op']}' is not supported on {matched['field']}")
    return _clause(matched["field"], matched["op"], matched["value"])


def _clause(name: str, op: str, literal: str) -> Callable[[dict[str, Any]], bool]:
    wanted: Any = literal[1:-1].replace("''", "'") if literal.startswith("'") else literal
    if name == "activityDateTime":
        wanted = _instant(wanted)

    def test(document: dict[str, Any]) -> bool:
        actual: Any = document
        for part in name.split("/"):
            actual = actual.get(part) if isinstance(actual, dict) else None
        if name == "activityDateTime":
            actual = _instant(str(actual))
        if op == "startswith":
            return isinstance(actual, str) and actual.startswith(wanted)
        return bool({"eq": actual == wanted, "ge": actual >= wanted, "le": actual <= wanted}[op])

    return test


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def policy_update(
    policy_id: str,
    old: bool | None,
    new: bool | None,
    at: datetime,
    *,
    user: dict[str, Any] | None,
    app: dict[str, Any] | None,
    shape: str = "dotted, [true]",
) -> dict[str, Any]:
    """The event a change of the BitLocker field writes: "Update authorization policy", by a user or an app,
    its row in one of SHAPES."""
    target = {
        "id": policy_id,
        "displayName": "Authorization Policy",
        "type": "Other",
        "userPrincipalName": None,
        "groupType": None,
    }
    return _event(
        ACTIVITY,
        "AuthorizationPolicy",
        "Core Directory",
        at,
        user,
        app,
        {**target, "modifiedProperties": SHAPES[shape](old, new)},
    )


def key_read(
    key_id: str, device: str, at: datetime, *, user: dict[str, Any] | None, app: dict[str, Any] | None
) -> dict[str, Any]:
    """The event a read of a BitLocker recovery key writes: "Read BitLocker key", category KeyManagement."""
    target: dict[str, Any] = {
        "id": device,
        "displayName": key_id,
        "type": "Device",
        "userPrincipalName": None,
        "groupType": None,
        "modifiedProperties": [],
    }
    return _event(KEY_READ, "KeyManagement", "Core Directory", at, user, app, target)


def _event(
    activity: str,
    category: str,
    service: str,
    at: datetime,
    user: dict[str, Any] | None,
    app: dict[str, Any] | None,
    target: dict[str, Any],
) -> dict[str, Any]:
    correlation = str(uuid.uuid4())
    return {
        "id": f"Directory_{correlation}_{uuid.uuid4().hex[:5].upper()}_{int(at.timestamp()) % 10**9}",
        "category": category,
        "correlationId": correlation,
        "result": "success",
        "resultReason": "",
        "activityDisplayName": activity,
        "activityDateTime": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),  # seven fractional digits
        "loggedByService": service,
        "operationType": "Update" if activity == ACTIVITY else None,  # a key read's: not in any published event
        "initiatedBy": {"user": user, "app": app},
        "targetResources": [target],
        "additionalDetails": [{"key": "User-Agent", "value": USER_AGENT}],
    }
