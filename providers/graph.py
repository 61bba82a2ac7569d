"""The Graph calls this product makes: read and set one property of the authorization policy."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from .errors import ForbiddenError, GraphError, GraphTransportError, ThrottledError, UnexpectedResponseError
from .retry import DEFAULT_RETRY, RetryPolicy, send_with_retries
from .tokens import TokenSource

__all__ = ["BITLOCKER_PROPERTY", "POLICY_PATH", "GraphClient"]

POLICY_PATH = "/v1.0/policies/authorizationPolicy"
BITLOCKER_PROPERTY = "allowedToReadBitlockerKeysForOwnedDevice"

_READ_PERMISSION = "Policy.Read.All (or Policy.ReadWrite.Authorization)"
_WRITE_PERMISSION = "Policy.ReadWrite.Authorization"


class BearerToken(httpx.Auth):
    """Adds the current access token to each request."""

    def __init__(self, source: TokenSource):
        self._source = source

    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        request.headers["Authorization"] = f"Bearer {self._source.token()}"
        yield request


class GraphClient:
    """Reads and writes the tenant-wide BitLocker self-service setting.

    Exactly one HTTP request per call, plus retries the policy allows.
    """

    def __init__(
        self,
        http: httpx.Client,
        graph_endpoint: str,
        tokens: TokenSource,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._http = http
        self._url = graph_endpoint + POLICY_PATH
        self._auth = BearerToken(tokens)
        self._retry = retry
        self._sleep = sleep

    def read_bitlocker_access(self) -> bool:
        """The live value of defaultUserRolePermissions.allowedToReadBitlockerKeysForOwnedDevice."""
        response = self._request("GET", None, _READ_PERMISSION)
        try:
            value = response.json()["defaultUserRolePermissions"][BITLOCKER_PROPERTY]
        except (ValueError, KeyError, TypeError):
            value = None
        if not isinstance(value, bool):
            raise _error(
                UnexpectedResponseError,
                response,
                f"Graph's authorization policy has no boolean defaultUserRolePermissions.{BITLOCKER_PROPERTY}, "
                "so its value is unknown; this cloud or tenant may not support the setting yet. "
                "Nothing was changed",
            )
        return value

    def write_bitlocker_access(self, allowed: bool) -> str | None:
        """PATCH only this one property; returns Graph's request-id for the record."""
        body = {"defaultUserRolePermissions": {BITLOCKER_PROPERTY: allowed}}
        response = self._request("PATCH", body, _WRITE_PERMISSION)
        if response.status_code != 204:
            raise _error(UnexpectedResponseError, response, f"Graph answered the PATCH with {response.status_code}, not 204")
        request_id: str | None = response.headers.get("request-id")
        return request_id

    def _request(self, method: str, body: dict[str, Any] | None, permission: str) -> httpx.Response:
        client_request_id = str(uuid.uuid4())

        def send(attempt: int) -> httpx.Response:
            headers = {"client-request-id": client_request_id, "Accept": "application/json"}
            if attempt:
                headers["Retry-Attempt"] = str(attempt)
            return self._http.request(method, self._url, json=body, headers=headers, auth=self._auth)

        try:
            response = send_with_retries(send, self._retry, self._sleep)
        except httpx.TransportError as exc:
            raise GraphTransportError(
                f"Could not reach Graph at {self._url} ({type(exc).__name__}) after retries "
                f"(client-request-id {client_request_id}); check bitlocker-policy:graphEndpoint, "
                "the network and SSL_CERT_FILE"
            ) from None
        if response.status_code < 400:
            return response
        if response.status_code == 403:
            raise _error(
                ForbiddenError,
                response,
                f"Graph denied {method} {POLICY_PATH}: grant the app the Microsoft Graph application "
                f"permission {permission} with admin consent",
            )
        if response.status_code in self._retry.statuses:
            raise _error(
                ThrottledError,
                response,
                "Graph is still throttling or unavailable and the retries ran out "
                f"(last Retry-After: {response.headers.get('Retry-After', 'none')}); run again later",
            )
        if response.status_code == 401:
            raise _error(
                GraphError,
                response,
                "Graph refused the access token; check that azuread:environment and "
                "bitlocker-policy:graphEndpoint belong to the same cloud as the authority",
            )
        raise _error(GraphError, response, f"Graph refused {method} {POLICY_PATH}")


def _error(kind: type[GraphError], response: httpx.Response, message: str) -> GraphError:
    """An error of `kind` carrying Graph's status, error code and request ids."""
    error = _odata_error(response)
    inner = error.get("innerError")
    inner = inner if isinstance(inner, dict) else {}
    code = error.get("code")
    status = f"{response.status_code} {code}" if code else str(response.status_code)
    return kind(
        f"{message} [HTTP {status}]",
        status=response.status_code,
        code=code,
        request_id=response.headers.get("request-id") or inner.get("request-id"),
        client_request_id=response.headers.get("client-request-id") or response.request.headers.get("client-request-id"),
    )


def _odata_error(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of an OData error body, or {} when there is none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}
