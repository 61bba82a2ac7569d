"""Which credential the stack configures, resolved from config and environment.

Exactly one may be configured: two are an error naming both (so a stray variable never
silently changes who signs in). The kinds, in the order the error lists them:

1. workload identity federation (OIDC) when `azuread:useOidc` is true:
   `oidcToken`, else `oidcTokenFilePath`, else the CI system's ID-token endpoint (Azure
   Pipelines when a service connection id is set, else GitHub Actions);
2. managed identity when `azuread:useMsi` is true (user-assigned when a client id is set);
3. a client certificate (`clientCertificatePath` or base64 `clientCertificate`, PEM or PFX);
4. a client secret (`clientSecret`);
5. the Azure CLI's sign-in when `azuread:useCli` is true, and (as in pulumi-azuread) when
   nothing else is configured and `useCli` is not false.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from providers.common.errors import ConfigurationError
from providers.config.settings import (
    CLIENT_CERTIFICATE,
    CLIENT_CERTIFICATE_PASSWORD,
    CLIENT_CERTIFICATE_PATH,
    CLIENT_ID,
    CLIENT_SECRET,
    OIDC_AZURE_SERVICE_CONNECTION_ID,
    OIDC_REQUEST_TOKEN,
    OIDC_REQUEST_URL,
    OIDC_TOKEN,
    OIDC_TOKEN_FILE_PATH,
    USE_CLI,
    USE_MSI,
    USE_OIDC,
    Sources,
    require_https,
)

__all__ = [
    "HOW_TO_CONFIGURE",
    "AzureCli",
    "AzurePipelinesToken",
    "CertificateSource",
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
class CertificateSource:
    """Where a certificate is: a file path, or base64 PFX text (never shown)."""

    path: str | None = None
    base64_pfx: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """How a message names this certificate."""
        return f"{CLIENT_CERTIFICATE_PATH.key} {self.path!r}" if self.path else CLIENT_CERTIFICATE.key


@dataclass(frozen=True)
class ClientCertificate:
    """An app registration's certificate: a PEM (key and certificate) or PFX file, or a base64 PFX."""

    client_id: str
    certificate: CertificateSource


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
class AzurePipelinesToken:
    """An OIDC token requested from Azure Pipelines for a service connection at each use."""

    request_url: str
    request_token: str = field(repr=False)
    service_connection_id: str


OidcSource = OidcTokenValue | OidcTokenFile | GitHubActionsToken | AzurePipelinesToken


@dataclass(frozen=True)
class FederatedToken:
    """Workload identity federation: an external OIDC token as the client assertion."""

    client_id: str
    source: OidcSource


@dataclass(frozen=True)
class ManagedIdentity:
    """The Azure managed identity of the machine; user-assigned when client_id is set."""

    client_id: str | None = None


@dataclass(frozen=True)
class AzureCli:
    """The Azure CLI's signed-in account (`az login`); `fallback` when nothing else was configured."""

    fallback: bool = False


Credential = ClientSecret | ClientCertificate | FederatedToken | ManagedIdentity | AzureCli

HOW_TO_CONFIGURE = (
    f"set {CLIENT_SECRET.describe()}, or {CLIENT_CERTIFICATE_PATH.describe()}, "
    f"or {USE_OIDC.key}=true with an OIDC token source, or {USE_MSI.key}=true"
)


def resolve_credential(sources: Sources) -> Credential:
    """The one credential the settings describe; a ConfigurationError names what to set."""
    certificates = [setting for setting in (CLIENT_CERTIFICATE_PATH, CLIENT_CERTIFICATE) if sources.get(setting)]
    if len(certificates) > 1:
        raise ConfigurationError(f"Set only one of {CLIENT_CERTIFICATE_PATH.describe()} and {CLIENT_CERTIFICATE.describe()}.")
    configured = [
        setting
        for setting, present in (
            (USE_OIDC, sources.flag(USE_OIDC)),
            (USE_MSI, sources.flag(USE_MSI)),
            (certificates[0] if certificates else CLIENT_CERTIFICATE_PATH, bool(certificates)),
            (CLIENT_SECRET, bool(sources.get(CLIENT_SECRET))),
            (USE_CLI, sources.flag(USE_CLI)),
        )
        if present
    ]
    if not configured:
        if sources.get(USE_CLI) is None:
            return AzureCli(fallback=True)
        raise ConfigurationError(
            f"No credential for Microsoft Graph is configured: {HOW_TO_CONFIGURE} "
            f"({USE_CLI.key} is false, so the Azure CLI's sign-in is not tried)."
        )
    if len(configured) > 1:
        names = " and ".join(setting.describe() for setting in configured)
        raise ConfigurationError(f"More than one credential is configured ({names}); keep exactly one.")
    chosen = configured[0]
    if chosen is USE_MSI:
        return ManagedIdentity(client_id=sources.get(CLIENT_ID))
    if chosen is USE_CLI:
        return AzureCli()
    client_id = sources.get(CLIENT_ID)
    if not client_id:
        raise ConfigurationError(f"{CLIENT_ID.describe()} is required with {chosen.key}.")
    if chosen is USE_OIDC:
        return FederatedToken(client_id, _oidc_source(sources))
    if chosen in (CLIENT_CERTIFICATE_PATH, CLIENT_CERTIFICATE):
        certificate = CertificateSource(
            path=sources.get(CLIENT_CERTIFICATE_PATH),
            base64_pfx=sources.get(CLIENT_CERTIFICATE),
            password=sources.get(CLIENT_CERTIFICATE_PASSWORD),
        )
        return ClientCertificate(client_id, certificate)
    return ClientSecret(client_id, secret=sources.get(CLIENT_SECRET) or "")


def _oidc_source(sources: Sources) -> OidcSource:
    token = sources.get(OIDC_TOKEN)
    if token:
        return OidcTokenValue(token)
    path = sources.get(OIDC_TOKEN_FILE_PATH)
    if path:
        return OidcTokenFile(path)
    url, request_token = sources.get(OIDC_REQUEST_URL), sources.get(OIDC_REQUEST_TOKEN)
    if url and request_token:
        url = require_https(OIDC_REQUEST_URL, url)
        connection = sources.get(OIDC_AZURE_SERVICE_CONNECTION_ID)
        if connection:
            return AzurePipelinesToken(url, request_token, connection)
        if url == sources.environ.get("SYSTEM_OIDCREQUESTURI"):
            raise ConfigurationError(
                f"In Azure Pipelines, {USE_OIDC.key} needs {OIDC_AZURE_SERVICE_CONNECTION_ID.describe()}: "
                "the id of the workload identity federation service connection."
            )
        return GitHubActionsToken(url, request_token)
    raise ConfigurationError(
        f"{USE_OIDC.key} is true but no OIDC token is available: set {OIDC_TOKEN.describe()}, "
        f"or {OIDC_TOKEN_FILE_PATH.describe()}, or run in GitHub Actions with "
        "`permissions: id-token: write` (which sets ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN), "
        f"or in Azure Pipelines with {OIDC_AZURE_SERVICE_CONNECTION_ID.describe()} "
        "(SYSTEM_OIDCREQUESTURI and SYSTEM_ACCESSTOKEN come from the pipeline)."
    )
