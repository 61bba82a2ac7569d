"""The project's baseline for the setting, and the recorded exception a stack needs to deviate from it.

`bitlocker-policy:baseline` is declared once, in Pulumi.yaml's `config:`, for every stack. A stack
that declares another value must carry `bitlocker-policy:exception`, a mapping with `reason`,
`approvedBy` and `expires` (a date, YYYY-MM-DD): who agreed to what, and until when. A deviation
without one, or with one that has expired, is a violation; an exception that expires within
`bitlocker-policy:exceptionWarnDays` days (Pulumi.yaml, default WARN_DAYS) is a warning. One rule
and one reader of the stack's values it needs (RULE_KEYS, as the stack's program gets them: plain
or decrypted, a mapping or its JSON text), used by the policy pack (policy/__main__.py, under
`pulumi preview --policy-pack policy`) and by the fleet (fleet/baseline.py): standard library only,
no request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from providers.config.settings import Setting, parse_bool, value_text

__all__ = [
    "APPROVER_MOST",
    "BASELINE",
    "EXCEPTION",
    "EXCEPTION_MOST",
    "REASON_MOST",
    "RULE_KEYS",
    "WARN_DAYS",
    "WARN_WINDOW",
    "Exemption",
    "Verdict",
    "expiry_text",
    "judge",
    "read_exemption",
    "read_warn_days",
]

BASELINE = Setting("bitlocker-policy:baseline")
EXCEPTION = Setting("bitlocker-policy:exception")
RULE_KEYS = (BASELINE.key, EXCEPTION.key)  # the stack's own values the rule reads
WARN_DAYS = 30  # days before an exception expires from which it is a warning, unless Pulumi.yaml says otherwise
WARN_WINDOW = Setting("bitlocker-policy:exceptionWarnDays")
REASON_MOST = 1_000  # characters: a sentence or two, and a ticket reference
APPROVER_MOST = 256  # characters: a name and an address (an address alone is at most 254, RFC 5321)
# The whole exception as the CLI hands it to a program or a pack (JSON text). Far larger values
# (over 128 KiB) stop Pulumi itself before the pack runs: the whole config travels in one
# environment variable, which Linux caps (pulumi/pulumi#20402); the fleet refuses them first.
EXCEPTION_MOST = 8_192
_FIELDS = {"reason": REASON_MOST, "approvedBy": APPROVER_MOST, "expires": None}
# A date as written (2027-06-30), or as the Go CLI turns an unquoted YAML date: Go's time.Time.String(),
# "2027-06-30 00:00:00 +0000 UTC", in what it hands a program or a pack and in the stack file it saves
# (`pulumi stack init`, `config set`).
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?: 00:00:00 \+0000 UTC)?")


@dataclass(frozen=True)
class Exemption:
    """A recorded exception: why, who agreed, until when."""

    reason: str
    approved_by: str
    expires: date

    def days_left(self, today: date) -> int:
        """Days until it expires (0 on its last day, negative once expired)."""
        return (self.expires - today).days

    def describe(self, today: date) -> str:
        """ "approved by jane@provider.com until 2027-03-31 (expires in 122 days): legal hold on the finance laptops"."""
        return f"approved by {self.approved_by} until {self.expires} ({expiry_text(self.days_left(today))}): {self.reason}"


def expiry_text(days_left: int) -> str:
    """How an exception's days left read: "expires in 12 days", "expires today", "expired 7 days ago"."""
    if days_left < 0:
        return f"expired {-days_left} day{'s' if days_left < -1 else ''} ago"
    return "expires today" if days_left == 0 else f"expires in {days_left} day{'s' if days_left > 1 else ''}"


@dataclass(frozen=True)
class Verdict:
    """What the rule says of one stack: a violation, a warning, and the exception it carries."""

    violation: str | None = None
    warning: str | None = None
    exemption: Exemption | None = None


def judge(
    stack: str,
    declared: bool | None,
    baseline: bool | None,
    config: Mapping[str, Any],
    today: date,
    warn_days: int = WARN_DAYS,
) -> Verdict:
    """The rule for one stack. `baseline` None: the project declares none (nothing to enforce);
    `config`: the stack's values of RULE_KEYS as its program gets them (an unset key left out);
    `warn_days`: an exception that expires within as many days is a warning."""
    if BASELINE.key in config and parse_bool(config[BASELINE.key]) != baseline:
        return Verdict(
            violation=f"stack {stack} sets {BASELINE.key}: the baseline is the project's (Pulumi.yaml), one for every stack"
        )
    if baseline is None or declared is None:  # no baseline, or no valid declared value (that is the stack's own error)
        return Verdict()
    raw = config.get(EXCEPTION.key)
    if declared == baseline:
        if raw is None:
            return Verdict()
        return Verdict(warning=f"stack {stack} declares the baseline ({value_text(baseline)}): remove its {EXCEPTION.key}")
    deviation = f"stack {stack} declares {value_text(declared)}, not the baseline {value_text(baseline)}"
    if raw is None:
        return Verdict(
            violation=f"{deviation}, with no exception recorded: add {EXCEPTION.key} with "
            "reason, approvedBy and expires (YYYY-MM-DD), or declare the baseline"
        )
    exemption = read_exemption(raw)
    if isinstance(exemption, str):
        return Verdict(violation=f"{deviation}, and its {exemption}")
    days_left = exemption.days_left(today)
    if days_left < 0:
        return Verdict(
            violation=f"{deviation}, and its exception (approved by {exemption.approved_by}) {expiry_text(days_left)}, "
            f"on {exemption.expires}: renew expires with a new approval, or declare the baseline",
            exemption=exemption,
        )
    if days_left <= warn_days:
        return Verdict(
            warning=f"stack {stack}'s exception {expiry_text(days_left)}, on {exemption.expires}: "
            "renew it before then, or declare the baseline",
            exemption=exemption,
        )
    return Verdict(exemption=exemption)


def read_exemption(raw: Any) -> Exemption | str:
    """The exception from its value (a mapping from the stack file, or the JSON text the CLI hands a
    program or a pack), or what is wrong with it, naming the key: the same answer from either form."""
    try:
        text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, separators=(",", ":"), default=str)
        if len(text) > EXCEPTION_MOST:  # before parsing: a huge value costs nothing to refuse
            return (
                f"{EXCEPTION.key} is longer than {EXCEPTION_MOST} characters: keep reason within {REASON_MOST} "
                f"and approvedBy within {APPROVER_MOST}"
            )
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = raw.strip() or None
    except RecursionError:  # [[[[…: Python's JSON codec recurses once per level
        return f"{EXCEPTION.key} is nested too deeply to be an exception"
    if not isinstance(raw, dict):
        return f"{EXCEPTION.key} must be a mapping with reason, approvedBy and expires, got {_kind(raw)}"
    missing = [name for name in _FIELDS if raw.get(name) in (None, "") or (isinstance(raw[name], str) and not raw[name].strip())]
    if missing:
        return f"{EXCEPTION.key} lacks {', '.join(missing)}"
    for name, most in _FIELDS.items():
        if most is not None and not isinstance(raw[name], str):
            return f"{EXCEPTION.key}.{name} must be text, got {_kind(raw[name])}"
        if most is not None and len(raw[name].strip()) > most:
            return f"{EXCEPTION.key}.{name} is longer than {most} characters"
    expires = _date(raw["expires"])
    if expires is None:
        return f"{EXCEPTION.key}.expires must be a date YYYY-MM-DD, got {_kind(raw['expires'])}"
    return Exemption(raw["reason"].strip(), raw["approvedBy"].strip(), expires)


def read_warn_days(value: Any) -> int | str:
    """Pulumi.yaml's WARN_WINDOW (None: WARN_DAYS), or what is wrong with it, naming the key."""
    if value is None:
        return WARN_DAYS
    text = str(value).strip()
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()):
        return f"{WARN_WINDOW.key} in Pulumi.yaml must be a whole number of days (0 or more), got {_kind(value)}"
    return int(text)


def _date(value: Any) -> date | None:
    """A date as YAML reads it unquoted, as text, or as the Go CLI rewrites it; None for anything else."""
    if isinstance(value, datetime):  # YAML's 2027-06-30T00:00:00Z: a date at midnight UTC, as the CLI reads it
        return value.date() if value.time() == datetime.min.time() and not value.utcoffset() else None
    if isinstance(value, date):
        return value
    found = _DATE.fullmatch(value.strip()) if isinstance(value, str) else None
    try:
        return date.fromisoformat(found[1]) if found else None
    except ValueError:  # 2027-02-30
        return None


def _kind(value: Any) -> str:
    """What a wrong value is, for people: "a boolean", "a number", "the text 'next year'"."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    text = str(value)
    return f"the text {text[:40]!r}{'…' if len(text) > 40 else ''}"
