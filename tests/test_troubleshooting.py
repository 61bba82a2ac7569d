"""Every error message the product can print has an entry in docs/troubleshooting.md (cause and fix).

The messages are found in the source, not listed by hand: every exception raised with a
message, every `fail(...)`/`parser.error(...)` of the fleet, every verdict, warning or "unknown"
line, every problem a `*_problem`/`*_failure` check returns. A message's signature is its
longest literal piece (placeholders cut out); the page must hold it, so an error added without
an entry fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support.paths import REPO

SOURCES = sorted(
    [*REPO.glob("providers/**/*.py"), *REPO.glob("fleet/**/*.py"), REPO / "program.py", REPO / "policy" / "__main__.py"]
)
PAGE = REPO / "docs" / "troubleshooting.md"
KEYWORDS = ("violation", "warning", "unknown")
SHORTEST = 12  # a shorter piece says too little to find its entry by


def _text(node: ast.expr) -> str | None:
    """A message's text, placeholders as `{}`; None when it is not written out here."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values)
    return None


def _messages(path: Path) -> list[tuple[int, str]]:
    found = []
    tree = ast.parse(path.read_text())
    for function in ast.walk(tree):  # a check that returns its problem for a caller to raise
        if isinstance(function, ast.FunctionDef) and function.name.endswith(("_problem", "_failure")):
            returned = [node.value for node in ast.walk(function) if isinstance(node, ast.Return) and node.value]
            found += [(function.lineno, text) for text in map(_text, returned) if text]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr if isinstance(node.func, ast.Attribute) else ""
        arguments: list[ast.expr] = []
        if (name.endswith("Error") and name[:1].isupper()) or name in ("fail", "error"):
            arguments = node.args[:1]
        elif name == "_error":
            arguments = node.args[2:3]
        arguments += [keyword.value for keyword in node.keywords if keyword.arg in KEYWORDS]
        found += [(node.lineno, text) for text in map(_text, arguments) if text]
    return found


def signature(message: str) -> str:
    """The message's longest literal piece, whitespace made single."""
    pieces = [" ".join(piece.split()) for piece in message.split("{}")]
    return max(pieces, key=len).strip(" ;:,.()")


MESSAGES = [
    (f"{path.relative_to(REPO)}:{line}", signature(text))
    for path in SOURCES
    for line, text in _messages(path)
    if len(signature(text)) >= SHORTEST
]


def test_the_source_holds_the_messages_this_test_looks_for() -> None:
    assert len(MESSAGES) > 80  # the finder finds them (it would pass vacuously if it found none)


@pytest.mark.parametrize(("where", "piece"), MESSAGES, ids=[where for where, _ in MESSAGES])
def test_every_error_message_has_a_troubleshooting_entry(where: str, piece: str) -> None:
    page = " ".join(PAGE.read_text().split())
    assert piece in page, f"{where}: add an entry for “{piece}” to docs/troubleshooting.md (its cause and its fix)"


def test_the_page_cites_no_message_the_source_no_longer_has() -> None:
    quoted = re.findall(r"^### (.+)$", PAGE.read_text(), re.MULTILINE)
    pieces = [piece for _, piece in MESSAGES]
    stale = [title for title in quoted if not any(piece in " ".join(title.split()) for piece in pieces)]
    assert stale == [], "entries whose message the product no longer prints"
