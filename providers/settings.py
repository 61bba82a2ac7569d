"""Where each setting comes from: stack config first, then environment variables.

Key names and variables follow pulumi-azuread, so a stack that already configures
`azuread:*` works unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .clouds import CLOUDS, KNOWN_AUTHORITY_HOSTS, cloud_named
from .errors import ConfigurationError

__all__ = [
    "AUTHORITY_HOST",
    "CLIENT_CERTIFICATE_PASSWORD",
    "CLIENT_CERTIFICATE_PATH",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "DESIRED_VALUE",
    "ENVIRONMENT",
    "GRAPH_ENDPOINT",
    "OIDC_REQUEST_TOKEN",
    "OIDC_REQUEST_URL",
    "OIDC_TOKEN",
    "OIDC_TOKEN_FILE_PATH",
    "PROVIDER_SETTINGS",
    "RETAIN_ON_DELETE",
    "TENANT_ID",
    "USE_MSI",
    "USE_OIDC",
    "Endpoints",
    "Setting",
    "Sources",
    "resolve_endpoints",
]


@dataclass(frozen=True)
class Setting:
    """A stack config key and the environment variables that stand in for it, in order."""

    key: str
    env: tuple[str, ...] = ()

    def describe(self) -> str:
        """`key` or `key` (or VAR, VAR): how a message names this setting."""
        return f"{self.key} (or {', '.join(self.env)})" if self.env else self.key


TENANT_ID = Setting("azuread:tenantId", ("ARM_TENANT_ID", "AZURE_TENANT_ID"))
CLIENT_ID = Setting("azuread:clientId", ("ARM_CLIENT_ID", "AZURE_CLIENT_ID"))
CLIENT_SECRET = Setting("azuread:clientSecret", ("ARM_CLIENT_SECRET",))
CLIENT_CERTIFICATE_PATH = Setting("azuread:clientCertificatePath", ("ARM_CLIENT_CERTIFICATE_PATH",))
CLIENT_CERTIFICATE_PASSWORD = Setting("azuread:clientCertificatePassword", ("ARM_CLIENT_CERTIFICATE_PASSWORD",))
USE_OIDC = Setting("azuread:useOidc", ("ARM_USE_OIDC",))
OIDC_TOKEN = Setting("azuread:oidcToken", ("ARM_OIDC_TOKEN",))
OIDC_TOKEN_FILE_PATH = Setting("azuread:oidcTokenFilePath", ("ARM_OIDC_TOKEN_FILE_PATH", "AZURE_FEDERATED_TOKEN_FILE"))
OIDC_REQUEST_TOKEN = Setting("azuread:oidcRequestToken", ("ARM_OIDC_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
OIDC_REQUEST_URL = Setting("azuread:oidcRequestUrl", ("ARM_OIDC_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_URL"))
USE_MSI = Setting("azuread:useMsi", ("ARM_USE_MSI",))
ENVIRONMENT = Setting("azuread:environment", ("ARM_ENVIRONMENT",))
GRAPH_ENDPOINT = Setting("bitlocker-policy:graphEndpoint")
AUTHORITY_HOST = Setting("bitlocker-policy:authorityHost", ("AZURE_AUTHORITY_HOST",))
DESIRED_VALUE = Setting("bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice")
RETAIN_ON_DELETE = Setting("bitlocker-policy:retainOnDelete")

# Everything the provider process reads from the stack config (the tenant arrives as an input).
PROVIDER_SETTINGS = (
    CLIENT_ID,
    CLIENT_SECRET,
    CLIENT_CERTIFICATE_PATH,
    CLIENT_CERTIFICATE_PASSWORD,
    USE_OIDC,
    OIDC_TOKEN,
    OIDC_TOKEN_FILE_PATH,
    OIDC_REQUEST_TOKEN,
    OIDC_REQUEST_URL,
    USE_MSI,
    ENVIRONMENT,
    GRAPH_ENDPOINT,
    AUTHORITY_HOST,
)

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})


@dataclass(frozen=True)
class Sources:
    """The stack config (as `configure` receives it) and the process environment."""

    config: Mapping[str, Any]
    environ: Mapping[str, str]

    def get(self, setting: Setting) -> str | None:
        """The setting's value: the config key if set, else the first environment variable set."""
        value = self.config.get(setting.key)
        if value is None or value == "":
            value = next((self.environ[v] for v in setting.env if self.environ.get(v)), None)
        return None if value is None else str(value)

    def flag(self, setting: Setting) -> bool:
        """A boolean setting; anything but true/false is a configuration error naming the key."""
        value = (self.get(setting) or "").strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ConfigurationError(f"{setting.describe()} must be true or false, got {value!r}")


@dataclass(frozen=True)
class Endpoints:
    """Where tokens come from and where Graph is, for one cloud or its overrides."""

    authority_host: str
    graph_endpoint: str

    @property
    def scope(self) -> str:
        """The app-only scope for Graph."""
        return f"{self.graph_endpoint}/.default"

    @property
    def instance_discovery(self) -> bool:
        """Whether MSAL may validate the authority host against Microsoft's list."""
        return urlsplit(self.authority_host).hostname in KNOWN_AUTHORITY_HOSTS


def resolve_endpoints(sources: Sources) -> Endpoints:
    """The cloud from `azuread:environment`, with the documented host overrides."""
    name = sources.get(ENVIRONMENT) or "public"
    cloud = cloud_named(name)
    if cloud is None:
        raise ConfigurationError(
            f"{ENVIRONMENT.describe()} is {name!r}; use one of {', '.join(CLOUDS)} (or global, usgovernment, dod)"
        )
    return Endpoints(
        authority_host=_https_url(sources, AUTHORITY_HOST) or cloud.authority_host,
        graph_endpoint=_https_url(sources, GRAPH_ENDPOINT) or cloud.graph_endpoint,
    )


def _https_url(sources: Sources, setting: Setting) -> str | None:
    value = sources.get(setting)
    if value is None:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.hostname or parts.path.strip("/") or parts.query:
        raise ConfigurationError(f"{setting.describe()} must be an https:// URL with no path, got {value!r}")
    return f"https://{parts.netloc}"
