"""Who changed the setting, and when: Entra's directory audit log, read through Graph.

`GET /v1.0/auditLogs/directoryAudits` (learn.microsoft.com/graph/api/directoryaudit-list), newest
first, filtered to two activities in one `$filter`: a change of the authorization policy, and a read
of a BitLocker recovery key (the evidence of what the setting governs). A policy change names the
changed fields as modifiedProperties by the directory's internal names, not Graph's (a published
event: splunk/security_content, data_sources/azure_active_directory_update_authorization_policy.yml,
rows `AllowUserConsentForRiskyApps`, `PermissionGrantPolicyIdsAssignedToDefaultUserRole`, values
`"[false]"`, and a row `Included Updated Properties`). No published event shows the row of this
field, so every plausible shape ties an event to it (PolicyField.values_in_row, named_in): a dotted
or bare name holding the field's name in any case, a `DefaultUserRolePermissions` row whose JSON
value holds the field, or the field named only in `Included Updated Properties` (the values then
unknown). An event that names no setting, or whose permissions row may hide this field
(PolicyField.hidden_in), is told as what it is: a policy change the log does not tie to a setting.

It needs the application permissions AuditLog.Read.All and Directory.Read.All (the permissions
table of directoryaudit-list; "requires both", microsoftgraph/microsoft-graph-docs#13632). Without
them, or when the log cannot be read, the answer says so and nothing fails: who changed a setting is
context, not the setting. Events appear minutes after the change (learn.microsoft.com/entra/identity/monitoring-health/
reference-log-latency) and are kept 7 days (30 with Entra ID P1/P2; reference-reports-data-retention).

Requests: one GET of up to PAGE events; a further page only while fewer changes of this field
than asked for have been found, at most PAGES in all, within BUDGET_SECONDS. Key reads are counted
from those same pages: no request is made for them alone, and a count from a log with pages left
unread is "at least". Who changed the setting never decides anything: every failure to tell
becomes the lookup's `unknown`, and the caller goes on as it would without the permission.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from providers.common.deadline import current_deadline, operation_deadline
from providers.common.errors import BitlockerPolicyError, DeadlineExceededError, ForbiddenError, GraphError
from providers.common.outside_text import one_line
from providers.graph.authorization_policy import BITLOCKER_KEYS, CHANGE_ACTIVITY, INCLUDED_ROW
from providers.graph.client import GraphClient

__all__ = [
    "AUDIT_PATH",
    "AUDIT_PERMISSION",
    "BUDGET_SECONDS",
    "DIRECTORY_PERMISSION",
    "KEY_READ_ACTIVITY",
    "Change",
    "ChangeLookup",
    "KeyReads",
    "changes",
    "initiator",
    "last_change",
    "ties_the_field",
]

AUDIT_PATH = "/v1.0/auditLogs/directoryAudits"
AUDIT_PERMISSION = "AuditLog.Read.All"
DIRECTORY_PERMISSION = "Directory.Read.All"  # beside it: directoryaudit-list's table; microsoftgraph/microsoft-graph-docs#13632
_BOTH = f"{AUDIT_PERMISSION} and {DIRECTORY_PERMISSION}"
# A read of a recovery key: category KeyManagement (learn.microsoft.com/entra/architecture/
# security-operations-devices, "BitLocker key retrieval"); the key is targetResources[0].displayName
# and the reader initiatedBy.user.userPrincipalName (Azure/Azure-Sentinel, Hunting Queries/AuditLogs/
# BitLockerKeyRetrieval.yaml).
KEY_READ_ACTIVITY = "Read BitLocker key"
PAGE = 50
PAGES = 3
# How long one lookup may take, all its pages, retries and waits included. A page of the audit log
# takes longer than other Graph reads (microsoftgraph/microsoft-graph-docs-contrib#7021), so more
# than the second a policy read takes: 15 s leaves room for a slow page and a retry after a short
# backoff (providers/graph/retry.py), and is all a drifted row or a preview waits for who changed it. A
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
    tied: bool = True  # the event names this setting; else a policy change the log does not tie to one
    stated: bool = True  # the event gives the values (not when the field is named only in Included Updated Properties)

    def describe(self) -> str:
        """ "changed by alice@contoso.com at 2026-11-29 08:00 UTC", or what the log says when it is less."""
        who = f"this product's app ({self.by})" if self.ours else self.by
        when = f"{self.at[:16].replace('T', ' ')} UTC"
        if not self.tied:
            return f"an authorization-policy change by {who} at {when}; the log does not say which setting"
        return f"changed by {who} at {when}" + ("" if self.stated else " (the log does not give the value)")

    def made(self, value: Any) -> bool:
        """Whether this change may have made `value`: a change of the setting to it, or to a value the log does not give."""
        return self.tied and (not self.stated or self.new == value)


@dataclass(frozen=True)
class KeyReads:
    """The recovery-key reads in the pages read: how many, of how many keys, by whom (most first)."""

    reads: int
    keys: int
    readers: tuple[tuple[str, int], ...]
    complete: bool  # every page of the retained log was read; else the counts are "at least"

    def describe(self) -> str:
        """ "3 BitLocker recovery key reads (2 keys): alice@contoso.com 2, bob@contoso.com 1"."""
        if not self.reads:
            return "no BitLocker recovery key read in the audit log" + ("" if self.complete else "'s newest events")
        least = "" if self.complete else "at least "
        who = ", ".join(f"{by} {count}" for by, count in self.readers)
        keys = f"{self.keys} key{'s' * (self.keys != 1)}"
        return f"{least}{self.reads} BitLocker recovery key read{'s' * (self.reads != 1)} ({keys}): {who}"

    def to_json(self) -> dict[str, Any]:
        """The `keyReads` of a fleet row."""
        readers = [{"by": by, "count": count} for by, count in self.readers]
        return {"reads": self.reads, "keys": self.keys, "complete": self.complete, "readers": readers}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyReads:
        """A fleet row's `keyReads` (fleet/outcome.py checked its shape) back as KeyReads."""
        readers = tuple((reader["by"], reader["count"]) for reader in data["readers"] or ())
        return cls(data["reads"], data["keys"], readers, data["complete"])


@dataclass(frozen=True)
class ChangeLookup:
    """The changes found (newest first), or why the log could not tell; none of either: the log holds none."""

    changes: tuple[Change, ...] = ()
    unknown: str | None = None  # why the log could not tell (a permission to grant, an error)
    untied: tuple[Change, ...] = ()  # policy changes in the pages read that the log does not tie to any setting
    key_reads: KeyReads | None = None  # None when the log could not be read

    @property
    def change(self) -> Change | None:
        """The newest change found."""
        return self.changes[0] if self.changes else None

    def describe(self) -> str:
        """One line on the newest change, for a table's note or a provider's diagnostic."""
        if self.change:
            return self.change.describe()
        if self.untied:
            return self.untied[0].describe()
        return self.unknown or "who changed it is not in Entra's audit log (kept 7 days, 30 with P1/P2; events take minutes)"


def last_change(graph: GraphClient, live: bool | None) -> ChangeLookup:
    """The newest change of the setting *to the live value* in the tenant's audit log.

    An event takes minutes to appear: until the change that made the live value shows, the newest
    event may be an older one (our own write, say), which must not take the blame.
    """
    found = changes(graph, most=1, to=live)
    if found.changes or found.unknown or found.untied:
        return found
    return ChangeLookup(
        key_reads=found.key_reads,
        unknown=f"the change to {'null' if live is None else str(live).lower()} is not in Entra's audit log "
        "(events take minutes; it keeps 7 days, 30 with P1/P2)",
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
        return ChangeLookup(unknown=f"who changed it is unknown: grant the app the Graph permissions {_BOTH} ({ids})")
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


_CHANGES = f"activityDisplayName eq '{CHANGE_ACTIVITY}'"
# Two activities in one $filter, so that key reads cost no request of their own. The resource's
# page documents eq and startswith on activityDisplayName (learn.microsoft.com/graph/api/resources/
# directoryaudit) and no filter on category; `or` is OData's, not named for this endpoint: a 400
# for it costs one more request, of the policy changes alone, and leaves the key reads untold.
_BOTH_ACTIVITIES = f"{_CHANGES} or activityDisplayName eq '{KEY_READ_ACTIVITY}'"


def _first_page(graph: GraphClient) -> tuple[Any, bool]:
    """The first page of the events read, and whether it holds the key reads too."""
    params = {"$filter": _BOTH_ACTIVITIES, "$orderby": "activityDateTime desc", "$top": str(PAGE)}
    try:
        return graph.get_json(AUDIT_PATH, params, _BOTH), True
    except GraphError as error:
        if error.status != 400:
            raise
        return graph.get_json(AUDIT_PATH, {**params, "$filter": _CHANGES}, _BOTH), False


def _read(graph: GraphClient, most: int, to: Any) -> ChangeLookup:
    found, untied, ours = [], [], graph.caller_ids()
    reads: list[tuple[str, str]] = []  # (reader, key)
    page, counting = _first_page(graph)
    for pages in range(1, PAGES + 1):
        for event in _listed(page, "value", "the page"):
            if isinstance(event, dict) and event.get("activityDisplayName") == KEY_READ_ACTIVITY:
                reads.append(_key_read(event))
                continue
            change = _change(event, ours)
            if change and not change.tied:
                untied.append(change)
            elif change and (to is _ANY or change.made(to)):
                found.append(change)
        link = page.get("@odata.nextLink")
        if len(found) >= most or not isinstance(link, str) or pages == PAGES:
            break
        page = graph.get_json(link, None, _BOTH)
    # Untied changes newer than the newest change found may be the one asked about: they are told.
    newest = found[0].at if found else ""
    complete = not isinstance(link, str)
    counted = _counted(reads, complete) if counting else None
    lookup = ChangeLookup(tuple(found[:most]), None, tuple(c for c in untied if c.at > newest), counted)
    if found or untied or complete:
        return lookup
    return replace(
        lookup, unknown=f"who changed it is not among the newest {PAGE * PAGES} policy changes and key reads in the audit log"
    )


def _key_read(event: dict[str, Any]) -> tuple[str, str]:
    """Who read which key: initiatedBy.user's UPN (else an app's name) and targetResources[0].displayName."""
    who, _ = initiator(event.get("initiatedBy"))
    targets = _listed(event, "targetResources", "an event")
    key = _text(targets[0], "displayName", "id") if targets else None
    return who, key or str(event.get("id"))  # a key the event does not name counts as one of its own


def _counted(reads: list[tuple[str, str]], complete: bool) -> KeyReads:
    by = Counter(who for who, _ in reads)
    return KeyReads(len(reads), len({key for _, key in reads}), tuple(by.most_common()), complete)


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


def ties_the_field(event: Any) -> bool:
    """Whether this reading of the log ties an authorization-policy event to the field, as drift, preview and
    history read it (the doctor counts them, so that a first contact shows whether attribution will work)."""
    try:
        change = _change(event, frozenset())
    except (_UnusableAnswerError, RecursionError):
        return False
    return change is not None and change.tied


def _change(event: Any, ours: frozenset[str]) -> Change | None:
    """The event's change of the setting (its values, else tied by Included Updated Properties alone); an
    untied Change when the event names no setting, or one whose row may hide this field; None when it
    changed other fields. _UnusableAnswerError when it cannot be read."""
    rows = []
    for target in _listed(event, "targetResources", "an event"):
        for row in _listed(target, "modifiedProperties", "a target resource"):
            if not isinstance(row, dict):
                raise _UnusableAnswerError("a modified property is not a JSON object")
            name = row.get("displayName")
            rows.append((name if isinstance(name, str) else "", row))
    changed = [(name, row) for name, row in rows if name and name.lower() != INCLUDED_ROW.lower()]
    listed = " ".join(str(row.get("newValue") or "") for name, row in rows if name.lower() == INCLUDED_ROW.lower())
    hidden = False
    for name, row in changed:
        old, new = _decoded(row.get("oldValue")), _decoded(row.get("newValue"))
        values = BITLOCKER_KEYS.values_in_row(name, old, new)
        if values is not None:
            return _made(event, ours, (_value(values[0]), _value(values[1])))
        hidden = hidden or BITLOCKER_KEYS.hidden_in(name, old, new)
    if BITLOCKER_KEYS.named_in(listed):
        return _made(event, ours, None)
    hidden = hidden or (not changed and BITLOCKER_KEYS.hidden_in(listed))
    return None if (changed or listed.strip(' "[]')) and not hidden else _made(event, ours, None, tied=False)


def _made(event: Any, ours: frozenset[str], values: tuple[bool | None, bool | None] | None, *, tied: bool = True) -> Change:
    at = event.get("activityDateTime")
    if not isinstance(at, str):
        raise _UnusableAnswerError("an event's activityDateTime is not a string")
    who, by_us = initiator(event.get("initiatedBy"), ours)
    old, new = values or (None, None)
    return Change(one_line(at, 40), who, by_us, old, new, tied=tied, stated=values is not None)


def initiator(initiated: Any, ours: frozenset[str] = frozenset()) -> tuple[str, bool]:
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


def _decoded(raw: Any) -> Any:
    """A row's value as JSON: `"[true]"` as [true], `"{\\"A\\": true}"` as an object; undecodable text as itself."""
    try:
        return json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return raw


def _value(raw: Any) -> bool | None:
    """`true`, `[true]`, `"true"` or `"[true]"` as True (likewise false); anything else (null included) as None."""
    value = _decoded(raw)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        value = _decoded(value.lower())
    return value if isinstance(value, bool) else None
