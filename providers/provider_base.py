"""What both dynamic providers of this product share: one Session per process, one-line errors,
the operation's deadline, the field they manage, and the rules of tenant identity (a replacement)
and of giving the adopted value back at delete (retainOnDelete).

Providers are pickled by reference into Pulumi's state: they hold no state of their own that
could be pickled (`__getstate__` returns nothing). The dynamic-provider host configures every
provider class of a process with the whole stack config; they all get the process's one
Session, so the process has one HTTP client, one token and one view of the live value.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import pulumi.dynamic as dyn

from providers.common.deadline import operation_deadline
from providers.common.errors import BitlockerPolicyError
from providers.config.retention import retain_on_delete
from providers.config.settings import PROVIDER_SETTINGS, RETAIN_ON_DELETE, UNSUPPORTED_KEYS, Sources
from providers.config.tenant_names import tenant_problem
from providers.graph.authorization_policy import BITLOCKER_KEYS, PolicyField
from providers.properties import TENANT_PROPERTY

if TYPE_CHECKING:  # the program process declares resources and must not import httpx or msal
    from providers.session import Session

__all__ = ["SessionProvider", "one_line_errors", "replace_tenant", "tenant_failure"]

_Method = TypeVar("_Method", bound=Callable[..., Any])
_BUG_TRACEBACK_FRAMES = 32
_PROVIDER_KEYS = [key for setting in PROVIDER_SETTINGS for key in (setting.key, *setting.aliases)] + list(UNSUPPORTED_KEYS)
_sessions: dict[tuple[tuple[str, str], ...], Session] = {}
_sessions_lock = threading.Lock()


def _process_session(sources: Sources) -> Session:
    """The process's Session for this stack config, built on first use."""
    from providers.session import Session

    key = tuple(sorted((k, str(v)) for k, v in sources.config.items() if v is not None))
    with _sessions_lock:
        if key not in _sessions:
            _sessions[key] = Session(sources)
        return _sessions[key]


def one_line_errors(method: _Method) -> _Method:
    """Let the product's own errors reach the CLI as their message alone, not a traceback.

    Anything else is a bug: its traceback goes into the message, since `configure` sets
    sys.tracebacklimit to 0 in the provider process. Every request and retry of one
    operation shares one deadline (bitlocker-policy:deadlineSeconds).
    """

    @functools.wraps(method)
    def wrapper(self: SessionProvider, *args: Any, **kwargs: Any) -> Any:
        try:
            with operation_deadline(self.session.configuration.deadline_seconds):
                return method(self, *args, **kwargs)
        except BitlockerPolicyError as error:
            raise error.with_traceback(None) from None
        except Exception as error:
            details = "".join(traceback.format_exception(error, limit=_BUG_TRACEBACK_FRAMES))
            raise RuntimeError(f"bitlocker-policy failed unexpectedly; please report this:\n{details}") from None

    return wrapper  # type: ignore[return-value]


class SessionProvider(dyn.ResourceProvider):
    """A dynamic provider whose process state (a Session) is never pickled into Pulumi's state."""

    field: ClassVar[PolicyField] = BITLOCKER_KEYS  # the authorization policy's field both providers manage
    _session: Session | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Nothing of an instance is pickled: the class alone, by reference."""
        return {}

    def configure(self, req: dyn.ConfigureRequest) -> None:
        """Receive the whole stack config (secrets in plaintext) once per provider process."""
        from providers.engine_watch import watch_engine

        watch_engine()  # no provider process outlives the engine that started it
        self._session = _process_session(Sources({key: req.config.get(key) for key in _PROVIDER_KEYS}, dict(os.environ)))
        self._session.warm_up()
        # The dynamic-provider host reports errors with traceback.format_exc(); in this
        # process, show our errors as one line (see one_line_errors).
        sys.tracebacklimit = 0

    @property
    def session(self) -> Session:
        """The process's Session (from the environment alone if `configure` never ran)."""
        if self._session is None:
            self._session = _process_session(Sources({}, dict(os.environ)))
        return self._session

    def retain_on_delete(self, stack: Any) -> bool:
        """retainOnDelete as meant now (providers/config/retention.py); a ConfigurationError when that cannot be told."""
        from providers.config.invocation import pulumi_command

        return retain_on_delete(stack if isinstance(stack, str) else None, self.session.sources, pulumi_command(), Path.cwd())

    def serving_preview(self) -> bool:
        """Whether this process serves `pulumi preview` (its command line says so; False when it cannot be told)."""
        from providers.config.invocation import pulumi_command

        command = pulumi_command()
        return command is not None and command.subcommand == "preview"

    def same_tenant(self, old: Any, new: str) -> str | None:
        """The GUID when `old` and `new` name one tenant, else None. No request for equal spellings."""
        if not isinstance(old, str):
            return None
        if old.lower() == new.lower():
            return self.session.tenant_guid(new)
        old_guid, new_guid = self.session.tenant_guid(old), self.session.tenant_guid(new)
        return new_guid if old_guid == new_guid else None

    def restore(self, tenant: str, adopted: Any, stack: Any, *, fallback: bool = False) -> None:
        """Give the tenant back the value found at adoption, unless it was null or retainOnDelete is true now.

        The setting restores: 1 PATCH, and a word when retainOnDelete keeps the tenant's value.
        The adoption record is the `fallback` for a state a crash left with it alone: it writes only
        when the tenant lacks the value (after the setting's own delete this process knows it has
        it: no request), and says nothing (the setting has said it).
        """
        if not isinstance(adopted, bool):
            return  # nothing to give back
        if self.retain_on_delete(stack):
            if not fallback:
                print(f"{RETAIN_ON_DELETE.key} is true: the tenant keeps its current value", file=sys.stderr)
            return
        graph = self.session.graph_client(tenant)
        if not fallback or graph.live_value(self.field) != adopted:
            graph.write(self.field, adopted)


def replace_tenant() -> dyn.DiffResult:
    """Another tenant is a replacement that deletes (gives the old tenant its value back) before it creates."""
    return dyn.DiffResult(changes=True, replaces=[TENANT_PROPERTY], delete_before_replace=True)


def tenant_failure(tenant: Any) -> dyn.CheckFailure | None:
    """The check failure for a tenant that is neither a GUID nor a domain (whitespace included)."""
    problem = tenant_problem(tenant)
    return dyn.CheckFailure(TENANT_PROPERTY, problem) if problem else None
