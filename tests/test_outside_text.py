"""Outside text on one line: nothing a terminal acts on, nothing a UTF-8 or XML writer refuses, bounded work."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from providers.common.outside_text import one_line
from tests.support.paths import REPO


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("line one\nline two\r\n", "line one line two"),
        ("\x1b[2Jcleared", "[2Jcleared"),  # the escape itself is gone
        ("a\u202eevil", "a evil"),  # a bidirectional override (Cf)
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        ("low \udfff too", "low \ufffd too"),
        ("\ufffe\uffff", "\ufffd\ufffd"),
        ("\ufdd0 \ufdef", "\ufffd \ufffd"),
        ("\U0001fffe \U0010ffff", "\ufffd \ufffd"),  # every plane's last two
        ("\ufdcf \ufdf0 \ufffd é 中", "\ufdcf \ufdf0 \ufffd é 中"),  # neighbours and ordinary text stay
    ],
)
def test_one_line_replaces_what_would_act_or_fail(text: str, shown: str) -> None:
    assert one_line(text) == shown


@pytest.mark.parametrize(
    "text",
    ["\ud800", "\udc00\udbff", "\ufffe", "\U0003ffff", "\ufdd5", "x\ud83d"],
)
def test_one_lines_text_can_be_written_as_utf8_and_xml(text: str) -> None:
    cleaned = one_line(text)
    cleaned.encode("utf-8")
    element = ET.Element("testcase", name=cleaned)
    assert ET.fromstring(ET.tostring(element, encoding="unicode")).get("name") == cleaned


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [
        ("a" * 10, 5, "aaaa…"),
        ("short", 5, "short"),
        ("x" * 10_000_000, 120, "x" * 119 + "…"),  # only the head is looked at
        (" " * 100 + "word", 10, "…"),  # past what is looked at: cut, and the ellipsis says so
        ("a " * 5, 10, "a a a a a"),
    ],
)
def test_one_line_is_bounded_and_marks_a_cut(text: str, limit: int, shown: str) -> None:
    assert one_line(text, limit) == shown


def test_the_fleet_prints_what_its_stdout_cannot_encode_as_a_replacement(tmp_path: Path) -> None:
    """The second guard: even text one_line never saw (here a client id) cannot end a run in UnicodeEncodeError."""
    (tmp_path / "Pulumi.yaml").write_text("name: bitlocker-policy\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.a.yaml").write_text("config:\n  azuread:tenantId: 00000000-0000-0000-0000-00000000000a\n")
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}  # a terminal or CI log that takes ASCII alone
    command = [sys.executable, "-m", "fleet", "consent-urls", "--project", str(tmp_path), "--client-id", "app-é"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    assert "\tapp-?\t" in done.stdout
