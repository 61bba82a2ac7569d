"""The pinned tools scripts/ensure-tools.sh installs once into a cache outside the repo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .paths import REPO

__all__ = ["ensure_tool"]

# The cache as it was when the tests started: each test gets an XDG_CACHE_HOME of its own (for the
# product's discovery cache), and the tools must not be installed again into it.
_CACHE = os.environ.get("XDG_CACHE_HOME")


def ensure_tool(name: str) -> Path:
    """The directory scripts/ensure-tools.sh installed `name` into (it prints it last); the test fails when it cannot."""
    env = {name: value for name, value in os.environ.items() if name != "XDG_CACHE_HOME"}
    env |= {"XDG_CACHE_HOME": _CACHE} if _CACHE else {}
    done = subprocess.run(
        [str(REPO / "scripts" / "ensure-tools.sh"), name], capture_output=True, text=True, check=False, timeout=1800, env=env
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/ensure-tools.sh {name} failed:\n{done.stderr}", pytrace=False)
    return Path(done.stdout.strip().splitlines()[-1])
