"""The fleet's command line as people meet it: its help, a wrong flag or project, and a table in a CI log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleet.__main__ import main
from fleet.outcome import EXIT_FAILED, Outcome
from fleet.report import json_document

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
