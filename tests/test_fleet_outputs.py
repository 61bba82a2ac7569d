"""What a fleet run hands to pipelines and people: the Markdown summary, JUnit XML, and webhook notifications."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from rich.console import Console

from emulator import Emulator, Tenant
from fleet.__main__ import main
from fleet.outcome import EXIT_VIOLATION, STATUSES, Outcome, exit_code, totals
from fleet.writers.display import print_summary
from fleet.writers.junit import RULE, junit_xml
from fleet.writers.links import REPORT_URL, Links
from fleet.writers.notify import needs_notice, notify
from fleet.writers.report import json_document
from fleet.writers.summary import MARKER, markdown_summary
from providers.graph.retry import RetryPolicy
from providers.session import new_http_client
from tests.support.projects import drift_ready
from tests.support.tools import ensure_tool
from tests.support.webhook import Receiver, receiving

pytestmark = pytest.mark.usefixtures("trust_emulator")

DRIFTED = Outcome(
    "bravo", "t2", declared=False, live=True, action="update", reason="drift: changed outside Pulumi", live_read=True
)
FAILED = Outcome("charlie", "t3", declared=False, action="failed", error="Graph denied GET (request-id r-3)")
CONVERGED = [Outcome(f"ok-{i}", f"t-{i}", declared=False, live=False, live_read=True) for i in range(5)]


def test_the_totals_line_counts_every_stack() -> None:
    assert totals("drift", [*CONVERGED, DRIFTED, FAILED]) == "7 stacks: 5 converged, 1 differ, 1 failed"
    assert totals("preview", [DRIFTED]) == "1 stack: 0 converged, 1 would change"


def test_the_markdown_summary_lists_what_needs_a_look_and_counts_the_rest() -> None:
    text = markdown_summary("preview", 4, [*CONVERGED, DRIFTED, FAILED], shard=(2, 4))
    assert text.startswith(MARKER + "\n### bitlocker-policy: fleet preview (shard 2/4)")
    assert "7 stacks: 5 converged, 1 would change, 1 failed (exit code 4)." in text
    assert "| will update |  | bravo | t2 | false → true | drift: changed outside Pulumi |" in text
    assert "| failed |  | charlie | t3 | false → ? | see Errors below |" in text
    assert "- **charlie**: Graph denied GET (request-id r-3)" in text
    assert "ok-1" not in text


def test_the_markdown_summary_of_a_converged_run_is_one_line() -> None:
    assert markdown_summary("drift", 0, CONVERGED).splitlines()[-1] == "5 stacks: 5 converged (exit code 0)."


def test_junit_has_a_testcase_per_stack_and_fails_what_differs_or_failed() -> None:
    root = ET.fromstring(junit_xml("drift", [*CONVERGED, DRIFTED, FAILED]))
    (suite,) = root.findall("testsuite")
    assert (root.get("tests"), root.get("failures"), suite.get("tests"), suite.get("failures")) == ("7", "2", "7", "2")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {"ok-0", "ok-1", "ok-2", "ok-3", "ok-4", "bravo", "charlie"}
    drift, failure = cases["bravo"].find("failure"), cases["charlie"].find("failure")
    assert drift is not None
    assert failure is not None
    assert (drift.get("type"), drift.get("message")) == ("drift", "drift: changed outside Pulumi")
    assert (failure.get("type"), failure.get("message")) == ("failed", "Graph denied GET (request-id r-3)")
    assert "live true" in (drift.text or "")
    assert cases["ok-0"].find("failure") is None


def test_junit_passes_the_stacks_up_converged_and_keeps_their_request_ids() -> None:
    changed = Outcome("bravo", "t2", declared=False, live=False, action="update", request_id="r-9", live_read=True)
    case = ET.fromstring(junit_xml("up", [changed])).find("testsuite/testcase")
    assert case is not None
    assert case.find("failure") is None
    assert "PATCH request-id r-9" in (case.findtext("system-out") or "")


def test_junit_carries_hostile_text_as_plain_text() -> None:
    hostile = Outcome("x", "t", action="failed", error="<script>\x1b[2J & \x00 ]]>")
    failure = ET.fromstring(junit_xml("drift", [hostile])).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == "<script> [2J & ]]>"  # parsed back: escaped in the file, no control characters


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as endpoint:
        yield endpoint


OUTCOMES = [*CONVERGED, DRIFTED, FAILED]


def deliver(receiver: Receiver, fmt: str) -> str | None:
    return notify(receiver.url, fmt, "drift", json_document("drift", 4, OUTCOMES), OUTCOMES)


def test_teams_gets_one_adaptive_card(receiver: Receiver) -> None:
    assert deliver(receiver, "teams") is None
    (post,) = receiver.posts
    assert post["type"] == "message"
    (attachment,) = post["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    texts = [run["text"] for block in card["body"] for run in block["inlines"]]
    assert "7 stacks: 5 converged, 1 differ, 1 failed" in texts
    assert any(text.startswith("charlie (t3): failed: Graph denied GET") for text in texts)


def test_slack_gets_text_and_blocks_with_its_control_characters_escaped(receiver: Receiver) -> None:
    hostile = Outcome("<!channel>", "t", action="failed", error="a & b")
    assert notify(receiver.url, "slack", "drift", {}, [hostile]) is None
    (post,) = receiver.posts
    assert post["text"] == "bitlocker-policy fleet drift: 1 stack: 0 converged, 1 failed"
    assert post["blocks"][1]["text"] == {"type": "plain_text", "text": "&lt;!channel&gt; (t): failed: a &amp; b", "emoji": False}


def test_json_gets_the_json_document(receiver: Receiver) -> None:
    assert deliver(receiver, "json") is None
    assert receiver.posts == [json_document("drift", 4, OUTCOMES)]


def test_a_refused_delivery_is_one_line_without_the_secret_url(receiver: Receiver) -> None:
    receiver.answers.append((404, "no_service", {}))
    problem = deliver(receiver, "slack")
    assert problem == "the notification endpoint http://127.0.0.1/… refused the message (HTTP 404: no_service)"
    assert "s3cret" not in problem


def test_a_throttled_delivery_is_retried(receiver: Receiver) -> None:
    receiver.answers.append((503, "busy", {"Retry-After": "0"}))
    assert deliver(receiver, "json") is None
    assert len(receiver.posts) == 2


def test_an_unreachable_endpoint_is_one_line() -> None:
    quick = RetryPolicy(base_delay=0.01)
    problem = notify(
        "http://127.0.0.1:9/hooks/secret", "json", "drift", {}, OUTCOMES, http_factory=lambda: new_http_client(retry=quick)
    )
    assert problem is not None
    assert problem.startswith("could not deliver the notification to http://127.0.0.1/…")
    assert "secret" not in problem


def test_only_drift_or_a_failure_is_worth_a_message() -> None:
    assert not needs_notice("drift", CONVERGED)
    assert needs_notice("drift", [DRIFTED])
    assert not needs_notice("up", [Outcome("a", "t", action="update")])  # up did what it should
    assert needs_notice("up", [FAILED])


def test_a_failed_notification_leaves_the_runs_exit_code(
    tmp_path: Path,
    emulator: Emulator,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    receiver: Receiver,
) -> None:
    root = drift_ready(tmp_path, emulator, tenant, monkeypatch)
    emulator.faults.answer("graph", 403, {"error": {"code": "Authorization_RequestDenied", "message": "denied"}})
    receiver.answers += [(500, "down", {"Retry-After": "0"})] * 4  # the first try and every retry
    monkeypatch.setenv("BITLOCKER_POLICY_NOTIFY_URL", receiver.url)
    assert main(["drift", "--project", str(root)]) == 4  # the stack failed: that is the run's exit code
    err = capsys.readouterr().err
    assert len(receiver.posts) == 4
    assert "error: the notification endpoint http://127.0.0.1/… refused the message (HTTP 500: down)" in err
    assert "s3cret" not in err


# -- the outputs against the published schemas (scripts/ensure-tools.sh report-schemas) --------------
# The validators are imported by these `tools` tests alone: xmlschema takes 0.4 s to import, a cost
# every `make unit` worker paid at collection for tests it never runs.
@pytest.fixture(scope="module")
def schemas() -> Path:
    return ensure_tool("report-schemas")


@pytest.mark.tools
@pytest.mark.parametrize("command", ["drift", "preview", "up", "refresh"])
def test_junit_is_valid_against_the_published_junit_schema(schemas: Path, command: str) -> None:
    hostile = Outcome("<x>", "t", action="failed", error="<script>\x1b[2J & \x00 ]]>", request_id="r-1")
    document = junit_xml(command, [*OUTCOMES, hostile], started=datetime(2026, 11, 29, tzinfo=UTC))
    import xmlschema

    xmlschema.XMLSchema(schemas / "junit-10.xsd").validate(document.decode())


@pytest.mark.tools
def test_the_junit_schema_check_can_fail(schemas: Path) -> None:
    document = junit_xml("drift", OUTCOMES).decode().replace("<testsuites ", '<testsuites skipped="0" ', 1)
    import xmlschema

    with pytest.raises(xmlschema.XMLSchemaValidationError, match="'skipped' attribute not allowed"):
        xmlschema.XMLSchema(schemas / "junit-10.xsd").validate(document)


@pytest.mark.tools
def test_the_teams_card_is_valid_against_microsofts_adaptive_card_schema(schemas: Path, receiver: Receiver) -> None:
    assert deliver(receiver, "teams") is None
    card = receiver.posts[0]["attachments"][0]["content"]
    schema = json.loads((schemas / f"adaptive-card-{card['version']}.json").read_text())
    import jsonschema

    validator = jsonschema.Draft6Validator(schema)
    assert [error.message for error in validator.iter_errors(card)] == []
    misspelt = {**card, "body": [{**card["body"][0], "weight": "heavy"}]}
    assert list(validator.iter_errors(misspelt))  # the check can fail: the schema is strict


# -- summary: the shards of one run, as one run ---------------------------------------------------------
def shard_documents(tmp_path: Path) -> list[Path]:
    paths = []
    for index, outcomes in enumerate(([*CONVERGED[:3], DRIFTED], [*CONVERGED[3:], FAILED]), start=1):
        path = tmp_path / f"shard-{index}.json"
        path.write_text(json.dumps(json_document("preview", 0, outcomes)))
        paths.append(path)
    return paths


def test_the_shards_json_documents_make_one_summary_and_one_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["summary", *map(str, shard_documents(tmp_path)), "--markdown", "-"])
    assert code == 4  # one shard had a failure: the run failed
    text = capsys.readouterr().out
    assert text.count(MARKER) == 1
    assert "7 stacks: 5 converged, 1 would change, 1 failed (exit code 4)." in text


def test_a_summary_notifies_once_for_all_shards(tmp_path: Path, receiver: Receiver) -> None:
    assert main(["summary", *map(str, shard_documents(tmp_path)), "--notify", receiver.url]) == 4
    (post,) = receiver.posts
    assert [row["stack"] for row in post["stacks"]] == [o.stack for o in [*CONVERGED[:3], DRIFTED, *CONVERGED[3:], FAILED]]


def test_a_summary_refuses_documents_it_cannot_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json").write_text('{"command": "preview", "stacks": [{"stack": "a", "colour": "red"}]}')
    assert main(["summary", str(tmp_path / "bad.json")]) == 2
    assert "bad.json is not the --json document of a fleet run: stacks[0].colour is not a key" in capsys.readouterr().err
    assert main(["summary", str(tmp_path / "missing.json")]) == 2
    assert f"error: cannot read the document {tmp_path / 'missing.json'}: No such file or directory" in capsys.readouterr().err
    mixed = shard_documents(tmp_path)
    mixed[1].write_text(json.dumps(json_document("drift", 0, [])))
    assert main(["summary", *map(str, mixed)]) == 2
    assert "come from different commands (drift, preview)" in capsys.readouterr().err


def test_a_summary_of_many_changes_stays_within_a_pull_request_comment() -> None:
    long_error = "Graph denied GET " + "x" * 400
    many = [Outcome(f"s-{i}", f"t-{i}", action="failed", error=long_error) for i in range(1000)]
    text = markdown_summary("preview", 4, many)
    assert len(text) < 65_536  # GitHub's limit on a comment's body
    assert text.rstrip().endswith("… and 900 more: the run's JSON and JUnit files list every stack.")


def test_a_notify_format_from_the_environment_is_checked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BITLOCKER_POLICY_NOTIFY_FORMAT", "xml")
    with pytest.raises(SystemExit) as refused:
        main(["drift"])
    assert refused.value.code == 2
    assert "BITLOCKER_POLICY_NOTIFY_FORMAT must be one of json, slack, teams, not 'xml'" in capsys.readouterr().err


def test_an_undefined_azure_pipelines_variable_is_no_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BITLOCKER_POLICY_NOTIFY_URL", "$(BITLOCKER_POLICY_NOTIFY_URL)")  # as the agent passes it
    assert main(["summary", *map(str, shard_documents(tmp_path))]) == 4
    warning = "warning: BITLOCKER_POLICY_NOTIFY_URL is $(BITLOCKER_POLICY_NOTIFY_URL), a pipeline variable that is not defined"
    assert warning in capsys.readouterr().err


# -- a broken agreement, and who, which customer, where --------------------------------------------------
EXPIRED = "stack fabrikam declares true, the baseline is false, and its exception expired on 2026-11-30"
BROKEN = Outcome(
    "fabrikam",
    "t9",
    customer="Fabrikam Ltd",
    declared=True,
    live=True,
    live_read=True,
    violation=EXPIRED,
    changed="changed by admin@fabrikam.example at 2026-12-01T08:00:00Z",
)
CHANGED = Outcome(
    "contoso",
    "t8",
    customer="Contoso",
    declared=False,
    live=True,
    live_read=True,
    action="update",
    reason="drift: changed outside Pulumi (the stack's last up left it false)",
    changed="changed by bob@contoso.example at 2026-12-02T09:30:00Z",
)
LINKS = Links(run="https://github.com/contoso/fleet/actions/runs/42", report="https://pages.example/fleet/index.html")


@pytest.mark.parametrize("command", ["drift", "preview", "up", "refresh", "report", "history"])
def test_a_broken_agreement_has_its_own_exit_code_in_every_command(command: str) -> None:
    assert exit_code(command, [*CONVERGED, CHANGED, FAILED, BROKEN]) == EXIT_VIOLATION == 5
    assert exit_code(command, [*CONVERGED, CHANGED]) in (0, 3)  # an ordinary difference is not one


def test_the_markdown_summary_lists_a_broken_agreement_first_with_who_and_where() -> None:
    text = markdown_summary("preview", 5, [*CONVERGED, CHANGED, BROKEN], links=LINKS)
    assert "7 stacks: 1 breaks the baseline rule, 5 converged, 1 would change (exit code 5)." in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows[0] == (
        "| breaks the baseline rule | Fabrikam Ltd | fabrikam | t9 | true → true | "
        f"{EXPIRED}; changed by admin@fabrikam.example at 2026-12-01T08:00:00Z |"
    )
    assert rows[1].startswith("| will update | Contoso | contoso | t8 | false → true | drift: changed outside Pulumi")
    assert "changed by bob@contoso.example at 2026-12-02T09:30:00Z |" in rows[1]
    assert text.rstrip().endswith(f"[the run]({LINKS.run}) · [the report]({LINKS.report})")


def test_junit_fails_a_broken_agreement_with_the_rules_type_in_every_command() -> None:
    for command in ("drift", "preview", "up", "refresh"):
        case = ET.fromstring(junit_xml(command, [BROKEN], links=LINKS)).find("testsuite/testcase/failure")
        assert case is not None
        assert (case.get("type"), case.get("message")) == (RULE, EXPIRED)
        details = (case.text or "").splitlines()
        assert details[0] == "customer Fabrikam Ltd"
        assert "changed by admin@fabrikam.example at 2026-12-01T08:00:00Z" in details
        assert details[-2:] == [f"the run: {LINKS.run}", f"the report: {LINKS.report}"]


def test_the_json_document_carries_each_rows_status_and_the_links() -> None:
    document = json_document("preview", 5, [CONVERGED[0], CHANGED, FAILED, BROKEN], LINKS)
    assert (document["run"], document["report"]) == (LINKS.run, LINKS.report)
    statuses = [row["status"] for row in document["stacks"]]
    assert statuses == ["converged", "differs", "failed", "violation"]
    assert set(statuses) <= set(STATUSES)
    assert document["stacks"][3]["customer"] == "Fabrikam Ltd"
    assert document["stacks"][3]["changed"].startswith("changed by admin@fabrikam.example at ")
    assert [row["status"] for row in json_document("up", 0, [CHANGED])["stacks"]] == ["changed"]
    assert "run" not in json_document("drift", 0, [])  # outside CI, no link


def test_a_summary_reads_documents_with_links_and_statuses_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shard = tmp_path / "shard.json"
    shard.write_text(json.dumps(json_document("preview", 5, [CHANGED, BROKEN], LINKS)))
    assert main(["summary", str(shard), "--markdown", "-"]) == 5
    assert "| breaks the baseline rule | Fabrikam Ltd |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("env", "run"),
    [
        (
            {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "contoso/fleet", "GITHUB_RUN_ID": "42"},
            "https://github.com/contoso/fleet/actions/runs/42",
        ),
        (
            {"SYSTEM_COLLECTIONURI": "https://dev.azure.com/contoso/", "SYSTEM_TEAMPROJECT": "IT fleet", "BUILD_BUILDID": "7"},
            "https://dev.azure.com/contoso/IT%20fleet/_build/results?buildId=7",
        ),
        (
            {"CI_JOB_URL": "https://gitlab.com/g/p/-/jobs/9", "CI_PIPELINE_URL": "https://gitlab.com/g/p/-/pipelines/8"},
            "https://gitlab.com/g/p/-/jobs/9",
        ),
        ({"CI_PIPELINE_URL": "https://gitlab.com/g/p/-/pipelines/8"}, "https://gitlab.com/g/p/-/pipelines/8"),
        ({}, None),
    ],
    ids=["github", "azure", "gitlab job", "gitlab pipeline", "no CI"],
)
def test_the_run_link_comes_from_each_platforms_own_variables(env: dict[str, str], run: str | None) -> None:
    assert Links.from_environment(env).run == run


def test_the_report_link_is_an_http_url_made_safe_for_every_writer() -> None:
    assert Links.from_environment({REPORT_URL: "https://pages.example/a b)(<x>|y"}).report == (
        "https://pages.example/a%20b%29%28%3Cx%3E%7Cy"
    )
    for refused in ("javascript:alert(1)", "pages.example/index.html", "https://pages.example/a\nb", "https://[::1"):
        assert Links.from_environment({REPORT_URL: refused}).report is None


def test_every_writer_of_a_ci_run_links_to_it(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    root = drift_ready(tmp_path, emulator, tenant, monkeypatch)  # declares true
    with (root / "Pulumi.yaml").open("a") as project_file:  # and the baseline is false: the rule is broken
        project_file.write("config:\n  baseline:\n    type: boolean\n    default: false\n")
    for name, value in {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "5"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(REPORT_URL, "https://pages.example/r/")
    outputs = {kind: tmp_path / f"fleet.{kind}" for kind in ("json", "markdown", "junit")}
    argv = ["drift", "--project", str(root), "--notify", receiver.url, "--notify-format", "teams"]
    code = main([*argv, *(part for kind, path in outputs.items() for part in (f"--{kind}", str(path)))])
    run = "https://github.com/o/r/actions/runs/5"
    assert json.loads(outputs["json"].read_text())["run"] == run
    assert f"[the run]({run})" in outputs["markdown"].read_text()
    assert f"the run: {run}" in outputs["junit"].read_text()
    (post,) = receiver.posts
    assert post["attachments"][0]["content"]["actions"][0]["url"] == run
    assert code == 5


def test_the_terminal_table_says_a_stack_breaks_the_rule_where_its_action_was() -> None:
    console = Console(file=io.StringIO(), width=80)
    print_summary(console, "drift", [CONVERGED[0], BROKEN])
    output = console.file.getvalue()  # type: ignore[attr-defined]
    (row,) = [line for line in output.splitlines() if "fabrikam" in line and "│" in line]
    assert "breaks rule [1]" in row
    assert "2 stacks: 1 breaks the baseline rule, 1 converged" in output
    assert f"[1] fabrikam: {EXPIRED}" in output
