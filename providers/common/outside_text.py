"""Text that comes from outside (Graph, Entra ID, `az`, a file name), made safe for a one-line message.

A message quotes what a service said so that the user sees the cause, but that text is not
ours: it may carry line breaks that split a CI log line, terminal escape sequences that
clear a screen or forge output, or bidirectional-override characters that reorder what a
reader sees. `one_line` turns all of them into plain spaces. It may also carry code points
no writer accepts: a lone surrogate (JSON's `"\\ud800"` decodes to one) cannot be encoded in
UTF-8, so printing or saving it raises; U+FFFE and U+FFFF are no characters of XML 1.0
(w3.org/TR/xml, production 2 "Char"), so a JUnit file holding one does not parse; they and the
other noncharacters (U+FDD0 to U+FDEF, every plane's last two) are reserved for a program's
internal use (The Unicode Standard, 23.7 "Noncharacters"). All become U+FFFD, the replacement
character.
"""

from __future__ import annotations

import unicodedata

__all__ = ["one_line"]

_REPLACEMENT = "\ufffd"
_LIMIT = 300
_READ = 4  # at most limit x this many characters are looked at: a huge text costs what a short one does


def one_line(text: str, limit: int = _LIMIT) -> str:
    """`text` on one line: control and format characters (Unicode Cc, Cf) as spaces, surrogates (Cs)
    and noncharacters as U+FFFD, runs of whitespace as one space, at most `limit` characters (an
    ellipsis marks a cut)."""
    head = text[: limit * _READ]
    flat = " ".join("".join(map(_safe, head)).split())
    return flat if len(flat) <= limit and len(head) == len(text) else flat[: limit - 1].rstrip() + "…"


def _safe(char: str) -> str:
    category = unicodedata.category(char)
    if category in ("Cc", "Cf"):
        return " "
    point = ord(char)
    if category == "Cs" or 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE:
        return _REPLACEMENT
    return char
