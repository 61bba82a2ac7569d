"""The pinned tools scripts/ensure-tools.sh installs once into a cache outside the repo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .paths import REPO

__all__ = ["ensure_tool"]


def ensure_tool(name: str) -> Path:
    """The directory scripts/ensure-tools.sh installed `name` into (it prints it last); the test fails when it cannot."""
    done = subprocess.run(
        [str(REPO / "scripts" / "ensure-tools.sh"), name], capture_output=True, text=True, check=False, timeout=1800
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/ensure-tools.sh {name} failed:\n{done.stderr}", pytrace=False)
    return Path(done.stdout.strip().splitlines()[-1])
