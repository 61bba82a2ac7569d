"""`fleet report`'s files: a page per stack that no other stack's page can be, never written through a
link or over a file the report did not write, pages of stacks no longer selected removed, `--out` checked."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleet.__main__ import main, write_results
from fleet.outcome import Outcome
from fleet.writers.report import page_names, write_pages
from tests.support.reliability_doc import Section, declare, record

CHECKED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _rows(*stacks: str) -> list[Outcome]:
    """A row per stack, each with a tenant of its own, so that a page shows whose it is."""
    return [
        Outcome(stack, f"tenant-{i}-of-{len(stacks)}", declared=False, live=False, live_read=True)
        for i, stack in enumerate(stacks)
    ]


def _report(out: Path, outcomes: list[Outcome], page_format: str = "html") -> int:
    """write_results as `fleet report --out OUT` ends: the pages, stale pages removed, its exit code."""
    args = argparse.Namespace(command="report", out=out, format=page_format)
    return write_results(args, 0, outcomes, CHECKED)


# -- names: every stack its own page ------------------------------------------------------------------
NAMES = {
    "stacks `index`, `Index` and `stack-index`": ("index", "Index", "stack-index"),
    "stacks differing only in case (`Prod`, `prod`, `PROD`)": ("Prod", "prod", "PROD"),
    "a stack named `INDEX`": ("INDEX",),
    "a stack file whose name Pulumi refuses (`a b<ESC>[2J`)": ("a b\x1b[2J", "a-b--2J"),
}


@pytest.mark.parametrize("page_format", ["html", "md"])
@pytest.mark.parametrize("case", list(NAMES))
def test_every_stack_gets_a_page_of_its_own(tmp_path: Path, case: str, page_format: str) -> None:
    outcomes = _rows(*NAMES[case])
    written = write_pages(tmp_path, page_format, outcomes, CHECKED)
    pages, index = written[:-1], written[-1]
    assert index.name == f"index.{page_format}"
    folded = [path.name.casefold() for path in written]
    assert len(set(folded)) == len(written) == len(outcomes) + 1  # unique even where case is folded
    assert all(path.parent == tmp_path and path.name.isprintable() for path in written)
    for outcome, page in zip(outcomes, pages, strict=True):
        text = page.read_text()
        assert outcome.tenant in text
        assert not any(other.tenant in text for other in outcomes if other is not outcome)
        assert page.name in index.read_text()  # the index links the page
    assert page_names([o.stack for o in outcomes], f".{page_format}") == {
        o.stack: p.name for o, p in zip(outcomes, pages, strict=True)
    }  # the same names every run
    if page_format == "html":
        record("page names", case, "outcome", f"{len(pages)} pages: {', '.join(page.name for page in pages)}")


# -- the directory: no link followed, nobody's file overwritten, stale pages gone, --out checked -----------
@dataclass(frozen=True)
class Setup:
    """What is in the output directory before the report writes (the pages of a run of `prod` and `dev`)."""

    arrange: Callable[[Path, Path], object]  # (the output directory, a file outside it)
    code: int  # the exit code write_results returns
    says: str  # what its line on stderr holds ("" when it prints only the pages it wrote)
    cell: str


def _link_page_to_outside(out: Path, outside: Path) -> None:
    (out / "prod.html").unlink()
    (out / "prod.html").symlink_to(outside)


def _link_dangling(out: Path, outside: Path) -> None:
    (out / "prod.html").unlink()
    (out / "prod.html").symlink_to(outside.parent / "nowhere")


def _someones_file(out: Path, _outside: Path) -> None:
    (out / "prod.html").write_text("<h1>the team's own page</h1>\n")


def _link_out_to_outside(out: Path, outside: Path) -> None:
    real = outside.parent / "real"
    out.rename(real)
    out.symlink_to(real, target_is_directory=True)


DIRECTORY = {
    "a symbolic link to a file outside, where a page goes": Setup(
        _link_page_to_outside,
        4,
        "prod.html: a symbolic link is there: remove it",
        "refused before any page was written; the link's target untouched",
    ),
    "a dangling symbolic link where a page goes": Setup(
        _link_dangling, 4, "a symbolic link is there", "refused before any page was written; nothing created"
    ),
    "a file the report did not write, where a page goes": Setup(
        _someones_file,
        4,
        "a file the report did not write is there: move it away or choose another --out",
        "refused before any page was written; the file untouched",
    ),
    "`--out` a symbolic link to a directory": Setup(
        _link_out_to_outside, 4, "not a directory but a link or a file", "refused; nothing written through it"
    ),
    "pages of stacks no longer selected (`dev`), a page of the other format, a file of someone's": Setup(
        lambda out, _: ((out / "notes.html").write_text("mine"), write_pages(out, "md", _rows("old"), CHECKED)),
        0,
        "; removed earlier pages: dev.html, index.md, old.md",
        "removed and listed; someone's file kept",
    ),
}


@pytest.mark.parametrize("case", list(DIRECTORY))
def test_the_report_stays_in_its_directory(tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    setup = DIRECTORY[case]
    out, outside = tmp_path / "pages", tmp_path / "outside.html"
    outside.write_text("not yours")
    write_pages(out, "html", _rows("prod", "dev"), CHECKED)  # the last run's pages
    setup.arrange(out, outside)
    before = {path.name: (path.is_symlink(), path.read_bytes() if path.is_file() else b"") for path in tmp_path.rglob("*")}
    code = _report(out, [Outcome("prod", "t-new", declared=False, live=True, live_read=True, action="update")])
    err = capsys.readouterr().err
    assert (code, err.count("\n")) == (setup.code, 1)
    assert setup.says in err
    assert outside.read_text() == "not yours"
    assert not (tmp_path / "nowhere").exists()
    if code:  # refused: not one file changed
        after = {path.name: (path.is_symlink(), path.read_bytes() if path.is_file() else b"") for path in tmp_path.rglob("*")}
        assert after == before
    else:
        assert sorted(path.name for path in out.iterdir()) == ["index.html", "notes.html", "prod.html"]
        assert "t-new" in (out / "prod.html").read_text()
    record("page names", case, "outcome", setup.cell)


OUT = {
    '`--out ""` (would be the current directory)': ("", "argument --out: is empty: name a directory for the pages"),
    "`--out` holding an escape sequence": ("pages\x1b[2J", "argument --out: holds a control or format character"),
    "`--out` an existing file": ("Pulumi.yaml", "exists and is not a directory: name a directory"),
    "`--out` a symbolic link": ("linked", "is a symbolic link: name the directory it points to"),
}


@pytest.mark.parametrize("case", list(OUT))
def test_an_unsafe_out_is_refused_before_anything_runs(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pulumi.yaml").write_text("name: x\n")
    (tmp_path / "real").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "real", target_is_directory=True)
    given, says = OUT[case]
    with pytest.raises(SystemExit) as refused:
        main(["report", "--out", given])
    err = capsys.readouterr().err
    assert refused.value.code == 2
    assert says in err.splitlines()[-1]
    assert "\x1b" not in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["Pulumi.yaml", "linked", "real"]
    assert list((tmp_path / "real").iterdir()) == []
    record("page names", case, "outcome", f"exit 2 before anything runs: «{says}»")


PAGE_NAMES = declare(
    "page names",
    Section(
        "Report pages and their directory",
        "`fleet report`'s pages for hostile stack names and a hostile output directory. Each stack got a page of "
        "its own (unique where case is folded, never `index`), linked from the index and showing its own tenant "
        "only; no page was written through a link or over a file the report did not write (a refusal is one line, "
        "checked before the first page, exit 4); a page of a stack no longer selected was removed.",
        cases=(*NAMES, *DIRECTORY, *OUT),
        columns=("outcome",),
    ),
)
