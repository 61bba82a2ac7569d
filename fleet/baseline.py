"""The baseline rule over the fleet (providers/config/baseline.py): the same verdict the policy pack gives under the CLI.

The baseline is the project's, read from Pulumi.yaml alone: a stack file that sets another is a
violation. The stack's own values the rule reads (its declared value, baseline and exception) are
read as its program gets them, secrets decrypted by the CLI. Config only, no request; `up`
refuses a stack in violation before the engine runs it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fleet.outcome import Outcome
from fleet.stacks import Decrypt, StackFile, StackValues
from providers.common.errors import BitlockerPolicyError, ConfigurationError
from providers.config.baseline import BASELINE, RULE_KEYS, WARN_DAYS, WARN_WINDOW, Verdict, judge, read_warn_days
from providers.config.settings import DESIRED_VALUE, Sources, parse_bool
from providers.config.stack_config import project_values

__all__ = ["project_baseline", "project_warn_days", "verdict", "with_verdict"]


def project_baseline(project_dir: Path) -> bool | None:
    """Pulumi.yaml's bitlocker-policy:baseline (None: the project declares none)."""
    return Sources(project_values(project_dir), {}).boolean(BASELINE)


def project_warn_days(project_dir: Path) -> int:
    """Pulumi.yaml's bitlocker-policy:exceptionWarnDays: how many days before it expires an exception is a warning."""
    found = read_warn_days(project_values(project_dir).get(WARN_WINDOW.key))
    if isinstance(found, str):
        raise ConfigurationError(found)
    return found


def verdict(stack: StackFile, baseline: bool | None, today: date, decrypt: Decrypt, warn_days: int = WARN_DAYS) -> Verdict:
    """The rule for one stack, from its config as its program gets it (StackValues)."""
    values = StackValues(stack, decrypt)
    try:
        config = {key: values[key] for key in (*RULE_KEYS, DESIRED_VALUE.key) if key in values}
    except BitlockerPolicyError as error:
        return Verdict(violation=f"stack {stack.name}: the baseline rule cannot read its secrets: {error}")
    return judge(stack.name, parse_bool(config.get(DESIRED_VALUE.key)), baseline, config, today, warn_days)


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
