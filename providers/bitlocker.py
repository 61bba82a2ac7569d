"""The resource: whether device owners may read their own BitLocker recovery keys, per tenant.

The tenant's authorization policy is a singleton that always exists. The value found when
the stack first adopted it comes in from `BitlockerAdoption` (checkpointed before any
write, see providers/adoption.py); `delete` puts that value back. Only
defaultUserRolePermissions.allowedToReadBitlockerKeysForOwnedDevice is ever written.
The tenant may be declared as its GUID or any verified domain; outputs and the id carry the
GUID, so a respelling is no change and a real change of tenant deletes before it creates.

`check` reads the live value (so every preview proves the sign-in and the permission, and
carries the live value as the `liveValue` input: a drifted preview shows
`liveValue: false => true`); `diff`, `create` and `update` then use what this process
already knows. Graph requests per provider process and operation (retries aside; a tenant
given as a domain adds one OIDC discovery request per process):
    check  1 GET (the adoption's create may already have read it: then none)
    diff   none (re-reads only while a read disagrees with our own write of < 30 s ago,
           bitlocker-policy:consistencyWindowSeconds)
    create 1 PATCH when the live value differs
    update 1 PATCH when the live value differs
    read   1 GET    delete  1 PATCH (restores the adopted value; none when it is null
                            or retainOnDelete is true in the stack config now)

This module's path (`providers.bitlocker`) is stored, pickled, in every stack's state:
keep it importable across releases.
"""

from __future__ import annotations

import sys
from typing import Any

import pulumi
import pulumi.dynamic as dyn
from pulumi.runtime import rpc

from .adoption import adoption_urn
from .consistency import now_iso, settled_value
from .errors import ConfigurationError
from .plumbing import ADOPTED, STACK, TENANT, SessionProvider, one_line_errors, tenant_failure
from .settings import DESIRED_VALUE, RETAIN_ON_DELETE

__all__ = ["BitlockerKeyAccess", "BitlockerKeyAccessProvider"]

DESIRED = "allowedToReadBitlockerKeysForOwnedDevice"
LIVE = "liveValue"
LAST_PATCH = "lastPatchRequestId"
LAST_PATCH_AT = "lastPatchAt"
LAST_PATCH_VALUE = "lastPatchValue"
ADOPTION_RECORD = "adoptionRecord"  # the adoption record's id: present only when the record is in state


class BitlockerKeyAccessProvider(SessionProvider):
    """CRUD for the setting. Its process state (a Session) is never pickled into Pulumi's state."""

    @one_line_errors
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        """Validate the inputs and settings, then read the live value into the `liveValue` input."""
        self.session.validate()
        failures = [failure for failure in (tenant_failure(news.get(TENANT)),) if failure]
        if not isinstance(news.get(DESIRED), bool):
            failures.append(dyn.CheckFailure(DESIRED, f"{DESIRED_VALUE.key} must be true or false, got {news.get(DESIRED)!r}"))
        if failures:
            return dyn.CheckResult(news, failures)
        live = self.session.graph_client(news[TENANT]).live_value()
        return dyn.CheckResult({**news, LIVE: live}, [])

    @one_line_errors
    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        """Set the declared value, PATCHing only when the live value differs."""
        tenant = self.session.tenant_guid(props[TENANT])
        outs = self._converge(tenant, props, adopted=props.get(ADOPTED), record=_adoption_record(props), previous={})
        return dyn.CreateResult(id_=f"{tenant}/authorizationPolicy", outs=outs)

    @one_line_errors
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        """A change when the declared value changed or the tenant has drifted from it.

        The tenant is compared by GUID: a respelling (GUID ↔ domain) is no change; another
        tenant is a replacement that deletes (restores the old tenant) before it creates.
        """
        tenant = self.same_tenant(olds.get(TENANT), news[TENANT])
        if tenant is None:
            return dyn.DiffResult(changes=True, replaces=[TENANT], delete_before_replace=True)
        checked = LIVE in news and news[LIVE] != rpc.UNKNOWN  # check read it in this process
        live = self._settled(tenant, olds, news[LIVE] if checked else self.session.graph_client(tenant).live_value())
        return dyn.DiffResult(
            changes=live != news[DESIRED] or olds.get(DESIRED) != news[DESIRED] or olds.get(STACK) != news.get(STACK)
        )

    @one_line_errors
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        """Set the declared value, PATCHing only when the live value differs; keep the adopted value."""
        tenant = self.session.tenant_guid(olds[TENANT])
        adopted = olds[ADOPTED] if ADOPTED in olds else news.get(ADOPTED)
        record = _adoption_record(olds if ADOPTION_RECORD in olds else news)
        return dyn.UpdateResult(outs=self._converge(tenant, news, adopted=adopted, record=record, previous=olds))

    @one_line_errors
    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        """Refresh: the live value becomes both output and input, so drift shows as a diff."""
        tenant = self.session.tenant_guid(props[TENANT])
        live = self._settled(tenant, props, self.session.graph_client(tenant).live_value())
        outs = {**props, TENANT: tenant, DESIRED: live, LIVE: live}
        inputs = {
            TENANT: tenant,
            DESIRED: live,
            LIVE: live,
            ADOPTED: props.get(ADOPTED),
            ADOPTION_RECORD: props.get(ADOPTION_RECORD),
            STACK: props.get(STACK),
        }
        return dyn.ReadResult(id_=id_, outs=outs, inputs=inputs)

    @one_line_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Put back the value found at adoption, unless it is null or retainOnDelete is true now."""
        adopted = props.get(ADOPTED)
        if not isinstance(adopted, bool):
            return  # nothing to give back
        if self.retain_on_delete(props.get(STACK)):
            print(f"{RETAIN_ON_DELETE.key} is true: the tenant keeps its current value", file=sys.stderr)
            return
        self.session.graph_client(props[TENANT]).write_bitlocker_access(adopted)

    def _converge(
        self, tenant: str, inputs: dict[str, Any], *, adopted: Any, record: str, previous: dict[str, Any]
    ) -> dict[str, Any]:
        """PATCH the declared value when the live value (known to this process) differs; the outputs."""
        graph = self.session.graph_client(tenant)
        desired = inputs[DESIRED]
        outs = {
            TENANT: tenant,
            DESIRED: desired,
            LIVE: desired,
            ADOPTED: adopted,
            ADOPTION_RECORD: record,
            LAST_PATCH: previous.get(LAST_PATCH),
            LAST_PATCH_AT: previous.get(LAST_PATCH_AT),
            LAST_PATCH_VALUE: previous.get(LAST_PATCH_VALUE),
            STACK: inputs.get(STACK),
        }
        if graph.live_value() != desired:
            outs[LAST_PATCH] = graph.write_bitlocker_access(desired)
            outs[LAST_PATCH_AT] = now_iso()  # when Graph accepted it: the consistency window starts here
            outs[LAST_PATCH_VALUE] = desired
        return outs

    def _settled(self, tenant: str, recorded: dict[str, Any], seen: bool | None) -> bool | None:
        """The live value `seen`, re-read while it disagrees with our own recent PATCH."""
        graph = self.session.graph_client(tenant)
        window = self.session.consistency_window()
        written, written_at = recorded.get(LAST_PATCH_VALUE), recorded.get(LAST_PATCH_AT)
        return settled_value(seen, written, written_at, graph.read_bitlocker_access, window=window)


def _adoption_record(props: dict[str, Any]) -> str:
    """The adoption record's id; without one in state nothing may be written (the value to restore would be lost).

    The record's `adoptedValue` cannot tell: Pulumi drops an input that is None, so a record
    of a null value and no record at all look alike; its id is never None. The record goes
    missing when `pulumi up --skip-preview --exclude` leaves it out: the engine then still
    creates the setting, without it (measured with Pulumi v3.274.1).
    """
    record = props.get(ADOPTION_RECORD)
    if not isinstance(record, str) or not record:
        raise ConfigurationError(
            f"The adoption record {adoption_urn(props.get(STACK))} is not in state (left out with --exclude or "
            "--target?), so the value this tenant has now could not be restored at destroy; nothing was written. "
            "Run `pulumi up` without leaving it out"
        )
    return record


class BitlockerKeyAccess(dyn.Resource, module="entra", name="BitlockerKeyAccess"):
    """Declares, for one tenant, whether device owners may read their own BitLocker keys."""

    # Attribute names are the state's property names, which Pulumi shows to users.
    tenantId: pulumi.Output[str]  # noqa: N815
    allowedToReadBitlockerKeysForOwnedDevice: pulumi.Output[bool]  # noqa: N815
    liveValue: pulumi.Output[bool | None]  # noqa: N815
    adoptedValue: pulumi.Output[bool | None]  # noqa: N815
    lastPatchRequestId: pulumi.Output[str | None]  # noqa: N815
    lastPatchAt: pulumi.Output[str | None]  # noqa: N815
    lastPatchValue: pulumi.Output[bool | None]  # noqa: N815
    adoptionRecord: pulumi.Output[str]  # noqa: N815

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
        props = {
            TENANT: tenant_id,
            DESIRED: allowed,
            ADOPTED: adopted_value,
            ADOPTION_RECORD: adoption_record,
            STACK: pulumi.get_stack(),
            LIVE: None,
            LAST_PATCH: None,
            LAST_PATCH_AT: None,
            LAST_PATCH_VALUE: None,
        }
        super().__init__(BitlockerKeyAccessProvider(), resource_name, props, opts)
