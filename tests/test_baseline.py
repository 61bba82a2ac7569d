"""The baseline rule (providers/baseline.py), and the fleet applying it as the policy pack does."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from fleet.__main__ import main
from fleet.outcome import Outcome
from fleet.report import write_pages
from providers.baseline import judge
from providers.properties import DECLARED_PROPERTY, SettingProperties, names
from tests.emulator import Emulator, Tenant
from tests.support.emulated import emulator_config

TODAY = date(2026, 11, 29)
GOOD = {"reason": "legal hold on finance laptops", "approvedBy": "jane@provider.com", "expires": "2027-06-30"}


@pytest.mark.parametrize(
    ("declared", "exception", "violation", "warning"),
    [
        (False, None, None, None),  # the baseline
        (False, GOOD, None, "stack s declares the baseline (false): remove its bitlocker-policy:exception"),
        (
            True,
            None,
            "stack s declares true, not the baseline false, with no exception recorded: add bitlocker-policy:exception "
            "with reason, approvedBy and expires (YYYY-MM-DD), or declare the baseline",
            None,
        ),
        (
            True,
            {"reason": "x"},
            "stack s declares true, not the baseline false, and its bitlocker-policy:exception lacks approvedBy, expires",
            None,
        ),
        (
            True,
            {**GOOD, "expires": "next year"},
            "stack s declares true, not the baseline false, and its bitlocker-policy:exception has expires 'next year', "
            "which is no date YYYY-MM-DD",
            None,
        ),
        (
            True,
            {**GOOD, "expires": "2026-11-28"},
            "stack s declares true, not the baseline false, and its exception (approved by jane@provider.com) expired on "
            "2026-11-28: renew expires with a new approval, or declare the baseline",
            None,
        ),
        (True, {**GOOD, "expires": "2026-12-09"}, None, "stack s's exception expires in 10 days, on 2026-12-09"),
        (True, GOOD, None, None),
        (True, json.dumps(GOOD), None, None),  # as pulumi.Config hands a structured value to a program
        (None, None, None, None),  # no valid declared value: the stack fails on that, not on the rule
    ],
)
def test_the_rule(declared: bool | None, exception: object, violation: str | None, warning: str | None) -> None:
    found = judge("s", declared, False, exception, TODAY)
    assert (found.violation, found.warning) == (violation, warning)


def test_the_pack_reads_the_settings_declared_property() -> None:
    assert DECLARED_PROPERTY in names(SettingProperties)


def test_no_baseline_declared_enforces_nothing() -> None:
    assert judge("s", True, None, None, TODAY).violation is None


@pytest.fixture
def project(tmp_path: Path, emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a baseline of false and one stack, `dev`, that allows (true) on a tenant that already does."""
    app = tenant.add_app()
    monkeypatch.setenv("ARM_CLIENT_SECRET", app.add_secret())
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text(
        "name: bitlocker-policy\nruntime: python\nstackConfigDir: stacks\n"
        "config:\n  baseline:\n    type: boolean\n    default: false\n"
    )
    config = {
        **emulator_config(emulator, tenantId=tenant.id, clientId=app.client_id),
        "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "true",
    }
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text(json.dumps({"config": config}))
    return tmp_path


def set_exception(project: Path, exception: dict[str, str]) -> None:
    path = project / "stacks" / "Pulumi.dev.yaml"
    document = json.loads(path.read_text())
    document["config"]["bitlocker-policy:exception"] = exception
    path.write_text(json.dumps(document))


@pytest.mark.usefixtures("trust_emulator")
def test_fleet_drift_fails_a_deviation_without_an_exception_and_passes_one_with(
    project: Path, emulator: Emulator, tenant: Tenant, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "drift.json"
    assert main(["drift", "--project", str(project), "--json", str(out)]) == 5  # the tenant agrees; the rule does not
    row = json.loads(out.read_text())["stacks"][0]
    assert (row["action"], row["violation"].split(",")[0]) == ("none", "stack dev declares true")
    assert "with no exception recorded" in capsys.readouterr().out
    set_exception(project, GOOD)
    assert main(["drift", "--project", str(project), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["stacks"][0]["exception"]["approvedBy"] == "jane@provider.com"
    set_exception(project, {**GOOD, "expires": "2000-01-01"})
    assert main(["up", "--project", str(project)]) == 5  # up writes no deviation nobody approved
    assert emulator.graph_requests("PATCH", tenant) == []


def test_a_stack_cannot_set_its_own_baseline(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = project / "stacks" / "Pulumi.dev.yaml"
    document = json.loads(path.read_text())
    document["config"]["bitlocker-policy:baseline"] = "true"
    path.write_text(json.dumps(document))
    assert main(["up", "--project", str(project)]) == 5
    assert "stack dev sets bitlocker-policy:baseline: the baseline is the project's (Pulumi.yaml)" in capsys.readouterr().out


def test_the_report_lists_every_exception_with_its_approver_and_days_left(tmp_path: Path) -> None:
    exception = {"reason": "legal hold", "approvedBy": "jane@provider.com", "expires": "2027-06-30", "daysLeft": 213}
    outcomes = [Outcome("dev", "t1", customer="Fabrikam", declared=True, live=True, live_read=True, exception=exception)]
    written = write_pages(tmp_path, "html", outcomes, datetime(2026, 11, 29, tzinfo=UTC))
    text = written[-1].read_text()
    assert "Exceptions to the baseline" in text
    assert all(cell in text for cell in ("legal hold", "jane@provider.com", "2027-06-30", ">213<"))
    assert "Agreed exception" in (tmp_path / "dev.html").read_text()
