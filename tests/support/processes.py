"""Processes as /proc shows them: whether one still runs, and which belong to a session."""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["alive", "session_members", "wait_until_gone"]


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def alive(pid: int) -> bool:
    """Whether `pid` still runs: a zombie (dead, not yet reaped by whoever adopted it) does not."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def session_members(session: int) -> dict[int, str]:
    """Every live process of a session (what a process started with start_new_session leaves behind), with its command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is None or fields[0] in ("Z", "X") or int(fields[3]) != session:
            continue
        try:
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
    return found


def wait_until_gone(pids: list[int], seconds: float) -> list[int]:
    """Poll until none of `pids` runs or `seconds` pass; the ones still running."""
    ends = time.monotonic() + seconds
    while True:
        running = [pid for pid in pids if alive(pid)]
        if not running or time.monotonic() > ends:
            return running
        time.sleep(0.1)
