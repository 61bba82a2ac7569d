"""One retry policy for every request the product sends: Graph, Entra's token and discovery
endpoints, the managed-identity endpoint and the CI systems' OIDC endpoints.

Retries live in the HTTP client (`RetryingClient.send`), which MSAL and the Graph client
share, so Entra and Graph get the same rules. Defaults follow the Graph SDKs' retry handler
(kiota RetryHandler: 3 retries, 3 s base delay, Retry-After honoured in seconds or as an
HTTP date, no single wait of 180 s or more; learn.microsoft.com/graph/throttling). Entra's
5xx are retried as azure-identity retries them (azure-core's RetryPolicy retries 500, 502,
503, 504). On top, every provider operation has one deadline (`deadline.operation_deadline`)
that all its requests, bodies and waits share, so a CI job never hangs for long.
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from providers.common.deadline import Deadline, current_deadline
from providers.common.errors import DeadlineExceededError

__all__ = [
    "DEFAULT_RETRY",
    "HOST_ONLY_EXTENSION",
    "POLICY_EXTENSION",
    "RetryPolicy",
    "RetryingClient",
    "certificate_refused",
    "host_only",
    "retry_after_seconds",
    "wire_problem",
]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one request."""

    max_retries: int = 3
    base_delay: float = 3.0
    max_delay: float = 180.0
    statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})

    def backoff(self, attempt: int) -> float:
        """Capped exponential backoff with jitter for retry number `attempt` (0-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)


DEFAULT_RETRY = RetryPolicy()
POLICY_EXTENSION = "bitlocker_policy.retry"  # a request's own RetryPolicy, in its httpx extensions
HOST_ONLY_EXTENSION = "bitlocker_policy.host_only"  # True: messages name only the URL's host (a webhook's path is a secret)


def retry_after_seconds(response: httpx.Response, now: float | None = None) -> float | None:
    """The wait a Retry-After header asks for (seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:  # Graph's own throttling sample sends a fraction: "Retry-After: 2.128"
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RetryingClient(httpx.Client):
    """An httpx.Client whose every request is retried by one policy within the operation's deadline.

    A request may carry a policy of its own (extensions[POLICY_EXTENSION]), else the client's
    applies. A retried request keeps its headers (so its client-request-id) and gains `Retry-Attempt`.
    When retries run out the last response is returned (the caller reports its status) or
    the last transport error is raised; when the deadline would pass, DeadlineExceededError,
    whose message names the request's URL without its query, or only its host when the request
    carries HOST_ONLY_EXTENSION (a webhook's path and query are its secret).
    """

    def __init__(self, *, retry: RetryPolicy = DEFAULT_RETRY, sleep: Callable[[float], None] = time.sleep, **kwargs: Any):
        super().__init__(**kwargs)
        self.retry = retry
        self._sleep = sleep

    def send(self, request: httpx.Request, *, stream: bool = False, **kwargs: Any) -> httpx.Response:
        """Send `request`, retrying throttling, outages and dropped connections."""
        policy: RetryPolicy = request.extensions.get(POLICY_EXTENSION, self.retry)
        for attempt in range(policy.max_retries + 1):
            if attempt:
                request.headers["Retry-Attempt"] = str(attempt)
            _bound_timeout(request)
            last_try = attempt == policy.max_retries
            try:
                response = super().send(request, stream=True, **kwargs)
                if not stream:
                    _read_within_deadline(response)
            except httpx.TransportError as exc:
                if last_try or certificate_refused(exc):  # a certificate does not get better by waiting
                    raise
                delay, last = policy.backoff(attempt), type(exc).__name__
            else:
                if response.status_code not in policy.statuses or last_try:
                    return response
                asked = retry_after_seconds(response)
                if asked is not None and asked >= policy.max_delay:
                    return response
                delay = policy.backoff(attempt) if asked is None else asked
                last = _describe(response)
                response.close()
            _wait_within_deadline(delay, request, last, attempt + 1, self._sleep)
        raise AssertionError("unreachable: the last attempt returns or raises")


def certificate_refused(exc: BaseException) -> bool:
    """Whether TLS verification refused the server's certificate somewhere in `exc`'s chain."""
    cause: BaseException | None = exc
    for _ in range(8):
        if cause is None:
            return False
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def wire_problem(exc: httpx.HTTPError) -> str:
    """What went wrong on the wire, for a message: a refused certificate, else the error's kind."""
    if certificate_refused(exc):
        return (
            "TLS certificate not trusted: if a proxy or a private CA signs it, set SSL_CERT_FILE to a "
            "bundle holding that CA and the public roots"
        )
    return type(exc).__name__


def host_only(url: httpx.URL) -> str:
    """A URL whose path and query are a secret, as a message shows it: scheme and host."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}/…"


def _shown(request: httpx.Request) -> str:
    """The request's URL as a message shows it: without its query, or only its host when it is a secret."""
    return host_only(request.url) if request.extensions.get(HOST_ONLY_EXTENSION) else str(request.url.copy_with(query=None))


def _describe(response: httpx.Response) -> str:
    request_id = response.headers.get("request-id") or response.headers.get("x-ms-request-id")
    return f"HTTP {response.status_code}" + (f", request-id {request_id}" if request_id else "")


def _wait_within_deadline(delay: float, request: httpx.Request, last: str, tries: int, sleep: Callable[[float], None]) -> None:
    deadline = current_deadline()
    if deadline is not None and delay > deadline.left():
        raise DeadlineExceededError(
            f"Gave up on {request.method} {_shown(request)} after {tries} "
            f"attempt(s) (last: {last}): waiting {delay:.0f} s more would pass the operation's "
            f"{deadline.seconds:.0f} s deadline; run again later "
            f"(client-request-id {request.headers.get('client-request-id', 'none')})"
        )
    sleep(delay)


class _DeadlineStream(httpx.SyncByteStream):
    """A response body that stops arriving when the operation's deadline passes."""

    def __init__(self, inner: httpx.SyncByteStream, deadline: Deadline, request: httpx.Request):
        self._inner = inner
        self._deadline = deadline
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if self._deadline.left() <= 0:
                raise httpx.ReadTimeout("the body was still arriving at the operation's deadline", request=self._request)
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _read_within_deadline(response: httpx.Response) -> None:
    """Read the body, however slowly it trickles in, only until the operation's deadline."""
    deadline = current_deadline()
    if deadline is not None and isinstance(response.stream, httpx.SyncByteStream):
        response.stream = _DeadlineStream(response.stream, deadline, response.request)
    try:
        response.read()
    finally:
        response.close()


def _bound_timeout(request: httpx.Request) -> None:
    """No single read, write or connect may outlast the operation's deadline."""
    deadline = current_deadline()
    timeouts = request.extensions.get("timeout")
    if deadline is None or not isinstance(timeouts, dict):
        return
    left = max(0.001, deadline.left())
    request.extensions["timeout"] = {k: left if v is None else min(v, left) for k, v in timeouts.items()}
