"""Reading a file a user named, without ever blocking on something that is not a file.

A path in config may name a FIFO (reading waits for a writer for ever), a character device
(/dev/zero never ends) or a directory. The file is opened without blocking and refused unless
it is a regular file, then read; the check is on the open descriptor, so nothing can swap the
file between the check and the read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["read_regular_file"]

NOT_A_FILE = "not a regular file (a FIFO, a device or a directory)"


def read_regular_file(path: str | Path, *, owned_privately: bool = False) -> bytes:
    """The bytes of the regular file at `path`; OSError (its `strerror` says why) otherwise.

    `owned_privately`: also refuse a file that another user owns or that others may write.
    """
    descriptor = os.open(path, os.O_RDONLY | _NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(descriptor, "rb") as file:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, NOT_A_FILE, str(path))
        if owned_privately and _shared(status):
            raise OSError(errno.EPERM, "owned by another user or writable by others", str(path))
        if _NONBLOCK:
            os.set_blocking(descriptor, True)
        return file.read()


_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # POSIX; Windows has no FIFOs to open by path


def _shared(status: os.stat_result) -> bool:
    """Whether another user owns the file or others may write it (POSIX ownership; Windows has none)."""
    getuid = getattr(os, "getuid", None)
    return getuid is not None and (status.st_uid != getuid() or bool(status.st_mode & 0o022))
