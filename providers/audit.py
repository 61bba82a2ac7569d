"""Who changed the setting, and when: Entra's directory audit log, read through Graph.

`GET /v1.0/auditLogs/directoryAudits` (learn.microsoft.com/graph/api/directoryaudit-list), newest
first, filtered to the activity a change of the authorization policy writes. Each such event names
the changed fields as modifiedProperties, by the names providers/authorization_policy.py gives, their
values `true`, `"[true]"` or `"\"true\""` depending on the service's vintage, all read here.

It needs the application permission AuditLog.Read.All (Microsoft's table also lists
Directory.Read.All; directoryaudit-list, "Permissions"). Without it, or when the log cannot be
read, the answer says so and nothing fails: who changed a setting is context, not the setting.
Events appear minutes after the change (learn.microsoft.com/entra/identity/monitoring-health/
reference-log-latency) and are kept 7 days (30 with Entra ID P1/P2; reference-reports-data-retention).

Requests: one GET of up to PAGE events; a further page only while fewer changes of this field
than asked for have been found, at most PAGES in all, within BUDGET_SECONDS. Who changed the
setting never decides anything: every failure to tell becomes the lookup's `unknown`, and the
caller goes on as it would without the permission.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .authorization_policy import BITLOCKER_KEYS, CHANGE_ACTIVITY
from .deadline import current_deadline, operation_deadline
from .errors import BitlockerPolicyError, DeadlineExceededError, ForbiddenError
from .graph import GraphClient
from .outside_text import one_line

__all__ = ["AUDIT_PATH", "AUDIT_PERMISSION", "BUDGET_SECONDS", "Change", "ChangeLookup", "changes", "last_change"]

AUDIT_PATH = "/v1.0/auditLogs/directoryAudits"
AUDIT_PERMISSION = "AuditLog.Read.All"
PAGE = 50
PAGES = 3
# How long one lookup may take, all its pages, retries and waits included. A page of the audit log
# takes longer than other Graph reads (microsoftgraph/microsoft-graph-docs-contrib#7021), so more
# than the second a policy read takes: 15 s leaves room for a slow page and a retry after a short
# backoff (providers/retry.py), and is all a drifted row or a preview waits for who changed it. A
# longer wait asked for (Retry-After: 100) ends the lookup at once: the answer is "unknown".
BUDGET_SECONDS = 15.0


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
    no more pages than that needs (PAGES at most). Ours are told by the caller's app id or service principal.

    Best effort, within BUDGET_SECONDS: whatever goes wrong (a refusal, throttling, an outage, an
    answer of the wrong shape, too deep or undecodable) is the lookup's `unknown`, never an exception,
    so that what the caller does next never depends on the audit log.
    """
    try:
        with _budget():
            return _read(graph, most, to)
    except ForbiddenError as error:
        ids = f"request-id {error.request_id or 'none'}"
        return ChangeLookup(unknown=f"who changed it is unknown: grant the app the Graph permission {AUDIT_PERMISSION} ({ids})")
    except DeadlineExceededError:
        return ChangeLookup(
            unknown=f"who changed it is unknown: the audit log gave no answer within the {BUDGET_SECONDS:.0f} s "
            "attribution may take; run again later"
        )
    except BitlockerPolicyError as error:
        return ChangeLookup(unknown=f"who changed it is unknown: the audit log could not be read ({one_line(str(error))})")
    except RecursionError:
        return _unusable("nested too deeply")
    except Exception as error:  # the one boundary: an answer we cannot use is context lost, not the job
        return _unusable(str(error) if isinstance(error, _UnusableAnswerError) else f"unexpected {type(error).__name__}")


class _UnusableAnswerError(ValueError):
    """The audit log answered something this module cannot read as directoryAudit events (why, in a few words)."""


def _unusable(why: str) -> ChangeLookup:
    return ChangeLookup(unknown=f"who changed it is unknown: the audit log's answer could not be used ({one_line(why, 120)})")


@contextlib.contextmanager
def _budget() -> Iterator[None]:
    """Every request and retry wait of the lookup within BUDGET_SECONDS (less when the operation has less left)."""
    outer = current_deadline()
    seconds = BUDGET_SECONDS if outer is None else max(0.0, min(BUDGET_SECONDS, outer.left()))
    with operation_deadline(seconds, outer.clock if outer else time.monotonic):
        yield


def _read(graph: GraphClient, most: int, to: Any) -> ChangeLookup:
    params: dict[str, str] | None = {
        "$filter": f"activityDisplayName eq '{CHANGE_ACTIVITY}'",
        "$orderby": "activityDateTime desc",
        "$top": str(PAGE),
    }
    path, found, ours = AUDIT_PATH, [], graph.caller_ids()
    for _ in range(PAGES):
        page = graph.get_json(path, params, AUDIT_PERMISSION)
        for event in _listed(page, "value", "the page"):
            change = _change(event, ours)
            found += [change] if change and (to is _ANY or change.new == to) else []
        link = page.get("@odata.nextLink")
        if len(found) >= most or not isinstance(link, str):
            return ChangeLookup(tuple(found[:most]))
        path, params = link, None
    if found:
        return ChangeLookup(tuple(found[:most]))
    return ChangeLookup(unknown=f"who changed it is not among the newest {PAGE * PAGES} policy changes in the audit log")


def _listed(holder: Any, key: str, what: str) -> list[Any]:
    """`holder[key]` as a list (none when null or absent); _UnusableAnswerError when `holder` is no object or that no list.

    Graph's metadata lets targetResources and modifiedProperties be null (microsoftgraph/msgraph-metadata,
    schemas/v1.0-Prod.csdl: of directoryAudit only id, activityDateTime, activityDisplayName, category
    and initiatedBy are non-nullable).
    An event that cannot be read is not skipped: the change it records could be the one asked
    about, and skipping it would put the blame on an older one.
    """
    if not isinstance(holder, dict):
        raise _UnusableAnswerError(f"{what} is not a JSON object")
    listed = holder.get(key)
    if listed is None:
        return []
    if not isinstance(listed, list):
        raise _UnusableAnswerError(f"{what}'s {key} is not a list")
    return listed


def _change(event: Any, ours: frozenset[str]) -> Change | None:
    """The event's change of the setting, or None when it changed other fields; _UnusableAnswerError when it cannot be read."""
    for target in _listed(event, "targetResources", "an event"):
        for row in _listed(target, "modifiedProperties", "a target resource"):
            if not isinstance(row, dict):
                raise _UnusableAnswerError("a modified property is not a JSON object")
            name = row.get("displayName")
            if isinstance(name, str) and name.lower() == BITLOCKER_KEYS.audit_name.lower():
                at = event.get("activityDateTime")
                if not isinstance(at, str):
                    raise _UnusableAnswerError("an event's activityDateTime is not a string")
                who, by_us = _initiator(event.get("initiatedBy"), ours)
                return Change(one_line(at, 40), who, by_us, _value(row.get("oldValue")), _value(row.get("newValue")))
    return None


def _initiator(initiated: Any, ours: frozenset[str]) -> tuple[str, bool]:
    """Who: the user's UPN (else name, else id), or the app's name and id; and whether the app is ours.

    An app is ours when its appId is our client id, or its servicePrincipalId our service principal
    (exported events leave appId null and fill servicePrincipalId: splunk/attack_data,
    azure_ad_bypass_admin_consent.log). A `user` with nothing to name falls through to `app`.
    Only strings name anyone: a value of another type names no one.
    """
    initiated = initiated if isinstance(initiated, dict) else {}
    user, app = initiated.get("user"), initiated.get("app")
    named = _text(user, "userPrincipalName", "displayName", "id")
    if named:
        return one_line(named, 120), False
    if isinstance(app, dict):
        app_id, name = _text(app, "appId", "servicePrincipalId"), _text(app, "displayName", "servicePrincipalName")
        shown = f"{name} (app {app_id})" if name and app_id else name or f"app {app_id}"
        ids = {(_text(app, key) or "").lower() for key in ("appId", "servicePrincipalId")} - {""}
        return one_line(shown, 160), bool(ids & ours)
    return "an unknown initiator", False


def _text(holder: Any, *keys: str) -> str | None:
    """The first of `keys` whose value in `holder` is a non-empty string."""
    values = [holder.get(key) for key in keys] if isinstance(holder, dict) else []
    return next((value for value in values if isinstance(value, str) and value), None)


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
