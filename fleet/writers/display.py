"""What a person watching a fleet run sees: progress per tenant, then a table that fits 80 columns.

The table holds what fits a narrow terminal (a tenant's first 8 characters, the action in a
word); what does not (an error, why a tenant differs, a PATCH's request-id) is a numbered note
below it, in full, on one line each, so a CI log can be grepped for it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from fleet.outcome import FAILED, RECORD, UPDATE, Outcome, totals
from fleet.writers.escape import for_terminal
from providers.common.outside_text import one_line
from providers.config.settings import value_text
from providers.graph.audit import KeyReads

__all__ = ["LiveProgress", "action_text", "note_text", "print_history", "print_summary", "value_text"]

_BREAKS_RULE = "breaks rule"  # a stack that breaks the baseline rule, in the table's few columns
TENANT_SHOWN = 8  # a GUID's first characters: enough to tell a fleet's tenants apart, and a table fits 80 columns

# What an `update` row means, per command: found by a read-only command, or done.
_UPDATE_WORD = {"drift": "differs", "report": "differs", "refresh": "differs", "preview": "will update", "up": "updated"}


def action_text(command: str, outcome: Outcome) -> str:
    """The action in a word or two: breaks rule (the baseline rule's, whatever else), converged, differs,
    will update, updated, record, failed."""
    if outcome.violation:
        return _BREAKS_RULE
    if outcome.action == UPDATE:
        return _UPDATE_WORD.get(command, "updated")
    return {FAILED: "failed", RECORD: "record"}.get(outcome.action, "converged")


def note_text(outcome: Outcome) -> str:
    """Everything about a row that the table has no room for, in one line ("" when nothing)."""
    parts = [outcome.error or "", outcome.violation or "", outcome.reason, outcome.changed or "", outcome.warning or ""]
    parts += [f"PATCH request-id {outcome.request_id}"] if outcome.request_id else []
    return "; ".join(dict.fromkeys(one_line(part, limit=10_000) for part in parts if part))  # each once


class LiveProgress:
    """Progress on stderr, a context manager: a bar and a spinner per stack on a terminal, else a line per stack."""

    def __init__(self, command: str, total: int, console: Console):
        self._console = console
        self._command = command
        self._total = total
        self._done = 0
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,  # a CI log gets plain lines instead (finished)
        )
        self._title = f"{command}: {total} stacks"
        self._overall = self._progress.add_task(self._title, total=total)
        self._running: dict[str, TaskID] = {}
        self._lock = threading.Lock()
        self._failed = 0

    def __enter__(self) -> LiveProgress:
        self._progress.start()
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._progress.stop()

    def started(self, outcome: Outcome) -> None:
        """A stack began."""
        with self._lock:
            self._running[outcome.stack] = self._progress.add_task(one_line(f"  {outcome.stack} ({outcome.tenant})"), total=None)

    def finished(self, outcome: Outcome) -> None:
        """A stack ended: drop its spinner and advance the bar, or print its line."""
        with self._lock:
            self._progress.remove_task(self._running.pop(outcome.stack))
            self._done += 1
            self._failed += outcome.action == FAILED
            failed = f", {self._failed} failed" if self._failed else ""
            self._progress.update(self._overall, advance=1, description=f"{self._title}{failed}")
            if not self._console.is_terminal:
                line = f"{self._command} {self._done}/{self._total}: {outcome.stack} {action_text(self._command, outcome)}"
                self._console.print(for_terminal(f"{line} ({outcome.seconds:.1f} s)"), highlight=False)


def print_summary(console: Console, command: str, outcomes: Sequence[Outcome]) -> None:
    """The table (one row per stack: stack, tenant, declared, live, action, seconds), the totals, then the notes.

    A note is one line however narrow the terminal (soft wrap), so that a log holds it whole.
    """
    table = Table(title=for_terminal(f"fleet {command}"), title_justify="left")
    for column in ("stack", "tenant", "declared", "live", "action", "s"):
        table.add_column(column, overflow="fold", justify="right" if column == "s" else "left")
    style = {FAILED: "red", UPDATE: "yellow"}
    notes: list[Text] = []
    for outcome in outcomes:
        action, note = action_text(command, outcome), note_text(outcome)
        if note:
            notes.append(for_terminal(f"[{len(notes) + 1}] {outcome.stack}: {note}"))
            action += f" [{len(notes)}]"
        tenant = outcome.tenant[:TENANT_SHOWN] + ("…" if len(outcome.tenant) > TENANT_SHOWN else "")
        cells = (
            outcome.stack,
            tenant,
            "" if outcome.declared is None and outcome.action == FAILED else value_text(outcome.declared),
            value_text(outcome.live) if outcome.live_read else "?",  # not read (a failure, a stack not deployed): unknown
            action,
            f"{outcome.seconds:.1f}",
        )
        table.add_row(*(for_terminal(cell) for cell in cells), style="red" if outcome.violation else style.get(outcome.action))
    console.print(table)
    console.print(Text(totals(command, outcomes)))
    for line in notes:
        console.print(line, soft_wrap=True)


def print_history(console: Console, command: str, outcomes: Sequence[Outcome]) -> None:
    """`fleet history`: a row per change (stack, when, from, to, by), then the notes (failures, why unknown)."""
    table = Table(title=for_terminal(f"fleet {command}"), title_justify="left")
    for column in ("stack", "when (UTC)", "from", "to", "by"):
        table.add_column(column, overflow="fold")
    notes = [for_terminal(f"{outcome.stack}: {note_text(outcome)}") for outcome in outcomes if outcome.error]
    for outcome in outcomes:
        for row in outcome.history or []:
            if row["at"] is None:
                notes.append(for_terminal(f"{outcome.stack}: {row['by']}"))
                continue
            by = f"{row['by']} (request-id {row['requestId']})" if row["requestId"] else str(row["by"])
            cells = (outcome.stack, str(row["at"])[:16].replace("T", " "), value_text(row["from"]), value_text(row["to"]), by)
            table.add_row(*(for_terminal(cell) for cell in cells))
    notes += [for_terminal(f"{o.stack}: {KeyReads.from_json(o.key_reads).describe()}") for o in outcomes if o.key_reads]
    console.print(table)
    console.print(Text(f"{len(outcomes)} stack{'s' if len(outcomes) != 1 else ''}, {table.row_count} changes"))
    for line in notes:
        console.print(line, soft_wrap=True)
