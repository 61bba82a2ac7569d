"""The emulator keeps faith with REFERENCE.md: what Graph and Entra answer, checked directly."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Registered
from tests.emulator import Emulator, Tenant

pytestmark = pytest.mark.usefixtures("trust_emulator")

POLICY = "/v1.0/policies/authorizationPolicy"


@pytest.fixture
def graph(emulator: Emulator, tenant: Tenant, registered: Registered, http: httpx.Client) -> Iterator[httpx.Client]:
    """An httpx client with a valid bearer token for the tenant, based at the emulator."""
    token = http.post(
        f"{emulator.url}/{tenant.id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": registered.app.client_id,
            "client_secret": registered.secret,
            "scope": "https://graph.microsoft.com/.default",
        },
    ).json()["access_token"]
    with httpx.Client(base_url=emulator.url, verify=ssl.create_default_context()) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def test_get_is_one_object_with_documented_casing(graph: httpx.Client) -> None:
    response = graph.get(POLICY)
    body = response.json()
    assert response.status_code == 200
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#policies/authorizationPolicy/$entity"
    assert body["id"] == "authorizationPolicy"
    assert set(body["defaultUserRolePermissions"]) == {
        "allowedToCreateApps",
        "allowedToCreateSecurityGroups",
        "allowedToCreateTenants",
        "allowedToReadBitlockerKeysForOwnedDevice",
        "allowedToReadOtherUsers",
        "permissionGrantPoliciesAssigned",
    }
    assert response.headers["request-id"]
    assert response.headers["client-request-id"]


def test_beta_answers_a_collection(graph: httpx.Client) -> None:
    assert graph.get("/beta/policies/authorizationPolicy").json()["value"][0]["id"] == "authorizationPolicy"


def test_patch_names_are_case_insensitive_and_answer_204(graph: httpx.Client, tenant: Tenant) -> None:
    response = graph.patch(POLICY, json={"DefaultUserRolePermissions": {"allowedtoreadbitlockerkeysforowneddevice": False}})
    assert (response.status_code, response.content) == (204, b"")
    assert tenant.bitlocker is False
    assert "allowedToReadBitlockerKeysForOwnedDevice" in tenant.policy["defaultUserRolePermissions"]


@pytest.mark.parametrize(
    "body",
    [
        {"defaultUserRolePermissions": {"allowedToReadBitlockerKeys": False}},
        {"notAProperty": True},
        {"defaultUserRolePermissions": {"allowedToReadBitlockerKeysForOwnedDevice": "false"}},
        {"blockMsolPowerShell": 1},
    ],
)
def test_unknown_properties_and_wrong_types_are_400(graph: httpx.Client, tenant: Tenant, body: dict[str, object]) -> None:
    response = graph.patch(POLICY, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Request_BadRequest"
    assert tenant.bitlocker is True


def test_no_token_is_401_with_an_odata_error(graph: httpx.Client) -> None:
    del graph.headers["Authorization"]
    response = graph.get(POLICY)
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (401, "InvalidAuthenticationToken")
    assert error["innerError"]["request-id"] == response.headers["request-id"]


def test_stale_reads_after_a_write(graph: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.stale_reads_ms = 300
    graph.patch(POLICY, json={"defaultUserRolePermissions": {"allowedToReadBitlockerKeysForOwnedDevice": False}})
    assert graph.get(POLICY).json()["defaultUserRolePermissions"]["allowedToReadBitlockerKeysForOwnedDevice"] is True
    time.sleep(0.35)
    assert graph.get(POLICY).json()["defaultUserRolePermissions"]["allowedToReadBitlockerKeysForOwnedDevice"] is False


def test_latency_beyond_the_read_timeout_is_a_timeout(graph: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.latency = 0.5
    with pytest.raises(httpx.ReadTimeout):
        graph.get(POLICY, timeout=0.1)


def test_unknown_tenant_discovery_is_aadsts90002(emulator: Emulator, http: httpx.Client) -> None:
    response = http.get(f"{emulator.url}/contoso.example/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    assert response.json()["error_codes"] == [90002]
