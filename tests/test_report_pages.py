"""`fleet report`'s pages in a real browser, for a fleet of 200: the index puts the problems on the first
screen and filters, no page scrolls sideways on a laptop or a phone, a customer's page prints on one A4 page."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from fleet.outcome import Outcome
from fleet.writers.report import Provider, write_pages
from tests.support.browser import (
    FLEET,
    PROBLEMS,
    PROVIDER,
    SAMPLE,
    SAMPLE_CHECKED,
    chromium_dom,
    measure,
    overflow,
    pdf_pages,
    screenshot,
)

pytestmark = [pytest.mark.tools, pytest.mark.xdist_group("chromium")]  # Chromium takes both cores while it starts

HOSTILE = '<img src=x onerror="document.title=1">'
SIZES = ((1280, 900), (390, 844))
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
ROWS = "[...d.querySelectorAll('table.rows')[0].querySelectorAll('tr:not(.head)')]"


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The 200-customer fleet's pages and a customer with a hostile name: 201 rows."""
    hostile = Outcome(
        "hostile", "d4e5f6a7-0000-4000-8000-000000000001", customer=HOSTILE, declared=True, live=True, live_read=True
    )
    written = write_pages(tmp_path_factory.mktemp("report"), "html", [*FLEET, hostile], SAMPLE_CHECKED, PROVIDER)
    return {path.stem: path for path in written}


@pytest.fixture(scope="module")
def looked_at(pages: dict[str, Path]) -> dict[str, Path]:
    """The index and the pages of every kind of customer (a browser run each: not all 200)."""
    return {name: pages[name] for name in ("index", "hostile", *(o.stack for o in [*SAMPLE, *PROBLEMS]))}


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_no_page_scrolls_sideways(looked_at: dict[str, Path], width: int, height: int) -> None:
    assert {name: overflow(page, width, height) for name, page in looked_at.items()} == dict.fromkeys(looked_at, 0)


def test_the_first_screen_shows_every_count_and_the_first_problem_rows(pages: dict[str, Path]) -> None:
    seen = (
        "(() => { const h = d.defaultView.innerHeight, whole = (e) => e.getBoundingClientRect().bottom <= h;"
        "return [...d.querySelectorAll('ul.counts li')].filter(whole).map((e) => e.textContent).join(',') + '|' + "
        f"{ROWS}.slice(0, 5).filter(whole).map((r) => r.className + ':' + r.cells[1].textContent).join(','); }})()"
    )
    counts, rows = measure(pages["index"], 1280, 900, seen).split("|")
    assert counts == "1 failed,1 breaks an agreement,1 differs,1 exception expiring,197 converged"
    assert rows.split(",")[:4] == [
        "failed:northwind-dev",
        "violation:tailspin-prod",
        "differs:fabrikam-prod",
        "expiring:wingtip-dev",
    ]


def test_the_converged_follow_in_natural_order(pages: dict[str, Path]) -> None:
    customers = re.findall(r'">(Customer \d+)</a>', pages["index"].read_text())
    assert customers[:11] == [f"Customer {n}" for n in range(1, 12)]


def test_the_filter_and_search_narrow_the_rows(pages: dict[str, Path]) -> None:
    steps = (
        "(() => { const f = d.querySelector('form.filter'), [search, only, shown] = f.elements;"
        f"const visible = () => {ROWS}.filter((r) => r.getClientRects().length).length;"
        "const seen = [f.hidden, visible()];"
        "search.value = 'FABRIKAM'; search.dispatchEvent(new Event('input')); seen.push(visible(), shown.value);"
        "search.value = ''; only.value = 'converged'; only.dispatchEvent(new Event('change')); seen.push(visible());"
        "search.value = 'customer 1'; search.dispatchEvent(new Event('input')); seen.push(visible(), shown.value);"
        "return seen.join('|'); })()"
    )
    # "customer 1": Customer 1, 10-19 and 100-195 among the converged
    assert measure(pages["index"], 390, 844, steps) == "false|201|1|1 of 201 shown|197|107|107 of 201 shown"


def test_without_scripts_the_index_shows_every_row_and_no_dead_control(pages: dict[str, Path]) -> None:
    seen = (
        f"d.querySelector('form.filter').getClientRects().length + '|' + {ROWS}.filter((r) => r.getClientRects().length).length"
    )
    assert measure(pages["index"], 1280, 900, seen, scripts=False) == "0|201"


def test_a_customer_page_names_the_provider_and_holds_no_identifier(pages: dict[str, Path]) -> None:
    customers = {name: page.read_text() for name, page in pages.items() if name != "index"}
    assert {name for name, text in customers.items() if GUID.search(text) or "reference" in text} == set()
    assert all(PROVIDER.name in text and "help@adatum.example" in text and PROVIDER.logo in text for text in customers.values())
    expired = customers["tailspin-prod"]
    assert "Expired exception" in expired
    assert "<td class=differs>the agreed exception has expired</td>" in expired
    assert "expired 7 days ago (2026-11-22)" in expired
    assert "The agreed exception expired 7 days ago." in expired
    assert "expires in 12 days" in customers["wingtip-dev"]
    assert "Period</th><td>2026-11-22 to 2026-11-29" in customers["fabrikam-prod"]
    assert "What this means for you" in customers["fabrikam-prod"]
    assert "What happens next" in customers["fabrikam-prod"]


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_a_screenshot_shows_the_page_at_its_size(pages: dict[str, Path], tmp_path: Path, width: int, height: int) -> None:
    png = screenshot(pages["fabrikam-prod"], tmp_path / "page.png", width, height).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (width, height)


def test_each_customer_page_prints_on_one_a4_page(looked_at: dict[str, Path], tmp_path: Path) -> None:
    customers = {name: page for name, page in looked_at.items() if name != "index"}
    assert {name: pdf_pages(page, tmp_path / f"{name}.pdf") for name, page in customers.items()} == dict.fromkeys(customers, 1)


def test_a_hostile_customer_name_is_text_in_the_browser(pages: dict[str, Path]) -> None:
    for page in (pages["hostile"], pages["index"]):
        dom = chromium_dom(page)
        assert "<img src=x" not in dom
        assert "&lt;img src=x onerror=" in dom


def test_the_provider_is_read_once_from_pulumi_yaml_with_its_logo_embedded(tmp_path: Path) -> None:
    config = "config:\n  providerName: {default: Adatum}\n  providerContact: {default: help@adatum.example}\n"
    (tmp_path / "Pulumi.yaml").write_text(f"name: bitlocker-policy\n{config}  providerLogo: {{default: logo.svg}}\n")
    (tmp_path / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    provider = Provider.from_project(tmp_path)
    assert (provider.name, provider.contact) == ("Adatum", "help@adatum.example")
    assert provider.logo == "data:image/svg+xml;base64,PHN2ZyB4bWxucz0naHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmcnLz4="
    (tmp_path / "logo.svg").unlink()
    with pytest.raises(ValueError, match=r"^bitlocker-policy:providerLogo logo.svg cannot be read \(No such file"):
        Provider.from_project(tmp_path)
    (tmp_path / "Pulumi.yaml").write_text(f"name: bitlocker-policy\n{config}  providerLogo: {{default: logo.gif}}\n")
    with pytest.raises(ValueError, match=r"is not a .png, .jpg or .svg file"):
        Provider.from_project(tmp_path)
