"""The value found when a stack first adopted a tenant's policy, checkpointed before any write.

The engine records a create as *pending* before calling it and forgets a pending create
whose process died (REFERENCE.md, "Pulumi Python dynamic providers"), so whatever must
survive a crash inside the setting's `create` has to be in state from an earlier step. This
read-only resource is that step: its `create` reads the live value (1 GET) and the engine
checkpoints it before the setting it feeds is even checked. It never reads again, and
writes only when it is deleted while the tenant lacks the adopted value: after a crash
inside the first `up`, this record is all the state holds, and `destroy` must still give
the original back (normally the setting's delete has just done so, and this one sees it
without a request).

This module's path (`providers.adoption`) is stored, pickled, in every stack's state: keep
it importable across releases.
"""

from __future__ import annotations

import os
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from .plumbing import ADOPTED, STACK, TENANT, SessionProvider, one_line_errors, tenant_failure

__all__ = ["ADOPTION_NAME", "BitlockerAdoption", "BitlockerAdoptionProvider", "adoption_urn"]

ADOPTION_NAME = "bitlocker-adoption"  # the program's name for the record (__main__.py)


def adoption_urn(stack: Any) -> str:
    """The record's URN, as the engine names it (PULUMI_PROJECT is set for providers by the CLI)."""
    project = os.environ.get("PULUMI_PROJECT", "bitlocker-policy")
    return f"urn:pulumi:{stack}::{project}::pulumi-python:dynamic/entra:BitlockerAdoption::{ADOPTION_NAME}"


class BitlockerAdoptionProvider(SessionProvider):
    """Reads the live value once, at adoption, and gives it back at destroy if the setting could not."""

    @one_line_errors
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        """The tenant must be a GUID or a domain; no request."""
        failure = tenant_failure(news.get(TENANT))
        return dyn.CheckResult(news, [failure] if failure else [])

    @one_line_errors
    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        """Remember the live value: what `destroy` will put back."""
        tenant = self.session.tenant_guid(props[TENANT])
        found = self.session.graph_client(tenant).live_value()
        return dyn.CreateResult(id_=f"{tenant}/adoption", outs={TENANT: tenant, ADOPTED: found, STACK: props.get(STACK)})

    @one_line_errors
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        """Another tenant is another adoption; a respelling of the same tenant is no change."""
        if self.same_tenant(olds.get(TENANT), news[TENANT]) is None:
            return dyn.DiffResult(changes=True, replaces=[TENANT], delete_before_replace=True)
        return dyn.DiffResult(changes=olds.get(STACK) != news.get(STACK))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        """Only the stack's name can change (a renamed stack); the adopted value never does."""
        return dyn.UpdateResult(outs={**olds, STACK: news.get(STACK)})

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        """Refresh keeps the value found at adoption: it is history, not the live value."""
        return dyn.ReadResult(id_=id_, outs=props, inputs={TENANT: props[TENANT], STACK: props.get(STACK)})

    @one_line_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Give the adopted value back if the tenant lacks it and retainOnDelete is not true."""
        adopted = props.get(ADOPTED)
        if not isinstance(adopted, bool) or self.retain_on_delete(props.get(STACK)):
            return
        graph = self.session.graph_client(props[TENANT])
        if graph.live_value() != adopted:
            graph.write_bitlocker_access(adopted)


class BitlockerAdoption(dyn.Resource, module="entra", name="BitlockerAdoption"):
    """The tenant's allowedToReadBitlockerKeysForOwnedDevice as this stack first found it."""

    tenantId: pulumi.Output[str]  # noqa: N815
    adoptedValue: pulumi.Output[bool | None]  # noqa: N815

    def __init__(self, resource_name: str, *, tenant_id: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None):
        props = {TENANT: tenant_id, STACK: pulumi.get_stack(), ADOPTED: None}
        super().__init__(BitlockerAdoptionProvider(), resource_name, props, opts)
