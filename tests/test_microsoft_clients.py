"""Microsoft's own clients against the emulator: what they send, it must take as Entra and Graph do.

An emulator written from the product's own reading proves nothing about a shared mistake, so
Microsoft's clients are run against it: azure-identity gets a token, msgraph-sdk reads and
PATCHes the policy through its models (its body carries "@odata.type", and its retry handler
meets the emulator's throttling), and the real Azure CLI signs in as a service principal through
a custom cloud, asks for Graph's resource with its trailing slash (scope "…//.default"), signs out
(the tenant-less "organizations" authority), and serves the product's useCli path, failures
included. The clients come from PyPI into the tools cache (scripts/ensure-tools.sh).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator, Tenant
from providers.common.errors import AuthenticationError
from tests.support.emulated import Configure, emulator_config
from tests.support.paths import REPO
from tests.support.real_az import RealAzureCli
from tests.support.tools import ensure_tool

pytestmark = [pytest.mark.tools, pytest.mark.usefixtures("trust_emulator")]

DESIRED = "allowedToReadBitlockerKeysForOwnedDevice"


@pytest.fixture(scope="module")
def sdk_python() -> Path:
    """The python of the virtualenv holding azure-identity and msgraph-sdk."""
    return ensure_tool("ms-sdks") / "bin" / "python"


def graph_sdk(python: Path, emulator: Emulator, tenant: Tenant, *args: str) -> dict[str, Any]:
    """Run tests/clients/graph_sdk.py with an app of `tenant`; its JSON answer."""
    app = tenant.add_app()
    env = {
        **os.environ,
        "EMULATOR_URL": emulator.url,
        "TENANT_ID": tenant.id,
        "CLIENT_ID": app.client_id,
        "CLIENT_SECRET": app.add_secret(),
        "SSL_CERT_FILE": str(emulator.ca_path),
    }
    done = subprocess.run(
        [str(python), str(REPO / "tests" / "clients" / "graph_sdk.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_azure_identity_gets_a_token(sdk_python: Path, emulator: Emulator, tenant: Tenant) -> None:
    assert graph_sdk(sdk_python, emulator, tenant, "token")["length"] > 0
    assert [r.status for r in emulator.token_requests(tenant)] == [200]


def test_msgraph_sdk_reads_and_patches_the_policy_through_its_models(
    sdk_python: Path, emulator: Emulator, tenant: Tenant
) -> None:
    assert graph_sdk(sdk_python, emulator, tenant, "read") == {"allowed": True}
    graph_sdk(sdk_python, emulator, tenant, "write", "false")
    assert tenant.bitlocker is False
    (patch,) = emulator.graph_requests("PATCH", tenant)
    assert json.loads(patch.body)["@odata.type"] == "#microsoft.graph.authorizationPolicy"  # OData allows it; Graph takes it
    assert graph_sdk(sdk_python, emulator, tenant, "read") == {"allowed": False}


def test_msgraph_sdks_retry_handler_honours_the_emulators_throttling(
    sdk_python: Path, emulator: Emulator, tenant: Tenant
) -> None:
    emulator.faults.answer("graph", 429, {"error": {"code": "TooManyRequests", "message": "slow down"}}, retry_after="1")
    emulator.faults.answer("graph", 503, {"error": {"code": "serviceNotAvailable", "message": "busy"}}, retry_after="1")
    graph_sdk(sdk_python, emulator, tenant, "write", "false")
    assert [(r.status, r.headers.get("retry-attempt")) for r in emulator.graph_requests("PATCH", tenant)] == [
        (429, None),
        (503, "1"),
        (204, "2"),
    ]
    assert tenant.bitlocker is False


# -- the real Azure CLI -----------------------------------------------------------------------------
def test_the_real_cli_asks_for_graphs_resource_with_its_trailing_slash_and_signs_out(
    real_az: RealAzureCli, emulator: Emulator, tenant: Tenant
) -> None:
    app = tenant.add_app()
    real_az.sign_in(tenant.id, app.client_id, app.add_secret())
    slash = real_az.az("account", "get-access-token", "--resource", "https://graph.microsoft.com/", "--tenant", tenant.id)
    assert slash.returncode == 0, slash.stderr
    asked = [r.body.decode() for r in emulator.token_requests(tenant)]
    assert any("scope=https%3A%2F%2Fgraph.microsoft.com%2F%2F.default" in body for body in asked)  # "…//.default"
    signed_out = real_az.az("logout")  # az builds an app on the tenant-less "organizations" authority
    assert signed_out.returncode == 0, signed_out.stderr


def test_the_real_cli_serves_the_products_cli_sign_in(
    real_az: RealAzureCli, configure: Configure, emulator: Emulator, tenant: Tenant
) -> None:
    app = tenant.add_app()
    real_az.sign_in(tenant.id, app.client_id, app.add_secret())
    provider = configure(emulator_config(emulator))  # nothing configured: the CLI is the fallback
    created = provider.create({"tenantId": tenant.id, DESIRED: False, "adoptionRecord": f"{tenant.id}/adoption"})
    assert (created.outs or {})["liveValue"] is False
    assert tenant.bitlocker is False


def test_the_real_clis_error_line_is_quoted_not_its_warning(
    real_az: RealAzureCli, configure: Configure, emulator: Emulator, tenant: Tenant
) -> None:
    home = emulator.add_tenant()
    app = home.add_app()
    real_az.sign_in(home.id, app.client_id, app.add_secret())  # an app that is not in `tenant`
    provider = configure(emulator_config(emulator))
    with pytest.raises(AuthenticationError) as refused:
        provider.create({"tenantId": tenant.id, DESIRED: False, "adoptionRecord": f"{tenant.id}/adoption"})
    message = str(refused.value)
    assert f"The Azure CLI gave no token for tenant {tenant.id}: ERROR: AADSTS700016: Application with identifier" in message
    assert "WARNING" not in message
