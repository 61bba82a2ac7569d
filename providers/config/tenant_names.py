"""How a tenant may be spelled: its GUID, or one of its verified domains (no network)."""

from __future__ import annotations

import re
from typing import Any

from providers.config.settings import TENANT_ID

__all__ = ["is_domain", "is_guid", "tenant_problem"]

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_DOMAIN = re.compile(r"(?=.{4,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.IGNORECASE)


def is_guid(value: str) -> bool:
    """Whether `value` is exactly a GUID (no surrounding whitespace)."""
    return _GUID.fullmatch(value) is not None


def is_domain(value: str) -> bool:
    """Whether `value` is exactly a DNS domain name such as contoso.onmicrosoft.com."""
    return _DOMAIN.fullmatch(value) is not None


def tenant_problem(tenant: Any) -> str | None:
    """Why `tenant` names no tenant, naming the setting to fix; None when it is a GUID or a domain."""
    if isinstance(tenant, str) and (is_guid(tenant) or is_domain(tenant)):
        return None
    return (
        f"{TENANT_ID.describe()} must be the tenant's GUID or a verified domain "
        f"such as contoso.onmicrosoft.com, with no spaces or line breaks, got {tenant!r}"
    )
