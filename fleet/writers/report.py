"""The fleet's results for people and pipelines: the `--json` document, and `report`'s pages.

`report --out DIR` writes a page per tenant, `DIR/STACK.html` (or `.md`, see `page_names`), for the customer:
in their words, not Pulumi's (no stack, drift, declaration, GUID or request-id), what the setting
means for them, what was agreed, what the tenant has now and what happens next, under the service
provider's name, contact and logo (`Provider`, Pulumi.yaml). `DIR/index.html` (or `index.md`) is the
service provider's: every tenant, problems first (`CATEGORIES`), counted at the top, with a filter
and search (a few lines of inline script; without scripts the page reads the same, minus the filter),
the stack, the tenant and the full cause of anything that failed.
Every value from outside (names, Graph's words) is escaped (fleet/writers/escape.py).

The pages never leave DIR: each is written to a new file in DIR and renamed over its page
(rename(2) replaces a symbolic link, never follows it), a page name is unique under case
folding (macOS and Windows fold case), and a file the report did not write (it has no
generator marker) is neither overwritten nor removed. Pages of stacks this run did not
select are removed, so that DIR holds this run's fleet only.
"""

from __future__ import annotations

import base64
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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fleet.outcome import FAILED, UPDATE, Outcome, totals
from fleet.outcome import status as row_status
from fleet.writers.display import note_text
from fleet.writers.escape import for_html, for_markdown
from fleet.writers.links import NO_LINKS, Links
from providers.common.version import version
from providers.config.baseline import expiry_text
from providers.config.stack_config import is_stack_name, project_values
from providers.graph.audit import KeyReads

__all__ = [
    "CATEGORIES",
    "Provider",
    "category",
    "json_document",
    "natural_key",
    "out_problem",
    "page_names",
    "remove_stale_pages",
    "write_pages",
]

TITLE = "BitLocker recovery keys"
_READERS_SHOWN = 5  # names on a customer page: the rest counted, so that it stays one A4 page
GENERATOR = "bitlocker-policy"  # the pages' marker: the report overwrites and removes only files that carry it
_MARKERS = {".html": f'<meta name="generator" content="{GENERATOR}">', ".md": f"<!-- generator: {GENERATOR} -->"}
_MARKER_WITHIN = 512  # bytes: where a page carries its marker
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_-]")  # what a page name made from a stack's name keeps
_OUR_APP = re.compile(r"this product's app \(.*\)(?= at )")  # providers/graph/audit.py's words for our own change
# A GUID in brackets after a name ("(app GUID)", a request-id): the index's and --json's, kept off customer pages.
_IDS = re.compile(r" \((?:app |reference |request-id )?[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\)")
# The index's order and colours: what to act on first. A stack the baseline rule refuses is "breaks an
# agreement" whatever else its row says; "exception expiring" is a converged stack with Outcome.warning.
CATEGORIES = {
    "failed": "failed",
    "violation": "breaks an agreement",
    "differs": "differs",
    "expiring": "exception expiring",
    "converged": "converged",
}
AUDIT_DAYS = (7, 30)  # what Entra's audit log keeps: without, with Entra ID P1/P2 (providers/graph/audit.py)
LOGO_LIMIT = 256 * 1024  # bytes: a logo is embedded in every page
_LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
_STYLE = """
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;line-height:1.45}
body{margin:0;padding:24px}main{max-width:760px;margin:0 auto;overflow-wrap:break-word}main.wide{max-width:1160px}
h1,td{overflow-wrap:anywhere}table.rows td{overflow-wrap:break-word}
h1{font-size:1.6rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.6rem 0 .4rem}
.lead{font-size:1.1rem}.muted{color:#5a5a5a;font-size:.9rem}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:6px 8px;text-align:left;
vertical-align:top}th{background:#f3f3f3}table.rows th{white-space:nowrap}
.ok{color:#116329}td.differs{color:#9a3412;font-weight:600}.unknown{color:#6b21a8}
header.provider{display:flex;gap:12px;align-items:center;margin-bottom:12px}header.provider img{max-height:48px;max-width:160px}
ul.counts{display:flex;flex-wrap:wrap;gap:8px;list-style:none;padding:0;margin:.6rem 0}
ul.counts li{padding:4px 10px;border-radius:4px;border-left:6px solid}ul.counts b{font-size:1.2rem}
tr.failed,li.failed{background:#fde8e8;border-color:#b91c1c}tr.violation,li.violation{background:#fde8f4;border-color:#9d174d}
tr.differs,li.differs{background:#fff1e0;border-color:#c2410c}tr.expiring,li.expiring{background:#fef9c3;border-color:#a16207}
li.converged{background:#e9f7ee;border-color:#116329}tr.failed td:first-child,tr.violation td:first-child,
tr.differs td:first-child,tr.expiring td:first-child{border-left:6px solid;border-left-color:inherit}
form.filter{display:flex;flex-wrap:wrap;gap:8px;margin:.4rem 0 .8rem}
form.filter input{flex:1 1 14rem;min-width:0;font:inherit;padding:4px}
form.filter select{font:inherit}[hidden]{display:none!important}
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

    def document(self, title: str, blocks: list[str], *, wide: bool = False, top: str = "", script: str = "") -> str:
        """The page: `top` (HTML, e.g. the provider's header) above the title, `script` (inline) at the end."""
        if self.suffix == ".md":
            return "\n\n".join([_MARKERS[".md"], *([top] if top else []), f"# {self.escape(title)}", *blocks]) + "\n"
        return (
            f'<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8">{_MARKERS[".html"]}'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{self.escape(title)}</title>\n<style>{_STYLE}</style></head>\n"
            f"<body><main{' class=wide' if wide else ''}>\n{top}<h1>{self.escape(title)}</h1>\n"
            + "\n".join(blocks)
            + f"\n</main>{f'<script>{script}</script>' if script else ''}</body>\n</html>\n"
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

    def table(
        self, headers: Sequence[str], rows: Sequence[Sequence[str]], links: Sequence[str | None] = (), classes: Sequence[str] = ()
    ) -> str:
        """A table; `links[i]` makes row i's first cell a link to that page, `classes[i]` styles row i (HTML)."""

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
            (f'<tr class="{classes[index]}">' if index < len(classes) else "<tr>")
            + "".join(f"<td{label}>{cell}</td>" for label, cell in zip(labels, row, strict=True))
            + "</tr>\n"
            for index, row in enumerate(cells)
        )
        return f'<table class="rows">\n<tr class="head">{head}</tr>\n{body}</table>'


@dataclass(frozen=True)
class Provider:
    """The service provider the customer pages speak for: Pulumi.yaml's `bitlocker-policy:providerName`,
    `providerContact` and `providerLogo`, set once for the fleet."""

    name: str = ""
    contact: str = ""
    logo: str = ""  # a data: URI, so that each page stands alone (a file, a mail attachment, a print)

    @property
    def who(self) -> str:
        return self.name or "your service provider"

    @classmethod
    def from_project(cls, project_dir: Path) -> Provider:
        """The project's provider; ValueError (one line, naming the fix) for a logo that cannot be embedded."""
        key = "bitlocker-policy:providerLogo"
        values = project_values(project_dir)
        name, contact, logo = (str(values.get(f"bitlocker-policy:provider{part}") or "") for part in ("Name", "Contact", "Logo"))
        if not logo:
            return cls(name, contact)
        path = project_dir / logo
        kind = _LOGO_TYPES.get(path.suffix.lower())
        if kind is None:
            raise ValueError(f"{key} {logo} is not a .png, .jpg or .svg file: name one in Pulumi.yaml")
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ValueError(f"{key} {logo} cannot be read ({error.strerror}): name a file under the project") from None
        if len(data) > LOGO_LIMIT:
            raise ValueError(f"{key} {logo} is over {LOGO_LIMIT // 1024} KiB: every page embeds it, use a smaller image")
        return cls(name, contact, f"data:{kind};base64,{base64.b64encode(data).decode()}")


def category(outcome: Outcome) -> str:
    """The row's key in CATEGORIES: what the service provider acts on first."""
    if outcome.violation:
        return "violation"
    if outcome.action == FAILED:
        return "failed"
    if outcome.action == UPDATE:
        return "differs"
    return "expiring" if outcome.warning else "converged"


def natural_key(text: str) -> list[Any]:
    """Sort key in which numbers count as numbers: "Customer 2" before "Customer 10"."""
    return [int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", text)]


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


def write_pages(
    directory: Path, page_format: str, outcomes: Sequence[Outcome], checked: datetime, provider: Provider | None = None
) -> list[Path]:
    """A page per tenant and the index, in `page_format` (html or md); the files written, the index last.

    Every page is checked before the first is written: an OSError names the page that cannot be.
    """
    page = _Page(f".{page_format}")
    provider = provider or Provider()
    names = page_names([outcome.stack for outcome in outcomes], page.suffix)
    pages = {names[outcome.stack]: _customer_page(page, outcome, checked, provider) for outcome in outcomes}
    pages[f"index{page.suffix}"] = _index(page, outcomes, names, checked.strftime("%Y-%m-%d %H:%M UTC"))
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


_MEANS = {
    False: (
        "Only IT administrators can read the recovery keys that unlock your devices' disks. When someone is "
        "locked out of a laptop, they ask {who} for the key; a person who takes over one of your users' "
        "accounts cannot use it to unlock that user's stolen laptop."
    ),
    True: (
        "Your users can read the recovery keys of their own devices themselves, without calling {who}. "
        "A person who takes over one of your users' accounts can read that user's key too, and so unlock "
        "the disk of a stolen laptop."
    ),
}


def _customer_page(page: _Page, outcome: Outcome, checked: datetime, provider: Provider) -> str:
    """One customer's page: what the setting means for them, what was agreed, what the tenant has, what
    happens next, in plain words and without identifiers (they are on the index and in --json)."""
    name = outcome.customer or outcome.tenant or outcome.stack
    when = checked.strftime("%Y-%m-%d %H:%M UTC")
    checked_ok = outcome.live_read and outcome.action != FAILED  # a failed row's live value may be half the story
    if not checked_ok:
        lead, status, css = f"The setting could not be checked on {when}.", "not checked", "unknown"
    else:
        can = "can" if outcome.live is not False else "cannot"
        lead = f"People in {name} {can} read the BitLocker recovery keys of the devices they own."
        status, css = ("differs from what was agreed", "differs") if outcome.action == UPDATE else ("as agreed", "ok")
        if outcome.exception and outcome.exception["daysLeft"] < 0:
            status, css = "the agreed exception has expired", "differs"
    shortest, longest = ((checked - timedelta(days=days)).strftime("%Y-%m-%d") for days in AUDIT_DAYS)
    rows = [
        ("Agreed", _allowed(outcome.declared) if outcome.declared is not None else "—"),
        ("In your tenant now", _allowed(outcome.live) if checked_ok else "not checked"),
        ("Status", status),
        *_last_change(outcome),
        *_exception(outcome),
        *_key_reads(outcome),
        ("Checked", when),
        ("Period", f"{shortest} to {checked:%Y-%m-%d} (from {longest} with Entra ID P1 or P2, whose audit log keeps 30 days)"),
    ]
    meaning = _MEANS[outcome.live is not False] if checked_ok else _MEANS[outcome.declared is not False]
    blocks = [
        page.paragraph(lead, "lead"),
        page.facts(rows, {"Status": css}),
        page.heading("What this means for you"),
        page.paragraph(meaning.format(who=provider.who)),
        page.heading("What happens next"),
        page.paragraph(_next(outcome, checked_ok, provider)),
        *_recent_changes(page, outcome),
        page.paragraph(f"Prepared by {provider.who} with bitlocker-policy {version()}", "muted"),
    ]
    return page.document(f"{name}: {TITLE}", blocks, top=_provider_header(page, provider))


def _key_reads(outcome: Outcome) -> list[tuple[str, str]]:
    """The customer's "Recovery keys read" row: what the audit log holds over the period, the most frequent
    readers named (at most _READERS_SHOWN); none when the log could not be read."""
    if not outcome.key_reads:
        return []
    found = KeyReads.from_json(outcome.key_reads)
    if not found.reads:
        return [("Recovery keys read", "none in the period" + ("" if found.complete else " read so far"))]
    least = "" if found.complete else "at least "
    named = [f"{by} ({count})" for by, count in found.readers[:_READERS_SHOWN]]
    more = len(found.readers) - _READERS_SHOWN
    readers = ", ".join(named) + (f" and {more} more" if more > 0 else "")
    reads = f"{least}{found.reads} time{'s' * (found.reads != 1)}, for {found.keys} device{'s' * (found.keys != 1)}"
    return [("Recovery keys read", f"{reads}, by {readers}")]


def _next(outcome: Outcome, checked_ok: bool, provider: Provider) -> str:
    """What the provider does about this tenant, and what the customer may do."""
    who, contact = provider.who, f" at {provider.contact}" if provider.contact else ""
    found = outcome.exception
    if found and found["daysLeft"] < 0:
        return (
            f"The agreed exception {expiry_text(found['daysLeft'])}. {_upper(who)} will ask you to renew it or "
            f"return to the usual setting; contact them{contact} to decide."
        )
    if not checked_ok:
        return f"{_upper(who)} is finding out why the check failed and will check again; nothing in your tenant was changed."
    if outcome.action == UPDATE:
        return (
            f"{_upper(who)} will set it back to what was agreed at the next change window. If the change "
            f"was intended, tell them{contact} before then, and the agreement can be changed instead."
        )
    if found:
        return (
            f"Nothing to do now. The agreed exception {expiry_text(found['daysLeft'])}; {who} will ask you "
            "before then whether to renew it."
        )
    return f"Nothing to do. {_upper(who)} checks the setting regularly and will tell you if it changes."


def _upper(text: str) -> str:
    """The text starting a sentence ("Your service provider"; a name as it is)."""
    return text[:1].upper() + text[1:]


def _provider_header(page: _Page, provider: Provider) -> str:
    """The provider's logo, name and contact above the title ("" when none is configured)."""
    if not (provider.name or provider.contact or provider.logo):
        return ""
    line = " · ".join(part for part in (provider.name, provider.contact) if part)
    if page.suffix == ".md":
        return f"**{page.escape(line)}**" if line else ""
    logo = f'<img src="{provider.logo}" alt="{for_html(provider.name)}">' if provider.logo else ""
    return f'<header class="provider">{logo}<strong>{page.escape(line)}</strong></header>\n'


def _recent_changes(page: _Page, outcome: Outcome) -> list[str]:
    """The customer's "Recent changes" (Entra's audit log keeps 7 days, 30 with P1/P2), newest first."""
    rows = []
    for row in outcome.history or []:
        if row["at"]:
            by = "your service provider" if row["ours"] else _IDS.sub("", str(row["by"]))
            rows.append((str(row["at"])[:16].replace("T", " ") + " UTC", _allowed(row["from"]), _allowed(row["to"]), by))
    return [page.heading("Recent changes"), page.table(("when", "from", "to", "by"), rows)] if rows else []


def _last_change(outcome: Outcome) -> list[tuple[str, str]]:
    """The customer's "Last changed" row: by whom the audit log says, else our last write; none when unknown."""
    if outcome.changed and outcome.changed.startswith("changed by "):
        by = _IDS.sub("", _OUR_APP.sub("your service provider", outcome.changed.removeprefix("changed ")))
        return [("Last changed", by)]
    if outcome.last_patch_at:
        return [("Last set", f"by your service provider at {outcome.last_patch_at[:16].replace('T', ' ')} UTC")]
    return []


def _exception(outcome: Outcome) -> list[tuple[str, str]]:
    """The customer's "Agreed exception" row: what was agreed instead of the baseline, by whom, whether it still holds."""
    found = outcome.exception
    if not found:
        return []
    state = f"{expiry_text(found['daysLeft'])} ({found['expires']})"
    heading = "Expired exception" if found["daysLeft"] < 0 else "Agreed exception"
    return [(heading, f"{found['reason']}; approved by {found['approvedBy']}; {state}")]


def _index(page: _Page, outcomes: Sequence[Outcome], names: dict[str, str], when: str) -> str:
    """The service provider's index: every tenant, problems first, its stack, status and the full cause of a failure."""
    order = list(CATEGORIES)
    ranked = sorted(outcomes, key=lambda o: (order.index(category(o)), natural_key(o.customer or o.tenant), natural_key(o.stack)))
    counts = Counter(category(outcome) for outcome in ranked)
    rows = []
    for outcome in ranked:
        note = note_text(outcome)
        status = CATEGORIES[category(outcome)]
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
    blocks = [page.paragraph(f"Checked {when}. {totals('report', outcomes)}.", "lead"), _counts(page, counts)]
    if page.suffix == ".html":
        blocks.append(_FILTER)
    headers = ("customer", "stack", "tenant", "agreed", "now", "status")
    blocks.append(page.table(headers, rows, [names[o.stack] for o in ranked], [category(o) for o in ranked]))
    excepted = [outcome for outcome in ranked if outcome.exception]
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
        headers = ("stack", "customer", "reason", "approved by", "expires", "when")
        blocks += [page.heading("Exceptions to the baseline"), page.table(headers, exceptions)]
    blocks.append(page.paragraph(f"bitlocker-policy {version()}", "muted"))
    script = _FILTER_SCRIPT if page.suffix == ".html" else ""
    return page.document(f"{TITLE}: every tenant", blocks, wide=True, script=script)


def _counts(page: _Page, counts: Counter[str]) -> str:
    """The count of every category, most urgent first (a list; coloured chips in HTML)."""
    if page.suffix == ".md":
        return " · ".join(f"**{counts[key]}** {page.escape(label)}" for key, label in CATEGORIES.items())
    items = "".join(f'<li class="{key}"><b>{counts[key]}</b> {label}</li>' for key, label in CATEGORIES.items())
    return f'<ul class="counts">{items}</ul>'


# The filter: hidden until the script shows it, so a page read without scripts shows no dead controls.
_FILTER = (
    '<form class="filter" hidden><input type="search" placeholder="Search customer, stack, tenant or status" '
    'aria-label="Search"><select aria-label="Status"><option value="">every status</option>'
    + "".join(f'<option value="{key}">{label}</option>' for key, label in CATEGORIES.items())
    + "</select><output></output></form>"
)
_FILTER_SCRIPT = """
const form = document.querySelector("form.filter"), [search, only, shown] = form.elements;
const rows = [...document.querySelectorAll("table.rows")[0].querySelectorAll("tr:not(.head)")];
function apply() {
  const words = search.value.trim().toLowerCase();
  let count = 0;
  for (const row of rows) {
    const keep = (!only.value || row.className === only.value) && (!words || row.textContent.toLowerCase().includes(words));
    row.hidden = !keep;
    count += keep;
  }
  shown.value = `${count} of ${rows.length} shown`;
}
search.addEventListener("input", apply);
only.addEventListener("change", apply);
form.addEventListener("submit", (event) => event.preventDefault());
form.hidden = false;
apply();
"""
