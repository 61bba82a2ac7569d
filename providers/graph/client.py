"""The Graph calls this product makes: read and set a field of the authorization policy.

Retries (429/5xx, dropped connections) happen in the shared `RetryingClient`; this module
turns what is left into one clear error carrying Graph's code, message and request ids
(learn.microsoft.com/graph/errors).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import urlsplit

import httpx

from providers.common.errors import ForbiddenError, GraphError, ThrottledError, UnexpectedResponseError, UnreachableError
from providers.common.outside_text import one_line
from providers.common.token_claims import token_claim
from providers.graph.authorization_policy import POLICY_PATH, PolicyField
from providers.graph.retry import DEFAULT_RETRY, wire_problem

__all__ = ["GraphClient"]

_READ_PERMISSION = "Policy.Read.All (or Policy.ReadWrite.Authorization)"
_WRITE_PERMISSION = "Policy.ReadWrite.Authorization"


class BearerToken(httpx.Auth):
    """Adds the current access token to each request."""

    def __init__(self, token: Callable[[], str]):
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token()}"
        yield request


class GraphClient:
    """Reads and writes fields of one tenant's authorization policy (providers/graph/authorization_policy.py).

    `read` and `write` make exactly one HTTP request each (plus retries); `live_value` reads
    only when this process has neither read nor written the field yet (a provider process
    lives for one Pulumi command).
    """

    def __init__(self, http: httpx.Client, graph_endpoint: str, token: Callable[[], str]):
        self._http = http
        self._endpoint = graph_endpoint
        self._token = token
        self._auth = BearerToken(token)
        self._known: dict[PolicyField, bool | None] = {}

    def caller_ids(self) -> frozenset[str]:
        """Who this client signs in as, lower-cased: its token's client id (`appid` in v1 tokens, `azp` in v2)
        and `oid`, which in an app-only token is the service principal's object id in the tenant
        (learn.microsoft.com/entra/identity-platform/access-token-claims-reference)."""
        token = self._token()
        claims = (token_claim(token, "appid") or token_claim(token, "azp"), token_claim(token, "oid"))
        return frozenset(claim.lower() for claim in claims if claim)

    def live_value(self, field: PolicyField) -> bool | None:
        """The field's value as this process last read or wrote it, reading Graph once when there is none."""
        return self._known[field] if field in self._known else self.read(field)

    def read(self, field: PolicyField) -> bool | None:
        """The field's live value: a boolean, or None for null. A policy without the field is not understood."""
        response = self._request("GET", POLICY_PATH, None, _READ_PERMISSION)
        try:
            value = field.value_in(response.json())
        except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested past Python's limit
            value = "missing"
        if value is not None and not isinstance(value, bool):
            raise _error(
                UnexpectedResponseError,
                response,
                f"Graph's authorization policy has no boolean or null {field.path}, "
                "so its value is unknown; this cloud or tenant may not support the setting yet. "
                "Nothing was changed",
            )
        self._known[field] = value
        return value

    def write(self, field: PolicyField, value: bool) -> str | None:
        """PATCH only this one field; returns Graph's request-id for the record.

        Microsoft documents 204 No Content; any 2xx means the write happened
        (learn.microsoft.com/graph/api/authorizationpolicy-update).
        """
        response = self._request("PATCH", POLICY_PATH, field.patch(value), _WRITE_PERMISSION)
        self._known[field] = value
        request_id: str | None = response.headers.get("request-id")
        return request_id

    def get_json(self, path: str, params: dict[str, str] | None, permission: str) -> Any:
        """GET another Graph resource (`path` under the endpoint, or a whole `@odata.nextLink`): its JSON body.

        Errors as for the policy, naming `permission` on a 403; UnexpectedResponseError when the body is no JSON.
        """
        response = self._request("GET", path, None, permission, params)
        try:
            return response.json()
        except ValueError:  # a RecursionError (JSON nested past Python's limit) is the caller's to tell apart
            shown = urlsplit(path).path or path
            raise _error(UnexpectedResponseError, response, f"Graph answered GET {one_line(shown)} with no JSON") from None

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, permission: str, params: dict[str, str] | None = None
    ) -> httpx.Response:
        headers = {"client-request-id": str(uuid.uuid4()), "Accept": "application/json"}
        url = path if path.startswith("https://") else self._endpoint + path
        if not _same_origin(url, self._endpoint):  # a next-page link elsewhere: the token goes nowhere else
            raise UnexpectedResponseError(
                f"Graph's next-page link leaves {self._endpoint}: not followed",
                status=0,
                code=None,
                request_id=None,
                client_request_id=None,
            )
        shown = urlsplit(url).path  # for messages: the resource, never a query
        try:
            response = self._http.request(method, url, params=params, json=body, headers=headers, auth=self._auth)
        except httpx.InvalidURL:
            raise UnexpectedResponseError(
                f"Graph gave a next-page link that is no URL ({one_line(shown)}): not followed",
                status=0,
                code=None,
                request_id=None,
                client_request_id=headers["client-request-id"],
            ) from None
        except httpx.RequestError as exc:
            raise UnreachableError(
                f"Could not reach Graph at {url.split('?')[0]} ({wire_problem(exc)}) after retries "
                f"(client-request-id {headers['client-request-id']}); check bitlocker-policy:graphEndpoint, "
                "the network and SSL_CERT_FILE"
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return response
        if 300 <= status < 400:
            where = one_line(response.headers.get("Location", "no Location"))
            raise _error(
                GraphError,
                response,
                f"Graph's endpoint redirected {method} {shown} ({where}); "
                "set bitlocker-policy:graphEndpoint to the Graph host itself",
            )
        if status == 403:
            raise _error(
                ForbiddenError,
                response,
                f"Graph denied {method} {shown}: grant the app the Microsoft Graph application "
                f"permission {permission} with admin consent",
            )
        if status in DEFAULT_RETRY.statuses:
            raise _error(
                ThrottledError,
                response,
                "Graph is still throttling or unavailable and the retries ran out "
                f"(last Retry-After: {response.headers.get('Retry-After', 'none')}); run again later",
            )
        if status == 401:
            raise _error(
                GraphError,
                response,
                "Graph refused the access token; check that azuread:environment and "
                "bitlocker-policy:graphEndpoint belong to the same cloud as the authority",
            )
        raise _error(GraphError, response, f"Graph refused {method} {shown}")


def _same_origin(url: str, endpoint: str) -> bool:
    """Whether `url` is on the endpoint's https origin (host case and an explicit :443 aside)."""
    try:
        there, here = urlsplit(url), urlsplit(endpoint)
        return (there.scheme, there.hostname, there.port or 443) == (here.scheme, here.hostname, here.port or 443)
    except ValueError:  # a port that is no number
        return False


def _error(kind: type[GraphError], response: httpx.Response, message: str) -> GraphError:
    """An error of `kind` carrying Graph's status, error code and request ids."""
    error = _odata_error(response)
    inner = error.get("innerError")
    inner = inner if isinstance(inner, dict) else {}
    code = one_line(str(error["code"]), 80) if error.get("code") else None
    status = f"{response.status_code} {code}" if code else str(response.status_code)
    graph_message = error.get("message")
    said = f": {one_line(graph_message)}" if isinstance(graph_message, str) and graph_message else ""
    return kind(
        f"{message} [HTTP {status}{said}]",
        status=response.status_code,
        code=code,
        request_id=_id(response.headers.get("request-id") or inner.get("request-id")),
        client_request_id=_id(response.headers.get("client-request-id") or response.request.headers.get("client-request-id")),
    )


def _id(value: Any) -> str | None:
    """A request id as Graph sent it, made safe to quote (it is outside text, maybe not even a string)."""
    return one_line(str(value), 80) if value else None


def _odata_error(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of an OData error body, or {} when there is none."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}
