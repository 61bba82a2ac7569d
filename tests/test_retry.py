"""The retry rules, one per test, with a scripted transport and a recorded (not real) sleep."""

from __future__ import annotations

import time
from collections.abc import Iterable
from email.utils import formatdate

import httpx
import pytest

from providers.common.deadline import operation_deadline
from providers.common.errors import DeadlineExceededError
from providers.graph.retry import DEFAULT_RETRY, RetryingClient, RetryPolicy, retry_after_seconds

URL = "https://graph.example.test/v1.0/policies/authorizationPolicy"
REQUEST = httpx.Request("GET", URL)


def response(status: int, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(status, headers=headers)


class Script:
    """A transport that answers with the given responses (or raises the given errors), in order."""

    def __init__(self, answers: Iterable[httpx.Response | Exception]):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.attempts: list[str | None] = []  # each try's Retry-Attempt header, as sent
        self.sleeps: list[float] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.attempts.append(request.headers.get("Retry-Attempt"))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def run(self, policy: RetryPolicy = DEFAULT_RETRY, method: str = "GET") -> httpx.Response:
        with RetryingClient(retry=policy, sleep=self.sleeps.append, transport=httpx.MockTransport(self.handle)) as client:
            return client.request(method, URL, headers={"client-request-id": "cid"}, json={"a": 1} if method == "PATCH" else None)


def test_retry_after_in_seconds_is_honoured_and_the_request_is_marked() -> None:
    script = Script([response(429, "7"), response(200)])
    assert script.run().status_code == 200
    assert script.sleeps == [7.0]
    assert script.attempts == [None, "1"]
    assert {r.headers["client-request-id"] for r in script.requests} == {"cid"}


def test_a_retried_patch_sends_the_same_body() -> None:
    script = Script([response(503), response(204)])
    assert script.run(RetryPolicy(base_delay=0.01), method="PATCH").status_code == 204
    assert [r.content for r in script.requests] == [b'{"a":1}'] * 2


def test_retry_after_as_http_date_or_fraction() -> None:
    assert retry_after_seconds(response(503, formatdate(1_000_030, usegmt=True)), now=1_000_000) == pytest.approx(30)
    assert retry_after_seconds(response(429, "2.128")) == pytest.approx(2.128)  # Graph's own throttling sample
    assert retry_after_seconds(response(503, "soon")) is None
    assert retry_after_seconds(response(503)) is None


def test_without_retry_after_backoff_grows_within_its_cap() -> None:
    policy = RetryPolicy(base_delay=2.0, max_delay=5.0)
    script = Script([response(503), response(504), response(500), response(200)])
    assert script.run(policy).status_code == 200
    first, second, third = script.sleeps
    assert 1.0 <= first <= 2.0
    assert 2.0 <= second <= 4.0
    assert 2.5 <= third <= 5.0


def test_gives_up_after_max_retries_with_the_last_response() -> None:
    script = Script([response(429, "1")] * 4)
    assert script.run(RetryPolicy(max_retries=3)).status_code == 429
    assert script.attempts == [None, "1", "2", "3"]
    assert script.sleeps == [1.0, 1.0, 1.0]


def test_a_wait_at_or_above_max_delay_is_not_taken() -> None:
    script = Script([response(429, "180"), response(200)])
    assert script.run().status_code == 429
    assert script.sleeps == []


def test_other_errors_are_not_retried() -> None:
    script = Script([response(403)])
    assert script.run().status_code == 403
    assert len(script.requests) == 1


def test_transport_errors_are_retried_then_raised() -> None:
    drop = httpx.RemoteProtocolError("Server disconnected", request=REQUEST)
    assert Script([drop, response(200)]).run(RetryPolicy(base_delay=0.01)).status_code == 200
    script = Script([drop] * 4)
    with pytest.raises(httpx.RemoteProtocolError):
        script.run(RetryPolicy(max_retries=3, base_delay=0.01))
    assert len(script.requests) == 4


def test_retries_stop_at_the_operation_deadline_and_say_so() -> None:
    script = Script([response(503, "100"), response(503, "100"), response(200)])
    with operation_deadline(150, clock=lambda: sum(script.sleeps)), pytest.raises(DeadlineExceededError) as caught:
        script.run()
    assert script.sleeps == [100.0]  # the second wait would pass the deadline
    message = str(caught.value)
    assert "after 2 attempt(s) (last: HTTP 503)" in message
    assert "the operation's 150 s deadline" in message
    assert "client-request-id cid" in message


def test_each_request_timeout_is_bounded_by_the_deadline() -> None:
    seen: list[dict[str, float]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return response(200)

    frozen = time.monotonic()  # no time passes: the bound is exactly the deadline, not the client's 30 s
    with (
        operation_deadline(5, clock=lambda: frozen),
        RetryingClient(transport=httpx.MockTransport(handle), timeout=30.0) as client,
    ):
        client.get(URL)
    assert set(seen[0].values()) == {5}
