"""One boolean parser: every boolean key, wherever it is read, takes the same spellings (README, Configuration)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fleet.baseline import project_baseline
from fleet.stacks import find_stacks
from providers.common.errors import ConfigurationError
from providers.config.baseline import BASELINE
from providers.config.invocation import PulumiCommand
from providers.config.retention import retain_on_delete
from providers.config.settings import (
    DESIRED_VALUE,
    RETAIN_ON_DELETE,
    USE_CLI,
    USE_MSI,
    USE_OIDC,
    Setting,
    Sources,
    declared_value,
)
from tests.support.paths import REPO

# The spelling as written (unquoted in YAML files) → what every key reads; None: refused, naming the key.
SPELLINGS: dict[str, bool | None] = {
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
    "yes": None,
    "no": None,
    "on": None,
    "off": None,
    "1": None,
    "0": None,
    "t": None,
    "maybe": None,
}

Reader = Callable[[Path, str], bool | None]


def _config(setting: Setting) -> Reader:
    return lambda _project, text: Sources({setting.key: text}, {}).flag(setting)


def _environment(setting: Setting) -> Reader:
    return lambda _project, text: Sources({}, {setting.env[0]: text}).flag(setting)


def _stack_file(key: str, read: Callable[[Sources], bool | None]) -> Reader:
    """The fleet's reading: the key unquoted in a stack file, read over Pulumi.yaml."""

    def reader(project: Path, text: str) -> bool | None:
        (project / "stacks" / "Pulumi.prod.yaml").write_text(f"config:\n  {key}: {text}\n")
        (stack,) = find_stacks(project)
        return read(stack.settings(lambda _name: {}))

    return reader


def _plain_destroy(project: Path, text: str) -> bool | None:
    """retainOnDelete as a destroy that runs no program reads it: from the stack file."""
    (project / "stacks" / "Pulumi.prod.yaml").write_text(f"config:\n  {RETAIN_ON_DELETE.key}: {text}\n")
    return retain_on_delete("prod", Sources({}, {}), PulumiCommand(("pulumi", "destroy", "--stack", "prod")), project)


def _project_baseline(project: Path, text: str) -> bool | None:
    """The baseline, as the fleet and the policy pack read it from Pulumi.yaml."""
    (project / "Pulumi.yaml").write_text(f"name: bitlocker-policy\nruntime: python\nconfig:\n  baseline:\n    default: {text}\n")
    return project_baseline(project)


READERS: dict[str, tuple[str, Reader]] = {
    "azuread:useOidc in the config": (USE_OIDC.key, _config(USE_OIDC)),
    "ARM_USE_OIDC": (USE_OIDC.key, _environment(USE_OIDC)),
    "azuread:useMsi in the config": (USE_MSI.key, _config(USE_MSI)),
    "ARM_USE_MSI": (USE_MSI.key, _environment(USE_MSI)),
    "azuread:useCli in the config": (USE_CLI.key, _config(USE_CLI)),
    "ARM_USE_CLI": (USE_CLI.key, _environment(USE_CLI)),
    "azuread:useOidc in a stack file": (USE_OIDC.key, _stack_file(USE_OIDC.key, lambda s: s.flag(USE_OIDC))),
    "retainOnDelete as configured": (RETAIN_ON_DELETE.key, _config(RETAIN_ON_DELETE)),
    "retainOnDelete at a plain destroy": (RETAIN_ON_DELETE.key, _plain_destroy),
    "the declared value as an input": (DESIRED_VALUE.key, lambda _project, text: declared_value(text)),
    "the declared value in a stack file": (DESIRED_VALUE.key, _stack_file(DESIRED_VALUE.key, Sources.declared)),
    "the baseline in Pulumi.yaml": (BASELINE.key, _project_baseline),
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    (tmp_path / "stacks").mkdir()
    return tmp_path


@pytest.mark.parametrize("spelling", list(SPELLINGS))
@pytest.mark.parametrize("where", list(READERS))
def test_every_boolean_key_takes_the_same_spellings(where: str, spelling: str, project: Path) -> None:
    key, read = READERS[where]
    expected = SPELLINGS[spelling]
    if expected is None:
        with pytest.raises(ConfigurationError, match=f"^{key}.* must be true or false, got '{spelling}'"):
            read(project, spelling)
    else:
        assert read(project, spelling) is expected
