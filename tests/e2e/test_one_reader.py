"""One reader of a stack's config under the real CLI: the program, the policy pack and every fleet command
give the declared value the same answer, whether it is plain, a secret or Pulumi.yaml's default."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from providers.config.baseline import EXCEPTION
from providers.config.settings import DESIRED_VALUE
from tests.support.engine import NewStack, Run, Stack, copy_project_with_pack
from tests.support.engine import fleet as run_fleet
from tests.support.tools import ensure_tool

pytestmark = [pytest.mark.engine, pytest.mark.tools]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project copy with its policy pack, the pack's virtualenv linked in (scripts/ensure-tools.sh policy-venv)."""
    return copy_project_with_pack(tmp_path / "project", ensure_tool("policy-venv"))


def _edit_stack_file(stack: Stack, edit: Callable[[dict[str, object]], object]) -> None:
    path = stack.project / "stacks" / f"Pulumi.{stack.name}.yaml"
    content = yaml.safe_load(path.read_text())
    edit(content["config"])
    path.write_text(yaml.safe_dump(content))


def _plain(stack: Stack) -> None:
    """`true` in the stack file, as init_stack wrote it."""


def _secret(stack: Stack) -> None:
    """`pulumi config set --secret`: only the CLI can read it."""
    stack.configure({}, secret={DESIRED_VALUE.key: "true"})


def _defaulted(stack: Stack) -> None:
    """Not in the stack file: Pulumi.yaml's default for every stack."""
    _edit_stack_file(stack, lambda config: config.pop(DESIRED_VALUE.key))
    project_file = stack.project / "Pulumi.yaml"
    project = yaml.safe_load(project_file.read_text())
    project["config"]["allowedToReadBitlockerKeysForOwnedDevice"]["default"] = True
    project_file.write_text(yaml.safe_dump(project, sort_keys=False))


FORMS = {"plain": _plain, "secret": _secret, "defaulted": _defaulted}


@pytest.mark.parametrize("form", list(FORMS))
def test_the_program_the_pack_and_every_fleet_command_read_one_declared_value(new_stack: NewStack, form: str) -> None:
    deployment = new_stack("pilot", desired="true", bitlocker=False)  # the project's baseline is false
    stack = deployment.stack
    expires = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    exception = {"reason": "a pilot", "approvedBy": "jane@provider.com", "expires": expires}
    _edit_stack_file(stack, lambda config: config.__setitem__(EXCEPTION.key, exception))
    FORMS[form](stack)
    # The pack judges a deviation with a current exception: a warning that names its expiry (declared
    # false would be "declares the baseline: remove its exception"; no value, no verdict at all).
    warning = f"stack pilot's exception expires in 10 days, on {expires}: renew it before then, or declare the baseline"
    pack = stack.pulumi("preview", "--policy-pack", "policy")
    assert warning in pack.output, pack.output

    def fleet(command: str, code: int) -> dict[str, object]:
        done = run_fleet(stack.project, stack.env, command, "--json", "-")
        stack.record(("fleet", command), Run(done.returncode, done.stdout + done.stderr))
        assert done.returncode == code, done.stdout + done.stderr
        row: dict[str, object] = json.loads(done.stdout)["stacks"][0]
        return row

    for command, code, live in (
        ("drift", 3, False),
        ("preview", 3, False),
        ("up", 0, True),
        ("refresh", 0, True),
        ("history", 0, True),
        ("report", 0, True),
    ):
        row = fleet(command, code)
        assert (row["declared"], row["live"], row["warning"]) == (True, live, warning), (command, row)
    assert deployment.emulator.graph_requests("PATCH", deployment.tenant) != []
    assert stack.outputs()[DESIRED_VALUE.key.split(":")[1]] is True  # what the program declared
