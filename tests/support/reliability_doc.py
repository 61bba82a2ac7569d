"""docs/reliability.md: tables whose cells the reliability tests record, checked at the end of the run.

Tests run in parallel processes (pytest-xdist), so a cell is not kept in memory: `record`
appends it to a file in a directory the whole run shares (its path is in the environment,
which xdist's workers inherit). At the end of the run (tests/conftest.py,
`pytest_sessionfinish`, in the controller), `finish` renders the page from every cell and
compares it with the committed one; a run that did not record every cell (`-k`, a failure)
leaves the page alone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CELLS", "Document", "Section", "end", "finish", "record", "start"]

CELLS = "BITLOCKER_POLICY_RELIABILITY_CELLS"  # the environment variable naming this run's directory of cells

Cells = dict[tuple[str, str, str], str]


@dataclass(frozen=True)
class Section:
    """One table: its title and introduction, its rows (cases) and columns, and an optional totals line."""

    title: str
    intro: str
    cases: tuple[str, ...]
    columns: tuple[str, ...]
    totals: Callable[[list[str]], str] | None = None  # from the table's cells, in order
    case_column: str = "case"  # the heading of the first column


@dataclass(frozen=True)
class Document:
    """The page: a heading, what every table shares, and the tables."""

    path: Path
    heading: str
    intro: str
    sections: dict[str, Section]

    def render(self, cells: Cells) -> str:
        """The page, from every cell."""
        lines = [f"# {self.heading}", "", self.intro, ""]
        for name, section in self.sections.items():
            lines += [f"## {section.title}", "", section.intro, ""] if section.title else []
            header = " | ".join((section.case_column, *section.columns))
            lines += [f"| {header} |", "|---|" + "---|" * len(section.columns)]
            rows = [[cells[(name, case, column)] for column in section.columns] for case in section.cases]
            lines += [f"| {case} | " + " | ".join(row) + " |" for case, row in zip(section.cases, rows, strict=True)]
            if section.totals:
                lines += ["", section.totals([cell for row in rows for cell in row])]
            lines.append("")
        return "\n".join(lines)

    def complete(self, cells: Cells) -> bool:
        """Whether the run recorded every cell of every table."""
        wanted = {(name, case, column) for name, s in self.sections.items() for case in s.cases for column in s.columns}
        return wanted <= set(cells)


def start() -> bool:
    """Give this run (and the workers it starts) a directory for its cells, unless it has one; True when made here."""
    if CELLS in os.environ:
        return False
    os.environ[CELLS] = tempfile.mkdtemp(prefix="bitlocker-policy-reliability-")
    return True


def end() -> None:
    """Remove the run's directory of cells (by the run that made it)."""
    shutil.rmtree(os.environ.pop(CELLS), ignore_errors=True)


def record(section: str, case: str, column: str, text: str) -> None:
    """Keep one cell for the page (one file per process: no two writers share a file)."""
    with (Path(os.environ[CELLS]) / f"{os.getpid()}.jsonl").open("a") as cells:
        cells.write(json.dumps([section, case, column, text]) + "\n")


def finish(document: Document) -> str | None:
    """Write the page when every cell was recorded; the line to show when it differs from the committed one."""
    directory = Path(os.environ[CELLS])
    cells: Cells = {}
    for path in directory.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            section, case, column, text = json.loads(line)
            cells[(section, case, column)] = text
    if not document.complete(cells):
        return None
    committed = document.path.read_text() if document.path.exists() else ""
    page = document.render(cells)
    document.path.write_text(page)
    if re.sub(r"\s+", " ", committed) != re.sub(r"\s+", " ", page):
        return f"{document.path.name} changed: review and commit it"
    return None
