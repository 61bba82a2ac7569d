"""The locks CI, make and the pipelines install from (`pip install --require-hashes`) hold what the lists ask for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.paths import REPO

LOCKS = {
    "requirements.txt": "requirements.lock",
    "requirements-dev.txt": "requirements-dev.lock",
    "policy/requirements.txt": "policy/requirements.lock",
    "requirements-uv.txt": "requirements-uv.lock",
}


def listed(path: Path) -> list[Requirement]:
    """A requirement list's own lines and those of the lists it includes (-r)."""
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found += listed(path.parent / line[3:].strip())
        elif line:
            found.append(Requirement(line))
    return found


def pinned(path: Path) -> dict[str, tuple[str, int]]:
    """The lock's pins: name -> (version, number of hashes)."""
    text = path.read_text()
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)((?:\s*\\\s*--hash=sha256:[0-9a-f]{64})+)", text, re.MULTILINE)
    return {canonicalize_name(name): (version, hashes.count("--hash=")) for name, version, hashes in pins}


@pytest.mark.parametrize(("requirements", "lock"), LOCKS.items())
def test_every_listed_package_is_locked_at_an_allowed_version_with_its_hashes(requirements: str, lock: str) -> None:
    pins = pinned(REPO / lock)
    for requirement in listed(REPO / requirements):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in {lock}: run make lock"
        version, hashes = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock} pins {name}=={version}, outside {requirement}: make lock"
        )
        assert hashes >= 1
    assert len(pins) == len(re.findall(r"^[A-Za-z0-9_.\-]+==", (REPO / lock).read_text(), re.MULTILINE)), (
        f"a pin in {lock} has no hash"
    )
