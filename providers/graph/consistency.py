"""Graph's eventual consistency after the product's own write.

Directory writes are eventually consistent: "A successful write to Microsoft Entra does not
guarantee that an immediate read will reflect that change" (Microsoft Entra blog, "Designing
for Eventual Consistency for Microsoft Entra", devblogs.microsoft.com/identity, 2026-03-24).
Microsoft's advice is to trust the 204, not to poll. So the product polls
only when a read disagrees with what it wrote itself a short while ago, and for no longer
than that window: real drift is still reported within it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from providers.common.deadline import current_deadline

__all__ = ["SETTLE_WINDOW_SECONDS", "instant", "now_iso", "settled_value"]

SETTLE_WINDOW_SECONDS = 30.0
_FIRST_WAIT_SECONDS = 0.5
_READ_ROOM_SECONDS = 10.0


def now_iso() -> str:
    """The time of a write, as stored in state (`lastPatchAt`)."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def instant(text: str) -> datetime:
    """A time as now_iso writes it (or Graph's activityDateTime): ISO 8601, `Z` for UTC; ValueError otherwise."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def settled_value(
    seen: bool | None,
    written: bool | None,
    written_at: str | None,
    read: Callable[[], bool | None],
    *,
    window: float = SETTLE_WINDOW_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> bool | None:
    """The live value, re-read with backoff while a read disagrees with our own recent write.

    Returns `seen` at once when it agrees, or when the write is older than `window` (or
    unknown; a write time in the future counts as now); otherwise reads again, waiting
    0.5 s, 1 s, 2 s, … until the value agrees or the window since the write has passed, and
    never past the operation's deadline.
    """
    if written is None or written_at is None or seen == written:
        return seen
    try:
        written_time = instant(written_at).timestamp()
    except ValueError:
        return seen
    # A write stamped in the future (the runner that wrote it ran fast) happened no later than now.
    ends = min(written_time, clock()) + window
    deadline = current_deadline()
    if deadline is not None:  # leave the last read room to finish within the deadline
        ends = min(ends, clock() + deadline.left() - _READ_ROOM_SECONDS)
    wait = _FIRST_WAIT_SECONDS
    while seen != written and clock() < ends:
        sleep(min(wait, max(0.0, ends - clock())))
        seen = read()
        wait *= 2
    return seen
