"""fleet/serialization_guard.py: Pulumi's serialize_provider still leaks a pickle wrapper per call, the guard none."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable, Iterator

import pytest
from pulumi.dynamic import dynamic

from fleet import serialization_guard
from providers import BitlockerKeyAccessProvider

CALLS = sys.getrecursionlimit() + 100  # a wrapper nested per call overflows the stack before this many


@pytest.fixture(autouse=True)
def pickle_as_it_was() -> Iterator[None]:
    """`pickle` and pulumi.dynamic put back after each test, whatever it left wrapped or replaced."""
    saved = pickle._Pickler._batch_setitems, pickle._Pickler.save_dict, dynamic.serialize_provider  # type: ignore[attr-defined]
    yield
    pickle._Pickler._batch_setitems, pickle._Pickler.save_dict, dynamic.serialize_provider = saved  # type: ignore[attr-defined]


def serialize_many(serialize: Callable[[BitlockerKeyAccessProvider], str]) -> None:
    """`serialize` called CALLS times, as the fleet's inline program does over CALLS / 2 stacks."""
    for _ in range(CALLS):
        serialize(BitlockerKeyAccessProvider())


def test_pulumis_serialize_provider_still_overflows_a_process_that_calls_it_enough() -> None:
    """pulumi/pulumi#17803. When this fails, Pulumi has fixed it: drop fleet/serialization_guard.py and this file."""
    with pytest.raises(RecursionError):
        serialize_many(serialization_guard.PULUMI_SERIALIZE_PROVIDER)


def test_the_guard_serializes_any_number_of_providers_and_leaves_pickle_as_it_found_it() -> None:
    serialization_guard.install()  # as the fleet's engine does
    before = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
    serialize_many(dynamic.serialize_provider)
    assert pickle._Pickler._batch_setitems is before  # type: ignore[attr-defined]
