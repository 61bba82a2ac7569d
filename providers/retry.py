"""Retries for Graph: 429/503/504 and transport errors, honouring Retry-After.

Defaults follow the Graph SDKs' retry handler: 3 retries, 3 s base delay, and no wait
of 180 s or more. On top, a bound on the total wait so a CI job never hangs for long.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["DEFAULT_RETRY", "RetryPolicy", "retry_after_seconds", "send_with_retries"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one Graph request."""

    max_retries: int = 3
    base_delay: float = 3.0
    max_delay: float = 180.0
    max_total_wait: float = 300.0
    statuses: frozenset[int] = frozenset({429, 503, 504})

    def backoff(self, attempt: int) -> float:
        """Capped exponential backoff with full jitter for retry number `attempt` (0-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)


DEFAULT_RETRY = RetryPolicy()


def retry_after_seconds(response: httpx.Response, now: float | None = None) -> float | None:
    """The wait a Retry-After header asks for (seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def send_with_retries(
    send: Callable[[int], httpx.Response],
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Response:
    """Call `send(attempt)` until it succeeds or the policy gives up.

    Returns the last response (which may still be a 429/503/504: the caller reports it);
    re-raises the last transport error.
    """
    waited = 0.0
    for attempt in range(policy.max_retries + 1):
        last_try = attempt == policy.max_retries
        try:
            response = send(attempt)
        except httpx.TransportError:
            if last_try:
                raise
            delay = policy.backoff(attempt)
            if waited + delay > policy.max_total_wait:
                raise
        else:
            if response.status_code not in policy.statuses or last_try:
                return response
            asked = retry_after_seconds(response)
            delay = policy.backoff(attempt) if asked is None else asked
            if delay >= policy.max_delay or waited + delay > policy.max_total_wait:
                return response
            response.close()
        sleep(delay)
        waited += delay
    raise AssertionError("unreachable: the last attempt returns or raises")
