"""Workload identity federation: the external OIDC token MSAL presents as the client assertion.

Sources: a token given directly, a token file re-read at each use (Kubernetes rotates it),
or a CI system's ID-token endpoint asked at each use (GitHub Actions, Azure Pipelines).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from providers.common.errors import AuthenticationError, ConfigurationError, UnreachableError
from providers.common.files import read_regular_file
from providers.common.outside_text import one_line
from providers.config.credentials import AzurePipelinesToken, GitHubActionsToken, OidcSource, OidcTokenFile, OidcTokenValue
from providers.config.settings import OIDC_AZURE_SERVICE_CONNECTION_ID, OIDC_REQUEST_URL, OIDC_TOKEN_FILE_PATH
from providers.graph.retry import wire_problem

__all__ = ["EXCHANGE_AUDIENCE", "assertion"]

# The audience Entra ID expects in a federated token (learn.microsoft.com, "Workload
# identity federation": "api://AzureADTokenExchange" is the recommended audience).
EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


def assertion(source: OidcSource, http: httpx.Client) -> Callable[[], str]:
    """A callable MSAL invokes whenever it needs a fresh client assertion."""
    if isinstance(source, OidcTokenValue):
        return lambda: source.token
    if isinstance(source, OidcTokenFile):
        return lambda: _read_token_file(source.path)
    if isinstance(source, GitHubActionsToken):
        return lambda: _github_token(source, http)
    return lambda: _azure_pipelines_token(source, http)


def _read_token_file(path: str) -> str:
    try:
        return read_regular_file(path).decode().strip()
    except UnicodeDecodeError:
        raise ConfigurationError(f"The OIDC token file {path!r} ({OIDC_TOKEN_FILE_PATH.describe()}) is not text") from None
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read the OIDC token file {path!r} ({OIDC_TOKEN_FILE_PATH.describe()}): {exc.strerror}"
        ) from None


def _github_token(source: GitHubActionsToken, http: httpx.Client) -> str:
    """GitHub Actions' ID token for Entra's audience.

    The runner's ACTIONS_ID_TOKEN_REQUEST_URL already carries `?api-version=2.0`; GitHub's
    toolkit (actions/toolkit, packages/core/src/oidc-utils.ts, getIDToken) appends
    `&audience=…` to it and sends `Authorization: Bearer TOKEN`; the token is in `value`.
    httpx's `params=` would replace the URL's query, so the parameter is merged instead.
    A job without `id-token: write` has no request URL at all (actions/runner, Handlers/
    ScriptHandler.cs: set only from the job's GenerateIdTokenUrl), so a refusal here is not
    that: GitHub's own words are quoted (undocumented; observed as HTTP 400
    {"source":"actions-run-service","statusCode":400,"errorMessage":"Can't issue ID_TOKEN for audience …"}).
    """
    url = _url(source.request_url).copy_merge_params({"audience": EXCHANGE_AUDIENCE})
    response = _ask(http, "GET", url, source.request_token, "GitHub Actions")
    value = _json_field(response, "value")
    if value is None:
        raise AuthenticationError(f"GitHub Actions {_refused(response)}")
    return value


def _azure_pipelines_token(source: AzurePipelinesToken, http: httpx.Client) -> str:
    """Azure Pipelines' ID token for a workload identity federation service connection.

    As azure-identity's AzurePipelinesCredential asks for it (azure/identity/_credentials/
    azure_pipelines.py): POST `{SYSTEM_OIDCREQUESTURI}?api-version=7.1&serviceConnectionId=ID`
    with no body and `Authorization: Bearer $SYSTEM_ACCESSTOKEN`; the token is in `oidcToken`.
    Since 2026-03 Azure DevOps refuses a connection the stage does not reference, saying so in
    the body's `value` ("There is no explicit reference to service connection … from current
    stage …", dotnet/docker-tools#2012): that text is quoted, with the tracing headers
    x-vss-e2eid and x-msedge-ref, as the .NET and Java credentials do.
    """
    url = _url(source.request_url).copy_merge_params({"api-version": "7.1", "serviceConnectionId": source.service_connection_id})
    # X-TFS-FedAuthRedirect: Suppress keeps Azure DevOps from answering with a sign-in redirect.
    response = _ask(http, "POST", url, source.request_token, "Azure Pipelines", {"X-TFS-FedAuthRedirect": "Suppress"})
    value = _json_field(response, "oidcToken")
    if value is None:
        fix = (
            "the step must map SYSTEM_ACCESSTOKEN (env: SYSTEM_ACCESSTOKEN: $(System.AccessToken))"
            if response.status_code in (401, 403)
            else f"check {OIDC_AZURE_SERVICE_CONNECTION_ID.describe()}, and reference that service connection "
            "in this stage (an AzureCLI@3 step with azureSubscription: CONNECTION and allowNoSubscriptions: true, "
            "as the template's .azure-pipelines/reference-connection.yml)"
        )
        raise AuthenticationError(
            f"Azure Pipelines {_refused(response)} for service connection {source.service_connection_id}"
            f"{_vss_ids(response)}; {fix}"
        )
    return value


def _refused(response: httpx.Response) -> str:
    """`refused an OIDC token (HTTP N: what the endpoint said)`, or that a 200 carried none."""
    if response.status_code == 200:
        return "answered HTTP 200 without an OIDC token"
    return f"refused an OIDC token (HTTP {response.status_code}: {_said(response)})"


def _said(response: httpx.Response) -> str:
    """The endpoint's own message: Azure DevOps' `value`, GitHub's `errorMessage`, a `message`, or the text."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    fields = [body.get(name) for name in ("value", "errorMessage", "message")] if isinstance(body, dict) else []
    said = next((field for field in fields if isinstance(field, str) and field.strip()), response.text)
    return one_line(said) or "no message"


def _url(text: str) -> httpx.URL:
    try:
        return httpx.URL(text)
    except httpx.InvalidURL:
        raise ConfigurationError(f"{OIDC_REQUEST_URL.describe()} is not a valid URL (the value is not shown)") from None


def _ask(
    http: httpx.Client, method: str, url: httpx.URL, token: str, who: str, extra: dict[str, str] | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(extra or {})}
    try:
        return http.request(method, url, headers=headers)
    except httpx.RequestError as exc:
        raise UnreachableError(f"Could not reach the {who} OIDC endpoint ({wire_problem(exc)})") from None


def _json_field(response: httpx.Response, name: str) -> str | None:
    if response.status_code != 200:
        return None
    try:
        body: Any = response.json()
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None


def _vss_ids(response: httpx.Response) -> str:
    """Azure DevOps' tracing headers, which its support asks for."""
    ids = [f"{name} {response.headers[name]}" for name in ("x-vss-e2eid", "x-msedge-ref") if name in response.headers]
    return f" ({', '.join(ids)})" if ids else ""
