"""The product's version: pyproject.toml's [project] version, the one place it is written.

Read by `python -m fleet --version`, the report's pages and every request's User-Agent.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

__all__ = ["version"]

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@cache
def version() -> str:
    """The version, e.g. "0.6.0"; "unknown" in a copy of the project that left pyproject.toml out."""
    try:
        with PYPROJECT.open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, tomllib.TOMLDecodeError, KeyError):
        return "unknown"
