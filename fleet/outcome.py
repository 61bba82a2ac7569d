"""What one command did to one tenant stack, and the exit code a fleet run ends with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from providers.properties import SettingProperties, StackOutputs
from providers.settings import value_text

__all__ = [
    "ALREADY_THERE",
    "EXIT_CHANGES",
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_OK",
    "FAILED",
    "NEVER_DEPLOYED",
    "NONE",
    "RECORD",
    "UPDATE",
    "Outcome",
    "exit_code",
    "totals",
    "why_update",
]

EXIT_OK = 0
"""Every stack converged (drift, preview: nothing to do; up, refresh: done)."""
EXIT_CONFIG = 2
"""Nothing ran: bad arguments, no stack matched, or two stacks on one tenant."""
EXIT_CHANGES = 3
"""drift, preview, report or refresh: some tenant differs from its declaration (drift, or a change not applied yet)."""
EXIT_FAILED = 4
"""Some stack failed, an unresolvable tenant included (its error is in the table); the others still ran."""

NONE = "none"
UPDATE = "update"
RECORD = "record"  # the stack records a tenant that already has the declared value: no PATCH
FAILED = "failed"


@dataclass
class Outcome:
    """One row of the summary: a stack, its tenant, and what the command found or did."""

    stack: str
    tenant: str
    customer: str = ""  # whom the tenant belongs to, for people (StackFile.customer)
    declared: bool | None = None
    live: bool | None = None
    action: str = NONE  # none | update | record | failed
    reason: str = ""  # why an update: drift, a declared change, a new stack
    request_id: str | None = None  # the PATCH's Graph request-id, when this command wrote
    seconds: float = 0.0
    error: str | None = None
    live_read: bool = False  # whether `live` was read from the tenant (None then means null)
    changed: str | None = None  # who changed the live value and when (Entra's audit log), or why that is unknown
    last_patch_at: str | None = None  # our last PATCH, from the stack's outputs (report reads them)
    last_patch_request_id: str | None = None
    violation: str | None = None  # the baseline rule refuses the stack (fleet/policy.py)
    warning: str | None = None  # e.g. its exception expires within 30 days
    exception: dict[str, Any] | None = None  # its recorded exception: reason, approvedBy, expires, daysLeft
    history: list[dict[str, Any]] | None = None  # the setting's last changes (history_rows), newest first

    def observe(self, live: bool | None) -> None:
        """Record the live value as read from the tenant."""
        self.live, self.live_read = live, True

    def to_json(self) -> dict[str, Any]:
        """The row for `--json` (camelCase, as pipelines' other JSON is)."""
        row = asdict(self)
        row["requestId"] = row.pop("request_id")
        row["liveRead"] = row.pop("live_read")
        row["lastPatchAt"] = row.pop("last_patch_at")
        row["lastPatchRequestId"] = row.pop("last_patch_request_id")
        row["seconds"] = round(self.seconds, 3)
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Outcome:
        """A row `to_json` wrote (a shard's `--json`), back as an outcome; ValueError when it is not one."""
        if not isinstance(row, dict):
            raise ValueError(f"not a fleet row: {type(row).__name__}")
        try:
            names = {
                "requestId": "request_id",
                "liveRead": "live_read",
                "lastPatchAt": "last_patch_at",
                "lastPatchRequestId": "last_patch_request_id",
            }
            return cls(**{names.get(key, key): value for key, value in row.items()})
        except TypeError as error:
            raise ValueError(f"not a fleet row: {error}") from None


NEVER_DEPLOYED = "never deployed"
ALREADY_THERE = "the tenant already has the declared value: recorded in the stack, no PATCH"


def why_update(last: SettingProperties | StackOutputs | None, live: bool | None) -> str:
    """Why a tenant differs from its stack, from the stack's last outputs (None: never deployed)."""
    if last is None:
        return NEVER_DEPLOYED
    applied = last.allowedToReadBitlockerKeysForOwnedDevice
    if applied == live:
        return "declared value changed, not applied yet"
    return f"drift: changed outside Pulumi (the last up set {value_text(applied)})"


# What an `update` row means, per command: found by a read-only command, or done.
_UPDATED = {"drift": "differ", "report": "differ", "refresh": "differ", "preview": "would change", "up": "changed"}
# A read-only command exits 3 when it finds a tenant that differs from its stack.
_READ_ONLY = ("drift", "preview", "report", "refresh")


def totals(command: str, outcomes: Sequence[Outcome]) -> str:
    """One line for a run: "200 stacks: 196 converged, 3 would change, 1 failed"."""
    count = {action: sum(outcome.action == action for outcome in outcomes) for action in (UPDATE, RECORD, FAILED)}
    parts = [f"{len(outcomes) - sum(count.values())} converged"]
    parts += [f"{count[UPDATE]} {_UPDATED.get(command, 'changed')}"] if count[UPDATE] else []
    parts += [f"{count[RECORD]} {'recorded' if command == 'up' else 'to record'}"] if count[RECORD] else []
    parts += [f"{count[FAILED]} failed"] if count[FAILED] else []
    return f"{len(outcomes)} stack{'s' if len(outcomes) != 1 else ''}: {', '.join(parts)}"


def exit_code(command: str, outcomes: Iterable[Outcome]) -> int:
    """4 when any stack failed; else 3 when a read-only command found a tenant that differs or a stack
    the baseline rule refuses; else 0. A stack to record (its tenant already has the value) is no difference.
    """
    outcomes = list(outcomes)
    actions = {outcome.action for outcome in outcomes}
    if FAILED in actions:
        return EXIT_FAILED
    if command in _READ_ONLY and (UPDATE in actions or any(outcome.violation for outcome in outcomes)):
        return EXIT_CHANGES
    return EXIT_OK
