"""Text that comes from outside (Graph, Entra ID, `az`, a file name), made safe for a one-line message.

A message quotes what a service said so that the user sees the cause, but that text is not
ours: it may carry line breaks that split a CI log line, terminal escape sequences that
clear a screen or forge output, or bidirectional-override characters that reorder what a
reader sees. `one_line` turns all of them into plain spaces.
"""

from __future__ import annotations

import unicodedata

__all__ = ["one_line"]

_LIMIT = 300


def one_line(text: str, limit: int = _LIMIT) -> str:
    """`text` on one line: control and format characters (Unicode Cc, Cf) as spaces, runs of
    whitespace as one space, at most `limit` characters (an ellipsis marks a cut)."""
    cleaned = "".join(" " if unicodedata.category(char) in ("Cc", "Cf") else char for char in text)
    flat = " ".join(cleaned.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
