"""A guard around Pulumi's `serialize_provider`, for a process that serializes providers without end.

Pulumi's Python SDK (sdk/python/lib/pulumi/dynamic/dynamic.py, `serialize_provider`, as of
3.272) wraps `pickle._Pickler._batch_setitems` and `save_dict` to sort dictionaries and never
puts them back, so each call wraps the previous call's wrapper. A program process serializes
two providers and exits; the fleet runs the program inline for every stack, and measured here
the ~480th stack died with RecursionError (as reported in pulumi/pulumi#17803, closed without
a fix). Threads would also wrap each other's wrappers.

The guard runs Pulumi's function one call at a time and puts both methods back after each.
`install` is called by the fleet's engine, explicitly. tests/test_serialization_guard.py shows
the bug, a RecursionError from Pulumi's own function, in the SDK installed: when that test
fails, Pulumi has fixed it, and the guard and its test go.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable
from typing import Any

from pulumi.dynamic import dynamic as pulumi_dynamic

__all__ = ["PULUMI_SERIALIZE_PROVIDER", "install"]

PULUMI_SERIALIZE_PROVIDER: Callable[[Any], str] = pulumi_dynamic.serialize_provider  # Pulumi's own

_lock = threading.Lock()


def install() -> None:
    """Replace pulumi.dynamic's serialize_provider by the guarded one (for the whole process)."""
    pulumi_dynamic.serialize_provider = _serialize_provider_without_leaking


def _serialize_provider_without_leaking(provider: Any) -> str:
    """Pulumi's serialize_provider, one call at a time, leaving `pickle` as it found it."""
    with _lock:
        saved = pickle._Pickler._batch_setitems, pickle._Pickler.save_dict  # type: ignore[attr-defined]
        try:
            return str(PULUMI_SERIALIZE_PROVIDER(provider))
        finally:
            pickle._Pickler._batch_setitems, pickle._Pickler.save_dict = saved  # type: ignore[attr-defined]
