"""App-only access tokens for Graph, one cached source per tenant, checked to be for that tenant.

MSAL apps are built lazily (their constructor does OIDC discovery) and keep tokens in
memory, so a provider process asks Entra for a token once and reuses it until it is near
expiry. Whatever Entra answers ends as one error of `errors.py`'s tree: a refusal (a dict)
or an unreadable Azure Arc key file as AuthenticationError; throttling, an outage or a body
MSAL cannot read, checked before MSAL sees it, as UnavailableError or UnreachableError.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import msal

from providers.common.errors import AuthenticationError, ConfigurationError, UnreachableError
from providers.common.outside_text import one_line
from providers.config.credentials import AzureCli, ClientCertificate, ClientSecret, Credential, FederatedToken, ManagedIdentity
from providers.config.settings import (
    AUTHORITY_HOST,
    CLIENT_CERTIFICATE_PATH,
    CLIENT_ID,
    CLIENT_SECRET,
    ENVIRONMENT,
    TENANT_ID,
    Endpoints,
)
from providers.graph.retry import POLICY_EXTENSION, RetryPolicy, wire_problem
from providers.signin.assertions import EXCHANGE_AUDIENCE, assertion
from providers.signin.azure_cli import AzureCliToken
from providers.signin.entra_answers import checked
from providers.signin.tenants import DISCOVERY_SUFFIX, TenantDirectory, token_tenant

__all__ = ["TokenSource", "token_source"]

# MSAL logs what it cannot parse, an access token included (msal/oauth2cli/oauth2.py,
# `Client._obtain_token`), and a provider's or the fleet's stderr lands in CI logs. Every
# failure reaches the user as one of this product's errors, so nothing MSAL logs is needed:
# its loggers (all under "msal", none with a level of its own) stay silent.
logging.getLogger("msal").setLevel(logging.CRITICAL + 1)

_FEDERATION = (
    "check the app's federated credential: issuer, subject (e.g. repo:ORG/REPO:environment:NAME) "
    f"and audience {EXCHANGE_AUDIENCE}"
)

# Entra ID's codes, with what fixes each (learn.microsoft.com, "Microsoft Entra
# authentication and authorization error codes"). Microsoft warns that codes are not a
# contract, so the message also quotes what the description names (a subject, an issuer).
AADSTS_HINTS: dict[int, str] = {
    7000215: f"the client secret is wrong; check {CLIENT_SECRET.describe()}",
    7000222: f"the client secret has expired; create a new one and update {CLIENT_SECRET.key}",
    700016: (
        f"no application with this client id exists in the tenant; check {CLIENT_ID.key} "
        f"and {TENANT_ID.key}, and that the app is registered or consented there"
    ),
    90002: f"the tenant does not exist; check {TENANT_ID.key} and {ENVIRONMENT.key}",
    70021: f"no federated identity credential matches the OIDC token; {_FEDERATION}",
    700211: f"no federated identity credential has the token's issuer; {_FEDERATION}",
    700212: f"no federated identity credential has the token's audience; {_FEDERATION}",
    700213: f"no federated identity credential has the token's subject; {_FEDERATION}",
    # Case-only subject mismatch (Azure/login#515; matching is case-sensitive since August 2024,
    # learn.microsoft.com/entra/identity-platform/reference-breaking-changes).
    7002138: (
        "a federated credential's subject differs from the token's only in upper/lower case, and Entra compares "
        "case-sensitively: copy the subject below into the credential exactly (GitHub keeps the case of "
        "owner, repository and environment names)"
    ),
    700027: (
        "the certificate assertion was refused; upload this certificate to the app "
        f"registration or check {CLIENT_CERTIFICATE_PATH.key}"
    ),
}
# A VM's managed-identity endpoint (IMDS) asks to be retried on 404 ("IMDS endpoint is updating"),
# 410 ("will be available within 70 seconds"), 429 and 5xx, with exponential backoff
# (learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token,
# "Error handling", "Retry guidance"); MSAL leaves retries to its http_client
# (msal/managed_identity.py). Five retries, whose waits (jittered, 3-6 s, then doubling to 60 s)
# add up to 75 s at the least.
IMDS_PATH = "/metadata/identity/oauth2/token"
IMDS_RETRY = RetryPolicy(max_retries=5, base_delay=6.0, max_delay=60.0, statuses=frozenset({404, 410, 429, *range(500, 600)}))

# What a federation refusal's description quotes: "…for presented assertion subject 'repo:…'"
# (700211/700212/700213), or "Assertion Issuer: '…'. Assertion Subject: '…'" (70021).
_PRESENTED = re.compile(r"(?:presented assertion|Assertion) (subject|issuer|audience):? '([^']*)'", re.IGNORECASE)


class TokenSource(Protocol):
    """Gives a current access token for Graph."""

    def token(self) -> str:
        """An access token, from cache when still fresh."""
        ...


def token_source(
    credential: Credential, tenant: str, endpoints: Endpoints, http: httpx.Client, directory: TenantDirectory
) -> TokenSource:
    """The token source for one credential in one tenant (its GUID), refusing tokens of another tenant."""
    if isinstance(credential, ManagedIdentity):
        who = f"managed identity {credential.client_id or '(system-assigned)'}"
        fix = "a managed identity manages only its home tenant: run this stack with a credential of that tenant"
        return _TenantChecked(_ManagedIdentityToken(credential, endpoints, http), tenant, who, fix, pinned=False)
    if isinstance(credential, AzureCli):
        fix = f"run `az login --tenant {tenant}`"
        return _TenantChecked(AzureCliToken(tenant, endpoints.graph_endpoint), tenant, "Azure CLI", fix, pinned=False)
    who = f"app {credential.client_id}"
    fix = f"check {AUTHORITY_HOST.describe()} and {ENVIRONMENT.key}"
    source = _ClientCredentialsToken(credential, tenant, endpoints, http, directory)
    return _TenantChecked(source, tenant, who, fix, pinned=True)


class _TenantChecked:
    """Refuses a token whose `tid` is another tenant than the stack's, before any Graph request.

    With `pinned`, the request itself named the tenant (an app's authority), so a token with
    no readable `tid` passes; otherwise (a managed identity, the Azure CLI) nothing else
    proves the tenant, and such a token is refused too.
    """

    def __init__(self, source: TokenSource, tenant: str, who: str, fix: str, *, pinned: bool):
        self._source = source
        self._tenant = tenant
        self._who = who
        self._fix = fix
        self._pinned = pinned

    def token(self) -> str:
        token = self._source.token()
        signed_in = token_tenant(token)
        if signed_in is None and not self._pinned:
            raise AuthenticationError(
                f"The {self._who} gave a token whose tenant cannot be read, so nothing proves it is for "
                f"{TENANT_ID.key} {self._tenant}; {self._fix}. Nothing was read or written"
            )
        if signed_in is not None and signed_in != self._tenant:
            raise AuthenticationError(
                f"The {self._who} signed in to tenant {signed_in}, but {TENANT_ID.key} is {self._tenant}; "
                f"{self._fix}. Nothing was read or written"
            )
        return token


class _MsalHttp:
    """The shared httpx.Client, shaped for MSAL, with every answer checked before MSAL reads it.

    MSAL hands some form values (the signed certificate assertion) over as bytes, which
    httpx would encode as "b'...'"; they are decoded here. Discovery documents come from the
    tenant directory, which already fetched (and checked) them. Every other answer goes
    through `entra_answers.checked`. MSAL never closes the shared client.
    """

    def __init__(self, http: httpx.Client, what: str, fix: str, directory: TenantDirectory | None = None):
        self._http = http
        self._what = what
        self._fix = fix
        self._directory = directory

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        if self._directory is not None and url.endswith(DISCOVERY_SUFFIX) and not kwargs.get("params"):
            return self._directory.document(url)
        if urlsplit(url).path == IMDS_PATH:
            kwargs["extensions"] = {POLICY_EXTENSION: IMDS_RETRY}
        return checked(self._http.get(url, **kwargs), self._what, self._fix)

    def post(self, url: str, data: Any = None, **kwargs: Any) -> httpx.Response:
        if isinstance(data, dict):
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        return checked(self._http.post(url, data=data, **kwargs), self._what, self._fix)

    def close(self) -> None:
        """The client outlives any one MSAL app."""


class _ClientCredentialsToken:
    """Client-credentials grant for an app registration, through one lazily built MSAL app."""

    def __init__(
        self,
        credential: ClientSecret | ClientCertificate | FederatedToken,
        tenant: str,
        endpoints: Endpoints,
        http: httpx.Client,
        directory: TenantDirectory,
    ):
        self._credential = credential
        self._authority = f"{endpoints.authority_host}/{tenant}"
        self._endpoints = endpoints
        self._http = http
        self._directory = directory
        self._tenant = tenant
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            try:
                result = self._msal_app().acquire_token_for_client(scopes=[self._endpoints.scope])
            except httpx.RequestError as exc:
                raise _unreachable(self._authority, exc) from None
            except ValueError:  # an error status whose body is no JSON (MSAL parses it with json.loads)
                raise UnreachableError(
                    f"Entra ID's token endpoint for {self._authority} answered with something other than JSON; "
                    f"check {AUTHORITY_HOST.describe()} (a proxy may be answering in its place)"
                ) from None
        return _access_token(result, f"app {self._credential.client_id} in tenant {self._tenant}")

    def _msal_app(self) -> msal.ConfidentialClientApplication:
        """The MSAL app, built on first use: its constructor reads the OIDC discovery document."""
        if self._app is None:
            fix = f"check {AUTHORITY_HOST.describe()} and {ENVIRONMENT.key}"
            http = _MsalHttp(self._http, f"Entra ID's token endpoint for {self._authority}", fix, self._directory)
            try:
                self._app = msal.ConfidentialClientApplication(
                    self._credential.client_id,
                    client_credential=_msal_credential(self._credential, self._http),
                    authority=self._authority,
                    http_client=http,
                    instance_discovery=self._endpoints.instance_discovery,
                )
            except httpx.RequestError as exc:
                raise _unreachable(self._authority, exc) from None
            except ValueError as exc:
                raise _discovery_error(exc, self._authority) from None
        return self._app


class _ManagedIdentityToken:
    """Tokens for the machine's managed identity (IMDS, App Service, Arc: MSAL detects which).

    MSAL takes no tenant here: the token is for the identity's home tenant, whatever the
    stack says (learn.microsoft.com, "Managed identities for Azure resources"), hence the
    tenant check around it.
    """

    def __init__(self, credential: ManagedIdentity, endpoints: Endpoints, http: httpx.Client):
        identity: dict[str, Any] = (
            msal.UserAssignedManagedIdentity(client_id=credential.client_id)
            if credential.client_id
            else msal.SystemAssignedManagedIdentity()
        )
        self._describe = f"managed identity {credential.client_id or '(system-assigned)'}"
        endpoint = _MsalHttp(http, "The managed identity endpoint", "is this machine an Azure resource with a managed identity?")
        self._client = msal.ManagedIdentityClient(identity, http_client=endpoint)
        self._resource = endpoints.graph_endpoint
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            try:
                result = self._client.acquire_token_for_client(resource=self._resource)
            except httpx.RequestError as exc:
                raise UnreachableError(
                    f"Could not reach the managed identity endpoint ({wire_problem(exc)}); "
                    "is this machine an Azure resource with a managed identity?"
                ) from None
            except msal.ManagedIdentityError as exc:
                raise AuthenticationError(f"The {self._describe} gave no token: {one_line(str(exc))}") from None
            except OSError as exc:  # MSAL reads Azure Arc's key file with open()
                raise AuthenticationError(
                    f"The {self._describe} gave no token: cannot read Azure Arc's key file ({exc.strerror}); "
                    "the account running Pulumi must be allowed to read it (Linux: the himds group)"
                ) from None
            except ValueError:  # MSAL parses the endpoint's answer with json.loads
                raise UnreachableError(
                    f"The {self._describe} gave no token: the managed identity endpoint answered with something other than JSON"
                ) from None
        return _access_token(result, self._describe)


def _msal_credential(credential: ClientSecret | ClientCertificate | FederatedToken, http: httpx.Client) -> Any:
    if isinstance(credential, ClientSecret):
        return credential.secret
    if isinstance(credential, FederatedToken):
        return {"client_assertion": assertion(credential.source, http)}
    from providers.signin.certificates import load_certificate  # cryptography is loaded only for certificates

    return load_certificate(credential.certificate)


def _access_token(result: dict[str, Any] | None, who: str) -> str:
    if result and "access_token" in result:
        return str(result["access_token"])
    result = result or {}
    codes = _aadsts_codes(result.get("error_codes"))
    correlation = result.get("correlation_id")
    description = str(result.get("error_description") or result.get("error") or "no reason given")
    hint = next((AADSTS_HINTS[code] for code in codes if code in AADSTS_HINTS), None) or _first_sentence(description)
    presented = [f"{name.lower()} {one_line(value, 200)!r}" for name, value in _PRESENTED.findall(description)]
    if presented:
        hint += f" (the token's {', '.join(presented)})"
    label = ", ".join(f"AADSTS{code}" for code in codes) or one_line(str(result.get("error") or "error"), 80)
    suffix = f" (correlation id {one_line(str(correlation), 80)})" if correlation else ""
    raise AuthenticationError(f"Entra ID refused a token for {who}: {label}: {hint}{suffix}", codes, correlation)


def _aadsts_codes(value: Any) -> tuple[int, ...]:
    """Entra's `error_codes` (a list of integers), keeping only what is one: the answer is not ours."""
    items = value if isinstance(value, list) else []
    return tuple(int(item) for item in items if (isinstance(item, int) and not isinstance(item, bool)) or str(item).isdigit())


def _first_sentence(description: str) -> str:
    """Entra's description without its AADSTS prefix and trace/correlation/timestamp tail, on one line."""
    text = re.sub(r"^AADSTS\d+:\s*", "", description.strip()).split(" Trace ID:")[0].strip()
    return one_line(text.splitlines()[0] if text else description)


def _unreachable(authority: str, exc: httpx.RequestError) -> UnreachableError:
    return UnreachableError(
        f"Could not reach the authority {authority} ({wire_problem(exc)}); check "
        f"{AUTHORITY_HOST.describe()}, {ENVIRONMENT.key}, the network and SSL_CERT_FILE"
    )


def _discovery_error(exc: ValueError, authority: str) -> AuthenticationError | ConfigurationError:
    text = f"{exc} {exc.__context__ or ''}"
    codes = tuple(int(code) for code in re.findall(r"AADSTS(\d+)", text))
    if 90002 in codes:
        return AuthenticationError(f"Entra ID has no tenant at {authority}: AADSTS90002: {AADSTS_HINTS[90002]}", codes)
    return ConfigurationError(
        f"The authority {authority} is not valid ({_first_sentence(str(exc))}); "
        f"check {TENANT_ID.key}, {ENVIRONMENT.key} and {AUTHORITY_HOST.describe()}"
    )
