"""Claims of a JWT access token, read without verifying it (the issuer's client is the only reader)."""

from __future__ import annotations

import base64
import json

__all__ = ["token_claim"]


def token_claim(access_token: str, name: str) -> str | None:
    """A string claim of a JWT access token (`tid`, `appid`, `azp`), or None when it has none or is no JWT.

    Microsoft calls Graph access tokens opaque to clients (learn.microsoft.com, "Access tokens in the
    Microsoft identity platform"), so what is read here is a best effort, never a decision's only input.
    """
    parts = access_token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    value = claims.get(name) if isinstance(claims, dict) else None
    return value if isinstance(value, str) else None
