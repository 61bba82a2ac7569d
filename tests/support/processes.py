"""Processes as /proc shows them: whether one still runs, and which belong to a session."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = [
    "alive",
    "listening",
    "parent",
    "session_members",
    "stop",
    "wait_for_listener",
    "wait_for_member",
    "wait_until_gone",
    "wait_until_session_ends",
]

_LISTEN = "0A"  # a TCP socket's state in /proc/net/tcp (include/net/tcp_states.h: TCP_LISTEN = 10)


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


def parent(pid: int) -> int | None:
    """The parent of `pid`, or None when there is no such process."""
    fields = _stat(pid)
    return int(fields[1]) if fields is not None else None


def wait_for_member(session: int, marker: str, seconds: float) -> int | None:
    """Poll, often (a process may matter in its first instants), until a live process of the session has `marker`
    in its command line; its pid, or None after `seconds`."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        for pid, line in session_members(session).items():
            if marker in line:
                return pid
        time.sleep(0.01)
    return None


def listening(pid: int) -> bool:
    """Whether `pid` has a TCP socket in the LISTEN state (its fds matched against /proc/PID/net/tcp and tcp6)."""
    try:
        sockets = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        tables = [Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:] for name in ("tcp", "tcp6")]
    except OSError:
        return False
    return any(f[3] == _LISTEN and f"socket:[{f[9]}]" in sockets for table in tables for f in map(str.split, table))


def wait_for_listener(session: int, marker: str, seconds: float) -> int | None:
    """Poll, often, until a live process of the session with `marker` in its command line listens on a TCP port
    (a server that prints its port once listening is then about to print it); its pid, or None after `seconds`."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        for pid, line in session_members(session).items():
            if marker in line and listening(pid):
                return pid
        time.sleep(0.02)
    return None


def wait_until_session_ends(session: int, seconds: float) -> dict[int, str]:
    """Poll until no process of the session is alive or `seconds` pass; those still alive, with their command lines."""
    ends = time.monotonic() + seconds
    while True:
        members = session_members(session)
        if not members or time.monotonic() > ends:
            return members
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
