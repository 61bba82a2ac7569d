"""`fleet history`: each tenant's last changes of the setting, from Entra's audit log and the stack's last PATCH.

A change made elsewhere names its initiator (a user, or an app); ours is recognised by our
client id, and the one our stack's last `up` made carries that PATCH's Graph request-id (the
stack's outputs: lastPatchRequestId, lastPatchAt). The audit log keeps 7 days (30 with Entra ID
P1/P2): older changes are not there, and the rows say so rather than guess. A policy change the
log does not tie to any setting is a row without a time, saying what it is (a note in the table).
"""

from __future__ import annotations

from typing import Any

from providers.graph.audit import ChangeLookup
from providers.graph.consistency import instant
from providers.properties import StackOutputs

__all__ = ["MOST", "OUR_WRITE_SECONDS", "history_rows"]

MOST = 10  # changes per tenant
OUR_WRITE_SECONDS = 300  # our newest audit event, this close to the stack's last PATCH, is that PATCH


def history_rows(found: ChangeLookup, last: StackOutputs | None) -> list[dict[str, Any]]:
    """The changes as `--json` rows (at, from, to, by, ours, requestId), newest first; one row saying
    why when the audit log could not tell."""
    if found.unknown:
        return [_note(found.unknown)]
    rows: list[dict[str, Any]] = [_note(change.describe()) for change in found.untied]
    attached = False
    for change in found.changes:
        request_id = None
        if change.ours and not attached and last and last.lastPatchAt:  # our newest change: the last PATCH?
            attached = True
            if _seconds_apart(change.at, last.lastPatchAt) < OUR_WRITE_SECONDS:
                request_id = last.lastPatchRequestId
        by = change.by if change.stated else f"{change.by} (the log does not give the value)"
        rows.append(
            {"at": change.at, "from": change.old, "to": change.new, "by": by, "ours": change.ours, "requestId": request_id}
        )
    return rows


def _note(text: str) -> dict[str, Any]:
    """A row that is no change: why the log cannot tell, or what it says instead."""
    return {"at": None, "from": None, "to": None, "by": text, "ours": False, "requestId": None}


def _seconds_apart(first: str, second: str) -> float:
    try:
        return abs((instant(first) - instant(second)).total_seconds())
    except ValueError:
        return float("inf")
