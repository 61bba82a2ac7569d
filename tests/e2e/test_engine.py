"""The product as users run it: `pulumi preview/up/refresh/destroy` on the real CLI and engine.

Each test has its own project copy, file:// backend, passphrase, emulator and tenant, and
asserts the Graph requests the emulator received.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from emulator import Emulator
from tests.support.engine import REPO, Deployment, NewStack, Stack, engine_env
from tests.support.leaks import LeakCheck
from tests.support.real_az import RealAzureCli

pytestmark = pytest.mark.engine

DESIRED = "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice"


def adopted(new_stack: NewStack, **kwargs: object) -> Deployment:
    """A stack that has run `up` once (owners blocked), with the request log cleared."""
    deployment = new_stack(**kwargs)
    deployment.stack.pulumi("up", "--yes", "--skip-preview")
    deployment.emulator.directory.requests.clear()
    return deployment


def test_fresh_stack_previews_without_writing_then_up_patches_once(new_stack: NewStack) -> None:
    deployment = new_stack()
    preview = deployment.stack.pulumi("preview")
    assert "+ 3 to create" in preview.output  # the stack, the adoption record, the setting
    assert deployment.graph_calls() == ["GET"]  # the preview proved the sign-in and the read permission
    deployment.emulator.directory.requests.clear()

    deployment.stack.pulumi("up", "--yes", "--skip-preview")
    assert deployment.graph_calls() == ["GET", "PATCH"]
    (patch,) = deployment.emulator.graph_requests("PATCH", deployment.tenant)
    assert json.loads(patch.body) == {"defaultUserRolePermissions": {"allowedToReadBitlockerKeysForOwnedDevice": False}}
    assert deployment.tenant.bitlocker is False
    outputs = deployment.stack.outputs()
    assert outputs["adoptedValue"] is True
    assert outputs["liveValue"] is False
    assert outputs["lastPatchRequestId"] == patch.request_id
    assert len(deployment.emulator.token_requests(deployment.tenant)) == 1


def test_converged_stack_expects_no_changes_and_up_does_not_patch(new_stack: NewStack) -> None:
    deployment = adopted(new_stack)
    deployment.stack.pulumi("preview", "--expect-no-changes")
    assert deployment.graph_calls() == ["GET"]
    deployment.stack.pulumi("up", "--yes", "--skip-preview")
    assert deployment.graph_calls() == ["GET", "GET"]


def test_portal_drift_is_caught_by_preview_shown_by_refresh_and_converged_by_up(new_stack: NewStack) -> None:
    deployment = adopted(new_stack)
    deployment.emulator.set_bitlocker(deployment.tenant, True)

    assert "~ 1 to update" in deployment.stack.pulumi("preview").output
    deployment.stack.pulumi("preview", "--expect-no-changes", expect=7)
    deployment.emulator.directory.requests.clear()
    refresh = deployment.stack.pulumi("refresh", "--yes", "--diff", "--skip-preview")
    assert "liveValue                               : false => true" in refresh.output
    assert deployment.graph_calls() == ["GET"]  # read, then diff on what read saw
    deployment.emulator.directory.requests.clear()

    deployment.stack.pulumi("up", "--yes", "--skip-preview")
    assert deployment.graph_calls() == ["GET", "PATCH"]
    assert deployment.tenant.bitlocker is False


def test_drift_without_refresh_converges_with_one_patch(new_stack: NewStack) -> None:
    deployment = adopted(new_stack)
    deployment.emulator.set_bitlocker(deployment.tenant, True)
    deployment.stack.pulumi("up", "--yes", "--skip-preview")
    assert deployment.graph_calls() == ["GET", "PATCH"]
    assert deployment.tenant.bitlocker is False


def test_changing_the_desired_value_is_one_patch(new_stack: NewStack) -> None:
    deployment = adopted(new_stack)
    deployment.stack.pulumi("config", "set", DESIRED, "true")
    up = deployment.stack.pulumi("up", "--yes", "--skip-preview")
    assert "1 updated" in up.output
    assert deployment.graph_calls() == ["GET", "PATCH"]
    assert deployment.tenant.bitlocker is True


def test_a_declared_value_the_tenant_already_has_is_recorded_without_a_patch(new_stack: NewStack) -> None:
    deployment = adopted(new_stack)
    deployment.emulator.set_bitlocker(deployment.tenant, True)
    deployment.stack.pulumi("config", "set", DESIRED, "true")
    deployment.stack.pulumi("up", "--yes", "--skip-preview")
    assert deployment.graph_calls() == ["GET"]
    outputs = deployment.stack.outputs()
    assert (outputs["allowedToReadBitlockerKeysForOwnedDevice"], outputs["liveValue"]) == (True, True)


def test_preview_checks_the_sign_in_even_when_the_declared_value_changes(new_stack: NewStack) -> None:
    deployment = adopted(new_stack)
    deployment.stack.pulumi("config", "set", DESIRED, "true")
    deployment.stack.configure({}, secret={"azuread:clientSecret": "a-wrong-secret"})
    preview = deployment.stack.pulumi("preview", expect=1)
    assert "AADSTS7000215" in one_error_line(preview.output, "AADSTS7000215")


def test_drift_is_named_with_both_values_in_every_preview_format(new_stack: NewStack) -> None:
    deployment = adopted(new_stack)
    deployment.emulator.set_bitlocker(deployment.tenant, True)
    assert "~ liveValue                               : false => true" in deployment.stack.pulumi("preview").output
    assert "~ liveValue                               : false => true" in deployment.stack.pulumi("preview", "--diff").output
    preview = json.loads(deployment.stack.pulumi("preview", "--json").output)
    (step,) = [s for s in preview["steps"] if s["urn"].endswith("BitlockerKeyAccess::bitlocker-key-access")]
    assert step["op"] == "update"
    assert (step["oldState"]["outputs"]["liveValue"], step["newState"]["inputs"]["liveValue"]) == (False, True)


def test_no_false_drift_right_after_our_own_write(new_stack: NewStack) -> None:
    deployment = new_stack()
    deployment.stack.pulumi("config", "rm", "bitlocker-policy:consistencyWindowSeconds")  # the default, 30 s
    deployment.emulator.faults.stale_reads_ms = 2000  # Graph shows the old value for 2 s after a write
    deployment.stack.pulumi("up", "--yes", "--skip-preview")
    deployment.stack.pulumi("preview", "--expect-no-changes")  # re-reads until Graph agrees
    assert deployment.tenant.bitlocker is False


def test_destroy_restores_the_value_found_at_adoption(new_stack: NewStack) -> None:
    deployment = adopted(new_stack)
    deployment.stack.pulumi("destroy", "--yes", "--skip-preview")
    assert deployment.graph_calls() == ["PATCH"]
    assert deployment.tenant.bitlocker is True


def test_retain_on_delete_leaves_the_tenant_untouched(new_stack: NewStack) -> None:
    deployment = adopted(new_stack, **{"bitlocker-policy:retainOnDelete": "true"})
    deployment.stack.pulumi("destroy", "--yes", "--skip-preview")
    assert deployment.graph_calls() == []
    assert deployment.tenant.bitlocker is False


def exercised(deployment: Deployment) -> None:
    """Every operation once: create, drift, update, refresh, destroy."""
    deployment.stack.pulumi("up", "--yes")
    deployment.emulator.set_bitlocker(deployment.tenant, True)
    deployment.stack.pulumi("up", "--yes")
    deployment.stack.pulumi("refresh", "--yes")
    deployment.stack.pulumi("preview")


def test_a_config_secret_is_only_ever_stored_encrypted_and_tokens_never(new_stack: NewStack, tmp_path: Path) -> None:
    deployment = new_stack(config_secret=True)  # azuread:clientSecret set with `pulumi config set --secret`
    exercised(deployment)
    tokens = list(deployment.emulator.directory.tokens)
    on_disk = "".join(p.read_text(errors="replace") for p in (tmp_path / "backend").rglob("*") if p.is_file())
    printed = "".join(run.output for run in deployment.stack.runs)
    exported = deployment.stack.pulumi("stack", "export").output
    for text in (on_disk, printed, exported):
        assert deployment.secret not in text
    revealed = json.loads(deployment.stack.pulumi("stack", "export", "--show-secrets").output)
    assert tokens
    for text in (on_disk, printed, json.dumps(revealed)):
        assert not any(token in text for token in tokens)
    # Decrypted on request, the secret shows only where the engine keeps provider config (as a
    # secret): in the default provider's inputs. Never in the resource's inputs or outputs.
    holders = {
        resource["urn"].rsplit("::", 1)[-1]
        for resource in revealed["deployment"]["resources"]
        if deployment.secret in json.dumps(resource)
    }
    assert holders == {"default"}


def test_a_secret_from_the_environment_is_nowhere_in_state(new_stack: NewStack, emulator: Emulator) -> None:
    deployment = new_stack()  # the secret in ARM_CLIENT_SECRET
    exercised(deployment)
    revealed = deployment.stack.pulumi("stack", "export", "--show-secrets").output
    assert deployment.secret not in revealed
    assert not any(token in revealed for token in emulator.directory.tokens)


def certificate_pem(tmp_path: Path, leaks: LeakCheck) -> tuple[Path, x509.Certificate]:
    leaf = trustme.CA().issue_cert("bitlocker-policy-e2e", key_type=trustme.KeyType.RSA)
    leaks.add_key(leaf.private_key_pem.bytes(), "the app certificate's private key")
    pem = tmp_path / "app.pem"
    pem.write_bytes(leaf.private_key_pem.bytes() + leaf.cert_chain_pems[0].bytes())
    return pem, x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())


@pytest.mark.parametrize(
    "kind",
    [
        "certificate",
        "oidc-token-file",
        "github-actions",
        "azure-pipelines",
        "managed-identity",
        pytest.param("azure-cli", marks=pytest.mark.tools),  # the real one, signed in as the app
    ],
)
def test_every_credential_kind_works_through_configure(
    new_stack: NewStack, emulator: Emulator, tmp_path: Path, kind: str, request: pytest.FixtureRequest, leaks: LeakCheck
) -> None:
    deployment = new_stack()
    stack, app = deployment.stack, deployment.app
    del stack.env["ARM_CLIENT_SECRET"]
    subject = "repo:contoso/bitlocker-policy:environment:prod"
    if kind == "certificate":
        pem, cert = certificate_pem(tmp_path, leaks)
        app.certificates.append(cert.public_key())
        stack.configure({"azuread:clientCertificatePath": str(pem)})
    elif kind == "oidc-token-file":
        app.federated_subjects.add(subject)
        token_file = tmp_path / "oidc-token"
        token_file.write_text(emulator.oidc_token(subject))
        stack.configure({"azuread:useOidc": "true", "azuread:oidcTokenFilePath": str(token_file)})
    elif kind == "github-actions":  # the runner's variables; its URL carries ?api-version=2.0
        app.federated_subjects.add(subject)
        stack.env.update(emulator.github_actions(subject))
        stack.configure({"azuread:useOidc": "true"})
    elif kind == "azure-pipelines":
        app.federated_subjects.add("sc://contoso/policy/entra-prod")
        stack.env.update(emulator.azure_pipelines("sc://contoso/policy/entra-prod", "a1b2c3d4-0000-4000-8000-000000000001"))
        stack.configure(
            {"azuread:useOidc": "true", "azuread:adoPipelineServiceConnectionId": "a1b2c3d4-0000-4000-8000-000000000001"}
        )
    elif kind == "azure-cli":  # nothing configured: the CLI's sign-in, as in pulumi-azuread
        real_az: RealAzureCli = request.getfixturevalue("real_az")
        real_az.sign_in(deployment.tenant.id, app.client_id, deployment.secret)
        stack.env.update(real_az.env(stack.env["PATH"]))
        stack.pulumi("config", "rm", "azuread:clientId")
    else:
        emulator.add_managed_identity(deployment.tenant)
        stack.env.update(emulator.managed_identity_env())
        stack.pulumi("config", "rm", "azuread:clientId")
        stack.configure({"azuread:useMsi": "true"})
    before = len(emulator.token_requests(deployment.tenant))  # the real CLI's own sign-in asked for one
    stack.pulumi("up", "--yes", "--skip-preview")
    assert deployment.tenant.bitlocker is False
    assert len(emulator.token_requests(deployment.tenant)) - before == 1  # one token, by MSAL or by az


def test_a_managed_identity_of_another_tenant_writes_nowhere(new_stack: NewStack, emulator: Emulator) -> None:
    deployment = new_stack()
    home = emulator.add_tenant(bitlocker=True)
    emulator.add_managed_identity(home)  # the machine's identity lives in another tenant
    deployment.stack.env.update(emulator.managed_identity_env())
    del deployment.stack.env["ARM_CLIENT_SECRET"]
    deployment.stack.pulumi("config", "rm", "azuread:clientId")
    deployment.stack.configure({"azuread:useMsi": "true"})
    up = deployment.stack.pulumi("up", "--yes", "--skip-preview", expect=1)
    line = one_error_line(up.output, "a managed identity manages only its home tenant")
    assert f"signed in to tenant {home.id}, but azuread:tenantId is {deployment.tenant.id}" in line
    assert emulator.graph_requests() == []
    assert (deployment.tenant.bitlocker, home.bitlocker) == (True, True)


def test_a_guid_respelled_as_its_domain_is_no_change(new_stack: NewStack) -> None:
    deployment = adopted(new_stack)
    deployment.stack.configure({"azuread:tenantId": deployment.tenant.domain.upper()})
    deployment.stack.pulumi("preview", "--expect-no-changes")
    deployment.stack.pulumi("up", "--yes", "--skip-preview", "--expect-no-changes")
    assert "PATCH" not in deployment.graph_calls()
    assert deployment.tenant.bitlocker is False
    assert deployment.stack.outputs()["tenantId"] == deployment.tenant.id


def test_moving_a_stack_to_another_tenant_restores_the_first_before_setting_the_second(
    new_stack: NewStack, emulator: Emulator
) -> None:
    deployment = adopted(new_stack)
    other = emulator.add_tenant(bitlocker=True)
    other.add_app(client_id=deployment.app.client_id).secrets[deployment.secret] = False  # a multi-tenant app
    deployment.stack.configure({"azuread:tenantId": other.domain})
    deployment.stack.pulumi("up", "--yes", "--skip-preview")
    assert (deployment.tenant.bitlocker, other.bitlocker) == (True, False)
    first_write = min(r.at for r in emulator.graph_requests("PATCH", other))
    assert max(r.at for r in emulator.graph_requests("PATCH", deployment.tenant)) < first_write  # delete, then create
    assert deployment.stack.outputs()["adoptedValue"] is True


def test_a_503_from_the_token_endpoint_is_retried(new_stack: NewStack, emulator: Emulator) -> None:
    deployment = new_stack()
    emulator.faults.fail(503, endpoint="token")
    deployment.stack.pulumi("up", "--yes", "--skip-preview")
    assert [r.status for r in emulator.token_requests(deployment.tenant)] == [503, 200]  # one process, one token
    assert deployment.tenant.bitlocker is False


def one_error_line(output: str, needle: str) -> str:
    """The one-line error message that carries `needle` (the CLI repeats it in progress and
    diagnostics, always the same line); also proves no traceback was printed."""
    assert "Traceback" not in output
    messages = {line.split("error: ", 1)[-1].strip() for line in output.splitlines() if needle in line}
    assert len(messages) == 1, output
    return messages.pop()


def test_missing_write_permission_is_one_clear_line(new_stack: NewStack) -> None:
    deployment = new_stack()
    deployment.app.roles = {"Policy.Read.All"}
    up = deployment.stack.pulumi("up", "--yes", "--skip-preview", expect=1)
    line = one_error_line(up.output, "Graph denied PATCH")
    assert "Policy.ReadWrite.Authorization with admin consent" in line
    patch = deployment.emulator.graph_requests("PATCH", deployment.tenant)[0]
    assert f"request-id {patch.request_id}" in line
    assert deployment.tenant.bitlocker is True
    assert "liveValue" not in deployment.stack.pulumi("stack", "export").output  # nothing claims a value


def test_wrong_secret_names_the_aadsts_code(new_stack: NewStack) -> None:
    deployment = new_stack()
    deployment.stack.configure({}, secret={"azuread:clientSecret": "not-the-secret"})
    preview = deployment.stack.pulumi("up", "--yes", "--skip-preview", expect=1)
    line = one_error_line(preview.output, "AADSTS7000215")
    assert "azuread:clientSecret" in line
    assert "not-the-secret" not in preview.output


def test_unknown_tenant_is_aadsts90002(new_stack: NewStack) -> None:
    deployment = new_stack()
    deployment.stack.configure({"azuread:tenantId": "00000000-0000-0000-0000-00000000dead"})
    up = deployment.stack.pulumi("up", "--yes", "--skip-preview", expect=1)
    assert "azuread:tenantId" in one_error_line(up.output, "AADSTS90002")


def test_throttled_patch_waits_retry_after_then_succeeds(new_stack: NewStack) -> None:
    deployment = new_stack()
    deployment.emulator.faults.throttle(1, retry_after="2", method="PATCH")
    deployment.stack.pulumi("up", "--yes", "--skip-preview")
    throttled, accepted = deployment.emulator.graph_requests("PATCH", deployment.tenant)
    assert (throttled.status, accepted.status) == (429, 204)
    assert accepted.at - throttled.at >= 2.0
    assert deployment.tenant.bitlocker is False


def test_two_tenant_stacks_in_one_backend_stay_independent(new_stack: NewStack) -> None:
    contoso = new_stack("contoso-prod", desired="false")
    fabrikam = new_stack("fabrikam-dev", desired="true", bitlocker=False)
    contoso.stack.pulumi("up", "--yes", "--skip-preview")
    fabrikam.stack.pulumi("up", "--yes", "--skip-preview")
    assert (contoso.tenant.bitlocker, fabrikam.tenant.bitlocker) == (False, True)
    contoso.stack.pulumi("destroy", "--yes", "--skip-preview")
    assert (contoso.tenant.bitlocker, fabrikam.tenant.bitlocker) == (True, True)
    fabrikam.stack.pulumi("preview", "--expect-no-changes")
    assert fabrikam.stack.outputs()["adoptedValue"] is False


def test_runs_from_another_working_directory(new_stack: NewStack, tmp_path: Path) -> None:
    deployment = new_stack()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    deployment.stack.pulumi("up", "--yes", "--skip-preview", "--cwd", str(deployment.stack.project), cwd=elsewhere)
    assert deployment.tenant.bitlocker is False


def test_pulumi_debug_grpc_leaks_config_secrets_but_not_environment_ones(new_stack: NewStack, tmp_path: Path) -> None:
    """The engine's own leak, which the README warns about: measured, not assumed."""
    deployment = new_stack(config_secret=True)  # azuread:clientSecret set with `pulumi config set --secret`
    log = tmp_path / "grpc.log"
    deployment.stack.env["PULUMI_DEBUG_GRPC"] = str(log)
    deployment.stack.pulumi("preview")
    assert log.read_text().count(deployment.secret) > 1
    deployment.stack.pulumi("config", "rm", "azuread:clientSecret")
    deployment.stack.env["ARM_CLIENT_SECRET"] = deployment.secret
    log.unlink()
    deployment.stack.pulumi("preview")
    assert deployment.secret not in log.read_text()


def test_a_second_run_makes_no_discovery_request(new_stack: NewStack) -> None:
    deployment = adopted(new_stack)  # the first run fetched the tenant's discovery document
    deployment.stack.pulumi("preview")
    kinds = [r.kind for r in deployment.emulator.directory.requests if r.kind != "other"]
    assert sorted(kinds) == ["graph", "token"]  # the minimum: a token and one GET


def test_the_language_host_runs_a_stack_with_no_config(
    pulumi_bin: str, pulumi_home: Path, tmp_path: Path, emulator: Emulator, leaks: LeakCheck
) -> None:
    project = tmp_path / "noop"
    shutil.copytree(REPO / "bench" / "noop", project, ignore=shutil.ignore_patterns("__pycache__"))
    (project / ".venv").symlink_to(REPO / ".venv")
    stack = Stack("bare", project, engine_env(pulumi_bin, pulumi_home, tmp_path / "backend", emulator), leaks)
    leaks.roots += [tmp_path / "backend", project]
    stack.pulumi("stack", "init")  # no `config set`: the stack has no config at all
    stack.pulumi("up", "--yes", "--skip-preview")
    assert stack.outputs() == {"value": True}
