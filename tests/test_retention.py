"""retainOnDelete as the user means it now: every place Pulumi lets it be set, and every way a delete can run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from providers.common.errors import ConfigurationError
from providers.config.invocation import PulumiCommand
from providers.config.retention import retain_on_delete
from providers.config.settings import Sources
from tests.support.engine import REPO

KEY = "bitlocker-policy:retainOnDelete"
PLAIN_DESTROY = PulumiCommand(("pulumi", "destroy", "--yes", "--stack", "prod"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project as shipped (Pulumi.yaml declares retainOnDelete, default false) with one stack file, `prod`."""
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text("config:\n  azuread:tenantId: contoso.onmicrosoft.com\n")
    return tmp_path


def decide(project: Path, command: PulumiCommand | None, configured: dict[str, str] | None = None, **env: str) -> bool:
    return retain_on_delete("prod", Sources(configured or {}, env), command, project)


def add_to_stack_file(project: Path, line: str) -> None:
    path = project / "stacks" / "Pulumi.prod.yaml"
    path.write_text(path.read_text() + line)


@pytest.mark.parametrize(
    "command",
    [
        PulumiCommand(("pulumi", "up", "--yes")),
        PulumiCommand(("pulumi", "destroy", "--run-program")),
        PulumiCommand(("pulumi", "--cwd", "destroy", "down", "--run-program=true")),
        None,  # unseen, but PULUMI_RUN_PROGRAM says the program ran
    ],
)
def test_when_the_program_ran_configure_had_the_config_as_it_is_now(project: Path, command: PulumiCommand | None) -> None:
    add_to_stack_file(project, f'  {KEY}: "true"\n')  # what a stale file says does not matter then
    assert decide(project, command, {KEY: "false"}, PULUMI_RUN_PROGRAM="true") is False
    assert decide(project, command, {KEY: "true"}, PULUMI_RUN_PROGRAM="true") is True


def test_a_plain_destroy_reads_the_stack_file_then_pulumi_yaml(project: Path) -> None:
    assert decide(project, PLAIN_DESTROY, {KEY: "true"}) is False  # configure's value is the last up's: not read
    pulumi_yaml = project / "Pulumi.yaml"
    pulumi_yaml.write_text(
        pulumi_yaml.read_text().replace(
            "    default: false\n    description: >-\n      true leaves",
            "    default: true\n    description: >-\n      true leaves",
        )
    )
    assert decide(project, PLAIN_DESTROY) is True  # the project's default
    add_to_stack_file(project, f"  {KEY}: false\n")
    assert decide(project, PLAIN_DESTROY) is False  # the stack's value wins over the project's


def test_a_project_value_in_its_namespaced_form_counts(project: Path) -> None:
    (project / "Pulumi.yaml").write_text(f"name: bitlocker-policy\nstackConfigDir: stacks\nconfig:\n  {KEY}: true\n")
    assert decide(project, PLAIN_DESTROY) is True


def test_a_plain_destroy_reads_the_config_file_it_was_given(project: Path, tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "other.yaml").write_text(f"config:\n  {KEY}: true\n")
    given = PulumiCommand(("pulumi", "destroy", "--config-file", "ci/other.yaml"), cwd=tmp_path)
    assert decide(project, given) is True
    assert decide(project, PulumiCommand(("pulumi", "destroy", f"--config-file={tmp_path / 'ci' / 'other.yaml'}"))) is True


@pytest.mark.parametrize(
    ("arrange", "message"),
    [
        (lambda p: add_to_stack_file(p, f"  {KEY}:\n    secure: v1:abc\n"), f"{KEY} is a secret in"),
        (lambda p: (p / "stacks" / "Pulumi.prod.yaml").unlink(), "a renamed stack, or config kept elsewhere?"),
        (lambda p: add_to_stack_file(p, "environment:\n  - contoso/prod\n"), "imports Pulumi ESC environments (contoso/prod)"),
        (lambda p: (p / "stacks" / "Pulumi.prod.yaml").write_bytes(b"\xff"), "is not UTF-8 text"),
    ],
)
def test_a_plain_destroy_that_cannot_see_the_value_refuses_and_says_how_to_proceed(
    project: Path, arrange: object, message: str
) -> None:
    arrange(project)  # type: ignore[operator]
    with pytest.raises(ConfigurationError) as caught:
        decide(project, PLAIN_DESTROY, {KEY: "false"})
    assert message in str(caught.value)
    assert "nothing was written" in str(caught.value)
    assert "pulumi destroy --run-program" in str(caught.value)


def test_a_hidden_command_line_refuses_unless_the_program_runs(project: Path) -> None:
    with pytest.raises(ConfigurationError, match="Set PULUMI_RUN_PROGRAM=true"):
        decide(project, None)
    assert decide(project, None, PULUMI_RUN_PROGRAM="1") is False


def test_the_command_line_is_read_from_the_nearest_pulumi_ancestor(tmp_path: Path) -> None:
    """pulumi → sh → python, as the CLI starts the provider through its shell shim (Linux /proc)."""
    provider = f"{sys.executable} -c 'from providers.config.invocation import pulumi_command; print(pulumi_command())'"
    done = subprocess.run(
        ["bash", "-c", "exec -a pulumi /bin/sh -s destroy --config-file other.yaml --stack prod"],
        input=f'cd {REPO} && sh -c "{provider}"\n',
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert "PulumiCommand(argv=('pulumi', '-s', 'destroy', '--config-file', 'other.yaml', '--stack', 'prod')" in done.stdout
