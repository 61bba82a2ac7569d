"""The value found when a stack first adopted a tenant's policy, checkpointed before any write.

The engine records a create as *pending* before calling it; when the process dies inside
it, the next run only warns about the pending operation ("Attempting to deploy or update
resources with N pending operations from previous deployment": pulumi/pulumi
pkg/resource/deploy/deployment_executor.go) and the create's result is gone, so whatever
must survive a crash inside the setting's `create` has to be in state from an earlier step.
This read-only resource is that step: its `create` reads the live value (1 GET) and the
engine checkpoints it before the setting it feeds is even checked. It never reads again, and
writes only when it is deleted while the tenant lacks the adopted value: after a crash
inside the first `up`, this record is all the state holds, and `destroy` must still give the
original back (normally the setting's delete has just done so, and this one sees it without
a request).

This module's path (`providers.adoption`) is stored, pickled, in every stack's state: keep
it importable across releases.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from providers.properties import ADOPTION_NAME, AdoptionProperties
from providers.provider_base import SessionProvider, one_line_errors, replace_tenant, tenant_failure

__all__ = ["BitlockerAdoption", "BitlockerAdoptionProvider", "adoption_urn"]


def adoption_urn(stack: Any) -> str:
    """The record's URN, as the engine names it (PULUMI_PROJECT is set for providers by the CLI)."""
    project = os.environ.get("PULUMI_PROJECT", "bitlocker-policy")
    return f"urn:pulumi:{stack}::{project}::pulumi-python:dynamic/entra:BitlockerAdoption::{ADOPTION_NAME}"


class BitlockerAdoptionProvider(SessionProvider):
    """Reads the live value once, at adoption, and gives it back at destroy if the setting could not."""

    @one_line_errors
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        """The tenant must be a GUID or a domain; no request."""
        failure = tenant_failure(AdoptionProperties.of(news).tenantId)
        return dyn.CheckResult(news, [failure] if failure else [])

    @one_line_errors
    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        """Remember the live value: what `destroy` will put back."""
        wanted = AdoptionProperties.of(props)
        tenant = self.session.tenant_guid(wanted.tenantId)
        found = self.session.graph_client(tenant).live_value(self.field)
        outs = AdoptionProperties(tenantId=tenant, adoptedValue=found, stack=wanted.stack)
        return dyn.CreateResult(id_=f"{tenant}/adoption", outs=outs.props())

    @one_line_errors
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        """Another tenant is another adoption; a respelling of the same tenant is no change."""
        old, new = AdoptionProperties.of(olds), AdoptionProperties.of(news)
        if self.same_tenant(old.tenantId, new.tenantId) is None:
            return replace_tenant()
        return dyn.DiffResult(changes=old.stack != new.stack)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        """Only the stack's name can change (a renamed stack); the adopted value never does."""
        return dyn.UpdateResult(outs=replace(AdoptionProperties.of(olds), stack=AdoptionProperties.of(news).stack).props())

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        """Refresh keeps the value found at adoption: it is history, not the live value."""
        state = AdoptionProperties.of(props)
        return dyn.ReadResult(id_=id_, outs=state.props(), inputs=state.inputs())

    @one_line_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Give the adopted value back if the tenant lacks it and retainOnDelete is not true."""
        state = AdoptionProperties.of(props)
        self.restore(state.tenantId, state.adoptedValue, state.stack, fallback=True)


class BitlockerAdoption(dyn.Resource, module="entra", name="BitlockerAdoption"):
    """The tenant's BitLocker field (providers/graph/authorization_policy.py) as this stack first found it."""

    # The attributes are AdoptionProperties' names.
    tenantId: pulumi.Output[str]  # noqa: N815
    adoptedValue: pulumi.Output[bool | None]  # noqa: N815
    stack: pulumi.Output[str]

    def __init__(self, resource_name: str, *, tenant_id: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None):
        declared = AdoptionProperties(tenantId=tenant_id, stack=pulumi.get_stack())  # type: ignore[arg-type]  # an Input
        super().__init__(BitlockerAdoptionProvider(), resource_name, declared.props(), opts)
