"""Where the project is (no imports beyond pathlib: the program-process test loads this too)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["REPO"]

REPO = Path(__file__).resolve().parents[2]
