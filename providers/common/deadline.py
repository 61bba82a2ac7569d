"""One deadline per provider operation, shared by every request and retry wait inside it.

Kept apart from the HTTP code so that the program process, which only declares resources,
never imports httpx.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["OPERATION_DEADLINE_SECONDS", "Deadline", "current_deadline", "operation_deadline"]

OPERATION_DEADLINE_SECONDS = 300.0


@dataclass(frozen=True)
class Deadline:
    """When the operation running in this thread must end."""

    seconds: float
    clock: Callable[[], float]
    ends_at: float

    def left(self) -> float:
        """Seconds until the deadline (negative once it has passed)."""
        return self.ends_at - self.clock()


_deadline: ContextVar[Deadline | None] = ContextVar("bitlocker_policy_deadline", default=None)


@contextlib.contextmanager
def operation_deadline(
    seconds: float = OPERATION_DEADLINE_SECONDS, clock: Callable[[], float] = time.monotonic
) -> Iterator[None]:
    """Every request and retry wait inside this block shares one deadline of `seconds`."""
    token = _deadline.set(Deadline(seconds, clock, clock() + seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


def current_deadline() -> Deadline | None:
    """The deadline of the operation running in this thread, if any."""
    return _deadline.get()
