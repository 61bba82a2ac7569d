"""The baseline rule under the real CLI: `pulumi preview --policy-pack policy`, the project's own pack.

The CLI starts a Python policy pack through the language host's RunPlugin (this project's host,
scripts/pulumi-language-python/main.go, as upstream's); the pack runs in its own virtualenv. The
fleet (`python -m fleet drift`) and the pack give the same verdict on every exception value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from providers.config.baseline import EXCEPTION
from tests.support.engine import NewStack, Run, Stack, copy_project_with_pack
from tests.support.engine import fleet as run_fleet
from tests.support.reliability_doc import Section, declare, record
from tests.support.tools import ensure_tool

pytestmark = [pytest.mark.engine, pytest.mark.tools]

RULE = "deviation-needs-a-current-exception"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project copy with its policy pack, the pack's virtualenv linked in (scripts/ensure-tools.sh policy-venv)."""
    return copy_project_with_pack(tmp_path / "project", ensure_tool("policy-venv"))


def set_exception(stack: Stack, expires_in_days: int | None) -> None:
    """Write (or with None, remove) the stack's recorded exception, expiring that many days from today."""
    path = stack.project / "stacks" / f"Pulumi.{stack.name}.yaml"
    content = yaml.safe_load(path.read_text())
    content["config"].pop("bitlocker-policy:exception", None)
    if expires_in_days is not None:
        expires = (datetime.now(UTC).date() + timedelta(days=expires_in_days)).isoformat()
        content["config"]["bitlocker-policy:exception"] = {
            "reason": "a pilot",
            "approvedBy": "jane@provider.com",
            "expires": expires,
        }
    path.write_text(yaml.safe_dump(content))


def test_a_deviation_needs_a_current_exception_under_the_real_cli(new_stack: NewStack) -> None:
    stack = new_stack("pilot", desired="true").stack  # the project's baseline is false
    failed = stack.pulumi("preview", "--policy-pack", "policy", expect=None)
    assert failed.code != 0, failed.output
    assert RULE in failed.output
    assert "stack pilot declares true, not the baseline false, with no exception recorded" in failed.output

    set_exception(stack, 10)
    soon = stack.pulumi("preview", "--policy-pack", "policy")
    assert "exception-expires-soon" in soon.output
    assert "stack pilot's exception expires in 10 days" in soon.output

    set_exception(stack, 200)
    assert "exception-expires" not in stack.pulumi("preview", "--policy-pack", "policy").output

    set_exception(stack, -1)
    expired = stack.pulumi("up", "--yes", "--policy-pack", "policy", expect=None)
    assert expired.code != 0
    assert "expired 1 day ago" in expired.output
    assert stack.resources() == []  # blocked before anything was created


def test_the_baseline_needs_no_exception_and_a_stack_cannot_move_it(new_stack: NewStack) -> None:
    stack = new_stack("steady", desired="false").stack
    assert RULE not in stack.pulumi("preview", "--policy-pack", "policy").output
    stack.configure({"bitlocker-policy:baseline": "true"})
    moved = stack.pulumi("preview", "--policy-pack", "policy", expect=None)
    assert moved.code != 0
    assert "stack steady sets bitlocker-policy:baseline: the baseline is the project's (Pulumi.yaml)" in moved.output


# Exception values as people write them: the fleet and the pack read each the same way.
GOOD = {"reason": "a pilot", "approvedBy": "jane@provider.com", "expires": "2099-01-01"}


def _edit(stack: Stack, exception: object) -> None:
    """Write the exception into the stack file as a user does (a date object is written unquoted)."""
    path = stack.project / "stacks" / f"Pulumi.{stack.name}.yaml"
    content = yaml.safe_load(path.read_text())
    content["config"][EXCEPTION.key] = exception
    path.write_text(yaml.safe_dump(content, width=2_000_000))


def _as_a_secret(stack: Stack) -> None:
    stack.configure({}, secret={EXCEPTION.key: json.dumps(GOOD)})


def _unquoted_date_then_config_set(stack: Stack) -> None:
    _edit(stack, {**GOOD, "expires": date(2099, 1, 1)})
    stack.configure({"bitlocker-policy:customerName": "Fabrikam"})  # the CLI saves the file again
    assert "2099-01-01 00:00:00 +0000 UTC" in (stack.project / "stacks" / f"Pulumi.{stack.name}.yaml").read_text()


EXCEPTION_VALUES: dict[str, tuple[Callable[[Stack], None], str | None]] = {
    "a secret (`pulumi config set --secret`)": (_as_a_secret, None),
    "unquoted `expires: 2099-01-01`": (lambda stack: _edit(stack, {**GOOD, "expires": date(2099, 1, 1)}), None),
    "unquoted `expires: 2099-01-01`, then `pulumi config set`": (_unquoted_date_then_config_set, None),
    '`"not json"`': (
        lambda stack: _edit(stack, "not json"),
        "must be a mapping with reason, approvedBy and expires, got the text 'not json'",
    ),
    "`approvedBy: true`": (lambda stack: _edit(stack, {**GOOD, "approvedBy": True}), "approvedBy must be text, got a boolean"),
    "`reason: 5`": (lambda stack: _edit(stack, {**GOOD, "reason": 5}), "reason must be text, got a number"),
    "a reason of 10 KB": (
        lambda stack: _edit(stack, {**GOOD, "reason": "x" * 10_000}),
        "is longer than 8192 characters: keep reason within 1000 and approvedBy within 256",
    ),
}
EXCEPTION_SECTION = declare(
    "exception values",
    Section(
        title="Exception values",
        intro="A stack that declares `true` against the baseline `false`, its `bitlocker-policy:exception` written "
        "as below: `python -m fleet drift` and `pulumi preview --policy-pack policy` (the real CLI and pack) "
        "give the same verdict, in one line, with no traceback or gRPC text.",
        cases=tuple(EXCEPTION_VALUES),
        columns=("fleet", "policy pack"),
    ),
)


def _cell(verdict: str | None) -> str:
    return "accepted" if verdict is None else f"refused: `{verdict.partition(', and its ')[2]}`"


@pytest.mark.parametrize("case", list(EXCEPTION_VALUES))
def test_the_pack_and_the_fleet_read_an_exception_the_same_way(new_stack: NewStack, case: str) -> None:
    write, problem = EXCEPTION_VALUES[case]
    stack = new_stack("pilot", desired="true").stack  # the tenant allows already: drift sees the rule alone
    write(stack)
    fleet = run_fleet(stack.project, stack.env, "drift", "--json", "-")
    stack.record(("fleet", "drift"), Run(fleet.returncode, fleet.stdout + fleet.stderr))
    assert (fleet.returncode, "Traceback" in fleet.stderr) == (0 if problem is None else 5, False), fleet.stderr
    by_fleet = json.loads(fleet.stdout)["stacks"][0]["violation"]
    pack = stack.pulumi("preview", "--policy-pack", "policy", expect=None)
    assert not any(word in pack.output for word in ("Traceback", "rpc error", "grpc", "argument list too long")), pack.output
    by_pack = [line.strip() for line in pack.output.splitlines() if line.strip().startswith("stack pilot ")]
    assert (by_pack, pack.code == 0) == (([] if by_fleet is None else [by_fleet]), problem is None), pack.output
    assert by_fleet is None if problem is None else by_fleet.endswith(problem)
    record("exception values", case, "fleet", _cell(by_fleet))
    record("exception values", case, "policy pack", _cell(by_pack[0] if by_pack else None))


def test_a_reason_of_1_mb_is_refused_by_the_fleet_in_one_line_and_stops_pulumi_itself(new_stack: NewStack) -> None:
    """Pulumi hands a program (and a pack) the whole config in one environment variable, which Linux caps at
    128 KiB (MAX_ARG_STRLEN): past it, the program cannot start, before any pack runs (pulumi/pulumi#20402).
    That is Pulumi's limit, as a user with Pulumi meets it; the fleet refuses the value first, in one line."""
    stack = new_stack("pilot", desired="true").stack
    _edit(stack, {**GOOD, "reason": "x" * 1_000_000})
    fleet = run_fleet(stack.project, stack.env, "drift", "--json", "-")
    stack.record(("fleet", "drift"), Run(fleet.returncode, fleet.stdout + fleet.stderr))
    assert (fleet.returncode, "Traceback" in fleet.stderr) == (5, False), fleet.stderr
    assert json.loads(fleet.stdout)["stacks"][0]["violation"].endswith(
        "is longer than 8192 characters: keep reason within 1000 and approvedBy within 256"
    )
    pack = stack.pulumi("preview", "--policy-pack", "policy", expect=None)
    assert (pack.code != 0, "argument list too long" in pack.output) == (True, True), pack.output
