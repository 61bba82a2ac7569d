"""Which tenant a stack names, and which tenant a token is for.

A tenant may be spelled as its GUID or as any verified domain; the product keys state, diff
and outputs on the GUID, which OIDC discovery gives as the `issuer`
(`GET {authority}/{tenant}/v2.0/.well-known/openid-configuration` → `issuer`
`https://login.microsoftonline.com/{GUID}/v2.0`; learn.microsoft.com, "OpenID Connect on
the Microsoft identity platform", "Find your app's OpenID configuration document URI").
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from providers.common.errors import AuthenticationError, UnreachableError
from providers.common.outside_text import one_line
from providers.common.token_claims import token_claim
from providers.config.settings import AUTHORITY_HOST, ENVIRONMENT, TENANT_ID
from providers.config.tenant_names import is_guid
from providers.graph.retry import wire_problem
from providers.signin.discovery_cache import DiscoveryCache, is_openid_configuration
from providers.signin.entra_answers import checked

__all__ = ["DISCOVERY_SUFFIX", "TenantDirectory", "token_tenant"]

DISCOVERY_SUFFIX = "/v2.0/.well-known/openid-configuration"


class TenantDirectory:
    """Resolves tenant spellings to GUIDs through OIDC discovery, one request per spelling.

    The discovery documents it fetched are also what MSAL reads (see `tokens._MsalHttp`),
    and they are kept in a DiscoveryCache (across processes when it has a file), so Entra
    is asked for each document once a day at most.
    """

    def __init__(self, http: httpx.Client, authority_host: str, cache: DiscoveryCache | None = None):
        self._http = http
        self._authority_host = authority_host
        self._cache = cache or DiscoveryCache()

    def discovery_url(self, tenant: str) -> str:
        """The OIDC discovery document's URL for a tenant spelling (domains are case-insensitive)."""
        return f"{self._authority_host}/{tenant.lower()}{DISCOVERY_SUFFIX}"

    def document(self, url: str) -> httpx.Response:
        """A discovery document: from the cache, else GET (a document is cached; an answer
        no retry could fix, or a success that is no OpenID configuration, is an AuthenticationError)."""
        cached = self._cache.get(url)
        if cached is not None:
            return httpx.Response(200, text=cached, request=httpx.Request("GET", url))
        try:
            response = self._http.get(url)
        except httpx.RequestError as exc:
            raise UnreachableError(
                f"Could not reach Entra ID at {self._authority_host} ({wire_problem(exc)}); check "
                f"{AUTHORITY_HOST.describe()}, {ENVIRONMENT.key}, the network and SSL_CERT_FILE"
            ) from None
        what = f"Entra ID's OIDC discovery for {url.removesuffix(DISCOVERY_SUFFIX)}"
        fix = f"check {AUTHORITY_HOST.describe()} and {ENVIRONMENT.key}"
        if checked(response, what, fix).is_success:
            if not is_openid_configuration(response.text):
                raise UnreachableError(
                    f"{what} answered with a JSON object that is no OpenID configuration "
                    f"(issuer, token_endpoint and authorization_endpoint as text); {fix}"
                )
            self._cache.put(url, response.text)
        return response

    def guid(self, tenant: str) -> str:
        """The tenant's GUID, lower-case: as given, or from the `issuer` of its discovery document."""
        if is_guid(tenant):
            return tenant.lower()
        response = self.document(self.discovery_url(tenant))
        if not response.is_success:
            raise AuthenticationError(
                f"Entra ID knows no tenant {tenant!r}: AADSTS90002: check {TENANT_ID.describe()} "
                f"(the tenant's GUID or one of its verified domains) and {ENVIRONMENT.key}",
                (90002,),
            )
        issuer = str(response.json()["issuer"])
        guid = _guid_in_issuer(issuer)
        if guid is None:
            raise UnreachableError(
                f"Entra ID's OIDC discovery for tenant {tenant!r} names no tenant GUID in its issuer "
                f"({one_line(issuer)!r}); check {AUTHORITY_HOST.describe()} and {ENVIRONMENT.key}"
            )
        if self._cache.get(self.discovery_url(guid)) is None:  # the same document: MSAL needs no second request
            self._cache.put(self.discovery_url(guid), response.text)
        return guid


def _guid_in_issuer(issuer: str) -> str | None:
    """`https://HOST/{GUID}/v2.0` → GUID."""
    segments = urlsplit(issuer).path.strip("/").split("/")
    return segments[0].lower() if segments and is_guid(segments[0]) else None


def token_tenant(access_token: str) -> str | None:
    """The `tid` claim of a JWT access token, or None when the token is not a readable JWT.

    Microsoft calls Graph access tokens opaque to clients, so this is a best-effort guard
    (learn.microsoft.com, "Access tokens in the Microsoft identity platform": `tid`).
    """
    tid = token_claim(access_token, "tid")
    return tid.lower() if tid else None
