"""The resource: whether device owners may read their own BitLocker recovery keys, per tenant.

The tenant's authorization policy is a singleton that always exists, so `create` adopts
it and remembers the value it found; `delete` puts that value back. Only
defaultUserRolePermissions.allowedToReadBitlockerKeysForOwnedDevice is ever written.

Graph requests per operation (retries aside):
    check  0        create  1 GET, +1 PATCH when the live value differs
    diff   1 GET    (none when the declared value changed)
    update 1 PATCH
    read   1 GET    delete  1 PATCH (restores the adopted value)

This module's path (`providers.bitlocker`) is stored, pickled, in every stack's state:
keep it importable across releases.
"""

from __future__ import annotations

import functools
import re
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import pulumi
import pulumi.dynamic as dyn

from . import session
from .errors import BitlockerPolicyError
from .settings import DESIRED_VALUE, PROVIDER_SETTINGS, TENANT_ID

__all__ = ["BitlockerKeyAccess", "BitlockerKeyAccessProvider"]

TENANT = "tenantId"
DESIRED = "allowedToReadBitlockerKeysForOwnedDevice"
LIVE = "liveValue"
ADOPTED = "adoptedValue"
LAST_PATCH = "lastPatchRequestId"

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.IGNORECASE)

_Method = TypeVar("_Method", bound=Callable[..., Any])
_BUG_TRACEBACK_FRAMES = 32


def _one_line_errors(method: _Method) -> _Method:
    """Let the product's own errors reach the CLI as their message alone, not a traceback.

    Anything else is a bug: its traceback goes into the message, since `configure` sets
    sys.tracebacklimit to 0 in the provider process.
    """

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except BitlockerPolicyError as error:
            raise error.with_traceback(None) from None
        except Exception as error:
            details = "".join(traceback.format_exception(error, limit=_BUG_TRACEBACK_FRAMES))
            raise RuntimeError(f"bitlocker-policy failed unexpectedly; please report this:\n{details}") from None

    return wrapper  # type: ignore[return-value]


class BitlockerKeyAccessProvider(dyn.ResourceProvider):
    """CRUD for the setting. Holds no state: credentials and clients live in `session`."""

    def configure(self, req: dyn.ConfigureRequest) -> None:
        """Receive the whole stack config (secrets in plaintext) once per provider process."""
        session.configure({setting.key: req.config.get(setting.key) for setting in PROVIDER_SETTINGS})
        # The dynamic-provider host reports errors with traceback.format_exc(); in this
        # process, show our errors as one line (see _one_line_errors).
        sys.tracebacklimit = 0

    @_one_line_errors
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        """Validate the inputs and the provider settings, before any network call."""
        session.validate_settings()
        failures = []
        tenant = news.get(TENANT)
        if not isinstance(tenant, str) or not (_GUID.match(tenant) or _DOMAIN.match(tenant)):
            failures.append(
                dyn.CheckFailure(
                    TENANT,
                    f"{TENANT_ID.describe()} must be the tenant's GUID or a verified domain "
                    f"such as contoso.onmicrosoft.com, got {tenant!r}",
                )
            )
        if not isinstance(news.get(DESIRED), bool):
            failures.append(dyn.CheckFailure(DESIRED, f"{DESIRED_VALUE.key} must be true or false, got {news.get(DESIRED)!r}"))
        return dyn.CheckResult(news, failures)

    @_one_line_errors
    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        """Adopt the tenant's policy: remember its value, PATCH only if it differs."""
        graph = session.graph_client(props[TENANT])
        found = graph.read_bitlocker_access()
        request_id = graph.write_bitlocker_access(props[DESIRED]) if found != props[DESIRED] else None
        outs = _outputs(props, live=props[DESIRED], adopted=found, last_patch=request_id)
        return dyn.CreateResult(id_=f"{props[TENANT]}/authorizationPolicy", outs=outs)

    @_one_line_errors
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        """Compare against the live value, so a preview shows drift without --refresh.

        Reads Graph only when the declared value is unchanged: otherwise there is a change anyway.
        """
        if olds.get(TENANT, "").lower() != news[TENANT].lower():
            return dyn.DiffResult(changes=True, replaces=[TENANT], delete_before_replace=False)
        if olds.get(DESIRED) != news[DESIRED]:
            return dyn.DiffResult(changes=True)
        live = session.graph_client(news[TENANT]).read_bitlocker_access()
        return dyn.DiffResult(changes=live != news[DESIRED])

    @_one_line_errors
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        """PATCH the one property this product owns."""
        request_id = session.graph_client(news[TENANT]).write_bitlocker_access(news[DESIRED])
        return dyn.UpdateResult(outs=_outputs(news, live=news[DESIRED], adopted=olds.get(ADOPTED), last_patch=request_id))

    @_one_line_errors
    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        """Refresh: the live value becomes both output and input, so drift shows as a diff."""
        live = session.graph_client(props[TENANT]).read_bitlocker_access()
        inputs = {TENANT: props[TENANT], DESIRED: live}
        outs = _outputs(inputs, live=live, adopted=props.get(ADOPTED), last_patch=props.get(LAST_PATCH))
        return dyn.ReadResult(id_=id_, outs=outs, inputs=inputs)

    @_one_line_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Put back the value found at adoption (retainOnDelete skips this entirely)."""
        adopted = props.get(ADOPTED)
        if isinstance(adopted, bool):
            session.graph_client(props[TENANT]).write_bitlocker_access(adopted)


def _outputs(inputs: dict[str, Any], *, live: bool, adopted: Any, last_patch: Any) -> dict[str, Any]:
    return {
        TENANT: inputs[TENANT],
        DESIRED: inputs[DESIRED],
        LIVE: live,
        ADOPTED: adopted,
        LAST_PATCH: last_patch,
    }


class BitlockerKeyAccess(dyn.Resource, module="entra", name="BitlockerKeyAccess"):
    """Declares, for one tenant, whether device owners may read their own BitLocker keys."""

    # Attribute names are the state's property names, which Pulumi shows to users.
    tenantId: pulumi.Output[str]  # noqa: N815
    allowedToReadBitlockerKeysForOwnedDevice: pulumi.Output[bool]  # noqa: N815
    liveValue: pulumi.Output[bool]  # noqa: N815
    adoptedValue: pulumi.Output[bool]  # noqa: N815
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
