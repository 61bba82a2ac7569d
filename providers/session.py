"""The provider process's shared state: settings, one HTTP client, one token source per tenant.

`configure` (called once per provider process with the whole stack config) installs the
settings; everything else is built on first use and kept for the life of the process.
Nothing here is reachable from the pickled provider object.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Mapping
from typing import Any

import httpx

from .credentials import Credential, resolve_credential
from .graph import GraphClient
from .settings import Endpoints, Sources, resolve_endpoints
from .tokens import token_source

__all__ = ["USER_AGENT", "configure", "graph_client", "validate_settings"]

USER_AGENT = "bitlocker-policy/0.1"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)

_lock = threading.Lock()
_sources: Sources | None = None
_http: httpx.Client | None = None
_clients: dict[str, GraphClient] = {}


def configure(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
    """Install the stack config; drops clients built from earlier settings."""
    global _sources
    with _lock:
        _sources = Sources(dict(config), dict(os.environ if environ is None else environ))
        _clients.clear()


def validate_settings() -> None:
    """Raise the ConfigurationError the settings would meet, without any network call."""
    with _lock:
        _resolve()


def _resolve() -> tuple[Endpoints, Credential]:
    global _sources
    if _sources is None:
        _sources = Sources({}, dict(os.environ))
    return resolve_endpoints(_sources), resolve_credential(_sources)


def graph_client(tenant: str) -> GraphClient:
    """The Graph client for `tenant`, built once per process from the configured settings."""
    global _http
    with _lock:
        client = _clients.get(tenant.lower())
        if client is None:
            endpoints, credential = _resolve()
            if _http is None:
                _http = new_http_client()
            client = GraphClient(_http, endpoints.graph_endpoint, token_source(credential, tenant, endpoints, _http))
            _clients[tenant.lower()] = client
        return client


def new_http_client() -> httpx.Client:
    """One TLS configuration for tokens and Graph: the system trust store, or SSL_CERT_FILE."""
    return httpx.Client(
        verify=ssl.create_default_context(),
        timeout=TIMEOUT,
        headers={"User-Agent": USER_AGENT},
        trust_env=True,
    )
