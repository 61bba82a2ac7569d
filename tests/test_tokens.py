"""Tokens from the emulator's Entra endpoints over real TLS, with every credential kind."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from emulator import App, Emulator, Tenant
from emulator.state import Faults
from providers.common.errors import (
    AuthenticationError,
    BitlockerPolicyError,
    ConfigurationError,
    UnavailableError,
    UnreachableError,
)
from providers.config.credentials import (
    AzurePipelinesToken,
    CertificateSource,
    ClientCertificate,
    ClientSecret,
    Credential,
    FederatedToken,
    GitHubActionsToken,
    ManagedIdentity,
    OidcTokenFile,
    OidcTokenValue,
)
from providers.config.settings import Endpoints
from providers.session import new_http_client
from providers.signin.certificates import load_certificate
from providers.signin.tenants import TenantDirectory, token_tenant
from providers.signin.tokens import TokenSource, token_source
from tests.support.emulated import Registered, Sleeps, set_env

pytestmark = pytest.mark.usefixtures("trust_emulator")

TokenFor = Callable[[Credential, str], str]


def source_for(emulator: Emulator, http: httpx.Client, credential: Credential, tenant: str) -> TokenSource:
    """The token source a Session would build: the tenant resolved to its GUID first."""
    directory = TenantDirectory(http, emulator.url)
    return token_source(credential, directory.guid(tenant), Endpoints(emulator.url, emulator.url), http, directory)


@pytest.fixture
def token_for(emulator: Emulator, http: httpx.Client) -> TokenFor:
    """Get a token from the emulator with one credential for one tenant."""

    def get(credential: Credential, tenant: str) -> str:
        return source_for(emulator, http, credential, tenant).token()

    return get


def certificate_credential(client_id: str, path: Path, password: str | None = None) -> ClientCertificate:
    return ClientCertificate(client_id, CertificateSource(path=str(path), password=password))


@pytest.fixture
def refusal(token_for: TokenFor) -> TokenFor:
    """The message of the error a credential meets (refused, unreachable or unavailable: errors.py)."""

    def get(credential: Credential, tenant: str) -> str:
        with pytest.raises(BitlockerPolicyError) as caught:
            token_for(credential, tenant)
        return str(caught.value)

    return get


@pytest.fixture(scope="module")
def certificate_bytes() -> tuple[bytes, bytes, x509.Certificate]:
    """One RSA certificate for the module (making and checking a key takes 0.2 s): as a PEM (key +
    certificate) and as a password-protected PFX. Each test registers it with an app of its own tenant."""
    leaf = trustme.CA().issue_cert("bitlocker-policy-tests", key_type=trustme.KeyType.RSA)
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    pfx = pkcs12.serialize_key_and_certificates(b"app", key, cert, None, serialization.BestAvailableEncryption(b"pfx-password"))
    return leaf.private_key_pem.bytes() + leaf.cert_chain_pems[0].bytes(), pfx, cert


@pytest.fixture
def certificate(tmp_path: Path, certificate_bytes: tuple[bytes, bytes, x509.Certificate]) -> tuple[Path, Path, x509.Certificate]:
    """The module's certificate in files of this test's own: a PEM and a password-protected PFX."""
    pem_bytes, pfx_bytes, cert = certificate_bytes
    pem, pfx = tmp_path / "app.pem", tmp_path / "app.pfx"
    pem.write_bytes(pem_bytes)
    pfx.write_bytes(pfx_bytes)
    return pem, pfx, cert


def test_client_secret_token_is_cached_for_the_process(
    emulator: Emulator, tenant: Tenant, registered: Registered, http: httpx.Client
) -> None:
    source = source_for(emulator, http, ClientSecret(registered.app.client_id, registered.secret), tenant.id)
    assert source.token() == source.token()
    assert len(emulator.token_requests(tenant)) == 1
    assert len(emulator.directory.recorded("discovery", tenant_id=tenant.id)) == 1


def test_tenant_by_verified_domain_costs_one_discovery(
    emulator: Emulator, tenant: Tenant, registered: Registered, token_for: TokenFor
) -> None:
    before = len(emulator.directory.recorded("discovery"))
    token = token_for(ClientSecret(registered.app.client_id, registered.secret), tenant.domain.upper())
    assert token_tenant(token) == tenant.id
    assert len(emulator.directory.recorded("discovery")) == before + 1  # MSAL reuses the document


def test_the_token_is_jwt_shaped_with_the_documented_claims(
    emulator: Emulator, tenant: Tenant, registered: Registered, token_for: TokenFor
) -> None:
    import jwt

    claims = jwt.decode(
        token_for(ClientSecret(registered.app.client_id, registered.secret), tenant.id), options={"verify_signature": False}
    )
    assert claims["tid"] == tenant.id
    assert claims["appid"] == registered.app.client_id
    assert claims["aud"] == emulator.url
    assert claims["roles"] == ["Policy.ReadWrite.Authorization"]


def test_certificate_pem_and_pfx(
    emulator: Emulator, tenant: Tenant, certificate: tuple[Path, Path, x509.Certificate], token_for: TokenFor
) -> None:
    pem, pfx, cert = certificate
    app = tenant.add_app()
    app.certificates.append(cert.public_key())
    assert token_for(certificate_credential(app.client_id, pem), tenant.id)
    assert token_for(certificate_credential(app.client_id, pfx, "pfx-password"), tenant.id)
    inline = CertificateSource(base64_pfx=base64.encodebytes(pfx.read_bytes()).decode(), password="pfx-password")
    assert token_for(ClientCertificate(app.client_id, inline), tenant.id)  # azuread:clientCertificate, line-wrapped


def test_wrong_pfx_password_names_the_password_setting(
    emulator: Emulator, tenant: Tenant, certificate: tuple[Path, Path, x509.Certificate], token_for: TokenFor
) -> None:
    with pytest.raises(ConfigurationError, match="azuread:clientCertificatePassword"):
        token_for(certificate_credential(tenant.add_app().client_id, certificate[1], "wrong"), tenant.id)


def _encrypted_pem(pem: Path, password: bytes) -> bytes:
    key = serialization.load_pem_private_key(pem.read_bytes(), None)
    encryption = serialization.BestAvailableEncryption(password)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    return key_pem + x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("case", "password", "message"),
    [
        (
            "plain key",
            "pw",
            "The key in azuread:clientCertificatePath '{path}' is not encrypted, but azuread:clientCertificatePassword",
        ),
        (
            "encrypted key",
            None,
            "The key in azuread:clientCertificatePath '{path}' is encrypted: set azuread:clientCertificatePassword",
        ),
        ("encrypted key", "wrong", "Cannot load the private key in azuread:clientCertificatePath '{path}': azuread:"),
        ("certificate only", None, "is a PEM file without a private key; it must hold the private key and the certificate"),
        ("key only", None, "is a PEM file without a certificate; it must hold the private key and the certificate"),
        ("fifo", None, "Cannot read azuread:clientCertificatePath (or ARM_CLIENT_CERTIFICATE_PATH) '{path}': not a regular file"),
        ("directory", None, "'{path}': Is a directory"),
    ],
)
def test_a_certificate_that_cannot_be_used_says_what_to_change_without_blocking(
    certificate: tuple[Path, Path, x509.Certificate], tmp_path: Path, case: str, password: str | None, message: str
) -> None:
    pem = certificate[0]
    path = tmp_path / case.replace(" ", "-")
    if case == "plain key":
        path = pem
    elif case == "encrypted key":
        path.write_bytes(_encrypted_pem(pem, b"right"))
    elif case == "certificate only":
        path.write_bytes(x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(serialization.Encoding.PEM))
    elif case == "key only":
        path.write_bytes(pem.read_bytes().split(b"-----BEGIN CERTIFICATE-----")[0])
    elif case == "fifo":
        os.mkfifo(path)  # reading it would wait for a writer for ever
    else:
        path.mkdir()
    with pytest.raises(ConfigurationError) as caught:
        load_certificate(CertificateSource(path=str(path), password=password))
    assert message.format(path=path) in str(caught.value)


def test_unregistered_certificate_is_aadsts700027(
    emulator: Emulator, tenant: Tenant, certificate: tuple[Path, Path, x509.Certificate], refusal: TokenFor
) -> None:
    message = refusal(certificate_credential(tenant.add_app().client_id, certificate[0]), tenant.id)
    assert "AADSTS700027" in message
    assert "upload this certificate" in message


def test_a_non_rsa_certificate_is_refused_before_any_request(
    emulator: Emulator, tenant: Tenant, tmp_path: Path, token_for: TokenFor
) -> None:
    leaf = trustme.CA().issue_cert("ec", key_type=trustme.KeyType.ECDSA)
    pem = tmp_path / "ec.pem"
    pem.write_bytes(leaf.private_key_pem.bytes() + leaf.cert_chain_pems[0].bytes())
    with pytest.raises(ConfigurationError, match="need an RSA key"):
        token_for(certificate_credential(tenant.add_app().client_id, pem), tenant.id)
    assert emulator.token_requests(tenant) == []


def test_missing_certificate_file_names_the_setting(
    emulator: Emulator, tenant: Tenant, tmp_path: Path, token_for: TokenFor
) -> None:
    with pytest.raises(ConfigurationError, match="Cannot read azuread:clientCertificatePath"):
        token_for(certificate_credential(tenant.add_app().client_id, tmp_path / "none.pem"), tenant.id)


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


def test_github_actions_keeps_the_runners_api_version(emulator: Emulator, tenant: Tenant, token_for: TokenFor) -> None:
    app = federated_app(tenant, "repo:contoso@1/policy@2:environment:prod")
    github = emulator.github_actions("repo:contoso@1/policy@2:environment:prod")
    source = GitHubActionsToken(github["ACTIONS_ID_TOKEN_REQUEST_URL"], github["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
    assert token_for(FederatedToken(app.client_id, source), tenant.id)  # the emulator refuses a request without it
    (asked,) = emulator.directory.recorded("github")[-1:]
    assert asked.status == 200


def test_a_github_refusal_is_quoted(emulator: Emulator, tenant: Tenant, refusal: TokenFor) -> None:
    github = emulator.github_actions("repo:contoso/policy:environment:prod")
    source = GitHubActionsToken(github["ACTIONS_ID_TOKEN_REQUEST_URL"], github["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
    # GitHub documents no refusal; this is one as observed (cysp/github-actions-id-token-exploration,
    # OBSERVATIONS.md): HTTP 400, no `message`, GitHub's words in `errorMessage`.
    said = "Can't issue ID_TOKEN for audience 'https://github.com/apps/x'"
    emulator.faults.answer("github", 400, {"source": "actions-run-service", "statusCode": 400, "errorMessage": said})
    app = tenant.add_app()
    assert refusal(FederatedToken(app.client_id, source), tenant.id) == f"GitHub Actions refused an OIDC token (HTTP 400: {said})"
    stolen = GitHubActionsToken(github["ACTIONS_ID_TOKEN_REQUEST_URL"], "not-this-jobs-token")
    assert refusal(FederatedToken(app.client_id, stolen), tenant.id) == (
        "GitHub Actions refused an OIDC token (HTTP 401: Unauthorized)"
    )


def test_azure_pipelines_service_connection(emulator: Emulator, tenant: Tenant, token_for: TokenFor, refusal: TokenFor) -> None:
    subject = "sc://contoso/policy/entra-prod"
    app = federated_app(tenant, subject)
    pipeline = emulator.azure_pipelines(subject, "5d3c1b2a-0000-4000-8000-000000000001")
    source = AzurePipelinesToken(
        pipeline["SYSTEM_OIDCREQUESTURI"], pipeline["SYSTEM_ACCESSTOKEN"], "5d3c1b2a-0000-4000-8000-000000000001"
    )
    assert token_for(FederatedToken(app.client_id, source), tenant.id)
    (asked,) = emulator.directory.recorded("pipelines")
    assert (asked.method, asked.headers["x-tfs-fedauthredirect"]) == ("POST", "Suppress")
    wrong = AzurePipelinesToken(pipeline["SYSTEM_OIDCREQUESTURI"], pipeline["SYSTEM_ACCESSTOKEN"], "another-connection")
    message = refusal(FederatedToken(app.client_id, wrong), tenant.id)
    assert (
        "Azure Pipelines refused an OIDC token (HTTP 400: There is no explicit reference to service connection "
        "another-connection from current stage Preview.Preview.__default.) for service connection another-connection"
    ) in message
    assert "x-vss-e2eid" in message
    assert "reference that service connection in this stage (an AzureCLI@3 step" in message  # the template's task


@pytest.mark.parametrize(
    ("token_kwargs", "code", "quoted"),
    [
        ({"subject": "repo:evil/fork:pull_request"}, 700213, "subject 'repo:evil/fork:pull_request'"),
        ({"subject": "repo:Contoso/policy:environment:Prod"}, 7002138, "subject 'repo:Contoso/policy:environment:Prod'"),
        ({"subject": "repo:contoso/policy:environment:prod", "audience": "api://other"}, 700212, "audience 'api://other'"),
    ],
)
def test_federation_mismatches_name_the_code_and_quote_the_token(
    emulator: Emulator, tenant: Tenant, refusal: TokenFor, token_kwargs: dict[str, str], code: int, quoted: str
) -> None:
    app = federated_app(tenant, "repo:contoso/policy:environment:prod")
    message = refusal(FederatedToken(app.client_id, OidcTokenValue(emulator.oidc_token(**token_kwargs))), tenant.id)
    assert f"AADSTS{code}" in message
    assert f"(the token's {quoted})" in message
    assert "federated credential" in message


def test_managed_identity_system_and_user_assigned(
    emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, token_for: TokenFor, refusal: TokenFor
) -> None:
    set_env(monkeypatch, emulator.managed_identity_env())
    emulator.add_managed_identity(tenant)
    emulator.add_managed_identity(tenant, ["Policy.Read.All"], "0c5e4a9d-1111-4d2b-9a51-d3e1b2c4a6f7")
    assert token_for(ManagedIdentity(), tenant.id)
    assert token_for(ManagedIdentity("0c5e4a9d-1111-4d2b-9a51-d3e1b2c4a6f7"), tenant.id)
    assert "No User Assigned" in refusal(ManagedIdentity("ffffffff-1111-4d2b-9a51-d3e1b2c4a6f7"), tenant.id)


def test_a_vms_managed_identity_is_retried_as_microsoft_asks(
    emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, token_for: TokenFor, sleeps: Sleeps
) -> None:
    set_env(monkeypatch, emulator.imds_env())
    emulator.add_managed_identity(tenant)
    # IMDS "is updating" (404), "is going through updates" (410): retried, with waits that add up to
    # the 70 s Microsoft gives 410 (how-to-use-vm-token, "Retry guidance").
    emulator.faults.answer("imds", 404, {"error": "not_found"}, count=2)
    emulator.faults.answer("imds", 410, {"error": "gone"}, count=3)
    assert token_for(ManagedIdentity(), tenant.id)
    assert [r.status for r in emulator.token_requests() if r.kind == "imds"][-6:] == [404, 404, 410, 410, 410, 200]
    assert len(sleeps) == 5
    assert sum(sleeps) >= 70


def test_an_imds_refusal_is_not_retried(
    emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, refusal: TokenFor, sleeps: Sleeps
) -> None:
    set_env(monkeypatch, emulator.imds_env())
    message = refusal(ManagedIdentity("ffffffff-1111-4d2b-9a51-d3e1b2c4a6f7"), tenant.id)
    assert "Identity not found" in message
    assert sleeps == []  # a 4xx other than 404/410/429 is a design-time error: not retried


def test_a_managed_identity_of_another_tenant_is_refused(
    emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, refusal: TokenFor
) -> None:
    set_env(monkeypatch, emulator.managed_identity_env())
    home, identity = emulator.add_tenant(), "7c0d4e6f-2222-4d2b-9a51-d3e1b2c4a6f7"
    emulator.add_managed_identity(home, client_id=identity)
    message = refusal(ManagedIdentity(identity), tenant.id)
    assert f"The managed identity {identity} signed in to tenant {home.id}, but azuread:tenantId is {tenant.id}" in message
    assert "a managed identity manages only its home tenant" in message


def test_managed_identity_failures_are_one_line(
    emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, refusal: TokenFor
) -> None:
    set_env(monkeypatch, emulator.managed_identity_env())
    emulator.faults.garbage(endpoint="msi")
    assert "The managed identity endpoint answered HTTP 200 with something other than a JSON object" in refusal(
        ManagedIdentity(), tenant.id
    )
    for name in emulator.managed_identity_env():
        monkeypatch.delenv(name)
    set_env(monkeypatch, emulator.arc_env())
    assert "cannot read Azure Arc's key file (No such file or directory)" in refusal(ManagedIdentity(), tenant.id)


def test_entra_outages_are_retried(
    emulator: Emulator, tenant: Tenant, registered: Registered, token_for: TokenFor, sleeps: Sleeps
) -> None:
    emulator.faults.fail(503, endpoint="discovery")
    emulator.faults.fail(503, endpoint="token")
    emulator.faults.fail(429, retry_after="2", endpoint="token")
    assert token_for(ClientSecret(registered.app.client_id, registered.secret), tenant.domain)
    assert len(sleeps) == 3
    assert sleeps[2] == 2.0  # Entra's Retry-After is honoured like Graph's


@pytest.mark.parametrize(("endpoint", "what"), [("discovery", "OIDC discovery"), ("token", "token endpoint")])
def test_an_entra_outage_past_the_retries_is_one_line(
    emulator: Emulator, tenant: Tenant, registered: Registered, http: httpx.Client, endpoint: str, what: str
) -> None:
    emulator.faults.fail(503, count=4, endpoint=endpoint)
    with pytest.raises(UnavailableError) as caught:  # answered, but kept failing: run again later
        source_for(emulator, http, ClientSecret(registered.app.client_id, registered.secret), tenant.id).token()
    message = str(caught.value)
    assert f"Entra ID's {what} for {emulator.url}/{tenant.id} kept failing (HTTP 503) after every retry" in message


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


def test_tls_is_verified_and_a_refused_certificate_is_not_retried(
    emulator: Emulator, tenant: Tenant, registered: Registered, monkeypatch: pytest.MonkeyPatch, sleeps: Sleeps
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    credential = ClientSecret(registered.app.client_id, registered.secret)
    with new_http_client(sleep=sleeps) as untrusting, pytest.raises(UnreachableError) as caught:
        source_for(emulator, untrusting, credential, tenant.id).token()
    assert "TLS certificate not trusted" in str(caught.value)
    assert "set SSL_CERT_FILE to a bundle holding that CA and the public roots" in str(caught.value)
    assert sleeps == []  # a certificate does not get better by waiting


def test_a_discovery_redirect_is_one_line(emulator: Emulator, tenant: Tenant, registered: Registered, refusal: TokenFor) -> None:
    emulator.faults.fail(302, endpoint="discovery")  # e.g. authorityHost pointing at a sign-in portal
    message = refusal(ClientSecret(registered.app.client_id, registered.secret), tenant.id)
    assert f"Entra ID's OIDC discovery for {emulator.url}/{tenant.id} answered with a redirect (HTTP 302)" in message
    assert "check bitlocker-policy:authorityHost (or AZURE_AUTHORITY_HOST)" in message


BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize(
    ("endpoint", "arm", "message"),
    [
        (
            "token",
            lambda f: f.mangle("token", lambda body: BOM + body),
            "answered HTTP 200 with something other than a JSON object",
        ),
        ("token", lambda f: f.mangle("token", lambda body: body + b"\n<!-- inspected -->"), "other than a JSON object"),
        (
            "token",
            lambda f: f.answer("token", 200, [{"access_token": "x"}]),
            "answered HTTP 200 with something other than a JSON",
        ),
        ("token", lambda f: f.answer("token", 429, "Too Many Requests", retry_after="600"), "is throttling this app (HTTP 429"),
        ("discovery", lambda f: f.answer("discovery", 200, ["issuer"]), "answered HTTP 200 with something other than a JSON"),
        ("discovery", lambda f: f.garbage(endpoint="discovery"), "answered HTTP 200 with something other than a JSON object"),
        (
            "discovery",
            lambda f: f.answer("discovery", 200, {"issuer": "x", "token_endpoint": 42, "authorization_endpoint": "y"}),
            "answered with a JSON object that is no OpenID configuration",
        ),
    ],
)
def test_an_answer_msal_cannot_read_is_one_line_and_no_log_holds_the_token(
    emulator: Emulator,
    tenant: Tenant,
    registered: Registered,
    refusal: TokenFor,
    caplog: pytest.LogCaptureFixture,
    endpoint: str,
    arm: Callable[[Faults], None],
    message: str,
) -> None:
    caplog.set_level(logging.DEBUG)  # whatever a user's logging setup lets through
    arm(emulator.faults)
    refused = refusal(ClientSecret(registered.app.client_id, registered.secret), tenant.id)
    what = "token endpoint" if endpoint == "token" else "OIDC discovery"
    assert f"Entra ID's {what} for {emulator.url}/{tenant.id}" in refused
    assert message in refused
    issued = list(emulator.directory.tokens)
    assert all(token not in caplog.text + refused for token in issued)
    assert not [record for record in caplog.records if record.name.startswith("msal")]


def test_a_throttled_token_request_says_so_with_the_wait_asked_for(
    emulator: Emulator, tenant: Tenant, registered: Registered, refusal: TokenFor, sleeps: Sleeps
) -> None:
    emulator.faults.answer("token", 429, "Too Many Requests", retry_after="600")
    refused = refusal(ClientSecret(registered.app.client_id, registered.secret), tenant.id)
    assert "is throttling this app (HTTP 429, Retry-After 600 s) past what the retries wait; run again later" in refused
    assert sleeps == []  # a wait of 180 s or more is not taken


@pytest.mark.parametrize(
    ("codes", "label"),
    [(["not-a-code", None, "7000215", True], "AADSTS7000215: the client secret is wrong"), ("7000215", "invalid_client:")],
)
def test_error_codes_that_are_not_a_list_of_integers_still_give_one_line(
    emulator: Emulator, tenant: Tenant, registered: Registered, refusal: TokenFor, codes: object, label: str
) -> None:
    body = {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret.", "error_codes": codes}
    emulator.faults.answer("token", 401, body)
    assert f"Entra ID refused a token for app {registered.app.client_id} in tenant {tenant.id}: {label}" in refusal(
        ClientSecret(registered.app.client_id, registered.secret), tenant.id
    )


def test_outside_text_in_a_refusal_reaches_the_message_as_one_plain_line(
    emulator: Emulator, tenant: Tenant, registered: Registered, refusal: TokenFor
) -> None:
    hostile = "AADSTS50000: bad\x1b[2J\nnext line\u202e evil"
    emulator.faults.answer("token", 400, {"error": "invalid_request\x1b[31m", "error_description": hostile})
    refused = refusal(ClientSecret(registered.app.client_id, registered.secret), tenant.id)
    assert refused.endswith(": invalid_request [31m: bad [2J")  # its first line, escape sequences defused
    assert not any(char in refused for char in "\x1b\n\u202e")


def test_an_oidc_token_file_that_is_a_fifo_is_refused_without_blocking(
    tenant: Tenant, tmp_path: Path, token_for: TokenFor
) -> None:
    fifo = tmp_path / "oidc-token"
    os.mkfifo(fifo)
    with pytest.raises(ConfigurationError, match=r"Cannot read the OIDC token file .*: not a regular file"):
        token_for(FederatedToken(tenant.add_app().client_id, OidcTokenFile(str(fifo))), tenant.id)
