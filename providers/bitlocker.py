"""The resource: whether device owners may read their own BitLocker recovery keys, per tenant.

The tenant's authorization policy is a singleton that always exists, so `create` adopts
it and remembers the value it found; `delete` puts that value back. Only
defaultUserRolePermissions.allowedToReadBitlockerKeysForOwnedDevice is ever written.
The tenant may be declared as its GUID or any verified domain; outputs and the id carry the
GUID, so a respelling is no change and a real change of tenant deletes before it creates.

Graph requests per operation (retries aside; a tenant given as a domain adds one OIDC
discovery request per process):
    check  0        create  1 GET, +1 PATCH when the live value differs
    diff   1 GET    (none when the declared value changed)
    update 1 PATCH
    read   1 GET    delete  1 PATCH (restores the adopted value; none when it was null)

This module's path (`providers.bitlocker`) is stored, pickled, in every stack's state:
keep it importable across releases.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import pulumi
import pulumi.dynamic as dyn

from .errors import BitlockerPolicyError
from .retry import operation_deadline
from .session import Session
from .settings import DESIRED_VALUE, PROVIDER_SETTINGS, TENANT_ID, UNSUPPORTED_KEYS, Sources
from .tenants import is_guid

__all__ = ["BitlockerKeyAccess", "BitlockerKeyAccessProvider"]

TENANT = "tenantId"
DESIRED = "allowedToReadBitlockerKeysForOwnedDevice"
LIVE = "liveValue"
ADOPTED = "adoptedValue"
LAST_PATCH = "lastPatchRequestId"

_DOMAIN = re.compile(r"(?=.{4,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.IGNORECASE)

_Method = TypeVar("_Method", bound=Callable[..., Any])
_BUG_TRACEBACK_FRAMES = 32


def _one_line_errors(method: _Method) -> _Method:
    """Let the product's own errors reach the CLI as their message alone, not a traceback.

    Anything else is a bug: its traceback goes into the message, since `configure` sets
    sys.tracebacklimit to 0 in the provider process. Every request and retry of one
    operation shares one deadline.
    """

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with operation_deadline():
                return method(*args, **kwargs)
        except BitlockerPolicyError as error:
            raise error.with_traceback(None) from None
        except Exception as error:
            details = "".join(traceback.format_exception(error, limit=_BUG_TRACEBACK_FRAMES))
            raise RuntimeError(f"bitlocker-policy failed unexpectedly; please report this:\n{details}") from None

    return wrapper  # type: ignore[return-value]


class BitlockerKeyAccessProvider(dyn.ResourceProvider):
    """CRUD for the setting. Its process state (a Session) is never pickled into Pulumi's state."""

    _session: Session | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Nothing of an instance is pickled: the class alone, by reference."""
        return {}

    def configure(self, req: dyn.ConfigureRequest) -> None:
        """Receive the whole stack config (secrets in plaintext) once per provider process."""
        keys = [key for setting in PROVIDER_SETTINGS for key in (setting.key, *setting.aliases)] + list(UNSUPPORTED_KEYS)
        self._session = Session(Sources({key: req.config.get(key) for key in keys}, dict(os.environ)))
        # The dynamic-provider host reports errors with traceback.format_exc(); in this
        # process, show our errors as one line (see _one_line_errors).
        sys.tracebacklimit = 0

    @property
    def session(self) -> Session:
        """The process's Session (from the environment alone if `configure` never ran)."""
        if self._session is None:
            self._session = Session(Sources({}, dict(os.environ)))
        return self._session

    @_one_line_errors
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        """Validate the inputs and the provider settings, before any network call."""
        self.session.validate()
        failures = []
        tenant = news.get(TENANT)
        if not isinstance(tenant, str) or not (is_guid(tenant) or _DOMAIN.fullmatch(tenant)):
            failures.append(
                dyn.CheckFailure(
                    TENANT,
                    f"{TENANT_ID.describe()} must be the tenant's GUID or a verified domain "
                    f"such as contoso.onmicrosoft.com, with no spaces or line breaks, got {tenant!r}",
                )
            )
        if not isinstance(news.get(DESIRED), bool):
            failures.append(dyn.CheckFailure(DESIRED, f"{DESIRED_VALUE.key} must be true or false, got {news.get(DESIRED)!r}"))
        return dyn.CheckResult(news, failures)

    @_one_line_errors
    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        """Adopt the tenant's policy: remember its value, PATCH only if it differs."""
        tenant = self.session.tenant_guid(props[TENANT])
        graph = self.session.graph_client(tenant)
        found = graph.read_bitlocker_access()
        request_id = graph.write_bitlocker_access(props[DESIRED]) if found != props[DESIRED] else None
        outs = _outputs(tenant, props[DESIRED], live=props[DESIRED], adopted=found, last_patch=request_id)
        return dyn.CreateResult(id_=f"{tenant}/authorizationPolicy", outs=outs)

    @_one_line_errors
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        """Compare against the live value, so a preview shows drift without --refresh.

        The tenant is compared by GUID: a respelling (GUID ↔ domain) is no change; another
        tenant is a replacement that deletes (restores the old tenant) before it creates.
        Reads Graph only when the declared value is unchanged: otherwise there is a change anyway.
        """
        tenant = self._same_tenant(olds.get(TENANT), news[TENANT])
        if tenant is None:
            return dyn.DiffResult(changes=True, replaces=[TENANT], delete_before_replace=True)
        if olds.get(DESIRED) != news[DESIRED]:
            return dyn.DiffResult(changes=True)
        live = self.session.graph_client(tenant).read_bitlocker_access()
        return dyn.DiffResult(changes=live != news[DESIRED])

    @_one_line_errors
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        """PATCH the one property this product owns."""
        tenant = self.session.tenant_guid(olds[TENANT])
        request_id = self.session.graph_client(tenant).write_bitlocker_access(news[DESIRED])
        outs = _outputs(tenant, news[DESIRED], live=news[DESIRED], adopted=olds.get(ADOPTED), last_patch=request_id)
        return dyn.UpdateResult(outs=outs)

    @_one_line_errors
    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        """Refresh: the live value becomes both output and input, so drift shows as a diff."""
        tenant = self.session.tenant_guid(props[TENANT])
        live = self.session.graph_client(tenant).read_bitlocker_access()
        outs = _outputs(tenant, live, live=live, adopted=props.get(ADOPTED), last_patch=props.get(LAST_PATCH))
        return dyn.ReadResult(id_=id_, outs=outs, inputs={TENANT: tenant, DESIRED: live})

    @_one_line_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Put back the value found at adoption; a null one (or retainOnDelete) leaves the tenant as it is."""
        adopted = props.get(ADOPTED)
        if isinstance(adopted, bool):
            self.session.graph_client(props[TENANT]).write_bitlocker_access(adopted)

    def _same_tenant(self, old: Any, new: str) -> str | None:
        """The GUID when `old` and `new` name one tenant, else None. No request for equal spellings."""
        if not isinstance(old, str):
            return None
        if old.lower() == new.lower():
            return self.session.tenant_guid(new)
        old_guid, new_guid = self.session.tenant_guid(old), self.session.tenant_guid(new)
        return new_guid if old_guid == new_guid else None


def _outputs(tenant: str, desired: Any, *, live: bool | None, adopted: bool | None, last_patch: str | None) -> dict[str, Any]:
    return {TENANT: tenant, DESIRED: desired, LIVE: live, ADOPTED: adopted, LAST_PATCH: last_patch}


class BitlockerKeyAccess(dyn.Resource, module="entra", name="BitlockerKeyAccess"):
    """Declares, for one tenant, whether device owners may read their own BitLocker keys."""

    # Attribute names are the state's property names, which Pulumi shows to users.
    tenantId: pulumi.Output[str]  # noqa: N815
    allowedToReadBitlockerKeysForOwnedDevice: pulumi.Output[bool]  # noqa: N815
    liveValue: pulumi.Output[bool | None]  # noqa: N815
    adoptedValue: pulumi.Output[bool | None]  # noqa: N815
    lastPatchRequestId: pulumi.Output[str | None]  # noqa: N815

    def __init__(
        self,
        resource_name: str,
        *,
        tenant_id: pulumi.Input[str],
        allowed: pulumi.Input[bool],
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            TENANT: tenant_id,
            DESIRED: allowed,
            LIVE: None,
            ADOPTED: None,
            LAST_PATCH: None,
        }
        super().__init__(BitlockerKeyAccessProvider(), resource_name, props, opts)
