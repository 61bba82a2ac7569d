"""`fleet doctor` against the emulator: each check's verdict, the audit rows as received, the federated subject, the clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator, Tenant
from emulator.audit import AUDIT_ROLE
from emulator.audit import SHAPES as LOG_SHAPES
from emulator.state import WRITE_ROLE, App
from fleet.__main__ import main
from fleet.doctor import examine, github_subjects
from providers.config.settings import Sources
from providers.graph.authorization_policy import BITLOCKER_KEYS, CHANGE_ACTIVITY
from tests.support.emulated import emulator_config, set_env
from tests.support.leaks import LeakCheck

pytestmark = pytest.mark.usefixtures("trust_emulator")

EVERY_ROLE = {"Policy.Read.All", WRITE_ROLE, AUDIT_ROLE, "Directory.Read.All"}
SUBJECT = "repo:contoso/policy:environment:tenants-read"


def project(tmp_path: Path, emulator: Emulator, tenant: Tenant) -> Path:
    """A project with one stack for `tenant`, pointed at the emulator; its credential comes from the environment."""
    (tmp_path / "stacks").mkdir(parents=True)
    (tmp_path / "Pulumi.yaml").write_text("name: bitlocker-policy\nstackConfigDir: stacks\n")
    config = {"azuread:tenantId": tenant.domain, **emulator_config(emulator)}
    (tmp_path / "stacks" / "Pulumi.contoso.yaml").write_text("config:\n" + "".join(f"  {k}: {v}\n" for k, v in config.items()))
    return tmp_path


def with_secret(tenant: Tenant, monkeypatch: pytest.MonkeyPatch, roles: set[str]) -> App:
    """An app with these roles whose client secret the environment gives (as a CI job's variables would)."""
    app = tenant.add_app(roles)
    set_env(monkeypatch, {"ARM_CLIENT_ID": app.client_id, "ARM_CLIENT_SECRET": app.add_secret()})
    return app


def doctor(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[int, str, dict[str, dict[str, Any]]]:
    """Run `fleet doctor --json FILE`: its exit code, its text, its checks by name; both outputs pass the leak scan."""
    root = project(tmp_path / "project", emulator, tenant)
    out = tmp_path / "doctor.json"
    code = main(["doctor", "--project", str(root), "--json", str(out), *flags])
    text = capsys.readouterr().out
    leaks = LeakCheck(secrets=emulator.credentials(), roots=[tmp_path])
    leaks.printed("fleet doctor", text)
    assert leaks.findings() == []
    document = json.loads(out.read_text())
    assert document["command"] == "doctor"
    assert document["exitCode"] == code
    [report] = document["tenants"]
    assert report["tenantId"] == tenant.id
    return code, text, {check["check"]: check for check in report["checks"]}


def _portal(emulator: Emulator, tenant: Tenant, _app: App) -> None:
    emulator.set_bitlocker(tenant, False, by="alice@contoso.com")


def _null(emulator: Emulator, tenant: Tenant, _app: App) -> None:
    emulator.set_bitlocker(tenant, None)


def _by_app(emulator: Emulator, tenant: Tenant, app: App) -> None:
    emulator.directory.record_app_change(tenant, app.client_id, True, False)


def _array_encoded(emulator: Emulator, tenant: Tenant, _app: App) -> None:
    """Values as a JSON array in a string, as a published real event has them ("[false]")."""
    emulator.set_bitlocker(tenant, False)
    row = tenant.audit.events[-1].document["targetResources"][0]["modifiedProperties"][0]
    row["oldValue"], row["newValue"] = f"[{row['oldValue']}]", f"[{row['newValue']}]"


def _rows_not_a_list(emulator: Emulator, tenant: Tenant, _app: App) -> None:
    emulator.set_bitlocker(tenant, False)
    tenant.audit.events[-1].document["targetResources"][0]["modifiedProperties"] = 7


# The shapes whose event drift does not tie to the field: its rows cannot be read, or name no setting.
UNTIED = ("rows-not-a-list", "logged as no setting named")


def _logged_as(shape: str) -> Callable[[Emulator, Tenant, App], None]:
    """A change by a named admin, logged in one of the emulator's row shapes (emulator/audit.py SHAPES)."""

    def change(emulator: Emulator, tenant: Tenant, _app: App) -> None:
        tenant.audit.shape = shape
        emulator.set_bitlocker(tenant, False, by="alice@contoso.com")

    return change


SHAPES: dict[str, Callable[[Emulator, Tenant, App], None]] = {
    "portal": _portal,
    "null": _null,
    "app": _by_app,
    "array-encoded": _array_encoded,
    "rows-not-a-list": _rows_not_a_list,
    **{f"logged as {shape}": _logged_as(shape) for shape in LOG_SHAPES},
}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _served(event: dict[str, Any]) -> list[str]:
    """The lines the doctor must print for an event: its time and initiator, then each row as the log served it."""
    rows = event["targetResources"][0]["modifiedProperties"]
    if not isinstance(rows, list):
        return [f"  a target whose modifiedProperties is {_json(rows)}"]
    return [f"  {row['displayName']}: {_json(row['oldValue'])} -> {_json(row['newValue'])}" for row in rows]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_check_passes_and_the_audit_rows_are_printed_as_the_log_served_them(
    shape: str,
    tmp_path: Path,
    emulator: Emulator,
    tenant: Tenant,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = with_secret(tenant, monkeypatch, EVERY_ROLE)
    SHAPES[shape](emulator, tenant, app)
    code, text, checks = doctor(tmp_path, emulator, tenant, capsys)
    assert code == 0, text
    assert {name: check["status"] for name, check in checks.items()} == {
        "sign-in": "ok",
        "roles": "ok",
        "policy": "ok",
        "audit log": "ok",
        "federation": "not checked",
        "clock": "ok",
    }
    [event] = [event.document for event in tenant.audit.events]
    assert checks["audit log"]["seen"] == [f"{_json(event['activityDateTime'])} by {_by(event)}", *_served(event)]
    tied = 0 if shape in UNTIED else 1  # as drift and history read the log (providers/graph/audit.py)
    assert f"1 '{CHANGE_ACTIVITY}' events, {tied} of them tied to {BITLOCKER_KEYS.name}" in checks["audit log"]["summary"]
    for line in _served(event):
        assert line in text


def _by(event: dict[str, Any]) -> str:
    user, app = event["initiatedBy"]["user"], event["initiatedBy"]["app"]
    return str(user["userPrincipalName"] if user else f"{app['displayName']} (app {app['appId']})")  # as drift says it


def test_a_read_only_app_lacks_the_roles_of_the_audit_log_and_of_the_write_job(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_secret(tenant, monkeypatch, {"Policy.Read.All"})
    code, text, checks = doctor(tmp_path, emulator, tenant, capsys, "--job", "read")
    assert code == 3
    assert checks["roles"]["status"] == "problem"
    assert checks["roles"]["seen"] == [
        "roles: Policy.Read.All",
        "read job: lacks AuditLog.Read.All, Directory.Read.All",
        "write job: lacks Policy.ReadWrite.Authorization",
    ]
    assert checks["roles"]["fix"] == (
        "grant the app the Microsoft Graph application permissions AuditLog.Read.All, Directory.Read.All with admin consent"
    )
    assert checks["policy"]["status"] == "ok"
    assert checks["audit log"]["status"] == "problem"
    assert "grant the app the Microsoft Graph application permission AuditLog.Read.All" in checks["audit log"]["fix"]
    assert "fix: grant the app" in text


@pytest.mark.parametrize(
    ("roles", "status", "summary"),
    [
        ({"Policy.Read.All", "AuditLog.Read.All", "Directory.Read.All"}, "ok", "every role the read job needs"),
        ({"Policy.ReadWrite.Authorization"}, "ok", "every role the write job needs"),
        ({"Policy.Read.All"}, "problem", "the token lacks roles the read job needs"),
    ],
    ids=["the read app", "the write app", "neither"],
)
def test_without_job_the_roles_pass_for_an_app_that_serves_either_job(
    roles: set[str],
    status: str,
    summary: str,
    tmp_path: Path,
    emulator: Emulator,
    tenant: Tenant,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One app per job is the design: without --job, a correct read app (or write app) is no problem."""
    with_secret(tenant, monkeypatch, roles)
    _code, _text, checks = doctor(tmp_path, emulator, tenant, capsys)
    assert (checks["roles"]["status"], summary in checks["roles"]["summary"]) == (status, True)


@pytest.mark.parametrize(
    ("live", "status", "summary"),
    [
        (True, "ok", "allowedToReadBitlockerKeysForOwnedDevice is true"),
        (None, "ok", "allowedToReadBitlockerKeysForOwnedDevice is null"),
        ("missing", "problem", "allowedToReadBitlockerKeysForOwnedDevice is missing"),
    ],
)
def test_the_field_is_present_null_or_missing(
    live: bool | str | None,
    status: str,
    summary: str,
    tmp_path: Path,
    emulator: Emulator,
    tenant: Tenant,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_secret(tenant, monkeypatch, EVERY_ROLE)
    if live == "missing":
        emulator.remove_bitlocker_key(tenant)
    else:
        emulator.set_bitlocker(tenant, live if isinstance(live, bool) else None)
    code, _, checks = doctor(tmp_path, emulator, tenant, capsys)
    assert (code, checks["policy"]["status"]) == (0 if status == "ok" else 3, status)
    assert summary in checks["policy"]["summary"]
    assert checks["policy"]["seen"][0].startswith("defaultUserRolePermissions: {")


def federated(emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, registered: str, presented: str) -> App:
    """An app whose one federated credential has `registered`, in a GitHub Actions job whose token's subject is `presented`."""
    app = tenant.add_app(EVERY_ROLE)
    app.federated_subjects.add(registered)
    set_env(monkeypatch, {"ARM_USE_OIDC": "true", "ARM_CLIENT_ID": app.client_id, **emulator.github_actions(presented)})
    return app


def test_a_wrong_subject_is_a_problem_naming_the_exact_subject_to_register_in_both_github_forms(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    presented = "repo:contoso/policy:environment:prod"
    app = federated(emulator, tenant, monkeypatch, SUBJECT, presented)
    code, text, checks = doctor(tmp_path, emulator, tenant, capsys)
    assert code == 3
    assert checks["sign-in"]["status"] == "problem"
    assert "AADSTS700213" in checks["sign-in"]["fix"]
    assert [checks[name]["status"] for name in ("roles", "policy", "audit log")] == ["not checked"] * 3
    federation = checks["federation"]
    assert federation["status"] == "problem"
    assert federation["summary"] == "no federated credential of the app matches this token (AADSTS700213)"
    ids = github_subjects({"sub": presented, "repository_owner_id": "1", "repository_id": "2"})
    assert ids is not None
    claims = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in federation["seen"][:3]}
    assert claims == {"iss": _json(emulator.issuer.url), "sub": _json(presented), "aud": '"api://AzureADTokenExchange"'}
    immutable = next(line for line in federation["seen"] if line.startswith("GitHub's two forms"))
    assert f"{presented} (by name) and repo:contoso@" in immutable
    assert "/policy@" in immutable
    assert immutable.endswith(":environment:prod (immutable)")
    assert federation["fix"].startswith(
        f'register on app {app.client_id} a federated credential with issuer "{emulator.issuer.url}", '
        f'subject "{presented}" (exactly, case included) and audience api://AzureADTokenExchange'
    )
    assert "; the same job under GitHub's other form would present repo:contoso@" in federation["fix"]
    assert checks["clock"]["status"] == "ok"  # the refusal came from the token endpoint, with its Date
    assert "AADSTS700213" in text


def test_the_right_subject_is_ok_and_still_shows_both_forms(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    federated(emulator, tenant, monkeypatch, SUBJECT, SUBJECT)
    code, _, checks = doctor(tmp_path, emulator, tenant, capsys)
    assert code == 0
    assert checks["federation"]["status"] == "ok"
    forms = f"GitHub's two forms of this subject: {SUBJECT} (by name)"
    assert any(line.startswith(forms) for line in checks["federation"]["seen"])


@pytest.mark.parametrize(
    ("claims", "forms"),
    [
        (
            {"sub": "repo:Contoso/Policy:environment:prod", "repository_owner_id": "55", "repository_id": "821"},
            ("repo:Contoso/Policy:environment:prod", "repo:Contoso@55/Policy@821:environment:prod"),
        ),
        (
            {"sub": "repo:contoso@55/policy@821:ref:refs/heads/main", "repository_owner_id": 55, "repository_id": 821},
            ("repo:contoso/policy:ref:refs/heads/main", "repo:contoso@55/policy@821:ref:refs/heads/main"),
        ),
        ({"sub": "repo:contoso/policy:pull_request"}, None),  # no ids: not GitHub's token, or an old one
        ({"sub": "project_path:group/project:ref_type:branch:ref:main", "repository_id": "1", "repository_owner_id": "2"}, None),
    ],
)
def test_github_subjects_are_given_in_both_forms(claims: dict[str, Any], forms: tuple[str, str] | None) -> None:
    assert github_subjects(claims) == forms


@pytest.mark.parametrize(("ahead", "status"), [(timedelta(seconds=2), "ok"), (timedelta(minutes=-7), "problem")])
def test_the_clock_is_compared_with_the_date_of_the_token_endpoints_answer(
    ahead: timedelta, status: str, emulator: Emulator, tenant: Tenant
) -> None:
    app = tenant.add_app(EVERY_ROLE)
    settings = Sources({**emulator_config(emulator, clientId=app.client_id, clientSecret=app.add_secret())}, {})
    report = examine(tenant.id, lambda: settings, now=lambda: datetime.now(UTC) + ahead)
    clock = {check.check: check for check in report.checks}["clock"]
    assert clock.status == status
    assert f" s {'ahead of' if ahead > timedelta(0) else 'behind'} Entra's (Date: " in clock.summary
    assert (clock.fix or "").startswith("set this machine's clock right") == (status == "problem")


def test_a_wrong_secret_is_a_sign_in_problem_and_nothing_after_it_is_guessed(emulator: Emulator, tenant: Tenant) -> None:
    app = tenant.add_app(EVERY_ROLE)
    app.add_secret()
    settings = Sources(emulator_config(emulator, clientId=app.client_id, clientSecret="emu~not-the-secret"), {})
    report = examine(tenant.domain, lambda: settings)
    statuses = {check.check: check.status for check in report.checks}
    assert statuses == {
        "sign-in": "problem",
        "roles": "not checked",
        "policy": "not checked",
        "audit log": "not checked",
        "federation": "not checked",
        "clock": "ok",
    }
    assert "AADSTS7000215" in (report.checks[0].fix or "")


def test_settings_that_cannot_be_used_are_one_problem_and_no_request(emulator: Emulator) -> None:
    requests = len(emulator.directory.requests)
    report = examine("contoso.onmicrosoft.com", lambda: Sources({"azuread:useMsi": "maybe"}, {}))
    assert [(check.check, check.status) for check in report.checks][:2] == [("sign-in", "problem"), ("roles", "not checked")]
    assert "azuread:useMsi" in (report.checks[0].fix or "")
    assert len(emulator.directory.requests) == requests


def test_tenant_and_stacks_are_refused_together(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "--tenant", "contoso.onmicrosoft.com", "--stacks", "prod"])
    assert exited.value.code == 2
    assert "doctor takes --tenant or stacks (--stacks, --shard), not both" in capsys.readouterr().err


def test_json_to_standard_output_moves_the_text_to_stderr(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_secret(tenant, monkeypatch, EVERY_ROLE)
    assert main(["doctor", "--project", str(project(tmp_path, emulator, tenant)), "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert [check["status"] for check in json.loads(captured.out)["tenants"][0]["checks"]][:4] == ["ok"] * 4
    assert captured.err.startswith(f"stack contoso: tenant {tenant.domain} ({tenant.id})\n  ok          sign-in ")


def test_a_stack_without_a_tenant_is_a_sign_in_problem_naming_the_key(emulator: Emulator, tenant: Tenant) -> None:
    app = tenant.add_app(EVERY_ROLE)
    settings = Sources(emulator_config(emulator, clientId=app.client_id, clientSecret=app.add_secret()), {})
    report = examine(None, lambda: settings)
    assert (report.checks[0].check, report.checks[0].status) == ("sign-in", "problem")
    assert (report.checks[0].fix or "").startswith("azuread:tenantId (or ARM_TENANT_ID, AZURE_TENANT_ID) must be")


def test_the_fleet_is_examined_stack_by_stack_in_order_and_one_tenants_problem_sets_the_exit_code(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = with_secret(tenant, monkeypatch, EVERY_ROLE)
    other = emulator.add_tenant()
    other.consent(app, {"Policy.Read.All"})
    root = project(tmp_path, emulator, tenant)
    (root / "stacks" / "Pulumi.fabrikam.yaml").write_text(
        (root / "stacks" / "Pulumi.contoso.yaml").read_text().replace(tenant.domain, other.id)
    )
    assert main(["doctor", "--project", str(root), "--json", "-"]) == 3
    reports = json.loads(capsys.readouterr().out)["tenants"]
    assert [(report["stack"], report["tenantId"]) for report in reports] == [("contoso", tenant.id), ("fabrikam", other.id)]
    assert [sum(check["status"] == "problem" for check in report["checks"]) for report in reports] == [0, 2]  # roles, audit log


@pytest.mark.parametrize(
    ("body", "summary"),
    [
        ({"value": 5}, "the answer is no page of events"),
        ("[" * 100_000, "GET /v1.0/auditLogs/directoryAudits answered JSON nested too deeply to read"),
        ("<html>a proxy</html>", "GET /v1.0/auditLogs/directoryAudits failed"),
    ],
)
def test_an_audit_answer_that_cannot_be_read_is_a_problem_of_its_own_and_the_rest_goes_on(
    body: Any,
    summary: str,
    tmp_path: Path,
    emulator: Emulator,
    tenant: Tenant,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_secret(tenant, monkeypatch, EVERY_ROLE)
    emulator.faults.answer("audit", 200, body)
    code, _, checks = doctor(tmp_path, emulator, tenant, capsys)
    assert code == 3
    assert (checks["audit log"]["status"], checks["audit log"]["summary"]) == ("problem", summary)
    assert [checks[name]["status"] for name in ("sign-in", "roles", "policy", "clock")] == ["ok"] * 4


def test_a_json_file_that_cannot_be_written_is_one_line_and_exit_4(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_secret(tenant, monkeypatch, EVERY_ROLE)
    target = tmp_path / "no-such-directory" / "doctor.json"
    assert main(["doctor", "--project", str(project(tmp_path, emulator, tenant)), "--json", str(target)]) == 4
    assert capsys.readouterr().err.splitlines()[-1] == f"error: could not write {target}: No such file or directory"
