"""Every writer escapes every field for where it lands: the terminal table, the Markdown summary, JUnit
(parsed back), the HTML and Markdown pages; hostile text in every field of text, the stack's name included."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from rich.console import Console

from fleet.outcome import Outcome
from fleet.writers.display import print_summary
from fleet.writers.junit import junit_xml
from fleet.writers.report import write_pages
from fleet.writers.summary import markdown_summary

HOSTILE_FIELDS = {
    "U+FFFE and U+FFFF": "a\ufffeb\uffffc",
    "a lone surrogate": "a\udc80b",
    "escape sequences": "\x1b[2J\x1b]8;;https://evil.example\x07link\x1b]8;;\x07\x9b31m",
    "Markdown link syntax": "[re-consent here](https://evil.example)",
    "a table pipe": "a | b",
    "backticks": "`code` ```",
    "HTML": '<img src=x onerror="alert(1)">',
    "rich markup": "[red]x[/red]",
}
UNWANTED = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")  # what no writer may pass on


def _hostile_rows(text: str) -> list[Outcome]:
    """A failed row and a drifted one, `text` in every field of text (the stack's name included)."""
    fields: dict[str, Any] = {"customer": text, "request_id": text, "changed": text, "warning": text, "violation": text}
    return [
        Outcome(f"{text}-1", text, action="failed", error=text, **fields),
        Outcome(f"{text}-2", text, declared=False, live=True, live_read=True, action="update", reason=text, **fields),
    ]


def _terminal(text: str, _: Path) -> str:
    console = Console(file=io.StringIO(), width=200)
    print_summary(console, "drift", _hostile_rows(text))
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert text != "[red]x[/red]" or "[red]x[/red]" in output  # shown, not read as markup
    return str(output)


def _markdown(text: str, _: Path) -> str:
    output = markdown_summary("drift", 4, _hostile_rows(text))
    for line in output.splitlines():
        assert len(re.findall(r"(?<!\\)\|", line)) in (0, 7)  # a table row has its 6 cells, no more
    return output


def _junit(text: str, _: Path) -> str:
    document = junit_xml("drift", _hostile_rows(text))
    cases = ET.fromstring(document).findall("testsuite/testcase")  # parses
    assert len(cases) == 2
    return document.decode()


def _pages(page_format: str) -> Callable[[str, Path], str]:
    def written(text: str, directory: Path) -> str:
        pages = write_pages(directory, page_format, _hostile_rows(text), datetime(2026, 12, 1, tzinfo=UTC))
        return "".join(path.read_bytes().decode() for path in pages)  # UTF-8, strictly

    return written


WRITERS: dict[str, Callable[[str, Path], str]] = {
    "terminal": _terminal,
    "Markdown summary": _markdown,
    "JUnit": _junit,
    "HTML pages": _pages("html"),
    "Markdown pages": _pages("md"),
}


@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize("case", list(HOSTILE_FIELDS))
def test_every_writer_escapes_every_field(tmp_path: Path, case: str, writer: str) -> None:
    output = WRITERS[writer](HOSTILE_FIELDS[case], tmp_path)
    assert UNWANTED.findall(output) == []
    output.encode()  # no lone surrogate: a file or a terminal takes it
    if writer in ("Markdown summary", "HTML pages", "Markdown pages"):
        assert "<img" not in output
    if writer in ("Markdown summary", "Markdown pages"):
        assert re.findall(r"(?<!\\)`", output) == []
        assert all(target.endswith(".md") for target in re.findall(r"(?<!\\)\]\(([^)]*)\)", output))  # only our own links


@pytest.mark.parametrize(
    ("text", "linked"),
    [
        ("re-consent at https://evil.example/consent", "https://evil.example"),
        ("see www.evil.example now", "www.evil.example"),
        ("ping @contoso/admins", "@contoso"),
        ("fixes #123", "#123"),
    ],
    ids=["bare URL", "www.", "@mention", "#reference"],
)
def test_markdown_keeps_what_github_would_link_or_mention_inert(text: str, linked: str) -> None:
    """GitHub links bare URLs and www. (GFM's autolink extension) and @mentions and #references in a PR
    comment: outside text in the summary must do neither, and still read as written."""
    output = markdown_summary("drift", 4, _hostile_rows(text))
    assert linked not in output
    assert text in html.unescape(output.replace("\N{WORD JOINER}", ""))
    assert "admin@fabrikam.example" in markdown_summary("drift", 4, _hostile_rows("admin@fabrikam.example"))
