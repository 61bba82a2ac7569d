"""The resource: whether device owners may read their own BitLocker recovery keys, per tenant.

The tenant's authorization policy is a singleton that always exists. The value found when
the stack first adopted it comes in from `BitlockerAdoption` (checkpointed before any
write, see providers/adoption.py); `delete` puts that value back. Only the policy's BitLocker
field is ever written (BITLOCKER_KEYS: providers/graph/authorization_policy.py).
The tenant may be declared as its GUID or any verified domain; outputs and the id carry the
GUID, so a respelling is no change and a real change of tenant deletes before it creates.

`check` reads the live value (so every preview proves the sign-in and the permission, and
carries the live value as the `liveValue` input: a drifted preview shows
`liveValue: false => true`); `diff`, `create` and `update` then use what this process
already knows. Graph requests per provider process and operation (retries aside; a tenant
given as a domain adds one OIDC discovery request per process):
    check  1 GET (the adoption's create may already have read it: then none)
    diff   none (re-reads only while a read disagrees with our own recent write,
           bitlocker-policy:consistencyWindowSeconds); on drift at preview, 1 GET of the
           audit log (who changed it, best effort within its own budget: providers/graph/audit.py)
    create 1 PATCH when the live value differs
    update 1 PATCH when the live value differs
    read   1 GET    delete  1 PATCH (restores the adopted value; none when it is null
                            or retainOnDelete is true: providers/config/retention.py)

This module's path (`providers.bitlocker`) is stored, pickled, in every stack's state:
keep it importable across releases.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from providers.adoption import adoption_urn
from providers.common.errors import ConfigurationError
from providers.config.settings import declared_value, value_text
from providers.graph.consistency import now_iso
from providers.properties import DECLARED_PROPERTY, SettingProperties
from providers.provider_base import SessionProvider, one_line_errors, replace_tenant, tenant_failure

__all__ = ["DRIFT_MARK", "BitlockerKeyAccess", "BitlockerKeyAccessProvider"]

DRIFT_MARK = "drift: the tenant's value is now "  # how diff's diagnostic begins (fleet/engine.py reads it)


class BitlockerKeyAccessProvider(SessionProvider):
    """CRUD for the setting. Its process state (a Session) is never pickled into Pulumi's state."""

    @one_line_errors
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        """Validate the inputs and settings, then read the live value into the `liveValue` input."""
        self.session.configuration  # noqa: B018 -- a bad setting fails here, at preview, before any request
        wanted = SettingProperties.of(news)
        failures = [failure for failure in (tenant_failure(wanted.tenantId), _declared_failure(wanted)) if failure]
        if failures:
            return dyn.CheckResult(news, failures)
        live = self.session.graph_client(wanted.tenantId).live_value(self.field)
        return dyn.CheckResult(replace(wanted, liveValue=live).props(), [])

    @one_line_errors
    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        """Set the declared value, PATCHing only when the live value differs."""
        wanted = SettingProperties.of(props)
        tenant = self.session.tenant_guid(wanted.tenantId)
        outs = self._converge(tenant, wanted, adopted=wanted.adoptedValue, record=_adoption_record(wanted), previous=None)
        return dyn.CreateResult(id_=f"{tenant}/authorizationPolicy", outs=outs.props())

    @one_line_errors
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        """A change when the declared value changed or the tenant has drifted from it.

        The tenant is compared by GUID: a respelling (GUID ↔ domain) is no change; another
        tenant is a replacement that deletes (restores the old tenant) before it creates.
        The live value is the one `check` (or, in a refresh, `read`) read in this process.
        """
        old, new = SettingProperties.of(olds), SettingProperties.of(news)
        tenant = self.same_tenant(old.tenantId, new.tenantId)
        if tenant is None:
            return replace_tenant()
        graph = self.session.graph_client(tenant)
        seen = graph.live_value(self.field)
        live = self.session.settled_live_value(tenant, self.field, old.lastPatchValue, old.lastPatchAt, seen)
        declared = new.allowedToReadBitlockerKeysForOwnedDevice
        if live != declared and live != old.allowedToReadBitlockerKeysForOwnedDevice and self.serving_preview():
            # Drift, at preview: a diagnostic for the CLI's output (the provider's stderr) saying who
            # changed it, one audit-log read. `up` reads none: its preview said it, and `fleet up
            # --only-drifted` carries drift's word over.
            from providers.graph.audit import last_change  # loaded only on drift

            print(f"{DRIFT_MARK}{value_text(live)}, {last_change(graph, live).describe()}", file=sys.stderr)
        return dyn.DiffResult(
            changes=live != declared or old.allowedToReadBitlockerKeysForOwnedDevice != declared or old.stack != new.stack
        )

    @one_line_errors
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        """Set the declared value, PATCHing only when the live value differs; keep the adopted value."""
        old, new = SettingProperties.of(olds), SettingProperties.of(news)
        tenant = self.session.tenant_guid(old.tenantId)
        adopted = old.adoptedValue if old.adoptedValue is not None else new.adoptedValue  # a state older than its copy
        record = _adoption_record(old if old.adoptionRecord else new)
        return dyn.UpdateResult(outs=self._converge(tenant, new, adopted=adopted, record=record, previous=old).props())

    @one_line_errors
    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        """Refresh: the live value becomes both output and input, so drift shows as a diff."""
        state = SettingProperties.of(props)
        tenant = self.session.tenant_guid(state.tenantId)
        seen = self.session.graph_client(tenant).live_value(self.field)
        live = self.session.settled_live_value(tenant, self.field, state.lastPatchValue, state.lastPatchAt, seen)
        outs = replace(state, tenantId=tenant, allowedToReadBitlockerKeysForOwnedDevice=live, liveValue=live)
        return dyn.ReadResult(id_=id_, outs=outs.props(), inputs=outs.inputs())

    @one_line_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Put back the value found at adoption, unless it is null or retainOnDelete is true now."""
        state = SettingProperties.of(props)
        self.restore(state.tenantId, state.adoptedValue, state.stack)

    def _converge(
        self, tenant: str, wanted: SettingProperties, *, adopted: bool | None, record: str, previous: SettingProperties | None
    ) -> SettingProperties:
        """PATCH the declared value when the live value (known to this process) differs; the outputs."""
        graph = self.session.graph_client(tenant)
        desired = declared_value(wanted.allowedToReadBitlockerKeysForOwnedDevice)  # `check` let only a boolean through
        outs = SettingProperties(
            tenantId=tenant,
            allowedToReadBitlockerKeysForOwnedDevice=desired,
            liveValue=desired,
            adoptedValue=adopted,
            adoptionRecord=record,
            lastPatchRequestId=previous.lastPatchRequestId if previous else None,
            lastPatchAt=previous.lastPatchAt if previous else None,
            lastPatchValue=previous.lastPatchValue if previous else None,
            stack=wanted.stack,
        )
        if graph.live_value(self.field) != desired:
            request_id = graph.write(self.field, desired)
            # When Graph accepted it: the consistency window starts here.
            outs = replace(outs, lastPatchRequestId=request_id, lastPatchAt=now_iso(), lastPatchValue=desired)
        return outs


def _declared_failure(wanted: SettingProperties) -> dyn.CheckFailure | None:
    """The check failure for a declared value that is not a boolean (the program passes it through)."""
    try:
        declared_value(wanted.allowedToReadBitlockerKeysForOwnedDevice)
    except ConfigurationError as error:
        return dyn.CheckFailure(DECLARED_PROPERTY, str(error))
    return None


def _adoption_record(props: SettingProperties) -> str:
    """The adoption record's id; without one in state nothing may be written (the value to restore would be lost).

    The record's `adoptedValue` cannot tell: Pulumi drops an input that is None, so a record
    of a null value and no record at all look alike; its id is never None. The record goes
    missing when `pulumi up --skip-preview --exclude` leaves it out: the engine then still
    creates the setting, without it (measured with Pulumi v3.274.1).
    """
    if not isinstance(props.adoptionRecord, str) or not props.adoptionRecord:
        raise ConfigurationError(
            f"The adoption record {adoption_urn(props.stack)} is not in state (left out with --exclude or "
            "--target?), so the value this tenant has now could not be restored at destroy; nothing was written. "
            "Run `pulumi up` without leaving it out"
        )
    return props.adoptionRecord


class BitlockerKeyAccess(dyn.Resource, module="entra", name="BitlockerKeyAccess"):
    """Declares, for one tenant, whether device owners may read their own BitLocker keys."""

    # The attributes are SettingProperties' names: the state's, which Pulumi shows to users.
    tenantId: pulumi.Output[str]  # noqa: N815
    allowedToReadBitlockerKeysForOwnedDevice: pulumi.Output[bool]  # noqa: N815
    liveValue: pulumi.Output[bool | None]  # noqa: N815
    adoptedValue: pulumi.Output[bool | None]  # noqa: N815
    adoptionRecord: pulumi.Output[str]  # noqa: N815
    lastPatchRequestId: pulumi.Output[str | None]  # noqa: N815
    lastPatchAt: pulumi.Output[str | None]  # noqa: N815
    lastPatchValue: pulumi.Output[bool | None]  # noqa: N815
    stack: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        tenant_id: pulumi.Input[str],
        allowed: pulumi.Input[bool],
        adopted_value: pulumi.Input[bool | None],
        adoption_record: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        declared = SettingProperties(
            tenantId=tenant_id,  # type: ignore[arg-type]  # Inputs: Pulumi resolves them before any provider method
            allowedToReadBitlockerKeysForOwnedDevice=allowed,  # type: ignore[arg-type]
            adoptedValue=adopted_value,  # type: ignore[arg-type]
            adoptionRecord=adoption_record,  # type: ignore[arg-type]
            stack=pulumi.get_stack(),
        )
        super().__init__(BitlockerKeyAccessProvider(), resource_name, declared.props(), opts)
