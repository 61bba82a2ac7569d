"""Which credential a stack configures: precedence, contradictions, and what is missing."""

from __future__ import annotations

import pytest

from providers.common.errors import ConfigurationError
from providers.config.credentials import (
    AzureCli,
    AzurePipelinesToken,
    CertificateSource,
    ClientCertificate,
    ClientSecret,
    FederatedToken,
    GitHubActionsToken,
    ManagedIdentity,
    OidcTokenFile,
    OidcTokenValue,
    resolve_credential,
)
from providers.config.settings import Sources


def resolve(config: dict[str, str] | None = None, /, **environ: str) -> object:
    return resolve_credential(Sources(config or {}, environ))


def test_client_secret_from_config() -> None:
    assert resolve({"azuread:clientId": "app", "azuread:clientSecret": "s3cret"}) == ClientSecret("app", "s3cret")


def test_client_secret_from_environment() -> None:
    assert resolve(ARM_CLIENT_ID="app", ARM_CLIENT_SECRET="s3cret") == ClientSecret("app", "s3cret")


def test_certificate_with_password() -> None:
    credential = resolve(ARM_CLIENT_ID="app", ARM_CLIENT_CERTIFICATE_PATH="/c.pfx", ARM_CLIENT_CERTIFICATE_PASSWORD="pw")
    assert credential == ClientCertificate("app", CertificateSource(path="/c.pfx", password="pw"))


def test_base64_certificate_or_path_but_not_both() -> None:
    inline = resolve(ARM_CLIENT_ID="app", ARM_CLIENT_CERTIFICATE="TUlJ")
    assert inline == ClientCertificate("app", CertificateSource(base64_pfx="TUlJ"))
    assert "TUlJ" not in repr(inline)
    with pytest.raises(ConfigurationError, match="Set only one of azuread:clientCertificatePath"):
        resolve({"azuread:clientCertificate": "TUlJ"}, ARM_CLIENT_ID="app", ARM_CLIENT_CERTIFICATE_PATH="/c.pfx")


def test_azure_pipelines_needs_its_service_connection() -> None:
    pipeline = {"SYSTEM_OIDCREQUESTURI": "https://dev.azure.com/org/_apis/oidctoken", "SYSTEM_ACCESSTOKEN": "at"}
    base = {"ARM_CLIENT_ID": "app", "ARM_USE_OIDC": "true", **pipeline}
    expected = FederatedToken("app", AzurePipelinesToken(pipeline["SYSTEM_OIDCREQUESTURI"], "at", "sc-1"))
    assert resolve(**base, ARM_OIDC_AZURE_SERVICE_CONNECTION_ID="sc-1") == expected
    assert resolve({"azuread:adoPipelineServiceConnectionId": "sc-1"}, **base) == expected
    assert resolve({"azuread:oidcAzureServiceConnectionId": "sc-1"}, **base) == expected
    with pytest.raises(ConfigurationError, match=r"needs azuread:adoPipelineServiceConnectionId \(or ARM_ADO_PIPELINE"):
        resolve(**base)


def test_github_request_url_must_be_https() -> None:
    with pytest.raises(ConfigurationError, match="must be an https:// URL"):
        resolve(
            ARM_CLIENT_ID="app",
            ARM_USE_OIDC="true",
            ACTIONS_ID_TOKEN_REQUEST_URL="http://x/idtoken",
            ACTIONS_ID_TOKEN_REQUEST_TOKEN="t",
        )


def test_oidc_prefers_a_token_then_a_file_then_github() -> None:
    github = {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://gh/idtoken", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "rt"}
    base = {"ARM_CLIENT_ID": "app", "ARM_USE_OIDC": "true", **github}
    assert resolve(**base) == FederatedToken("app", GitHubActionsToken("https://gh/idtoken", "rt"))
    assert resolve(**base, AZURE_FEDERATED_TOKEN_FILE="/t") == FederatedToken("app", OidcTokenFile("/t"))
    assert resolve(**base, AZURE_FEDERATED_TOKEN_FILE="/t", ARM_OIDC_TOKEN="jwt") == FederatedToken("app", OidcTokenValue("jwt"))


def test_managed_identity_is_user_assigned_when_a_client_id_is_set() -> None:
    assert resolve(ARM_USE_MSI="true") == ManagedIdentity(None)
    assert resolve(ARM_USE_MSI="true", ARM_CLIENT_ID="mi") == ManagedIdentity("mi")


def test_nothing_configured_falls_back_to_the_azure_cli_as_pulumi_azuread_does() -> None:
    assert resolve() == AzureCli(fallback=True)
    assert resolve(ARM_USE_CLI="true") == AzureCli()


def test_nothing_configured_and_no_cli_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match=r"No credential.*azuread:clientSecret \(or ARM_CLIENT_SECRET\).*azuread:useMsi"):
        resolve(ARM_USE_CLI="false")


def test_two_credentials_are_refused_by_name() -> None:
    with pytest.raises(
        ConfigurationError, match=r"More than one credential.*azuread:clientCertificatePath.*azuread:clientSecret"
    ):
        resolve(ARM_CLIENT_ID="app", ARM_CLIENT_SECRET="s", ARM_CLIENT_CERTIFICATE_PATH="/c.pem")
    with pytest.raises(ConfigurationError, match="More than one credential"):
        resolve({"azuread:useOidc": "true", "azuread:useMsi": "true"})
    with pytest.raises(ConfigurationError, match=r"More than one credential.*azuread:clientSecret.*azuread:useCli"):
        resolve(ARM_CLIENT_ID="app", ARM_CLIENT_SECRET="s", ARM_USE_CLI="true")


def test_config_false_overrides_an_environment_true() -> None:
    assert resolve({"azuread:useOidc": "false"}, ARM_USE_OIDC="true", ARM_CLIENT_ID="a", ARM_CLIENT_SECRET="s") == ClientSecret(
        "a", "s"
    )


def test_client_id_is_required_for_an_app_credential() -> None:
    with pytest.raises(ConfigurationError, match=r"azuread:clientId \(or ARM_CLIENT_ID, AZURE_CLIENT_ID\) is required"):
        resolve(ARM_CLIENT_SECRET="s")


def test_oidc_without_a_token_source_names_the_sources() -> None:
    with pytest.raises(ConfigurationError, match=r"azuread:oidcToken.*oidcTokenFilePath.*id-token: write"):
        resolve(ARM_USE_OIDC="true", ARM_CLIENT_ID="app")


def test_repr_hides_secrets() -> None:
    text = repr(resolve(ARM_CLIENT_ID="app", ARM_CLIENT_SECRET="s3cret-value"))
    assert "s3cret-value" not in text
    assert "app" in text
