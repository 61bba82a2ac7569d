"""Re-reads after our own write: bounded by the window, and by the operation's deadline."""

from __future__ import annotations

from datetime import UTC, datetime

from providers.common.deadline import operation_deadline
from providers.graph.consistency import settled_value

WRITTEN_AT = datetime.fromtimestamp(1_000_000, UTC).isoformat().replace("+00:00", "Z")


class Clock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_read_that_agrees_needs_no_second_read() -> None:
    assert settled_value(False, False, WRITTEN_AT, lambda: True) is False


def test_a_stale_read_is_read_again_until_it_agrees() -> None:
    clock, reads = Clock(), iter([True, False])
    assert settled_value(True, False, WRITTEN_AT, lambda: next(reads), sleep=clock.sleep, clock=lambda: clock.now) is False
    assert clock.sleeps == [0.5, 1.0]


def test_real_drift_is_reported_when_the_window_ends() -> None:
    clock = Clock()
    assert settled_value(True, False, WRITTEN_AT, lambda: True, window=10, sleep=clock.sleep, clock=lambda: clock.now) is True
    assert sum(clock.sleeps) == 10


def test_the_window_never_outlasts_the_operations_deadline() -> None:
    clock = Clock()
    with operation_deadline(15, clock=lambda: clock.now):
        settled_value(True, False, WRITTEN_AT, lambda: True, window=300, sleep=clock.sleep, clock=lambda: clock.now)
    assert sum(clock.sleeps) == 5  # the deadline's 15 s, less 10 s kept for the reads still to come


def test_no_window_without_a_write_of_ours() -> None:
    assert settled_value(True, None, None, lambda: False) is True


def test_a_write_stamped_in_the_future_is_re_read_for_the_window_at_most() -> None:
    """The runner that wrote lastPatchAt had a clock an hour ahead: the window still starts no later than now."""
    clock = Clock()
    an_hour_ahead = datetime.fromtimestamp(clock.now + 3600, UTC).isoformat().replace("+00:00", "Z")
    assert settled_value(True, False, an_hour_ahead, lambda: True, window=10, sleep=clock.sleep, clock=lambda: clock.now)
    assert sum(clock.sleeps) == 10
