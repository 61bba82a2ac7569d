"""National clouds: where to get tokens and where Graph lives."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["CLOUDS", "KNOWN_AUTHORITY_HOSTS", "Cloud", "cloud_named"]


@dataclass(frozen=True)
class Cloud:
    """One Entra ID / Microsoft Graph deployment."""

    name: str
    authority_host: str
    graph_endpoint: str


CLOUDS: dict[str, Cloud] = {
    "public": Cloud("public", "https://login.microsoftonline.com", "https://graph.microsoft.com"),
    "usgovernmentl4": Cloud("usgovernmentl4", "https://login.microsoftonline.us", "https://graph.microsoft.us"),
    "usgovernmentl5": Cloud("usgovernmentl5", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
    "china": Cloud("china", "https://login.partner.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn"),
}

_ALIASES = {"global": "public", "usgovernment": "usgovernmentl4", "dod": "usgovernmentl5"}

# Hosts MSAL validates through instance discovery; any other host needs instance_discovery=False.
KNOWN_AUTHORITY_HOSTS = frozenset(urlsplit(cloud.authority_host).hostname for cloud in CLOUDS.values()) | {
    "login.chinacloudapi.cn",
    "login.windows.net",
    "login.microsoft.com",
}


def cloud_named(name: str) -> Cloud | None:
    """The cloud for a pulumi-azuread environment name (case-insensitive), or None."""
    key = name.strip().lower()
    return CLOUDS.get(_ALIASES.get(key, key))
