"""Text from outside (a stack file's name, Graph's or Entra's words), escaped for where it lands.

Every value the fleet prints or writes goes through one of these, so that a stack file named
`Pulumi.<ESC>[2J.yaml` cannot clear a terminal, `[red]` cannot restyle a table, and
`<img onerror=…>` in a Graph error cannot run in a report that a browser or a PR renders.
"""

from __future__ import annotations

import html
import re

from rich.text import Text

from providers.common.outside_text import one_line

__all__ = ["for_html", "for_markdown", "for_terminal"]

# What Markdown (CommonMark, GitHub's tables) reads inside a line: emphasis, code, links and
# images, strikethrough, table pipes, and the backslash itself. HTML's own <, > and & become
# entities, so no tag or <autolink> survives.
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]|~])")
# What GitHub links in plain text besides: bare URLs and www. (GFM's autolink extension, which reads
# the source: an entity for the colon or dot breaks the match, and renders as the character), and
# @mentions and #references (found in the rendered text: a word joiner, U+2060, after @ or # keeps
# them from matching, and shows nothing) (github.github.com/gfm, "Autolinks (extension)";
# docs.github.com, "Autolinked references and URLs").
_AUTOLINKS = (
    (re.compile(r"((?<!\w)@|#)"), "\\1\N{WORD JOINER}"),  # first: the entities below hold a #; an address's @ stays
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*):(?=//)"), r"\1&#58;"),
    (re.compile(r"(?i)\b(www)\."), r"\1&#46;"),
)


def for_terminal(text: str) -> Text:
    """One plain line that rich prints as is: no control character, no markup read from it."""
    return Text(one_line(text, limit=10_000))


def for_markdown(text: str) -> str:
    """One line of Markdown that renders as the literal text."""
    escaped = _MARKDOWN_INLINE.sub(r"\\\1", html.escape(one_line(text, limit=10_000), quote=False))
    for pattern, replacement in _AUTOLINKS:
        escaped = pattern.sub(replacement, escaped)
    return escaped


def for_html(text: str) -> str:
    """Text for an HTML element or attribute."""
    return html.escape(one_line(text, limit=10_000))
