"""The baseline rule over the fleet (providers/baseline.py): the same verdict the policy pack gives under the CLI.

The baseline is the project's, read from Pulumi.yaml alone: a stack file that sets another is a
violation. The exception is read from the stack file (keep it there, not in ESC or as a secret).
Config only, no request; `up` refuses a stack in violation before the engine runs it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from providers.baseline import BASELINE, EXCEPTION, Verdict, baseline_moved, judge
from providers.settings import DESIRED_VALUE, parse_declared
from providers.stack_config import project_value

from .outcome import Outcome
from .stacks import StackFile

__all__ = ["project_baseline", "verdict", "with_verdict"]


def project_baseline(project_dir: Path) -> bool | None:
    """Pulumi.yaml's bitlocker-policy:baseline (None: the project declares none)."""
    return parse_declared(project_value(project_dir, BASELINE.key))


def verdict(stack: StackFile, baseline: bool | None, today: date) -> Verdict:
    """The rule for one stack, from its file."""
    if BASELINE.key in stack.config and parse_declared(stack.config[BASELINE.key]) != baseline:  # as the pack judges it
        return baseline_moved(stack.name)
    declared = parse_declared(stack.sources.get(DESIRED_VALUE))
    return judge(stack.name, declared, baseline, stack.config.get(EXCEPTION.key), today)


def with_verdict(outcome: Outcome, found: Verdict, today: date) -> Outcome:
    """The outcome, carrying the verdict (and the exception, for reports)."""
    outcome.violation, outcome.warning = found.violation, found.warning
    if found.exemption:
        exemption = found.exemption
        outcome.exception = {
            "reason": exemption.reason,
            "approvedBy": exemption.approved_by,
            "expires": exemption.expires.isoformat(),
            "daysLeft": exemption.days_left(today),
        }
    return outcome
