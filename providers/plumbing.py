"""What every dynamic provider of this product shares: its Session, one-line errors, the deadline.

Providers are pickled by reference into Pulumi's state: they hold no state of their own
that could be pickled (`__getstate__` returns nothing), and everything a provider process
needs is built in `configure` from the stack config and the environment.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pulumi.dynamic as dyn

from .deadline import operation_deadline
from .errors import BitlockerPolicyError
from .names import is_domain, is_guid
from .retention import retain_on_delete
from .settings import PROVIDER_SETTINGS, TENANT_ID, UNSUPPORTED_KEYS, Sources

if TYPE_CHECKING:  # the program process declares resources and must not import httpx or msal
    from .session import Session

__all__ = ["ADOPTED", "STACK", "TENANT", "SessionProvider", "one_line_errors", "tenant_failure"]

TENANT = "tenantId"
ADOPTED = "adoptedValue"
STACK = "stack"  # the stack's name, so that `delete` can read the stack's config file as it is now

_Method = TypeVar("_Method", bound=Callable[..., Any])
_BUG_TRACEBACK_FRAMES = 32


def one_line_errors(method: _Method) -> _Method:
    """Let the product's own errors reach the CLI as their message alone, not a traceback.

    Anything else is a bug: its traceback goes into the message, since `configure` sets
    sys.tracebacklimit to 0 in the provider process. Every request and retry of one
    operation shares one deadline (bitlocker-policy:deadlineSeconds).
    """

    @functools.wraps(method)
    def wrapper(self: SessionProvider, *args: Any, **kwargs: Any) -> Any:
        try:
            with operation_deadline(self.session.deadline_seconds()):
                return method(self, *args, **kwargs)
        except BitlockerPolicyError as error:
            raise error.with_traceback(None) from None
        except Exception as error:
            details = "".join(traceback.format_exception(error, limit=_BUG_TRACEBACK_FRAMES))
            raise RuntimeError(f"bitlocker-policy failed unexpectedly; please report this:\n{details}") from None

    return wrapper  # type: ignore[return-value]


class SessionProvider(dyn.ResourceProvider):
    """A dynamic provider whose process state (a Session) is never pickled into Pulumi's state."""

    _session: Session | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Nothing of an instance is pickled: the class alone, by reference."""
        return {}

    def configure(self, req: dyn.ConfigureRequest) -> None:
        """Receive the whole stack config (secrets in plaintext) once per provider process."""
        from .engine_watch import watch_engine
        from .session import Session

        watch_engine()  # no provider process outlives the engine that started it

        keys = [key for setting in PROVIDER_SETTINGS for key in (setting.key, *setting.aliases)] + list(UNSUPPORTED_KEYS)
        self._session = Session.shared(Sources({key: req.config.get(key) for key in keys}, dict(os.environ)))
        self._session.warm_up()
        # The dynamic-provider host reports errors with traceback.format_exc(); in this
        # process, show our errors as one line (see one_line_errors).
        sys.tracebacklimit = 0

    @property
    def session(self) -> Session:
        """The process's Session (from the environment alone if `configure` never ran)."""
        from .session import Session

        if self._session is None:
            self._session = Session(Sources({}, dict(os.environ)))
        return self._session

    def retain_on_delete(self, stack: Any) -> bool:
        """retainOnDelete as meant now (providers/retention.py); a ConfigurationError when that cannot be told."""
        from .invocation import pulumi_command

        return retain_on_delete(stack if isinstance(stack, str) else None, self.session.sources, pulumi_command(), Path.cwd())

    def same_tenant(self, old: Any, new: str) -> str | None:
        """The GUID when `old` and `new` name one tenant, else None. No request for equal spellings."""
        if not isinstance(old, str):
            return None
        if old.lower() == new.lower():
            return self.session.tenant_guid(new)
        old_guid, new_guid = self.session.tenant_guid(old), self.session.tenant_guid(new)
        return new_guid if old_guid == new_guid else None


def tenant_failure(tenant: Any) -> dyn.CheckFailure | None:
    """The check failure for a tenant that is neither a GUID nor a domain (whitespace included)."""
    if isinstance(tenant, str) and (is_guid(tenant) or is_domain(tenant)):
        return None
    return dyn.CheckFailure(
        TENANT,
        f"{TENANT_ID.describe()} must be the tenant's GUID or a verified domain "
        f"such as contoso.onmicrosoft.com, with no spaces or line breaks, got {tenant!r}",
    )
