"""The providers' operations against the emulator, driven as the engine drives them, with the
Graph requests each makes. A provider made by `configure` is one provider process."""

from __future__ import annotations

import base64
import os
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from emulator import Emulator, Tenant
from emulator.audit import AUDIT_ROLE
from providers.bitlocker import DRIFT_MARK, BitlockerKeyAccessProvider
from providers.common.errors import ConfigurationError, ForbiddenError, UnexpectedResponseError
from tests.support.emulated import Configure, Registered, ServeCommand, emulator_config
from tests.support.provider import DESIRED, adoption_beside, inputs, preview, up


@pytest.fixture(autouse=True)
def under_pulumi_up(serve_command: ServeCommand) -> None:
    """Unless a test says otherwise, its provider processes serve `pulumi up`: the program ran."""
    serve_command("up --yes")


def calls(emulator: Emulator, tenant: Tenant) -> list[str]:
    """The tenant's requests for its authorization policy, by method."""
    return [r.method for r in emulator.graph_requests(tenant=tenant) if r.path.lower().endswith("/authorizationpolicy")]


def audit_reads(emulator: Emulator, tenant: Tenant) -> int:
    """The tenant's audit-log reads (who changed the setting: providers/graph/audit.py)."""
    return sum(r.path.lower().endswith("/directoryaudits") for r in emulator.graph_requests("GET", tenant))


# -- check ---------------------------------------------------------------------------------------
def test_check_reads_the_live_value_into_the_inputs(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    for spelling in (tenant.id, tenant.domain, tenant.domain.upper()):
        result = provider.check({}, inputs(tenant, False, spelling))
        assert (result.failures, result.inputs["liveValue"]) == ([], True)
    assert calls(emulator, tenant) == ["GET"]  # one read per process


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


def test_check_fails_on_a_missing_permission_at_preview(
    configure: Configure, emulator: Emulator, tenant: Tenant, trust_emulator: None
) -> None:
    app = tenant.add_app(["User.Read.All"])
    provider = configure(emulator_config(emulator, clientId=app.client_id, clientSecret=app.add_secret()))
    with pytest.raises(ForbiddenError, match=r"Policy\.Read\.All"):
        provider.check({}, inputs(tenant, True))


# -- the first up: adoption, then the setting ----------------------------------------------------
def test_first_up_reads_once_adopts_then_patches(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    outs = up(provider, tenant, False)
    patch = emulator.graph_requests("PATCH", tenant)[0]
    assert calls(emulator, tenant) == ["GET", "PATCH"]
    assert outs == {
        "tenantId": tenant.id,
        DESIRED: False,
        "liveValue": False,
        "adoptedValue": True,
        "adoptionRecord": f"{tenant.id}/adoption",
        "lastPatchRequestId": patch.request_id,
        "lastPatchAt": outs["lastPatchAt"],
        "lastPatchValue": False,
        "stack": "test",
    }
    assert outs["lastPatchAt"].endswith("Z")
    assert tenant.bitlocker is False


def test_first_up_does_not_patch_when_the_tenant_already_agrees(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    outs = up(provider, tenant, True)
    assert calls(emulator, tenant) == ["GET"]
    assert (outs["adoptedValue"], outs["lastPatchRequestId"], outs["lastPatchAt"], outs["lastPatchValue"]) == (
        True,
        None,
        None,
        None,
    )


def test_the_adoption_is_read_only_and_keeps_its_value(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    adoption = adoption_beside(provider)
    created = adoption.create({"tenantId": tenant.domain, "stack": "test"})
    outs = created.outs or {}
    assert (created.id, outs) == (f"{tenant.id}/adoption", {"tenantId": tenant.id, "adoptedValue": True, "stack": "test"})
    emulator.set_bitlocker(tenant, False)
    emulator.directory.requests.clear()
    refreshed = adoption.read("id", outs)  # refresh: history, not the live value
    assert (refreshed.outs, refreshed.inputs) == (outs, {"tenantId": tenant.id, "stack": "test"})
    assert adoption.diff("id", outs, {"tenantId": tenant.id.upper(), "stack": "test"}).changes is False
    assert emulator.graph_requests() == []


def test_destroy_after_a_crash_inside_the_first_up_restores_from_the_adoption_alone(
    configure: Configure, configured: dict[str, str], emulator: Emulator, tenant: Tenant
) -> None:
    """The setting's create died after its PATCH: state holds only the adoption record."""
    process = configure(configured)
    adoption = adoption_beside(process).create({"tenantId": tenant.id, "stack": "test"}).outs or {}
    process.create(process.check({}, inputs(tenant, False)).inputs)  # its outputs never reach state
    emulator.directory.requests.clear()
    adoption_beside(configure(configured)).delete("id", adoption)  # `pulumi destroy`, a new process
    assert calls(emulator, tenant) == ["GET", "PATCH"]
    assert tenant.bitlocker is True


def test_destroy_restores_once_though_both_resources_are_deleted(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    outs = up(provider, tenant, False)
    emulator.directory.requests.clear()
    provider.delete("id", outs)  # the setting first (it depends on the adoption), then the adoption
    adoption_beside(provider).delete("id", {"tenantId": tenant.id, "adoptedValue": True, "stack": "test"})
    assert calls(emulator, tenant) == ["PATCH"]  # the adoption knows the tenant has its value again


def test_a_renamed_stack_is_recorded_without_a_patch(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    outs = up(provider, tenant, False)
    checked, changes = preview(provider, outs, {**inputs(tenant, False), "stack": "renamed"})
    assert changes is True
    emulator.directory.requests.clear()
    assert (provider.update("id", outs, checked).outs or {})["stack"] == "renamed"
    assert calls(emulator, tenant) == []


def test_first_up_over_a_null_value_sets_it_and_adopts_null(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    emulator.set_bitlocker(tenant, None)
    outs = up(provider, tenant, False)
    assert calls(emulator, tenant) == ["GET", "PATCH"]
    assert (outs["adoptedValue"], outs["liveValue"], tenant.bitlocker) == (None, False, False)
    emulator.directory.requests.clear()
    provider.delete("id", outs)  # nothing to restore: the tenant is left as it is
    assert calls(emulator, tenant) == []
    assert tenant.bitlocker is False


def test_a_policy_without_the_key_changes_nothing(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    emulator.remove_bitlocker_key(tenant)
    with pytest.raises(UnexpectedResponseError, match="value is unknown"):
        up(provider, tenant, False)
    assert calls(emulator, tenant) == ["GET"]


# -- later runs: check reads, diff decides ------------------------------------------------------
def test_a_converged_run_is_one_get_and_no_change(
    configure: Configure, configured: dict[str, str], emulator: Emulator, tenant: Tenant
) -> None:
    outs = up(configure(configured), tenant, False)
    emulator.directory.requests.clear()
    assert preview(configure(configured), outs, inputs(tenant, False))[1] is False
    assert calls(emulator, tenant) == ["GET"]


def test_portal_drift_right_after_our_write_is_reported_within_the_window(
    configure: Configure, configured: dict[str, str], emulator: Emulator, tenant: Tenant
) -> None:
    outs = up(configure(configured), tenant, False)
    emulator.set_bitlocker(tenant, True)
    started = time.monotonic()
    checked, changes = preview(
        configure({**configured, "bitlocker-policy:consistencyWindowSeconds": "1.5"}), outs, inputs(tenant, False)
    )
    assert (changes, checked["liveValue"]) == (True, True)
    assert time.monotonic() - started > 0.5  # it re-read for a while before calling it drift...
    assert 2 <= calls(emulator, tenant).count("GET") <= 4  # ...as often as the backoff (0.5 s, 1 s) allows in 1.5 s


def test_a_drifted_preview_says_who_changed_it_with_one_audit_read_and_a_converged_one_reads_none(
    configure: Configure,
    configured: dict[str, str],
    emulator: Emulator,
    tenant: Tenant,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(BitlockerKeyAccessProvider, "serving_preview", lambda _self: True)  # as under `pulumi preview`
    configured = {**configured, "bitlocker-policy:consistencyWindowSeconds": "0"}  # drift at once, no re-reads
    outs = up(configure(configured), tenant, False)
    preview(configure(configured), outs, inputs(tenant, False))
    assert audit_reads(emulator, tenant) == 0
    emulator.set_bitlocker(tenant, True, by="frank@contoso.com")
    tenant.apps[configured["azuread:clientId"]].roles.add(AUDIT_ROLE)
    capsys.readouterr()
    _, changes = preview(configure(configured), outs, inputs(tenant, False))
    assert changes is True
    assert f"{DRIFT_MARK}true, changed by frank@contoso.com at 20" in capsys.readouterr().err
    assert audit_reads(emulator, tenant) == 1
    monkeypatch.setattr(BitlockerKeyAccessProvider, "serving_preview", lambda _self: False)  # `pulumi up`
    preview(configure(configured), outs, inputs(tenant, False))
    assert audit_reads(emulator, tenant) == 1  # up's diff reads no audit log


def test_a_new_declared_value_the_tenant_already_has_is_an_update_without_a_patch(
    configure: Configure, configured: dict[str, str], emulator: Emulator, tenant: Tenant
) -> None:
    outs = up(configure(configured), tenant, False)
    emulator.set_bitlocker(tenant, True)  # someone already did it by hand, right after our write
    emulator.directory.requests.clear()
    process = configure({**configured, "bitlocker-policy:consistencyWindowSeconds": "0"})
    checked, changes = preview(process, outs, inputs(tenant, True))
    assert changes is True
    result = process.update("id", outs, checked).outs or {}
    assert calls(emulator, tenant) == ["GET"]
    assert (result[DESIRED], result["liveValue"], result["adoptedValue"]) == (True, True, True)


def test_a_stale_read_right_after_our_own_write_is_not_drift(
    configure: Configure, configured: dict[str, str], emulator: Emulator, tenant: Tenant
) -> None:
    emulator.faults.stale_reads_ms = 1200  # reads show the old value for 1.2 s after a write
    outs = up(configure(configured), tenant, False)
    emulator.directory.requests.clear()
    checked, changes = preview(configure(configured), outs, inputs(tenant, False))
    assert checked["liveValue"] is True  # the stale read
    assert changes is False  # re-read until it agreed with our write
    assert calls(emulator, tenant).count("GET") >= 2


def test_another_tenant_is_a_replacement_that_deletes_first(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    outs = up(provider, tenant, False)
    emulator.directory.requests.clear()
    other = emulator.add_tenant()
    diff = provider.diff("id", outs, inputs(other, False))
    assert (diff.changes, diff.replaces, diff.delete_before_replace) == (True, ["tenantId"], True)
    assert emulator.graph_requests() == []


def test_a_domain_is_keyed_on_its_guid_and_a_respelling_is_no_change(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    outs = up(provider, tenant, False, spelling=tenant.domain)
    assert outs["tenantId"] == tenant.id
    for spelling in (tenant.domain.upper(), tenant.id.upper()):
        assert preview(provider, outs, inputs(tenant, False, spelling=spelling))[1] is False
    assert len(emulator.directory.recorded("discovery", tenant_id=tenant.id)) == 1  # one per process


# -- update, read, delete ------------------------------------------------------------------------
def test_update_patches_once_and_keeps_the_adopted_value(
    configure: Configure, configured: dict[str, str], emulator: Emulator, tenant: Tenant
) -> None:
    outs = up(configure(configured), tenant, False)
    emulator.directory.requests.clear()
    process = configure(configured)
    checked, _ = preview(process, outs, inputs(tenant, True, adopted=False))  # a re-adoption never rewrites history
    result = process.update("id", outs, checked).outs or {}
    assert calls(emulator, tenant) == ["GET", "PATCH"]
    assert tenant.bitlocker is True
    assert (result["liveValue"], result["adoptedValue"]) == (True, True)
    assert result["lastPatchRequestId"] == emulator.graph_requests("PATCH", tenant)[0].request_id


def test_read_returns_the_live_value_as_output_and_input(
    configure: Configure, configured: dict[str, str], emulator: Emulator, tenant: Tenant
) -> None:
    outs = up(configure(configured), tenant, False)
    emulator.set_bitlocker(tenant, True)  # real drift, right after our write: no window to wait out here
    process = configure({**configured, "bitlocker-policy:consistencyWindowSeconds": "0"})
    result = process.read("id", outs)
    assert result.inputs == {
        "tenantId": tenant.id,
        DESIRED: True,
        "liveValue": True,
        "adoptedValue": True,
        "adoptionRecord": f"{tenant.id}/adoption",
        "stack": "test",
    }
    assert result.outs is not None
    assert (result.outs[DESIRED], result.outs["liveValue"], result.outs["adoptedValue"]) == (True, True, True)
    emulator.directory.requests.clear()
    assert process.diff("id", result.outs, result.inputs).changes is False  # refresh's diff reads nothing more
    assert calls(emulator, tenant) == []


def test_delete_restores_the_adopted_value(provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant) -> None:
    outs = up(provider, tenant, False)
    emulator.directory.requests.clear()
    provider.delete("id", outs)
    assert calls(emulator, tenant) == ["PATCH"]
    assert tenant.bitlocker is True


def test_retain_on_delete_from_the_config_a_process_that_ran_the_program_was_given(
    configure: Configure, configured: dict[str, str], emulator: Emulator, tenant: Tenant
) -> None:
    outs = up(configure(configured), tenant, False)
    emulator.directory.requests.clear()
    configure({**configured, "bitlocker-policy:retainOnDelete": "true"}).delete("id", outs)
    assert calls(emulator, tenant) == []


def test_retain_on_delete_is_said_once_though_both_resources_are_deleted(
    configure: Configure, configured: dict[str, str], emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    outs = up(configure(configured), tenant, False)
    emulator.directory.requests.clear()
    retaining = configure({**configured, "bitlocker-policy:retainOnDelete": "true"})
    retaining.delete("id", outs)
    adoption_beside(retaining).delete("id", {"tenantId": tenant.id, "adoptedValue": True, "stack": "test"})
    assert calls(emulator, tenant) == []
    assert capsys.readouterr().err.count("bitlocker-policy:retainOnDelete is true: the tenant keeps its current value") == 1


@pytest.mark.parametrize(
    ("line", "patches"),
    [("", 1), ("  bitlocker-policy:retainOnDelete: 'True'\n", 0), ("  bitlocker-policy:retainOnDelete: 'FALSE'\n", 1)],
)
def test_retain_on_delete_reads_the_file_as_config_does(
    configure: Configure,
    configured: dict[str, str],
    emulator: Emulator,
    tenant: Tenant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    line: str,
    patches: int,
    serve_command: ServeCommand,
) -> None:
    """A file without the key means the default (restore), whatever the last `up` recorded."""
    in_project(tmp_path, monkeypatch, "  azuread:clientId: x\n" + line)
    outs = up(configure(configured), tenant, False)
    emulator.directory.requests.clear()
    serve_command("destroy --yes")  # no program runs: configure gets the last up's config
    configure({**configured, "bitlocker-policy:retainOnDelete": "true"}).delete("id", outs)
    assert calls(emulator, tenant).count("PATCH") == patches


def test_retain_on_delete_that_is_not_a_boolean_is_one_line(
    configure: Configure,
    configured: dict[str, str],
    tenant: Tenant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    serve_command: ServeCommand,
) -> None:
    in_project(tmp_path, monkeypatch, "  bitlocker-policy:retainOnDelete: maybe\n")
    outs = up(configure(configured), tenant, False)
    serve_command("destroy --yes")
    with pytest.raises(ConfigurationError, match="bitlocker-policy:retainOnDelete must be true or false, got 'maybe'"):
        configure(configured).delete("id", outs)


def test_a_refresh_right_after_our_write_does_not_record_a_stale_read(
    configure: Configure, configured: dict[str, str], emulator: Emulator, tenant: Tenant
) -> None:
    emulator.faults.stale_reads_ms = 1200
    outs = up(configure(configured), tenant, False)
    result = configure(configured).read("id", outs)
    assert (result.outs or {})["liveValue"] is False  # re-read until Graph agreed with our write
    assert (result.inputs or {})[DESIRED] is False


def test_retain_on_delete_as_the_stack_file_says_now(
    configure: Configure,
    configured: dict[str, str],
    emulator: Emulator,
    tenant: Tenant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    serve_command: ServeCommand,
) -> None:
    """`pulumi destroy` configures the provider with the config of the last `up`: the file wins."""
    stack_file = in_project(tmp_path, monkeypatch, "  bitlocker-policy:retainOnDelete: true\n", config_dir="stacks")
    outs = up(configure(configured), tenant, False)
    emulator.directory.requests.clear()
    serve_command("destroy --yes")
    configure(configured).delete("id", outs)
    assert calls(emulator, tenant) == []
    stack_file.write_text("config:\n  bitlocker-policy:retainOnDelete: 'false'\n")
    configure({**configured, "bitlocker-policy:retainOnDelete": "true"}).delete("id", outs)
    assert calls(emulator, tenant) == ["PATCH"]
    assert os.getcwd() == str(tmp_path)


def in_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_lines: str, config_dir: str = ".") -> Path:
    """Run in a project whose stack `test` has this config (the provider process runs in the project directory)."""
    (tmp_path / "Pulumi.yaml").write_text(f"name: p\nstackConfigDir: {config_dir}\n")
    (tmp_path / config_dir).mkdir(exist_ok=True)
    stack_file = tmp_path / config_dir / "Pulumi.test.yaml"
    stack_file.write_text("config:\n" + config_lines)
    monkeypatch.chdir(tmp_path)
    return stack_file


# -- failures as users meet them -----------------------------------------------------------------
def test_throttled_patch_waits_retry_after_and_succeeds(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    emulator.faults.throttle(1, retry_after="1", method="PATCH")
    up(provider, tenant, False)
    throttled, accepted = emulator.graph_requests("PATCH", tenant)
    assert (throttled.status, accepted.status) == (429, 204)
    assert accepted.at - throttled.at >= 1.0


def test_missing_write_permission_is_one_clear_line(
    configure: Configure, emulator: Emulator, tenant: Tenant, trust_emulator: None
) -> None:
    app = tenant.add_app(["Policy.Read.All"])
    provider = configure(emulator_config(emulator, clientId=app.client_id, clientSecret=app.add_secret()))
    try:
        up(provider, tenant, False)
    except ForbiddenError:
        report = traceback.format_exc()  # what the dynamic-provider host sends to the CLI
    else:
        pytest.fail("a read-only app could write")
    assert report.count("\n") == 1, report
    assert report.startswith("providers.common.errors.ForbiddenError: Graph denied PATCH")
    assert "Policy.ReadWrite.Authorization" in report
    assert "request-id" in report


def test_a_deadline_from_config_bounds_the_whole_operation(
    configure: Configure, configured: dict[str, str], emulator: Emulator, tenant: Tenant
) -> None:
    emulator.faults.throttle(1, retry_after="5")
    provider = configure({**configured, "bitlocker-policy:deadlineSeconds": "2"})
    with pytest.raises(Exception, match="would pass the operation's 2 s deadline") as caught:
        provider.check({}, inputs(tenant, False))
    assert type(caught.value).__name__ == "DeadlineExceededError"
    with pytest.raises(ConfigurationError, match="deadlineSeconds must be a number of seconds"):
        configure({**configured, "bitlocker-policy:deadlineSeconds": "soon"}).check({}, inputs(tenant, False))


# -- what Pulumi stores ----------------------------------------------------------------------------
def test_the_pickled_provider_holds_no_secret_or_token(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant, registered: Registered
) -> None:
    up(provider, tenant, False)  # the session now holds a token and the secret
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
    outs = up(provider, tenant, False)
    checked, _ = preview(provider, outs, inputs(tenant, True))
    outs = provider.update("id", outs, checked).outs or {}
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
        ({"azuread:useCli": "false"}, "azuread:useCli is false, so the Azure CLI's sign-in is not tried"),
        ({}, "or install the Azure CLI and run `az login` (tried when nothing else is set, `az` is not on PATH)"),
        ({"azuread:useCli": "true"}, "The Azure CLI (`az`) is not on PATH"),
        ({"azuread:msiEndpoint": "http://169.254.169.254/x"}, "azuread:msiEndpoint is not supported by bitlocker-policy"),
        ({"azuread:clientSecretFilePath": "/run/secret"}, "azuread:clientSecretFilePath is not supported"),
        ({"azuread:clientId": "a", "azuread:clientCertificatePath": "/none.pem"}, "Cannot read azuread:clientCertificatePath"),
        (
            {"azuread:clientId": "a", "azuread:clientCertificate": "bm90IGEgcGZ4"},
            "Cannot load azuread:clientCertificate as a PFX",
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
    provider = configure(emulator_config(emulator, clientId="app", clientSecret="not used"))
    with pytest.raises(RuntimeError, match="failed unexpectedly; please report this") as caught:
        provider.read("id", {})  # no tenantId: a KeyError inside the provider
    assert "KeyError: 'tenantId'" in str(caught.value)
    assert "in read" in str(caught.value)


def test_concurrent_operations_share_one_client_and_one_token(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    """The provider process serves several gRPC threads at once."""
    outs = up(provider, tenant, False)
    emulator.directory.requests.clear()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: provider.read("id", outs).outs, range(16)))
    assert [r["liveValue"] for r in results if r] == [False] * 16
    assert calls(emulator, tenant) == []  # the value this process wrote is what it knows
    assert emulator.token_requests(tenant) == []  # all reuse the token of the first up


# -- the adoption record must be in state before anything is written -------------------------------
def test_create_without_the_adoption_record_names_it_and_writes_nothing(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pulumi up --skip-preview --exclude <the record>` creates the setting without it (Pulumi v3.274.1)."""
    monkeypatch.setenv("PULUMI_PROJECT", "bitlocker-policy")  # as the CLI sets it for providers
    checked = provider.check({}, {key: value for key, value in inputs(tenant, False).items() if key != "adoptionRecord"})
    with pytest.raises(ConfigurationError) as caught:
        provider.create(checked.inputs)
    assert str(caught.value).startswith(
        "The adoption record urn:pulumi:test::bitlocker-policy::pulumi-python:dynamic/entra:BitlockerAdoption::"
        "bitlocker-adoption is not in state (left out with --exclude or --target?)"
    )
    assert "Run `pulumi up` without leaving it out" in str(caught.value)
    assert "PATCH" not in calls(emulator, tenant)
    assert tenant.bitlocker is True


def test_an_update_needs_a_record_in_its_own_state_or_beside_it(
    provider: BitlockerKeyAccessProvider, emulator: Emulator, tenant: Tenant
) -> None:
    outs = up(provider, tenant, False)
    legacy = {key: value for key, value in outs.items() if key != "adoptionRecord"}  # a state from before the record
    emulator.set_bitlocker(tenant, True)
    checked, _ = preview(provider, legacy, inputs(tenant, False))
    assert (provider.update("id", legacy, checked).outs or {})["adoptionRecord"] == f"{tenant.id}/adoption"
    emulator.set_bitlocker(tenant, True)
    without = {key: value for key, value in checked.items() if key != "adoptionRecord"}
    with pytest.raises(ConfigurationError, match="is not in state"):
        provider.update("id", legacy, without)
    assert tenant.bitlocker is True
