"""Entra's directory audit log as Microsoft Graph v1.0 serves it: `GET /v1.0/auditLogs/directoryAudits`.

Modelled from Microsoft's own sources, each cited where it is used:
- the resource: microsoftgraph/msgraph-metadata, schemas/v1.0-Prod.csdl, EntityType
  `directoryAudit` (only id, activityDateTime, activityDisplayName, category and initiatedBy
  are non-nullable) and the complex types auditActivityInitiator, appIdentity, userIdentity,
  targetResource, modifiedProperty;
- the event a change of the authorization policy writes: learn.microsoft.com/entra/identity/
  monitoring-health/reference-audit-activities ("Core Directory": category AuthorizationPolicy,
  activity "Update authorization policy"); its shape from an exported event (splunk/security_content,
  data_sources/azure_active_directory_update_authorization_policy.yml: target `type` "Other",
  displayName "Authorization Policy", a GUID id, a trailing "Included Updated Properties" row) and a
  nested field's row name from a tenant's Sentinel query (`DefaultUserRolePermissions.AllowedToCreateTenants`,
  values `true`/`false`: alexverboon/AnythingAboutITBlog, 2022/11/users-can-create-azuread-tenants);
- the query: learn.microsoft.com/graph/api/directoryaudit-list, "Optional query parameters":
  `$filter` (eq, ge, le, startswith), `$top`, `$orderby`, `skiptoken`; paging by `@odata.nextLink`;
- retention: learn.microsoft.com/entra/identity/monitoring-health/reference-reports-data-retention
  ("Audit logs | Seven days | 30 days | 30 days", Free | P1 | P2);
- the delay before an event shows: no figure on today's page (reference-log-latency); the retired
  reference-reports-latencies page gave 2 min (P95) and 5 min (P99) for audit logs;
- without the permission: 403 `Authentication_MSGraphPermissionMissing`, "Calling principal does not
  have required MSGraph permissions AuditLog.Read.All" (microsoftgraph/microsoft-graph-docs-contrib#8997).

Answers the log itself would not give (throttling, outages, a body that never ends, bytes of any
shape) come from the emulator's faults for the endpoint `audit` (tests/emulator/state.py, Faults),
which reach this endpoint alone: `fail(429, retry_after="100", endpoint="audit")`,
`mangle("audit", ...)`; an event of the wrong shape is an edited `AuditEvent.document`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

__all__ = ["AUDIT_ROLE", "AuditEvent", "AuditLog", "QueryError", "policy_update"]

AUDIT_ROLE = "AuditLog.Read.All"
ACTIVITY = "Update authorization policy"
BITLOCKER_ROW = "DefaultUserRolePermissions.AllowedToReadBitlockerKeysForOwnedDevice"
RETENTION_DAYS = {False: 7, True: 30}  # without / with Entra ID P1 or P2
DEFAULT_PAGE = 50  # not documented; any page size the product must page through
_CLAUSE = re.compile(
    r"^(?P<field>activityDisplayName|activityDateTime|loggedByService|initiatedBy/user/userPrincipalName|initiatedBy/app/appId)"
    r" (?P<op>eq|ge|le) (?P<value>'(?:[^']|'')*'|\d{4}-\d\d-\d\dT[\d:.]+Z)$"
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
    """A `$filter` of the documented clauses joined by `and`, as a test of one event; QueryError for any other."""
    tests = []
    for clause in re.split(r"\s+and\s+", expression.strip()) if expression else []:
        matched = _CLAUSE.match(clause.strip())
        if matched is None:
            raise QueryError(f"Invalid filter clause: {clause.strip()}")
        if matched["field"] != "activityDateTime" and matched["op"] != "eq":
            raise QueryError(f"Invalid filter clause: '{matched['op']}' is not supported on {matched['field']}")
        tests.append(_clause(matched["field"], matched["op"], matched["value"]))
    return lambda document: all(test(document) for test in tests)


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
        return bool({"eq": actual == wanted, "ge": actual >= wanted, "le": actual <= wanted}[op])

    return test


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def policy_update(
    policy_id: str, old: bool | None, new: bool | None, at: datetime, *, user: dict[str, Any] | None, app: dict[str, Any] | None
) -> dict[str, Any]:
    """The event a change of the BitLocker field writes: "Update authorization policy", by a user or an app."""
    correlation = str(uuid.uuid4())
    return {
        "id": f"Directory_{correlation}_{uuid.uuid4().hex[:5].upper()}_{int(at.timestamp()) % 10**9}",
        "category": "AuthorizationPolicy",
        "correlationId": correlation,
        "result": "success",
        "resultReason": "",
        "activityDisplayName": ACTIVITY,
        "activityDateTime": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "loggedByService": "Core Directory",
        "operationType": "Update",
        "initiatedBy": {"user": user, "app": app},
        "targetResources": [
            {
                "id": policy_id,
                "displayName": "Authorization Policy",
                "type": "Other",
                "userPrincipalName": None,
                "groupType": None,
                "modifiedProperties": [
                    {"displayName": BITLOCKER_ROW, "oldValue": _value(old), "newValue": _value(new)},
                    {"displayName": "Included Updated Properties", "oldValue": None, "newValue": f'"{BITLOCKER_ROW}"'},
                ],
            }
        ],
        "additionalDetails": [],
    }


def _value(value: bool | None) -> str:
    return "null" if value is None else str(value).lower()
