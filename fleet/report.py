"""The fleet's results for people and pipelines: the `--json` document, a Markdown or HTML page for a customer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .display import value_text
from .escape import for_html, for_markdown
from .outcome import FAILED, UPDATE, Outcome

__all__ = ["json_document", "write_page"]


def json_document(command: str, code: int, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """`--json`: the summary table, one object per stack, and the exit code."""
    return {"command": command, "exitCode": code, "stacks": [outcome.to_json() for outcome in outcomes]}


def _status(outcome: Outcome) -> str:
    if outcome.action == FAILED:
        return f"could not be checked: {outcome.error}"
    if outcome.action == UPDATE:
        return f"differs from the declaration ({outcome.reason})"
    return "as declared"


def _rows(outcomes: Sequence[Outcome]) -> list[tuple[str, str, str, str, str]]:
    return [
        (
            outcome.stack,
            outcome.tenant,
            value_text(outcome.declared),
            value_text(outcome.live) if outcome.live_read else "not read",
            _status(outcome),
        )
        for outcome in outcomes
    ]


_HEADERS = ("stack", "tenant", "declared", "live", "status")
_TITLE = "BitLocker recovery keys: may device owners read their own?"


def write_page(path: Path, outcomes: Sequence[Outcome]) -> None:
    """A report page for a customer: Markdown, or HTML when `path` ends in .html."""
    checked = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    summary = (
        f"Checked {checked}: {len(outcomes)} tenant(s), "
        f"{sum(o.action == UPDATE for o in outcomes)} differing from the declaration, "
        f"{sum(o.action == FAILED for o in outcomes)} not checked. `true` lets device owners read their own "
        "BitLocker recovery keys; `false` blocks it (administrators can still read them)."
    )
    if path.suffix.lower() in (".html", ".htm"):
        cells = "".join("<tr>" + "".join(f"<td>{for_html(cell)}</td>" for cell in row) + "</tr>\n" for row in _rows(outcomes))
        head = "".join(f"<th>{name}</th>" for name in _HEADERS)
        path.write_text(
            f"<!doctype html>\n<html lang=en><meta charset=utf-8><title>{for_html(_TITLE)}</title>\n"
            "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;"
            "padding:4px 8px;text-align:left}</style>\n"
            f"<h1>{for_html(_TITLE)}</h1>\n<p>{for_html(summary)}</p>\n"
            f"<table>\n<tr>{head}</tr>\n{cells}</table>\n</html>\n"
        )
        return
    lines = [f"# {_TITLE}", "", summary, "", "| " + " | ".join(_HEADERS) + " |", "|" + "---|" * len(_HEADERS)]
    lines += ["| " + " | ".join(for_markdown(cell) for cell in row) + " |" for row in _rows(outcomes)]
    path.write_text("\n".join(lines) + "\n")
