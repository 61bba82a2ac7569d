"""Tokens from the emulator's Entra endpoints over real TLS, with every credential kind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from providers.credentials import (
    ClientCertificate,
    ClientSecret,
    Credential,
    FederatedToken,
    GitHubActionsToken,
    ManagedIdentity,
    OidcTokenFile,
    OidcTokenValue,
)
from providers.errors import AuthenticationError, ConfigurationError
from providers.session import new_http_client
from providers.settings import Endpoints
from providers.tokens import token_source
from tests.conftest import Registered
from tests.emulator import App, Emulator, Tenant

pytestmark = pytest.mark.usefixtures("trust_emulator")

TokenFor = Callable[[Credential, str], str]


@pytest.fixture
def token_for(emulator: Emulator, http: httpx.Client) -> TokenFor:
    """Get a token from the emulator with one credential for one tenant."""

    def get(credential: Credential, tenant: str) -> str:
        return token_source(credential, tenant, Endpoints(emulator.url, emulator.url), http).token()

    return get


@pytest.fixture
def refusal(token_for: TokenFor) -> TokenFor:
    """The message of the AuthenticationError a credential meets."""

    def get(credential: Credential, tenant: str) -> str:
        with pytest.raises(AuthenticationError) as caught:
            token_for(credential, tenant)
        return str(caught.value)

    return get


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path, x509.Certificate]:
    """A PEM (key + certificate) and a password-protected PFX of the same certificate."""
    leaf = trustme.CA().issue_cert("bitlocker-policy-tests", key_type=trustme.KeyType.RSA)
    pem = tmp_path / "app.pem"
    pem.write_bytes(leaf.private_key_pem.bytes() + leaf.cert_chain_pems[0].bytes())
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    pfx = tmp_path / "app.pfx"
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(b"app", key, cert, None, serialization.BestAvailableEncryption(b"pfx-password"))
    )
    return pem, pfx, cert


def test_client_secret_token_is_cached_for_the_process(
    emulator: Emulator, tenant: Tenant, registered: Registered, http: httpx.Client
) -> None:
    source = token_source(
        ClientSecret(registered.app.client_id, registered.secret),
        tenant.id,
        Endpoints(emulator.url, emulator.url),
        http,
    )
    assert source.token() == source.token()
    assert len(emulator.token_requests(tenant)) == 1


def test_tenant_by_verified_domain(emulator: Emulator, tenant: Tenant, registered: Registered, token_for: TokenFor) -> None:
    assert token_for(ClientSecret(registered.app.client_id, registered.secret), tenant.domain)


def test_certificate_pem_and_pfx(
    emulator: Emulator, tenant: Tenant, certificate: tuple[Path, Path, x509.Certificate], token_for: TokenFor
) -> None:
    pem, pfx, cert = certificate
    app = tenant.add_app()
    app.certificates.append(cert.public_key())
    assert token_for(ClientCertificate(app.client_id, str(pem)), tenant.id)
    assert token_for(ClientCertificate(app.client_id, str(pfx), "pfx-password"), tenant.id)


def test_wrong_pfx_password_names_the_password_setting(
    emulator: Emulator, tenant: Tenant, certificate: tuple[Path, Path, x509.Certificate], token_for: TokenFor
) -> None:
    with pytest.raises(ConfigurationError, match="azuread:clientCertificatePassword"):
        token_for(ClientCertificate(tenant.add_app().client_id, str(certificate[1]), "wrong"), tenant.id)


def test_unregistered_certificate_is_aadsts700027(
    emulator: Emulator, tenant: Tenant, certificate: tuple[Path, Path, x509.Certificate], refusal: TokenFor
) -> None:
    message = refusal(ClientCertificate(tenant.add_app().client_id, str(certificate[0])), tenant.id)
    assert "AADSTS700027" in message
    assert "upload this certificate" in message


def test_a_non_rsa_certificate_is_refused_before_any_request(
    emulator: Emulator, tenant: Tenant, tmp_path: Path, token_for: TokenFor
) -> None:
    leaf = trustme.CA().issue_cert("ec", key_type=trustme.KeyType.ECDSA)
    pem = tmp_path / "ec.pem"
    pem.write_bytes(leaf.private_key_pem.bytes() + leaf.cert_chain_pems[0].bytes())
    with pytest.raises(ConfigurationError, match="need an RSA key"):
        token_for(ClientCertificate(tenant.add_app().client_id, str(pem)), tenant.id)
    assert emulator.token_requests(tenant) == []


def test_missing_certificate_file_names_the_setting(
    emulator: Emulator, tenant: Tenant, tmp_path: Path, token_for: TokenFor
) -> None:
    with pytest.raises(ConfigurationError, match="Cannot read azuread:clientCertificatePath"):
        token_for(ClientCertificate(tenant.add_app().client_id, str(tmp_path / "none.pem")), tenant.id)


def federated_app(tenant: Tenant, subject: str) -> App:
    app = tenant.add_app()
    app.federated_subjects.add(subject)
    return app


def test_oidc_token_value_and_file(emulator: Emulator, tenant: Tenant, tmp_path: Path, token_for: TokenFor) -> None:
    app = federated_app(tenant, "repo:contoso/policy:environment:prod")
    jwt = emulator.oidc_token("repo:contoso/policy:environment:prod")
    assert token_for(FederatedToken(app.client_id, OidcTokenValue(jwt)), tenant.id)
    token_file = tmp_path / "token"
    token_file.write_text(jwt + "\n")
    assert token_for(FederatedToken(app.client_id, OidcTokenFile(str(token_file))), tenant.id)


def test_github_actions_request_url_and_token(emulator: Emulator, tenant: Tenant, token_for: TokenFor) -> None:
    app = federated_app(tenant, "repo:contoso/policy:ref:refs/heads/main")
    github = emulator.github_actions("repo:contoso/policy:ref:refs/heads/main")
    source = GitHubActionsToken(github["ACTIONS_ID_TOKEN_REQUEST_URL"], github["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
    assert token_for(FederatedToken(app.client_id, source), tenant.id)
    assert emulator.directory.recorded("github")[-1].path == "/_github/idtoken"


def test_oidc_subject_mismatch_is_aadsts70021(emulator: Emulator, tenant: Tenant, refusal: TokenFor) -> None:
    app = federated_app(tenant, "repo:contoso/policy:environment:prod")
    message = refusal(
        FederatedToken(app.client_id, OidcTokenValue(emulator.oidc_token("repo:evil/fork:pull_request"))), tenant.id
    )
    assert "AADSTS70021" in message
    assert "subject" in message


def test_managed_identity_system_and_user_assigned(
    emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, token_for: TokenFor, refusal: TokenFor
) -> None:
    for name, value in emulator.managed_identity_env().items():
        monkeypatch.setenv(name, value)
    tenant.managed_identities[""] = {"Policy.ReadWrite.Authorization"}
    tenant.managed_identities["0c5e4a9d-1111-4d2b-9a51-d3e1b2c4a6f7"] = {"Policy.Read.All"}
    assert token_for(ManagedIdentity(), tenant.id)
    assert token_for(ManagedIdentity("0c5e4a9d-1111-4d2b-9a51-d3e1b2c4a6f7"), tenant.id)
    assert "No User Assigned" in refusal(ManagedIdentity("ffffffff-1111-4d2b-9a51-d3e1b2c4a6f7"), tenant.id)


@pytest.mark.parametrize(
    ("case", "code", "hint"),
    [
        ("wrong secret", 7000215, "azuread:clientSecret (or ARM_CLIENT_SECRET)"),
        ("expired secret", 7000222, "has expired"),
        ("unknown app", 700016, "azuread:clientId"),
        ("unknown tenant", 90002, "azuread:tenantId"),
    ],
)
def test_refusals_name_the_aadsts_code_and_the_fix(
    emulator: Emulator, tenant: Tenant, registered: Registered, case: str, code: int, hint: str, refusal: TokenFor
) -> None:
    secret, client_id, tenant_ref = "wrong-secret-value", registered.app.client_id, tenant.id
    if case == "expired secret":
        secret = registered.app.add_secret(expired=True)
    elif case == "unknown app":
        client_id, secret = "11111111-2222-3333-4444-555555555555", registered.secret
    elif case == "unknown tenant":
        tenant_ref = "00000000-0000-0000-0000-00000000dead"
    message = refusal(ClientSecret(client_id, secret), tenant_ref)
    assert f"AADSTS{code}" in message
    assert hint in message
    assert secret not in message


def test_a_refusal_carries_its_codes_and_correlation_id(tenant: Tenant, registered: Registered, token_for: TokenFor) -> None:
    with pytest.raises(AuthenticationError) as caught:
        token_for(ClientSecret(registered.app.client_id, "wrong"), tenant.id)
    assert caught.value.codes == (7000215,)
    assert caught.value.correlation_id
    assert caught.value.correlation_id in str(caught.value)


def test_tls_is_verified(emulator: Emulator, tenant: Tenant, registered: Registered, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    credential = ClientSecret(registered.app.client_id, registered.secret)
    with new_http_client() as untrusting, pytest.raises(AuthenticationError) as caught:
        token_source(credential, tenant.id, Endpoints(emulator.url, emulator.url), untrusting).token()
    assert "ConnectError" in str(caught.value)
    assert "SSL_CERT_FILE" in str(caught.value)
