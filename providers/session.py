"""What one provider process holds: settings, one HTTP client, tenants, and a token source per tenant.

`SessionProvider.configure` (called by the dynamic-provider host once per provider class and
process, with the whole stack config) gets the process's one Session; everything
network-bound is built on first use and kept for the life of the process. The pickled
provider object never holds a Session.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from typing import ClassVar

import httpx

from .consistency import SETTLE_WINDOW_SECONDS
from .credentials import AzureCli, ClientCertificate, Credential, resolve_credential
from .deadline import OPERATION_DEADLINE_SECONDS
from .discovery_cache import DiscoveryCache, default_path
from .errors import ConfigurationError
from .graph import GraphClient
from .names import is_guid
from .retry import DEFAULT_RETRY, RetryingClient, RetryPolicy
from .settings import (
    CONSISTENCY_WINDOW,
    DEADLINE_SECONDS,
    UNSUPPORTED_KEYS,
    Endpoints,
    Setting,
    Sources,
    resolve_endpoints,
)
from .tenants import TenantDirectory

__all__ = ["TIMEOUT", "USER_AGENT", "Session", "new_http_client"]

USER_AGENT = "bitlocker-policy/0.1"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)

# Managed-identity endpoints are on the machine itself and must not go through a web proxy
# (learn.microsoft.com, "Azure Instance Metadata Service": requests to IMDS must bypass
# proxies; App Service's and Azure Arc's endpoints are on localhost). None = no proxy.
_NO_PROXY_MOUNTS: dict[str, httpx.BaseTransport | None] = {
    f"all://{host}": None for host in ("169.254.169.254", "localhost", "127.0.0.1", "[::1]")
}


def new_http_client(
    transport: httpx.BaseTransport | None = None,
    *,
    retry: RetryPolicy = DEFAULT_RETRY,
    sleep: Callable[[float], None] = time.sleep,
) -> RetryingClient:
    """One TLS configuration for tokens and Graph: the system trust store, or SSL_CERT_FILE."""
    return RetryingClient(
        retry=retry,
        sleep=sleep,
        verify=ssl.create_default_context(),
        timeout=TIMEOUT,
        headers={"User-Agent": USER_AGENT},
        trust_env=True,
        transport=transport,
        mounts=_NO_PROXY_MOUNTS,
    )


class Session:
    """Settings from the stack config and environment, and the clients built from them.

    One provider process serves every dynamic resource of the stack, each through its own
    provider object, and the host configures each of them; `shared` gives them all one
    Session, so the process has one HTTP client, one token and one view of the live value.
    """

    _shared: ClassVar[dict[tuple[tuple[str, str], ...], Session]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def shared(cls, sources: Sources) -> Session:
        """The process's Session for this stack config (built on first use)."""
        key = tuple(sorted((k, str(v)) for k, v in sources.config.items() if v is not None))
        with cls._shared_lock:
            if key not in cls._shared:
                cls._shared[key] = cls(sources)
            return cls._shared[key]

    @classmethod
    def forget_shared(cls) -> None:
        """Drop every shared Session, as a new provider process starts without any (tests)."""
        with cls._shared_lock:
            for session in cls._shared.values():
                session.close()
            cls._shared.clear()

    def __init__(
        self,
        sources: Sources,
        http_factory: Callable[[], httpx.Client] = new_http_client,
        discovery: DiscoveryCache | None = None,
    ):
        self._sources = sources
        self._http_factory = http_factory
        self._discovery = discovery
        self._http: httpx.Client | None = None
        self._directory: TenantDirectory | None = None
        self._clients: dict[str, GraphClient] = {}
        self._lock = threading.Lock()
        self._warming = False
        self._validated: tuple[Endpoints, Credential] | None = None

    @property
    def sources(self) -> Sources:
        """The stack config and environment this Session was built from."""
        return self._sources

    def validate(self) -> tuple[Endpoints, Credential]:
        """The endpoints and credential, or the ConfigurationError they meet, without any request.

        Checked once per process (the settings cannot change within it); `check` and the first
        Graph client both ask, and a certificate file is not read again for the second.
        """
        if self._validated is None:
            self._validated = self._checked_settings()
        return self._validated

    def _checked_settings(self) -> tuple[Endpoints, Credential]:
        refused = [key for key in UNSUPPORTED_KEYS if self._sources.config.get(key) not in (None, "")]
        if refused:
            raise ConfigurationError(
                "; ".join(f"{key} is not supported by bitlocker-policy: {UNSUPPORTED_KEYS[key]}" for key in refused)
            )
        endpoints, credential = resolve_endpoints(self._sources), resolve_credential(self._sources)
        if isinstance(credential, ClientCertificate):
            from .certificates import load_certificate  # cryptography is loaded only for certificates

            load_certificate(credential.certificate)
        if isinstance(credential, AzureCli):
            from .azure_cli import find_az

            find_az(credential.fallback)
        return endpoints, credential

    def deadline_seconds(self) -> float:
        """How long one provider operation may take, all its requests and retries included."""
        return self._seconds(DEADLINE_SECONDS, OPERATION_DEADLINE_SECONDS, above=0.0, most=3600.0)

    def consistency_window(self) -> float:
        """How long after its own write a disagreeing read is taken for Graph's replication lag."""
        return self._seconds(CONSISTENCY_WINDOW, SETTLE_WINDOW_SECONDS, above=-1.0, most=300.0)

    def _seconds(self, setting: Setting, default: float, *, above: float, most: float) -> float:
        raw = self._sources.get(setting)
        if raw is None:
            return default
        try:
            seconds = float(raw)
        except ValueError:
            seconds = above
        if not above < seconds <= most:
            least = "above 0" if above == 0 else "from 0"
            raise ConfigurationError(f"{setting.key} must be a number of seconds {least} and at most {most:g}, got {raw!r}")
        return seconds

    def tenant_guid(self, tenant: str) -> str:
        """The GUID of a tenant given as GUID or verified domain (one discovery request per domain)."""
        if is_guid(tenant):
            return tenant.lower()
        with self._lock:
            directory = self._tenant_directory()
        return directory.guid(tenant)

    def warm_up(self) -> None:
        """Build the HTTP client and load MSAL in the background, while the engine is busy elsewhere.

        `configure` runs at the first provider call, which needs no network; the first
        token is wanted a few engine round trips later. Nothing is sent.
        """

        def prepare() -> None:
            try:
                with self._lock:
                    self._client()
                from . import tokens  # noqa: F401 -- msal and its imports, loaded ahead of need
            except Exception:  # noqa: S110 -- the call that needs them meets and reports the same failure
                pass

        with self._lock:
            if self._warming:
                return
            self._warming = True
        threading.Thread(target=prepare, name="bitlocker-policy-warm-up", daemon=True).start()

    def graph_client(self, tenant: str) -> GraphClient:
        """The Graph client for a tenant (GUID or domain), built once per tenant and process."""
        guid = self.tenant_guid(tenant)
        with self._lock:
            client = self._clients.get(guid)
            if client is None:
                from .tokens import token_source  # msal is loaded only when a token is needed

                endpoints, credential = self.validate()
                http, directory = self._client(), self._tenant_directory()
                tokens = token_source(credential, guid, endpoints, http, directory)
                client = GraphClient(http, endpoints.graph_endpoint, tokens.token)
                self._clients[guid] = client
            return client

    def close(self) -> None:
        """Close the HTTP client (tests; a provider process simply ends)."""
        if self._http is not None:
            self._http.close()

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = self._http_factory()
        return self._http

    def _tenant_directory(self) -> TenantDirectory:
        if self._directory is None:
            authority_host = resolve_endpoints(self._sources).authority_host
            discovery = self._discovery or DiscoveryCache(default_path())
            self._directory = TenantDirectory(self._client(), authority_host, discovery)
        return self._directory
