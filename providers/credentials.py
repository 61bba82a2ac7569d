"""Which credential the stack configures, resolved from config and environment.

Precedence, first match wins, and two matches are an error (so a stray variable never
silently changes who signs in):

1. workload identity federation (OIDC) when `azuread:useOidc` is true:
   `oidcToken`, else `oidcTokenFilePath`, else the GitHub Actions request URL and token;
2. managed identity when `azuread:useMsi` is true (user-assigned when a client id is set);
3. a client certificate (`clientCertificatePath`, PEM or PFX, optional password);
4. a client secret (`clientSecret`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ConfigurationError
from .settings import (
    CLIENT_CERTIFICATE_PASSWORD,
    CLIENT_CERTIFICATE_PATH,
    CLIENT_ID,
    CLIENT_SECRET,
    OIDC_REQUEST_TOKEN,
    OIDC_REQUEST_URL,
    OIDC_TOKEN,
    OIDC_TOKEN_FILE_PATH,
    USE_MSI,
    USE_OIDC,
    Sources,
)

__all__ = [
    "ClientCertificate",
    "ClientSecret",
    "Credential",
    "FederatedToken",
    "GitHubActionsToken",
    "ManagedIdentity",
    "OidcTokenFile",
    "OidcTokenValue",
    "resolve_credential",
]


@dataclass(frozen=True)
class ClientSecret:
    """An app registration's client secret."""

    client_id: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class ClientCertificate:
    """An app registration's certificate: a PEM (key and certificate) or PFX file."""

    client_id: str
    path: str
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class OidcTokenValue:
    """An OIDC token given directly."""

    token: str = field(repr=False)


@dataclass(frozen=True)
class OidcTokenFile:
    """An OIDC token read from a file at each use (Kubernetes rotates it)."""

    path: str


@dataclass(frozen=True)
class GitHubActionsToken:
    """An OIDC token requested from the GitHub Actions runtime at each use."""

    request_url: str
    request_token: str = field(repr=False)


@dataclass(frozen=True)
class FederatedToken:
    """Workload identity federation: an external OIDC token as the client assertion."""

    client_id: str
    source: OidcTokenValue | OidcTokenFile | GitHubActionsToken


@dataclass(frozen=True)
class ManagedIdentity:
    """The Azure managed identity of the machine; user-assigned when client_id is set."""

    client_id: str | None = None


Credential = ClientSecret | ClientCertificate | FederatedToken | ManagedIdentity

_HOW_TO_CONFIGURE = (
    f"set {CLIENT_SECRET.describe()}, or {CLIENT_CERTIFICATE_PATH.describe()}, "
    f"or {USE_OIDC.key}=true with an OIDC token source, or {USE_MSI.key}=true"
)


def resolve_credential(sources: Sources) -> Credential:
    """The one credential the settings describe; a ConfigurationError names what to set."""
    configured = [
        setting
        for setting, present in (
            (USE_OIDC, sources.flag(USE_OIDC)),
            (USE_MSI, sources.flag(USE_MSI)),
            (CLIENT_CERTIFICATE_PATH, bool(sources.get(CLIENT_CERTIFICATE_PATH))),
            (CLIENT_SECRET, bool(sources.get(CLIENT_SECRET))),
        )
        if present
    ]
    if not configured:
        raise ConfigurationError(f"No credential for Microsoft Graph is configured: {_HOW_TO_CONFIGURE}.")
    if len(configured) > 1:
        names = " and ".join(setting.describe() for setting in configured)
        raise ConfigurationError(f"More than one credential is configured ({names}); keep exactly one.")
    chosen = configured[0]
    if chosen is USE_MSI:
        return ManagedIdentity(client_id=sources.get(CLIENT_ID))
    client_id = sources.get(CLIENT_ID)
    if not client_id:
        raise ConfigurationError(f"{CLIENT_ID.describe()} is required with {chosen.key}.")
    if chosen is USE_OIDC:
        return FederatedToken(client_id, _oidc_source(sources))
    if chosen is CLIENT_CERTIFICATE_PATH:
        return ClientCertificate(
            client_id,
            path=sources.get(CLIENT_CERTIFICATE_PATH) or "",
            password=sources.get(CLIENT_CERTIFICATE_PASSWORD),
        )
    return ClientSecret(client_id, secret=sources.get(CLIENT_SECRET) or "")


def _oidc_source(sources: Sources) -> OidcTokenValue | OidcTokenFile | GitHubActionsToken:
    token = sources.get(OIDC_TOKEN)
    if token:
        return OidcTokenValue(token)
    path = sources.get(OIDC_TOKEN_FILE_PATH)
    if path:
        return OidcTokenFile(path)
    url, request_token = sources.get(OIDC_REQUEST_URL), sources.get(OIDC_REQUEST_TOKEN)
    if url and request_token:
        return GitHubActionsToken(url, request_token)
    raise ConfigurationError(
        f"{USE_OIDC.key} is true but no OIDC token is available: set {OIDC_TOKEN.describe()}, "
        f"or {OIDC_TOKEN_FILE_PATH.describe()}, or run in GitHub Actions with "
        "`permissions: id-token: write` (which sets ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN)."
    )
