"""The pipeline matrix from stacks/: one stack per tenant, compared by GUID."""

from __future__ import annotations

import io
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from emulator import Emulator, Tenant
from emulator.audit import AUDIT_ROLE
from emulator.state import WRITE_ROLE
from fleet.__main__ import main
from fleet.drift import DriftCheck
from fleet.outcome import ALREADY_THERE, EXIT_CHANGES, EXIT_FAILED, EXIT_OK, Outcome, exit_code
from fleet.run import run_all
from fleet.stacks import StackFile
from fleet.writers.display import LiveProgress, note_text, print_summary
from fleet.writers.report import write_pages
from providers.common.errors import ConfigurationError
from providers.graph.authorization_policy import BITLOCKER_KEYS
from providers.graph.client import GraphClient
from providers.graph.consistency import now_iso
from providers.properties import StackOutputs
from providers.session import Session
from providers.signin.discovery_cache import DiscoveryCache
from tests.support.emulated import emulator_config
from tests.support.projects import drift_ready, stacks_project

pytestmark = pytest.mark.usefixtures("trust_emulator")


def test_the_matrix_lists_every_stack_with_its_tenant_guid(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    other = emulator.add_tenant()
    assert main(["matrix", "--project", str(stacks_project(tmp_path, emulator, {"a": tenant.domain, "b": other.id}))]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "include": [{"stack": "a", "tenant": tenant.id}, {"stack": "b", "tenant": other.id}]
    }


def test_two_stacks_on_one_tenant_are_refused_by_name(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    stacks = {"prod": tenant.id, "prod-copy": tenant.domain.upper(), "other": emulator.add_tenant().id}
    assert main(["matrix", "--project", str(stacks_project(tmp_path, emulator, stacks))]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"stacks prod, prod-copy all manage tenant {tenant.id}; keep one stack per tenant" in captured.err


def test_an_unknown_tenant_is_one_line(tmp_path: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", "--project", str(stacks_project(tmp_path, emulator, {"a": "nowhere.example.com"}))]) == 2
    assert "AADSTS90002" in capsys.readouterr().err


def test_drift_refuses_two_stacks_on_one_tenant_before_any_request(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    requests = len(emulator.directory.requests)
    assert main(["drift", "--project", str(stacks_project(tmp_path, emulator, {"a": tenant.id, "b": tenant.id.upper()}))]) == 2
    assert f"stacks a, b all manage tenant {tenant.id}" in capsys.readouterr().err
    assert len(emulator.directory.requests) == requests


def test_consent_urls_name_each_stacks_tenant_and_app(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARM_CLIENT_ID", "5a1f0c7e-2b9d-4e8a-8c3f-1d2e3f4a5b6c")
    assert main(["consent-urls", "--project", str(stacks_project(tmp_path, emulator, {"a": tenant.domain}))]) == 0
    app = "5a1f0c7e-2b9d-4e8a-8c3f-1d2e3f4a5b6c"
    assert capsys.readouterr().out == f"a\t{tenant.id}\t{app}\t{emulator.url}/{tenant.id}/adminconsent?client_id={app}\n"


def test_consent_urls_name_each_app_a_pipeline_uses(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    root = stacks_project(tmp_path, emulator, {"a": tenant.id})
    assert main(["consent-urls", "--project", str(root), "--client-id", "read-app", "--client-id", "write-app"]) == 0
    assert [line.split("\t")[2:] for line in capsys.readouterr().out.splitlines()] == [
        ["read-app", f"{emulator.url}/{tenant.id}/adminconsent?client_id=read-app"],
        ["write-app", f"{emulator.url}/{tenant.id}/adminconsent?client_id=write-app"],
    ]


def test_a_stack_glob_that_matches_nothing_is_a_configuration_error(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["drift", "--stacks", "prod-*", "--project", str(stacks_project(tmp_path, emulator, {"a": tenant.id}))]) == 2
    assert "no stack" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "refused"),
    [
        (["refresh", "--only-drifted"], "--only-drifted"),
        (["drift", "--out", "x.html"], "--out"),
        (["consent-urls", "--json", "f"], "--json"),
        (["preview", "--only-drifted"], "--only-drifted"),
        (["drift", "--changed-since", "main"], "--changed-since"),
    ],
)
def test_a_flag_is_refused_where_it_means_nothing(argv: list[str], refused: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert f"unrecognized arguments: {refused}" in capsys.readouterr().err


def test_a_tenant_that_cannot_be_resolved_fails_its_row_and_the_others_still_run(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tenant.add_app()
    monkeypatch.setenv("ARM_CLIENT_ID", app.client_id)
    monkeypatch.setenv("ARM_CLIENT_SECRET", app.add_secret())
    emulator.set_bitlocker(tenant, False)
    root = stacks_project(tmp_path, emulator, {"good": tenant.id, "gone": "gone.example.com"})
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
            "providers.common.errors.ForbiddenError: Graph denied GET: grant Policy.Read.All (request-id r)",
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


def test_version_comes_from_pyproject(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    declared = re.search(r'^version = "(.+)"$', (Path(__file__).parents[1] / "pyproject.toml").read_text(), re.MULTILINE)
    assert declared
    assert capsys.readouterr().out == f"bitlocker-policy {declared[1]}\n"


@pytest.mark.parametrize("out", ["report.pdf", "customer.html", "page.md"])
def test_a_report_out_that_names_a_file_is_refused(out: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["report", "--out", out])
    assert exited.value.code == 2
    assert f"report --out is a directory (a page per tenant and an index, as --format html), not a {Path(out).suffix} file" in (
        capsys.readouterr().err
    )


def test_no_match_suggests_the_closest_stack_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\nconfig: {}\nstackConfigDir: stacks\n")
    for name in ("contoso-prod", "fabrikam-prod"):
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text("config: {}\n")
    assert main(["drift", "--project", str(tmp_path), "--stacks", "contoso-prd"]) == 2
    assert "matches contoso-prd; did you mean contoso-prod?" in capsys.readouterr().err


HOSTILE = "<img src=x onerror=alert(1)>\x1b[2J[red]x[/red]|`*"
HOSTILE_FILE_NAME = HOSTILE.replace("/", "")  # a file name cannot hold a slash


def test_hostile_names_and_graph_text_are_inert_on_the_terminal_and_in_every_report(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = drift_ready(tmp_path, emulator, tenant, monkeypatch)
    (root / "stacks" / f"Pulumi.{HOSTILE_FILE_NAME}.yaml").write_text("config: {}\n")
    denied = {"error": {"code": "Authorization_RequestDenied", "message": HOSTILE}}
    emulator.faults.answer("graph", 403, denied)
    summary = tmp_path / "summary.md"
    assert main(["drift", "--project", str(root), "--json", str(tmp_path / "rows.json"), "--markdown", str(summary)]) == 4
    printed = capsys.readouterr()
    assert "\x1b" not in printed.out + printed.err
    assert "[red]x[/red]" in printed.out  # shown as written, not read as rich markup
    rows = [Outcome.from_json(row) for row in json.loads((tmp_path / "rows.json").read_text())["stacks"]]
    for page_format in ("md", "html"):  # report's pages of those rows (report itself needs the engine)
        write_pages(tmp_path / page_format, page_format, rows, datetime.now(UTC))
    markdown = summary.read_text() + "".join(path.read_text() for path in (tmp_path / "md").iterdir())
    page = "".join(path.read_text() for path in (tmp_path / "html").iterdir())
    assert len(list((tmp_path / "html").iterdir())) == 3  # good, the hostile stack, index.html
    assert "<img" not in markdown + page
    assert "\x1b" not in markdown + page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert r"&lt;img src=x onerror=alert(1)&gt; \[2J\[red\]x\[/red\]\|\`\*" in markdown


# -- the fleet's logic, one rule per test, against the in-process emulator ----------------------------
@pytest.mark.parametrize(
    ("command", "actions", "code"),
    [
        ("drift", ["none", "none"], EXIT_OK),
        ("drift", ["none", "update"], EXIT_CHANGES),
        ("preview", ["update", "failed"], EXIT_FAILED),
        ("report", ["update"], EXIT_CHANGES),
        ("up", ["update", "none"], EXIT_OK),  # up did what it found to do
        ("refresh", ["failed"], EXIT_FAILED),
    ],
)
def test_the_exit_code_says_failed_then_changes_then_converged(command: str, actions: list[str], code: int) -> None:
    assert exit_code(command, [Outcome(f"s{i}", "t", action=action) for i, action in enumerate(actions)]) == code


class Watched:
    """Records what run_all tells an observer."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def started(self, outcome: Outcome) -> None:
        self.events.append(("started", outcome.stack))

    def finished(self, outcome: Outcome) -> None:
        self.events.append(("finished", outcome.stack))


def test_run_all_keeps_going_past_a_failure_and_a_bug_each_one_line(tmp_path: Path) -> None:
    def work(stack: StackFile, outcome: Outcome) -> Outcome:
        if stack.name == "refused":
            raise ConfigurationError("set the key")
        if stack.name == "buggy":
            raise RuntimeError("two\nlines")
        outcome.observe(True)
        return outcome

    targets = [(StackFile(name, tmp_path / name, {}), f"tenant-{name}") for name in ("ok", "refused", "buggy")]
    watched = Watched()
    outcomes = run_all(targets, work, workers=2, observer=watched)
    assert [(o.stack, o.tenant, o.action, o.error) for o in outcomes] == [
        ("ok", "tenant-ok", "none", None),
        ("refused", "tenant-refused", "failed", "set the key"),
        ("buggy", "tenant-buggy", "failed", "unexpected RuntimeError: two lines"),
    ]
    assert sorted(watched.events) == sorted(
        [(event, name) for name in ("ok", "refused", "buggy") for event in ("started", "finished")]
    )


@pytest.fixture
def drift_stack(tmp_path: Path, emulator: Emulator, tenant: Tenant) -> StackFile:
    """A stack declaring `false` for `tenant`, with an app of its own (its secret in the stack file)."""
    app = tenant.add_app()
    config = {
        **emulator_config(emulator, tenantId=tenant.id, clientId=app.client_id, clientSecret=app.add_secret()),
        "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "false",
        "bitlocker-policy:consistencyWindowSeconds": "30",
    }
    return StackFile("prod", tmp_path / "Pulumi.prod.yaml", config)


def drift_of(stack: StackFile, tenant: Tenant, last: StackOutputs | None, http: httpx.Client) -> tuple[Outcome, int]:
    """DriftCheck's outcome for the stack, and how often it asked for the stack's last outputs."""
    asked: list[str] = []

    def last_outputs(name: str) -> StackOutputs | None:
        asked.append(name)
        return last

    check = DriftCheck(http, DiscoveryCache(), last_outputs, lambda _: {})
    return check(stack, Outcome(stack.name, tenant.id)), len(asked)


def test_a_converged_tenant_costs_one_read_and_no_engine_call(
    drift_stack: StackFile, emulator: Emulator, tenant: Tenant, http: httpx.Client
) -> None:
    emulator.set_bitlocker(tenant, False)
    outcome, engine_calls = drift_of(drift_stack, tenant, None, http)
    assert (outcome.declared, outcome.live, outcome.action, engine_calls) == (False, False, "none", 0)
    assert [r.method for r in emulator.graph_requests(tenant=tenant)] == ["GET"]


def test_drift_says_who_changed_the_tenant_and_when_from_the_audit_log(
    drift_stack: StackFile, emulator: Emulator, tenant: Tenant, http: httpx.Client
) -> None:
    tenant.apps[drift_stack.config["azuread:clientId"]].roles.add(AUDIT_ROLE)
    emulator.set_bitlocker(tenant, False)  # our last up
    emulator.set_bitlocker(tenant, True, by="erin@contoso.com")
    last = StackOutputs(tenant.id, False, liveValue=False)
    outcome, _ = drift_of(drift_stack, tenant, last, http)
    assert outcome.action == "update"
    assert str(outcome.changed).startswith("changed by erin@contoso.com at 20")
    assert "changed by erin@contoso.com" in note_text(outcome)
    assert outcome.to_json()["changed"] == outcome.changed


def test_history_lists_changes_newest_first_and_puts_our_request_id_on_our_last_patch(
    drift_stack: StackFile, emulator: Emulator, tenant: Tenant, http: httpx.Client
) -> None:
    client_id = drift_stack.config["azuread:clientId"]
    tenant.apps[client_id].roles.add(AUDIT_ROLE)
    ours = GraphClient(http, emulator.url, lambda: emulator.access_token(tenant, (WRITE_ROLE,), app_id=client_id))
    request_id = ours.write(BITLOCKER_KEYS, False)
    emulator.set_bitlocker(tenant, True, by="ivan@contoso.com")
    two_minutes_ago = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()  # past the stack's 30 s consistency window
    last = StackOutputs(tenant.id, False, liveValue=False, lastPatchRequestId=request_id, lastPatchAt=two_minutes_ago)
    check = DriftCheck(http, DiscoveryCache(), lambda _: last, lambda _: {}, history=10)
    outcome = check(drift_stack, Outcome(drift_stack.name, tenant.id))
    assert [(row["by"], row["from"], row["to"], row["requestId"]) for row in outcome.history or []] == [
        ("ivan@contoso.com", False, True, None),
        (f"bitlocker-policy (app {client_id})", True, False, request_id),
    ]
    assert str(outcome.changed).startswith("changed by ivan@contoso.com")
    assert (
        sum(r.path.lower().endswith("/directoryaudits") for r in emulator.graph_requests("GET", tenant)) == 1
    )  # one read for both


@pytest.mark.parametrize(
    ("last_set", "reason"),
    [
        (None, "never deployed"),
        (True, "declared value changed, not applied yet"),
        # up recorded false (no PATCH: no lastPatchAt): "left it", not "set"
        (False, "drift: changed outside Pulumi (the stack's last up left it false)"),
    ],
)
def test_a_tenant_that_differs_says_why_from_the_stacks_last_outputs(
    drift_stack: StackFile, tenant: Tenant, http: httpx.Client, last_set: bool | None, reason: str
) -> None:
    last = None if last_set is None else StackOutputs(tenant.id, last_set, liveValue=last_set)
    outcome, engine_calls = drift_of(drift_stack, tenant, last, http)
    assert (outcome.live, outcome.action, outcome.reason, engine_calls) == (True, "update", reason, 1)
    if last_set is True:  # a declared change of our own, pending: nobody changed the tenant, nothing to look up
        assert outcome.changed is None


def test_right_after_our_own_patch_a_stale_read_is_read_again_not_called_drift(
    drift_stack: StackFile, emulator: Emulator, tenant: Tenant, http: httpx.Client
) -> None:
    emulator.faults.stale_reads_ms = 800  # Graph serves the old `true` for a moment after a write
    ours = Session(drift_stack.sources)
    ours.graph_client(tenant.id).write(BITLOCKER_KEYS, False)  # our own `up`'s PATCH
    ours.close()
    just_now = StackOutputs(tenant.id, False, liveValue=False, lastPatchAt=now_iso())
    outcome, _ = drift_of(drift_stack, tenant, just_now, http)
    assert (outcome.live, outcome.action) == (False, "none")
    assert len(emulator.graph_requests("GET", tenant)) > 1


def test_the_summary_table_fits_80_columns_and_lists_each_cause_whole_below_it() -> None:
    guid, cause = "8f6c0d3e-1a2b-4c5d-9e8f-0a1b2c3d4e5f", "Graph refused GET /policies/authorizationPolicy: 403 " + "x" * 150
    outcomes = [
        Outcome("prod", guid, declared=False, live=True, action="update", reason="drift: changed outside Pulumi", live_read=True),
        Outcome("dev", guid, action="failed", error=cause),
        Outcome("test", guid, declared=False, live=False, live_read=True),
        Outcome("new", guid, declared=False, live=False, action="record", reason=ALREADY_THERE, live_read=True),
    ]
    console = Console(record=True, width=80)
    print_summary(console, "drift", outcomes)
    lines = console.export_text(styles=False).splitlines()
    table = lines[: lines.index("4 stacks: 1 converged, 1 differ, 1 to record, 1 failed")]
    assert all(len(line) <= 80 for line in table), table
    assert any(
        line.split() == ["│", "prod", "│", "8f6c0d3e…", "│", "false", "│", "true", "│", "differs", "[1]", "│", "0.0", "│"]
        for line in table
    )
    # a failed row: no declared value to show, the live one unknown
    assert any(line.split()[:11] == ["│", "dev", "│", "8f6c0d3e…", "│", "│", "?", "│", "failed", "[2]", "│"] for line in table)
    assert "[1] prod: drift: changed outside Pulumi" in lines
    assert f"[2] dev: {cause}" in lines  # whole, on one line
    assert f"[3] new: {ALREADY_THERE}" in lines


def test_progress_is_a_line_per_stack_when_stderr_is_not_a_terminal() -> None:
    console = Console(file=io.StringIO(), force_terminal=False)
    with LiveProgress("drift", 2, console) as progress:
        for outcome in (Outcome("prod", "t1", action="update"), Outcome("dev", "t2")):
            progress.started(outcome)
            progress.finished(outcome)
    assert console.file.getvalue().splitlines() == ["drift 1/2: prod differs (0.0 s)", "drift 2/2: dev converged (0.0 s)"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("page_format", ["md", "html"])
def test_report_writes_a_page_per_customer_in_their_words_and_an_index(tmp_path: Path, page_format: str) -> None:
    outcomes = [
        Outcome(
            "prod",
            "t1",
            customer="Contoso Ltd",
            declared=False,
            live=False,
            live_read=True,
            last_patch_at="2026-11-20T09:15:00Z",
            last_patch_request_id="r-42",
        ),
        Outcome(
            "dev",
            "t2",
            declared=False,
            live=True,
            action="update",
            reason="drift: changed outside Pulumi",
            live_read=True,
            changed="changed by this product's app (bitlocker-policy (app c1)) at 2026-11-28 16:42 UTC",
        ),
        Outcome("test", "t3", action="failed", error="Graph denied GET"),
    ]
    written = write_pages(tmp_path, page_format, outcomes, datetime(2026, 11, 29, 8, 0, tzinfo=UTC))
    assert [path.name for path in written] == [f"{name}.{page_format}" for name in ("prod", "dev", "test", "index")]
    prod, dev, test, index = (path.read_text() for path in written)
    assert "People in Contoso Ltd cannot read the BitLocker recovery keys of the devices they own." in prod
    assert "as agreed" in prod
    assert "Last set" in prod
    assert "by your service provider at 2026-11-20 09:15 UTC" in prod
    assert "r-42" not in prod  # a request-id is the provider's: on the index and in --json
    assert "by your service provider at 2026-11-28 16:42 UTC" in dev
    assert "People in t2 can read" in dev
    assert "differs from what was agreed" in dev
    assert "could not be checked on 2026-11-29 08:00 UTC" in test
    named_index = write_pages(tmp_path / "named", page_format, [Outcome("index", "t5")], datetime.now(UTC))
    assert [path.name for path in named_index][1:] == [f"index.{page_format}"] != [named_index[0].name]  # both kept
    half_read = Outcome("late", "t4", declared=False, live=True, live_read=True, action="failed", error="stack output failed")
    (late,) = (path.read_text() for path in write_pages(tmp_path / "late", page_format, [half_read], datetime.now(UTC))[:1])
    assert "as agreed" not in late  # a failed row says nothing it did not finish checking
    assert "could not be checked" in late
    for customer_page in (prod, dev, test):
        assert not re.search(r"(?i)\b(stack|pulumi|drift|declar\w*|preview)\b", customer_page)
    assert "3 stacks: 1 converged, 1 differ, 1 failed" in index
    assert "failed: Graph denied GET" in index
    assert "differs: drift: changed outside Pulumi" in index
    assert ("prod.html" if page_format == "html" else "(prod.md)") in index
