"""The two Graph calls against the emulator over real TLS: bodies, ids, errors, retries."""

from __future__ import annotations

import json
import tomllib
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator import Emulator, Tenant
from providers.common.deadline import operation_deadline
from providers.common.errors import (
    DeadlineExceededError,
    ForbiddenError,
    GraphError,
    ThrottledError,
    UnexpectedResponseError,
    UnreachableError,
)
from providers.config.credentials import ClientSecret
from providers.config.settings import Endpoints
from providers.graph.authorization_policy import BITLOCKER_KEYS, PolicyField
from providers.graph.client import GraphClient
from providers.session import new_http_client
from providers.signin.tenants import TenantDirectory
from providers.signin.tokens import token_source
from tests.support.emulated import Registered, Sleeps
from tests.support.paths import REPO

pytestmark = pytest.mark.usefixtures("trust_emulator")


def client_for(emulator: Emulator, tenant: Tenant, client_id: str, secret: str, http: httpx.Client, url: str = "") -> GraphClient:
    endpoints = Endpoints(emulator.url, emulator.url)
    tokens = token_source(ClientSecret(client_id, secret), tenant.id, endpoints, http, TenantDirectory(http, emulator.url))
    return GraphClient(http, url or emulator.url, tokens.token)


@pytest.fixture
def graph(emulator: Emulator, tenant: Tenant, registered: Registered, http: httpx.Client) -> GraphClient:
    return client_for(emulator, tenant, registered.app.client_id, registered.secret, http)


def test_read_is_one_get_with_a_client_request_id(emulator: Emulator, tenant: Tenant, graph: GraphClient) -> None:
    assert graph.read(BITLOCKER_KEYS) is True
    (get,) = emulator.graph_requests(tenant=tenant)
    assert get.method == "GET"
    assert uuid.UUID(get.headers["client-request-id"])
    assert get.headers["authorization"].startswith("Bearer ")


def test_every_request_names_the_product_and_its_version(emulator: Emulator, tenant: Tenant, graph: GraphClient) -> None:
    graph.read(BITLOCKER_KEYS)
    with (REPO / "pyproject.toml").open("rb") as file:
        written = tomllib.load(file)["project"]["version"]
    assert [request.headers["user-agent"] for request in emulator.graph_requests(tenant=tenant)] == [
        f"bitlocker-policy/{written}"
    ]


def test_write_patches_exactly_one_property(emulator: Emulator, tenant: Tenant, graph: GraphClient) -> None:
    before = json.loads(json.dumps(tenant.policy))
    request_id = graph.write(BITLOCKER_KEYS, False)
    (patch,) = emulator.graph_requests("PATCH", tenant)
    assert json.loads(patch.body) == {"defaultUserRolePermissions": {"allowedToReadBitlockerKeysForOwnedDevice": False}}
    assert patch.status == 204
    assert request_id == patch.request_id
    assert tenant.bitlocker is False
    before["defaultUserRolePermissions"]["allowedToReadBitlockerKeysForOwnedDevice"] = False
    assert tenant.policy == before


def test_a_sibling_field_is_read_written_and_known_apart_by_its_entry_alone(
    emulator: Emulator, tenant: Tenant, graph: GraphClient
) -> None:
    sibling = PolicyField("allowedToCreateTenants")
    assert graph.read(sibling) is True
    graph.write(sibling, False)
    (_, patch) = emulator.graph_requests(tenant=tenant)
    assert json.loads(patch.body) == {"defaultUserRolePermissions": {"allowedToCreateTenants": False}}
    assert tenant.policy["defaultUserRolePermissions"]["allowedToCreateTenants"] is False
    assert graph.live_value(sibling) is False  # as written, no request
    assert graph.live_value(BITLOCKER_KEYS) is True  # its own read: untouched by the sibling's write
    assert [request.method for request in emulator.graph_requests(tenant=tenant)] == ["GET", "PATCH", "GET"]


def test_one_token_serves_many_calls(emulator: Emulator, tenant: Tenant, graph: GraphClient) -> None:
    graph.read(BITLOCKER_KEYS)
    graph.write(BITLOCKER_KEYS, False)
    graph.read(BITLOCKER_KEYS)
    assert len(emulator.token_requests(tenant)) == 1


def test_read_only_app_cannot_write_and_is_told_which_permission(emulator: Emulator, tenant: Tenant, http: httpx.Client) -> None:
    app = tenant.add_app(["Policy.Read.All"])
    graph = client_for(emulator, tenant, app.client_id, app.add_secret(), http)
    assert graph.read(BITLOCKER_KEYS) is True
    with pytest.raises(ForbiddenError) as caught:
        graph.write(BITLOCKER_KEYS, False)
    patch = emulator.graph_requests("PATCH", tenant)[0]
    assert caught.value.code == "Authorization_RequestDenied"
    assert "Policy.ReadWrite.Authorization with admin consent" in str(caught.value)
    assert "Insufficient privileges to complete the operation." in str(caught.value)  # Graph's own message
    assert patch.request_id
    assert patch.request_id in str(caught.value)
    assert patch.headers["client-request-id"] in str(caught.value)


def test_app_without_policy_permissions_cannot_read(emulator: Emulator, tenant: Tenant, http: httpx.Client) -> None:
    app = tenant.add_app(["User.Read.All"])
    with pytest.raises(ForbiddenError, match=r"Policy.Read.All \(or Policy.ReadWrite.Authorization\)"):
        client_for(emulator, tenant, app.client_id, app.add_secret(), http).read(BITLOCKER_KEYS)


def test_throttling_honours_retry_after_and_keeps_the_client_request_id(
    emulator: Emulator, tenant: Tenant, graph: GraphClient, sleeps: Sleeps
) -> None:
    emulator.faults.throttle(2, retry_after="2")
    assert graph.read(BITLOCKER_KEYS) is True
    first, second, third = emulator.graph_requests(tenant=tenant)
    assert [first.status, second.status, third.status] == [429, 429, 200]
    assert sleeps == [2.0, 2.0]
    assert {r.headers["client-request-id"] for r in (first, second, third)} == {first.headers["client-request-id"]}
    assert [r.headers.get("retry-attempt") for r in (first, second, third)] == [None, "1", "2"]


def test_5xx_without_retry_after_back_off(emulator: Emulator, tenant: Tenant, graph: GraphClient, sleeps: Sleeps) -> None:
    emulator.faults.fail(503)
    emulator.faults.fail(504)
    emulator.faults.fail(500)
    graph.write(BITLOCKER_KEYS, False)
    assert len(sleeps) == 3
    assert all(0 < s <= 0.04 for s in sleeps)
    assert tenant.bitlocker is False


def test_still_throttled_after_every_retry(emulator: Emulator, tenant: Tenant, graph: GraphClient) -> None:
    emulator.faults.throttle(4, retry_after="1")
    with pytest.raises(ThrottledError, match=r"retries ran out \(last Retry-After: 1\).*HTTP 429 TooManyRequests.*request-id"):
        graph.read(BITLOCKER_KEYS)
    assert len(emulator.graph_requests(tenant=tenant)) == 4  # the first try and 3 retries
    assert tenant.bitlocker is True


def test_a_retry_after_of_three_minutes_is_not_waited_for(
    emulator: Emulator, tenant: Tenant, graph: GraphClient, sleeps: Sleeps
) -> None:
    emulator.faults.throttle(1, retry_after="180")
    with pytest.raises(ThrottledError, match=r"last Retry-After: 180"):
        graph.read(BITLOCKER_KEYS)
    assert sleeps == []


def test_dropped_connection_is_retried(emulator: Emulator, tenant: Tenant, graph: GraphClient) -> None:
    emulator.faults.drop(1)
    assert graph.read(BITLOCKER_KEYS) is True


def test_unreachable_graph_is_a_clear_error(
    emulator: Emulator, tenant: Tenant, registered: Registered, http: httpx.Client
) -> None:
    graph = client_for(emulator, tenant, registered.app.client_id, registered.secret, http, url="https://127.0.0.1:9")
    with pytest.raises(UnreachableError, match="bitlocker-policy:graphEndpoint"):
        graph.read(BITLOCKER_KEYS)


def test_a_null_live_value_is_read_as_none(emulator: Emulator, tenant: Tenant, graph: GraphClient) -> None:
    emulator.set_bitlocker(tenant, None)  # the v1.0 CSDL declares the property nullable
    assert graph.read(BITLOCKER_KEYS) is None


def test_a_policy_without_the_bitlocker_key_is_unknown_not_false(emulator: Emulator, tenant: Tenant, graph: GraphClient) -> None:
    emulator.remove_bitlocker_key(tenant)
    with pytest.raises(
        UnexpectedResponseError,
        match=r"no boolean or null defaultUserRolePermissions\.allowedToReadBitlockerKeysForOwnedDevice.*unknown",
    ):
        graph.read(BITLOCKER_KEYS)


def test_any_2xx_answer_to_a_patch_is_success(emulator: Emulator, tenant: Tenant, graph: GraphClient) -> None:
    emulator.faults.applied(200)
    request_id = graph.write(BITLOCKER_KEYS, False)
    assert request_id == emulator.graph_requests("PATCH", tenant)[0].request_id
    assert tenant.bitlocker is False


def test_a_redirect_is_an_error_that_says_so(emulator: Emulator, tenant: Tenant, graph: GraphClient) -> None:
    emulator.faults.applied(301)
    with pytest.raises(GraphError, match=r"Graph's endpoint redirected PATCH .*/moved.*set bitlocker-policy:graphEndpoint"):
        graph.write(BITLOCKER_KEYS, False)


def test_a_refused_token_is_a_graph_401(emulator: Emulator, tenant: Tenant, graph: GraphClient) -> None:
    graph.read(BITLOCKER_KEYS)
    emulator.directory.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(GraphError, match="refused the access token") as caught:
        graph.read(BITLOCKER_KEYS)
    assert caught.value.status == 401
    assert caught.value.code == "InvalidAuthenticationToken"
    assert "Access token validation failure." in str(caught.value)


def test_a_body_trickling_past_the_deadline_ends_at_the_deadline(emulator: Emulator, graph: GraphClient) -> None:
    """Every byte arrives within the read timeout; only the operation's deadline stops it."""
    emulator.faults.slow(seconds=3.0, count=4)
    before = len(emulator.graph_requests())
    with operation_deadline(1.0), pytest.raises(DeadlineExceededError, match=r"after 1 attempt\(s\) \(last: ReadTimeout\)"):
        graph.read(BITLOCKER_KEYS)
    assert len(emulator.graph_requests()) == before + 1  # stopped in the first slow body, no retry begun


def test_a_body_that_cannot_be_decoded_is_one_line() -> None:
    """A proxy that says gzip and sends something else: httpx's DecodingError is no transport error."""

    def handle(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"not gzip")

    with new_http_client(httpx.MockTransport(handle)) as http, pytest.raises(UnreachableError, match=r"\(DecodingError\)"):
        GraphClient(http, "https://graph.example.test", lambda: "token").read(BITLOCKER_KEYS)


@pytest.mark.parametrize(("status", "error"), [(200, UnexpectedResponseError), (403, GraphError)], ids=["policy", "error"])
def test_a_body_nested_past_pythons_limit_is_one_line_not_a_recursion_error(status: int, error: type[Exception]) -> None:
    """JSON nested 100,000 deep: Python's decoder raises RecursionError, which must end as any unusable answer does."""

    def handle(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"Content-Type": "application/json"}, content=b"[" * 100_000)

    with new_http_client(httpx.MockTransport(handle)) as http, pytest.raises(error):
        GraphClient(http, "https://graph.example.test", lambda: "token").read(BITLOCKER_KEYS)
