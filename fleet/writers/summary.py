"""`--markdown`: one Markdown summary of a fleet run, for a pull request's single comment and a CI run's summary.

Only what needs a look is listed, stacks that break the baseline rule first, then those that
would change, changed or failed: the customer, why, who changed the tenant's value and when
(Entra's audit log) and the request-id; converged stacks are counted, so 200 tenants still
make a short comment. Links to the run and the published report close it (fleet/writers/links.py).
The first line is an HTML comment a pipeline searches for to edit its earlier comment in
place instead of adding one per push. Every value is escaped for Markdown (fleet/writers/escape.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from fleet.outcome import FAILED, NONE, Outcome, totals
from fleet.selection import Shard
from fleet.writers.display import action_text, value_text
from fleet.writers.escape import for_markdown
from fleet.writers.links import NO_LINKS, Links

__all__ = ["BROKEN", "MARKER", "markdown_summary"]

MARKER = "<!-- bitlocker-policy fleet summary -->"
BROKEN = "breaks the baseline rule"  # the status of a stack the rule refuses
# Stacks listed at most: a GitHub comment holds 65,536 characters, and a row with an error can take 500.
LISTED = 100


def markdown_summary(
    command: str, code: int, outcomes: Sequence[Outcome], shard: Shard | None = None, links: Links = NO_LINKS
) -> str:
    """The summary of one run (one shard's, with `shard`), as Markdown."""
    part = f" (shard {shard[0]}/{shard[1]})" if shard else ""
    lines = [
        MARKER,
        f"### bitlocker-policy: fleet {for_markdown(command)}{part}",
        "",
        f"{totals(command, outcomes)} (exit code {code}).",
    ]
    notable = sorted((o for o in outcomes if o.violation or o.action != NONE), key=lambda o: not o.violation)
    if notable:
        lines += ["", "| status | customer | stack | tenant | declared → live | details |", "|---|---|---|---|---|---|"]
        lines += [_row(command, outcome) for outcome in notable[:LISTED]]
    errors = [outcome for outcome in notable[:LISTED] if outcome.action == FAILED and outcome.error]
    if errors:
        lines += ["", "<details><summary>Errors</summary>", ""]
        lines += [f"- **{for_markdown(outcome.stack)}**: {for_markdown(outcome.error or '')}" for outcome in errors]
        lines += ["", "</details>"]
    if len(notable) > LISTED:
        lines += ["", f"… and {len(notable) - LISTED} more: the run's JSON and JUnit files list every stack."]
    if links.items():  # links.py percent-encodes a URL: no ( ) < > or space closes the destination
        lines += ["", " · ".join(f"[{label}]({url})" for label, url in links.items())]
    return "\n".join(lines) + "\n"


def _row(command: str, outcome: Outcome) -> str:
    status = BROKEN if outcome.violation else action_text(command, outcome)  # the word in full: a table has room
    live = value_text(outcome.live) if outcome.live_read else "?"
    declared = value_text(outcome.declared) if outcome.declared is not None else "?"
    details = [outcome.violation or "", "see Errors below" if outcome.action == FAILED else "", outcome.reason]
    details += [outcome.changed or "", f"PATCH request-id {outcome.request_id}" if outcome.request_id else ""]
    cells = (
        status,
        outcome.customer,
        outcome.stack,
        outcome.tenant,
        f"{declared} → {live}",
        "; ".join(dict.fromkeys(detail for detail in details if detail)),
    )
    return "| " + " | ".join(for_markdown(cell) for cell in cells) + " |"
