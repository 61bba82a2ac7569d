"""What a person watching a fleet run sees: live progress per tenant, then one summary table."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from providers.outside_text import one_line

from .escape import for_terminal
from .outcome import FAILED, UPDATE, Outcome

__all__ = ["LiveProgress", "summary_table", "value_text"]


def value_text(value: bool | None) -> str:
    """true / false / null, as the stack files and Graph spell them."""
    return "null" if value is None else str(value).lower()


class LiveProgress:
    """One bar for the fleet and a spinner per stack in flight, on stderr; a context manager."""

    def __init__(self, command: str, total: int, console: Console):
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
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
        """A stack ended: drop its spinner, advance the bar, count failures."""
        with self._lock:
            self._progress.remove_task(self._running.pop(outcome.stack))
            self._failed += outcome.action == FAILED
            failed = f", {self._failed} failed" if self._failed else ""
            self._progress.update(self._overall, advance=1, description=f"{self._title}{failed}")


def summary_table(command: str, outcomes: Sequence[Outcome]) -> Table:
    """Stack, tenant, declared, live, action, PATCH request-id, seconds, error: one row per stack."""
    table = Table(title=f"fleet {command}", title_justify="left")
    for column in ("stack", "tenant", "declared", "live", "action", "PATCH request-id", "seconds", "error"):
        table.add_column(column, overflow="fold", justify="right" if column == "seconds" else "left")
    style = {FAILED: "red", UPDATE: "yellow"}
    for outcome in outcomes:
        action = f"{outcome.action} ({outcome.reason})" if outcome.reason else outcome.action
        cells = (
            outcome.stack,
            outcome.tenant,
            "" if outcome.declared is None and outcome.action == FAILED else value_text(outcome.declared),
            value_text(outcome.live) if outcome.live_read else "",
            action,
            outcome.request_id or "",
            f"{outcome.seconds:.1f}",
            outcome.error or "",
        )
        table.add_row(*(for_terminal(cell) for cell in cells), style=style.get(outcome.action))
    return table
