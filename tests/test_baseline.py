"""The baseline rule (providers/config/baseline.py), and the fleet applying it as the policy pack does."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from emulator import Emulator, Tenant
from fleet.__main__ import main
from fleet.baseline import verdict
from fleet.outcome import Outcome
from fleet.stacks import find_stacks
from fleet.writers.links import NO_LINKS
from fleet.writers.notify import FORMATS, needs_notice
from fleet.writers.report import write_pages
from providers.common.errors import EngineError
from providers.config.baseline import EXCEPTION, EXCEPTION_MOST, WARN_DAYS, expiry_text, judge
from providers.properties import DECLARED_PROPERTY, SettingProperties, names
from tests.support.emulated import emulator_config
from tests.support.webhook import receiving

TODAY = date(2026, 11, 29)
GOOD = {"reason": "legal hold on finance laptops", "approvedBy": "jane@provider.com", "expires": "2027-06-30"}
DEVIATION = "stack s declares true, not the baseline false"


@pytest.mark.parametrize(
    ("declared", "exception", "violation", "warning"),
    [
        (False, None, None, None),  # the baseline
        (False, GOOD, None, "stack s declares the baseline (false): remove its bitlocker-policy:exception"),
        (
            True,
            None,
            f"{DEVIATION}, with no exception recorded: add bitlocker-policy:exception "
            "with reason, approvedBy and expires (YYYY-MM-DD), or declare the baseline",
            None,
        ),
        (
            True,
            {**GOOD, "expires": "2026-11-28"},
            f"{DEVIATION}, and its exception (approved by jane@provider.com) expired 1 day ago, on "
            "2026-11-28: renew expires with a new approval, or declare the baseline",
            None,
        ),
        (
            True,
            {**GOOD, "expires": "2026-12-09"},
            None,
            "stack s's exception expires in 10 days, on 2026-12-09: renew it before then, or declare the baseline",
        ),
        (True, GOOD, None, None),
        (None, None, None, None),  # no valid declared value: the stack fails on that, not on the rule
    ],
)
def test_the_rule(declared: bool | None, exception: object, violation: str | None, warning: str | None) -> None:
    found = judge("s", declared, False, {} if exception is None else {EXCEPTION.key: exception}, TODAY)
    assert (found.violation, found.warning) == (violation, warning)


# An exception as people write it in the stack file (`exception:` and what follows), what the CLI
# decrypts when the file holds it encrypted (None: plain), the text the CLI hands the policy pack
# (JSON, an unquoted date as Go prints it; the language host cuts a longer value to EXCEPTION_MOST
# + 1 characters), and the problem both readers must find (None: a current exception).
HUGE = "x" * 1_000_000
PROBLEM = "bitlocker-policy:exception"
VALUES: dict[str, tuple[str, str | None, str, str | None]] = {
    "mapping": (
        "\n    reason: a pilot\n    approvedBy: jane@provider.com\n    expires: '2027-06-30'",
        None,
        '{"approvedBy":"jane@provider.com","expires":"2027-06-30","reason":"a pilot"}',
        None,
    ),
    "JSON text": (
        """ '{"reason": "a pilot", "approvedBy": "jane@provider.com", "expires": "2027-06-30"}'""",
        None,
        '{"reason": "a pilot", "approvedBy": "jane@provider.com", "expires": "2027-06-30"}',
        None,
    ),
    '"not json"': (
        " not json",
        None,
        "not json",
        f"{PROBLEM} must be a mapping with reason, approvedBy and expires, got the text 'not json'",
    ),
    "a secret": (
        "\n    secure: v1:c2FsdA==:Y2lwaGVy",
        '{"approvedBy":"jane@provider.com","expires":"2027-06-30","reason":"a pilot"}',
        '{"approvedBy":"jane@provider.com","expires":"2027-06-30","reason":"a pilot"}',
        None,
    ),
    "a secret reason (config set --secret --path)": (
        "\n    reason:\n      secure: v1:c2FsdA==:Y2lwaGVy\n    approvedBy: jane@provider.com\n    expires: '2027-06-30'",
        '{"approvedBy":"jane@provider.com","expires":"2027-06-30","reason":"a pilot"}',
        '{"approvedBy":"jane@provider.com","expires":"2027-06-30","reason":"a pilot"}',
        None,
    ),
    "unquoted YAML date": (
        "\n    reason: a pilot\n    approvedBy: jane@provider.com\n    expires: 2027-06-30",
        None,
        '{"approvedBy":"jane@provider.com","expires":"2027-06-30 00:00:00 +0000 UTC","reason":"a pilot"}',
        None,
    ),
    "the CLI's rewritten date": (
        "\n    reason: a pilot\n    approvedBy: jane@provider.com\n    expires: 2027-06-30 00:00:00 +0000 UTC",
        None,
        '{"approvedBy":"jane@provider.com","expires":"2027-06-30 00:00:00 +0000 UTC","reason":"a pilot"}',
        None,
    ),
    "quoted date": (
        '\n    reason: a pilot\n    approvedBy: jane@provider.com\n    expires: "2027-06-30"',
        None,
        '{"approvedBy":"jane@provider.com","expires":"2027-06-30","reason":"a pilot"}',
        None,
    ),
    "a date that is none": (
        "\n    reason: a pilot\n    approvedBy: jane@provider.com\n    expires: next year",
        None,
        '{"approvedBy":"jane@provider.com","expires":"next year","reason":"a pilot"}',
        f"{PROBLEM}.expires must be a date YYYY-MM-DD, got the text 'next year'",
    ),
    "approvedBy: true": (
        "\n    reason: a pilot\n    approvedBy: true\n    expires: '2027-06-30'",
        None,
        '{"approvedBy":true,"expires":"2027-06-30","reason":"a pilot"}',
        f"{PROBLEM}.approvedBy must be text, got a boolean",
    ),
    "reason: 5": (
        "\n    reason: 5\n    approvedBy: jane@provider.com\n    expires: '2027-06-30'",
        None,
        '{"approvedBy":"jane@provider.com","expires":"2027-06-30","reason":5}',
        f"{PROBLEM}.reason must be text, got a number",
    ),
    "a reason of 1,001 characters": (
        f"\n    reason: {'x' * 1001}\n    approvedBy: jane@provider.com\n    expires: '2027-06-30'",
        None,
        f'{{"approvedBy":"jane@provider.com","expires":"2027-06-30","reason":"{"x" * 1001}"}}',
        f"{PROBLEM}.reason is longer than 1000 characters",
    ),
    "a reason of 1 MB": (
        f"\n    reason: {HUGE}\n    approvedBy: jane@provider.com\n    expires: '2027-06-30'",
        None,
        f'{{"approvedBy":"jane@provider.com","expires":"2027-06-30","reason":"{HUGE}'[: EXCEPTION_MOST + 1],
        f"{PROBLEM} is longer than 8192 characters: keep reason within 1000 and approvedBy within 256",
    ),
    "nested 2,000 deep": (
        f" '{'[' * 2000}{']' * 2000}'",
        None,
        f"{'[' * 2000}{']' * 2000}",
        f"{PROBLEM} is nested too deeply to be an exception",
    ),
    "missing fields": (
        "\n    reason: a pilot",
        None,
        '{"reason":"a pilot"}',
        f"{PROBLEM} lacks approvedBy, expires",
    ),
    "expired": (
        "\n    reason: a pilot\n    approvedBy: jane@provider.com\n    expires: 2026-11-28",
        None,
        '{"approvedBy":"jane@provider.com","expires":"2026-11-28 00:00:00 +0000 UTC","reason":"a pilot"}',
        "exception (approved by jane@provider.com) expired 1 day ago, on 2026-11-28: renew expires with a new approval, "
        "or declare the baseline",
    ),
}


@pytest.mark.parametrize("case", list(VALUES))
def test_the_fleet_and_the_pack_read_an_exception_the_same_way(case: str, tmp_path: Path) -> None:
    written, decrypted, handed_to_pack, problem = VALUES[case]
    (tmp_path / "Pulumi.s.yaml").write_text(
        f"config:\n  bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice: true\n  {EXCEPTION.key}:{written}\n"
    )
    (stack,) = find_stacks(tmp_path)
    asked: list[str] = []

    def decrypt(name: str) -> dict[str, str]:  # stands in for `pulumi config --show-secrets`
        asked.append(name)
        assert decrypted is not None, "the fleet asked the CLI for the secrets of a stack that holds none"
        return {EXCEPTION.key: decrypted, "azuread:clientSecret": "s3cret"}

    fleet = verdict(stack, False, TODAY, decrypt)
    pack = judge("s", True, False, {EXCEPTION.key: handed_to_pack}, TODAY)
    expected = None if problem is None else f"{DEVIATION}, and its {problem}"
    assert (fleet.violation, pack.violation) == (expected, expected)
    assert asked == ([] if decrypted is None else ["s"])


def test_a_stack_whose_secrets_cannot_be_read_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.s.yaml").write_text(f"config:\n  {EXCEPTION.key}:\n    secure: v1:c2FsdA==:Y2lwaGVy\n")
    (stack,) = find_stacks(tmp_path)

    def decrypt(name: str) -> dict[str, str]:
        raise EngineError(f"pulumi config --stack {name}: incorrect passphrase")

    assert verdict(stack, False, TODAY, decrypt).violation == (
        "stack s: the baseline rule cannot read its secrets: pulumi config --stack s: incorrect passphrase"
    )


def test_the_pack_reads_the_settings_declared_property() -> None:
    assert DECLARED_PROPERTY in names(SettingProperties)


@pytest.mark.parametrize(
    ("days_left", "text"),
    [
        (213, "expires in 213 days"),
        (1, "expires in 1 day"),
        (0, "expires today"),
        (-1, "expired 1 day ago"),
        (-7, "expired 7 days ago"),
    ],
)
def test_an_exceptions_days_read_as_words_never_as_a_negative_count(days_left: int, text: str) -> None:
    assert expiry_text(days_left) == text


def test_the_warning_window_is_the_projects_to_choose() -> None:
    ends_in_ten_days = {EXCEPTION.key: {**GOOD, "expires": "2026-12-09"}}
    assert judge("s", True, False, ends_in_ten_days, TODAY).warning  # within WARN_DAYS
    assert judge("s", True, False, ends_in_ten_days, TODAY, warn_days=7).warning is None
    assert judge("s", True, False, {EXCEPTION.key: {**GOOD, "expires": "2026-12-29"}}, TODAY).warning  # 30 days: the edge
    assert WARN_DAYS == 30


def test_no_baseline_declared_enforces_nothing() -> None:
    assert judge("s", True, None, {}, TODAY).violation is None


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
    assert all(cell in text for cell in ("legal hold", "jane@provider.com", "2027-06-30", "expires in 213 days"))
    assert "Agreed exception" in (tmp_path / "dev.html").read_text()


def _expiring_in(days: int) -> dict[str, str]:
    return {**GOOD, "expires": (datetime.now(UTC).date() + timedelta(days=days)).isoformat()}


@pytest.mark.usefixtures("trust_emulator")
def test_an_exception_ending_soon_is_a_warning_in_drift_and_one_notice_in_its_alert(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_exception(project, _expiring_in(13))
    out = tmp_path / "drift.json"
    with receiving() as receiver:
        assert (
            main(["drift", "--project", str(project), "--json", str(out), "--notify", receiver.url, "--notify-format", "slack"])
            == 0
        )
    (row,) = json.loads(out.read_text())["stacks"]
    assert row["warning"].startswith("stack dev's exception expires in 13 days, on ")
    assert "expires in 13 days" in capsys.readouterr().out  # the table's note
    (message,) = receiver.posts
    notices = [block["text"]["text"] for block in message["blocks"] if "notice" in block.get("text", {}).get("text", "")]
    assert notices == [f"notice: 1 warning of the baseline rule: {row['warning']}"]


def test_a_pull_requests_run_posts_no_notice_for_a_warning() -> None:
    warned = Outcome("dev", "t1", customer="Fabrikam", warning="stack dev's exception expires in 13 days, on 2026-12-12")
    assert needs_notice("drift", [warned])
    assert not needs_notice("preview", [warned])
    differs = Outcome("bravo", "t2", declared=False, live=True, action="update", reason="drift", live_read=True)
    for fmt in ("slack", "teams"):
        assert "13 days" in json.dumps(FORMATS[fmt]("drift", {}, [warned, differs], NO_LINKS))
        assert "13 days" not in json.dumps(FORMATS[fmt]("preview", {}, [warned, differs], NO_LINKS))


@pytest.mark.usefixtures("trust_emulator")
def test_a_window_pulumi_yaml_cannot_mean_stops_the_run_in_one_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with (project / "Pulumi.yaml").open("a") as file:
        file.write("  exceptionWarnDays:\n    type: integer\n    default: soon\n")
    assert main(["drift", "--project", str(project)]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: bitlocker-policy:exceptionWarnDays in Pulumi.yaml must be a whole number of days (0 or more), got the text 'soon'"
    )


@pytest.mark.usefixtures("trust_emulator")
def test_the_window_comes_from_pulumi_yaml(project: Path, tmp_path: Path) -> None:
    with (project / "Pulumi.yaml").open("a") as file:
        file.write("  exceptionWarnDays:\n    type: integer\n    default: 7\n")
    set_exception(project, _expiring_in(13))
    out = tmp_path / "drift.json"
    assert main(["drift", "--project", str(project), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["stacks"][0]["warning"] is None


def test_the_index_and_customer_page_say_expired_days_ago_and_the_index_warns_of_one_ending_soon(tmp_path: Path) -> None:
    exception = {"reason": "legal hold", "approvedBy": "jane@provider.com", "expires": "2026-11-22", "daysLeft": -7}
    soon = {**exception, "expires": "2026-12-12", "daysLeft": 13}
    warning = "stack qa's exception expires in 13 days, on 2026-12-12: renew it before then, or declare the baseline"
    outcomes = [
        Outcome("dev", "t1", customer="Fabrikam", declared=True, live=True, live_read=True, exception=exception, violation="v"),
        Outcome("qa", "t2", customer="Contoso", declared=True, live=True, live_read=True, exception=soon, warning=warning),
    ]
    index = write_pages(tmp_path, "html", outcomes, datetime(2026, 11, 29, tzinfo=UTC))[-1].read_text()
    assert "expired 7 days ago" in index
    assert warning.replace("'", "&#x27;") in index  # qa's status cell
    assert "expires in 13 days<" in index  # the exceptions' table
    assert ">-7<" not in index
    assert "expired 7 days ago (2026-11-22)" in (tmp_path / "dev.html").read_text()
