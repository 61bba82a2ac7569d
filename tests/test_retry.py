"""The retry rules, one per test, with scripted responses and a recorded (not real) sleep."""

from __future__ import annotations

from collections.abc import Iterable
from email.utils import formatdate

import httpx
import pytest

from providers.retry import DEFAULT_RETRY, RetryPolicy, retry_after_seconds, send_with_retries

REQUEST = httpx.Request("GET", "https://graph.example.test/v1.0/policies/authorizationPolicy")


def response(status: int, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(status, headers=headers, request=REQUEST)


class Script:
    """Answers with the given responses (or raises the given errors), in order."""

    def __init__(self, answers: Iterable[httpx.Response | Exception]):
        self.answers = list(answers)
        self.attempts: list[int] = []
        self.sleeps: list[float] = []

    def send(self, attempt: int) -> httpx.Response:
        self.attempts.append(attempt)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def run(self, policy: RetryPolicy = DEFAULT_RETRY) -> httpx.Response:
        return send_with_retries(self.send, policy, self.sleeps.append)


def test_retry_after_in_seconds_is_honoured() -> None:
    script = Script([response(429, "7"), response(200)])
    assert script.run().status_code == 200
    assert script.sleeps == [7.0]
    assert script.attempts == [0, 1]


def test_retry_after_as_http_date() -> None:
    assert retry_after_seconds(response(503, formatdate(1_000_030, usegmt=True)), now=1_000_000) == pytest.approx(30)
    assert retry_after_seconds(response(503, "soon")) is None
    assert retry_after_seconds(response(503)) is None


def test_without_retry_after_backoff_grows_within_its_cap() -> None:
    policy = RetryPolicy(base_delay=2.0, max_delay=5.0)
    script = Script([response(503), response(504), response(503), response(200)])
    assert script.run(policy).status_code == 200
    first, second, third = script.sleeps
    assert 1.0 <= first <= 2.0
    assert 2.0 <= second <= 4.0
    assert 2.5 <= third <= 5.0


def test_gives_up_after_max_retries_with_the_last_response() -> None:
    script = Script([response(429, "1")] * 4)
    assert script.run(RetryPolicy(max_retries=3)).status_code == 429
    assert script.attempts == [0, 1, 2, 3]
    assert script.sleeps == [1.0, 1.0, 1.0]


def test_a_wait_at_or_above_max_delay_is_not_taken() -> None:
    script = Script([response(429, "180"), response(200)])
    assert script.run().status_code == 429
    assert script.sleeps == []


def test_total_wait_is_bounded() -> None:
    script = Script([response(429, "100"), response(429, "100"), response(200)])
    assert script.run(RetryPolicy(max_total_wait=150)).status_code == 429
    assert script.sleeps == [100.0]


def test_other_errors_are_not_retried() -> None:
    script = Script([response(403)])
    assert script.run().status_code == 403
    assert script.attempts == [0]


def test_transport_errors_are_retried_then_raised() -> None:
    drop = httpx.RemoteProtocolError("Server disconnected", request=REQUEST)
    assert Script([drop, response(200)]).run().status_code == 200
    script = Script([drop] * 4)
    with pytest.raises(httpx.RemoteProtocolError):
        script.run(RetryPolicy(max_retries=3, base_delay=0.01))
    assert script.attempts == [0, 1, 2, 3]
