"""Claims of a JWT (an access token, a CI system's OIDC token), read without verifying it (its issuer's client is the reader)."""

from __future__ import annotations

import base64
import json
from typing import Any

__all__ = ["token_claim", "token_claims"]


def token_claims(token: str) -> dict[str, Any]:
    """Every claim of a JWT, or {} when it is no JWT. Never a decision's only input: nothing here is verified."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def token_claim(access_token: str, name: str) -> str | None:
    """A string claim of a JWT access token (`tid`, `appid`, `azp`), or None when it has none or is no JWT.

    Microsoft calls Graph access tokens opaque to clients (learn.microsoft.com, "Access tokens in the
    Microsoft identity platform"), so what is read here is a best effort, never a decision's only input.
    """
    value = token_claims(access_token).get(name)
    return value if isinstance(value, str) else None
