"""The provider's operations against the emulator, with the Graph requests each one makes."""

from __future__ import annotations

import base64
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from providers.bitlocker import BitlockerKeyAccessProvider
from providers.errors import ConfigurationError, ForbiddenError, UnexpectedResponseError
from tests.conftest import Configure, Registered, emulator_config
from tests.emulator import Emulator, Tenant

DESIRED = "allowedToReadBitlockerKeysForOwnedDevice"


def inputs(tenant: Tenant, desired: Any, spelling: str | None = None) -> dict[str, Any]:
    return {"tenantId": spelling or tenant.id, DESIRED: desired}


def calls(emulator: Emulator, tenant: Tenant) -> list[str]:
    return [r.method for r in emulator.graph_requests(tenant=tenant)]


def created(provider: BitlockerKeyAccessProvider, tenant: Tenant, desired: bool) -> dict[str, Any]:
    return provider.create(inputs(tenant, desired)).outs or {}


# -- check ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("tenant_id", ["8f3a0c5e-5d2b-4c3e-9a51-d3e1b2c4a6f7", "contoso.onmicrosoft.com", "CONTOSO.COM"])
def test_check_accepts_a_guid_or_a_domain(provider: BitlockerKeyAccessProvider, tenant_id: str) -> None:
    assert provider.check({}, {"tenantId": tenant_id, DESIRED: False}).failures == []


@pytest.mark.parametrize("tenant_id", ["8f3a0c5e-5d2b-4c3e-9a51-d3e1b2c4a6f7\n", " contoso.onmicrosoft.com", "contoso.com\n"])
def test_check_refuses_surrounding_whitespace(provider: BitlockerKeyAccessProvider, tenant_id: str) -> None:
    (failure,) = provider.check({}, {"tenantId": tenant_id, DESIRED: False}).failures
    assert "no spaces or line breaks" in failure.reason


def test_check_names_the_config_keys_before_any_request(provider: BitlockerKeyAccessProvider, emulator: Emulator) -> None:
    before = len(emulator.directory.requests)
    failures = provider.check({}, {"tenantId": "not a tenant", DESIRED: "maybe"}).failures
    assert [f.property for f in failures] == ["tenantId", DESIRED]
    assert "azuread:tenantId (or ARM_TENANT_ID, AZURE_TENANT_ID)" in failures[0].reason
    assert "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice must be true or false, got 'maybe'" in failures[1].reason
    assert len(emulator.directory.requests) == before


# -- create: adoption ----------------------------------------------------------------------------
def test_create_adopts_and_patches_when_the_value_differs(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    result = provider.create(inputs(tenant, False))
    patch = emulator.graph_requests("PATCH", tenant)[0]
    assert calls(emulator, tenant) == ["GET", "PATCH"]
    assert result.id == f"{tenant.id}/authorizationPolicy"
    assert result.outs == {
        "tenantId": tenant.id,
        DESIRED: False,
        "liveValue": False,
        "adoptedValue": True,
        "lastPatchRequestId": patch.request_id,
    }
    assert tenant.bitlocker is False


def test_create_does_not_patch_when_the_tenant_already_agrees(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    outs = created(provider, tenant, True)
    assert calls(emulator, tenant) == ["GET"]
    assert (outs["adoptedValue"], outs["lastPatchRequestId"]) == (True, None)


def test_create_over_a_null_value_sets_it_and_adopts_null(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    emulator.set_bitlocker(tenant, None)
    outs = created(provider, tenant, False)
    assert calls(emulator, tenant) == ["GET", "PATCH"]
    assert (outs["adoptedValue"], outs["liveValue"], tenant.bitlocker) == (None, False, False)
    emulator.directory.requests.clear()
    provider.delete("id", outs)  # nothing to restore: the tenant is left as it is
    assert calls(emulator, tenant) == []
    assert tenant.bitlocker is False


def test_create_refuses_a_policy_without_the_key_and_changes_nothing(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    emulator.remove_bitlocker_key(tenant)
    with pytest.raises(UnexpectedResponseError, match="value is unknown"):
        provider.create(inputs(tenant, False))
    assert calls(emulator, tenant) == ["GET"]


# -- diff: live comparison -----------------------------------------------------------------------
def test_diff_when_converged_is_one_get_and_no_change(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    outs = created(provider, tenant, False)
    emulator.directory.requests.clear()
    assert provider.diff("id", outs, inputs(tenant, False)).changes is False
    assert calls(emulator, tenant) == ["GET"]


def test_diff_sees_portal_drift(provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant) -> None:
    outs = created(provider, tenant, False)
    emulator.set_bitlocker(tenant, True)
    assert provider.diff("id", outs, inputs(tenant, False)).changes is True


def test_diff_sees_a_new_desired_value_without_a_request(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    outs = created(provider, tenant, False)
    emulator.directory.requests.clear()
    assert provider.diff("id", outs, inputs(tenant, True)).changes is True
    assert calls(emulator, tenant) == []


def test_another_tenant_is_a_replacement_that_deletes_first(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    outs = created(provider, tenant, False)
    emulator.directory.requests.clear()
    other = emulator.add_tenant()
    diff = provider.diff("id", outs, inputs(other, False))
    assert (diff.changes, diff.replaces, diff.delete_before_replace) == (True, ["tenantId"], True)
    assert emulator.graph_requests() == []


def test_a_domain_is_keyed_on_its_guid_and_a_respelling_is_no_change(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    result = provider.create(inputs(tenant, False, spelling=tenant.domain))
    assert result.id == f"{tenant.id}/authorizationPolicy"
    assert result.outs is not None
    assert result.outs["tenantId"] == tenant.id
    for spelling in (tenant.domain.upper(), tenant.id.upper()):
        diff = provider.diff(result.id, result.outs, inputs(tenant, False, spelling=spelling))
        assert (diff.changes, diff.replaces) == (False, None)
    assert len(emulator.directory.recorded("discovery", tenant_id=tenant.id)) == 1  # one per process


# -- update, read, delete ------------------------------------------------------------------------
def test_update_is_one_patch(provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant) -> None:
    outs = created(provider, tenant, False)
    emulator.directory.requests.clear()
    result = provider.update("id", outs, inputs(tenant, True))
    assert calls(emulator, tenant) == ["PATCH"]
    assert tenant.bitlocker is True
    assert result.outs is not None
    assert (result.outs["liveValue"], result.outs["adoptedValue"]) == (True, True)
    assert result.outs["lastPatchRequestId"] == emulator.graph_requests("PATCH", tenant)[0].request_id


def test_read_returns_the_live_value_as_output_and_input(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    outs = created(provider, tenant, False)
    emulator.set_bitlocker(tenant, True)
    result = provider.read("id", outs)
    assert result.inputs == {"tenantId": tenant.id, DESIRED: True}
    emulator.set_bitlocker(tenant, None)
    assert provider.read("id", outs).outs == {**outs, DESIRED: None, "liveValue": None}
    assert result.outs is not None
    assert (result.outs[DESIRED], result.outs["liveValue"], result.outs["adoptedValue"]) == (True, True, True)


def test_delete_restores_the_adopted_value(provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant) -> None:
    outs = created(provider, tenant, False)
    emulator.directory.requests.clear()
    provider.delete("id", outs)
    assert calls(emulator, tenant) == ["PATCH"]
    assert tenant.bitlocker is True


# -- failures as users meet them -----------------------------------------------------------------
def test_throttled_create_waits_retry_after_and_succeeds(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    emulator.faults.throttle(1, retry_after="1", method="PATCH")
    created(provider, tenant, False)
    throttled, accepted = emulator.graph_requests("PATCH", tenant)
    assert (throttled.status, accepted.status) == (429, 204)
    assert accepted.at - throttled.at >= 1.0


def test_missing_write_permission_is_one_clear_line(
    configure: Configure, emulator: Emulator, tenant: Tenant, trust_emulator: None
) -> None:
    app = tenant.add_app(["Policy.Read.All"])
    provider = configure(emulator_config(emulator, clientId=app.client_id, clientSecret=app.add_secret()))
    try:
        provider.create(inputs(tenant, False))
    except ForbiddenError:
        report = traceback.format_exc()  # what the dynamic-provider host sends to the CLI
    else:
        pytest.fail("a read-only app could write")
    assert report.count("\n") == 1, report
    assert report.startswith("providers.errors.ForbiddenError: Graph denied PATCH")
    assert "Policy.ReadWrite.Authorization" in report
    assert "request-id" in report


# -- what Pulumi stores ----------------------------------------------------------------------------
def test_the_pickled_provider_holds_no_secret_or_token(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant, registered: Registered
) -> None:
    created(provider, tenant, False)  # the session now holds a token and the secret
    pickled = base64.b64decode(serialize_provider(provider))
    tokens = list(emulator.directory.tokens)
    assert tokens
    assert not any(token.encode() in pickled for token in tokens)
    assert registered.secret.encode() not in pickled
    assert b"providers.bitlocker" in pickled  # pickled by reference: the provider process imports it
    assert type(dill.loads(pickled)) is BitlockerKeyAccessProvider  # noqa: S301 -- bytes this test just produced


def test_one_token_per_process_across_operations(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    outs = created(provider, tenant, False)
    provider.diff("id", outs, inputs(tenant, True))
    provider.update("id", outs, inputs(tenant, True))
    provider.read("id", outs)
    provider.delete("id", outs)
    assert len(emulator.token_requests(tenant)) == 1
    assert provider.session.graph_client(tenant.id) is provider.session.graph_client(tenant.id.upper())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"bitlocker-policy:graphEndpoint": "http://graph.example.test"},
            "bitlocker-policy:graphEndpoint must be an https:// URL",
        ),
        ({"bitlocker-policy:graphEndpoint": "https://[::1"}, "it is not a valid URL"),
        ({"bitlocker-policy:authorityHost": "https://login.example.test:99999"}, "it is not a valid URL"),
        (
            {"bitlocker-policy:authorityHost": "https://user:hunter2@login.example.test"},
            "remove the user info (the value is not shown)",
        ),
        ({"bitlocker-policy:graphEndpoint": "https://graph_example"}, "must be an https:// URL with a host"),
        ({"azuread:useCli": "false"}, "No credential for Microsoft Graph is configured"),
        ({}, "the Azure CLI, tried when nothing else is set, is not on PATH"),
        ({"azuread:useCli": "true"}, "The Azure CLI (`az`) is not on PATH"),
        ({"azuread:msiEndpoint": "http://169.254.169.254/x"}, "azuread:msiEndpoint is not supported by bitlocker-policy"),
        ({"azuread:clientSecretFilePath": "/run/secret"}, "azuread:clientSecretFilePath is not supported"),
        ({"azuread:clientId": "a", "azuread:clientCertificatePath": "/none.pem"}, "Cannot read azuread:clientCertificatePath"),
        (
            {"azuread:clientId": "a", "azuread:clientCertificate": "bm90IGEgcGZ4"},
            "Cannot load the key and certificate from azuread:clientCertificate",
        ),
        (
            {
                "azuread:clientId": "a",
                "azuread:useOidc": "true",
                "azuread:oidcToken": "",
                "azuread:oidcRequestUrl": "http://x",
                "azuread:oidcRequestToken": "t",
            },
            "SYSTEM_OIDCREQUESTURI) must be an https:// URL",
        ),
    ],
)
def test_check_reports_settings_errors_before_any_request(
    configure: Configure, emulator: Emulator, config: dict[str, str], message: str
) -> None:
    provider = configure(config)
    before = len(emulator.directory.requests)
    with pytest.raises(ConfigurationError) as caught:
        provider.check({}, {"tenantId": "contoso.onmicrosoft.com", DESIRED: False})
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert len(emulator.directory.requests) == before


def test_a_bug_keeps_its_traceback_in_the_message(configure: Configure, emulator: Emulator) -> None:
    provider = configure(emulator_config(emulator))
    with pytest.raises(RuntimeError, match="failed unexpectedly; please report this") as caught:
        provider.read("id", {})  # no tenantId: a KeyError inside the provider
    assert "KeyError: 'tenantId'" in str(caught.value)
    assert "in read" in str(caught.value)


def test_concurrent_operations_share_one_client_and_one_token(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    """The provider process serves several gRPC threads at once."""
    outs = created(provider, tenant, False)
    emulator.directory.requests.clear()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: provider.diff("id", outs, inputs(tenant, False)).changes, range(16)))
    assert results == [False] * 16
    assert calls(emulator, tenant) == ["GET"] * 16
    assert emulator.token_requests(tenant) == []  # all reuse the token create got
