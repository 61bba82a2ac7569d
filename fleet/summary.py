"""`--markdown`: one Markdown summary of a fleet run, for a pull request's single comment and a CI run's summary.

Only what needs a look is listed (stacks that would change, changed or failed, with why and
the request-id); converged stacks are counted, so 200 tenants still make a short comment.
The first line is an HTML comment a pipeline searches for to edit its earlier comment in
place instead of adding one per push. Every value is escaped for Markdown (fleet/escape.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from .display import value_text
from .escape import for_markdown
from .outcome import FAILED, NONE, Outcome, totals
from .selection import Shard

__all__ = ["MARKER", "markdown_summary"]

MARKER = "<!-- bitlocker-policy fleet summary -->"
# Stacks listed at most: a GitHub comment holds 65,536 characters, and a row with an error can take 500.
LISTED = 100


def markdown_summary(command: str, code: int, outcomes: Sequence[Outcome], shard: Shard | None = None) -> str:
    """The summary of one run (one shard's, with `shard`), as Markdown."""
    part = f" (shard {shard[0]}/{shard[1]})" if shard else ""
    lines = [
        MARKER,
        f"### bitlocker-policy: fleet {for_markdown(command)}{part}",
        "",
        f"{totals(command, outcomes)} (exit code {code}).",
    ]
    notable = [outcome for outcome in outcomes if outcome.action != NONE]
    if notable:
        lines += ["", "| stack | tenant | declared | live | what happens | request-id |", "|---|---|---|---|---|---|"]
        lines += [_row(outcome) for outcome in notable[:LISTED]]
    errors = [outcome for outcome in notable[:LISTED] if outcome.action == FAILED and outcome.error]
    if errors:
        lines += ["", "<details><summary>Errors</summary>", ""]
        lines += [f"- **{for_markdown(outcome.stack)}**: {for_markdown(outcome.error or '')}" for outcome in errors]
        lines += ["", "</details>"]
    if len(notable) > LISTED:
        lines += ["", f"… and {len(notable) - LISTED} more: the run's JSON and JUnit files list every stack."]
    return "\n".join(lines) + "\n"


def _row(outcome: Outcome) -> str:
    happens = f"{outcome.action} ({outcome.reason})" if outcome.reason else outcome.action
    if outcome.action == FAILED:
        happens = "failed: see below"
    cells = (
        outcome.stack,
        outcome.tenant,
        value_text(outcome.declared) if outcome.declared is not None else "",
        value_text(outcome.live) if outcome.live_read else "",
        happens,
        outcome.request_id or "",
    )
    return "| " + " | ".join(for_markdown(cell) for cell in cells) + " |"
