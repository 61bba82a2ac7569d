"""Errors the product raises. Every message names the fix.

    BitlockerPolicyError
    ├── ConfigurationError         a setting is missing, malformed or contradictory
    ├── AuthenticationError        Entra refused the credential (carries the AADSTS codes)
    ├── GraphTransportError        Graph could not be reached, even after retries
    ├── DeadlineExceededError      retries would outlast the operation's deadline
    └── GraphError                 Graph answered with an error (status, code, request ids)
        ├── ForbiddenError         403: the app lacks a Graph permission
        ├── ThrottledError         429/503/504 still after every retry
        └── UnexpectedResponseError  a success that lacks what the product reads

Messages never contain a credential or token: only names of settings, ids and codes.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BitlockerPolicyError",
    "ConfigurationError",
    "DeadlineExceededError",
    "ForbiddenError",
    "GraphError",
    "GraphTransportError",
    "ThrottledError",
    "UnexpectedResponseError",
]


class BitlockerPolicyError(Exception):
    """Base of every error this product raises on purpose."""


class ConfigurationError(BitlockerPolicyError):
    """A setting is missing, malformed or contradicts another one."""


class AuthenticationError(BitlockerPolicyError):
    """Entra ID refused to issue a token."""

    def __init__(self, message: str, codes: tuple[int, ...] = (), correlation_id: str | None = None):
        super().__init__(message)
        self.codes = codes
        self.correlation_id = correlation_id


class GraphTransportError(BitlockerPolicyError):
    """Graph could not be reached (connection, TLS or timeout), even after retries."""


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
