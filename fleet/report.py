"""The fleet's results for people and pipelines: the `--json` document, and `report`'s pages.

`report --out DIR` writes a page per tenant, `DIR/STACK.html` (or `.md`, see `page_names`), for the customer:
in their words, not Pulumi's (no stack, drift or declaration), what the setting means, what
was agreed and what the tenant has now. `DIR/index.html` (or `index.md`) is the service
provider's: every tenant, with the stack and the full cause of anything that failed.
Every value from outside (names, Graph's words) is escaped (fleet/escape.py).

The pages never leave DIR: each is written to a new file in DIR and renamed over its page
(rename(2) replaces a symbolic link, never follows it), a page name is unique under case
folding (macOS and Windows fold case), and a file the report did not write (it has no
generator marker) is neither overwritten nor removed. Pages of stacks this run did not
select are removed, so that DIR holds this run's fleet only.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import stat
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from providers.baseline import expiry_text
from providers.stack_config import is_stack_name
from providers.version import version

from .display import note_text
from .escape import for_html, for_markdown
from .links import NO_LINKS, Links
from .outcome import FAILED, UPDATE, Outcome, totals
from .outcome import status as row_status
from .summary import BROKEN

__all__ = ["json_document", "out_problem", "page_names", "remove_stale_pages", "write_pages"]

TITLE = "BitLocker recovery keys"
GENERATOR = "bitlocker-policy"  # the pages' marker: the report overwrites and removes only files that carry it
_MARKERS = {".html": f'<meta name="generator" content="{GENERATOR}">', ".md": f"<!-- generator: {GENERATOR} -->"}
_MARKER_WITHIN = 512  # bytes: where a page carries its marker
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_-]")  # what a page name made from a stack's name keeps
_OUR_APP = re.compile(r"this product's app \(.*\)(?= at )")  # providers/audit.py's words for our own change
_STYLE = """
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;line-height:1.45}
body{margin:0;padding:24px}main{max-width:760px;margin:0 auto;overflow-wrap:break-word}main.wide{max-width:1160px}
h1,td{overflow-wrap:anywhere}table.rows td{overflow-wrap:break-word}
h1{font-size:1.6rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.6rem 0 .4rem}
.lead{font-size:1.1rem}.muted{color:#5a5a5a;font-size:.9rem}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:6px 8px;text-align:left;
vertical-align:top}th{background:#f3f3f3}table.rows th{white-space:nowrap}
.ok{color:#116329}.differs{color:#9a3412;font-weight:600}.unknown{color:#6b21a8}
@media print{body{padding:0}@page{size:A4;margin:18mm}}
@media (max-width:900px){body{padding:16px}table.rows,table.rows tr,table.rows td{display:block}
table.rows tr.head{display:none}table.rows tr{border-bottom:1px solid #ddd;padding:6px 0}
table.rows td{border:0;padding:2px 0}table.rows td::before{content:attr(data-label) ": ";font-weight:600}}
"""


@dataclass(frozen=True)
class _Page:
    """A page in one format: its file suffix and how it renders a heading, a paragraph and a table."""

    suffix: str

    def escape(self, text: str) -> str:
        return for_html(text) if self.suffix == ".html" else for_markdown(text)

    def document(self, title: str, blocks: list[str], *, wide: bool = False) -> str:
        if self.suffix == ".md":
            return "\n\n".join([_MARKERS[".md"], f"# {self.escape(title)}", *blocks]) + "\n"
        return (
            f'<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8">{_MARKERS[".html"]}'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{self.escape(title)}</title>\n<style>{_STYLE}</style></head>\n"
            f"<body><main{' class=wide' if wide else ''}>\n<h1>{self.escape(title)}</h1>\n"
            + "\n".join(blocks)
            + "\n</main></body>\n</html>\n"
        )

    def heading(self, text: str) -> str:
        return f"## {self.escape(text)}" if self.suffix == ".md" else f"<h2>{self.escape(text)}</h2>"

    def paragraph(self, text: str, css: str = "") -> str:
        if self.suffix == ".md":
            return self.escape(text)
        return f'<p class="{css}">{self.escape(text)}</p>' if css else f"<p>{self.escape(text)}</p>"

    def facts(self, rows: Sequence[tuple[str, str]], css: dict[str, str]) -> str:
        """Name: value lines (a list in Markdown, a two-column table in HTML, `css[name]` styling a value)."""
        if self.suffix == ".md":
            return "\n".join(f"- **{self.escape(key)}**: {self.escape(value)}" for key, value in rows)
        body = "".join(
            f"<tr><th>{self.escape(key)}</th><td{f' class={css[key]}' if key in css else ''}>{self.escape(value)}</td></tr>\n"
            for key, value in rows
        )
        return f"<table>\n{body}</table>"

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]], links: Sequence[str | None] = ()) -> str:
        """A table; `links[i]` makes row i's first cell a link to that page."""

        def first(row: Sequence[str], index: int) -> str:
            link = links[index] if index < len(links) else None
            if not link:
                return self.escape(row[0])
            if self.suffix == ".md":
                return f"[{self.escape(row[0])}]({urllib.parse.quote(link)})"
            return f'<a href="{for_html(urllib.parse.quote(link))}">{self.escape(row[0])}</a>'

        cells = [[first(row, index), *(self.escape(cell) for cell in row[1:])] for index, row in enumerate(rows)]
        if self.suffix == ".md":
            lines = ["| " + " | ".join(self.escape(h) for h in headers) + " |", "|" + "---|" * len(headers)]
            return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
        head = "".join(f"<th>{self.escape(h)}</th>" for h in headers)
        labels = [f' data-label="{for_html(h)}"' for h in headers]
        body = "".join(
            "<tr>" + "".join(f"<td{label}>{cell}</td>" for label, cell in zip(labels, row, strict=True)) + "</tr>\n"
            for row in cells
        )
        return f'<table class="rows">\n<tr class="head">{head}</tr>\n{body}</table>'


def json_document(command: str, code: int, outcomes: Sequence[Outcome], links: Links = NO_LINKS) -> dict[str, Any]:
    """`--json`: the summary table, one object per stack with its status (fleet/outcome.py STATUSES), the
    exit code, and the links to the run and the published report when known (`run`, `report`)."""
    rows = [{**outcome.to_json(), "status": row_status(command, outcome)} for outcome in outcomes]
    return {"command": command, "exitCode": code, **{key: url for key, url in vars(links).items() if url}, "stacks": rows}


def out_problem(directory: Path) -> str | None:
    """Why `report --out` cannot hold the pages (a symbolic link, not a directory), or None."""
    try:
        found = directory.lstat()
    except FileNotFoundError:
        return None  # made when the pages are written
    except OSError as error:
        return f"report --out {directory} cannot be used: {error.strerror}"
    if stat.S_ISLNK(found.st_mode):
        link = "is a symbolic link: name the directory it points to (pages are never written through a link)"
        return f"report --out {directory} {link}"
    if not stat.S_ISDIR(found.st_mode):
        return f"report --out {directory} exists and is not a directory: name a directory"
    return None


def write_pages(directory: Path, page_format: str, outcomes: Sequence[Outcome], checked: datetime) -> list[Path]:
    """A page per tenant and the index, in `page_format` (html or md); the files written, the index last.

    Every page is checked before the first is written: an OSError names the page that cannot be.
    """
    page = _Page(f".{page_format}")
    names = page_names([outcome.stack for outcome in outcomes], page.suffix)
    when = checked.strftime("%Y-%m-%d %H:%M UTC")
    pages = {names[outcome.stack]: _customer_page(page, outcome, when) for outcome in outcomes}
    pages[f"index{page.suffix}"] = _index(page, outcomes, names, when)
    directory.mkdir(parents=True, exist_ok=True)
    with _opened(directory) as folder:
        for name in pages:
            _check_replaceable(folder, directory / name)
        for name, text in pages.items():
            _replace(folder, name, text.encode())
    return [directory / name for name in pages]


def remove_stale_pages(directory: Path, kept: Sequence[Path]) -> list[Path]:
    """Remove the pages in `directory` that the report wrote earlier but not now (stacks no longer
    selected, the other format); the files removed. A file without the marker is left alone."""
    removed = []
    with _opened(directory) as folder:
        for name in sorted(os.listdir(folder)):
            if name.endswith(tuple(_MARKERS)) and directory / name not in kept and _is_page(folder, name):
                os.unlink(name, dir_fd=folder)
                removed.append(directory / name)
    return removed


def page_names(stacks: Sequence[str], suffix: str) -> dict[str, str]:
    """Each stack's page: STACK.html; or STACK~HASH.html for a name that is `index` in any case, differs
    from another stack's only in case, or is no stack name Pulumi accepts (only its safe characters kept).
    No plain name holds `~`, so the two kinds never meet; OSError when two pages would still be one file."""
    folded = Counter(stack.casefold() for stack in set(stacks))
    names = {}
    for stack in stacks:
        plain = is_stack_name(stack) and folded[stack.casefold()] == 1 and stack.casefold() != "index"
        digest = hashlib.sha256(stack.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        names[stack] = f"{stack}{suffix}" if plain else f"{_UNSAFE_IN_NAME.sub('-', stack)[:60]}~{digest}{suffix}"
    taken = Counter(name.casefold() for name in [*names.values(), f"index{suffix}"])
    for stack, name in names.items():
        if taken[name.casefold()] > 1:
            raise FileExistsError(errno.EEXIST, f"two stacks' pages would be one file (one is {stack!r})", name)
    return names


@contextmanager
def _opened(directory: Path) -> Iterator[int]:
    """The directory, opened without following a symbolic link (its pages are then reached through it)."""
    try:
        folder = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as error:
        if error.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        raise NotADirectoryError(error.errno, "not a directory but a link or a file: name a directory", str(directory)) from None
    try:
        yield folder
    finally:
        os.close(folder)


def _check_replaceable(folder: int, path: Path) -> None:
    """OSError unless `path` is absent or a page the report wrote (never a link, a directory, someone's file)."""
    try:
        found = os.lstat(path.name, dir_fd=folder)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(found.st_mode):
        raise FileExistsError(
            errno.EEXIST, "a symbolic link is there: remove it (pages are never written through a link)", str(path)
        )
    if not stat.S_ISREG(found.st_mode) or not _is_page(folder, path.name):
        raise FileExistsError(
            errno.EEXIST, "a file the report did not write is there: move it away or choose another --out", str(path)
        )


def _is_page(folder: int, name: str) -> bool:
    """Whether `name` is a regular file that carries a page's marker near its start."""
    try:
        handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except OSError:
        return False  # a link (ELOOP), gone, unreadable
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            return False
        head = os.read(handle, _MARKER_WITHIN).decode("utf-8", "replace")
    finally:
        os.close(handle)
    return any(marker in head for marker in _MARKERS.values())


def _replace(folder: int, name: str, content: bytes) -> None:
    """Write a new file in the directory, then rename it over `name` (a reader sees the old page or the new)."""
    temporary = f".{name}.{secrets.token_hex(4)}.tmp"
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary, dir_fd=folder)
        raise


def _allowed(value: bool | None) -> str:
    return {True: "allowed", False: "blocked", None: "not set (Entra's default: allowed)"}[value]


def _customer_page(page: _Page, outcome: Outcome, when: str) -> str:
    """One customer's page: what the setting means, what was agreed, what the tenant has, in plain words."""
    name = outcome.customer or outcome.tenant or outcome.stack
    if not outcome.live_read or outcome.action == FAILED:  # a failed row's live value may be half the story
        lead, status, css = f"The setting could not be checked on {when}.", "not checked", "unknown"
    else:
        can = "can" if outcome.live is not False else "cannot"
        lead = (
            f"People in {name} {can} read the BitLocker recovery keys of the devices they own. "
            "IT administrators with a role that reads BitLocker keys can always read them."
        )
        status, css = ("differs from what was agreed", "differs") if outcome.action == UPDATE else ("as agreed", "ok")
    rows = [
        ("Agreed", _allowed(outcome.declared) if outcome.declared is not None else "—"),
        ("In your tenant now", _allowed(outcome.live) if css != "unknown" else "not checked"),
        ("Status", status),
        *_last_change(outcome),
        *_exception(outcome),
        ("Checked", when),
        ("Tenant", outcome.tenant),
    ]
    blocks = [
        page.paragraph(lead, "lead"),
        page.facts(rows, {"Status": css}),
        *_recent_changes(page, outcome),
        page.paragraph(f"bitlocker-policy {version()}", "muted"),
    ]
    return page.document(f"{name}: {TITLE}", blocks)


def _recent_changes(page: _Page, outcome: Outcome) -> list[str]:
    """The customer's "Recent changes" (Entra's audit log keeps 7 days, 30 with P1/P2), newest first."""
    rows = []
    for row in outcome.history or []:
        if row["at"]:
            reference = f" (reference {row['requestId']})" if row["requestId"] else ""
            by = f"your service provider{reference}" if row["ours"] else str(row["by"])
            rows.append((str(row["at"])[:16].replace("T", " ") + " UTC", _allowed(row["from"]), _allowed(row["to"]), by))
    return [page.heading("Recent changes"), page.table(("when", "from", "to", "by"), rows)] if rows else []


def _last_change(outcome: Outcome) -> list[tuple[str, str]]:
    """The customer's "Last changed" row: by whom the audit log says, else our last write; none when unknown."""
    if outcome.changed and outcome.changed.startswith("changed by "):
        return [("Last changed", _OUR_APP.sub("your service provider", outcome.changed.removeprefix("changed ")))]
    if outcome.last_patch_at:
        reference = f" (reference {outcome.last_patch_request_id})" if outcome.last_patch_request_id else ""
        return [("Last set", f"by your service provider at {outcome.last_patch_at[:16].replace('T', ' ')} UTC{reference}")]
    return []


def _exception(outcome: Outcome) -> list[tuple[str, str]]:
    """The customer's "Agreed exception" row: what was agreed instead of the baseline, by whom, until when."""
    found = outcome.exception
    if not found:
        return []
    until = f"until {found['expires']}, {expiry_text(found['daysLeft'])}"
    return [("Agreed exception", f"{found['reason']} (approved by {found['approvedBy']} {until})")]


def _index(page: _Page, outcomes: Sequence[Outcome], names: dict[str, str], when: str) -> str:
    """The service provider's index: every tenant, its stack, its status and the full cause of a failure."""
    rows = []
    for outcome in outcomes:
        status = "could not be checked" if outcome.action == FAILED else "differs" if outcome.action == UPDATE else "as agreed"
        status = BROKEN if outcome.violation else status  # listed first in the cell: what to act on
        note = note_text(outcome)
        rows.append(
            (
                outcome.customer or outcome.tenant,
                outcome.stack,
                outcome.tenant,
                _allowed(outcome.declared) if outcome.declared is not None else "",
                _allowed(outcome.live) if outcome.live_read else "not checked",
                f"{status}: {note}" if note else status,
            )
        )
    links = [names[outcome.stack] for outcome in outcomes]
    blocks = [
        page.paragraph(f"Checked {when}. {totals('report', outcomes)}.", "lead"),
        page.table(("customer", "stack", "tenant", "agreed", "now", "status"), rows, links),
    ]
    excepted = [outcome for outcome in outcomes if outcome.exception]
    if excepted:
        exceptions = [
            (
                o.stack,
                o.customer or o.tenant,
                *(str(o.exception[k]) for k in ("reason", "approvedBy", "expires")),
                expiry_text(o.exception["daysLeft"]),
            )
            for o in excepted
            if o.exception
        ]
        headers = ("stack", "customer", "reason", "approved by", "expires", "expiry")
        blocks += [page.heading("Exceptions to the baseline"), page.table(headers, exceptions)]
    blocks.append(page.paragraph(f"bitlocker-policy {version()}", "muted"))
    return page.document(f"{TITLE}: every tenant", blocks, wide=True)
