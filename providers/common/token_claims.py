"""Claims of a JWT (an access token, a CI system's OIDC token), read without verifying it (its issuer's client is the reader)."""

from __future__ import annotations

import base64
import json
from typing import Any

__all__ = ["token_claim", "token_claims", "token_roles"]


def token_claims(token: str) -> dict[str, Any]:
    """Every claim of a JWT, or {} when it is no JWT. Never a decision's only input: nothing here is verified."""
    return _claims(token) or {}


def token_claim(access_token: str, name: str) -> str | None:
    """A string claim of a JWT access token (`tid`, `appid`, `azp`), or None when it has none or is no JWT.

    Microsoft calls Graph access tokens opaque to clients (learn.microsoft.com, "Access tokens in the
    Microsoft identity platform"), so what is read here is a best effort, never a decision's only input.
    """
    value = token_claims(access_token).get(name)
    return value if isinstance(value, str) else None


def token_roles(access_token: str) -> frozenset[str] | None:
    """The `roles` claim of an app-only token (the application permissions consented in its tenant):
    empty when the token has none, None when it is no readable JWT. Best effort, as `token_claim`."""
    claims = _claims(access_token)
    if claims is None:
        return None
    roles = claims.get("roles", [])
    return frozenset(role for role in roles if isinstance(role, str)) if isinstance(roles, list) else frozenset()


def _claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT, or None when the token is none."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None
