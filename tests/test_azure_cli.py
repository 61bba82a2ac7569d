"""The Azure CLI sign-in as a user account shows it, with a stand-in `az` (tests/support/fake_az.py);
the real CLI, signed in as a service principal, is in tests/test_microsoft_clients.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator import Emulator, Tenant
from providers.common.errors import AuthenticationError, DeadlineExceededError
from providers.signin import azure_cli
from providers.signin.azure_cli import find_az
from tests.support.emulated import AzureCliStandIn, Configure, emulator_config
from tests.support.processes import wait_until_gone

DESIRED = "allowedToReadBitlockerKeysForOwnedDevice"


@pytest.fixture
def config(emulator: Emulator, trust_emulator: None) -> dict[str, str]:
    """Nothing but the emulator's endpoints: the CLI is the fallback, as in pulumi-azuread."""
    return emulator_config(emulator)


def test_with_nothing_configured_the_cli_signs_in(
    configure: Configure, config: dict[str, str], emulator: Emulator, tenant: Tenant, azure_cli: AzureCliStandIn
) -> None:
    azure_cli.sign_in({tenant.id: emulator.access_token(tenant)})
    provider = configure(config)
    checked = provider.check({}, {"tenantId": tenant.domain, DESIRED: False, "adoptionRecord": f"{tenant.id}/adoption"}).inputs
    assert (provider.create(checked).outs or {})["liveValue"] is False
    assert tenant.bitlocker is False


def test_a_signed_out_cli_says_to_run_az_login(
    configure: Configure, config: dict[str, str], tenant: Tenant, azure_cli: AzureCliStandIn
) -> None:
    with pytest.raises(AuthenticationError, match=f"not signed in to tenant {tenant.id}: run `az login --tenant {tenant.id}`"):
        configure(config).create({"tenantId": tenant.id, DESIRED: False, "adoptionRecord": f"{tenant.id}/adoption"})


def test_a_cli_without_access_to_the_tenant_quotes_entra(
    configure: Configure, config: dict[str, str], emulator: Emulator, tenant: Tenant, azure_cli: AzureCliStandIn
) -> None:
    home = emulator.add_tenant()
    azure_cli.sign_in({home.id: emulator.access_token(home)})
    with pytest.raises(AuthenticationError, match=r"gave no token for tenant .*: ERROR: AADSTS50020: User account"):
        configure(config).create({"tenantId": tenant.id, DESIRED: False, "adoptionRecord": f"{tenant.id}/adoption"})


def test_a_cli_token_of_another_tenant_is_refused_before_any_graph_request(
    configure: Configure, config: dict[str, str], emulator: Emulator, tenant: Tenant, azure_cli: AzureCliStandIn
) -> None:
    home = emulator.add_tenant()
    azure_cli.sign_in({tenant.id: emulator.access_token(home)})  # an account whose token is for its home tenant
    with pytest.raises(AuthenticationError, match=f"signed in to tenant {home.id}.*run `az login --tenant {tenant.id}`"):
        configure(config).create({"tenantId": tenant.id, DESIRED: False, "adoptionRecord": f"{tenant.id}/adoption"})
    assert emulator.graph_requests(tenant=home) == []


def test_a_cli_token_whose_tenant_cannot_be_read_is_refused(
    configure: Configure, config: dict[str, str], emulator: Emulator, tenant: Tenant, azure_cli: AzureCliStandIn
) -> None:
    """Microsoft calls access tokens opaque: with nothing else proving the tenant, refuse rather than guess."""
    azure_cli.sign_in({tenant.id: "an-opaque-token"})
    with pytest.raises(AuthenticationError, match="gave a token whose tenant cannot be read"):
        configure(config).create({"tenantId": tenant.id, DESIRED: False, "adoptionRecord": f"{tenant.id}/adoption"})
    assert emulator.graph_requests(tenant=tenant) == []


def test_a_hanging_cli_is_stopped_at_the_operations_deadline_with_all_it_started(
    configure: Configure, config: dict[str, str], tenant: Tenant, azure_cli: AzureCliStandIn, tmp_path: Path
) -> None:
    azure_cli.hang(tmp_path / "az-child.pid")
    provider = configure({**config, "bitlocker-policy:deadlineSeconds": "2"})
    with pytest.raises(DeadlineExceededError) as caught:
        provider.create({"tenantId": tenant.id, DESIRED: False, "adoptionRecord": f"{tenant.id}/adoption"})
    assert "The Azure CLI gave no token within 2 s (what was left of the operation's 2 s deadline)" in str(caught.value)
    child = int((tmp_path / "az-child.pid").read_text())
    assert wait_until_gone([child], 5) == []  # the whole process group was killed, not just `az`


def test_a_cli_that_another_tenant_signed_in_is_named_once(
    configure: Configure, config: dict[str, str], emulator: Emulator, tenant: Tenant, azure_cli: AzureCliStandIn
) -> None:
    home = emulator.add_tenant()
    azure_cli.sign_in({tenant.id: emulator.access_token(home)})
    with pytest.raises(AuthenticationError) as caught:
        configure(config).create({"tenantId": tenant.id, DESIRED: False, "adoptionRecord": f"{tenant.id}/adoption"})
    assert str(caught.value).startswith(f"The Azure CLI signed in to tenant {home.id}")


def test_on_windows_az_cmd_is_found_before_the_script_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("az", "az.cmd"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(azure_cli, "_WINDOWS", True)
    assert find_az() == str(tmp_path / "az.cmd")
    monkeypatch.setattr(azure_cli, "_WINDOWS", False)
    assert find_az() == str(tmp_path / "az")


def test_the_error_line_is_found_among_the_clis_warnings() -> None:
    # What azure-cli prints for a service principal asked for a tenant it has no credential in
    # (azure/cli/core/auth/identity.py ServicePrincipalStore.load_entry, then util.py aad_error_handler).
    stderr = (
        "WARNING: Could not retrieve credential from local cache for service principal 1111 under tenant 2222. "
        "Trying credential under tenant 3333, assuming that is an app credential.\n"
        "ERROR: AADSTS700016: Application with identifier '1111' was not found in the directory '2222'.\n"
        "Run the command below to authenticate interactively; additional arguments may be added as needed:\n"
        "az logout\naz login\n"
    )
    message = azure_cli.AzureCliToken("2222", "https://graph.microsoft.com")._refusal(stderr)
    assert message == (
        "The Azure CLI gave no token for tenant 2222: ERROR: AADSTS700016: Application with identifier '1111' "
        "was not found in the directory '2222'."
    )
