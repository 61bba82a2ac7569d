"""--notify under faults and hostile text: one line naming the host, the run's exit code, nothing of the secret.

Each fault runs through `fleet drift` (a stack Graph refuses: exit 4) and `fleet summary` (a
shard that differs: exit 3) against a local endpoint whose path and query are a webhook's
secret; the leak scan then looks for any part of them in what the run printed and wrote.
The payload tests send every outside field of a row, hostile, to the Teams and Slack formats.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import fleet.__main__
import fleet.writers.notify
from emulator import Emulator
from fleet.__main__ import main
from fleet.outcome import EXIT_CHANGES, EXIT_FAILED, Outcome
from fleet.writers.links import NO_LINKS, Links
from fleet.writers.notify import FORMATS, SLACK_BLOCKS, SLACK_TEXT, SLACK_TOTAL, TEAMS_BYTES, sent_bytes
from fleet.writers.report import json_document
from providers.session import new_http_client
from tests.support.emulated import Sleeps
from tests.support.leaks import LeakCheck
from tests.support.projects import drift_ready
from tests.support.reliability_doc import Section, declare, record
from tests.support.webhook import PATH, Receiver, receiving

pytestmark = pytest.mark.usefixtures("trust_emulator")

DEADLINE = 1.0  # the delivery's own deadline here (60 s in use): a hang costs this much
WHERE = "http://127.0.0.1/…"


def _at(netloc: str) -> Callable[[str], str]:
    """The URL with its host and port replaced, path and query kept."""
    return lambda url: url.replace(url.split("/")[2], netloc, 1)


def _closed_port(url: str) -> str:
    """The URL on a port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return _at(f"127.0.0.1:{port}")(url)


@dataclass(frozen=True)
class Fault:
    """How the endpoint (or the URL) goes wrong, and what the one stderr line then says."""

    says: str
    answer: tuple[int, str, dict[str, str]] | None = None
    url: Callable[[str], str] = str
    hangs: bool = False


FAULTS = {
    "429, Retry-After 100 s (past the deadline)": Fault(
        f"could not deliver the notification to {WHERE}: Gave up on POST {WHERE} after 1 attempt(s) (last: HTTP 429)",
        answer=(429, "slow down: {path}", {"Retry-After": "100"}),
    ),
    "429, Retry-After 200 s (more than a retry waits)": Fault(
        f"the notification endpoint {WHERE} refused the message (HTTP 429: slow down: …)",
        answer=(429, "slow down: {path}", {"Retry-After": "200"}),
    ),
    "hangs past the deadline": Fault(
        f"could not deliver the notification to {WHERE}: Gave up on POST {WHERE} after 1 attempt(s) (last: ReadTimeout)",
        hangs=True,
    ),
    "refuses, echoing its path and query": Fault(
        f"the notification endpoint {WHERE} refused the message (HTTP 400: invalid_token … (…))",
        answer=(400, "invalid_token {path} ({path})", {}),
    ),
    "redirects to its own path elsewhere": Fault(
        f"the notification endpoint {WHERE} answered with a redirect (HTTP 307), which is not followed",
        answer=(307, "moved to https://elsewhere.example{path}", {"Location": "https://elsewhere.example{path}"}),
    ),
    "connection refused": Fault(f"could not deliver the notification to {WHERE}", url=_closed_port),
    "a port above 65535": Fault(
        "the --notify URL's port is not a number from 1 to 65535: nothing was sent",
        url=_at("127.0.0.1:99999"),
    ),
    "a port that is no number": Fault(
        "the --notify URL cannot be parsed (check its host and port): nothing was sent",
        url=_at("127.0.0.1:8o8o"),
    ),
    "a line break in the URL": Fault(
        "the --notify URL holds a line break or another control character: nothing was sent",
        url=lambda url: url.replace("/s3cret", "\n/s3cret"),
    ),
    "no http(s) scheme": Fault(
        "the --notify URL is not an https:// URL with a host: nothing was sent",
        url=lambda url: url.replace("http://", "ftp://"),
    ),
    "plain http to another machine": Fault(
        "the --notify URL is not an https:// URL with a host: nothing was sent",
        url=_at("hooks.example.com"),
    ),
    "an empty label in the host": Fault(
        "the --notify URL cannot be parsed (check its host and port): nothing was sent",
        url=lambda url: _at("a..b")(url).replace("http://", "https://"),
    ),
}

NOTIFY_FAULTS = declare(
    "notify faults",
    Section(
        "--notify faults",
        "A webhook whose path and query are its secret fails in each way, under `fleet drift` (a stack "
        "failed: exit 4) and `fleet summary` (a shard differs: exit 3); the leak scan searches what each "
        "run printed and wrote for every part of the path and query.",
        tuple(FAULTS),
        ("the one stderr line says", "exit code", "secret found"),
        case_column="the webhook",
    ),
)
"""Section key "notify faults" (tests/e2e/test_reliability.py DOCUMENT)."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as endpoint:
        yield endpoint


def _drift(tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], int]:
    """`fleet drift` of one stack that Graph refuses (exit 4), writing its --json."""
    root = drift_ready(tmp_path, emulator, emulator.add_tenant(bitlocker=False), monkeypatch)
    emulator.faults.answer("graph", 403, {"error": {"code": "Authorization_RequestDenied", "message": "denied"}})
    return ["drift", "--project", str(root), "--json", str(tmp_path / "drift.json")], EXIT_FAILED


def _summary(tmp_path: Path, _emulator: Emulator, _monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], int]:
    """`fleet summary` of one shard whose stack differs (exit 3), writing its --markdown."""
    shard = tmp_path / "shard.json"
    differs = Outcome("bravo", "t2", declared=False, live=True, action="update", reason="drift", live_read=True)
    shard.write_text(json.dumps(json_document("drift", EXIT_CHANGES, [differs])))
    return ["summary", str(shard), "--markdown", str(tmp_path / "summary.md")], EXIT_CHANGES


@pytest.mark.parametrize("command", [_drift, _summary], ids=["drift", "summary"])
@pytest.mark.parametrize("case", FAULTS)
def test_a_failed_notification_is_one_line_naming_the_host_and_the_exit_code_stands(
    tmp_path: Path,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    receiver: Receiver,
    sleeps: Sleeps,
    case: str,
    command: Callable[[Path, Emulator, pytest.MonkeyPatch], tuple[list[str], int]],
) -> None:
    fault = FAULTS[case]
    monkeypatch.setattr(fleet.writers.notify, "DEADLINE_SECONDS", DEADLINE)
    recording = partial(fleet.writers.notify.notify, http_factory=lambda: new_http_client(sleep=sleeps))
    monkeypatch.setattr(fleet.__main__, "notify", recording)  # retry waits (a refused connection's) recorded, not taken
    receiver.hanging = fault.hangs
    receiver.answers += [fault.answer] if fault.answer else []
    url = fault.url(receiver.url)
    argv, code = command(tmp_path, emulator, monkeypatch)

    assert main([*argv, "--notify", url]) == code
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if "notif" in line]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {fault.says}")
    assert "Traceback" not in err
    check = LeakCheck(roots=[tmp_path])
    check.add_webhook(receiver.url, "the webhook's path or query")
    check.printed(" ".join(argv[:1]), out + err)
    assert check.findings() == []

    record("notify faults", case, "the one stderr line says", f"«{fault.says}»")
    record("notify faults", case, "exit code", "as without --notify")
    record("notify faults", case, "secret found", "none")


def test_the_leak_scan_finds_any_part_of_a_webhooks_path_or_query(tmp_path: Path) -> None:
    token, signature = PATH.split("?")[0].rsplit("/", 1)[1], PATH.split("sig=")[1]
    for printed in (token, signature):
        check = LeakCheck(roots=[tmp_path])
        check.add_webhook(f"https://hooks.example{PATH}", "the webhook")
        check.printed("fleet drift", f"error: endpoint said {printed}")
        assert check.findings() == ["the webhook in the output of `fleet drift`"], printed


# -- what a chat shows: outside text carries no link, emphasis or mention -----------------------------
LINK = "[re-consent here](https://evil.example/consent)"
HOSTILE = f"{LINK} **now** *bold* _it_ ~gone~ `code` <https://evil.example|click> <!channel> &amp;"
FIELDS = {
    "stack": {"stack": HOSTILE},
    "customer": {"customer": HOSTILE},
    "tenant": {"tenant": HOSTILE},
    "reason": {"reason": HOSTILE, "action": "update"},
    "Graph's error": {"error": HOSTILE},
    "who changed it": {"changed": f"changed by {HOSTILE}", "action": "update"},
}


def _row(field: dict[str, Any]) -> Outcome:
    return Outcome(**{"stack": "s", "tenant": "t", "action": "failed", "error": "e", **field})


def _texts(payload: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """Every (object, text) pair in a payload, however deep."""
    if isinstance(payload, dict):
        if isinstance(payload.get("text"), str):
            yield payload, payload["text"]
        for value in payload.values():
            yield from _texts(value)
    elif isinstance(payload, list):
        for value in payload:
            yield from _texts(value)


@pytest.mark.parametrize("field", FIELDS)
def test_teams_shows_outside_text_as_typed(field: str) -> None:
    card = FORMATS["teams"]("drift", {}, [_row(FIELDS[field])], NO_LINKS)["attachments"][0]["content"]
    assert {block["type"] for block in card["body"]} == {"RichTextBlock"}  # a TextBlock would render Markdown
    runs = [(owner, text) for owner, text in _texts(card)]
    assert all(owner["type"] == "TextRun" for owner, _ in runs)
    assert any(LINK in text for _, text in runs)  # delivered as characters, not as a link


@pytest.mark.parametrize("field", FIELDS)
def test_slack_shows_outside_text_unformatted(field: str) -> None:
    message = FORMATS["slack"]("drift", {}, [_row(FIELDS[field])], NO_LINKS)
    blocks = [(owner, text) for owner, text in _texts(message["blocks"])]
    assert all(owner["type"] == "plain_text" for owner, _ in blocks)  # no *bold*, _italic_, ~strike~, `code`, links
    assert not any("<" in text or ">" in text for _, text in blocks)  # no <link|text>, no <!channel>
    assert any("&lt;!channel&gt;" in text and "&amp;amp;" in text for _, text in blocks)
    assert message["text"] == "bitlocker-policy fleet drift: 1 stack: 0 " + (
        "converged, 1 differ" if FIELDS[field].get("action") == "update" else "converged, 1 failed"
    )


# -- messages that arrive: within each service's limits at any fleet size ------------------------------
LINKS = Links(run="https://github.com/contoso/fleet/actions/runs/42", report="https://pages.example/fleet/index.html")


def _many_failing(count: int, text: str = "&<>\U0001f512" * 200) -> list[Outcome]:
    """`count` failed rows as long as a row gets: every text field full of characters that grow when escaped
    (& → &amp; for Slack) or when encoded (an astral character: 4 bytes of UTF-8)."""
    return [
        Outcome(
            f"s-{i}-{text}", text, customer=text, action="failed", error=text, changed=text, violation=text if i % 2 else None
        )
        for i in range(count)
    ]


def test_slack_at_200_failing_rows_is_within_block_kit_limits() -> None:
    """api.slack.com/reference/block-kit/blocks: at most 50 blocks, a section's text at most 3,000 characters."""
    message = FORMATS["slack"]("drift", {}, _many_failing(200), LINKS)
    blocks = message["blocks"]
    assert len(blocks) <= SLACK_BLOCKS
    sections = [block["text"]["text"] for block in blocks if block["type"] == "section"]
    assert max(len(text) for text in sections) <= SLACK_TEXT
    assert sum(map(len, sections)) <= SLACK_TOTAL  # what Slack refuses without documenting it (bolt-js#2509)
    assert len(blocks[0]["text"]["text"]) <= 150  # a header's limit
    assert sections[-1] == f"… and {200 - len(sections) + 1} more"  # the rest counted
    assert sections[0].startswith("breaks the baseline rule: s-1-")  # a stack that breaks the rule comes first
    (context,) = [block for block in blocks if block["type"] == "context"]
    assert context["elements"][0]["text"] == f"<{LINKS.run}|the run> · <{LINKS.report}|the report>"


def test_teams_at_200_failing_rows_is_within_the_documented_message_size() -> None:
    """learn.microsoft.com, "Create an Incoming Webhook": the message size limit is 28 KB (20,000 bytes kept)."""
    message = FORMATS["teams"]("drift", {}, _many_failing(200, "\U0001f512" * 400), LINKS)  # 1,200 bytes a line
    assert sent_bytes(message) <= TEAMS_BYTES < 28 * 1024
    card = message["attachments"][0]["content"]
    texts = [run["text"] for block in card["body"] for run in block["inlines"]]
    listed = len(texts) - 3  # title, totals, the count of the rest
    assert 10 <= listed < 20  # fewer than the 20 a message names, as many as fit
    assert texts[-1] == f"… and {200 - listed} more"
    assert {block["type"] for block in card["body"]} == {"RichTextBlock"}  # outside text stays TextRuns: no Markdown
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "the run", "url": LINKS.run},
        {"type": "Action.OpenUrl", "title": "the report", "url": LINKS.report},
    ]


@pytest.mark.parametrize("command", ["report", "refresh", "history", "doctor", "consent-urls", "matrix"])
@pytest.mark.parametrize("form", ["--notify {url}", "--notify={url}"])
def test_a_command_that_takes_no_notify_refuses_it_without_quoting_the_secret(
    command: str, form: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "https://hooks.slack.com/services/T0AAA/B0BBB/s3cretT0ken?code=k3y"
    with pytest.raises(SystemExit) as refused:
        main([command, *form.format(url=url).split(" ")])
    said = capsys.readouterr()
    assert refused.value.code == 2
    assert "hooks.slack.com/…" in said.err
    assert not any(secret in said.out + said.err for secret in ("T0AAA", "B0BBB", "s3cretT0ken", "k3y"))


@pytest.mark.parametrize(
    ("command", "value", "said"),
    [
        ("drift", None, None),  # a run outside the pipelines: nothing said
        ("drift", "", "Remediation on schedule: off"),  # the templates pass an unset variable as empty
        ("drift", "$(REMEDIATE_ON_SCHEDULE)", "Remediation on schedule: off"),  # Azure's macro, undefined
        ("drift", "true", "Remediation on schedule: on"),
        ("preview", "true", None),  # a pull request's run converges nothing on a schedule
    ],
)
@pytest.mark.parametrize("fmt", ["slack", "teams"])
def test_drift_alert_says_whether_the_schedule_remediates(
    monkeypatch: pytest.MonkeyPatch, command: str, value: str | None, said: str | None, fmt: str
) -> None:
    if value is None:
        monkeypatch.delenv("REMEDIATE_ON_SCHEDULE", raising=False)
    else:
        monkeypatch.setenv("REMEDIATE_ON_SCHEDULE", value)
    differs = Outcome("bravo", "t2", declared=False, live=True, action="update", reason="drift", live_read=True)
    payload = json.dumps(FORMATS[fmt](command, {}, [differs], NO_LINKS))
    found = [line for line in ("Remediation on schedule: off", "Remediation on schedule: on") if line in payload]
    assert found == ([said] if said else [])
