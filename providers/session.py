"""What one provider process (or the fleet, per stack) holds: its configuration, and the clients
built from it on first use: one HTTP client, the tenant directory, a Graph client per tenant.

The pickled provider object never holds a Session (providers/provider_base.py).
"""

from __future__ import annotations

import functools
import ssl
import threading
import time
from collections.abc import Callable

import httpx

from providers.common.version import version
from providers.config.settings import Sources
from providers.config.tenant_names import is_guid
from providers.configuration import Configuration, configuration
from providers.graph.authorization_policy import PolicyField
from providers.graph.client import GraphClient
from providers.graph.consistency import settled_value
from providers.graph.retry import DEFAULT_RETRY, RetryingClient, RetryPolicy
from providers.signin.discovery_cache import DiscoveryCache, default_path
from providers.signin.tenants import TenantDirectory

__all__ = ["TIMEOUT", "Session", "new_http_client"]

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
    per_thread: bool = False,
) -> RetryingClient:
    """One TLS configuration for tokens and Graph: the system trust store, or SSL_CERT_FILE; the
    product's version in the User-Agent. A provider builds it in Session.warm_up, off its critical path.

    `per_thread`: for a client many threads share (the fleet's readers), each thread gets connections
    of its own (`_PerThread`)."""
    context = ssl.create_default_context()
    if per_thread and transport is None:
        transport = _PerThread(lambda: httpx.HTTPTransport(verify=context))
    return RetryingClient(
        retry=retry,
        sleep=sleep,
        verify=context,
        timeout=TIMEOUT,
        headers={"User-Agent": f"bitlocker-policy/{version()}"},
        trust_env=True,
        transport=transport,
        mounts=_NO_PROXY_MOUNTS,
    )


class _PerThread(httpx.BaseTransport):
    """A connection pool per thread, all with one TLS context.

    httpcore's pool visits every connection it holds, polling each idle one's socket, on every
    request and every response closed (httpcore/_sync/connection_pool.py,
    `_assign_requests_to_connections`): shared by 64 threads, the pool's upkeep doubled the fleet's
    CPU per tenant (bench/README.md, "Thousands of tenants"). A thread's own pool holds one or two.
    """

    def __init__(self, factory: Callable[[], httpx.BaseTransport]):
        self._factory = factory
        self._local = threading.local()
        self._made: list[httpx.BaseTransport] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send on this thread's own pool."""
        transport: httpx.BaseTransport | None = getattr(self._local, "transport", None)
        if transport is None:
            transport = self._local.transport = self._factory()
            with self._lock:
                self._made.append(transport)
        return transport.handle_request(request)

    def close(self) -> None:
        """Close every thread's pool."""
        with self._lock:
            for transport in self._made:
                transport.close()
            self._made.clear()


class Session:
    """A configuration, and the clients built from it on first use, for the life of the process.

    The configuration is resolved on first use, inside an operation, so that a bad setting is
    that operation's one-line error (providers/provider_base.py), and then kept: the settings
    cannot change within a process.
    """

    def __init__(
        self,
        sources: Sources,
        http_factory: Callable[[], httpx.Client] = new_http_client,
        discovery: DiscoveryCache | None = None,
    ):
        self.sources = sources
        self._http_factory = http_factory
        self._discovery = discovery
        self._configuration: Configuration | None = None
        self._http: httpx.Client | None = None
        self._directory: TenantDirectory | None = None
        self._clients: dict[str, GraphClient] = {}
        self._lock = threading.Lock()
        self._warming = False

    @property
    def configuration(self) -> Configuration:
        """The stack's configuration, or the ConfigurationError that names what to fix (no request)."""
        if self._configuration is None:
            self._configuration = configuration(self.sources)
        return self._configuration

    def tenant_guid(self, tenant: str) -> str:
        """The GUID of a tenant given as GUID or verified domain (one discovery request per domain)."""
        if is_guid(tenant):
            return tenant.lower()
        with self._lock:
            directory = self._tenant_directory()
        return directory.guid(tenant)

    def graph_client(self, tenant: str) -> GraphClient:
        """The Graph client for a tenant (GUID or domain), built once per tenant and process."""
        guid = self.tenant_guid(tenant)
        with self._lock:
            client = self._clients.get(guid)
            if client is None:
                from providers.signin.tokens import token_source  # msal is loaded only when a token is needed

                endpoints, credential = self.configuration.endpoints, self.configuration.credential
                tokens = token_source(credential, guid, endpoints, self._client(), self._tenant_directory())
                client = GraphClient(self._client(), endpoints.graph_endpoint, tokens.token)
                self._clients[guid] = client
            return client

    def settled_live_value(
        self, tenant: str, field: PolicyField, written: bool | None, written_at: str | None, seen: bool | None
    ) -> bool | None:
        """The field's live value `seen`, re-read while it disagrees with our own PATCH of `written` at
        `written_at`, within the consistency window (providers/graph/consistency.py)."""
        graph = self.graph_client(tenant)
        window = self.configuration.consistency_window_seconds
        return settled_value(seen, written, written_at, functools.partial(graph.read, field), window=window)

    def warm_up(self) -> None:
        """Build the HTTP client and load MSAL in the background, while the engine is busy elsewhere.

        `configure` runs at the first provider call, which needs no network; the first
        token is wanted a few engine round trips later. Nothing is sent.
        """

        def prepare() -> None:
            try:
                with self._lock:
                    self._client()
                from providers.signin import tokens  # noqa: F401 -- msal and its imports, loaded ahead of need
            except Exception:  # noqa: S110 -- the call that needs them meets and reports the same failure
                pass

        with self._lock:
            if self._warming:
                return
            self._warming = True
        threading.Thread(target=prepare, name="bitlocker-policy-warm-up", daemon=True).start()

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
            discovery = self._discovery or DiscoveryCache(default_path())
            self._directory = TenantDirectory(self._client(), self.configuration.endpoints.authority_host, discovery)
        return self._directory
