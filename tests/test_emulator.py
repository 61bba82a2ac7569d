"""The emulator keeps faith with what Microsoft documents Graph and Entra answer, checked directly."""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emulator import Emulator, Tenant
from emulator.lab import start_lab
from providers.graph.retry import RetryPolicy
from providers.session import new_http_client
from tests.support.emulated import Registered

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


def test_github_id_token_endpoint_refuses_a_request_without_its_api_version(emulator: Emulator, http: httpx.Client) -> None:
    github = emulator.github_actions("repo:contoso/policy:environment:prod")
    url, token = github["ACTIONS_ID_TOKEN_REQUEST_URL"], github["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
    headers = {"Authorization": f"bearer {token}"}
    replaced = http.get(url, params={"audience": "api://AzureADTokenExchange"}, headers=headers)  # httpx drops ?api-version
    assert replaced.status_code == 400
    merged = http.get(httpx.URL(url).copy_merge_params({"audience": "api://AzureADTokenExchange"}), headers=headers)
    assert merged.status_code == 200
    assert merged.json()["value"].count(".") == 2


def test_graph_refuses_a_token_for_another_audience(emulator: Emulator, tenant: Tenant, graph: httpx.Client) -> None:
    other = emulator.directory.issue(tenant, ["Policy.ReadWrite.Authorization"], "app", "https://management.azure.com")
    assert graph.get(POLICY, headers={"Authorization": f"Bearer {other}"}).status_code == 401


def test_a_managed_identity_token_is_for_its_home_tenant(emulator: Emulator, http: httpx.Client) -> None:
    home = emulator.add_tenant()
    emulator.add_managed_identity(home, client_id="3f1e2d3c-0000-4000-8000-00000000abcd")
    env = emulator.managed_identity_env()
    answer = http.get(
        env["IDENTITY_ENDPOINT"],
        params={"api-version": "2019-08-01", "resource": emulator.url, "client_id": "3f1e2d3c-0000-4000-8000-00000000abcd"},
        headers={"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]},
    )
    assert emulator.directory.validate(answer.json()["access_token"], [emulator.url]).tenant_id == home.id  # type: ignore[union-attr]


def test_managed_identity_hosts_bypass_a_proxy(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """IMDS, App Service and Arc endpoints are on the machine: a web proxy must not see them."""
    proxy = socket.create_server(("127.0.0.1", 0))
    proxy.settimeout(5)
    for name in ("HTTPS_PROXY", "HTTP_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.getsockname()[1]}")
    with proxy, new_http_client(retry=RetryPolicy(max_retries=0)) as client:
        for host in ("127.0.0.1", "localhost"):
            assert client.get(emulator.url.replace("127.0.0.1", host) + "/msi/token").status_code == 401
        with pytest.raises(httpx.TransportError):
            client.get("https://graph.example.test/v1.0/policies/authorizationPolicy", timeout=0.5)
        connection, _ = proxy.accept()  # only the Graph request went to the proxy
        assert connection.recv(200).startswith(b"CONNECT graph.example.test:443")
        connection.close()


def test_a_running_lab_is_never_replaced_and_a_stopped_one_is(tmp_path: Path) -> None:
    directory = tmp_path / "lab"
    running = start_lab(4, directory)
    try:
        env_file = (directory / "lab.env").read_text()
        with pytest.raises(ValueError, match="a lab is running") as refused:
            start_lab(4, directory)
        assert str(refused.value) == (
            f"a lab is running in {directory} (pid {os.getpid()}); it is left as it is: stop it first "
            f"(Ctrl-C where it runs, or kill {os.getpid()}), or give another --dir"
        )
        assert (directory / "lab.env").read_text() == env_file  # its secret, stacks and state untouched
        assert running.replaced is False
    finally:
        running.stop()
    again = start_lab(4, directory)
    again.stop()
    assert again.replaced is True
    assert (directory / "lab.env").read_text() != env_file  # a new lab, a new secret


def test_a_directory_that_holds_no_lab_is_never_emptied(tmp_path: Path) -> None:
    directory = tmp_path / "thesis"
    directory.mkdir()
    (directory / "chapter-1.txt").write_text("years of work")
    with pytest.raises(ValueError, match="holds files and no lab"):
        start_lab(4, directory)
    assert [path.name for path in directory.iterdir()] == ["chapter-1.txt"]
