"""What a fleet run hands to pipelines and people: the Markdown summary, JUnit XML, and webhook notifications."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
import xmlschema

from fleet.__main__ import main
from fleet.junit import junit_xml
from fleet.notify import needs_notice, notify
from fleet.outcome import Outcome, totals
from fleet.report import json_document
from fleet.summary import MARKER, markdown_summary
from providers.retry import RetryPolicy
from providers.session import new_http_client
from tests.emulator import Emulator, Tenant
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
    assert "| bravo | t2 | false | true | update (drift: changed outside Pulumi) |  |" in text
    assert "| charlie | t3 | false |  | failed: see below |  |" in text
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
    from tests.test_fleet import drift_ready

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
@pytest.fixture(scope="module")
def schemas() -> Path:
    return ensure_tool("report-schemas")


@pytest.mark.tools
@pytest.mark.parametrize("command", ["drift", "preview", "up", "refresh"])
def test_junit_is_valid_against_the_published_junit_schema(schemas: Path, command: str) -> None:
    hostile = Outcome("<x>", "t", action="failed", error="<script>\x1b[2J & \x00 ]]>", request_id="r-1")
    document = junit_xml(command, [*OUTCOMES, hostile], started=datetime(2026, 11, 29, tzinfo=UTC))
    xmlschema.XMLSchema(schemas / "junit-10.xsd").validate(document.decode())


@pytest.mark.tools
def test_the_junit_schema_check_can_fail(schemas: Path) -> None:
    document = junit_xml("drift", OUTCOMES).decode().replace("<testsuites ", '<testsuites skipped="0" ', 1)
    with pytest.raises(xmlschema.XMLSchemaValidationError, match="'skipped' attribute not allowed"):
        xmlschema.XMLSchema(schemas / "junit-10.xsd").validate(document)


@pytest.mark.tools
def test_the_teams_card_is_valid_against_microsofts_adaptive_card_schema(schemas: Path, receiver: Receiver) -> None:
    assert deliver(receiver, "teams") is None
    card = receiver.posts[0]["attachments"][0]["content"]
    schema = json.loads((schemas / f"adaptive-card-{card['version']}.json").read_text())
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
