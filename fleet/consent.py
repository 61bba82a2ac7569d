"""Admin-consent links: one multi-tenant app, consented once in each customer tenant.

learn.microsoft.com/entra/identity/enterprise-apps/grant-admin-consent ("Construct the URL
for granting tenant-wide admin consent"): `https://login.microsoftonline.com/{organization}/
adminconsent?client_id={client-id}`, opened by a Privileged Role Administrator (or Global
Administrator) of that tenant, grants the application permissions the app registration requests.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fleet.stacks import StackFile
from providers.common.errors import ConfigurationError
from providers.config.settings import CLIENT_ID, resolve_endpoints

__all__ = ["consent_url"]


def consent_url(stack: StackFile, tenant: str, client_id: str | None = None) -> tuple[str, str]:
    """The app (`client_id`, else the stack's own) and the URL an administrator of `tenant` opens to consent to it."""
    client_id = client_id or stack.sources.get(CLIENT_ID)
    if not client_id:
        raise ConfigurationError(
            f"Stack {stack.name} has no app to consent to: pass --client-id, or set {CLIENT_ID.describe()} in {stack.path}"
        )
    authority = resolve_endpoints(stack.sources).authority_host
    return client_id, f"{authority}/{tenant}/adminconsent?{urlencode({'client_id': client_id})}"
