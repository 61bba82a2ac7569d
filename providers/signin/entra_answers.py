"""What an answer from Entra ID (or a managed-identity endpoint) means, before anything parses it.

The retrying client has already retried 429, 5xx and dropped connections; what reaches here
is what no retry could fix. MSAL would parse the rest as JSON, and on the way it logs a body
it cannot parse, access token and all (msal/oauth2cli/oauth2.py, `Client._obtain_token`:
"Token response is not in json format: %s"), quotes raw bodies in its exceptions
(msal/authority.py, `tenant_discovery`), fails with AttributeError on a JSON list, and reads
a 429 as an OAuth error although a real one comes as the plain text "Too Many Requests" with
`Retry-After: 60` (AzureAD/microsoft-authentication-library-for-dotnet#2855). So every
answer is checked here first, and what MSAL cannot use ends as one error that quotes no
body: UnreachableError when something other than Entra answered (a redirect, a page that is
no JSON object), UnavailableError when Entra kept failing or throttling.
"""

from __future__ import annotations

import json

import httpx

from providers.common.errors import UnavailableError, UnreachableError
from providers.graph.retry import retry_after_seconds

__all__ = ["checked"]


def checked(response: httpx.Response, what: str, fix: str) -> httpx.Response:
    """`response` when MSAL can read it; otherwise the error it means.

    `what` names the endpoint ("Entra ID's token endpoint for https://HOST/TENANT"), `fix`
    says what to check when the answer cannot be Entra's own.
    """
    status = response.status_code
    if 300 <= status < 400:
        raise UnreachableError(
            f"{what} answered with a redirect (HTTP {status}) instead of Entra ID's answer; {fix} "
            "(a proxy or a sign-in page may be answering in its place)"
        )
    if status == 429:
        asked = retry_after_seconds(response)
        wait = f", Retry-After {asked:.0f} s" if asked is not None else ""
        raise UnavailableError(f"{what} is throttling this app (HTTP 429{wait}) past what the retries wait; run again later")
    if status >= 500:
        raise UnavailableError(
            f"{what} kept failing (HTTP {status}) after every retry; Entra ID may be having an outage, run again later"
        )
    if 200 <= status < 300 and not _is_json_object(response.text):
        raise UnreachableError(
            f"{what} answered HTTP {status} with something other than a JSON object; {fix} "
            "(a proxy may be answering in its place)"
        )
    return response


def _is_json_object(text: str) -> bool:
    """Strict JSON, an object: no byte-order mark, nothing after it (json.loads refuses both)."""
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False
