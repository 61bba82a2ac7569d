"""The baseline rule under the real CLI: `pulumi preview --policy-pack policy`, the project's own pack.

The CLI starts a Python policy pack through the language host's RunPlugin (this project's host,
scripts/pulumi-language-python/main.go, as upstream's); the pack runs in its own virtualenv.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.support.engine import REPO, NewStack, Stack, copy_project
from tests.support.tools import ensure_tool

pytestmark = [pytest.mark.engine, pytest.mark.tools]

RULE = "deviation-needs-a-current-exception"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project copy with its policy pack, the pack's virtualenv linked in (scripts/ensure-tools.sh policy-venv)."""
    root = copy_project(tmp_path / "project")
    shutil.copytree(REPO / "policy", root / "policy", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    (root / "policy" / "venv").symlink_to(ensure_tool("policy-venv"))
    return root


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
    assert "expired on" in expired.output
    assert stack.resources() == []  # blocked before anything was created


def test_the_baseline_needs_no_exception_and_a_stack_cannot_move_it(new_stack: NewStack) -> None:
    stack = new_stack("steady", desired="false").stack
    assert RULE not in stack.pulumi("preview", "--policy-pack", "policy").output
    stack.configure({"bitlocker-policy:baseline": "true"})
    moved = stack.pulumi("preview", "--policy-pack", "policy", expect=None)
    assert moved.code != 0
    assert "stack steady sets bitlocker-policy:baseline: the baseline is the project's (Pulumi.yaml)" in moved.output
