"""What one command did to one tenant stack, and the exit code a fleet run ends with."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from functools import cache
from types import NoneType, UnionType
from typing import Any, get_args, get_type_hints

from providers.config.settings import value_text
from providers.properties import SettingProperties, StackOutputs

__all__ = [
    "ACTIONS",
    "ALREADY_THERE",
    "EXIT_CHANGES",
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_VIOLATION",
    "FAILED",
    "NEVER_DEPLOYED",
    "NONE",
    "RECORD",
    "STATUSES",
    "UPDATE",
    "VIOLATION",
    "Outcome",
    "exit_code",
    "json_type",
    "status",
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
EXIT_VIOLATION = 5
"""Any command: some stack breaks the baseline rule (a deviation without an exception, or with an expired one).
It outranks 4 and 3: the rule is judged from the stack files before anything runs, so it holds whatever
else failed, and it is what a reviewer must act on (`up` writes nothing to such a stack)."""

NONE = "none"
UPDATE = "update"
RECORD = "record"  # the stack records a tenant that already has the declared value: no PATCH
FAILED = "failed"
ACTIONS = (NONE, UPDATE, RECORD, FAILED)

VIOLATION = "violation"
# A row's status in --json, most urgent first: it breaks the baseline rule, it failed, the tenant
# differs from its stack (drift, preview, report, refresh) or `up` changed it, a value to record, nothing.
STATUSES = (VIOLATION, FAILED, "differs", "changed", RECORD, "converged")


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
    violation: str | None = None  # the baseline rule refuses the stack (fleet/baseline.py)
    warning: str | None = None  # e.g. its exception expires within exceptionWarnDays
    exception: dict[str, Any] | None = None  # its recorded exception: reason, approvedBy, expires, daysLeft
    history: list[dict[str, Any]] | None = None  # the setting's last changes (history_rows), newest first
    key_reads: dict[str, Any] | None = None  # recovery-key reads in the audit log (providers/graph/audit.py KeyReads.to_json)

    def observe(self, live: bool | None) -> None:
        """Record the live value as read from the tenant."""
        self.live, self.live_read = live, True

    def to_json(self) -> dict[str, Any]:
        """The row for `--json` (camelCase, as pipelines' other JSON is)."""
        row = {_JSON_NAMES.get(name, name): value for name, value in asdict(self).items()}
        row["seconds"] = round(self.seconds, 3)
        return row

    @classmethod
    def from_json(cls, row: object) -> Outcome:
        """A row `to_json` wrote (a shard's `--json`), back as an outcome; else ValueError(".KEY is …, not …"):
        a key `to_json` never writes, a value of another type, an unknown action."""
        if not isinstance(row, dict):
            raise ValueError(f" is {json_type(row)}, not an object")
        kinds = _row_kinds()
        if row.get("status", STATUSES[-1]) not in STATUSES:  # json_document's, derived from the row: read, not kept
            raise ValueError(f".status is {row['status']!r:.40}, not one of {', '.join(STATUSES)}")
        row = {key: value for key, value in row.items() if key != "status"}
        for key, value in row.items():
            wrong = _wrong(value, kinds[key]) if key in kinds else " is not a key of a fleet row"
            if wrong:
                raise ValueError(f".{str(key)[:40]}{wrong}")
        missing = [key for key in ("stack", "tenant") if key not in row]
        if missing:
            raise ValueError(f".{missing[0]} is missing")
        if not row["stack"]:
            raise ValueError(".stack is empty")
        if row.get("action", NONE) not in ACTIONS:
            raise ValueError(f".action is {row['action']!r:.40}, not one of {', '.join(ACTIONS)}")
        if not 0 <= row.get("seconds", 0) < math.inf:  # NaN fails too
            raise ValueError(f".seconds is {row['seconds']}, not a duration")
        names = {json_name: name for name, json_name in _JSON_NAMES.items()}
        return cls(**{names.get(str(key), str(key)): value for key, value in row.items()})


# The JSON names of the fields that are not camelCase already.
_JSON_NAMES = {
    "request_id": "requestId",
    "live_read": "liveRead",
    "last_patch_at": "lastPatchAt",
    "last_patch_request_id": "lastPatchRequestId",
    "key_reads": "keyReads",
}


@dataclass(frozen=True)
class _Object:
    """A JSON object with exactly these keys, each of these JSON types (or a list of such objects); null allowed."""

    keys: dict[str, tuple[type, ...] | _Object]
    many: bool = False


_Kind = tuple[type, ...] | _Object
# The objects a row holds: its exception (fleet/baseline.py with_verdict) and its changes (fleet/history.py history_rows).
_EXCEPTION = _Object({"reason": (str,), "approvedBy": (str,), "expires": (str,), "daysLeft": (int,)})
_CHANGES = _Object(
    {
        "at": (str, NoneType),
        "from": (bool, NoneType),
        "to": (bool, NoneType),
        "by": (str,),
        "ours": (bool,),
        "requestId": (str, NoneType),
    },
    many=True,
)

_KEY_READS = _Object(
    {"reads": (int,), "keys": (int,), "complete": (bool,), "readers": _Object({"by": (str,), "count": (int,)}, many=True)}
)


@cache
def _row_kinds() -> dict[str, _Kind]:
    """Each JSON key of a row and its JSON types, from the field's annotation (a float may be written as an integer)."""
    hints = get_type_hints(Outcome)
    kinds: dict[str, _Kind] = {}
    for field in fields(Outcome):
        types = get_args(hints[field.name]) if isinstance(hints[field.name], UnionType) else (hints[field.name],)
        kind = tuple(json for given in types for json in ((int, float) if given is float else (given,)))
        kinds[_JSON_NAMES.get(field.name, field.name)] = kind
    return kinds | {"exception": _EXCEPTION, "history": _CHANGES, "keyReads": _KEY_READS}


def _wrong(value: object, kind: _Kind) -> str | None:
    """Why `value` is not of `kind` (" is a string, not a number", ".daysLeft is null, …"), or None."""
    if isinstance(kind, _Object):
        if value is None:
            return None
        if kind.many and not isinstance(value, list):
            return f" is {json_type(value)}, not a list or null"
        for index, item in enumerate(value if isinstance(value, list) and kind.many else [value]):
            where = f"[{index}]" if kind.many else ""
            if not isinstance(item, dict):
                return f"{where} is {json_type(item)}, not an object"
            if set(item) != set(kind.keys):
                return f"{where} has keys {', '.join(sorted(map(str, item)))[:80]}, not {', '.join(kind.keys)}"
            wrong = next((f"{where}.{key}{w}" for key, types in kind.keys.items() if (w := _wrong(item[key], types))), None)
            if wrong:
                return wrong
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in kind):
        return f" is {json_type(value)}, not {' or '.join(dict.fromkeys(_JSON_TYPES[given] for given in kind))}"
    if isinstance(value, str) and not _encodable(value):
        return " holds a lone surrogate, which is no character (UTF-8 cannot carry it)"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


_JSON_TYPES = {
    NoneType: "null",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
}


def json_type(value: object) -> str:
    """A JSON value's type, as a message names it."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


NEVER_DEPLOYED = "never deployed"
ALREADY_THERE = "the tenant already has the declared value: recorded in the stack, no PATCH"


def why_update(last: SettingProperties | StackOutputs | None, live: bool | None) -> str:
    """Why a tenant differs from its stack, from the stack's last outputs (None: never deployed)."""
    if last is None:
        return NEVER_DEPLOYED
    applied = last.allowedToReadBitlockerKeysForOwnedDevice
    if applied == live:
        return "declared value changed, not applied yet"
    return f"drift: changed outside Pulumi (the stack's last up left it {value_text(applied)})"


# What an `update` row means, per command: found by a read-only command, or done.
_UPDATED = {"drift": "differ", "report": "differ", "refresh": "differ", "preview": "would change", "up": "changed"}
# A read-only command exits 3 when it finds a tenant that differs from its stack.
_READ_ONLY = ("drift", "preview", "report", "refresh")


def status(command: str, outcome: Outcome) -> str:
    """The row's status for `--json` (one of STATUSES): the most urgent thing about it."""
    if outcome.violation:
        return VIOLATION
    if outcome.action == UPDATE:
        return "changed" if command == "up" else "differs"
    return {FAILED: FAILED, RECORD: RECORD}.get(outcome.action, "converged")


def totals(command: str, outcomes: Sequence[Outcome]) -> str:
    """One line for a run: "200 stacks: 1 breaks the baseline rule, 195 converged, 3 would change, 1 failed".

    A stack that breaks the rule is counted there alone, whatever else its row says."""
    broken = sum(bool(outcome.violation) for outcome in outcomes)
    kept = [outcome for outcome in outcomes if not outcome.violation]
    count = {action: sum(outcome.action == action for outcome in kept) for action in (UPDATE, RECORD, FAILED)}
    parts = [f"{broken} break{'s' if broken == 1 else ''} the baseline rule"] if broken else []
    parts += [f"{len(kept) - sum(count.values())} converged"]
    parts += [f"{count[UPDATE]} {_UPDATED.get(command, 'changed')}"] if count[UPDATE] else []
    parts += [f"{count[RECORD]} {'recorded' if command == 'up' else 'to record'}"] if count[RECORD] else []
    parts += [f"{count[FAILED]} failed"] if count[FAILED] else []
    return f"{len(outcomes)} stack{'s' if len(outcomes) != 1 else ''}: {', '.join(parts)}"


def exit_code(command: str, outcomes: Iterable[Outcome]) -> int:
    """5 when any stack breaks the baseline rule; else 4 when any stack failed; else 3 when a read-only
    command found a tenant that differs; else 0. A stack to record (its tenant already has the value)
    is no difference.
    """
    outcomes = list(outcomes)
    actions = {outcome.action for outcome in outcomes}
    if any(outcome.violation for outcome in outcomes):
        return EXIT_VIOLATION
    if FAILED in actions:
        return EXIT_FAILED
    if command in _READ_ONLY and UPDATE in actions:
        return EXIT_CHANGES
    return EXIT_OK
