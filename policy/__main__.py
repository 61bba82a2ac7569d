"""The baseline rule as a Pulumi policy pack: `pulumi preview --policy-pack policy`.

The rule is providers/config/baseline.py's, the one the fleet applies (fleet/baseline.py): the project
declares `bitlocker-policy:baseline` in Pulumi.yaml; a stack that declares another value must
carry `bitlocker-policy:exception` (reason, approvedBy, expires). A deviation without one, or
with an expired one, is a mandatory violation; one expiring within Pulumi.yaml's
`bitlocker-policy:exceptionWarnDays` days (30 unless set) is advisory.

The pack reads the declared value from the setting's inputs, the stack's own baseline and
exception from its config as the CLI hands it (text, secrets decrypted, through the language
host's policy proxy), and the project's baseline from Pulumi.yaml itself: a stack cannot move it. The
values are read as text and judged by the fleet's own reader (providers/config/baseline.py, judge).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))  # the project's own rule, not a copy of it

import pulumi  # noqa: E402
from pulumi_policy import EnforcementLevel, PolicyPack, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy  # noqa: E402

from providers.config.baseline import BASELINE, RULE_KEYS, WARN_WINDOW, Verdict, judge, read_warn_days  # noqa: E402
from providers.config.settings import Sources, parse_bool  # noqa: E402
from providers.config.stack_config import project_values  # noqa: E402
from providers.properties import DECLARED_PROPERTY, SETTING_NAME  # noqa: E402


def _verdict(args: ResourceValidationArgs) -> Verdict | None:
    """The rule for the stack's setting; None for any other resource."""
    if not args.urn.endswith(f"::{SETTING_NAME}"):
        return None
    project = project_values(PROJECT)
    baseline = Sources(project, {}).boolean(BASELINE)
    declared = parse_bool(args.props.get(DECLARED_PROPERTY))  # the only input read: others are unknown at preview
    config = {key: value for key in RULE_KEYS if (value := pulumi.runtime.get_config(key)) is not None}
    warn_days = read_warn_days(project.get(WARN_WINDOW.key))
    if isinstance(warn_days, str):  # the fleet refuses to run on it (fleet/baseline.py): so does the pack
        return Verdict(violation=warn_days)
    return judge(pulumi.get_stack(), declared, baseline, config, datetime.now(UTC).date(), warn_days)


def deviation_needs_a_current_exception(args: ResourceValidationArgs, report: ReportViolation) -> None:
    found = _verdict(args)
    if found and found.violation:
        report(found.violation)


def exception_expires_soon(args: ResourceValidationArgs, report: ReportViolation) -> None:
    found = _verdict(args)
    if found and found.warning:
        report(found.warning)


PolicyPack(
    name="bitlocker-policy-baseline",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(
            name="deviation-needs-a-current-exception",
            description="A declared value other than the baseline needs bitlocker-policy:exception, not expired.",
            validate=deviation_needs_a_current_exception,
        ),
        ResourceValidationPolicy(
            name="exception-expires-soon",
            description="A recorded exception expires soon (exceptionWarnDays), or is no longer needed.",
            enforcement_level=EnforcementLevel.ADVISORY,
            validate=exception_expires_soon,
        ),
    ],
)
