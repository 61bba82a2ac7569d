"""`fleet report`'s pages in a real browser: no horizontal scroll on a laptop or a phone, one A4 page per tenant."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from fleet.outcome import Outcome
from fleet.report import write_pages
from tests.support.browser import SAMPLE, SAMPLE_CHECKED, chromium_dom, overflow, pdf_pages, screenshot

pytestmark = [pytest.mark.tools, pytest.mark.xdist_group("chromium")]  # Chromium takes both cores while it starts

HOSTILE = '<img src=x onerror="document.title=1">'
SIZES = ((1280, 900), (390, 844))


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sample fleet's pages, a customer with a hostile name among them."""
    hostile = Outcome(
        "hostile", "d4e5f6a7-0000-4000-8000-000000000001", customer=HOSTILE, declared=True, live=True, live_read=True
    )
    written = write_pages(tmp_path_factory.mktemp("report"), "html", [*SAMPLE, hostile], SAMPLE_CHECKED)
    return {path.stem: path for path in written}


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_no_page_scrolls_sideways(pages: dict[str, Path], width: int, height: int) -> None:
    assert {name: overflow(page, width, height) for name, page in pages.items()} == dict.fromkeys(pages, 0)


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_a_screenshot_shows_the_page_at_its_size(pages: dict[str, Path], tmp_path: Path, width: int, height: int) -> None:
    png = screenshot(pages["fabrikam-prod"], tmp_path / "page.png", width, height).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (width, height)


def test_each_customer_page_prints_on_one_a4_page(pages: dict[str, Path], tmp_path: Path) -> None:
    customers = {name: page for name, page in pages.items() if name != "index"}
    assert {name: pdf_pages(page, tmp_path / f"{name}.pdf") for name, page in customers.items()} == dict.fromkeys(customers, 1)


def test_a_hostile_customer_name_is_text_in_the_browser(pages: dict[str, Path]) -> None:
    for page in (pages["hostile"], pages["index"]):
        dom = chromium_dom(page)
        assert "<img" not in dom
        assert "&lt;img src=x onerror=" in dom
