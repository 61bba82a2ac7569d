"""App-only access tokens from Entra ID through MSAL, one cached source per tenant.

MSAL apps are built lazily (their constructor does OIDC discovery) and keep tokens in
memory, so a provider process asks Entra for a token once and reuses it until it is
near expiry. Entra's refusals come back from MSAL as dicts; they are turned into
AuthenticationError with a hint per AADSTS code.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
import msal
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from .credentials import (
    ClientCertificate,
    ClientSecret,
    Credential,
    FederatedToken,
    GitHubActionsToken,
    ManagedIdentity,
    OidcTokenFile,
    OidcTokenValue,
)
from .errors import AuthenticationError, ConfigurationError
from .settings import (
    AUTHORITY_HOST,
    CLIENT_CERTIFICATE_PASSWORD,
    CLIENT_CERTIFICATE_PATH,
    CLIENT_ID,
    CLIENT_SECRET,
    ENVIRONMENT,
    OIDC_TOKEN_FILE_PATH,
    TENANT_ID,
    Endpoints,
)

__all__ = ["TokenSource", "token_source"]

GITHUB_AUDIENCE = "api://AzureADTokenExchange"

AADSTS_HINTS: dict[int, str] = {
    7000215: f"the client secret is wrong; check {CLIENT_SECRET.describe()}",
    7000222: f"the client secret has expired; create a new one and update {CLIENT_SECRET.key}",
    700016: (
        f"no application with this client id exists in the tenant; check {CLIENT_ID.key} "
        f"and {TENANT_ID.key}, and that the app is registered or consented there"
    ),
    90002: f"the tenant does not exist; check {TENANT_ID.key} and {ENVIRONMENT.key}",
    70021: (
        "no federated identity credential on the app matches the OIDC token; check the "
        f"credential's issuer, subject (e.g. repo:ORG/REPO:environment:NAME) and audience {GITHUB_AUDIENCE}"
    ),
    700027: (
        "the certificate assertion was refused; upload this certificate to the app "
        f"registration or check {CLIENT_CERTIFICATE_PATH.key}"
    ),
}


class TokenSource(Protocol):
    """Gives a current access token for Graph."""

    def token(self) -> str:
        """An access token, from cache when still fresh."""
        ...


def token_source(credential: Credential, tenant: str, endpoints: Endpoints, http: httpx.Client) -> TokenSource:
    """The token source for one credential in one tenant."""
    if isinstance(credential, ManagedIdentity):
        return _ManagedIdentityToken(credential, endpoints, http)
    return _ClientCredentialsToken(credential, tenant, endpoints, http)


class _MsalHttp:
    """The shared httpx.Client, shaped for MSAL.

    MSAL hands some form values (the signed certificate assertion) over as bytes, which
    httpx would encode as "b'...'"; they are decoded here. MSAL never closes the shared client.
    """

    def __init__(self, http: httpx.Client):
        self._http = http

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._http.get(url, **kwargs)

    def post(self, url: str, data: Any = None, **kwargs: Any) -> httpx.Response:
        if isinstance(data, dict):
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        return self._http.post(url, data=data, **kwargs)

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
    ):
        self._credential = credential
        self._tenant = tenant
        self._endpoints = endpoints
        self._http = http
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        authority = f"{self._endpoints.authority_host}/{self._tenant}"
        with self._lock:
            try:
                result = self._msal_app(authority).acquire_token_for_client(scopes=[self._endpoints.scope])
            except httpx.TransportError as exc:
                raise AuthenticationError(
                    f"Could not reach the authority {authority} ({type(exc).__name__}); check "
                    f"{AUTHORITY_HOST.describe()}, {ENVIRONMENT.key}, the network and SSL_CERT_FILE."
                ) from None
        return _access_token(result, f"app {self._credential.client_id} in tenant {self._tenant}")

    def _msal_app(self, authority: str) -> msal.ConfidentialClientApplication:
        """The MSAL app, built on first use: its constructor fetches the OIDC discovery document."""
        if self._app is None:
            try:
                self._app = msal.ConfidentialClientApplication(
                    self._credential.client_id,
                    client_credential=_msal_credential(self._credential, self._http),
                    authority=authority,
                    http_client=_MsalHttp(self._http),
                    instance_discovery=self._endpoints.instance_discovery,
                )
            except ValueError as exc:
                raise _discovery_error(exc, authority) from None
        return self._app


class _ManagedIdentityToken:
    """Tokens for the machine's managed identity (IMDS, App Service, Arc: MSAL detects which)."""

    def __init__(self, credential: ManagedIdentity, endpoints: Endpoints, http: httpx.Client):
        identity: dict[str, Any] = (
            msal.UserAssignedManagedIdentity(client_id=credential.client_id)
            if credential.client_id
            else msal.SystemAssignedManagedIdentity()
        )
        self._describe = f"managed identity {credential.client_id or '(system-assigned)'}"
        self._client = msal.ManagedIdentityClient(identity, http_client=_MsalHttp(http))
        self._resource = endpoints.graph_endpoint
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            try:
                result = self._client.acquire_token_for_client(resource=self._resource)
            except httpx.TransportError as exc:
                raise AuthenticationError(
                    f"Could not reach the managed identity endpoint ({type(exc).__name__}); "
                    "is this machine an Azure resource with a managed identity?"
                ) from None
            except msal.ManagedIdentityError as exc:
                raise AuthenticationError(f"The {self._describe} gave no token: {exc}") from None
        return _access_token(result, self._describe)


def _msal_credential(credential: ClientSecret | ClientCertificate | FederatedToken, http: httpx.Client) -> Any:
    if isinstance(credential, ClientSecret):
        return credential.secret
    if isinstance(credential, FederatedToken):
        return {"client_assertion": _assertion(credential.source, http)}
    return _certificate(credential)


def _certificate(credential: ClientCertificate) -> dict[str, Any]:
    """The key and certificate as PEM text for MSAL, loaded here so errors name the setting."""
    try:
        content = Path(credential.path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read {CLIENT_CERTIFICATE_PATH.describe()} {credential.path!r}: {exc.strerror}"
        ) from None
    password = credential.password.encode() if credential.password else None
    key: PrivateKeyTypes | None
    certificate: x509.Certificate | None
    try:
        if b"-----BEGIN" in content:
            key = serialization.load_pem_private_key(content, password)
            certificate = x509.load_pem_x509_certificate(content)
        else:
            key, certificate, _ = pkcs12.load_key_and_certificates(content, password)
    except (ValueError, TypeError):
        raise ConfigurationError(
            f"Cannot load the key and certificate from {CLIENT_CERTIFICATE_PATH.key} {credential.path!r}: "
            f"it must be a PEM file with both, or a PFX; check {CLIENT_CERTIFICATE_PASSWORD.describe()}"
        ) from None
    if key is None or certificate is None:
        raise ConfigurationError(f"{CLIENT_CERTIFICATE_PATH.key} {credential.path!r} lacks the private key or the certificate")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError(
            f"{CLIENT_CERTIFICATE_PATH.key} {credential.path!r} holds a {type(key).__name__}; "
            "Entra ID app credentials need an RSA key"
        )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "private_key": key_pem.decode(),
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }


def _assertion(source: OidcTokenValue | OidcTokenFile | GitHubActionsToken, http: httpx.Client) -> Callable[[], str]:
    """A callable MSAL invokes whenever it needs a fresh client assertion."""
    if isinstance(source, OidcTokenValue):
        return lambda: source.token
    if isinstance(source, OidcTokenFile):
        return lambda: _read_token_file(source.path)
    return lambda: _github_token(source, http)


def _read_token_file(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read the OIDC token file {path!r} ({OIDC_TOKEN_FILE_PATH.describe()}): {exc.strerror}"
        ) from None


def _github_token(source: GitHubActionsToken, http: httpx.Client) -> str:
    try:
        response = http.get(
            source.request_url,
            params={"audience": GITHUB_AUDIENCE},
            headers={"Authorization": f"bearer {source.request_token}"},
        )
    except httpx.TransportError as exc:
        raise AuthenticationError(f"Could not reach the GitHub Actions OIDC endpoint ({type(exc).__name__})") from None
    try:
        body = response.json() if response.status_code == 200 else None
    except ValueError:
        body = None
    value = body.get("value") if isinstance(body, dict) else None
    if not isinstance(value, str):
        raise AuthenticationError(
            f"GitHub Actions gave no OIDC token (HTTP {response.status_code}); the job needs `permissions: id-token: write`"
        )
    return value


def _access_token(result: dict[str, Any] | None, who: str) -> str:
    if result and "access_token" in result:
        return str(result["access_token"])
    result = result or {}
    codes = tuple(int(code) for code in result.get("error_codes") or ())
    correlation = result.get("correlation_id")
    hint = next((AADSTS_HINTS[code] for code in codes if code in AADSTS_HINTS), None)
    if hint is None:
        hint = _first_sentence(str(result.get("error_description") or result.get("error") or "no reason given"))
    label = ", ".join(f"AADSTS{code}" for code in codes) or str(result.get("error") or "error")
    suffix = f" (correlation id {correlation})" if correlation else ""
    raise AuthenticationError(f"Entra ID refused a token for {who}: {label}: {hint}{suffix}", codes, correlation)


def _first_sentence(description: str) -> str:
    """Entra's description without its AADSTS prefix and trace/correlation/timestamp tail."""
    text = re.sub(r"^AADSTS\d+:\s*", "", description.strip()).split(" Trace ID:")[0].strip()
    return text.splitlines()[0] if text else description


def _discovery_error(exc: ValueError, authority: str) -> AuthenticationError | ConfigurationError:
    text = f"{exc} {exc.__context__ or ''}"
    codes = tuple(int(code) for code in re.findall(r"AADSTS(\d+)", text))
    if 90002 in codes:
        return AuthenticationError(f"Entra ID has no tenant at {authority}: AADSTS90002: {AADSTS_HINTS[90002]}", codes)
    return ConfigurationError(
        f"The authority {authority} is not valid ({_first_sentence(str(exc))}); "
        f"check {TENANT_ID.key}, {ENVIRONMENT.key} and {AUTHORITY_HOST.describe()}"
    )
