"""The pipeline matrix from stacks/: one stack per tenant, compared by GUID."""

from __future__ import annotations

import json
import os
import pickle
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from fleet.__main__ import main
from tests.emulator import Emulator, Tenant

pytestmark = pytest.mark.usefixtures("trust_emulator")


def project(tmp_path: Path, emulator: Emulator, tenants: dict[str, str]) -> Path:
    """A project whose stacks/ has one config file per stack, each naming a tenant."""
    (tmp_path / "Pulumi.yaml").write_text("name: bitlocker-policy\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    for stack, tenant in tenants.items():
        (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(
            f"config:\n  azuread:tenantId: {tenant}\n  bitlocker-policy:authorityHost: {emulator.url}\n"
        )
    return tmp_path


def test_the_matrix_lists_every_stack_with_its_tenant_guid(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    other = emulator.add_tenant()
    assert main(["matrix", "--project", str(project(tmp_path, emulator, {"a": tenant.domain, "b": other.id}))]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "include": [{"stack": "a", "tenant": tenant.id}, {"stack": "b", "tenant": other.id}]
    }


def test_two_stacks_on_one_tenant_are_refused_by_name(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    stacks = {"prod": tenant.id, "prod-copy": tenant.domain.upper(), "other": emulator.add_tenant().id}
    assert main(["matrix", "--project", str(project(tmp_path, emulator, stacks))]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"stacks prod, prod-copy all manage tenant {tenant.id}; keep one stack per tenant" in captured.err


def test_an_unknown_tenant_is_one_line(tmp_path: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", "--project", str(project(tmp_path, emulator, {"a": "nowhere.example.com"}))]) == 2
    assert "AADSTS90002" in capsys.readouterr().err


def test_drift_refuses_two_stacks_on_one_tenant_before_any_request(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    requests = len(emulator.directory.requests)
    assert main(["drift", "--project", str(project(tmp_path, emulator, {"a": tenant.id, "b": tenant.id.upper()}))]) == 2
    assert f"stacks a, b all manage tenant {tenant.id}" in capsys.readouterr().err
    assert len(emulator.directory.requests) == requests


def test_consent_urls_name_each_stacks_tenant_and_app(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARM_CLIENT_ID", "5a1f0c7e-2b9d-4e8a-8c3f-1d2e3f4a5b6c")
    assert main(["consent-urls", "--project", str(project(tmp_path, emulator, {"a": tenant.domain}))]) == 0
    assert capsys.readouterr().out == (
        f"a\t{tenant.id}\t{emulator.url}/{tenant.id}/adminconsent?client_id=5a1f0c7e-2b9d-4e8a-8c3f-1d2e3f4a5b6c\n"
    )


def test_a_stack_glob_that_matches_nothing_is_a_configuration_error(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["drift", "--stacks", "prod-*", "--project", str(project(tmp_path, emulator, {"a": tenant.id}))]) == 2
    assert "no stack" in capsys.readouterr().err


def test_a_fleet_process_serializes_any_number_of_providers() -> None:
    """Pulumi's serialize_provider nests a pickle wrapper per call; the fleet's guard undoes each one."""
    from pulumi.dynamic import dynamic

    from fleet import serialization_guard
    from providers import BitlockerKeyAccessProvider

    serialization_guard.install()  # as the fleet's engine does
    before = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
    for _ in range(sys.getrecursionlimit() + 100):  # one more wrapper each would overflow the stack
        dynamic.serialize_provider(BitlockerKeyAccessProvider())
    assert pickle._Pickler._batch_setitems is before  # type: ignore[attr-defined]


def test_the_guard_is_still_needed_in_the_pulumi_sdk_it_was_written_for() -> None:
    """When Pulumi fixes pulumi/pulumi#17803, this fails: drop fleet/serialization_guard.py."""
    from fleet.serialization_guard import PULUMI_SERIALIZE_PROVIDER, WRITTEN_FOR
    from providers import BitlockerKeyAccessProvider

    assert version("pulumi").startswith(f"{WRITTEN_FOR}."), "a new Pulumi SDK: check whether the guard is still needed"
    saved = pickle._Pickler._batch_setitems, pickle._Pickler.save_dict  # type: ignore[attr-defined]
    try:
        PULUMI_SERIALIZE_PROVIDER(BitlockerKeyAccessProvider())
        assert pickle._Pickler._batch_setitems is not saved[0]  # type: ignore[attr-defined]  # wrapped, never put back
    finally:
        pickle._Pickler._batch_setitems, pickle._Pickler.save_dict = saved  # type: ignore[attr-defined]


def test_only_drifted_goes_with_up_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["refresh", "--only-drifted"])
    assert exited.value.code == 2
    assert "--only-drifted goes with up only" in capsys.readouterr().err


def test_a_tenant_that_cannot_be_resolved_fails_its_row_and_the_others_still_run(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tenant.add_app()
    monkeypatch.setenv("ARM_CLIENT_ID", app.client_id)
    monkeypatch.setenv("ARM_CLIENT_SECRET", app.add_secret())
    emulator.set_bitlocker(tenant, False)
    root = project(tmp_path, emulator, {"good": tenant.id, "gone": "gone.example.com"})
    for name in ("good", "gone"):
        path = root / "stacks" / f"Pulumi.{name}.yaml"
        path.write_text(
            path.read_text() + f"  bitlocker-policy:graphEndpoint: {emulator.url}\n"
            '  bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice: "false"\n'
        )
    assert main(["drift", "--project", str(root), "--json", str(tmp_path / "drift.json")]) == 4
    rows = {row["stack"]: row for row in json.loads((tmp_path / "drift.json").read_text())["stacks"]}
    assert (rows["good"]["action"], rows["good"]["live"], rows["good"]["liveRead"]) == ("none", False, True)
    assert rows["gone"]["action"] == "failed"
    assert "AADSTS90002" in rows["gone"]["error"]


def test_the_providers_exception_is_the_rows_error_and_other_resources_are_ignored() -> None:
    from pulumi.automation import DiagnosticEvent, EngineEvent

    from fleet.engine import _Events

    def diagnostic(urn: str, message: str) -> EngineEvent:
        return EngineEvent(0, 0, diagnostic_event=DiagnosticEvent(message, "", "error", urn=urn))

    events = _Events()
    events(diagnostic("urn:pulumi:s::p::pulumi:pulumi:Stack::p-s", "update failed"))
    events(
        diagnostic(
            "urn:pulumi:s::p::pulumi-python:dynamic/entra:BitlockerKeyAccess::bitlocker-key-access",
            "Exception calling application: RuntimeError: bitlocker-policy failed unexpectedly; please report this:\n"
            "Traceback (most recent call last):\nKeyError: 'x'",
        )
    )
    assert events.error("fallback") == "bitlocker-policy failed unexpectedly; please report this:"
    events(
        diagnostic(
            "urn:pulumi:s::p::pulumi-python:dynamic/entra:BitlockerAdoption::bitlocker-adoption",
            "providers.errors.ForbiddenError: Graph denied GET: grant Policy.Read.All (request-id r)",
        )
    )
    assert events.error("fallback") == "Graph denied GET: grant Policy.Read.All (request-id r)"
    assert _Events().error("the CLI's line") == "the CLI's line"


def test_a_cli_failure_is_its_last_stderr_line_and_never_its_stdout() -> None:
    from pulumi.automation._cmd import CommandResult
    from pulumi.automation.errors import CommandError

    from fleet.engine import cli_failure

    secrets = '{"azuread:clientSecret": "s3cret", "note": "stderr: x"}'
    assert cli_failure(CommandError(CommandResult(secrets, "warning: w\nerror: no login\n", 255))) == "no login"
    assert cli_failure(CommandError(CommandResult(secrets, "", 255))) == "the pulumi CLI failed without a message"


def drift_ready(tmp_path: Path, emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose one stack, `good`, `fleet drift` can read (an app with a secret in the environment)."""
    app = tenant.add_app()
    monkeypatch.setenv("ARM_CLIENT_ID", app.client_id)
    monkeypatch.setenv("ARM_CLIENT_SECRET", app.add_secret())
    root = project(tmp_path, emulator, {"good": tenant.id})
    path = root / "stacks" / "Pulumi.good.yaml"
    path.write_text(
        path.read_text() + f"  bitlocker-policy:graphEndpoint: {emulator.url}\n"
        '  bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice: "true"\n'
    )
    return root


def json_rows(path: Path) -> dict[str, dict[str, object]]:
    return {row["stack"]: row for row in json.loads(path.read_text())["stacks"]}


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("not UTF-8", "is not UTF-8 text"),
        ("invalid YAML", "is not valid YAML at line 3"),
        ("a list", "must be a YAML mapping"),
        ("a dangling symlink", "Cannot read"),
        ("a directory", "Is a directory"),
        ("a FIFO", "not a regular file"),
    ],
)
def test_a_stack_file_that_cannot_be_used_fails_its_own_row_and_the_others_still_run(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, case: str, reason: str
) -> None:
    root = drift_ready(tmp_path, emulator, tenant, monkeypatch)
    bad = root / "stacks" / "Pulumi.bad.yaml"
    if case == "not UTF-8":
        bad.write_bytes(b"config:\n  azuread:tenantId: caf\xe9.example.com\n")
    elif case == "invalid YAML":
        bad.write_text("config:\n  azuread:tenantId: [unclosed\n")
    elif case == "a list":
        bad.write_text("- config\n")
    elif case == "a dangling symlink":
        bad.symlink_to(tmp_path / "gone.yaml")
    elif case == "a directory":
        bad.mkdir()
    else:
        os.mkfifo(bad)  # reading it would wait for ever
    assert main(["drift", "--project", str(root), "--json", str(tmp_path / "drift.json")]) == 4
    rows = json_rows(tmp_path / "drift.json")
    assert (rows["good"]["action"], rows["good"]["live"]) == ("none", True)
    assert rows["bad"]["action"] == "failed"
    assert reason in str(rows["bad"]["error"])
    assert "declares no tenant" not in str(rows["bad"]["error"])


HOSTILE = "<img src=x onerror=alert(1)>\x1b[2J[red]x[/red]|`*"
HOSTILE_FILE_NAME = HOSTILE.replace("/", "")  # a file name cannot hold a slash


def test_hostile_names_and_graph_text_are_inert_on_the_terminal_and_in_every_report(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = drift_ready(tmp_path, emulator, tenant, monkeypatch)
    (root / "stacks" / f"Pulumi.{HOSTILE_FILE_NAME}.yaml").write_text("config: {}\n")
    denied = {"error": {"code": "Authorization_RequestDenied", "message": HOSTILE}}
    emulator.faults.answer("graph", 403, denied)
    for out in ("report.md", "report.html"):
        assert main(["report", "--project", str(root), "--out", str(tmp_path / out)]) == 4
        emulator.faults.answer("graph", 403, denied)
    printed = capsys.readouterr()
    assert "\x1b" not in printed.out + printed.err
    assert "[red]x[/red]" in printed.out  # shown as written, not read as rich markup
    markdown, page = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    assert "<img" not in markdown + page
    assert "\x1b" not in markdown + page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert r"&lt;img src=x onerror=alert(1)&gt; \[2J\[red\]x\[/red\]\|\`\*" in markdown
