"""Entra ID's side: OIDC tokens a CI system would mint, and how a client proves who it is."""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .state import App

EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"

Refusal = tuple[int, str, int, str]
"""HTTP status, OAuth error, AADSTS code, description."""


@dataclass(frozen=True)
class OidcIssuer:
    """An external OIDC issuer (what GitHub Actions or Kubernetes is to Entra)."""

    url: str
    key: rsa.RSAPrivateKey

    def token(
        self, subject: str, audience: str = EXCHANGE_AUDIENCE, lifetime: int = 600, extra: Mapping[str, Any] | None = None
    ) -> str:
        """A signed ID token for `subject`, with the issuer's `extra` claims."""
        now = int(time.time())
        claims = {"iss": self.url, "sub": subject, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime}
        claims = {**(extra or {}), **claims}
        return jwt.encode(claims, self.key, algorithm="RS256")


# GitHub's default subject, name-based or immutable: repo:OWNER[@OWNER_ID]/REPO[@REPO_ID]:CONTEXT
# (docs.github.com/actions/reference/security/oidc, "Immutable subject claims").
_GITHUB_SUBJECT = re.compile(r"repo:(?P<owner>[^/@:]+)(?:@(?P<owner_id>\d+))?/(?P<repo>[^/@:]+)(?:@(?P<repo_id>\d+))?:.+")


def github_claims(subject: str) -> dict[str, str]:
    """The repository claims GitHub's ID token carries beside `sub`: `repository`, `repository_owner` and their
    immutable ids `repository_owner_id`, `repository_id`, as strings (docs.github.com/actions/reference/security/oidc,
    "Understanding the OIDC token"). The ids are the subject's own when it has them, else stable ones made from the names."""
    matched = _GITHUB_SUBJECT.fullmatch(subject)
    if matched is None:
        return {}
    owner, repo = matched["owner"], matched["repo"]
    return {
        "repository": f"{owner}/{repo}",
        "repository_owner": owner,
        "repository_owner_id": matched["owner_id"] or str(zlib.crc32(owner.encode()) % 10**8),
        "repository_id": matched["repo_id"] or str(zlib.crc32(f"{owner}/{repo}".encode()) % 10**9),
    }


def authenticate(app: App, form: dict[str, str], token_endpoint: str, issuer: OidcIssuer) -> Refusal | None:
    """None when the form proves to be `app`; else the refusal Entra would answer."""
    if "client_secret" in form:
        expired = app.secrets.get(form["client_secret"])
        if expired is None:
            return (
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "
                "not the client secret ID.",
            )
        if expired:
            return 401, "invalid_client", 7000222, f"The provided client secret keys for app '{app.client_id}' are expired."
        return None
    assertion = form.get("client_assertion")
    if not assertion:
        return (
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    try:
        claimed_issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return 401, "invalid_client", 50027, "JWT token is invalid or malformed."
    if claimed_issuer == app.client_id:  # the app signed it: a certificate credential
        return _certificate_assertion(app, assertion, token_endpoint)
    return _federated_assertion(app, assertion, issuer)


def _certificate_assertion(app: App, assertion: str, audience: str) -> Refusal | None:
    for key in app.certificates:
        try:
            jwt.decode(assertion, key, algorithms=["RS256", "PS256"], audience=audience)
            return None
        except jwt.PyJWTError:
            continue
    return 401, "invalid_client", 700027, "Client assertion failed signature validation."


_FEDERATION_TAIL = (
    "Check your federated identity credential Subject, Audience and Issuer against the presented assertion. "
    "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
)


def _federated_assertion(app: App, assertion: str, issuer: OidcIssuer) -> Refusal | None:
    """Entra matches the assertion's issuer, audience and subject against the app's federated
    credentials and names the one that matches none: AADSTS700211 (issuer), 700212 (audience),
    700213 (subject), quoting the presented value; 70021 is the older, combined code. Texts as
    real responses quote them (Azure/azure-workload-identity#1200, Azure/login#379)."""
    try:
        claims = jwt.decode(
            assertion,
            issuer.key.public_key(),
            algorithms=["RS256"],
            audience=EXCHANGE_AUDIENCE,
            issuer=issuer.url,
        )
    except jwt.ExpiredSignatureError:
        return 400, "invalid_client", 700024, "Client assertion is not within its valid time range."
    except jwt.InvalidIssuerError:
        presented = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
        return _no_match(700211, "issuer", presented)
    except jwt.InvalidAudienceError:
        presented = jwt.decode(assertion, options={"verify_signature": False}).get("aud")
        return _no_match(700212, "audience", presented)
    except jwt.PyJWTError:
        return 401, "invalid_client", 700027, "Client assertion failed signature validation."
    subject = claims.get("sub")
    if subject not in app.federated_subjects:
        if str(subject).casefold() in {known.casefold() for known in app.federated_subjects}:
            # Matching has been case-sensitive since August 2024 (learn.microsoft.com, entra/identity-platform/
            # reference-breaking-changes, "Federated Identity Credentials now use case-sensitive matching");
            # a case-only difference gets its own code and text, as quoted in Azure/login#515.
            return (
                400,
                "invalid_client",
                7002138,
                f"No matching federated identity record found for presented assertion subject '{subject}'. "
                "The subject matches with case-insensitive comparison, but not with case-sensitive comparison. "
                + _FEDERATION_TAIL,
            )
        return _no_match(700213, "subject", subject)
    return None


def _no_match(code: int, field: str, presented: object) -> Refusal:
    return (
        400,
        "invalid_client",
        code,
        f"No matching federated identity record found for presented assertion {field} '{presented}'. {_FEDERATION_TAIL}",
    )
