"""The customer pages as a person sees them: Debian's Chromium, headless, on files this test wrote.

    python -m tests.support.browser docs/    # docs/report-*.png from FLEET, for the README

Chromium runs with a fresh profile and without its background traffic (this machine's network
is closed: /work/.library/env notes its refused connections otherwise). A page is measured from a
wrapper page that frames it at the given size (file:// frames are readable with
--allow-file-access-from-files) and runs an expression over the framed document (`measure`).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from fleet.outcome import FAILED, UPDATE, Outcome
from fleet.writers.report import Provider, write_pages
from tests.support.tools import ensure_tool

__all__ = [
    "FLEET",
    "PROVIDER",
    "SAMPLE",
    "SAMPLE_CHECKED",
    "chromium_dom",
    "fleet_of",
    "measure",
    "overflow",
    "pdf_pages",
    "screenshot",
]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
)

SAMPLE_CHECKED = datetime(2026, 11, 29, 7, 30, tzinfo=UTC)
SAMPLE = [
    Outcome(
        "contoso-prod",
        "0b2f6c1e-7d4a-4e3b-9a51-3c8e2d7f6a10",
        customer="Contoso Pharmaceuticals Ltd",
        declared=False,
        live=False,
        live_read=True,
    ),
    Outcome(
        "fabrikam-prod",
        "5e9d0a7c-2b18-4f6e-8c3d-91a4b7e2c5f8",
        customer="Fabrikam, Inc.",
        declared=False,
        live=True,
        live_read=True,
        action=UPDATE,
        reason="drift: changed outside Pulumi (the stack's last up left it false)",
        changed="changed by megan.bowen@fabrikam.com at 2026-11-28 16:42 UTC",
    ),
    Outcome(
        "northwind-dev",
        "c7a1e3f9-6d2b-4a8e-b5c0-2f9d8e1a7b34",
        customer="Northwind Traders",
        action=FAILED,
        error=(
            "Graph denied GET /v1.0/policies/authorizationPolicy: grant the app the Microsoft Graph application permission "
            "Policy.Read.All (or Policy.ReadWrite.Authorization) with admin consent [HTTP 403 Authorization_RequestDenied: "
            "Insufficient privileges to complete the operation.] (request-id 4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f)"
        ),
    ),
]


PROVIDER = Provider(
    "Adatum Managed IT",
    "help@adatum.example · +44 20 7946 0000",
    "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHdpZHRoPSI0OCIgaGVpZ2h0PSI0OCI+"
    "PHJlY3Qgd2lkdGg9IjQ4IiBoZWlnaHQ9IjQ4IiByeD0iOCIgZmlsbD0iIzFkNGVkOCIvPjx0ZXh0IHg9IjI0IiB5PSIzMiIgZm9udC1zaXplPSIy"
    "MCIgdGV4dC1hbmNob3I9Im1pZGRsZSIgZmlsbD0id2hpdGUiPkFNPC90ZXh0Pjwvc3ZnPg==",
)
_EXPIRED = {
    "reason": "a pilot of self-service recovery",
    "approvedBy": "cio@tailspin.example",
    "expires": "2026-11-22",
    "daysLeft": -7,
}
_EXPIRING = {
    "reason": "developers recover their test devices",
    "approvedBy": "cto@wingtip.example",
    "expires": "2026-12-11",
    "daysLeft": 12,
}
# The problems beside SAMPLE's: an expired exception (it breaks the agreement) and one expiring within 30 days.
PROBLEMS = [
    Outcome(
        "tailspin-prod",
        "8a3c5e7f-1b2d-4c6e-9f0a-b1c2d3e4f5a6",
        customer="Tailspin Toys",
        declared=True,
        live=True,
        live_read=True,
        violation=(
            "stack tailspin-prod declares true, not the baseline false, and its exception (approved by "
            "jane@provider.com) expired 7 days ago, on 2026-11-22: renew expires with a new approval, or declare the baseline"
        ),
        exception=_EXPIRED,
    ),
    Outcome(
        "wingtip-dev",
        "2f4e6a8c-0d1b-4e3f-8a5c-7b9d1e3f5a7c",
        customer="Wingtip Toys",
        declared=True,
        live=True,
        live_read=True,
        warning="stack wingtip-dev's exception expires in 12 days, on 2026-12-11: renew it before then, or declare the baseline",
        exception=_EXPIRING,
    ),
]


def fleet_of(count: int) -> list[Outcome]:
    """SAMPLE and PROBLEMS among converged customers "Customer 1" … to make `count` rows, the problems spread
    through the list as string order would leave them."""
    converged = [
        Outcome(
            f"customer-{n}",
            f"00000000-0000-4000-8000-{n:012d}",
            customer=f"Customer {n}",
            declared=False,
            live=False,
            live_read=True,
        )
        for n in range(1, count - len(SAMPLE) - len(PROBLEMS) + 1)
    ]
    problems = [*SAMPLE[1:], *PROBLEMS]
    step = len(converged) // len(problems)
    for index, outcome in enumerate(problems):
        converged.insert(index * (step + 1) + step, outcome)
    return [SAMPLE[0], *converged]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [str(ensure_tool("chromium") / "chromium"), *FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)


def chromium_dom(page: Path, width: int = 1280, height: int = 900) -> str:
    """The page's DOM after Chromium parsed it (what a browser made of the file)."""
    return _run(f"--window-size={width},{height}", "--virtual-time-budget=3000", "--dump-dom", page.as_uri()).stdout


def measure(page: Path, width: int, height: int, expression: str, *, scripts: bool = True) -> str:
    """`expression` (JavaScript, `d` the page's document, after its own scripts ran, or with its scripts
    off: a sandboxed frame) as text, over the page framed at `width` by `height`."""
    frame = page.with_name(f".frame-{page.stem}-{width}.html")
    sandbox = "" if scripts else ' sandbox="allow-same-origin"'
    frame.write_text(
        f'<!doctype html><html><body style="margin:0"><iframe id=f{sandbox} src="{page.name}" '
        f'style="border:0;width:{width}px;height:{height}px"></iframe><script>'
        "document.getElementById('f').onload = () => { const d = document.getElementById('f').contentDocument; "
        f"document.title = 'measured ' + ({expression}); }};</script></body></html>"
    )
    try:
        measured = re.search(r"<title>measured (.*)</title>", chromium_dom(frame, max(width, 1280), height))
    finally:
        frame.unlink()
    assert measured, f"Chromium did not measure {page}"
    return measured[1]


def overflow(page: Path, width: int, height: int) -> int:
    """How many CSS pixels the page is wider than a `width` by `height` viewport (0: no horizontal scroll)."""
    scroll, client = measure(page, width, height, "d.documentElement.scrollWidth + ' ' + d.documentElement.clientWidth").split()
    return max(0, int(scroll) - int(client))


def screenshot(page: Path, out: Path, width: int, height: int) -> Path:
    """A PNG of the page at `width` by `height`."""
    _run(
        f"--window-size={width},{height}", "--hide-scrollbars", "--virtual-time-budget=3000", f"--screenshot={out}", page.as_uri()
    )
    return out


def pdf_pages(page: Path, out: Path) -> int:
    """Print the page to PDF (Chromium's default, A4 per the page's @page rule); its number of pages."""
    _run("--no-pdf-header-footer", f"--print-to-pdf={out}", page.as_uri())
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", out.read_bytes()))


FLEET = fleet_of(200)


def main(docs: Path) -> None:
    """Write docs/report-customer.png, report-customer-phone.png, report-index.png and report-index-phone.png
    from FLEET (200 customers) and PROVIDER."""
    with tempfile.TemporaryDirectory(prefix="report-") as scratch:
        pages = {path.stem: path for path in write_pages(Path(scratch), "html", FLEET, SAMPLE_CHECKED, PROVIDER)}
        screenshot(pages["fabrikam-prod"], docs / "report-customer.png", 1280, 900)
        screenshot(pages["fabrikam-prod"], docs / "report-customer-phone.png", 390, 844)
        screenshot(pages["index"], docs / "report-index.png", 1280, 900)
        screenshot(pages["index"], docs / "report-index-phone.png", 390, 844)
    print(
        f"wrote report-customer.png, report-customer-phone.png, report-index.png, report-index-phone.png into {docs}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs"))
