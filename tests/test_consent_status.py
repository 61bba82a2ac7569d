"""`fleet consent-status`: each app's sign-in and roles in each stack's tenant, against the emulator."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator import Emulator
from emulator.state import WRITE_ROLE
from fleet.__main__ import main
from fleet.consent_status import JOBS, jobs_of
from providers.common.token_claims import token_roles
from tests.support.emulated import emulator_config

pytestmark = pytest.mark.usefixtures("trust_emulator")

READ = JOBS["read"]


def project(tmp_path: Path, emulator: Emulator, tenants: dict[str, str]) -> Path:
    """A project with a stack per tenant, each pointing at the emulator and naming no app (each job names its own)."""
    (tmp_path / "Pulumi.yaml").write_text("name: bitlocker-policy\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    for stack, tenant in tenants.items():
        config = emulator_config(emulator, tenantId=tenant)
        (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    return tmp_path


def status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["consent-status", *args, "--json", "-"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out)["apps"], captured.err


def test_consented_missing_roles_no_service_principal_and_unknown_tenant_are_told_apart(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = emulator.add_tenant()
    app = home.add_app(roles=())
    monkeypatch.setenv("ARM_CLIENT_SECRET", app.add_secret())
    consented, partial, absent = emulator.add_tenant(), emulator.add_tenant(), emulator.add_tenant()
    consented.consent(app, READ)
    partial.consent(app, ("Policy.Read.All",))
    unknown = str(uuid.uuid4())  # a GUID no tenant has
    stacks = {"a-consented": consented.id, "b-partial": partial.id, "c-absent": absent.id, "d-unknown": unknown}
    root = project(tmp_path, emulator, stacks)

    code, rows, table = status(capsys, "--project", str(root), "--client-id", app.client_id, "--job", "read")

    assert code == 4  # an unknown tenant is no consent to give: it fails
    by_stack = {row["stack"]: row for row in rows}
    assert {stack: row["status"] for stack, row in by_stack.items()} == {
        "a-consented": "consented",
        "b-partial": "missing roles",
        "c-absent": "no service principal",
        "d-unknown": "unknown tenant",
    }
    assert by_stack["a-consented"]["roles"] == list(READ)
    assert by_stack["a-consented"]["consentUrl"] is None
    assert by_stack["b-partial"]["missing"] == ["AuditLog.Read.All", "Directory.Read.All"]
    url = f"{emulator.url}/{partial.id}/adminconsent?client_id={app.client_id}"
    assert by_stack["b-partial"]["consentUrl"] == url
    assert by_stack["c-absent"]["consentUrl"] == f"{emulator.url}/{absent.id}/adminconsent?client_id={app.client_id}"
    assert "AADSTS700016" in by_stack["c-absent"]["error"]
    assert "AADSTS90002" in by_stack["d-unknown"]["error"]
    assert "missing AuditLog.Read.All, Directory.Read.All; consent: " + url in table  # the table goes to stderr
    assert max(len(line) for line in table.splitlines() if not line.startswith("[")) <= 80
    assert "4 apps: 1 consented, 1 missing roles, 1 no service principal, 1 unknown tenant" in table


def test_two_client_ids_are_the_read_app_and_the_write_app_each_with_its_own_roles(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # One credential for both apps, as a CI token both apps' federated credentials accept would be:
    # here one secret shared by two registrations of the emulator.
    home = emulator.add_tenant()
    read_app, write_app = home.add_app(roles=()), home.add_app(roles=())
    secret = read_app.add_secret()
    write_app.secrets[secret] = False
    monkeypatch.setenv("ARM_CLIENT_SECRET", secret)
    tenant = emulator.add_tenant()
    tenant.consent(read_app, READ)
    tenant.consent(write_app, ("Policy.Read.All",))  # consented, but without the write permission
    root = project(tmp_path, emulator, {"contoso": tenant.id})

    code, rows, _ = status(capsys, "--project", str(root), "--client-id", read_app.client_id, "--client-id", write_app.client_id)

    assert code == 3  # a consent is missing, nothing failed
    assert [(row["job"], row["app"], row["status"], row["missing"]) for row in rows] == [
        ("read", read_app.client_id, "consented", []),
        ("write", write_app.client_id, "missing roles", [WRITE_ROLE]),
    ]


def test_every_app_consented_with_every_role_exits_0(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = emulator.add_tenant()
    app = home.add_app(roles=())
    monkeypatch.setenv("ARM_CLIENT_SECRET", app.add_secret())
    monkeypatch.setenv("ARM_CLIENT_ID", app.client_id)  # the stack's own app: none on the command line
    tenant = emulator.add_tenant()
    tenant.consent(app, (*READ, WRITE_ROLE))
    code, rows, _ = status(capsys, "--project", str(project(tmp_path, emulator, {"contoso": tenant.id})))
    assert code == 0
    assert [(row["job"], row["status"]) for row in rows] == [("both", "consented")]


def test_jobs_follow_the_client_ids() -> None:
    assert jobs_of(["R", "W"], None) == [("R", "read"), ("W", "write")]
    assert jobs_of(["A"], None) == [("A", "both")]
    assert jobs_of(None, "write") == [("", "write")]


def test_a_token_that_is_no_jwt_has_no_roles_to_tell() -> None:
    assert token_roles("opaque") is None
    assert token_roles("a.e30.c") == frozenset()  # {} as payload: a JWT without roles


def test_a_json_file_that_cannot_be_written_is_one_line_and_exit_4(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = emulator.add_tenant()
    app = home.add_app(roles=())
    monkeypatch.setenv("ARM_CLIENT_SECRET", app.add_secret())
    monkeypatch.setenv("ARM_CLIENT_ID", app.client_id)
    tenant = emulator.add_tenant()
    tenant.consent(app, (*READ, WRITE_ROLE))
    target = tmp_path / "no-such-directory" / "status.json"
    stacks = project(tmp_path, emulator, {"contoso": tenant.id})
    assert main(["consent-status", "--project", str(stacks), "--json", str(target)]) == 4
    assert capsys.readouterr().err.splitlines()[-1] == f"error: could not write {target}: No such file or directory"
