"""Processes as /proc shows them: whether one still runs, and which belong to a session."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["alive", "session_members", "stop", "wait_until_gone"]


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


def stop(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """End a helper process for sure: terminate, wait `grace` seconds, then kill and reap it.

    On a loaded machine a process may take longer than any fixed wait to exit; killing it
    then, and waiting for the kill, leaves no process and no unreaped Popen behind.
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()
