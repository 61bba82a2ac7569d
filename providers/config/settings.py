"""Where each setting comes from: stack config first, then environment variables.

Key names and variables follow pulumi-azuread, so a stack that already configures
`azuread:*` works unchanged.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from providers.common.errors import ConfigurationError
from providers.config.clouds import CLOUDS, KNOWN_AUTHORITY_HOSTS, cloud_named
from providers.graph.authorization_policy import BITLOCKER_KEYS

__all__ = [
    "AUTHORITY_HOST",
    "CLIENT_CERTIFICATE",
    "CLIENT_CERTIFICATE_PASSWORD",
    "CLIENT_CERTIFICATE_PATH",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "CONSISTENCY_WINDOW",
    "CUSTOMER_NAME",
    "DEADLINE_SECONDS",
    "DESIRED_VALUE",
    "ENVIRONMENT",
    "GRAPH_ENDPOINT",
    "OIDC_AZURE_SERVICE_CONNECTION_ID",
    "OIDC_REQUEST_TOKEN",
    "OIDC_REQUEST_URL",
    "OIDC_TOKEN",
    "OIDC_TOKEN_FILE_PATH",
    "PROVIDER_SETTINGS",
    "RETAIN_ON_DELETE",
    "TENANT_ID",
    "UNSUPPORTED_KEYS",
    "USE_CLI",
    "USE_MSI",
    "USE_OIDC",
    "Endpoints",
    "Setting",
    "Sources",
    "declared_value",
    "parse_bool",
    "require_https",
    "resolve_endpoints",
    "value_text",
]


@dataclass(frozen=True)
class Setting:
    """A stack config key (and other spellings of it) and the environment variables that stand in for it, in order."""

    key: str
    env: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    def describe(self) -> str:
        """`key` or `key` (or VAR, VAR): how a message names this setting."""
        return f"{self.key} (or {', '.join(self.env)})" if self.env else self.key


TENANT_ID = Setting("azuread:tenantId", ("ARM_TENANT_ID", "AZURE_TENANT_ID"))
CLIENT_ID = Setting("azuread:clientId", ("ARM_CLIENT_ID", "AZURE_CLIENT_ID"))
CLIENT_SECRET = Setting("azuread:clientSecret", ("ARM_CLIENT_SECRET",))
CLIENT_CERTIFICATE = Setting("azuread:clientCertificate", ("ARM_CLIENT_CERTIFICATE",))
CLIENT_CERTIFICATE_PATH = Setting("azuread:clientCertificatePath", ("ARM_CLIENT_CERTIFICATE_PATH",))
CLIENT_CERTIFICATE_PASSWORD = Setting("azuread:clientCertificatePassword", ("ARM_CLIENT_CERTIFICATE_PASSWORD",))
USE_OIDC = Setting("azuread:useOidc", ("ARM_USE_OIDC",))
OIDC_TOKEN = Setting("azuread:oidcToken", ("ARM_OIDC_TOKEN",))
OIDC_TOKEN_FILE_PATH = Setting("azuread:oidcTokenFilePath", ("ARM_OIDC_TOKEN_FILE_PATH", "AZURE_FEDERATED_TOKEN_FILE"))
# The request URL and token of the CI system's ID-token endpoint: GitHub Actions' variables,
# then Azure Pipelines' (as go-azure-sdk, behind pulumi-azuread, falls back to them).
OIDC_REQUEST_TOKEN = Setting(
    "azuread:oidcRequestToken", ("ARM_OIDC_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SYSTEM_ACCESSTOKEN")
)
OIDC_REQUEST_URL = Setting(
    "azuread:oidcRequestUrl", ("ARM_OIDC_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_URL", "SYSTEM_OIDCREQUESTURI")
)
# pulumi-azuread calls it adoPipelineServiceConnectionId (terraform-provider-azuread's
# ado_pipeline_service_connection_id, env ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID then
# ARM_OIDC_AZURE_SERVICE_CONNECTION_ID); oidcAzureServiceConnectionId is accepted too.
OIDC_AZURE_SERVICE_CONNECTION_ID = Setting(
    "azuread:adoPipelineServiceConnectionId",
    ("ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID", "ARM_OIDC_AZURE_SERVICE_CONNECTION_ID"),
    aliases=("azuread:oidcAzureServiceConnectionId",),
)
USE_MSI = Setting("azuread:useMsi", ("ARM_USE_MSI",))
USE_CLI = Setting("azuread:useCli", ("ARM_USE_CLI",))
ENVIRONMENT = Setting("azuread:environment", ("ARM_ENVIRONMENT",))
GRAPH_ENDPOINT = Setting("bitlocker-policy:graphEndpoint")
AUTHORITY_HOST = Setting("bitlocker-policy:authorityHost", ("AZURE_AUTHORITY_HOST",))
DESIRED_VALUE = Setting(f"bitlocker-policy:{BITLOCKER_KEYS.name}")
RETAIN_ON_DELETE = Setting("bitlocker-policy:retainOnDelete")
CUSTOMER_NAME = Setting("bitlocker-policy:customerName")  # the fleet's customer pages; the program ignores it
DEADLINE_SECONDS = Setting("bitlocker-policy:deadlineSeconds")
CONSISTENCY_WINDOW = Setting("bitlocker-policy:consistencyWindowSeconds")

# Everything the provider process reads from the stack config (the tenant arrives as an input).
PROVIDER_SETTINGS = (
    CLIENT_ID,
    CLIENT_SECRET,
    CLIENT_CERTIFICATE,
    CLIENT_CERTIFICATE_PATH,
    CLIENT_CERTIFICATE_PASSWORD,
    USE_OIDC,
    OIDC_TOKEN,
    OIDC_TOKEN_FILE_PATH,
    OIDC_REQUEST_TOKEN,
    OIDC_REQUEST_URL,
    OIDC_AZURE_SERVICE_CONNECTION_ID,
    USE_MSI,
    USE_CLI,
    ENVIRONMENT,
    GRAPH_ENDPOINT,
    AUTHORITY_HOST,
    RETAIN_ON_DELETE,
    DEADLINE_SECONDS,
    CONSISTENCY_WINDOW,
)

# pulumi-azuread keys this product does not support, each with what to do instead. Refused
# by name at preview so that none is silently ignored (pulumi/pulumi-azuread, provider config).
UNSUPPORTED_KEYS: dict[str, str] = {
    "azuread:msiEndpoint": "MSAL finds the managed-identity endpoint itself (IMDS, App Service, Azure Arc); remove it",
    "azuread:metadataHost": "set azuread:environment, or bitlocker-policy:authorityHost and bitlocker-policy:graphEndpoint",
    "azuread:clientIdFilePath": "set azuread:clientId (or ARM_CLIENT_ID)",
    "azuread:clientSecretFilePath": "set azuread:clientSecret as a secret (or ARM_CLIENT_SECRET)",
    "azuread:useAksWorkloadIdentity": "set azuread:useOidc true: AZURE_FEDERATED_TOKEN_FILE is read as the OIDC token file",
    "azuread:partnerId": "this product sends no partner id; remove it",
    "azuread:disableTerraformPartnerId": "this product sends no partner id; remove it",
}


def parse_bool(raw: Any) -> bool | None:
    """The one reading of every boolean setting: a bool, or the text true or false in any case; None for
    anything else (yes, 1, on included). The CLI writes and type-checks true and false
    (pulumi/pulumi sdk/go/common/workspace/project.go, ValidateConfigValue); its Python SDK reads
    True and False too (sdk/python/lib/pulumi/config.py, _get_bool)."""
    if isinstance(raw, bool):
        return raw
    return {"true": True, "false": False}.get(raw.strip().lower()) if isinstance(raw, str) else None


@dataclass(frozen=True)
class Sources:
    """A stack's config as the program gets it (secrets decrypted, Pulumi.yaml's values under the stack's),
    then the process environment: every setting is answered here, and every boolean by parse_bool."""

    config: Mapping[str, Any]
    environ: Mapping[str, str]

    def get(self, setting: Setting) -> str | None:
        """The setting's value: the config key (or an alias) if set, else the first environment variable set."""
        value = next((self.config[k] for k in (setting.key, *setting.aliases) if self.config.get(k) not in (None, "")), None)
        if value is None:
            value = next((self.environ[v] for v in setting.env if self.environ.get(v)), None)
        return None if value is None else str(value)

    def boolean(self, setting: Setting) -> bool | None:
        """A boolean setting, None when unset; anything but true or false is a ConfigurationError naming the key."""
        raw = self.get(setting)
        parsed = parse_bool(raw)
        if parsed is None and raw is not None:
            raise ConfigurationError(f"{setting.describe()} must be true or false, got {raw!r}")
        return parsed

    def flag(self, setting: Setting) -> bool:
        """A boolean setting, false when unset."""
        return self.boolean(setting) or False

    def declared(self) -> bool:
        """The declared value (required); a ConfigurationError naming the key when it is not true or false."""
        return declared_value(self.get(DESIRED_VALUE))


def value_text(value: bool | None) -> str:
    """true / false / null, as stack files and Graph spell them (what parse_bool reads back)."""
    return "null" if value is None else str(value).lower()


def declared_value(raw: Any) -> bool:
    """The declared value (an input or a config value) as a boolean, or the ConfigurationError that names the key."""
    parsed = parse_bool(raw)
    if parsed is None:
        raise ConfigurationError(f"{DESIRED_VALUE.key} must be true or false, got {raw!r}")
    return parsed


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
    """A bare https://HOST[:PORT] override; never echoes a value that carries user info."""
    value = sources.get(setting)
    if value is None:
        return None
    problem = "must be an https:// URL with a host and no path, query, user info or fragment"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"{setting.describe()} {problem}; it is not a valid URL") from None
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"{setting.describe()} {problem}; remove the user info (the value is not shown)")
    host = parts.hostname or ""
    if (
        value != value.strip()
        or parts.scheme != "https"
        or not (_HOST.fullmatch(host) or _is_ipv6(host))
        or parts.path.strip("/")
        or parts.query
        or parts.fragment
    ):
        raise ConfigurationError(f"{setting.describe()} {problem}, got {value!r}")
    netloc = f"[{host}]" if ":" in host else host
    return f"https://{netloc}" + (f":{port}" if port is not None else "")


def require_https(setting: Setting, value: str) -> str:
    """`value` when it is an https URL with a host; else a ConfigurationError naming `setting`."""
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme != "https" or not parts.hostname or parts.username is not None:
        raise ConfigurationError(f"{setting.describe()} must be an https:// URL (the value is not shown)")
    return value


_HOST = re.compile(r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*", re.IGNORECASE)


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True
