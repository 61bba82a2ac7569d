"""Errors the product raises. Every message names the fix.

    BitlockerPolicyError
    ├── ConfigurationError       a setting is missing, malformed or contradictory: fix the config
    ├── UnreachableError         Entra ID, Graph or an identity source could not be reached, or
    │                            something else answered in its place: check the network, proxy, hosts
    ├── UnavailableError         Entra ID answered, but kept failing or throttling past every retry:
    │                            run again later
    ├── AuthenticationError      Entra ID (or the CI system, or `az`) refused to issue a token:
    │                            fix the credential (carries the AADSTS codes)
    ├── DeadlineExceededError    the operation's deadline came before an answer
    ├── GraphError               Graph answered with an error (status, code, request ids)
    │   ├── ForbiddenError           403: the app lacks a Graph permission
    │   ├── ThrottledError           429/503/504 still after every retry
    │   └── UnexpectedResponseError  a success that lacks what the product reads
    └── EngineError              the Pulumi CLI failed for one stack outside its update (fleet)

"Could not reach" is kept apart from "refused", as httpx keeps transport errors apart from
status errors and azure-identity keeps CredentialUnavailableError apart from
ClientAuthenticationError: a caller retries the first, and fixes a credential for the second.
Messages never contain a credential or token: only names of settings, ids and codes.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BitlockerPolicyError",
    "ConfigurationError",
    "DeadlineExceededError",
    "EngineError",
    "ForbiddenError",
    "GraphError",
    "ThrottledError",
    "UnavailableError",
    "UnexpectedResponseError",
    "UnreachableError",
]


class BitlockerPolicyError(Exception):
    """Base of every error this product raises on purpose."""


class ConfigurationError(BitlockerPolicyError):
    """A setting is missing, malformed or contradicts another one."""


class UnreachableError(BitlockerPolicyError):
    """Entra ID, Graph or an identity source could not be reached (connection, TLS, DNS, timeout),
    or something other than the service answered (a redirect, a proxy's page)."""


class UnavailableError(BitlockerPolicyError):
    """Entra ID answered, but kept failing (5xx) or throttling (429) past every retry."""


class AuthenticationError(BitlockerPolicyError):
    """Entra ID, the CI system or the Azure CLI refused to issue a token."""

    def __init__(self, message: str, codes: tuple[int, ...] = (), correlation_id: str | None = None):
        super().__init__(message)
        self.codes = codes
        self.correlation_id = correlation_id


class DeadlineExceededError(BitlockerPolicyError):
    """Entra ID or Graph kept failing until the operation's deadline was near."""


class GraphError(BitlockerPolicyError):
    """Graph answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None,
        request_id: str | None,
        client_request_id: str | None,
    ):
        ids = f"request-id {request_id or 'none'}, client-request-id {client_request_id or 'none'}"
        super().__init__(f"{message} ({ids})")
        self.status = status
        self.code = code
        self.request_id = request_id
        self.client_request_id = client_request_id


class ForbiddenError(GraphError):
    """403: the identity lacks the Graph permission the operation needs."""


class ThrottledError(GraphError):
    """Graph kept answering 429/503/504 after every retry the policy allows."""


class UnexpectedResponseError(GraphError):
    """Graph answered with success, but without what the product reads."""


class EngineError(BitlockerPolicyError):
    """The Pulumi CLI failed for one stack outside a preview, up or refresh (backend, login, passphrase)."""
