"""`--notify URL`: one message to a chat or an alerting endpoint when a run found drift or a failure.

Formats: `teams` (a Teams Workflows webhook, which takes an Adaptive Card), `slack` (an
incoming webhook), `json` (the `--json` document, for anything else). The URL is a secret
(anyone holding it can post): it is never printed, errors name only its host, a refusal's
answer is quoted with every part of its path and query cut out, and a redirect is not
followed. Delivery uses the product's retry policy within a deadline of its own; a failed
delivery, or a URL that cannot be posted to, is one error line and never changes the run's
exit code. What comes from outside (stack, customer, tenant, reason, Graph's error, who
changed it) reaches Teams and Slack as plain text, never as Markdown.

Each stack's line says which customer and tenant, what happened (a stack that breaks the
baseline rule first) and who changed the tenant's value when the audit log says; the message
links to the run and the published report (fleet/writers/links.py). At any fleet size a message stays
within what its service takes: the stacks that do not fit are counted ("… and N more"). The
rule's warnings (an exception that expires soon, one no longer needed) make one notice at the
end of every command's message but preview's: the scheduled drift run says it once a run, and a
pull request's run does not post it. Where the pipeline sets REMEDIATE_ON_SCHEDULE, `drift`'s
message ends by saying whether the scheduled run converges what it found (off by default).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote_plus

import httpx

from fleet.outcome import FAILED, NONE, UPDATE, Outcome, totals
from fleet.writers.display import value_text
from fleet.writers.links import NO_LINKS, Links
from providers.common.deadline import operation_deadline
from providers.common.errors import BitlockerPolicyError
from providers.common.outside_text import one_line
from providers.graph.retry import HOST_ONLY_EXTENSION, host_only, wire_problem
from providers.session import new_http_client

__all__ = [
    "FORMATS",
    "SLACK_BLOCKS",
    "SLACK_TEXT",
    "SLACK_TOTAL",
    "TEAMS_BYTES",
    "needs_notice",
    "notify",
    "sent_bytes",
    "url_problem",
]

DEADLINE_SECONDS = 60.0
_LISTED = 20  # stacks named in a message; the rest are counted
_FINDS_DIFFERENCES = ("drift", "preview", "report")
_NO_NOTICE = "preview"  # a pull request's run: the rule's warnings are the scheduled run's to post
_NOTICE_MOST = 600  # characters: a Slack section's text within SLACK_TEXT even if every one is sent as &amp;
REMEDIATION = "REMEDIATE_ON_SCHEDULE"  # the templates' opt-in to converge on the schedule
_PARTS = re.compile(r"[/?&=;]")  # what separates a URL's path segments and query names and values
_SHORTEST_PART = 4  # a shorter part of a URL hides no secret, and cutting it out would garble the answer
_SLACK_HEADER = 150  # characters a Slack header block holds
# Slack's Block Kit (api.slack.com/reference/block-kit/blocks): a message holds at most 50 blocks, a
# section's text at most 3,000 characters; above either, the webhook answers 400 and posts nothing.
SLACK_BLOCKS = 50
SLACK_TEXT = 3_000
# Slack also refuses blocks whose texts add up to about 13,200 characters (msg_blocks_too_long,
# slackapi/bolt-js#2509), a limit it does not document: the sections' texts are kept within 12,000.
SLACK_TOTAL = 12_000
# Teams: "The message size limit is 28 KB" (learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/
# how-to/add-incoming-webhook); posts were measured refused from about 21,000 characters (atc0005/
# go-teams-notify#59), so a card is kept within 20,000 bytes as sent (UTF-8 JSON, as httpx encodes it).
TEAMS_BYTES = 20_000


def needs_notice(command: str, outcomes: Sequence[Outcome]) -> bool:
    """Whether the run found something a person should look at: a stack that breaks the baseline rule,
    a failure, a tenant that differs, or (but in preview) a warning of the rule."""
    found = any(o.violation or o.action == FAILED or (o.action == UPDATE and command in _FINDS_DIFFERENCES) for o in outcomes)
    return found or bool(_notice(command, outcomes))


def notify(
    url: str,
    fmt: str,
    command: str,
    document: dict[str, Any],
    outcomes: Sequence[Outcome],
    http_factory: Callable[[], httpx.Client] = new_http_client,
    links: Links = NO_LINKS,
) -> str | None:
    """Post the run's message; None when delivered, else the one line that says why not (no URL in it)."""
    problem = url_problem(url)
    return problem or _delivery_problem(httpx.URL(url), FORMATS[fmt](command, document, outcomes, links), http_factory)


def _delivery_problem(target: httpx.URL, message: dict[str, Any], http_factory: Callable[[], httpx.Client]) -> str | None:
    """Post `message`; None when delivered, else why not, naming only the URL's host."""
    where = host_only(target)
    try:
        with http_factory() as http, operation_deadline(DEADLINE_SECONDS):
            response = http.post(target, json=message, extensions={HOST_ONLY_EXTENSION: True})
    except httpx.HTTPError as error:
        return f"could not deliver the notification to {where} ({wire_problem(error)})"
    except BitlockerPolicyError as error:  # the deadline: its message names the host only
        return f"could not deliver the notification to {where}: {error}"
    except (UnicodeError, ValueError):  # a host or URL the client cannot send to, past url_problem's checks
        return f"could not deliver the notification to {where} (the client cannot send to that URL; check its host)"
    if response.is_redirect:  # a webhook answers where it is; the message (a secret's use) is not sent on
        return (
            f"the notification endpoint {where} answered with a redirect (HTTP {response.status_code}), which is "
            "not followed: give --notify the webhook's own URL"
        )
    if not response.is_success:
        said = one_line(_without_url(one_line(response.text, 10_000), target), 120) or "no message"
        return f"the notification endpoint {where} refused the message (HTTP {response.status_code}: {said})"
    return None


def url_problem(url: str) -> str | None:
    """Why the --notify URL cannot be posted to, in words that quote no part of it; None when it can."""
    if not url.isprintable():
        return "the --notify URL holds a line break or another control character: nothing was sent; copy the webhook's URL again"
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL:
        return "the --notify URL cannot be parsed (check its host and port): nothing was sent; copy the webhook's URL again"
    if target.scheme not in ("https", "http") or not target.host or (target.scheme == "http" and not _loopback(target.host)):
        return "the --notify URL is not an https:// URL with a host: nothing was sent; copy the webhook's URL again"
    try:
        target.host.encode("idna")  # what the HTTP client does with it: an empty or over-long label is refused
    except UnicodeError:
        return "the --notify URL cannot be parsed (check its host and port): nothing was sent; copy the webhook's URL again"
    if target.port is not None and not 0 < target.port < 65536:
        return "the --notify URL's port is not a number from 1 to 65535: nothing was sent; copy the webhook's URL again"
    return None


def _loopback(host: str) -> bool:
    """Whether `host` is this machine, where plain http carries the URL nowhere (a local relay, a test)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _without_url(text: str, url: httpx.URL) -> str:
    """`text` with every part of the URL's path and query taken out, as sent and percent-decoded.

    A refusal's body says why (Slack answers `invalid_payload`, `no_service`; Power Automate a
    JSON error), so it is quoted, but an endpoint may echo the path or query, and for a webhook
    they are the secret. Parts shorter than _SHORTEST_PART hide nothing and stay.
    """
    sent = url.raw_path.decode("ascii")
    parts = {sent, *_PARTS.split(sent)}
    parts |= {unquote_plus(part) for part in parts}
    parts |= {piece for part in parts for piece in _PARTS.split(part)}  # a decoded value may hold / (sp=%2Ftriggers…)
    for part in sorted((part for part in parts if len(part) >= _SHORTEST_PART), key=len, reverse=True):
        text = re.sub(re.escape(part), "…", text, flags=re.IGNORECASE)
    return text


def _lines(outcomes: Sequence[Outcome]) -> list[str]:
    """One plain line per stack that needs a look, those that break the baseline rule first."""
    notable = sorted((o for o in outcomes if o.violation or o.action != NONE), key=lambda o: not o.violation)
    return [one_line(_line(o), 300) for o in notable]


def _notice(command: str, outcomes: Sequence[Outcome]) -> list[str]:
    """The rule's warnings as one line ("notice: 2 warnings of the baseline rule: …"), or none in preview."""
    warned = [o for o in outcomes if o.warning and not o.violation] if command != _NO_NOTICE else []
    if not warned:
        return []
    each = "; ".join(f"{o.warning} ({o.customer})" if o.customer else str(o.warning) for o in warned)
    plural = "s" if len(warned) > 1 else ""
    return [one_line(f"notice: {len(warned)} warning{plural} of the baseline rule: {each}", _NOTICE_MOST)]


def _remediation(command: str) -> list[str]:
    """Whether the scheduled run converges what drift found, as the pipeline says (REMEDIATION): one line
    for `drift`'s alert where the pipeline sets the variable, so that off by default is said where people look."""
    said = os.environ.get(REMEDIATION)
    if command != "drift" or said is None:
        return []
    if said.strip().lower() == "true":
        return [
            f"Remediation on schedule: on ({REMEDIATION}): the pipeline converges what differs once its write approval is given."
        ]
    return [f"Remediation on schedule: off (set the pipeline variable {REMEDIATION} to true, or run the pipeline's converge)."]


def _fitted(lines: list[str], fits: Callable[[list[str]], bool], last: list[str]) -> list[str]:
    """The first lines (at most _LISTED) for which `fits` holds, the rest counted in a line, then `last`."""
    for kept in range(min(len(lines), _LISTED), -1, -1):
        shown = lines[:kept] + ([f"… and {len(lines) - kept} more"] if kept < len(lines) else []) + last
        if fits(shown):
            return shown
    return [f"… and {len(lines)} more"] if lines else []


def _line(outcome: Outcome) -> str:
    """The stack, whose tenant it is, what happened, and who changed it when the audit log says."""
    whose = ", ".join(part for part in (outcome.customer, outcome.tenant) if part)
    what = f"failed: {outcome.error}" if outcome.action == FAILED else _difference(outcome)
    what = f"{outcome.violation}; {what}" if outcome.violation else what
    line = f"{outcome.stack} ({whose}): {what}" + (f"; {outcome.changed}" if outcome.changed else "")
    return f"breaks the baseline rule: {line}" if outcome.violation else line  # first: a long name cannot hide it


def _difference(outcome: Outcome) -> str:
    live = f", live {value_text(outcome.live)}" if outcome.live_read else ""
    return f"{outcome.reason or outcome.action} (declared {value_text(outcome.declared)}{live})"


def _json(_command: str, document: dict[str, Any], _outcomes: Sequence[Outcome], _links: Links) -> dict[str, Any]:
    return document


def _slack(command: str, _document: dict[str, Any], outcomes: Sequence[Outcome], links: Links) -> dict[str, Any]:
    """An incoming-webhook message: `text` (the notification's fallback), a header and a section per stack.

    What comes from outside (stack, customer, tenant, reason, Graph's error, who changed it) is
    sent as `plain_text`, which Slack shows unformatted: no *bold*, _italic_, ~strike~, `code`
    or links (api.slack.com/reference/surfaces/formatting, "Formatting text for app surfaces";
    Slack documents no escape for those characters in `mrkdwn`). &, < and > are control
    characters in every text object there, sent as entities. The fallback `text` is `mrkdwn`
    and holds no outside text but the command's name. A section per stack, at most 300 characters
    before escaping (1,500 after), and the notice, at most _NOTICE_MOST (3,000 after), keep each within
    SLACK_TEXT; the header, the stacks, the count of the rest, the notice and the links make at most
    24 blocks of SLACK_BLOCKS, their texts within SLACK_TOTAL
    (a header holds at most 150).
    The links are a context block's `mrkdwn` <URL|label>, the URL percent-encoded (fleet/writers/links.py)
    so that no | or > ends it, its & sent as an entity.
    """
    headline = one_line(f"bitlocker-policy fleet {command}: {totals(command, outcomes)}", _SLACK_HEADER)
    shown = _fitted(
        _lines(outcomes),
        lambda lines: len(lines) + 2 <= SLACK_BLOCKS and sum(len(_slack_text(line)) for line in lines) <= SLACK_TOTAL,
        _notice(command, outcomes) + _remediation(command),
    ) or ["nothing to list"]
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _slack_plain(headline)}]
    blocks += [{"type": "section", "text": _slack_plain(line)} for line in shown]
    if links.items():
        text = " · ".join(f"<{_slack_text(url)}|{label}>" for label, url in links.items())
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
    return {"text": _slack_text(headline), "blocks": blocks}


def _slack_plain(text: str) -> dict[str, Any]:
    """A Slack `plain_text` text object, emoji codes left as typed."""
    return {"type": "plain_text", "text": _slack_text(text), "emoji": False}


def _slack_text(text: str) -> str:
    """Slack reads &, < and > as control characters in message text: they are sent as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _teams(command: str, _document: dict[str, Any], outcomes: Sequence[Outcome], links: Links) -> dict[str, Any]:
    """A Teams Workflows webhook message: one Adaptive Card attachment.

    The envelope is the trigger's documented request body (learn.microsoft.com/connectors/teams/
    #microsoft-teams-webhook, "When a Teams webhook request is received": `type` "message",
    `attachments` of `contentType` "application/vnd.microsoft.card.adaptive" with `contentUrl`
    null). Card version 1.2, as Microsoft's sample there; Teams renders up to 1.5
    (learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-reference).
    Every text is a RichTextBlock's TextRun, which renders no Markdown (learn.microsoft.com/
    adaptive-cards/schema-explorer/text-run, version 1.2), so a Graph error holding
    `[re-consent](https://…)` or `**` shows as typed; a TextBlock renders bold, italic, lists and
    links (learn.microsoft.com/adaptive-cards/authoring-cards/text-features). The run and the
    report are Action.OpenUrl buttons (schema-explorer/action-openurl, version 1.0). The stacks that
    keep the message within TEAMS_BYTES are listed, the rest counted.
    """

    def message(lines: list[str]) -> dict[str, Any]:
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.2",
            "body": [
                _teams_text(f"bitlocker-policy fleet {command}", {"weight": "Bolder", "size": "Medium"}),
                _teams_text(totals(command, outcomes)),
                *(_teams_text(line, spacing="Small") for line in lines),
            ],
        }
        if links.items():
            card["actions"] = [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in links.items()]
        attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        return {"type": "message", "attachments": [attachment]}

    return message(
        _fitted(
            _lines(outcomes),
            lambda lines: sent_bytes(message(lines)) <= TEAMS_BYTES,
            _notice(command, outcomes) + _remediation(command),
        )
    )


def sent_bytes(payload: dict[str, Any]) -> int:
    """The payload's size on the wire, encoded as httpx's `json=` encodes it (httpx/_content.py encode_json)."""
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode())


def _teams_text(text: str, style: dict[str, str] | None = None, spacing: str = "Default") -> dict[str, Any]:
    """A RichTextBlock of one TextRun (in `style`'s weight and size): `text` shown as it is, no Markdown."""
    return {"type": "RichTextBlock", "spacing": spacing, "inlines": [{"type": "TextRun", "text": text, **(style or {})}]}


FORMATS: dict[str, Callable[[str, dict[str, Any], Sequence[Outcome], Links], dict[str, Any]]] = {
    "json": _json,
    "slack": _slack,
    "teams": _teams,
}
