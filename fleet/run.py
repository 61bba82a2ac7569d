"""Run one piece of work per stack on bounded workers; one stack's failure never stops the others."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from fleet.outcome import FAILED, Outcome
from fleet.stacks import StackFile
from providers.common.errors import BitlockerPolicyError

__all__ = ["Observer", "Work", "run_all"]

Work = Callable[[StackFile, Outcome], Outcome]


class Observer(Protocol):
    """Told when each stack starts and ends (the live progress display)."""

    def started(self, outcome: Outcome) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...


def run_all(targets: Sequence[tuple[StackFile, str]], work: Work, workers: int, observer: Observer) -> list[Outcome]:
    """`work` for each (stack, tenant GUID), `workers` at a time; outcomes in the order of `targets`."""

    def one(target: tuple[StackFile, str]) -> Outcome:
        stack, tenant = target
        outcome = Outcome(stack.name, tenant, customer=stack.customer)
        observer.started(outcome)
        began = time.monotonic()
        try:
            work(stack, outcome)
        except BitlockerPolicyError as error:
            outcome.action, outcome.error = FAILED, str(error)
        except Exception as error:  # a bug, or a library's surprise: this stack fails, the others go on
            outcome.action, outcome.error = FAILED, f"unexpected {type(error).__name__}: {' '.join(str(error).split())}"
        outcome.seconds = time.monotonic() - began
        observer.finished(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fleet") as pool:
        return list(pool.map(one, targets))
