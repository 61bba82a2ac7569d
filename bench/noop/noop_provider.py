"""A dynamic provider that makes no request: what the product's cold start is measured against."""

from __future__ import annotations

from typing import Any

import pulumi.dynamic as dyn


class NoopProvider(dyn.ResourceProvider):
    """Creates an id and never changes."""

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        return dyn.CreateResult(id_="noop", outs=props)

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> dyn.DiffResult:
        return dyn.DiffResult(changes=False)


class Noop(dyn.Resource, module="bench", name="Noop"):
    """The no-op resource."""

    def __init__(self, name: str) -> None:
        super().__init__(NoopProvider(), name, {"value": True})
