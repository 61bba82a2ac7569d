"""The fleet's command line as people meet it: its help, a wrong flag or project, a table in a CI log,
and what an `up` row says of a stack it deployed."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import cast

import pytest
from rich.console import Console

from emulator import Emulator, Tenant
from fleet.__main__ import FIRST_UP, execute, main
from fleet.engine import Engine
from fleet.outcome import EXIT_FAILED, UPDATE, Outcome
from fleet.stacks import StackFile
from fleet.writers.report import json_document
from providers.signin.discovery_cache import DiscoveryCache
from tests.support.emulated import emulator_config

COMMANDS = ("matrix", "drift", "preview", "up", "refresh", "history", "report", "consent-urls", "summary", "doctor")


def test_help_lists_each_command_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    words = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert all(words.count(command) == 1 for command in COMMANDS), words


def test_a_flag_the_command_does_not_take_shows_that_commands_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["drift", "--bogus"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.startswith("usage: python -m fleet drift ")
    assert err.splitlines()[-1] == "python -m fleet drift: error: unrecognized arguments: --bogus"


def test_a_project_that_is_no_directory_is_named_as_such(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    with pytest.raises(SystemExit) as exited:
        main(["drift", "--project", str(missing)])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"python -m fleet drift: error: argument --project: {missing} is no directory: name the one that holds Pulumi.yaml"
    )


def _long_rows(tmp_path: Path) -> Path:
    """A shard's --json document whose rows would make a table far wider than 80 columns."""
    rows = [
        Outcome(f"customer-{index}-{'x' * 60}", "8f6c0d3e-1a2b-4c5d-9e8f-0a1b2c3d4e5f", action="failed", error="e" * 200)
        for index in range(3)
    ]
    path = tmp_path / "shard.json"
    path.write_text(json.dumps(json_document("drift", EXIT_FAILED, rows)))
    return path


@pytest.mark.parametrize(("columns", "width"), [(None, 80), ("120", 120)])
def test_a_table_in_a_ci_log_fits_80_columns_or_columns(
    columns: str | None, width: int, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert main(["summary", str(_long_rows(tmp_path))]) == EXIT_FAILED  # captured: standard output is no terminal
    lines = capsys.readouterr().out.splitlines()
    table = lines[: next(index for index, line in enumerate(lines) if line.startswith("3 stacks"))]
    assert max(map(len, table)) == width, table


class _FirstUp:
    """The engine of a stack not in the backend yet, whose `up` deploys it and PATCHes the tenant."""

    def outputs(self, _stack: str) -> None:
        return None  # never deployed

    def secret_config(self, _stack: str) -> dict[str, str]:
        return {}

    def up(self, outcome: Outcome) -> Outcome:
        outcome.action, outcome.request_id = UPDATE, "5d3c1b2a-0000-4000-8000-00000000f1a7"
        return outcome


@pytest.mark.usefixtures("trust_emulator")
def test_up_only_drifted_says_a_stack_it_deployed_had_its_first_up_not_never_deployed(
    tmp_path: Path, emulator: Emulator, tenant: Tenant
) -> None:
    app = tenant.add_app()
    config = {
        **emulator_config(emulator, tenantId=tenant.id, clientId=app.client_id, clientSecret=app.add_secret()),
        "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "false",
    }
    emulator.set_bitlocker(tenant, True)  # drift finds it differs, and the stack never deployed
    args = argparse.Namespace(command="up", only_drifted=True, workers=1)
    stack = StackFile("prod", tmp_path / "Pulumi.prod.yaml", config)
    engine = cast(Engine, _FirstUp())
    (row,) = execute(args, [(stack, tenant.id)], engine, lambda _stack: {}, DiscoveryCache(), Console(file=io.StringIO()))
    assert (row.action, row.reason) == (UPDATE, FIRST_UP)
