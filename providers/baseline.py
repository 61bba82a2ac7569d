"""The project's baseline for the setting, and the recorded exception a stack needs to deviate from it.

`bitlocker-policy:baseline` is declared once, in Pulumi.yaml's `config:`, for every stack. A stack
that declares another value must carry `bitlocker-policy:exception`, a mapping with `reason`,
`approvedBy` and `expires` (an ISO date, YYYY-MM-DD): who agreed to what, and until when. A
deviation without one, or with one that has expired, is a violation; an exception that expires
within WARN_DAYS is a warning. One rule, read by the policy pack (policy/__main__.py, under
`pulumi preview --policy-pack policy`) and by the fleet: standard library only, no request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from .settings import Setting, value_text

__all__ = ["BASELINE", "EXCEPTION", "WARN_DAYS", "Exemption", "Verdict", "baseline_moved", "judge"]

BASELINE = Setting("bitlocker-policy:baseline")
EXCEPTION = Setting("bitlocker-policy:exception")
WARN_DAYS = 30
_FIELDS = ("reason", "approvedBy", "expires")


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
        """ "approved by jane@provider.com until 2027-03-31 (122 days left): legal hold on the finance laptops"."""
        return f"approved by {self.approved_by} until {self.expires} ({self.days_left(today)} days left): {self.reason}"


@dataclass(frozen=True)
class Verdict:
    """What the rule says of one stack: a violation, a warning, and the exception it carries."""

    violation: str | None = None
    warning: str | None = None
    exemption: Exemption | None = None


def judge(stack: str, declared: bool | None, baseline: bool | None, raw_exception: Any, today: date) -> Verdict:
    """The rule for one stack; `baseline` None means the project declares none (nothing to enforce)."""
    if baseline is None or declared is None:  # no baseline, or no valid declared value (that is the stack's own error)
        return Verdict()
    exemption, problem = _exemption(raw_exception)
    if declared == baseline:
        if raw_exception is None:
            return Verdict()
        return Verdict(warning=f"stack {stack} declares the baseline ({value_text(baseline)}): remove its {EXCEPTION.key}")
    deviation = f"stack {stack} declares {value_text(declared)}, not the baseline {value_text(baseline)}"
    if raw_exception is None:
        return Verdict(
            violation=f"{deviation}, with no exception recorded: add {EXCEPTION.key} with "
            "reason, approvedBy and expires (YYYY-MM-DD), or declare the baseline"
        )
    if exemption is None:
        return Verdict(violation=f"{deviation}, and its {EXCEPTION.key} {problem}")
    if exemption.days_left(today) < 0:
        return Verdict(
            violation=f"{deviation}, and its exception (approved by {exemption.approved_by}) expired on "
            f"{exemption.expires}: renew expires with a new approval, or declare the baseline",
            exemption=exemption,
        )
    if exemption.days_left(today) <= WARN_DAYS:
        return Verdict(
            warning=f"stack {stack}'s exception expires in {exemption.days_left(today)} days, on {exemption.expires}",
            exemption=exemption,
        )
    return Verdict(exemption=exemption)


def baseline_moved(stack: str) -> Verdict:
    """The violation of a stack that sets a baseline of its own."""
    return Verdict(
        violation=f"stack {stack} sets {BASELINE.key}: the baseline is the project's (Pulumi.yaml), one for every stack"
    )


def _exemption(raw: Any) -> tuple[Exemption | None, str]:
    """The exception from its config value (a mapping, or the JSON Pulumi hands a program), or what is wrong with it."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None, "must be a mapping with reason, approvedBy and expires, not text"
    if not isinstance(raw, dict):
        return None, "must be a mapping with reason, approvedBy and expires"
    missing = [name for name in _FIELDS if not str(raw.get(name) or "").strip()]
    if missing:
        return None, f"lacks {', '.join(missing)}"
    try:
        expires = date.fromisoformat(str(raw["expires"]).strip())
    except ValueError:
        return None, f"has expires {str(raw['expires'])[:40]!r}, which is no date YYYY-MM-DD"
    return Exemption(str(raw["reason"]).strip(), str(raw["approvedBy"]).strip(), expires), ""
