"""`--notify URL`: one message to a chat or an alerting endpoint when a run found drift or a failure.

Formats: `teams` (a Teams Workflows webhook, which takes an Adaptive Card), `slack` (an
incoming webhook), `json` (the `--json` document, for anything else). The URL is a secret
(anyone holding it can post): it is never printed, and errors name only its host. Delivery
uses the product's retry policy within a deadline of its own; a failed delivery is one
error line and never changes the run's exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from providers.deadline import operation_deadline
from providers.errors import BitlockerPolicyError
from providers.outside_text import one_line
from providers.retry import wire_problem
from providers.session import new_http_client

from .display import value_text
from .outcome import FAILED, NONE, UPDATE, Outcome, totals

__all__ = ["FORMATS", "needs_notice", "notify"]

DEADLINE_SECONDS = 60.0
_LISTED = 20  # stacks named in a message; the rest are counted
_FINDS_DIFFERENCES = ("drift", "preview", "report")


def needs_notice(command: str, outcomes: Sequence[Outcome]) -> bool:
    """Whether the run found something a person should look at: a failure, or a tenant that differs."""
    return any(o.action == FAILED or (o.action == UPDATE and command in _FINDS_DIFFERENCES) for o in outcomes)


def notify(
    url: str,
    fmt: str,
    command: str,
    document: dict[str, Any],
    outcomes: Sequence[Outcome],
    http_factory: Callable[[], httpx.Client] = new_http_client,
) -> str | None:
    """Post the run's message; None when delivered, else the one line that says why not (no URL in it)."""
    where = redacted(url)
    try:
        with http_factory() as http, operation_deadline(DEADLINE_SECONDS):
            response = http.post(url, json=FORMATS[fmt](command, document, outcomes))
    except httpx.HTTPError as error:
        return f"could not deliver the notification to {where} ({wire_problem(error)})"
    except BitlockerPolicyError as error:  # the deadline, or a URL httpx refuses
        return f"could not deliver the notification to {where}: {error}"
    if not response.is_success:
        said = one_line(response.text, 120) if response.text else "no message"
        return f"the notification endpoint {where} refused the message (HTTP {response.status_code}: {said})"
    return None


def redacted(url: str) -> str:
    """The URL with everything after its host hidden: the path and query of a webhook are its secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…" if parts.scheme and parts.hostname else "the --notify URL"


def _lines(outcomes: Sequence[Outcome]) -> list[str]:
    """One plain line per stack that needs a look, at most _LISTED."""
    notable = [o for o in outcomes if o.action != NONE]
    lines = [
        one_line(f"{o.stack} ({o.tenant}): " + (f"failed: {o.error}" if o.action == FAILED else _difference(o)), 300)
        for o in notable[:_LISTED]
    ]
    return lines + ([f"… and {len(notable) - _LISTED} more"] if len(notable) > _LISTED else [])


def _difference(outcome: Outcome) -> str:
    live = f", live {value_text(outcome.live)}" if outcome.live_read else ""
    return f"{outcome.reason or outcome.action} (declared {value_text(outcome.declared)}{live})"


def _json(_command: str, document: dict[str, Any], _outcomes: Sequence[Outcome]) -> dict[str, Any]:
    return document


def _slack(command: str, _document: dict[str, Any], outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """An incoming-webhook message: `text` (the notification's fallback) and a section block."""
    headline = f"bitlocker-policy fleet {command}: {totals(command, outcomes)}"
    body = "\n".join(f"• {_slack_text(line)}" for line in _lines(outcomes))
    return {
        "text": _slack_text(headline),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_slack_text(headline)}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body or "nothing to list"}},
        ],
    }


def _slack_text(text: str) -> str:
    """Slack reads &, < and > as control characters in message text: they are sent as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _teams(command: str, _document: dict[str, Any], outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """A Teams Workflows webhook message: one Adaptive Card attachment.

    The envelope is the trigger's documented request body (learn.microsoft.com/connectors/teams/
    #microsoft-teams-webhook, "When a Teams webhook request is received": `type` "message",
    `attachments` of `contentType` "application/vnd.microsoft.card.adaptive" with `contentUrl`
    null). Card version 1.2, as Microsoft's sample there; Teams renders up to 1.5
    (learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-reference).
    """
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.2",
        "body": [
            {
                "type": "TextBlock",
                "text": f"bitlocker-policy fleet {command}",
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            },
            {"type": "TextBlock", "text": totals(command, outcomes), "wrap": True},
            *({"type": "TextBlock", "text": line, "wrap": True, "spacing": "Small"} for line in _lines(outcomes)),
        ],
    }
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
    return {"type": "message", "attachments": [attachment]}


FORMATS: dict[str, Callable[[str, dict[str, Any], Sequence[Outcome]], dict[str, Any]]] = {
    "json": _json,
    "slack": _slack,
    "teams": _teams,
}
